"""``fervid batch``: analyse a corpus of images and videos in one resumable run.

State lives in ``<out>/state.sqlite``: one row per input file with its content hash and status. A file's
results are written to ``<out>/files/<key>/`` through a temporary folder renamed into place (atomic), and only
then is the file marked done, in the same process that owns the database. A run killed at any moment and started
again redoes only unfinished files, and the dataset table (``<out>/dataset.parquet``) is rebuilt from the
finished files' parts: every file appears exactly once.

Engine: a pool of worker processes (``--workers``), each loading the models once, with ONNX Runtime and OpenCV
threads split so the workers together use the machine's cores without oversubscribing them. The workers report
the frames they have read and watch a stop flag through shared memory (no lock a killed worker could leave held):
the driver's bar moves within a video, and an interrupted run stops its workers within a frame.

Memory: rows are streamed (a video's table from its frames Parquet to ``rows.parquet``, every part into
``dataset.parquet``) a row group at a time, so neither a worker nor the driver holds a whole table.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import glob
import json
import math
import os
import shutil
import signal
import sqlite3
import sys
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fervid.apps import defaults
from fervid.apps.child_process import end_with_parent
from fervid.apps.video_notices import video_notices
from fervid.errors import HeldOpenError
from fervid.folder_lock import FolderLock, FolderLocked
from fervid.ownership import access_denied
from fervid.emotions import EMOTIONS, dominant_emotion
from fervid.inference.annotate import naming_file, replacing
from fervid.inference.images import (IMAGE_SUFFIXES, NAME_MAX, OUTPUT_SUFFIX_BYTES, STEM_DIGEST_CHARS,
                                     failure_message, fitted_stem, holds_video, more_frames_notice, natural_order,
                                     printable_name, recorded_name, unreadable_reason)
from fervid.inference.models import ModelFolderNotUsed, file_sha256, runtime_versions
from fervid.inference.options import FRAMES_MEMORY_MB, MAX_FRAME_PIXELS, PipelineOptions, setting_text
from fervid.inference.records import (ROW_COLUMNS, TRACK_COLUMNS, WrittenCell, csv_text, images_document,
                                      table_schema, track_row, write_csv)
from fervid.inference.set_aside import recover_set_aside, replace_outputs
from fervid.inference.video import (EPISODE_COLUMNS, SEGMENT_COLUMNS, VIDEO_SUFFIXES, OutputNames, VideoAnalyzer,
                                    open_parquet)
from fervid.json_files import write_json
from fervid.machine import (WINDOWS_MAX_PATH, long_paths_limited, path_too_long, threads_per_worker,
                            windows_path_length)

DATASET_LEADING = ["file", "kind", "track", "time", "frame"]
DATASET_COLUMNS = [*DATASET_LEADING, *ROW_COLUMNS]  # fervid.inference.records' one face row, after where it was seen
KEY_HEX_DIGITS = 16  # of a file's SHA-256: its results folder's name, files/<key>/ (and "-video" or "-image")
# the fewest characters a video's outputs' stem is cut to, where Windows limits paths (results_stem): one of its
# name's, "-" and its digest's (fitted_stem)
SHORTEST_STEM = 1 + 1 + STEM_DIGEST_CHARS


ENGINES = ("local", "ray")
# the driver's bar weighs each file by its work, in seconds of video: a video by its length (from its file) and what
# starting and finishing it costs (the models' first frames, the timelines and key frames written at the end), an
# image as the video it costs as much as. Measured on a 2-core AMD EPYC (176x144 video at ~8x real time, an image
# 0.03-0.045 s, a video's start and end 1.3-3 s); only their ratio to the videos' lengths moves the bar. Counted in
# files, a 12-minute video last stood at 00:00 remaining for 80 s, and one first at 34 min for a 35 s run.
IMAGE_WORK = 0.3
VIDEO_START_AND_END_WORK = 15.0
UNKNOWN_LENGTH_WORK = 60.0  # a video whose file gives no length
PARQUET_MAGIC = b"PAR1"  # a whole Parquet file's last bytes
ROW_GROUP_ROWS = 65_536  # rows read, converted and written at a time: a 45-min video has ~400,000
PROGRESS_SECONDS = 0.5  # how often the driver looks at its workers' progress (its bar is redrawn at its own pace)
STOP_GRACE_SECONDS = 10.0  # after an interrupt, how long a worker may take to stop (within a frame, or finish)
# Windows' process pool waits on its workers' handles with WaitForMultipleObjects, 63 at most: ProcessPoolExecutor
# refuses more than 61 workers there (a traceback after the files were listed)
WINDOWS_MOST_WORKERS = 61
# files.csv / tracks.csv: one row per input / per video track (README, "Corpora"); files.csv's uncertain_share last
# (added in 0.3.0: after the columns scripts may read by position, none of which moves)
# same_as after it (0.3.0 too): the first file with this one's content (the one analysed; among files analysed
# together, the first in the batch's order); empty for none
FILES_CSV_COLUMNS = ["file", "kind", "status", "duration", "tracks", "rows", "dominant_emotion", *EMOTIONS, "note",
                     "output", "uncertain_share", "same_as"]
MOST_NAMED = 5  # copies or segments summary.md names (files.csv's same_as names every copy)
TRACKS_CSV_COLUMNS = ["file", *TRACK_COLUMNS, "partial"]
# the notices of a video (fervid.apps.video_notices) its files.csv note carries as `fervid video` words them. Not
# the window's (said once a run), the memory's (said once a run, and noted from the tracks JSON) nor the replaced
# outputs' (a file's results folder is its own); those the tracks JSON records (HDR, clock resets, frame sizes,
# video streams, replaced faces, the frame rate capped) are noted from it, so that a folder analysed before this
# was kept has them too
NOTE_NOTICES = ("small_faces", "dark", "scene_cuts", "end_past_video", "segments_outside", "frameless_segments")


class BatchInterrupted(KeyboardInterrupt):
    """A run stopped by Ctrl-C/SIGINT after recording what finished. ``in_progress``: the files being analysed,
    whose partial work is lost (not those handed to a worker still loading its models: they had not started);
    ``remaining``: this run's files not analysed (those included)."""

    def __init__(self, in_progress: list[str] | None = None, remaining: int | None = None):
        super().__init__("interrupted")
        self.in_progress = list(in_progress or [])
        self.remaining = remaining


# a worker's OSError that is the output folder's, not its file's: no room left (a full disk, a quota) or a folder
# that cannot be written at all. Every later file would fail alike, so the run ends (CannotWriteOutputs).
OUTPUT_FOLDER_ERRNOS = {errno.ENOSPC, errno.EROFS, getattr(errno, "EDQUOT", errno.ENOSPC)}
# refused: the output folder's where the path refused is under --out (`chmod 555 out/files` mid-run had every later
# file analysed in full, then failed), the file's own where it is the input (an unreadable photo)
PERMISSION_ERRNOS = {errno.EACCES, errno.EPERM}


def _output_folders_fault(exc: OSError, out: Path, source: str) -> bool:
    """Whether a worker's ``exc`` is the output folder's (:data:`OUTPUT_FOLDER_ERRNOS`, or a permission refused on
    a path under ``out`` that is not the input ``source``), not the file's. A :class:`HeldOpenError` is the file's:
    Windows refused to move its results while another program held them (still, after the tries of
    ``replace_retrying``), which says nothing of the files after it (the run stopped, saying to make room)."""
    if exc.errno in OUTPUT_FOLDER_ERRNOS:
        return True
    if isinstance(exc, HeldOpenError):
        return False
    if exc.errno not in PERMISSION_ERRNOS or exc.filename is None:
        return False
    refused = os.path.abspath(os.fsdecode(exc.filename))
    return refused != os.path.abspath(source) and Path(refused).is_relative_to(os.path.abspath(out))


class CannotWriteOutputs(OSError):
    """A worker could not write a file's results (:data:`OUTPUT_FOLDER_ERRNOS`): the run ended as at Ctrl-C,
    keeping what finished (a full disk failed every remaining file, 466 of 504, each recorded as its own failure).
    An OSError naming the file that could not be written, whose reason says what was kept and what to do."""

    def __init__(self, number: int, reason: str, where: str, file: str):
        super().__init__(number, reason, where)
        self.file = file  # the input whose results could not be written: not analysed, it stays pending
        self.in_progress: list[str] = []
        self.remaining: int | None = None

    def ended(self, out: Path, in_progress: list[str], remaining: int, tables_kept: str | None) -> None:
        """Say, in the error's reason, what the run kept: ``tables_kept`` says why the table and summary could
        not be rewritten either (None: they were)."""
        self.in_progress, self.remaining = in_progress, remaining
        kept = ("dataset.parquet, files.csv and the summary hold every file done" if tables_kept is None else
                f"dataset.parquet, files.csv and the summary could not be rewritten either ({tables_kept}): they "
                "are the last run's, and the next run rewrites them")
        self.strerror = (f"{self.strerror}, writing the results of {self.file}: the run stopped, as every later file "
                         f"would fail alike. The files done are kept in {out} ({kept}); {remaining} file(s) of this "
                         "run are not analysed yet: make room (or make the folder writable) and run the same command "
                         "again to go on")


class DamagedResults(OSError):
    """A done file's ``rows.parquet`` that cannot be read, though it ends as a whole one does (:func:`results_damage`
    finds those cut short): an OSError naming it, whose reason says what to do."""


@dataclass
class BatchOptions:
    out: Path
    workers: int = defaults.BATCH_WORKERS
    engine: str = defaults.BATCH_ENGINE  # local (process pool) or ray
    ray_address: str | None = None  # None: start Ray on this machine; "auto" or host:port: join a cluster
    pipeline: PipelineOptions = field(default_factory=PipelineOptions)  # model, detector, video settings
    # a video's bounds, as VideoOptions takes them: larger frames are refused; decoded frames held at once
    max_frame_pixels: int = MAX_FRAME_PIXELS
    frames_memory_mb: float = FRAMES_MEMORY_MB
    # every video's region to look for faces in, and the stretch of it analysed (VideoOptions' region, start, end);
    # images are analysed whole
    region: tuple[float, float, float, float] | None = None
    start: float = 0.0
    end: float | None = None
    # stretches of every video summarised on their own (VideoOptions.segments: TimeSegment), or windows of this many
    # seconds (VideoOptions.segment_every)
    segments: tuple = ()
    segment_every: float | None = None

    def __post_init__(self):
        self.video()  # a bad bound is refused here, not by every worker
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, not {self.workers}")
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {self.engine!r}")
        if self.ray_address and self.engine != "ray":  # it would be ignored
            raise ValueError("--address is a Ray cluster's: it needs --engine ray")
        if self.pipeline.face_crops:  # it would be ignored: batch detects the faces of every image and video
            raise ValueError("face_crops: fervid batch detects faces; classify images that are face crops with "
                             "`fervid image --face-crops`")
        check_state_path(Path(self.out) / STATE_FILE)

    def video(self):
        """The options each video is analysed with (:class:`fervid.inference.video.VideoOptions`)."""
        return self.pipeline.video(max_frame_pixels=self.max_frame_pixels, frames_memory_mb=self.frames_memory_mb,
                                   region=self.region, start=self.start, end=self.end, segments=self.segments,
                                   segment_every=self.segment_every)

    @property
    def video_settings(self) -> dict:
        """The region and stretch of the videos analysed, and the memory their frames may take, as the folder's
        settings record them (they change a video's numbers: see RESULT_SETTINGS)."""
        return {"region": list(self.region) if self.region is not None else None, "start": self.start,
                "end": self.end, "segments": [segment.recorded() for segment in self.video().segments],
                "segment_every": self.segment_every,
                "frames_memory_mb": self.frames_memory_mb}


STATE_FILE = "state.sqlite"  # in the output folder: the run's state
# the longest path SQLite opens (its Unix VFS's MAX_PATHNAME), the "-journal" it adds to a database's included; it
# makes a path absolute and resolves its links first, so neither a relative path nor a link gets round it
SQLITE_MAX_PATH_BYTES = 512
SQLITE_LONGEST_SUFFIX = "-journal"


def check_state_path(state: Path) -> None:
    """Refuse (ValueError) an output folder whose state file's path is too long for SQLite: `fervid batch --out`
    over ~490 bytes failed with "state.sqlite: unable to open database file" and nothing more."""
    resolved = os.fsencode(os.path.realpath(state))
    most = SQLITE_MAX_PATH_BYTES - len(SQLITE_LONGEST_SUFFIX)
    if len(resolved) > most:
        raise ValueError(f"out must be a shorter path: the run's state, {state} ({len(resolved)} bytes as an "
                         f"absolute path), is kept by SQLite, which opens paths of at most {most} bytes")


# a manifest's column of paths, by its header (any case); a manifest without one of these has paths in its first
# column and no header
MANIFEST_PATH_COLUMNS = ("path", "file", "filename", "filepath", "file_path", "image", "video")


def _manifest_entries(item: str, text: str) -> tuple[list[str], list[str], bool] | None:
    """A manifest's paths (relative ones in its folder) as its text ``text`` lists them, the path column's cells
    (a column headed as :data:`MANIFEST_PATH_COLUMNS` names, else the first), and whether such a header named it;
    None where it has no row."""
    from fervid.evaluation.tables import table_rows

    header, body = table_rows(text)
    rows = [header, *(row for _, row in body)] if header else []
    if not rows:
        return None
    header = [cell.strip().lower() for cell in rows[0]]
    named = [i for i, cell in enumerate(header) if cell in MANIFEST_PATH_COLUMNS]
    col = named[0] if named else 0
    base = Path(item).parent
    cells = [row[col].strip() for row in rows[1 if named else 0:] if len(row) > col and row[col].strip()]
    # a name fervid's own CSVs wrote with a ' before its formula-like start (files.csv given back): the file's
    cells = [c if (base / c).exists() else csv_text(c) for c in cells]
    return [str(Path(c) if Path(c).is_absolute() else base / c) for c in cells], cells, bool(named)


