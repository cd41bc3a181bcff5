"""``fervid batch``: analyse a corpus of images and videos in one resumable run.

State lives in ``<out>/state.sqlite``: one row per input file with its content hash and status. A file's
results are written to ``<out>/files/<key>/`` through a temporary folder renamed into place (atomic), and only
then is the file marked done, in the same process that owns the database. A run killed at any moment and started
again redoes only unfinished files, and the dataset table (``<out>/dataset.parquet``) is rebuilt from the
finished files' parts: every file appears exactly once.

Engine: a pool of worker processes (``--workers``), each loading the models once, with ONNX Runtime and OpenCV
threads split so the workers together use the machine's cores without oversubscribing them.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fervid.apps.folder_lock import FolderLock, FolderLocked
from fervid.emotions import EMOTIONS
from fervid.inference.images import IMAGE_SUFFIXES, printable_name
from fervid.inference.models import file_sha256
from fervid.inference.options import PipelineOptions
from fervid.inference.records import ROW_COLUMNS
from fervid.inference.video import VIDEO_SUFFIXES, table_schema

DATASET_LEADING = ["file", "kind", "track", "time", "frame"]
DATASET_COLUMNS = [*DATASET_LEADING, *ROW_COLUMNS]  # fervid.inference.records' one face row, after where it was seen


ENGINES = ("local", "ray")


@dataclass
class BatchOptions:
    out: Path
    workers: int = 1
    engine: str = "local"  # local (process pool) or ray
    ray_address: str | None = None  # None: start Ray on this machine; "auto" or host:port: join a cluster
    pipeline: PipelineOptions = field(default_factory=PipelineOptions)  # model, detector, video settings

    def __post_init__(self):
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, not {self.workers}")
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {self.engine!r}")
        if self.ray_address and self.engine != "ray":  # it would be ignored
            raise ValueError("--address is a Ray cluster's: it needs --engine ray")


# a manifest's column of paths, by its header (any case); a manifest without one of these has paths in its first
# column and no header
MANIFEST_PATH_COLUMNS = ("path", "file", "filename", "filepath", "file_path", "image", "video")


def collect_inputs(inputs: list[str], notices: list[str] | None = None) -> tuple[list[Path], list[tuple[str, str]]]:
    """Folders (recursive), globs, files, and manifest CSVs (a column headed ``path``, ``file``, ``filename``,
    ... in any case, or the first column). A batch results folder (this run's too) is not searched for inputs.
    ``notices`` gets what was left out without being an error (files named as fervid's outputs, a manifest's
    first row taken for a header)."""
    from fervid.inference.images import expand_inputs

    notices = [] if notices is None else notices

    suffixes = IMAGE_SUFFIXES | VIDEO_SUFFIXES
    files, problems, plain = [], [], []
    for item in inputs:
        if item.lower().endswith(".csv") and Path(item).is_file():
            try:  # utf-8-sig: spreadsheets save "CSV UTF-8" with a byte-order mark
                with open(item, newline="", encoding="utf-8-sig") as fh:
                    rows = list(csv.reader(fh))
            except UnicodeDecodeError:
                problems.append((item, "manifest is not UTF-8 text (save it as CSV UTF-8)"))
                continue
            if not rows:
                problems.append((item, "manifest is empty"))
                continue
            header = [cell.strip().lower() for cell in rows[0]]
            named = [i for i, cell in enumerate(header) if cell in MANIFEST_PATH_COLUMNS]
            col = named[0] if named else 0
            base = Path(item).parent
            cells = [row[col].strip() for row in rows[1 if named else 0:] if len(row) > col and row[col].strip()]
            entries = [str(Path(c) if Path(c).is_absolute() else base / c) for c in cells]

            def names_input(entry: str) -> bool:
                return Path(entry).suffix.lower() in suffixes or Path(entry).is_dir() or any(c in entry for c in "*?[")

            if not named and entries and not names_input(entries[0]) and not Path(entries[0]).suffix:
                # a header of other words ("recording"); a missing folder's name reads the same, so it is said
                notices.append(f"{item}: its first row, {cells[0]!r}, names no file or folder here and was taken "
                               "for a header")
                entries = entries[1:]
            if not any(names_input(e) for e in entries):  # a data table (`fervid batch sessions/*` took it in)
                problems.append((item, "not a manifest: no row names an image, a video or a folder (a manifest "
                                 "has a path per row, in a column headed path, file, filename, image or video)"))
                continue
            plain.extend(entries)
        else:
            plain.append(item)
    # the batch's own results folder is left out as any batch results folder is (expand_inputs)
    found, more_problems = expand_inputs(plain, suffixes, notices=notices)
    seen = set()
    for p in found:
        key = p.resolve()
        if key in seen:
            continue
        seen.add(key)
        if not p.exists():  # a link whose file is gone
            more_problems.append((str(p), "no such file (a link to a file that is gone)"))
            continue
        if not p.is_file():  # a device (/dev/zero), FIFO or socket: hashing it would never end
            more_problems.append((str(p), "not a regular file (a device, pipe or socket)"))
            continue
        files.append(p)
    return files, [(printable_name(item), why) for item, why in problems + more_problems]


class BatchLocked(FolderLocked):
    """Another run holds the output folder."""


class BatchSettingsChanged(ValueError):
    """The output folder holds results made with other analysis settings; resuming would mix the two."""


# What makes a result what it is; how the run is executed (workers, engine) and whether annotated copies are
# written do not change any number, so a resumed run may differ in those
RESULT_SETTINGS = ("model", "detector", "score_threshold", "min_face", "precision", "detect_every", "window",
                   "method", "sample_fps")


def result_settings(pipeline: PipelineOptions) -> dict:
    """The settings a batch folder's results are made with; the model by its weights' digest too, so that a
    model retrained under the same name (a fervid upgrade) counts as another model."""
    from fervid.inference.detect import resolved_score_threshold
    from fervid.inference.models import ModelConfig, graph_for, resolve_model_dir
    from fervid.inference.video import method_for

    settings = {name: getattr(pipeline, name) for name in RESULT_SETTINGS}
    folder = resolve_model_dir(pipeline.model)
    config = ModelConfig.load(folder / "config.json")
    # what runs, as each result file records it: "auto" and "the detector's own" stand for values, so a run that
    # names them (--precision int8, --score-threshold 0.4) asks for the same thing
    settings["precision"] = graph_for(folder, config, pipeline.precision)[1]
    settings["score_threshold"] = resolved_score_threshold(pipeline.detector, pipeline.score_threshold)
    settings["method"] = method_for(config, pipeline.method, pipeline.temporal_model)[0]
    # your own LSTM, by its weights (None: the one shipped for the CNN, also when named as a folder)
    settings["temporal_model_sha256"] = None
    if pipeline.temporal_model:
        from fervid.inference.temporal import shipped_temporal_models

        digest = file_sha256(Path(pipeline.temporal_model) / "model.onnx")[:16]
        shipped = shipped_temporal_models().get(config.name)
        if shipped is None or file_sha256(shipped / "model.onnx")[:16] != digest:
            settings["temporal_model_sha256"] = digest
    # a model by the name its results carry and by its weights, not by where its folder is: a folder copied,
    # renamed or moved is the same model (a resumed run was refused)
    settings["model"] = config.name
    settings["model_weights_sha256"] = file_sha256(folder / "model.onnx")[:16]
    return settings


def output_lock(out: Path) -> FolderLock:
    """One run per output folder."""
    return FolderLock(out, "another fervid batch run", "wait for it to finish", error=BatchLocked)


class StateStore:
    """SQLite table of input files: path, content hash, kind, status (pending/done/failed), error, counts."""

    def __init__(self, path: Path):
        self.folder = Path(path).parent  # the batch's output folder, named in its errors
        self.db = sqlite3.connect(path, isolation_level=None)  # autocommit: each update is durable at once
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("""CREATE TABLE IF NOT EXISTS files (
            path TEXT PRIMARY KEY, hash TEXT, kind TEXT, status TEXT, error TEXT, faces INTEGER DEFAULT 0,
            rows INTEGER DEFAULT 0, key TEXT, seconds REAL, updated REAL)""")
        self.db.execute("CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT)")
        # where a path is, absolute: a file named another way (from another folder, through a manifest) is the
        # same file. Folders from before it had paths as given, from the folder a run was started in: this one's.
        if "location" not in {row[1] for row in self.db.execute("PRAGMA table_info(files)")}:
            self.db.execute("ALTER TABLE files ADD COLUMN location TEXT")
        for (path,) in self.db.execute("SELECT path FROM files WHERE location IS NULL").fetchall():
            self.db.execute("UPDATE files SET location = ? WHERE path = ?", (os.path.abspath(path), path))

    def forget_gone(self) -> None:
        """Drop what no longer stands for a file: inputs that named nothing (a mistyped argument, a pattern that
        matched nothing: this run's own are recorded again) and failed or unfinished files since deleted or
        renamed. (A finished file's rows stay: see :meth:`missing`.)"""
        self.db.execute("DELETE FROM files WHERE kind = 'unknown'")
        for path, location in self.db.execute("SELECT path, location FROM files WHERE status != 'done'").fetchall():
            if not Path(location or path).exists():
                self.db.execute("DELETE FROM files WHERE path = ?", (path,))

    def settings(self) -> dict:
        return {name: json.loads(value) for name, value in self.db.execute("SELECT name, value FROM settings")}

    def claim_settings(self, settings: dict) -> None:
        """Record the analysis settings on a folder's first run; refuse a run whose settings differ from those its
        results were made with (its skipped files would keep the old settings' results in the one table). A
        folder written before settings were recorded takes this run's."""
        recorded = self.settings()
        changed = {k: (recorded[k], v) for k, v in settings.items() if k in recorded and recorded[k] != v}
        if changed:
            raise BatchSettingsChanged(
                f"{self.folder}: its results were made with " + ", ".join(f"{k}={old!r}" for k, (old, _) in changed.items())
                + "; this run asks for " + ", ".join(f"{k}={new!r}" for k, (_, new) in changed.items())
                + ". Use another --out, or the same settings to go on with this one")
        self.db.executemany("INSERT OR IGNORE INTO settings (name, value) VALUES (?, ?)",
                            [(k, json.dumps(v)) for k, v in settings.items()])

    def plan(self, files: list[Path], files_dir: Path, progress: bool = False
             ) -> tuple[list[tuple[str, str, str]], dict[str, list[str]]]:
        """Register files. Returns the tasks, one (path, key, kind) per distinct content and kind not yet analysed
        (``key``: its results' folder under ``files_dir``), and for each task's path every pending path with that
        content: outputs are keyed by content, so identical files are analysed once (two workers never write one
        folder) and all their paths are finished together. A path whose content another path already finished is
        marked done at once. The same bytes under an image's and a video's name are two tasks (the video was
        analysed as an image, or the other way round, by whichever name sorted first). A finished file since
        renamed (its old name gone, its content here under a new one) is recorded under the new name only.
        ``progress``: a bar while the files are read for their hashes (minutes, on a corpus of long videos)."""
        from tqdm import tqdm

        todo, paths_of, first_of, key_of = [], {}, {}, {}
        known = dict(self.db.execute("SELECT location, path FROM files"))
        for p in tqdm(files, desc="reading files", unit="file", disable=not progress or len(files) < 2, leave=False):
            digest = file_sha256(p)
            kind = "video" if p.suffix.lower() in VIDEO_SUFFIXES else "image"
            location = os.path.abspath(p)
            name = known.get(location, str(p))  # the name the file was first registered under
            row = self.db.execute("SELECT hash, status, key FROM files WHERE path = ?", (name,)).fetchone()
            if row and row[0] == digest and row[1] == "done" and (files_dir / row[2] / "rows.parquet").is_file():
                continue  # done, and its results are still there (a deleted results folder is made again)
            twin = self.db.execute("SELECT faces, rows, seconds, key FROM files WHERE hash = ? AND status = 'done' "
                                   "AND kind = ?", (digest, kind)).fetchone()
            done = bool(twin and (files_dir / twin[3] / "rows.parquet").is_file())
            other_kind = self.db.execute("SELECT 1 FROM files WHERE hash = ? AND kind NOT IN (?, 'unknown')",
                                         (digest, kind)).fetchone()
            # one content of one kind has one key: b.jpg after a.mp4 (other kind) is a.jpg's twin, in a.jpg's folder
            key = twin[3] if done else key_of.setdefault((digest, kind), digest[:16] + (f"-{kind}" if other_kind
                                                                                           else ""))
            self.db.execute("INSERT OR REPLACE INTO files (path, hash, kind, status, key, faces, rows, seconds, "
                            "updated, location) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            (name, digest, kind, "done" if done else "pending", key,
                             *(twin[:3] if done else (0, 0, None)), time.time(), location))
            known[location] = name
            self._forget_renamed(digest, kind, location)
            if not done:
                if (digest, kind) not in first_of:
                    first_of[digest, kind] = name
                    todo.append((name, key, kind))
                paths_of.setdefault(first_of[digest, kind], []).append(name)
        return todo, paths_of

    def _forget_renamed(self, digest: str, kind: str, location: str) -> None:
        """Rows of the same content whose file is gone: the file was renamed or moved to ``location``; keeping its
        old row counted it twice in the table and the summary."""
        for path, old in self.db.execute("SELECT path, location FROM files WHERE hash = ? AND kind = ? AND "
                                         "location != ?", (digest, kind, location)).fetchall():
            if not Path(old or path).exists():
                self.db.execute("DELETE FROM files WHERE path = ?", (path,))

    def missing(self) -> list[str]:
        """Done files whose file is no longer where it was analysed (deleted, or moved off a disk no longer
        mounted): their rows stay in the table, and the summary names them."""
        return [path for path, location in self.db.execute("SELECT path, location FROM files WHERE status = 'done'")
                if not Path(location or path).exists()]

    def reopen(self, path: str, location: str | None, why: str) -> None:
        """A done file whose results are gone from ``files/``: pending again, analysed when next given; forgotten
        if its file is gone too (nothing could ever finish it)."""
        if Path(location or path).exists():
            self.db.execute("UPDATE files SET status = 'pending', error = ?, updated = ? WHERE path = ?",
                            (why, time.time(), path))
        else:
            self.db.execute("DELETE FROM files WHERE path = ?", (path,))

    def finish(self, path: str, status: str, error: str | None, faces: int, rows: int, seconds: float) -> None:
        self.db.execute("UPDATE files SET status = ?, error = ?, faces = ?, rows = ?, seconds = ?, updated = ? "
                        "WHERE path = ?", (status, error, faces, rows, seconds, time.time(), path))

    def rows(self) -> list[dict]:
        cur = self.db.execute("SELECT path, hash, kind, status, error, faces, rows, key, seconds, location FROM files "
                              "ORDER BY path")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]


# --- worker side -------------------------------------------------------------------------------------------

_worker: dict = {}


def _end_with_parent() -> None:
    """A worker whose driver was killed (SIGKILL: no clean-up ran) ends itself at once, rather than wait on its task
    pipe for ever holding its memory. A pool's worker waits on its parent's sentinel (a handle on Windows, where
    os.getppid() keeps the dead parent's id); a Ray worker, whose parent is Ray's, watches its parent's id."""
    import multiprocessing
    import threading
    from multiprocessing.connection import wait

    parent = multiprocessing.parent_process()
    if parent is not None:
        def watch() -> None:
            wait([parent.sentinel])
            os._exit(1)
    else:
        parent_id = os.getppid()

        def watch() -> None:
            while os.getppid() == parent_id:
                time.sleep(1.0)
            os._exit(1)

    threading.Thread(target=watch, name="fervid-parent-watch", daemon=True).start()


def _init_worker(threads: int, options: BatchOptions) -> None:
    import cv2

    from fervid.inference.images import allow_fervid_image_sizes

    allow_fervid_image_sizes()  # a worker process is fervid's, as the CLI's is
    _end_with_parent()
    os.environ["OMP_NUM_THREADS"] = str(threads)
    cv2.setNumThreads(threads)
    _worker["analyzer"] = options.pipeline.analyzer(threads=threads)
    _worker["options"] = options


def analyse_one(task: tuple[str, str, str]) -> dict:
    """Analyse one file into ``<out>/files/<key>/`` (atomically); never raises."""
    import pandas as pd

    path, key, kind = task
    options: BatchOptions = _worker["options"]
    analyzer = _worker["analyzer"]
    final = Path(options.out) / "files" / key
    tmp = Path(options.out) / "files" / f".{key}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    t0 = time.perf_counter()
    try:
        rows, partial = _analyse_image(analyzer, path, tmp, options) if kind == "image" else \
            _analyse_video(analyzer, path, tmp, options)
        table = pd.DataFrame(rows, columns=DATASET_COLUMNS)
        table.to_parquet(tmp / "rows.parquet", index=False, schema=table_schema(DATASET_COLUMNS))
        (tmp / "source.txt").write_text(path, encoding="utf-8")
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        faces = int(table["track"].nunique()) if kind == "video" else len(table)
        # a video that broke mid-way is done (its rows are in the table) with its reason kept, as `fervid video`
        # keeps and reports it
        return {"path": path, "status": "done", "error": partial, "faces": faces, "rows": len(table),
                "seconds": time.perf_counter() - t0}
    except Exception as exc:  # a bad file is recorded with its reason; the run goes on
        shutil.rmtree(tmp, ignore_errors=True)
        message = str(exc) if path in str(exc) else f"{path}: {exc}"
        return {"path": path, "status": "failed", "error": message, "faces": 0, "rows": 0,
                "seconds": time.perf_counter() - t0}


def _analyse_image(analyzer, path: str, out: Path, options: BatchOptions) -> tuple[list[dict], None]:
    from fervid.inference.annotate import annotate, write_image
    from fervid.inference.images import load_image

    img = load_image(path)
    result = analyzer.analyze_bgr(img, source=path)
    doc = {**result.to_dict(), **analyzer.settings}
    (out / "result.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")
    if options.pipeline.annotate:
        write_image(out / "annotated.png", annotate(img, result.faces))
    # the dataset's rows: an image is a video of one frame, each face its own track (numbered from 1, as a video's)
    return [face.row(file=path, kind="image", track=number, time=0.0, frame=0)
            for number, face in enumerate(result, start=1)], None


def _analyse_video(analyzer, path: str, out: Path, options: BatchOptions) -> tuple[list[dict], str | None]:
    """The video's rows, and why they stop short where it broke mid-way (None: it did not)."""
    from fervid.inference.video import VideoAnalyzer

    result = VideoAnalyzer(analyzer, options.pipeline.video()).run(path, out)
    rows = result.frame_table().drop(columns="detected")  # streamed to out/ while analysing; read back
    if result.error and rows.empty:
        raise ValueError(result.error)
    return [{"file": path, "kind": "video", **row} for row in rows.to_dict("records")], result.error


def _ray_analyse(task: tuple[str, str, str], options: BatchOptions, threads: int) -> dict:
    """A Ray task: the models are loaded once per Ray worker process and reused by later tasks."""
    if "analyzer" not in _worker:
        _init_worker(threads, options)
    return analyse_one(task)


def _run_ray(todo, options: BatchOptions, threads: int, record) -> None:
    """Ray tasks, one CPU each, retried up to twice if a worker process dies; a task that still fails is recorded
    as that file's failure and the job goes on. Outputs go to ``options.out``, which must be a path every node
    sees (a shared filesystem) when the cluster has several machines."""
    import ray

    ray.init(address=options.ray_address, ignore_reinit_error=True, include_dashboard=False, log_to_driver=False,
             logging_level="ERROR")
    options = dataclasses.replace(options, out=Path(options.out).resolve())
    remote = ray.remote(num_cpus=1, max_retries=2)(_ray_analyse)
    pending = {remote.remote(task, options, threads): task for task in todo}
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                task = pending.pop(ref)
                try:
                    res = ray.get(ref)
                except Exception as exc:  # the worker died even after retries
                    res = {"path": task[0], "status": "failed", "error": f"{task[0]}: Ray task failed: {exc}",
                           "faces": 0, "rows": 0, "seconds": 0.0}
                record(res)
    finally:
        ray.shutdown()


# --- driver ---------------------------------------------------------------------------------------------------

def run_batch(inputs: list[str], options: BatchOptions, progress: bool = True) -> dict:
    """Analyse every input not already done; rebuild the dataset table and the summary. Returns the summary.
    Raises :class:`BatchLocked` when another run is using ``options.out``."""
    out = Path(options.out)
    (out / "files").mkdir(parents=True, exist_ok=True)
    with output_lock(out):
        return _run_locked(inputs, options, out, progress)


def _run_local(todo: list[tuple[str, str, str]], options: BatchOptions, workers: int, threads: int, record,
               analyse=None) -> None:
    """Worker processes, each loading the models once, with at most one task per worker in flight. A worker that
    dies (killed, out of memory, a crash inside a native library) breaks the pool, and every task it had in flight
    fails with it: those are run again one at a time, so the file that kills a worker alone is recorded as failed
    and the others are analysed; the rest go on in a fresh pool. (A multiprocessing.Pool waited for ever.)"""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    analyse = analyse or analyse_one  # (a module-level function: workers are fresh interpreters)
    ctx = mp.get_context("spawn")  # fresh interpreters: no forked ONNX Runtime / OpenMP state
    waiting, suspects = list(todo), []
    while waiting or suspects:
        alone = bool(suspects)  # after a crash: the tasks it took down, each in a pool of its own
        # no more workers than files: each loads the models (--workers 8 on one file started 8)
        queue, size = ([suspects.pop(0)], 1) if alone else (waiting, min(workers, len(waiting)))
        in_flight: dict = {}
        with ProcessPoolExecutor(size, mp_context=ctx, initializer=_init_worker,
                                 initargs=(threads, options)) as pool:
            while queue or in_flight:
                while queue and len(in_flight) < size:
                    task = queue.pop(0)
                    in_flight[pool.submit(analyse, task)] = task
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                broken = []
                for future in done:
                    task = in_flight.pop(future)
                    try:
                        record(future.result())
                    except BrokenProcessPool:
                        broken.append(task)
                if broken:
                    broken += list(in_flight.values())  # they die with the pool too
                    if alone:
                        path = broken[0][0]
                        record({"path": path, "status": "failed", "error": f"{path}: the worker process analysing "
                                "it died (killed, out of memory, or a crash in a native library)", "faces": 0,
                                "rows": 0, "seconds": 0.0})
                    else:
                        suspects.extend(broken)
                    break


def _run_locked(inputs: list[str], options: BatchOptions, out: Path, progress: bool) -> dict:
    from tqdm import tqdm

    for stale in (out / "files").glob(".*.tmp"):  # half-written results of a killed run (we hold the lock)
        shutil.rmtree(stale, ignore_errors=True)
    store = StateStore(out / "state.sqlite")
    store.claim_settings(result_settings(options.pipeline))
    store.forget_gone()
    notices: list[str] = []
    files, problems = collect_inputs(inputs, notices)
    for item, why in problems:
        store.db.execute("INSERT OR REPLACE INTO files (path, kind, status, error, updated) VALUES (?, 'unknown', 'failed', ?, ?)",
                         (item, f"{item}: {why}", time.time()))
    todo, paths_of = store.plan(files, out / "files", progress)
    workers = options.workers
    threads = max(1, (os.cpu_count() or 1) // workers)
    started = time.perf_counter()
    faces = 0
    bar = tqdm(total=len(todo), unit="file", disable=not progress, desc="fervid batch")

    def record(res: dict) -> None:
        nonlocal faces
        for path in paths_of[res["path"]]:  # every path with this content shares the result
            error = res["error"] if path == res["path"] or not res["error"] else \
                res["error"].replace(res["path"], path)
            store.finish(path, res["status"], error, res["faces"], res["rows"], res["seconds"])
            faces += res["faces"]
        bar.update(1)
        bar.set_postfix(faces=faces, files_per_s=f"{bar.n / (time.perf_counter() - started):.2f}")

    try:
        if todo and options.engine == "ray":
            _run_ray(todo, options, threads=1, record=record)
        elif todo:
            _run_local(todo, options, workers, threads, record)
    except KeyboardInterrupt:  # Ctrl-C: the table and summary show what is finished, not an earlier run's state
        bar.close()
        summary = write_outputs(out, store)
        (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
        raise
    bar.close()
    summary = write_outputs(out, store)
    # the folder's failures of files not given this time stay in its summary; this run answers for its own
    given = {os.path.abspath(p) for p in files}
    mine = {r["path"] for r in store.rows() if r["kind"] == "unknown" or r["location"] in given}
    summary["this_run"] = {"files_analysed": len(todo), "seconds": round(time.perf_counter() - started, 2),
                           "workers": workers,
                           "notices": notices,
                           "failures": [f for f in summary["failures"] if f["file"] in mine],
                           "partial": [f for f in summary["partial"] if f["file"] in mine]}
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


def _current_schema(part):
    """A part written before the one face row (``label``, no confidence/uncertain/detection_score): migrated."""
    if "label" in part.columns and "emotion" not in part.columns:
        probs = part[list(EMOTIONS)].to_numpy()
        part = part.rename(columns={"label": "emotion"}).assign(
            confidence=probs.max(axis=1).round(4), uncertain=probs.max(axis=1) < 0.5, detection_score=np.nan)
    return part.reindex(columns=DATASET_COLUMNS)


def write_outputs(out: Path, store: StateStore) -> dict:
    """Rebuild ``dataset.parquet`` from the done files' parts and write ``summary.json`` / ``summary.md``."""
    import pandas as pd

    for r in store.rows():
        if r["status"] == "done" and not (out / "files" / r["key"] / "rows.parquet").is_file():
            # deleted by hand, of a file not among this run's inputs: left out, not a run that can never finish
            store.reopen(r["path"], r["location"], f"files/{r['key']}/ was deleted; its file is analysed again when "
                         "next given")
    rows = store.rows()
    parts = [_current_schema(pd.read_parquet(out / "files" / r["key"] / "rows.parquet")).assign(file=r["path"])
             for r in rows if r["status"] == "done"]
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=DATASET_COLUMNS)
    tmp = out / ".dataset.parquet.tmp"
    table.to_parquet(tmp, index=False, schema=table_schema(DATASET_COLUMNS))  # typed with no rows too
    os.replace(tmp, out / "dataset.parquet")
    done = [r for r in rows if r["status"] == "done"]
    failed = [r for r in rows if r["status"] == "failed"]
    partial = [r for r in done if r["error"]]

    def shares(part) -> dict:
        labels = part["emotion"].value_counts(normalize=True) if len(part) else {}
        return {e: round(float(labels.get(e, 0.0)), 4) for e in EMOTIONS}

    images, videos = table[table["kind"] == "image"], table[table["kind"] == "video"]
    summary = {
        "files": len(rows), "done": len(done), "failed": len(failed),
        "pending": len([r for r in rows if r["status"] == "pending"]),
        # a photo's face and a video's track are both "a face", but a researcher counts people and photos apart
        "faces": int(sum(r["faces"] or 0 for r in done)), "image_faces": len(images),
        "video_tracks": int(videos.groupby("file")["track"].nunique().sum()) if len(videos) else 0,
        "rows": int(len(table)),
        # per row: a video frame weighs what a photo's face does; hence also each kind apart
        "emotion_share": shares(table), "emotion_share_by_kind": {"image": shares(images), "video": shares(videos)},
        "failures": [{"file": r["path"], "error": r["error"]} for r in failed],
        # videos that broke mid-way: their rows up to the break are in the table
        "partial": [{"file": r["path"], "error": r["error"]} for r in partial],
        # done files since deleted or moved off a disk no longer mounted: their rows stay (the results are the
        # point of a corpus whose raw videos were archived), named here so no one takes them for present files
        "missing": store.missing(),
        "outputs": {r["path"]: f"files/{r['key']}" for r in done},
        "settings": store.settings(),  # what every result in the table was made with
    }
    lines = ["# fervid batch summary", "", f"- files: {summary['files']} ({summary['done']} done, "
             f"{summary['failed']} failed, {summary['pending']} pending)", f"- faces: {summary['faces']} "
             f"({summary['image_faces']} in images, {summary['video_tracks']} video tracks), "
             f"table rows: {summary['rows']}", "", "| emotion | share of rows | of image faces | of video frames |",
             "|---|---|---|---|",
             *[f"| {e} | {v:.1%} | {summary['emotion_share_by_kind']['image'][e]:.1%} | "
               f"{summary['emotion_share_by_kind']['video'][e]:.1%} |" for e, v in summary["emotion_share"].items()],
             "",
             "settings: " + ", ".join(f"{k} {v}" for k, v in summary["settings"].items()), "", "## Failures", ""]
    lines += [f"- {f['error']}" for f in summary["failures"]] or ["none"]
    if summary["partial"]:
        lines += ["", "## Partial results (the table holds the rows up to the break)", "",
                  *[f"- {f['error']}" for f in summary["partial"]]]
    if summary["missing"]:
        lines += ["", "## Analysed files no longer where they were (deleted or moved; their rows stay in the table)",
                  "", *[f"- {path}" for path in summary["missing"]]]
    (out / "summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return summary
