"""``fervid serve``: one FastAPI server for the REST API (``/v1``) and the web page (``/``).

Images are analysed in the request. Videos become jobs: the upload is checked by decoding it, stored under
``<data-dir>/jobs/<id>/``, and analysed by a background worker pool; a job's state lives in its folder
(``job.json``), so jobs survive a restart (unfinished ones are queued again). Cleanup policy: finished and
failed jobs older than ``job_ttl_hours`` (default 24) are deleted at start-up and every 10 minutes.
"""

from __future__ import annotations

import io
import json
import os
import queue
import re
import shutil
import threading
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, File, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from fervid.detect import DEFAULT_DETECTOR
from fervid.features import DEFAULT_MODEL
from fervid.images import ImageLoadError, load_image

STATIC_DIR = Path(__file__).parent / "web"
JOB_ID = re.compile(r"^[0-9a-f]{32}$")
FILE_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
VIDEO_EXTS = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"}


@dataclass
class ServerSettings:
    data_dir: Path = Path("fervid-data")
    max_upload_mb: float = 200.0
    max_queued_jobs: int = 8
    workers: int = 1
    job_ttl_hours: float = 24.0
    detect_every: float = 0.3
    window: float = 1.0
    method: str = "lstm"
    model: str = DEFAULT_MODEL  # emotion CNN: a shipped name or a model folder
    detector: str = DEFAULT_DETECTOR
    score_threshold: float | None = None  # None: the detector's own

    def make_analyzer(self, **options):
        from fervid.analyzer import Analyzer

        return Analyzer(self.model, detector=self.detector, score_threshold=self.score_threshold, **options)


class JobStore:
    """Jobs as folders: ``job.json`` (status, progress, error) next to the input and the outputs."""

    def __init__(self, root: Path):
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def folder(self, job_id: str) -> Path:
        if not JOB_ID.match(job_id):  # ids are uuid4 hex: nothing else can name a folder
            raise HTTPException(404, detail=f"no job {job_id!r}")
        return self.root / job_id

    def read(self, job_id: str) -> dict:
        path = self.folder(job_id) / "job.json"
        if not path.is_file():
            raise HTTPException(404, detail=f"no job {job_id!r}")
        return json.loads(path.read_text())

    def write(self, job_id: str, **fields) -> dict:
        with self._lock:
            path = self.folder(job_id) / "job.json"
            state = json.loads(path.read_text()) if path.is_file() else {}
            state.update(fields, updated=time.time())
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(state))
            os.replace(tmp, path)  # atomic: a crash never leaves half a job.json
            return state

    def all(self) -> list[dict]:
        out = []
        for folder in self.root.iterdir():
            if JOB_ID.match(folder.name) and (folder / "job.json").is_file():
                try:
                    out.append(json.loads((folder / "job.json").read_text()))
                except json.JSONDecodeError:
                    continue
        return out

    def delete(self, job_id: str) -> None:
        shutil.rmtree(self.folder(job_id), ignore_errors=True)