def collect_inputs(inputs: list[str], notices: list[str] | None = None) -> tuple[list[Path], list[tuple[str, str]]]:
    """Folders (recursive), globs, files, and manifest CSVs (a column headed ``path``, ``file``, ``filename``,
    ... in any case, or the first column; read as :func:`fervid.evaluation.tables.table_rows` reads tables). A batch results folder (this run's too) is not searched for inputs.
    ``notices`` gets what was left out without being an error (files named as fervid's outputs, a manifest's
    first row taken for a header)."""
    from fervid.evaluation.tables import SAVE_AS_CSV, TableEncodingError, decided_text, table_readings
    from fervid.inference.images import expand_inputs

    notices = [] if notices is None else notices

    suffixes = IMAGE_SUFFIXES | VIDEO_SUFFIXES
    files, problems, plain = [], [], []
    for item in inputs:
        if item.lower().endswith(".csv") and Path(item).is_file():
            # as `fervid evaluate` reads its tables: comma-, tab- or semicolon-separated (Excel's CSV in a German or
            # French locale), UTF-8, or the one other encoding it reads as text in; a manifest names files, so where
            # it reads as text in two (a short Shift-JIS one as cp1252 too), it is in the one whose files are there
            data = Path(item).read_bytes()
            readings = table_readings(data)
            listed = {reading: _manifest_entries(item, reading.text) for reading in readings}
            files_there = {reading: sum(map(os.path.exists, listing[0] if listing else []))
                           for reading, listing in listed.items()}
            plausible = [reading for reading in readings if reading.plausible]
            most = max((files_there[reading] for reading in plausible), default=0)
            if len(plausible) > 1 and most and [files_there[reading] for reading in plausible].count(most) == 1:
                readings = [next(reading for reading in plausible if files_there[reading] == most)]
            try:
                text = decided_text(item, data, readings)
            except TableEncodingError as exc:
                problems.append((item, exc.reason))
                continue
            read_as = next(reading for reading in readings if reading.plausible and reading.text == text)
            manifest = listed[read_as]
            if manifest is None:
                problems.append((item, "manifest is empty"))
                continue
            entries, cells, named = manifest
            for other, listing in listed.items():  # its files are there as another encoding reads it: said so
                there_instead = [name for entry, name in zip(entries, listing[0] if listing else [])
                                 if not os.path.exists(entry) and os.path.exists(name)]
                if there_instead:
                    notices.append(f"{item}: {len(there_instead)} of the paths it lists are not there as it reads in "
                                   f"{read_as.encoding}, but are as it reads in {other.encoding} (e.g. "
                                   f"{printable_name(there_instead[0])}); {SAVE_AS_CSV}")

            def names_input(entry: str) -> bool:
                return (Path(entry).suffix.lower() in suffixes | {".ts"} or Path(entry).is_dir()
                        or glob.has_magic(entry))

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
        try:
            there, regular = p.exists(), p.is_file()
        except OSError as exc:  # matched by a pattern in a folder that may be listed, not entered: this input fails
            more_problems.append((str(p), unreadable_reason(exc)))
            continue
        if not there:  # a link whose file is gone
            more_problems.append((str(p), "no such file (a link to a file that is gone)"))
            continue
        if not regular:  # a device (/dev/zero), FIFO or socket: hashing it would never end
            more_problems.append((str(p), "not a regular file (a device, pipe or socket)"))
            continue
        files.append(p)
    return files, [(recorded_name(item), why) for item, why in problems + more_problems]


def listing_order(path: str) -> tuple:
    """Sort key of the batch's order among files of one content: by folder, then by name before its extension, in
    natural order (:func:`fervid.inference.images.natural_order`), so that an original comes before the copies
    named after it ("session.mp4" before "session - Kopie.mp4", "session (1).mp4", "session copy.mp4"), which a
    name's order alone puts first (" " and "-" sort before ".")."""
    as_path = Path(path)
    return (natural_order(as_path.parent), natural_order(Path(as_path.stem)), natural_order(Path(as_path.suffix)))


def same_content(rows: list[dict]) -> dict[str, str]:
    """Per path of the state's ``rows`` whose content (and kind) a path before it has too, that first path; done
    files apart from the others (they share their first's results). The first is one analysed, not a copy a later run
    found of a done file (``copy_of``): :func:`listing_order` orders only files analysed together, so an ``a.jpg``
    added beside ``b.jpg`` analysed before never takes its place (and name, in ``dataset.parquet``: b's outputs keep
    b's name). A group of found copies alone (their first forgotten) is ordered by it."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if r["hash"]:  # (a file that could not be read has none)
            groups.setdefault((r["hash"], r["kind"], r["status"] == "done"), []).append(r)
    firsts = {}
    for group in groups.values():
        analysed = [r["path"] for r in group if not r["copy_of"]] or [r["path"] for r in group]
        first = min(analysed, key=listing_order)
        firsts.update({r["path"]: first for r in group if r["path"] != first})
    return firsts


def named_for_copy(text: str | None, first: str, copy: str) -> str | None:
    """A first file's error or note (which name it) as its copy's: a copy's note, as its error, names it."""
    # (the analysis names it as given in an error, by its recorded name in a note: one replacement where they agree)
    for old, new in {first: copy, recorded_name(first): recorded_name(copy)}.items():
        text = text and text.replace(old, new)
    return text


def made_with_counts(rows: list[dict]) -> list[dict]:
    """The versions that made the results of ``rows`` (done files: the originals, as a copy's results are its
    first's), each with its count of files: ``fervid`` and ``onnxruntime``, None for files analysed before a folder
    recorded them."""
    counts = Counter(r["made_with"] for r in rows)
    return [{**(json.loads(made) if made else {"fervid": None, "onnxruntime": None}), "files": n}
            for made, n in sorted(counts.items(), key=lambda item: (item[0] is not None, item[0] or ""))]


class BatchLocked(FolderLocked):
    """Another run holds the output folder."""


class BatchSettingsChanged(ValueError):
    """The output folder holds results made with other analysis settings; resuming would mix the two."""


# What makes a result what it is; how the run is executed (workers, engine), whether annotated copies are written
# and how many key frames a track keeps (each video's tracks JSON records its cap) do not change any number, so a
# resumed run may differ in those: a run that filled the disk goes on under a cap. So may --max-video-megapixels:
# a video over it is refused, not analysed otherwise, and a failed file is tried again by the next run. Not so
# --frames-memory-mb (BatchOptions.video_settings, with the region and stretch): a video whose frames do not fit in
# it is analysed at fewer frames a second (carphone's first 2 s at 2 MB: 22 frames, not 60), so a run going on with
# another value is refused; one short of memory goes on with fewer --workers
RESULT_SETTINGS = ("model", "detector", "score_threshold", "min_face", "max_faces", "precision", "detect_every",
                   "window", "method", "sample_fps")
# settings recorded since a later version, with the value a folder made before then was analysed with (not
# frames_memory_mb: it could be set before it was recorded, so such a folder takes this run's)
SETTINGS_BEFORE_RECORDED: dict[str, object] = {"max_faces": None, "region": None, "start": 0.0, "end": None,
                                               "segments": [], "segment_every": None}


def input_kind(path: Path) -> str:
    """How ``fervid batch`` analyses a file, "video" or "image": by its extension where it is a video's or an
    image's (.ts, not one of VIDEO_SUFFIXES as TypeScript's sources share it, is a transport stream here: a search
    takes only those, expand_inputs, and one named on its own is no image), else by what it holds (an .ogg holding
    Theora, a recording under an extension of its own: images.holds_video). What is neither is read as an image,
    whose reader says what it is (sound alone, a text file)."""
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES or suffix == ".ts":
        return "video"
    return "image" if suffix in IMAGE_SUFFIXES or not holds_video(path) else "video"


def result_settings(pipeline: PipelineOptions) -> dict:
    """The settings a batch folder's results are made with; the model and the temporal LSTM by the digests of the
    weights files that run, as each file's JSON records them, so that a model retrained under the same name (a
    fervid upgrade) counts as another model. The fervid and ONNX Runtime versions are not among them: an upgrade
    that keeps the weights goes on with a folder (each file's JSON records the versions that made it, and the
    summary's ``made_with`` counts them), rather than redo or refuse every file already done."""
    from fervid.inference.detect import resolved_score_threshold
    from fervid.inference.models import ModelConfig, graph_for, resolve_model_dir
    from fervid.inference.video import method_for

    settings = {name: getattr(pipeline, name) for name in RESULT_SETTINGS}
    folder = resolve_model_dir(pipeline.model)
    config = ModelConfig.load(folder / "config.json")
    # what runs, as each result file records it: "auto" and "the detector's own" stand for values, so a run that
    # names them (--precision int8, --score-threshold 0.4) asks for the same thing
    weights_file, settings["precision"] = graph_for(folder, config, pipeline.precision, named=pipeline.model)
    settings["score_threshold"] = resolved_score_threshold(pipeline.detector, pipeline.score_threshold)
    settings["method"] = method_for(config, pipeline.method, pipeline.temporal_model, "flags")[0]
    if settings["method"] == "frame":  # no window runs: recorded as each video's tracks JSON records it, null
        settings["window"] = None
    # the LSTM that runs, by its weights (None: no LSTM runs): the one shipped for the CNN has one digest however it
    # is named (left out, or as its folder), and a later fervid's retrained one another
    settings["temporal_model_sha256"] = None
    if settings["method"] == "lstm":
        from fervid.inference.temporal import temporal_model_for, temporal_model_path

        lstm = temporal_model_path(pipeline.temporal_model) if pipeline.temporal_model else temporal_model_for(
            config.features_of, "flags")
        settings["temporal_model_sha256"] = file_sha256(lstm / "model.onnx")
    # a model by the name its results carry and by its weights, not by where its folder is: a folder copied,
    # renamed or moved is the same model (a resumed run was refused). The file that runs (the int8 graph by
    # default), as the image and tracks JSONs record it: the float model.onnx's digest named weights that never ran
    settings["model"] = config.name
    settings["weights_file"] = weights_file
    settings["weights_sha256"] = file_sha256(folder / weights_file)
    # its softmax temperature, which `fervid calibrate` rewrites in config.json beside the same weights: every
    # probability in the table changes with it. (A folder recorded before it was kept takes this run's.)
    settings["temperature"] = float(config.temperature)
    return settings


def settings_as_recorded_before(pipeline: PipelineOptions) -> dict:
    """This run's weights digests as a folder recorded them before it recorded the weights files that ran
    (:func:`result_settings`): ``model_weights_sha256``, the first 16 hex digits of the float ``model.onnx``'s digest
    whichever graph ran, and ``temporal_model_sha256``, the same of your own LSTM's (None for the one shipped for
    the CNN). Such a folder is compared with these, then recorded anew (:meth:`StateStore.claim_settings`)."""
    from fervid.inference.models import ModelConfig, resolve_model_dir

    folder = resolve_model_dir(pipeline.model)
    config = ModelConfig.load(folder / "config.json")
    before = {"model_weights_sha256": file_sha256(folder / "model.onnx")[:16], "temporal_model_sha256": None}
    if pipeline.temporal_model:
        from fervid.inference.temporal import shipped_temporal_models

        digest = file_sha256(Path(pipeline.temporal_model) / "model.onnx")[:16]
        shipped = shipped_temporal_models().get(config.name)
        if shipped is None or file_sha256(shipped / "model.onnx")[:16] != digest:
            before["temporal_model_sha256"] = digest
    return before


def output_lock(out: Path) -> FolderLock:
    """One run per output folder."""
    return FolderLock(out, "another fervid batch run", "wait for it to finish", error=BatchLocked)


def results_damage(folder: Path) -> str | None:
    """What is wrong with a done file's results folder, ``files/<key>/``: "deleted", or its ``rows.parquet`` "empty or
    cut short" (a power cut after ``state.sqlite`` recorded it done: nothing is synced to the disk; every later run
    failed reading it); None where its rows are whole, by Parquet's closing bytes (reading each file's footer took
    10x as long: 4 s a run for 15,000 images)."""
    try:
        with open(folder / "rows.parquet", "rb") as fh:
            if fh.seek(0, os.SEEK_END) >= len(PARQUET_MAGIC):
                fh.seek(-len(PARQUET_MAGIC), os.SEEK_END)
                if fh.read() == PARQUET_MAGIC:
                    return None
    except FileNotFoundError:
        return "deleted"
    except OSError:  # (unreadable: said by the table's writer, naming it)
        return None
    return "empty or cut short (a power cut or a crash after it was recorded?)"