class VideoWorkers:
    """A bounded queue and worker threads; each job runs in its own process at a lower CPU priority, so the
    analysis never holds the server's GIL and /healthz and image requests stay responsive during a video job."""

    def __init__(self, store: JobStore, settings: ServerSettings):
        self.store = store
        self.settings = settings
        self.queue: queue.Queue[str] = queue.Queue(maxsize=settings.max_queued_jobs)
        self.cancelled: set[str] = set()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._work, daemon=True) for _ in range(settings.workers)]
        for t in self.threads:
            t.start()

    def submit(self, job_id: str) -> bool:
        try:
            self.queue.put_nowait(job_id)
            return True
        except queue.Full:
            return False

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop the workers; a job in progress is stopped and stays queued for the next start."""
        self.stopping.set()
        for t in self.threads:
            t.join(timeout)

    def _work(self) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        while not self.stopping.is_set():
            try:
                job_id = self.queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if job_id in self.cancelled:
                continue
            self.store.write(job_id, status="running", progress=0.0, started=time.time())
            proc = ctx.Process(target=_run_job, args=(str(self.store.root), job_id, self.settings), daemon=True)
            proc.start()
            while proc.is_alive():
                proc.join(0.2)
                if job_id in self.cancelled or self.stopping.is_set():
                    proc.terminate()
                    proc.join(5)
            if proc.exitcode not in (0, None) and not (job_id in self.cancelled or self.stopping.is_set()):
                if (self.store.root / job_id).is_dir():
                    self.store.write(job_id, status="failed", error=f"analysis process exited with {proc.exitcode}")


def _run_job(root: str, job_id: str, settings: ServerSettings) -> None:
    """In a child process: analyse one queued video, writing progress and the outcome into its job.json."""
    from fervid.video import VideoAnalyzer, VideoOptions

    import cv2

    try:
        os.nice(10)  # the server process keeps priority; the encoder subprocess inherits this
    except OSError:
        pass
    cv2.setNumThreads(1)
    store = JobStore(Path(root))
    job = store.read(job_id)
    folder = store.folder(job_id)
    last = [0.0]

    def progress(done, total):
        now = time.time()
        if total and now - last[0] > 0.5:
            last[0] = now
            store.write(job_id, progress=round(min(done / total, 1.0), 3))

    try:
        options = VideoOptions(detect_every=settings.detect_every, window=settings.window, method=settings.method)
        result = VideoAnalyzer(settings.make_analyzer(threads=1), options).run(folder / job["input"], folder / "out",
                                                                 progress=progress)
        store.write(job_id, status="done" if result.ok else "failed", progress=1.0, error=result.error,
                    finished=time.time(), stem=Path(job["input"]).stem)
    except Exception as exc:  # a bad video fails its job, never the server
        store.write(job_id, status="failed", error=str(exc))


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    settings = settings or ServerSettings()
    store = JobStore(Path(settings.data_dir) / "jobs")
    state: dict = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        start()
        yield
        state["stop"].set()
        state["workers"].shutdown()

    app = FastAPI(title="fervid", version="1", description="Facial emotion recognition in images and videos.",
                  lifespan=lifespan)

    def analyzer():
        if "analyzer" not in state:
            state["analyzer"] = settings.make_analyzer()
        return state["analyzer"]

    def cleanup() -> int:
        cutoff = time.time() - settings.job_ttl_hours * 3600
        removed = 0
        for job in store.all():
            if job.get("status") in ("done", "failed") and job.get("updated", 0) < cutoff:
                store.delete(job["id"])
                removed += 1
        return removed

    def start() -> None:
        state["workers"] = VideoWorkers(store, settings)
        cleanup()
        for job in sorted(store.all(), key=lambda j: j.get("created", 0)):
            if job.get("status") in ("queued", "running"):  # interrupted by a restart: run again
                store.write(job["id"], status="queued", progress=0.0)
                state["workers"].submit(job["id"])

        state["stop"] = threading.Event()

        def janitor():
            while not state["stop"].wait(600):
                cleanup()

        threading.Thread(target=janitor, daemon=True).start()

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        return JSONResponse({"error": exc.detail, "status": exc.status_code}, status_code=exc.status_code)

    def check_size(request: Request, upload: UploadFile) -> bytes:
        limit = int(settings.max_upload_mb * 1024 * 1024)
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit + 1024 * 1024:
            raise HTTPException(413, detail=f"upload larger than {settings.max_upload_mb:g} MB")
        data = upload.file.read(limit + 1)
        if len(data) > limit:
            raise HTTPException(413, detail=f"{upload.filename}: larger than {settings.max_upload_mb:g} MB")
        return data

    @app.get("/healthz")
    def healthz() -> dict:
        workers = state.get("workers")
        return {"status": "ok", "queued_jobs": workers.queue.qsize() if workers else 0}

    @app.post("/v1/images")
    def post_images(request: Request, files: list[UploadFile] = File(...)) -> dict:
        """Analyse one or more photos; the same JSON schema as `fervid image --json`."""
        from PIL import Image

        results, failed = [], 0
        for upload in files:
            data = check_size(request, upload)
            name = upload.filename or "upload"
            try:
                with Image.open(io.BytesIO(data)) as im:
                    im.load()
                    bgr = load_image(im)
            except Exception as exc:  # not decodable as an image, whatever its name says
                if len(files) == 1:
                    raise HTTPException(415, detail=f"{name}: not a readable image ({exc})") from None
                results.append({"file": name, "ok": False, "width": 0, "height": 0, "faces": [],
                                "error": f"{name}: not a readable image ({exc})"})
                failed += 1
                continue
            faces = analyzer().analyze_bgr(bgr)
            results.append({"file": name, "ok": True, "width": bgr.shape[1], "height": bgr.shape[0],
                            "faces": [f.to_dict() for f in faces]})
        return {"model": analyzer().model_config.name, "detector": analyzer().detector_name, "files": results,
                "failed": failed}

    @app.post("/v1/videos", status_code=202)
    def post_video(request: Request, file: UploadFile = File(...)) -> dict:
        """Queue a video for analysis; returns the job id at once."""
        from fervid.video import VideoError, open_video

        data = check_size(request, file)
        job_id = uuid.uuid4().hex
        folder = store.root / job_id
        folder.mkdir(parents=True)
        suffix = Path(file.filename or "").suffix.lower()
        input_name = "input" + (suffix if suffix in VIDEO_EXTS else ".mp4")
        (folder / input_name).write_bytes(data)
        try:
            open_video(folder / input_name).release()
        except VideoError:
            store.delete(job_id)
            raise HTTPException(415, detail=f"{file.filename}: not a readable video") from None
        store.write(job_id, id=job_id, status="queued", progress=0.0, created=time.time(), input=input_name,
                    filename=file.filename, error=None)
        if not state["workers"].submit(job_id):
            store.delete(job_id)
            raise HTTPException(429, detail="too many video jobs queued; try again later")
        return {"job_id": job_id, "status": "queued", "status_url": f"/v1/jobs/{job_id}",
                "result_url": f"/v1/jobs/{job_id}/result"}

    @app.get("/v1/jobs/{job_id}")
    def get_job(job_id: str) -> dict:
        job = store.read(job_id)
        return {k: job.get(k) for k in ("id", "status", "progress", "error", "filename", "created")}

    @app.get("/v1/jobs/{job_id}/result")
    def get_result(job_id: str) -> dict:
        job = store.read(job_id)
        if job["status"] != "done":
            raise HTTPException(409, detail=f"job {job_id} is {job['status']}, not done")
        out = store.folder(job_id) / "out"
        stem = job["stem"]
        summary = json.loads((out / f"{stem}_tracks.json").read_text())
        base = f"/v1/jobs/{job_id}/files/"
        for track in summary["tracks"]:
            track["timeline_url"] = base + f"{stem}_track{track['track']}_timeline.png"
            for ep in track["episodes"]:
                ep["key_frame_url"] = base + ep["key_frame"] if ep.get("key_frame") else None
        summary["file"] = job.get("filename")
        summary["links"] = {"annotated_video": base + f"{stem}_annotated.mp4", "frames_csv": base + f"{stem}_frames.csv",
                            "frames_parquet": base + f"{stem}_frames.parquet", "tracks_json": base + f"{stem}_tracks.json",
                            "frames_json": f"/v1/jobs/{job_id}/frames"}
        return summary

    @app.get("/v1/jobs/{job_id}/frames")
    def get_frames(job_id: str) -> dict:
        """Per-track time series of the 7 probabilities (what the web page's timeline draws)."""
        import pandas as pd

        job = store.read(job_id)
        if job["status"] != "done":
            raise HTTPException(409, detail=f"job {job_id} is {job['status']}, not done")
        table = pd.read_csv(store.folder(job_id) / "out" / f"{job['stem']}_frames.csv")
        from fervid.emotions import EMOTIONS

        tracks = {}
        for tid, rows in table.groupby("track"):
            tracks[str(tid)] = {"time": rows["time"].round(3).tolist(),
                                **{e: rows[e].round(4).tolist() for e in EMOTIONS}, "label": rows["label"].tolist()}
        return {"emotions": list(EMOTIONS), "tracks": tracks}

    @app.get("/v1/jobs/{job_id}/files/{name}")
    def get_file(job_id: str, name: str):
        store.read(job_id)
        if not FILE_NAME.match(name):
            raise HTTPException(404, detail="no such file")
        path = store.folder(job_id) / "out" / name
        if not path.is_file():
            raise HTTPException(404, detail="no such file")
        return FileResponse(path)

    @app.delete("/v1/jobs/{job_id}")
    def delete_job(job_id: str) -> dict:
        store.read(job_id)
        state["workers"].cancelled.add(job_id)
        store.delete(job_id)
        return {"deleted": job_id}

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return (STATIC_DIR / "index.html").read_text()

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app