class StateStore:
    """SQLite table of input files: path, content hash, kind, status (pending/done/failed), error, counts."""

    def __init__(self, path: Path):
        self.folder = Path(path).parent  # the batch's output folder, named in its errors
        # a file of the store this user may not write (a colleague's run left it 0644, under `umask 022`): said
        # whose it is before SQLite opens it, which opened it read-only, made -wal and -shm files of this user's that
        # the run's owner could not write in turn ("attempt to write a readonly database" for both, saying neither
        # whose the files were nor what to do)
        for part in (path, *(Path(f"{path}{end}") for end in ("-wal", "-shm"))):
            if part.exists() and not os.access(part, os.R_OK | os.W_OK):
                raise access_denied(part, "this user may not write the run's state")
        # made as the folder's other files are (0666 less the umask; SQLite makes it 0644 whatever the umask, its
        # -wal and -shm files as it): with `umask 002` in a folder a group shares, a colleague resumes the run
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        self.db = sqlite3.connect(path, isolation_level=None)  # autocommit: each update is durable at once
        self.db.execute("PRAGMA journal_mode=WAL")
        # a forgotten file's row (a participant erased: README, "Corpora") overwritten with zeros, not left in the
        # free pages, where SQLite is built with this off (python.org's builds; Debian's have it on)
        self.db.execute("PRAGMA secure_delete=ON")
        self.db.execute("""CREATE TABLE IF NOT EXISTS files (
            path TEXT PRIMARY KEY, hash TEXT, kind TEXT, status TEXT, error TEXT, faces INTEGER DEFAULT 0,
            rows INTEGER DEFAULT 0, key TEXT, seconds REAL, updated REAL)""")
        self.db.execute("CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT)")
        # where a path is, absolute: a file named another way (from another folder, through a manifest) is the
        # same file. Folders from before it had paths as given, from the folder a run was started in: this one's.
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(files)")}
        if "location" not in columns:
            self.db.execute("ALTER TABLE files ADD COLUMN location TEXT")
        # the file's size and modification time when it was hashed: an unchanged file is not read again (hashing
        # 40 recordings of 45 minutes read every byte of them at every start). Folders from before have none: their
        # files are hashed once more, then recorded.
        for column in ("size", "mtime_ns"):
            if column not in columns:
                self.db.execute(f"ALTER TABLE files ADD COLUMN {column} INTEGER")
        # the fervid and ONNX Runtime versions that analysed each file (JSON), which the settings leave out: a folder
        # goes on under an upgrade. Files analysed before it was recorded have none.
        if "made_with" not in columns:
            self.db.execute("ALTER TABLE files ADD COLUMN made_with TEXT")
        # what a done file's analysis should be read with, of its own (an animated GIF's first frame alone); a
        # video's come from its tracks JSON
        if "note" not in columns:
            self.db.execute("ALTER TABLE files ADD COLUMN note TEXT")
        # a copy a later run found of a done file: the path whose results it took (:func:`same_content` keeps that
        # one the first); NULL for a file analysed, and for the copies analysed with it. Folders from before have none.
        if "copy_of" not in columns:
            self.db.execute("ALTER TABLE files ADD COLUMN copy_of TEXT")
            # such a copy took only its first's counts: its made_with is NULL beside its first's (every file analysed
            # since they were recorded has one), which summary.json counted as an unrecorded fervid's. Given the rest
            for copy, first, error, note, made_with in self.db.execute(
                    "SELECT copy.path, first.path, first.error, first.note, first.made_with FROM files copy "
                    "JOIN files first ON copy.hash = first.hash AND copy.kind = first.kind WHERE copy.status = 'done' "
                    "AND first.status = 'done' AND copy.made_with IS NULL AND first.made_with IS NOT NULL "
                    "GROUP BY copy.path").fetchall():
                self.db.execute("UPDATE files SET copy_of = ?, error = ?, note = ?, made_with = ? WHERE path = ?",
                                (first, named_for_copy(error, first, copy), named_for_copy(note, first, copy),
                                 made_with, copy))
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

    def claim_settings(self, settings: dict, before: dict | None = None) -> list[str]:
        """Record the analysis settings on a folder's first run; refuse a run whose settings differ from those its
        results were made with (its skipped files would keep the old settings' results in the one table). A
        folder written before settings were recorded takes this run's. ``before``: this run's settings as a folder
        recorded them before it recorded the weights files that ran (:func:`settings_as_recorded_before`); such a
        folder is compared with those, and then holds this run's: the same weights, now named by the file that
        ran. Returns the keys recorded before that are no longer (empty but for such a folder's first run now)."""
        recorded = self.settings()
        if recorded:
            recorded = {**SETTINGS_BEFORE_RECORDED, **recorded}
        earlier = {}
        if recorded and "weights_sha256" not in recorded:
            earlier = {k: v for k, v in (before or {}).items() if k in recorded}
        compared = {**settings, **earlier}
        if "frame" in (recorded.get("method"), settings.get("method")):
            # method frame uses no window: a folder that recorded one for it (an earlier fervid took --window with
            # --method frame, and recorded 1.0 without it) goes on, and records null from now on as its videos do
            compared.pop("window", None)
            if recorded.get("method") == settings.get("method") and recorded.get("window") is not None:
                self.db.execute("DELETE FROM settings WHERE name = 'window'")
        changed = {k: (recorded[k], v) for k, v in compared.items() if k in recorded and recorded[k] != v}
        if changed:
            raise BatchSettingsChanged(
                f"{self.folder}: its results were made with "
                + ", ".join(f"{k}={setting_text(k, old)}" for k, (old, _) in changed.items())
                + "; this run asks for " + ", ".join(f"{k}={setting_text(k, new)}" for k, (_, new) in changed.items())
                + ". Use another --out, or the same settings to go on with this one")
        self.db.executemany("DELETE FROM settings WHERE name = ?", [(k,) for k in earlier])
        self.db.executemany("INSERT OR IGNORE INTO settings (name, value) VALUES (?, ?)",
                            [(k, json.dumps(v)) for k, v in settings.items()])
        return list(earlier)

    def plan(self, files: list[Path], files_dir: Path, progress: bool = False, notices: list[str] | None = None
             ) -> tuple[list[tuple[str, str, str]], dict[str, list[str]]]:
        """Register files. Returns the tasks, one (path, key, kind) per distinct content and kind not yet analysed
        (``key``: its results' folder under ``files_dir``), and for each task's path every pending path with that
        content: outputs are keyed by content, so identical files are analysed once (two workers never write one
        folder) and all their paths are finished together. A path whose content another path already finished is
        marked done at once. The same bytes under an image's and a video's name are two tasks (the video was
        analysed as an image, or the other way round, by whichever name sorted first). A finished file since
        renamed (its old name gone, its content here under a new one) is recorded under the new name only.
        ``progress``: a bar while the files are read for their hashes (minutes, on a corpus of long videos). A file
        whose size and modification time (ns) are those recorded when it was hashed keeps its recorded hash: only
        new or changed files are read. A file that cannot be read is recorded as failed; ``notices`` gets the done
        files analysed again as their results were found damaged (:func:`results_damage`)."""
        from fervid.progress import progress_bar

        pending_of: dict[tuple[str, str], list[str]] = {}  # per content and kind to analyse, its paths
        key_of: dict[tuple[str, str], str] = {}
        known = dict(self.db.execute("SELECT location, path FROM files"))
        for p in progress_bar(files, show=progress and len(files) > 1, desc="reading files", unit="file",
                              leave=False):
            kind = input_kind(p)
            location = os.path.abspath(p)
            name = known.get(location, str(p))  # the name the file was first registered under
            row = self.db.execute("SELECT hash, status, key, size, mtime_ns FROM files WHERE path = ?",
                                  (name,)).fetchone()
            try:
                stat = p.stat()
                unchanged = row and row[0] and (row[3], row[4]) == (stat.st_size, stat.st_mtime_ns)
                digest = row[0] if unchanged else file_sha256(p)
            except OSError as exc:
                # unreadable (chmod 000), or deleted since the inputs were listed: this file failed, not the run
                # (its neighbours were never analysed); hashed again, and so tried again, by the next run
                self.db.execute("INSERT OR REPLACE INTO files (path, kind, status, error, updated, location) "
                                "VALUES (?, ?, 'failed', ?, ?, ?)",
                                (name, kind, f"{name}: {unreadable_reason(exc)}", time.time(), location))
                known[location] = name
                continue
            if row and row[0] == digest and row[1] == "done":
                damage = results_damage(files_dir / row[2])
                if damage is None:
                    if not unchanged:  # hashed again (touched, or a folder from before sizes were kept): kept
                        self.db.execute("UPDATE files SET size = ?, mtime_ns = ? WHERE path = ?",
                                        (stat.st_size, stat.st_mtime_ns, name))
                    continue  # done, and its results are still there (a deleted results folder is made again)
                if damage != "deleted" and notices is not None:
                    notices.append(f"{files_dir / row[2] / 'rows.parquet'}: {damage}: {name} is analysed again")
            # a file of this content analysed, rather than a copy an earlier run found (there is none but where the
            # analysed one was renamed and its row forgotten)
            twin = self.db.execute("SELECT faces, rows, seconds, key, path, location, error, note, made_with, copy_of "
                                   "FROM files WHERE hash = ? AND status = 'done' AND kind = ? "
                                   "ORDER BY copy_of IS NOT NULL LIMIT 1", (digest, kind)).fetchone()
            done = bool(twin and results_damage(files_dir / twin[3]) is None)
            other_kind = self.db.execute("SELECT 1 FROM files WHERE hash = ? AND kind NOT IN (?, 'unknown')",
                                         (digest, kind)).fetchone()
            # one content of one kind has one key: b.jpg after a.mp4 (other kind) is a.jpg's twin, in a.jpg's folder
            key = twin[3] if done else key_of.setdefault((digest, kind), digest[:KEY_HEX_DIGITS] + (
                f"-{kind}" if other_kind else ""))
            if done:
                first, first_location = twin[4], twin[5]
                # a copy takes its first's results whole: a partial video's error and notices (named as the copy, as
                # within one run) and the versions that made them. The first's file gone, this is it renamed (its
                # row is forgotten below), a copy as it was or not
                error, note = (named_for_copy(text, first, name) for text in twin[6:8])
                copy_of = first if Path(first_location or first).exists() else twin[9]
                shared = (*twin[:3], error, note, twin[8], copy_of)
            else:
                shared = (0, 0, None, None, None, None, None)
            self.db.execute("INSERT OR REPLACE INTO files (path, hash, kind, status, key, faces, rows, seconds, error, "
                            "note, made_with, copy_of, updated, location, size, mtime_ns) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            (name, digest, kind, "done" if done else "pending", key, *shared, time.time(), location,
                             stat.st_size, stat.st_mtime_ns))
            known[location] = name
            self._forget_renamed(digest, kind, location)
            if not done:
                pending_of.setdefault((digest, kind), []).append(name)
        # each content analysed under its first name (listing_order): its video's outputs are named after the
        # original, session.mp4, not after "session - Kopie.mp4" found first
        firsts = {content: min(names, key=listing_order) for content, names in pending_of.items()}
        todo = [(first, key_of[content], content[1]) for content, first in firsts.items()]
        return todo, {firsts[content]: names for content, names in pending_of.items()}

    def _forget_renamed(self, digest: str, kind: str, location: str) -> None:
        """Rows of the same content whose file is gone: the file was renamed or moved to ``location``; keeping its
        old row counted it twice in the table and the summary."""
        for path, old in self.db.execute("SELECT path, location FROM files WHERE hash = ? AND kind = ? AND "
                                         "location != ?", (digest, kind, location)).fetchall():
            if not Path(old or path).exists():
                self.db.execute("DELETE FROM files WHERE path = ?", (path,))

    def missing(self) -> list[str]:
        """Done files whose file is no longer where it was analysed (deleted, or moved off a disk no longer
        mounted): their rows stay in the table, and the summary names them with their ``files/<key>/``, whose
        deletion (then a run) forgets them, as README's "Corpora" says to erase a participant."""
        return [path for path, location in self.db.execute("SELECT path, location FROM files WHERE status = 'done'")
                if not Path(location or path).exists()]

    def reopen(self, path: str, location: str | None, why: str) -> None:
        """A done file whose results are gone from ``files/``: pending again, analysed when next given; forgotten
        if its file is gone too (nothing could ever finish it)."""
        if Path(location or path).exists():
            # (no copy of a done file now: analysed again with whatever shares its content)
            self.db.execute("UPDATE files SET status = 'pending', error = ?, copy_of = NULL, updated = ? "
                            "WHERE path = ?", (why, time.time(), path))
        else:
            self.db.execute("DELETE FROM files WHERE path = ?", (path,))

    def finish(self, path: str, status: str, error: str | None, faces: int, rows: int, seconds: float,
               made_with: dict | None = None, note: str | None = None) -> None:
        """``made_with``: the fervid and ONNX Runtime versions that analysed it; ``note``: what its results should be
        read with (files.csv's ``note``)."""
        self.db.execute("UPDATE files SET status = ?, error = ?, faces = ?, rows = ?, seconds = ?, updated = ?, "
                        "made_with = ?, note = ? WHERE path = ?",
                        (status, error, faces, rows, seconds, time.time(),
                         None if made_with is None else json.dumps(made_with), note, path))

    def rows(self) -> list[dict]:
        cur = self.db.execute("SELECT path, hash, kind, status, error, faces, rows, key, seconds, location, note, "
                              "made_with, copy_of FROM files ORDER BY path")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]


# --- worker side -------------------------------------------------------------------------------------------

_worker: dict = {}


class WorkerBoard:
    """What a pool's workers and its driver share, in shared memory without locks (a worker killed mid-write
    cannot leave one held): a stop flag the workers read at every frame, per worker the frames read of the
    video in hand, the frames it holds (0, 0 between files) and the number of its task, which the driver turns into
    its bar, and per task
    (numbered as submitted to the pool) whether a worker has started it. Handed to the workers as they start
    (shared memory cannot be sent with a task)."""

    def __init__(self, ctx, workers: int, tasks: int = 0):
        self.workers = workers
        self.stop = ctx.RawValue("b", 0)
        self.slots = ctx.RawArray("d", 2 * workers)  # per worker: frames read, frames in the video
        self.task_in_hand = ctx.RawArray("i", workers)  # per worker: the number of the task it took up last
        self.begun = ctx.RawArray("b", max(tasks, 1))  # per task: 1 once a worker (its models loaded) took it up
        self.claimed = ctx.Value("i", 0)  # its lock is taken once per worker start only

    def claim(self) -> int:
        with self.claimed.get_lock():
            slot = self.claimed.value % self.workers
            self.claimed.value += 1
        return slot

    def report(self, slot: int, done: float, total: float) -> None:
        self.slots[2 * slot], self.slots[2 * slot + 1] = done, total

    def fractions(self) -> dict[int, float]:
        """Per video in hand, by its task's number, the share of its frames read (kept below 1: a container's
        frame count is an estimate)."""
        shares = {}
        for i in range(self.workers):
            # each slot read once: a worker writes (0, 0) as it hands in a file, between two reads of this one
            task, done, total = self.task_in_hand[i], self.slots[2 * i], self.slots[2 * i + 1]
            if total > 0:
                shares[task] = min(done / total, 0.99)
        return shares


def _begin(analyse, number: int, task: tuple[str, str, str]) -> dict:
    """Run in a pool's worker: ``analyse(task)``, the task marked started on the board first (unless the run was
    already stopped: it stops at once), so that an interrupted run tells a file whose work is lost from one handed
    to a worker that was still loading its models."""
    board = _worker.get("board")
    if board is not None and not board.stop.value:
        board.task_in_hand[_worker["slot"]] = number  # (the driver weighs its share of frames by its file)
        board.begun[number] = 1
    return analyse(task)


class _Stopped(BaseException):
    """Raised in a worker from the video's stop check once the driver was interrupted: a BaseException, so that the
    video analysis lets it through at once (its own handlers keep partial results of Exceptions and Ctrl-C, and
    would write them first) and the file's temporary folder is dropped."""


def _init_worker(threads: int, options: BatchOptions, board: WorkerBoard | None = None) -> None:
    if board is not None:
        # a terminal's Ctrl-C reaches the whole process group: the driver alone decides, and tells the workers
        # through the board (a worker's own KeyboardInterrupt wrote partial outputs only to have them thrown away)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if hasattr(signal, "SIGTERM"):  # a scheduler's SIGTERM reaches every process of the job: the same holds
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
    import cv2

    from fervid.inference.images import set_up_pillow_for_fervid

    set_up_pillow_for_fervid()  # a worker process is fervid's, as the CLI's is
    # a typed model's folder not used is said once, by the driver's command line (not once more by each worker)
    warnings.simplefilter("ignore", ModelFolderNotUsed)
    end_with_parent()
    os.environ["OMP_NUM_THREADS"] = str(threads)  # yuface's OpenMP: the worker's share (within the user's own)
    cv2.setNumThreads(threads)
    _worker["analyzer"] = options.pipeline.analyzer(threads=threads)
    _worker["options"] = options
    _worker["board"] = board
    _worker["slot"] = board.claim() if board is not None else None


def analyse_one(task: tuple[str, str, str]) -> dict:
    """Analyse one file into ``<out>/files/<key>/`` (atomically); never raises. Status ``done`` or ``failed``, or
    ``interrupted`` when the driver asked the workers to stop mid-file (nothing kept)."""
    path, key, kind = task
    options: BatchOptions = _worker["options"]
    analyzer = _worker["analyzer"]
    board, slot = _worker.get("board"), _worker.get("slot")
    final = Path(options.out) / "files" / key
    tmp = _temporary_folder(Path(options.out) / "files", key, os.getpid())
    t0 = time.perf_counter()

    def stop() -> bool:
        if board is not None and board.stop.value:
            raise _Stopped
        return False

    def progress(done: int, total: int) -> None:
        if board is not None:
            board.report(slot, done, total)

    try:
        stop()  # a task handed over as the run was interrupted
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        note, window_notice, memory_notice = None, None, None
        if kind == "image":
            parts, partial = _analyse_image(analyzer, path, tmp, options.pipeline)
            # an animated GIF's or a multi-page TIFF's first frame alone, as `fervid image` says
            note = more_frames_notice(path).removeprefix(f"{path}: ") or None
        else:
            parts, partial, window_notice, memory_notice, notes = _analyse_video(
                analyzer, path, tmp, options, progress, stop, results_stem(path, options.out))
            note = "; ".join(notes) or None
        rows, tracks = _write_rows(tmp / "rows.parquet", parts)
        (tmp / "source.txt").write_text(path, encoding="utf-8")
        # a files/ that refuses the renames keeps the earlier results whole (removed first, their files went and
        # the folder stayed)
        replace_outputs([(tmp, final)], [final] if final.exists() else [])
        faces = len(tracks) if kind == "video" else rows
        # a video that broke mid-way is done (its rows are in the table) with its reason kept, as `fervid video`
        # keeps and reports it
        return {"path": path, "status": "done", "error": partial, "faces": faces, "rows": rows,
                "seconds": time.perf_counter() - t0, "made_with": runtime_versions(), "note": note,
                "window_notice": window_notice, "memory_notice": memory_notice}
    except _Stopped:
        shutil.rmtree(tmp, ignore_errors=True)
        return {"path": path, "status": "interrupted", "error": f"{path}: interrupted", "faces": 0, "rows": 0,
                "seconds": time.perf_counter() - t0}
    except Exception as exc:  # a bad file is recorded with its reason; the run goes on
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError) and _output_folders_fault(exc, options.out, path):  # not the file's: the run ends
            return {"path": path, "status": "cannot write", "errno": exc.errno, "error": exc.strerror or str(exc),
                    "where": _as_the_user_knows_it(exc.filename or tmp, tmp, final), "faces": 0, "rows": 0,
                    "seconds": time.perf_counter() - t0}
        message = failure_message(path, exc)
        return {"path": path, "status": "failed", "error": message, "faces": 0, "rows": 0,
                "seconds": time.perf_counter() - t0}
    finally:
        progress(0, 0)  # between files: the driver counts this one as finished, not as a share of its frames


def _temporary_folder(files: Path, key: str, pid: int) -> Path:
    """The folder in ``files`` a file's results are written into by the process ``pid``, renamed to ``key`` once
    whole."""
    return files / f".{key}.{pid}.tmp"


def _longest_result(out: Path, stem: str) -> Path:
    """The longest path a file's results under ``out`` take as they are written, its video's outputs named ``stem``:
    in its temporary folder (a key of its hex digits and "-video", a process id of 10 digits: Windows' are 32-bit),
    a key frame's (:attr:`OutputNames.longest`). An image's results are named shorter than a video's of any stem."""
    return _temporary_folder(out / "files", f"{'f' * KEY_HEX_DIGITS}-video", 2**32 - 1) / OutputNames(stem).longest


def results_stem(path: str, out: Path) -> str:
    """The stem of a video's outputs in its results folder under ``out``: its file's, as ``fervid video`` names them
    (:func:`fervid.inference.images.fitted_stem`), and where Windows limits paths
    (:func:`fervid.machine.long_paths_limited`) no longer than lets them fit as they are written, cut as fitted_stem
    cuts one (ended by a digest of the whole). Its results folder is its alone: no other video's outputs there are
    named apart from it; its path is in their tracks JSON, ``source.txt`` and files.csv."""
    most = NAME_MAX - OUTPUT_SUFFIX_BYTES
    if long_paths_limited():  # (run_batch refused an out with no room for SHORTEST_STEM)
        most = min(most, WINDOWS_MAX_PATH - windows_path_length(_longest_result(out, "")))
    return fitted_stem(Path(path).stem, most)


def check_results_paths(out: Path) -> None:
    """Refuse, where Windows limits paths, an ``out`` too long for a file's results to fit under it as they are
    written, their video's stem cut to :data:`SHORTEST_STEM` characters (:func:`results_stem`): raises
    :class:`fervid.errors.PathTooLongError` before anything is analysed."""
    if not long_paths_limited():
        return
    longest = _longest_result(out, "x" * SHORTEST_STEM)
    error = path_too_long(out, os.path.relpath(longest, out), os.path.join("files", "<key>", ""),
                          f"a key frame's temporary file in a video's temporary results folder, its name cut to "
                          f"{SHORTEST_STEM} characters", "--out")
    if error is not None:
        raise error


def _as_the_user_knows_it(where, tmp: Path, final: Path) -> str:
    """Where a worker's write failed, as its user knows the output folder: the file's hidden temporary folder
    (``files/.<key>.<pid>.tmp``, made and renamed in ``files/``) as ``files/``, a file in it as the one in
    ``files/<key>/`` it becomes."""
    failed = Path(os.fsdecode(where))
    if failed == tmp:
        return str(tmp.parent)
    return str(final / failed.relative_to(tmp)) if failed.is_relative_to(tmp) else str(failed)


def _write_rows(path: Path, parts) -> tuple[int, set[int]]:
    """Write Arrow tables of ``DATASET_COLUMNS`` to ``path`` one at a time; returns the rows written and the tracks
    seen. A table with no rows keeps its column types."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    rows, tracks = 0, set()
    with naming_file(path), open_parquet(path, "wb") as fh, \
            pq.ParquetWriter(fh, table_schema(DATASET_COLUMNS)) as writer:
        for part in parts:
            writer.write_table(part)
            rows += part.num_rows
            tracks.update(pc.unique(part["track"]).to_pylist())
    return rows, tracks


def _analyse_image(analyzer, path: str, out: Path, pipeline: PipelineOptions) -> tuple[list, None]:
    import pyarrow as pa

    from fervid.inference.annotate import annotate, write_image
    from fervid.inference.images import enlarged_to_annotate, load_image

    img = load_image(path, max_pixels=pipeline.max_image_pixels)
    result = analyzer.analyze_bgr(img, source=path)
    # as `fervid image --json` writes it (the API's ImagesOut)
    doc = images_document([result], analyzer.settings, landmarks=pipeline.landmarks)
    write_json(out / "result.json", doc)
    if pipeline.annotate:
        write_image(out / "annotated.png", annotate(*enlarged_to_annotate(img, result.faces)))
    # the dataset's rows: an image is a video of one frame, each face its own track (numbered from 1, as a video's)
    rows = [face.row(file=path, kind="image", track=number, time=0.0, frame=0)
            for number, face in enumerate(result, start=1)]
    return [pa.Table.from_pylist(rows, schema=table_schema(DATASET_COLUMNS))], None


def _analyse_video(analyzer, path: str, out: Path, options: BatchOptions, progress=None, stop=None, stem: str = ""):
    """The video's rows, as Arrow tables of at most ``ROW_GROUP_ROWS`` read from the frames table streamed to
    ``out`` while analysing (a 45-min video's whole table, read back into Python dicts, took 1 GB), why they
    stop short where it broke mid-way (None: it did not), what its window leaves the temporal method at the rate
    analysed, where that is not what the method is for (``VideoResult.window_notice_in``; None otherwise), that its
    frames were analysed at fewer a second than asked, as the memory for their windows allows (--frames-memory-mb:
    ``VideoResult.analysed_fps_cap``; None where they were not), and the notices `fervid video` prints of it that
    files.csv's ``note`` carries (:data:`NOTE_NOTICES`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from fervid.inference.video import VideoAnalyzer

    result = VideoAnalyzer(analyzer, options.video(), naming="flags").run(path, out, progress=progress, stop=stop,
                                                                          stem=stem)
    # (analysed into a folder, the rows were streamed there; the in-memory table is for a result without one)
    if result.table_path is not None:
        frames = None
        with open_parquet(result.table_path) as fh:
            found = pq.read_metadata(fh).num_rows
    else:
        frames = pa.Table.from_pandas(result.frame_table(), preserve_index=False)
        found = frames.num_rows
    streamed = frames is None
    if result.error and not found:
        raise ValueError(result.error)
    schema = table_schema(DATASET_COLUMNS)

    def parts():
        with open_parquet(result.table_path) if streamed else contextlib.nullcontext() as fh, \
                pq.ParquetFile(fh) if streamed else contextlib.nullcontext() as reader:
            batches = reader.iter_batches(batch_size=ROW_GROUP_ROWS) if streamed else frames.to_batches(ROW_GROUP_ROWS)
            for batch in batches:
                n = batch.num_rows
                leading = {"file": pa.repeat(pa.scalar(recorded_name(path), pa.string()), n),
                           "kind": pa.repeat(pa.scalar("video", pa.string()), n)}
                columns = [leading[name] if name in leading else batch.column(name) for name in DATASET_COLUMNS]
                yield pa.Table.from_arrays(columns, names=DATASET_COLUMNS).cast(schema)

    memory_notice = None
    if result.analysed_fps_cap:  # as `fervid video` says it, with where batch notes every other video so capped
        memory_notice = (f"{path}'s {result.width}x{result.height} frames come faster than the frames its analysis "
                         "may hold for their temporal windows allow (--frames-memory-mb "
                         f"{options.frames_memory_mb:g}): at most {result.analysed_fps_cap:g} frames a second were "
                         "analysed, the others left out (analysed_fps_cap in its tracks JSON; files.csv's note says "
                         "so of each video so analysed); a higher --frames-memory-mb analyses more")
    notices = video_notices(result, recorded_name(path), out, getattr(analyzer, "detector", None))
    return parts(), result.error, notices.get("window"), memory_notice, [notices[kind] for kind in NOTE_NOTICES
                                                                         if kind in notices]


def _ray_analyse(task: tuple[str, str, str], options: BatchOptions, threads: int) -> dict:
    """A Ray task: the models are loaded once per Ray worker process and reused by later tasks."""
    if "analyzer" not in _worker:
        _init_worker(threads, options)
    return analyse_one(task)


def _run_ray(todo, options: BatchOptions, threads: int, record) -> None:
    """Ray tasks, one CPU each, retried up to twice if a worker process dies; a task that still fails is recorded
    as that file's failure and the job goes on. Outputs go to ``options.out``, which must be a path every node
    sees (a shared filesystem) when the cluster has several machines."""
    # Ray reports usage to usage-stats.ray.io by default, and a local cluster's processes probe the cloud metadata
    # addresses (169.254.169.254, metadata.google.internal) for that report: seen with strace from `fervid batch
    # --engine ray`, whose README promises no connection but the cluster's. Off unless the user set it; read by the
    # cluster ray.init starts here (a cluster at --address keeps its own setting)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    # (a level's name, as ray's own default "info" is: its annotation says int)
    ray.init(address=options.ray_address, ignore_reinit_error=True, include_dashboard=False, log_to_driver=False,
             logging_level="ERROR")  # type: ignore[arg-type]
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
    check_results_paths(out)  # where Windows limits paths: before any folder is made
    # made on its own first: a file in the way of it is said so, as `fervid video` says it ("out/files: Not a
    # directory" named a folder that was never there)
    out.mkdir(parents=True, exist_ok=True)
    (out / "files").mkdir(exist_ok=True)
    with output_lock(out):
        return _run_locked(inputs, options, out, progress)


def _run_local(todo: list[tuple[str, str, str]], options: BatchOptions, workers: int, threads: int, record,
               analyse=None, progress=None) -> None:
    """Worker processes, each loading the models once, with at most one task per worker in flight. A worker that
    dies (killed, out of memory, a crash inside a native library) breaks the pool, and every task it had in flight
    fails with it: those are run again one at a time, so the file that kills a worker alone is recorded as failed
    and the others are analysed; the rest go on in a fresh pool. (A multiprocessing.Pool waited for ever.)

    ``progress(shares, paths)``, every ``PROGRESS_SECONDS``: the share of its frames each video in hand has read, by
    its path, and the files in hand. A KeyboardInterrupt (Ctrl-C, SIGINT to this process alone) stops the workers
    (:func:`_stop_pool`) and is raised again as :class:`BatchInterrupted` naming the files a worker had started; a
    :class:`CannotWriteOutputs` from ``record`` stops them alike, and is raised again with those files."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    analyse = analyse or analyse_one  # (a module-level function: workers are fresh interpreters)
    ctx = mp.get_context("spawn")  # fresh interpreters: no forked ONNX Runtime / OpenMP state
    waiting = list(todo)
    suspects: list[tuple] = []
    while waiting or suspects:
        alone = bool(suspects)  # after a crash: the tasks it took down, each in a pool of its own
        # no more workers than files: each loads the models (--workers 8 on one file started 8)
        queue, size = ([suspects.pop(0)], 1) if alone else (waiting, min(workers, len(waiting)))
        in_flight: dict = {}
        numbers: dict = {}  # future -> the task's number on the board
        # a fresh one per pool: a killed worker's slot is not read again
        board = WorkerBoard(ctx, size, tasks=len(queue))
        others = {child.pid for child in mp.active_children()}  # not this pool's workers
        with ProcessPoolExecutor(size, mp_context=ctx, initializer=_init_worker,
                                 initargs=(threads, options, board)) as pool:
            try:
                while queue or in_flight:
                    # the pool's first tasks start its workers
                    with _stop_signals_ignored() if not numbers else contextlib.nullcontext():
                        while queue and len(in_flight) < size:
                            task = queue.pop(0)
                            future = pool.submit(_begin, analyse, len(numbers), task)
                            numbers[future] = len(numbers)
                            in_flight[future] = task
                    # a timeout, not a wait for the next file: the bar moves (and its clock runs) within a video
                    done, _ = wait(in_flight, timeout=PROGRESS_SECONDS, return_when=FIRST_COMPLETED)
                    broken = []
                    for future in done:
                        task = in_flight.pop(future)
                        try:
                            record(future.result())
                        except BrokenProcessPool:
                            broken.append(task)
                    if progress is not None:
                        in_hand = {numbers[future]: task[0] for future, task in in_flight.items()}
                        progress({in_hand[n]: share for n, share in board.fractions().items() if n in in_hand},
                                 list(in_hand.values()))
                    if broken:
                        broken += list(in_flight.values())  # they die with the pool too
                        if alone:
                            path = broken[0][0]
                            record({"path": path, "status": "failed", "error": f"{path}: the worker process "
                                    "analysing it died (killed, out of memory, or a crash in a native library)",
                                    "faces": 0, "rows": 0, "seconds": 0.0})
                        else:
                            suspects.extend(broken)
                        break
            except (KeyboardInterrupt, CannotWriteOutputs) as stopped:
                # leaving the block as it was waited for every worker to finish its file, silently, and threw the
                # finished results away (they were never recorded)
                lost = _stop_pool(board, in_flight, record, others, numbers)
                if isinstance(stopped, CannotWriteOutputs):
                    stopped.in_progress = lost
                    raise
                raise BatchInterrupted(lost) from None


@contextlib.contextmanager
def _stop_signals_ignored():
    """SIGINT and SIGTERM ignored by this process while it starts its workers, which inherit them ignored: a Ctrl-C
    while a worker still imported its libraries printed its 40-line traceback (:func:`_init_worker` ignores them
    only once they are imported; the driver decides, and tells the workers). On Windows a signal ignored is not
    passed on to a process started (CreateProcess), and the workers share the console, whose Ctrl-C reaches them
    all: there the console's Ctrl-C is ignored too (:func:`_console_ctrl_c_ignored`), which they inherit. Restored
    as soon as they are started: a signal in those milliseconds is lost."""
    import threading

    if threading.current_thread() is not threading.main_thread():  # (only the main thread sets handlers)
        yield
        return
    previous = {number: signal.signal(number, signal.SIG_IGN) for number in (signal.SIGINT, signal.SIGTERM)}
    console_ignored = _console_ctrl_c_ignored(True)
    try:
        yield
    finally:
        if console_ignored:
            _console_ctrl_c_ignored(False)
        for number, handler in previous.items():  # (None: a handler set outside Python, which cannot be put back)
            signal.signal(number, signal.SIG_DFL if handler is None else handler)


def _console_ctrl_c_ignored(ignored: bool) -> bool:
    """On Windows, has this process ignore its console's Ctrl-C (``ignored``), or take it again: Windows'
    SetConsoleCtrlHandler(NULL, TRUE), whose ignoring the processes it starts inherit. Whether it was set: False
    where it failed (no console), and on Linux and macOS, where the signal ignored is inherited."""
    if sys.platform != "win32":
        return False
    import ctypes

    return bool(ctypes.windll.kernel32.SetConsoleCtrlHandler(None, ignored))


def _stop_pool(board: WorkerBoard, in_flight: dict, record, others: set[int | None], numbers: dict | None = None
               ) -> list[str]:
    """After an interrupt: no new task starts, the workers stop at their next frame (the board's flag), a result
    that finished meanwhile is recorded, and the pool's workers (this process's children not in ``others``) are
    terminated if one is still busy after ``STOP_GRACE_SECONDS`` (or at a second Ctrl-C). Returns the files that
    were in hand and are not finished (their partial work is lost); a task no worker had started (``numbers``: each
    future's task number on the board), handed to a worker still loading its models, is not among them."""
    import multiprocessing as mp
    from concurrent.futures import wait

    # (no task waits to be handed out: at most one per worker is submitted; one handed to a worker still loading its
    # models stops at once when it starts. The pool's block then waits for the workers to end.)
    board.stop.value = 1
    try:
        wait(in_flight, timeout=STOP_GRACE_SECONDS)
    except KeyboardInterrupt:  # asked again: no more waiting
        pass
    lost = []
    for future, task in in_flight.items():
        result = None
        if future.done() and not future.cancelled() and future.exception() is None:
            result = future.result()
        if result is not None and result["status"] in ("done", "failed"):
            record(result)
        elif numbers is None or board.begun[numbers[future]]:  # stopped mid-file, killed, or still busy
            lost.append(task[0])
    if not all(future.done() for future in in_flight):
        # only then: a worker ended while it sends a result could leave the pool's result pipe half-written
        for child in mp.active_children():  # this process's own children: a pid alone could have been reused
            if child.pid not in others:
                child.kill()  # (terminate's SIGTERM is ignored by the workers: the driver decides)
    return lost


def estimate_batch(inputs: list[str], options: BatchOptions, sample_seconds: float = 20.0,
                   sample_videos: int = 3, sample_images: int = 10, analyzer=None) -> dict:
    """How long ``fervid batch`` would take on ``inputs`` with ``options``' settings, on this machine, with one
    worker (:func:`estimate_files`; ``analyzer``: the :class:`fervid.Analyzer` of ``options.pipeline`` where the
    caller has one, its models loaded, else loaded here), and the inputs it could not read (``problems``). A copy
    of a file is analysed once by a run (BatchState.add: one output folder for all its copies): it is counted once,
    and said in ``copies``."""
    found_files, problems = collect_inputs(inputs)
    files, copies = _without_copies(found_files)
    is_video = [input_kind(p) == "video" for p in files]
    # (the analyzer's temporal LSTM is loaded once too: it keeps it for every VideoAnalyzer of its own)
    runner = VideoAnalyzer(analyzer or options.pipeline.analyzer(), options.video(), naming="flags")
    found = estimate_files([p for p, video in zip(files, is_video) if video],
                           [p for p, video in zip(files, is_video) if not video], runner, options.pipeline,
                           sample_seconds=sample_seconds, sample_videos=sample_videos, sample_images=sample_images)
    return found | {"copies": [f"{copy}: the same file as {first}, analysed once" for copy, first in copies],
                    "problems": [{"file": item, "error": f"{item}: {why}"} for item, why in problems]
                                + found["problems"]}


# how far off an estimate may be, either way, as its text says ("off by a fifth or more"): its range
ESTIMATE_SPREAD = 0.2


def estimate_files(videos: list[Path], images: list[Path], runner: VideoAnalyzer, pipeline: PipelineOptions,
                   sample_seconds: float = 20.0, sample_videos: int = 3, sample_images: int = 10) -> dict:
    """How long analysing ``videos`` with ``runner`` (the video pipeline, its analyzer and video options: the
    caller's, its models loaded once) and ``images`` with ``pipeline``'s settings would take on this machine, one at
    a time (`fervid batch` with one worker, `fervid video`), and the disk the videos' outputs would take, found by
    analysing samples (written to a temporary folder only): ``sample_seconds`` of up to ``sample_videos`` videos
    spread over their frame sizes (the size sets the cost of decoding, detecting and encoding), in stretches spread
    through each (:func:`sample_stretches`), and up to ``sample_images`` images. Each video's time is the stretch of it analysed (its length,
    from its container, within ``options``' start and end) at the rate of the sample nearest in size (its frames
    past the first second), plus that sample's cost of starting and finishing a video (``seconds_per_video``: the
    first frames, the outputs written at the end); an image's is the samples' mean, less the first one's warm-up.
    An overnight run of a corpus used to be timed only once it ran. A video the run would fail before analysing it
    (a start at or past its end; a sample's region outside its frames) is said in ``problems`` (``file`` and the
    ``error`` line the run says, naming it), and not estimated.

    Returns one dict, which `--estimate`'s text and its ``--json`` are both made from: ``files``, ``videos``,
    ``images``, ``video_seconds`` (the files' lengths), ``analysed_seconds`` (from start to end),
    ``unknown_length``, ``samples``, ``seconds_per_image``, ``estimated_seconds`` and
    ``estimated_seconds_range`` (:data:`ESTIMATE_SPREAD` either way), ``disk_bytes`` (by kind, and ``total``),
    ``cpu`` (this machine's, which the time is of), ``no_face_in_samples`` (no video's sample showed a face: its
    disk and time may be far off), ``sampling`` (:func:`sampling_load`: the CPU time the samples got, and whether
    the machine was busy) and ``problems``."""
    import tempfile

    from fervid.inference.video import VideoError, container_facts
    from fervid.machine import cpu_model

    analyzer, options = runner.analyzer, runner.options
    facts = {v: container_facts(v) for v in videos}
    # a start at or past a video's end fails the run before it analyses it (VideoAnalyzer's _check_within): said
    # here as the run says it, the video not estimated; a region outside a sample's frames is said as it is met
    problems = [{"file": str(video),
                 "error": f"{video}: start {options.start:g} s is at or past its end ({facts[video].seconds:.2f} s)"}
                for video in videos if options.start and (facts[video].seconds or math.inf) <= options.start]
    videos = [video for video in videos if not options.start or (facts[video].seconds or math.inf) > options.start]
    known = sorted((v for v in videos if facts[v].seconds), key=lambda v: facts[v].width * facts[v].height)
    picks = known if len(known) <= sample_videos else list(dict.fromkeys(
        known[round(i * (len(known) - 1) / (sample_videos - 1))] for i in range(sample_videos)))
    samples: list[dict[str, Any]] = []
    failed: list[Path] = []  # samples the run would fail
    cpu_before, wall_before = sampling_cpu_seconds(), time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fervid-estimate-") as tmp:
        for n, video in enumerate(picks):
            length = facts[video].seconds or 0.0
            stretches = sample_stretches(options.start, length if options.end is None else min(length, options.end),
                                         sample_seconds)
            try:
                sample = _time_stretches(runner, video, stretches, facts[video].fps or 30.0, Path(tmp) / f"v{n}")
            except VideoError as exc:  # (a region outside its frames): the run would fail it so; not estimated
                problems.append({"file": str(video), "error": str(exc)})
                failed.append(video)
                continue
            if sample is not None:
                samples.append({"file": str(video), "width": facts[video].width, "height": facts[video].height,
                                **sample})
        videos, known = [v for v in videos if v not in failed], [v for v in known if v not in failed]
        timed = images[:: max(1, math.ceil(len(images) / sample_images))][:sample_images]
        image_seconds = []
        for n, image in enumerate(timed):
            started = time.perf_counter()
            try:
                _analyse_image(analyzer, str(image), _fresh(Path(tmp) / f"i{n}"), pipeline)
            except Exception:  # a bad file is batch's to report; it is not timed
                continue
            image_seconds.append(time.perf_counter() - started)
        # the first image's time holds the models' first run where no video ran before it: left out where there are
        # others (it made an image's time twice what a run took)
        steady_images = image_seconds[1:] or image_seconds
        per_image = sum(steady_images) / len(steady_images) if steady_images else None

    def analysed_length(video: Path) -> float:
        # the stretch from --start to --end a run analyses (a minute of an hour's recording took the hour's time)
        length = facts[video].seconds or 0.0
        return max(0.0, min(length, length if options.end is None else options.end) - options.start)

    def seconds_for(video: Path) -> float:
        pixels = facts[video].width * facts[video].height
        nearest = min(samples, key=lambda s: abs(s["width"] * s["height"] - pixels))
        return nearest["seconds_per_video"] + analysed_length(video) / nearest["real_time"]

    def disk_for(video: Path) -> dict[str, float]:
        pixels = facts[video].width * facts[video].height
        nearest = min(samples, key=lambda s: abs(s["width"] * s["height"] - pixels))
        seconds = analysed_length(video)
        return {kind: nearest["bytes_per_video"][kind] + nearest["bytes_per_second"][kind] * seconds
                for kind in DISK_KINDS} | {"key_frames_count": nearest["key_frames_per_video"]
                                           + nearest["key_frames_per_second"] * seconds}

    unknown = [str(v) for v in videos if not facts[v].seconds or not samples]
    video_time = sum(seconds_for(v) for v in known) if samples else 0.0
    disk = {kind: 0.0 for kind in (*DISK_KINDS, "key_frames_count")}
    for video in known if samples else []:
        for kind, size in disk_for(video).items():
            disk[kind] += size
    estimated = video_time + (per_image or 0.0) * len(images)
    cpu_after = sampling_cpu_seconds()
    sampling = sampling_load(cpu_after - cpu_before if cpu_after is not None and cpu_before is not None else None,
                             time.perf_counter() - wall_before, estimated)
    disk_bytes = {kind: round(size) for kind, size in disk.items()}
    disk_bytes["total"] = sum(disk_bytes[kind] for kind in DISK_KINDS)
    return {"files": len(videos) + len(images), "videos": len(videos), "images": len(images),
            "video_seconds": round(sum(facts[v].seconds or 0.0 for v in known), 1),
            "analysed_seconds": round(sum(analysed_length(v) for v in known), 1), "unknown_length": unknown,
            "samples": samples, "seconds_per_image": None if per_image is None else round(per_image, 3),
            "estimated_seconds": round(estimated, 1),
            # (outward to the tenth: rounded each, a range of 0.449 s's was [0.4, 0.5] around an estimate of 0.4)
            "estimated_seconds_range": [math.floor(estimated * (1 - ESTIMATE_SPREAD) * 10) / 10,
                                        math.ceil(estimated * (1 + ESTIMATE_SPREAD) * 10) / 10],
            "disk_bytes": disk_bytes, "cpu": cpu_model(),
            # every video sampled showed no face: a face's frames cost the CNN and make the key frames
            "no_face_in_samples": bool(samples) and not any(sample["face_tracks"] for sample in samples),
            "sampling": sampling, "problems": problems}


# A video longer than its sample is sampled in stretches spread through it: a recording that opens on an empty chair
# (90 s of black, then a face) was sampled in its first 20 s alone, and its key frames and disk estimated at 0.
# Each stretch is at least MIN_STRETCH_SECONDS long (its first second is its warm-up, left out of the rate).
SAMPLE_STRETCHES = 3
MIN_STRETCH_SECONDS = 2.0


def sample_stretches(start: float, end: float, sample_seconds: float) -> list[tuple[float, float]]:
    """The stretches (start, end; seconds of the recording) a video analysed from ``start`` to ``end`` is sampled in
    for an estimate, ``sample_seconds`` in all: the whole of it where it is no longer; else up to
    :data:`SAMPLE_STRETCHES` of equal length, each centred in its share of the video (of an hour's recording, at
    10, 30 and 50 min), sought rather than decoded up to; one from ``start`` where the sample is too short to
    split."""
    length = end - start
    if length <= sample_seconds:
        return [(start, end)]
    count = max(1, min(SAMPLE_STRETCHES, int(sample_seconds // MIN_STRETCH_SECONDS)))
    if count == 1:
        return [(start, start + sample_seconds)]
    each = sample_seconds / count
    starts = [start + (i + 0.5) * length / count - each / 2 for i in range(count)]
    return [(round(first, 3), round(first + each, 3)) for first in starts]


def _time_stretches(runner: VideoAnalyzer, video: Path, stretches: list[tuple[float, float]], fps: float,
                    folder: Path) -> dict[str, Any] | None:
    """A video's sample for :func:`estimate_files`: each of ``stretches`` analysed with ``runner``'s settings into
    its own folder under ``folder`` (outputs thrown away), and what they took together: ``seconds_analysed``,
    ``stretches`` (the seconds each analysed), ``face_tracks`` (the tracks they found: 0, no face seen),
    ``real_time`` (the frames past each stretch's warm-up), ``seconds_per_video`` (the first stretch's cost of
    starting and finishing, as a video's) and the disk (:func:`_sample_disk`). None where no stretch analysed a
    frame. A :class:`~fervid.inference.video.VideoError` (a region outside its frames) is raised."""
    # (frames: what progress counts; a raw DV's container gives its length, not a rate to time it by)
    # frames read, and the clock, at the first frame past the warm-up and at the latest: the first frames (the
    # models' first runs, the encoder's start, a seek's decoding from the key frame before it) and the writing at the
    # end (timelines, key frames, the tracks JSON) cost the same once per video whatever its length, and timed with
    # the frames they made a 20 s sample's rate half what a whole video ran at
    warm_up = max(2, round(fps))
    steady_frames, steady_seconds, analysed, walls, folders = 0, 0.0, [], [], []
    face_tracks = 0
    joined: set[Path] = set()  # key frames of episodes a stretch's start cut into, not begun in it
    for number, (first, last) in enumerate(stretches):
        limit = math.ceil((last - first) * fps)
        steady: dict[str, tuple[int, float]] = {}

        def progress(done: int, total: int, steady=steady) -> None:
            if done == warm_up:
                steady["from"] = (done, time.perf_counter())
            steady["to"] = (done, time.perf_counter())

        def stop(steady=steady, limit=limit) -> bool:
            return "to" in steady and steady["to"][0] >= limit

        stretch_runner = runner
        if first != runner.options.start:
            stretch_runner = VideoAnalyzer(runner.analyzer, dataclasses.replace(runner.options, start=first),
                                           temporal=runner.temporal)
            # (a run's annotated MP4 holds its first frame from the recording's start: a stretch's would encode
            # the minutes before it, not what the run writes)
            stretch_runner.annotated_lead_in = False
        started = time.perf_counter()
        # (outputs thrown away, named short: a long video name's passed Windows' 259 characters in its TEMP)
        # (stop is asked before progress is told of a frame: the stretch is its first `limit` frames; it ends
        # there, not cancelled, its outputs under their own names for _sample_disk)
        result = stretch_runner.run(video, folder / str(number), progress=progress,
                                    stop=stop, stop_is_end=True, stem="sample")
        if result.analysed_seconds <= 0:
            continue
        walls.append(time.perf_counter() - started)
        analysed.append((first, result.analysed_seconds))
        folders.append(folder / str(number))
        face_tracks += len(result.track_ids)
        if first != runner.options.start:
            # a face seen as a stretch starts is a new track, its first episode with a key frame of its own: an
            # episode the run began before, not one begun in the stretch (of a face seen throughout, each stretch
            # made one: 3 key frames in 20 s where the whole minute had 1)
            cut_in = first + runner.options.detect_every + 2.0 / fps
            joined |= {folder / str(number) / ep.key_frame for ep in result.episodes
                       if ep.key_frame and ep.start < cut_in}
        if "from" in steady:  # (progress(k) is called as frame k is read: from one to the other, frames analysed)
            steady_frames += steady["to"][0] - steady["from"][0]
            steady_seconds += steady["to"][1] - steady["from"][1]
    if not analysed:
        return None
    seconds = sum(length for _, length in analysed)
    # too short to leave the warm-up out: timed whole
    real_time = (steady_frames / fps / steady_seconds if steady_frames > 0 and steady_seconds > 0
                 else seconds / sum(walls))
    return {"seconds_analysed": round(seconds, 1),
            "stretches": [[round(first, 2), round(first + length, 2)] for first, length in analysed],
            "face_tracks": face_tracks, "real_time": round(real_time, 2),
            "seconds_per_video": round(max(0.0, walls[0] - analysed[0][1] / real_time), 2),
            **_sample_disk(folders, seconds, joined)}


def sampling_cpu_seconds() -> float | None:
    """The CPU time this process and its ended child processes (ffmpeg, which decodes the videos and encodes the
    annotated MP4s) have had, or None where the children's is not known (Windows: ``os.times`` gives 0 for it)."""
    if sys.platform == "win32":
        return None
    times = os.times()
    return time.process_time() + times.children_user + times.children_system


# A sample that got less than this share of one core's time (its CPU time over its wall time) was slowed by other
# work on the machine: the analysis keeps a core busy (decoding, detecting and classifying one frame after another,
# ffmpeg beside it), so alone it gets a core or more. Two estimates on a busy machine differed 1.9x (7.66 s of CPU in
# a 13.42 s sample: 57%).
BUSY_CORE_SHARE = 0.8


def sampling_load(cpu_seconds: float | None, wall_seconds: float, estimated_seconds: float) -> dict[str, Any]:
    """How much of the machine an estimate's samples got (``cpu_seconds`` of CPU in ``wall_seconds``; None: not
    known), as the estimate says it: ``cpu_seconds``, ``wall_seconds``, ``core_share`` (the CPU time over the wall
    time: 1.0 is one core's), ``busy`` (under :data:`BUSY_CORE_SHARE`: other work slowed the sample, and the
    estimate with it) and, where busy, ``idle_estimated_seconds``: ``estimated_seconds`` at a core's time."""
    share = cpu_seconds / wall_seconds if cpu_seconds is not None and wall_seconds > 0 else None
    busy = share is not None and share < BUSY_CORE_SHARE
    return {"cpu_seconds": None if cpu_seconds is None else round(cpu_seconds, 2),
            "wall_seconds": round(wall_seconds, 2), "core_share": None if share is None else round(share, 2),
            "busy": busy, "idle_estimated_seconds": round(estimated_seconds * share, 1) if busy and share else None}


def _without_copies(files: list[Path]) -> tuple[list[Path], list[tuple[Path, Path]]]:
    """``files`` without those of the same content and kind as an earlier one, as a run finds them (by
    :func:`file_sha256`: BatchState.add), and the ones left out, each with the first of its content. Only files
    of a size another has are read to hash (a corpus's distinct videos are not read whole for an estimate)."""
    kinds = [input_kind(p) for p in files]
    sizes = [p.stat().st_size if p.is_file() else -1 for p in files]
    shared = {key for key, n in Counter(zip(sizes, kinds)).items() if n > 1 and key[0] >= 0}
    first_of: dict[tuple[str, str], Path] = {}
    kept, copies = [], []
    for path, kind, size in zip(files, kinds, sizes):
        if (size, kind) in shared:
            try:
                digest = file_sha256(path)
            except OSError:  # unreadable: the run's to report, as the samples' are
                kept.append(path)
                continue
            first = first_of.setdefault((digest, kind), path)
            if first != path:
                copies.append((path, first))
                continue
        kept.append(path)
    return kept, copies


# The videos' outputs an estimate sizes, as their sample wrote them: the annotated MP4, the key frames, the tables
# (frames CSV and Parquet, episodes and segments CSVs), and the rest (the tracks JSON, the timelines)
DISK_KINDS = ("annotated", "key_frames", "tables", "other")


def _sample_disk(folders: list[Path], seconds: float, joined: set[Path] | None = None) -> dict[str, Any]:
    """What a video's sample wrote into ``folders`` (one a stretch) for its ``seconds`` analysed, by kind
    (:data:`DISK_KINDS`): ``bytes_per_second`` of video of those that grow with its length (the annotated MP4 at its
    CRF, the key frames, one per emotion episode begun in it, the tables, a row per frame), ``bytes_per_video`` of
    those written once per video (the tracks JSON, the timelines, and the key frames ``joined``: those of the
    episodes a face seen as a stretch began was in, as a video's tracks begin; a stretch's mean), and
    ``key_frames_per_second`` and ``key_frames_per_video``.
    Measured, not guessed: a key frame's PNG, the MP4's bitrate and a row's bytes follow the video's frame size,
    faces and content."""
    sizes = dict.fromkeys(DISK_KINDS, 0)
    once = dict.fromkeys(DISK_KINDS, 0)
    key_frames = 0
    for path in (path for folder in folders if folder.is_dir() for path in folder.iterdir()):
        if not path.is_file() or path.name.startswith("."):  # (the outputs' lock)
            continue
        name = path.name  # (a sample stopped by its stop callback is whole: its outputs' own names)
        if name.endswith("_annotated.mp4"):
            kind = "annotated"
        elif name.endswith((".csv", ".parquet")):
            kind = "tables"
        elif name.endswith(".png") and not name.endswith("_timeline.png"):
            if joined and path in joined:
                once["key_frames"] += path.stat().st_size
                continue
            kind, key_frames = "key_frames", key_frames + 1
        else:
            kind = "other"
        sizes[kind] += path.stat().st_size
    per_second = {kind: (sizes[kind] / seconds if seconds > 0 and kind != "other" else 0.0) for kind in DISK_KINDS}
    once["other"] = sizes["other"]
    stretches = max(1, len(folders))
    return {"bytes_per_second": per_second, "bytes_per_video": {kind: once[kind] / stretches for kind in DISK_KINDS},
            "key_frames_per_second": key_frames / seconds if seconds > 0 else 0.0,
            "key_frames_per_video": len(joined or ()) / stretches}


def _fresh(folder: Path) -> Path:
    folder.mkdir(parents=True)
    return folder


def _work(path: str, kind: str) -> float:
    """How much of the bar a file is, in seconds of video (:data:`IMAGE_WORK`)."""
    from fervid.inference.images import utf8_name
    from fervid.inference.video import container_facts

    if kind != "video":
        return IMAGE_WORK
    seconds = None
    if utf8_name(path):  # (OpenCV ends the process on another name; the worker refuses it)
        with contextlib.suppress(Exception):  # a broken file is the worker's to report
            seconds = container_facts(path).seconds
    return VIDEO_START_AND_END_WORK + (seconds or UNKNOWN_LENGTH_WORK)


def kept_key_frames(tracks: dict, key_frames: int) -> set[str]:
    """The key frames (their names) a tracks JSON's video keeps under a cap of ``key_frames`` a track: each track's
    ``key_frames`` first of its episodes holding one, ranked as the cap ranks them when it is written
    (:func:`fervid.inference.video.key_frame_rank`: the longer episode first, then the more expressive, then the
    earlier). The JSON has no frame's own probability, which breaks a tie of durations there: the episode's
    ``peak_confidence`` stands in for it."""
    kept: set[str] = set()
    for track in tracks.get("tracks", []):
        framed = [ep for ep in track.get("episodes", []) if ep.get("key_frame")]
        framed.sort(key=lambda ep: (ep.get("duration") or 0.0, ep.get("peak_confidence") or -1.0,
                                    -(ep.get("start") or 0.0)), reverse=True)
        kept.update(ep["key_frame"] for ep in framed[:key_frames])
    return kept


def drop_face_pictures(folder: Path, annotate: bool, key_frames: int | None) -> tuple[int, int]:
    """A done file's face pictures that this run's settings no longer write, removed from its ``folder`` in
    ``files/``: the annotated copy (``annotated.png``, ``<stem>_annotated.mp4``) without ``annotate``, and the key
    frames beyond ``key_frames`` a track (all of them with 0; those :func:`kept_key_frames` keeps otherwise), whose
    tracks JSON and episodes CSV then say ``key_frame`` null and record the cap, as a ``fervid video`` re-run with
    that cap does (README "Privacy and data protection": numbers only). The numbers are kept: neither setting changes
    them (RESULT_SETTINGS). Returns how many annotated copies and key frames went."""
    import csv

    from fervid.inference.set_aside import unlink_retrying

    annotated_gone = key_frames_gone = 0
    if not annotate:
        for path in [folder / "annotated.png", *folder.glob("*_annotated.mp4")]:
            if path.is_file():
                unlink_retrying(path)
                annotated_gone += 1
    tracks = sorted(folder.glob("*_tracks.json"))
    if key_frames is None or len(tracks) != 1:  # (every key frame kept; an image has none)
        return annotated_gone, key_frames_gone
    names = OutputNames(OutputNames.stem_of(tracks[0].name) or "")
    doc = json.loads(tracks[0].read_text(encoding="utf-8"))
    kept = kept_key_frames(doc, key_frames) if key_frames else set()
    for path in sorted(folder.iterdir()):
        if names.is_key_frame(path.name) and path.name not in kept and path.is_file():
            unlink_retrying(path)
            key_frames_gone += 1
    if not key_frames_gone:
        return annotated_gone, key_frames_gone

    def without_key_frames(node):
        if isinstance(node, dict):
            return {k: None if k == "key_frame" and v not in kept else without_key_frames(v) for k, v in node.items()}
        if isinstance(node, list):
            return [without_key_frames(v) for v in node]
        return node

    doc = {**without_key_frames(doc), "key_frames": key_frames}  # the cap this folder's pictures now keep to
    with replacing(tracks[0]) as temporary:
        write_json(temporary, doc)
    episodes = folder / names.episodes_csv
    if episodes.is_file():
        with open(episodes, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            columns = next(reader, [])
            cells = list(reader)
        if "key_frame" in columns:
            at = columns.index("key_frame")
            for row in cells:
                if csv_text(row[at]) not in kept:  # (a name starting as a formula has its ' before it: write_csv)
                    row[at] = ""
            with replacing(episodes) as temporary, open(temporary, "w", newline="", encoding="utf-8") as fh:
                csv.writer(fh, lineterminator="\n").writerows([columns, *cells])
    return annotated_gone, key_frames_gone


def drop_landmarks(folder: Path) -> bool:
    """A done image's landmarks, left out of its ``result.json`` in ``folder`` (each face's null, the document's
    ``landmarks`` false), as a run with ``landmarks`` off writes it (``--no-landmarks``); whether there were any.
    A video's outputs have none."""
    result = folder / "result.json"
    if not result.is_file():
        return False
    doc = json.loads(result.read_text(encoding="utf-8"))
    if doc.get("landmarks") is False:
        return False
    for entry in doc.get("files", []):
        for face in entry.get("faces", []):
            face["landmarks"] = None
    with replacing(result) as temporary:
        write_json(temporary, {**doc, "landmarks": False})
    return True


def _run_locked(inputs: list[str], options: BatchOptions, out: Path, progress: bool) -> dict:
    from tqdm import tqdm

    from fervid.progress import one_line, progress_bar

    for stale in (out / "files").glob(".*.tmp"):  # half-written results of a killed run (we hold the lock)
        shutil.rmtree(stale, ignore_errors=True)
    # and the earlier results it had set aside to replace (files/ holds nothing but results, named by their keys)
    recover_set_aside(out / "files", lambda key: True)
    store = StateStore(out / STATE_FILE)
    renamed = store.claim_settings({**result_settings(options.pipeline), **options.video_settings},
                                   settings_as_recorded_before(options.pipeline))
    store.forget_gone()
    notices: list[str] = []
    if "model_weights_sha256" in renamed:  # scripts reading the old key would meet a KeyError after this run
        notices.append(f"{out}: made by an earlier fervid, its summary.json recorded model_weights_sha256 (16 hex "
                       "digits of model.onnx, whichever graph ran); from this run it records weights_file and "
                       "weights_sha256, the file that ran: read those instead")
    files, problems = collect_inputs(inputs, notices)
    for item, why in problems:
        store.db.execute("INSERT OR REPLACE INTO files (path, kind, status, error, updated) VALUES (?, 'unknown', 'failed', ?, ?)",
                         (item, f"{item}: {why}", time.time()))
    todo, paths_of = store.plan(files, out / "files", progress, notices)
    given = {os.path.abspath(p) for p in files}
    # (counted from the store: a file that could not be read is no more done than one to analyse)
    done_before = sum(r["status"] == "done" and r["location"] in given for r in store.rows())
    cap = options.pipeline.key_frames
    if not options.pipeline.annotate or cap is not None:
        # the files kept keep their numbers, not the face pictures this run's settings no longer write
        gone = [drop_face_pictures(out / "files" / r["key"], options.pipeline.annotate, cap)
                for r in store.rows() if r["status"] == "done"]
        annotated_gone, key_frames_gone = sum(a for a, _ in gone), sum(k for _, k in gone)
        if annotated_gone or key_frames_gone:
            removed = " and ".join(
                [f"{annotated_gone} annotated cop{'y' if annotated_gone == 1 else 'ies'}"] * bool(annotated_gone)
                + [f"{key_frames_gone} key frame{'' if key_frames_gone == 1 else 's'}"] * bool(key_frames_gone))
            writes = "none" if not cap else f"at most {cap} key frame{'' if cap == 1 else 's'} a track"
            notices.append(f"{out}: removed {removed} an earlier run wrote (this run writes {writes})")
    if not options.pipeline.landmarks:  # nor the landmarks this run leaves out
        stripped = sum(drop_landmarks(out / "files" / r["key"]) for r in store.rows() if r["status"] == "done")
        if stripped:
            notices.append(f"{out}: removed the landmarks of {stripped} image{'' if stripped == 1 else 's'} an "
                           "earlier run recorded (this run leaves them out)")
    if progress and done_before:  # a rerun goes on where the last stopped: said before the bar, not left to its total
        tqdm.write(f"fervid batch: {done_before} of {len(files)} file(s) already done in {out} are kept; "
                   f"{len(todo)} to analyse", file=sys.stderr)
    workers = options.workers
    if sys.platform == "win32" and options.engine == "local" and workers > WINDOWS_MOST_WORKERS:
        notices.append(f"--workers {workers}: Windows runs at most {WINDOWS_MOST_WORKERS} worker processes in one "
                       f"pool; {WINDOWS_MOST_WORKERS} ran")
        workers = WINDOWS_MOST_WORKERS
    threads = threads_per_worker(workers)  # of the CPUs this run may use (a Slurm job's), not the machine's
    started = time.perf_counter()
    faces, finished, work_done = 0, 0, 0.0
    # the files' work (_work), with a share of each video in hand by its frames read: a 45-min video moved the bar
    # once; the files done are counted beside it. miniters=0: redrawn by the clock alone (the bar's, for a terminal
    # or a log), however little a video moved it
    work = {path: _work(path, kind) for path, _, kind in todo} if progress else dict.fromkeys(paths_of, 1.0)
    bar = progress_bar(total=sum(work.values()), show=progress, desc=f"fervid batch 0/{len(todo)} files",
                       miniters=0, bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}{postfix}]")

    def show(shares=None, now=()) -> None:
        shares = shares or {}
        # never back (a worker drops its share as it hands in)
        bar.n = max(bar.n, work_done + sum(share * work[path] for path, share in shares.items()))
        names = [one_line(Path(path).name) for path in now]
        if len(names) == 1 and len(shares) == 1:
            names = [f"{names[0]} {next(iter(shares.values())):.0%}"]
        bar.set_description_str(f"fervid batch {finished}/{len(todo)} files", refresh=False)
        bar.set_postfix({"faces": faces, **({"now": ", ".join(names)} if names else {})}, refresh=False)
        bar.update(0)  # redrawn if its interval has passed: twice a second, it wrote a line a redraw into a log

    cannot_write: CannotWriteOutputs | None = None  # the first worker's that could not write: it ended the run
    memory_said = False  # a video's frames analysed at fewer a second for the memory, said once a run

    def record(res: dict) -> None:
        nonlocal faces, finished, work_done, cannot_write, memory_said
        if res["status"] == "cannot write":  # the output folder's fault, not the file's: it stays pending
            if cannot_write is None:  # (those that fail alike as the workers stop are not said again)
                cannot_write = CannotWriteOutputs(res["errno"], res["error"], res["where"], res["path"])
                raise cannot_write
            return
        for path in paths_of[res["path"]]:  # every path with this content shares the result
            error, note = (named_for_copy(text, res["path"], path) for text in (res["error"], res.get("note")))
            store.finish(path, res["status"], error, res["faces"], res["rows"], res["seconds"], res.get("made_with"),
                         note)
        faces += res["faces"]  # (a content's faces once, as the summary counts them)
        # frames analysed at fewer a second than asked, for the memory: once a run (files.csv notes each video)
        if res.get("memory_notice") and not memory_said:
            notices.append(res["memory_notice"])
            memory_said = True
        # a window too short for the method at a video's rate, as `fervid video` says it: once a run, not per file
        if res.get("window_notice") and res["window_notice"] not in notices:
            notices.append(res["window_notice"])
        finished += 1
        work_done += work[res["path"]]
        show()

    try:
        if todo and options.engine == "ray":
            _run_ray(todo, options, threads=1, record=record)
        elif todo:
            _run_local(todo, options, workers, threads, record, progress=show)
    except (KeyboardInterrupt, CannotWriteOutputs) as exc:
        # Ctrl-C, or a folder that takes no more: the table and summary show what is finished, not an earlier run's
        bar.close()
        in_progress = [path for task in getattr(exc, "in_progress", []) for path in paths_of.get(task, [task])]
        # this run's files still pending, as the store has them: counted from what the driver had seen recorded, an
        # interrupt between a file's store update and its count was one off
        remaining = sum(r["status"] == "pending" and r["location"] in given for r in store.rows())
        if isinstance(exc, KeyboardInterrupt):
            _write_summary(out, write_outputs(out, store))
            raise BatchInterrupted(in_progress, remaining) from None
        try:  # in the folder that just took no more: it may fail alike
            _write_summary(out, write_outputs(out, store))
            exc.ended(out, in_progress, remaining, None)
        except OSError as again:
            exc.ended(out, in_progress, remaining, f"{again.filename or out}: {again.strerror or again}")
        raise
    bar.close()
    try:
        summary = write_outputs(out, store, notices)
        # the folder's failures of files not given this time stay in its summary; this run answers for its own
        mine = {recorded_name(r["path"]) for r in store.rows() if r["kind"] == "unknown" or r["location"] in given}
        summary["this_run"] = {"files_analysed": len(todo), "seconds": round(time.perf_counter() - started, 2),
                               "workers": workers,
                               "notices": notices,
                               "failures": [f for f in summary["failures"] if f["file"] in mine],
                               "partial": [f for f in summary["partial"] if f["file"] in mine],
                               "no_faces": [f for f in summary["no_faces"] if f in mine]}
        _write_summary(out, summary)
    except DamagedResults:
        raise
    except OSError as exc:  # (a full disk at dataset.parquet said only that, of tables still the last run's)
        # (files.csv open in Excel, on Windows: its advice said in this sentence, not twice)
        reason = exc.reason if isinstance(exc, HeldOpenError) else exc.strerror or exc
        what_to_do = (f"{Path(exc.filename).name} {exc.advice}" if isinstance(exc, HeldOpenError)
                      else "Make room (or make the folder writable)")
        raise OSError(exc.errno, f"{reason}: the files analysed are kept in {out} (state.sqlite and "
                      "files/), but dataset.parquet, files.csv and the summary could not all be rewritten: those not "
                      f"rewritten are the last run's, and the next run rewrites them. {what_to_do} and run the same "
                      "command again: the files done are not analysed again", exc.filename or str(out)) from None
    return summary


def _write_summary(out: Path, summary: dict) -> None:
    with replacing(out / "summary.json") as temporary:
        write_json(temporary, summary)


def _current_schema(part):
    """A part written before the one face row (``label``, no confidence/uncertain/detection_score): migrated."""
    if "label" in part.columns and "emotion" not in part.columns:
        probs = part[list(EMOTIONS)].to_numpy()
        part = part.rename(columns={"label": "emotion"}).assign(
            confidence=probs.max(axis=1).round(4), uncertain=probs.max(axis=1) < 0.5, detection_score=np.nan)
    return part.reindex(columns=DATASET_COLUMNS)


def _parts(path: Path, name: str):
    """A done file's rows (its ``rows.parquet``) as Arrow tables of ``DATASET_COLUMNS`` of at most
    ``ROW_GROUP_ROWS`` rows, under the name the file has now (``name``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = table_schema(DATASET_COLUMNS)
    try:
        with open_parquet(path) as fh, pq.ParquetFile(fh) as reader:
            current = set(DATASET_COLUMNS) <= set(reader.schema_arrow.names)
            # one thread: a pool's start per file took 4/5 of the time of an image's one row (1.7 ms; a 400,000-row
            # video reads no slower)
            for batch in reader.iter_batches(batch_size=ROW_GROUP_ROWS, use_threads=False):
                if current:
                    table = pa.Table.from_batches([batch]).select(DATASET_COLUMNS)
                else:  # a part written before the one face row: migrated as before, a batch at a time
                    table = pa.Table.from_pandas(_current_schema(batch.to_pandas()), preserve_index=False)
                name_column = pa.repeat(pa.scalar(name, pa.string()), table.num_rows)
                yield table.set_column(0, "file", name_column).cast(schema)
    except (pa.ArrowInvalid, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:  # the system's (unreadable), naming the file
            raise
        # pyarrow's: damaged within, its closing bytes whole (results_damage), "Couldn't deserialize thrift". One
        # line naming it, not a traceback
        raise DamagedResults(errno.EIO, f"damaged ({exc}): delete its folder, {path.parent}, and run again to "
                             f"analyse {name} again", str(path)) from None


def _row_groups(parts, rows: int, pack: int = 256):
    """Tables of ``rows`` rows (the last one fewer) from a stream of tables of any size: each is written as one
    Parquet row group. Written as they came, an image's one row was a row group of its own: 500 images made 491
    groups (1.95 MB for 26 KB of rows, slow to read), and the writer kept each group's metadata in memory until it
    closed (~40 KB an image: 731 MB for 15,000 images). A small table held costs ~40 KB whatever its rows (its
    arrays' and buffers' own objects): every ``pack`` of them are copied into one while a group gathers."""
    import pyarrow as pa

    packed, loose, count = [], [], 0
    for part in parts:
        loose.append(part)
        count += part.num_rows
        if len(loose) >= pack:
            packed.append(pa.concat_tables(loose).combine_chunks())
            loose = []
        while count >= rows:
            table = pa.concat_tables(packed + loose)  # (chunks side by side: nothing is copied until written)
            yield table.slice(0, rows)
            packed, loose, count = [table.slice(rows)], [], count - rows
    if count:
        yield pa.concat_tables(packed + loose)


class _Counts:
    """Running counts of a stream of rows: rows, emotions (labels the model gives), tracks (a file's: the set of its
    track numbers). Merged counts of several files count their tracks (``n_tracks``): the numbers start at 1 in
    every file, so a union of the sets would count one track per number."""

    def __init__(self):
        self.rows, self.emotions, self.tracks = 0, dict.fromkeys(EMOTIONS, 0), set()
        self.probability_sum = dict.fromkeys(EMOTIONS, 0.0)  # over the rows: a tie of rows goes to the surer one
        self.uncertain_rows = 0  # rows flagged uncertain
        self.merged_tracks = 0  # the tracks of the files merged in

    @property
    def n_tracks(self) -> int:
        return len(self.tracks) + self.merged_tracks

    def add(self, table) -> None:
        import pyarrow.compute as pc

        self.rows += table.num_rows
        for item in pc.value_counts(table["emotion"]).to_pylist():
            if item["values"] in self.emotions:
                self.emotions[item["values"]] += item["counts"]
        for e in EMOTIONS:
            self.probability_sum[e] += pc.sum(table[e]).as_py() or 0.0
        self.uncertain_rows += pc.sum(table["uncertain"]).as_py() or 0  # (the count of true; none: None)
        self.tracks.update(pc.unique(table["track"]).to_pylist())

    def merge(self, other: _Counts) -> None:
        self.rows += other.rows
        self.merged_tracks += other.n_tracks
        self.uncertain_rows += other.uncertain_rows
        for e in EMOTIONS:
            self.emotions[e] += other.emotions[e]
            self.probability_sum[e] += other.probability_sum[e]

    def shares(self) -> dict:
        """Each emotion's share of the rows; None (null in summary.json) where there are none to share: a run of
        videos only has no image faces, and 0.0 for every emotion read as a measured absence."""
        labelled = sum(self.emotions.values())
        return {e: round(n / labelled, 4) if labelled else None for e, n in self.emotions.items()}

    def uncertain_share(self) -> float | None:
        """The share of the rows flagged uncertain, to 4 decimals as a track's ``uncertain_share`` (the emotion
        shares here are of rows too); None where there are no rows."""
        return round(self.uncertain_rows / self.rows, 4) if self.rows else None

    def dominant(self) -> str:
        """The emotion of most rows (:func:`fervid.emotions.dominant_emotion`: a tie goes to the tied emotion with
        the higher mean probability, then the first in EMOTIONS); "" where there are none."""
        return (dominant_emotion([self.emotions[e] for e in EMOTIONS], [self.probability_sum[e] for e in EMOTIONS])
                if self.rows else "")


def _tracks_json(folder: Path) -> dict | None:
    """A done video's ``<name>_tracks.json`` (what ``fervid video`` writes: its duration, per track its start, end,
    frames and emotion shares); None where there is none (an image, a folder from before)."""
    found = sorted(folder.glob("*_tracks.json"))
    if len(found) != 1:
        return None
    try:
        return json.loads(found[0].read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _digest_text(digest: str) -> str:
    return f"SHA-256 {digest[:16]}... (summary.json has it whole)"


def _segments_text(segments: list) -> str:
    names = [segment[2] if len(segment) > 2 and segment[2] else f"{segment[0]:g}-{segment[1]:g} s"
             for segment in segments]
    return f"{len(segments)} ({', '.join(names[:MOST_NAMED])}{' ...' if len(names) > MOST_NAMED else ''})"


# summary.md's settings line: each setting summary.json records as its reader understands it, by name; a function of
# its value, or None to leave it out (nothing asked: no region, no segments, no LSTM). A setting not named here (one a
# folder recorded before: model_weights_sha256) is said by its name and value
SETTING_WORDS: dict[str, Any] = {
    "model": lambda v: f"model: {v}",
    "weights_file": lambda v: f"weights: {v}",
    "weights_sha256": _digest_text,
    "temperature": lambda v: f"temperature: {v:g}",
    "temporal_model_sha256": lambda v: None if v is None else f"temporal LSTM: {_digest_text(v)}",
    "method": lambda v: f"method: {v}",
    "window": lambda v: None if v is None else f"window: {v:g} s",
    "detector": lambda v: f"detector: {v}",
    "score_threshold": lambda v: f"score threshold: {setting_text('score_threshold', v)}",
    "min_face": lambda v: f"smallest face: {v:g} px",
    "max_faces": lambda v: f"max faces: {'all' if v is None else v}",
    "precision": lambda v: f"precision: {v}",
    "detect_every": lambda v: f"faces detected every {v:g} s",
    "sample_fps": lambda v: f"sample rate: {'every frame' if v is None else f'{v:g} frames a second'}",
    "region": lambda v: None if v is None else "region: " + ", ".join(f"{x:g}" for x in v),
    "start": lambda v: f"from {v:g} s" if v else None,
    "end": lambda v: None if v is None else f"to {v:g} s",
    "segments": lambda v: f"segments: {_segments_text(v)}" if v else None,
    "segment_every": lambda v: None if v is None else f"segments of {v:g} s",
    "frames_memory_mb": lambda v: f"frames memory: {v:g} MB",
}


def settings_text(settings: dict) -> str:
    """summary.md's settings line (:data:`SETTING_WORDS`): "model: ferplus_vgg, ..., max faces: all, sample rate:
    every frame, ..." where it said "max_faces None, sample_fps None, segments []"."""
    said = [SETTING_WORDS[name](value) if name in SETTING_WORDS
            else f"{name.replace('_', ' ')}: {setting_text(name, value)}" for name, value in settings.items()]
    return ", ".join(text for text in said if text is not None)


def _video_table(folder: Path, table: str) -> Path | None:
    """A done video's per-file table in its results ``folder``, ``table`` "episodes" or "segments" (its
    ``<name>_episodes.csv``, ``<name>_segments.csv``, whole or partial); None where it has none (an image, no
    segments asked)."""
    found = sorted(folder.glob("*_tracks.json"))
    if len(found) != 1:
        return None
    name = getattr(OutputNames(OutputNames.stem_of(found[0].name) or ""), f"{table}_csv")
    return next((path for path in (folder / name, folder / OutputNames.partial(name)) if path.is_file()), None)


def _write_corpus_tables(out: Path, videos: list[dict], segments: bool) -> None:
    """``episodes.csv`` (and, where ``segments`` were asked, ``segments.csv``) of the whole corpus: every done
    video's per-file table (``videos``: their state rows, one per content), its rows as written, after a ``file``
    column naming it as files.csv does. Streamed a row at a time, as the other tables are."""
    import csv

    tables = {"episodes": EPISODE_COLUMNS, **({"segments": SEGMENT_COLUMNS} if segments else {})}
    for table, schema in tables.items():
        found = [(recorded_name(r["path"]), path) for r in videos
                 if (path := _video_table(out / "files" / r["key"], table)) is not None]
        headers: dict[str, None] = {}
        for _, path in found:
            with open(path, newline="", encoding="utf-8") as fh:
                headers.update(dict.fromkeys(next(csv.reader(fh), [])))
        # a segments table's codes of its segments (tier, annotation) after its first column, as in each file's
        columns = ["file", schema[0], *(column for column in headers if column not in schema), *schema[1:]]

        def rows(found=found, columns=columns):
            for name, path in found:
                with open(path, newline="", encoding="utf-8") as fh:
                    for row in csv.DictReader(fh):
                        yield [name, *(WrittenCell(row.get(column) or "") for column in columns[1:])]

        with replacing(out / f"{table}.csv") as temporary, open(temporary, "w", newline="", encoding="utf-8") as fh:
            write_csv(fh, columns, rows())


def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    with replacing(path) as temporary, open(temporary, "w", newline="", encoding="utf-8") as fh:
        write_csv(fh, columns, ([row.get(column) for column in columns] for row in rows))


def write_outputs(out: Path, store: StateStore, notices: list[str] | None = None) -> dict:
    """Rebuild ``dataset.parquet`` from the done files' parts, streamed one row group at a time (the whole table in
    memory took 3 GB for 20 classroom videos), and write ``files.csv``, ``tracks.csv`` and ``summary.json`` /
    ``summary.md`` from the counts kept while streaming and each video's tracks JSON. ``notices`` gets the done files
    left out as their rows were found damaged."""
    import pyarrow.parquet as pq

    for r in store.rows():
        damage = results_damage(out / "files" / r["key"]) if r["status"] == "done" else None
        if damage == "deleted":
            # deleted by hand, of a file not among this run's inputs: left out, not a run that can never finish
            store.reopen(r["path"], r["location"], f"files/{r['key']}/ was deleted; its file is analysed again when "
                         "next given")
        elif damage is not None:
            why = f"files/{r['key']}/rows.parquet was {damage}; its file is analysed again when next given"
            store.reopen(r["path"], r["location"], why)
            if notices is not None:
                notices.append(f"{r['path']}: left out of the table: {why}")
    rows = store.rows()
    done = [r for r in rows if r["status"] == "done"]
    failed = [r for r in rows if r["status"] == "failed"]
    partial = [r for r in done if r["error"]]
    # a copy of another file (the same bytes under another name): its rows are its first's, in the table once
    # under the first's name, and counted once
    copy_of = same_content(rows)
    originals = [r for r in done if r["path"] not in copy_of]
    counts = {r["path"]: _Counts() for r in originals}
    settings, made_with = store.settings(), made_with_counts(originals)
    # typed with no rows too; what made the rows in the file's metadata, as summary.json has it
    def every_part():
        for r in originals:
            for part in _parts(out / "files" / r["key"] / "rows.parquet", recorded_name(r["path"])):
                counts[r["path"]].add(part)
                yield part

    # (a full disk) the last table written stays whole; no half of this one is left beside it
    with replacing(out / "dataset.parquet") as temporary, open_parquet(temporary, "wb") as fh, pq.ParquetWriter(
            fh, table_schema(DATASET_COLUMNS, settings={**settings, "made_with": made_with})) as writer:
        for group in _row_groups(every_part(), ROW_GROUP_ROWS):
            writer.write_table(group)
    by_kind = {"image": _Counts(), "video": _Counts()}
    for r in originals:
        by_kind[r["kind"]].merge(counts[r["path"]])
    every = _Counts()
    for kind in by_kind.values():
        every.merge(kind)
    missing, broke = set(store.missing()), {r["path"] for r in partial}
    files_rows, track_rows = [], []
    for r in rows:
        first = copy_of.get(r["path"])
        c = counts.get(first or r["path"])  # (a copy's numbers are its first's)
        doc = _tracks_json(out / "files" / r["key"]) if c is not None and r["kind"] == "video" else None
        status = "partial" if r["path"] in broke else r["status"]
        note = r["error"] or ""
        if status == "done" and c is not None and not c.rows:  # (a done file's rows are counted)
            note = "no faces found"
        elif status == "pending" and not note:
            note = "not analysed yet"
        if status in ("done", "partial") and r["note"]:  # (a video that broke mid-way has its notices too)
            note = "; ".join(filter(None, [note, r["note"]]))
        if r["path"] in missing:
            note = "; ".join(filter(None, [note, "no longer where it was analysed (its rows stay)"]))
        if doc and doc.get("hdr"):  # an HDR phone video: analysed tone-mapped to SDR, or clipped where it could not be
            note = "; ".join(filter(None, [note, f"HDR ({doc['hdr']}), tone-mapped to SDR" if doc.get("tone_mapped")
                                           else f"HDR ({doc['hdr']}) read without tone-mapping (no zscale/tonemap in "
                                           "this ffmpeg): highlights clipped, colours shifted"]))
        if doc and doc.get("clock_resets"):  # recordings joined end to end: its times are not a player's after one
            note = "; ".join(filter(None, [note, "its own clock starts again at "
                                           + ", ".join(f"{t:.1f} s" for t in doc["clock_resets"])
                                           + " (times go on from the frame before)"]))
        if doc and doc.get("frame_size_changes"):  # the decoder scaled the later recordings to the first's size
            note = "; ".join(filter(None, [note, f"its frame size changes (recordings joined?), analysed scaled to "
                                           f"{doc.get('width')}x{doc.get('height')}: " + ", ".join(
                                               f"{c['width']}x{c['height']} from {c['time']:.1f} s"
                                               for c in doc["frame_size_changes"])]))
        if doc and doc.get("video_streams", 1) > 1:  # a second camera's stream: not analysed
            note = "; ".join(filter(None, [note, f"the first of its {doc['video_streams']} video streams analysed"]))
        if doc and doc.get("replaced_faces"):  # --max-faces: a new face followed gave way to a larger one
            note = "; ".join(filter(None, [note, "a face followed gave way to a larger one: " + ", ".join(
                f"track {r['track']} to track {r['new_track']} at {r['time']:.1f} s" for r in doc["replaced_faces"])
                + " (replaced_faces in its tracks JSON)"]))
        if doc and doc.get("analysed_fps_cap"):  # frames faster than the memory for its windows allows
            note = "; ".join(filter(None, [note, f"at most {doc['analysed_fps_cap']:g} frames a second analysed "
                                           "(its frames come too fast for the memory its analysis may hold)"]))
        files_rows.append({
            "file": recorded_name(r["path"]), "kind": r["kind"], "status": status,
            "duration": doc.get("duration", "") if doc else "",
            # an image's faces are its tracks, as in dataset.parquet
            "tracks": c.n_tracks if c is not None else "", "rows": c.rows if c is not None else "",
            "dominant_emotion": c.dominant() if c is not None else "",
            **(c.shares() if c is not None and c.rows else dict.fromkeys(EMOTIONS, "")),
            "note": note, "output": f"files/{r['key']}" if c is not None else "",
            "uncertain_share": c.uncertain_share() if c is not None else None,
            "same_as": recorded_name(first) if first else ""})
        for track in (doc or {}).get("tracks", []) if first is None else []:  # (a copy's are its first's)
            # a video that broke mid-way: its tracks end where it broke
            track_rows.append({**track_row(track, file=recorded_name(r["path"])), "partial": status == "partial"})
    _write_csv(out / "files.csv", FILES_CSV_COLUMNS, files_rows)
    _write_csv(out / "tracks.csv", TRACKS_CSV_COLUMNS, track_rows)
    _write_corpus_tables(out, [r for r in originals if r["kind"] == "video"],
                         bool(settings.get("segments") or settings.get("segment_every")))
    summary = {
        "files": len(rows), "done": len(done), "failed": len(failed),
        "pending": len([r for r in rows if r["status"] == "pending"]),
        # a photo's face and a video's track are both "a face", but a researcher counts people and photos apart
        "faces": int(sum(r["faces"] or 0 for r in originals)), "image_faces": by_kind["image"].rows,
        "video_tracks": by_kind["video"].n_tracks,
        "rows": every.rows,
        # per row: a video frame weighs what a photo's face does; hence also each kind apart
        "emotion_share": every.shares(),
        "emotion_share_by_kind": {kind: c.shares() for kind, c in by_kind.items()},
        # the share of the rows flagged uncertain (files.csv has each file's): None with no rows to share
        "uncertain_share": every.uncertain_share(),
        "uncertain_share_by_kind": {kind: c.uncertain_share() for kind, c in by_kind.items()},
        "failures": [{"file": recorded_name(r["path"]), "error": r["error"]} for r in failed],
        # videos that broke mid-way: their rows up to the break are in the table
        "partial": [{"file": recorded_name(r["path"]), "error": r["error"]} for r in partial],
        # a video with no face in it (a camera facing away, too dark, faces too small for --min-face) is done
        # with no row: named, so that no one reads its absence from the table as no one being there
        "no_faces": [recorded_name(r["path"]) for r in originals
                     if r["kind"] == "video" and not counts[r["path"]].rows],
        "images_without_faces": len([r for r in originals if r["kind"] == "image" and not counts[r["path"]].rows]),
        # files whose content a first one has (same_content: the one analysed): counted once, as that one
        "copies": [{"file": recorded_name(path), "same_as": recorded_name(first)}
                   for path, first in sorted(copy_of.items(), key=lambda item: listing_order(item[0]))],
        # done files since deleted or moved off a disk no longer mounted: their rows stay (the results are the
        # point of a corpus whose raw videos were archived), named here so no one takes them for present files
        "missing": store.missing(),
        "outputs": {recorded_name(r["path"]): f"files/{r['key']}" for r in done},
        "settings": settings,  # what every result in the table was made with
        # the fervid and ONNX Runtime versions that made them, with how many files each (a folder resumed under an
        # upgrade has two; None: files analysed before a folder recorded them)
        "made_with": made_with,
    }

    def copies_text(copies: list[dict]) -> str:
        named = [f"{c['file']} (of {c['same_as']})" for c in copies[:MOST_NAMED]]
        more = f" and {len(copies) - MOST_NAMED} more (files.csv's same_as)" if len(
            copies) > MOST_NAMED else ""
        return (f"{len(copies)} file(s) with the same content as a file before them, counted once, as that one "
                f"(their rows are in dataset.parquet once, under its name): {', '.join(named)}{more}")

    def share_text(counts: _Counts, emotion: str) -> str:
        # no rows of a kind (a run of videos only has no image faces): no share, rather than 0.0% of every emotion
        return f"{counts.shares()[emotion]:.1%}" if counts.rows else "n/a"

    def uncertain_text(counts: _Counts) -> str:
        share = counts.uncertain_share()
        return "n/a" if share is None else f"{share:.1%}"

    lines = ["# fervid batch summary", "", f"- files: {summary['files']} ({summary['done']} done, "
             f"{summary['failed']} failed, {summary['pending']} pending)", f"- faces: {summary['faces']} "
             f"({summary['image_faces']} in images, {summary['video_tracks']} video tracks), "
             f"table rows: {summary['rows']}",
             *([f"- copies: {copies_text(summary['copies'])}"] if summary["copies"] else []),
             f"- rows flagged uncertain: {uncertain_text(every)} ({uncertain_text(by_kind['image'])} of image faces, "
             f"{uncertain_text(by_kind['video'])} of video frames)",
             "- per file: files.csv; per video track: tracks.csv; per emotion episode: episodes.csv"
             + ("; per segment and track: segments.csv" if settings.get("segments") or settings.get("segment_every")
                else ""), "",
             "| emotion | share of rows | of image faces | of video frames |",
             "|---|---|---|---|",
             *[f"| {e} | {share_text(every, e)} | {share_text(by_kind['image'], e)} | "
               f"{share_text(by_kind['video'], e)} |" for e in EMOTIONS],
             "",
             "settings: " + settings_text(summary["settings"]), "",
             "made with: " + ("; ".join(f"fervid {m['fervid'] or '(not recorded)'}, ONNX Runtime "
                                        f"{m['onnxruntime'] or '(not recorded)'}: {m['files']} file(s)"
                                        for m in summary["made_with"]) or "no file done yet"),
             "", "## Failures", ""]
    lines += [f"- {f['error']}" for f in summary["failures"]] or ["none"]
    if summary["partial"]:
        lines += ["", "## Partial results (the table holds the rows up to the break)", "",
                  *[f"- {f['error']}" for f in summary["partial"]]]
    if summary["no_faces"] or summary["images_without_faces"]:
        lines += ["", "## No faces found (done, with no row in the table)", "",
                  *[f"- {path}" for path in summary["no_faces"]],
                  *([f"- {summary['images_without_faces']} image(s) (files.csv names them)"]
                    if summary["images_without_faces"] else [])]
    if summary["missing"]:
        # each with the results folder whose deletion takes its rows out too: how one person is erased
        lines += ["", "## Analysed files no longer where they were (deleted or moved; their rows stay in the table "
                  "until their results folder is deleted too and the run repeated: README, \"Corpora\")", "",
                  *[f"- {path}" + (f" (results: {summary['outputs'][path]}/)" if path in summary["outputs"] else "")
                    for path in summary["missing"]]]
    with replacing(out / "summary.md") as temporary:
        temporary.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return summary
