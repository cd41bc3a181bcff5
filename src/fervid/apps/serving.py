"""How ``fervid serve`` (and ``fervid live``'s page) runs and stops: uvicorn's server, with what it runs said at
start-up, uvicorn's access log on request, and a shutdown that does not wait for ever.

Stopping (SIGTERM, Ctrl-C): new connections are refused at once, and requests in progress get
:data:`GRACEFUL_SHUTDOWN_S` seconds to end (uvicorn's ``timeout_graceful_shutdown``); a stalled upload held the
server for as long as its client kept the connection open (46 s in a probe); one still in progress then is answered
503 in JSON, and is one WARNING line in the log (uvicorn's ERROR "Cancel N running task(s)" is left out). A video
upload that ends within that time is queued, and runs at the next start like every unfinished job. Then the video
workers stop: a running job's analysis process is stopped, and the job runs again at the next start. A second
Ctrl-C cuts the requests in progress off at once, and the workers still stop (uvicorn skipped the application's
shutdown then, and its cancelled tasks printed tracebacks).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import signal
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import uvicorn
from starlette.responses import JSONResponse
from uvicorn.server import HANDLED_SIGNALS

from fervid.apps.server import ServerSettings

log = logging.getLogger(__name__)
GRACEFUL_SHUTDOWN_S = 5  # within docker stop's 10 s and Kubernetes' 30 s, with the workers' own stop after it


class _NotCancelled(logging.Filter):
    """Leaves out a request's CancelledError traceback: the shutdown cut the request off (:class:`_AnswerCutOff`'s
    line says so), which is no error of the request's."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError))


class _UvicornsCutOffLine(logging.Filter):
    """Leaves out uvicorn's "Cancel N running task(s), timeout graceful shutdown exceeded", an ERROR for what is
    the shutdown working as it should: :class:`_AnswerCutOff` says instead, as a WARNING, which request was cut off
    and what became of it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith("Cancel %s running task(s)"))


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


class _AnswerCutOff:
    """A request the shutdown cuts off (still in progress after :data:`GRACEFUL_SHUTDOWN_S`, or at a second Ctrl-C)
    is answered 503 in fervid's JSON, as every other error is: uvicorn answered it a text/plain 500. Each is one
    WARNING line in the log, saying what was dropped (an upload's part received, its temporary file with it)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False
        received, body_ended = 0, False

        async def receive_counted():
            nonlocal received, body_ended
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                body_ended = not message.get("more_body", False)
            return message

        async def send_tracked(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive_counted, send_tracked)
        except asyncio.CancelledError:
            request = f"{scope.get('method')} {scope.get('path')}"
            declared = dict(scope.get("headers") or []).get(b"content-length", b"").decode("latin-1")
            if not body_ended and received:
                of = f" of {_megabytes(int(declared))}" if declared.isdigit() else ""
                what = (f"its upload abandoned ({_megabytes(received)}{of} received), the temporary file it was "
                        "stored in removed")
            else:
                what = "what it had received dropped"
            answered = "its client answered 503 (try again)" if not started else "its answer cut short"
            log.warning("the shutdown cut off %s, still in progress: %s; %s", request, what, answered)
            if not started:
                answer = JSONResponse({"error": "the server is shutting down: try again once it is back",
                                       "status": 503}, status_code=503, headers={"Connection": "close"})
                await answer(scope, receive, send)
            raise


MACOS_OPEN_MAX = 10240  # the most a macOS process may ask for where its hard limit says "unlimited"


def allow_open_files() -> None:
    """Raise this process's limit of open files (its soft RLIMIT_NOFILE) to the most it may have (the hard one):
    each connection, upload, job and model holds files, and under a cluster's or a service's low soft limit (1024,
    or less) a busy server's accept() failed, and asyncio logged a traceback for every try (28,000 in one run).
    POSIX only; where the limit cannot be raised it stays as it was."""
    try:
        import resource
    except ImportError:  # Windows: no such limit
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == hard:
        return
    with contextlib.suppress(ValueError, OSError):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):  # macOS refuses "unlimited": its own most, then
            if hard == resource.RLIM_INFINITY and soft < MACOS_OPEN_MAX:
                resource.setrlimit(resource.RLIMIT_NOFILE, (MACOS_OPEN_MAX, hard))


class _AccessLogPaths(logging.Filter):
    """uvicorn's access log, as an operator reads it: each path as the request named it, and the health probes left
    out while they succeed.

    Behind a proxy that strips ``--root-path`` (``/fervid``), a request for ``/healthz`` was logged
    ``GET /fervid/healthz``: uvicorn logs the ASGI scope's path, which the ASGI specification has carry the root
    path, so the prefix is taken off again here. A container platform's probes (a GET or HEAD of ``/healthz`` every
    few seconds) filled the log: a probe answered 2xx is left out, one that failed is logged."""

    def __init__(self, root_path: str = ""):
        super().__init__()
        self.root_path = root_path

    def filter(self, record: logging.LogRecord) -> bool:
        if not (isinstance(record.args, tuple) and len(record.args) == 5):  # (not uvicorn's request line)
            return True
        client, method, path, http_version, status = record.args
        if self.root_path and isinstance(path, str) and path.startswith(self.root_path) \
                and path[len(self.root_path):][:1] in ("", "/", "?"):
            path = path[len(self.root_path):] or "/"
            record.args = (client, method, path, http_version, status)
        healthy_probe = method in ("GET", "HEAD") and isinstance(path, str) and path.partition("?")[0] == "/healthz"
        return not (healthy_probe and isinstance(status, int) and 200 <= status < 300)


def log_config(access_log: bool, root_path: str = "") -> dict:
    """uvicorn's logging setup for fervid: its warnings and errors (a request's traceback) on stderr, fervid's own
    alike (a full disk), with a line for each video job's events (queued, started, done or failed) at INFO, and with
    ``access_log`` a line per request on stdout (uvicorn's access log: client address, request line as received,
    without ``root_path``, status), less the ``/healthz`` probes answered 2xx. uvicorn's start-up lines are left
    out: fervid says where it serves itself."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["filters"] = {"not_cancelled": {"()": _NotCancelled},
                         "access_paths": {"()": _AccessLogPaths, "root_path": root_path},
                         "cut_off_said": {"()": _UvicornsCutOffLine}}
    config["handlers"]["default"]["filters"] = ["not_cancelled"]
    config["loggers"]["uvicorn.error"]["level"] = "WARNING"
    config["loggers"]["uvicorn.error"]["filters"] = ["cut_off_said"]
    config["loggers"]["uvicorn.access"]["level"] = "INFO" if access_log else "WARNING"
    config["loggers"]["uvicorn.access"]["filters"] = ["access_paths"]
    config["loggers"]["fervid"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


class GracefulServer(uvicorn.Server):
    """uvicorn's server, saying that it shuts down and how long it waits, and stopping the video workers even on a
    second Ctrl-C. ``say``: where its lines go."""

    def __init__(self, config: uvicorn.Config, say: Callable[[str], None] = print):
        super().__init__(config)
        self.say = say

    def handle_exit(self, sig: int, frame) -> None:
        if not self.should_exit:
            self.say(f"shutting down (waiting up to {self.config.timeout_graceful_shutdown} s for requests in "
                     "progress; Ctrl-C again to stop at once)")
        elif sig == signal.SIGINT and not self.force_exit:
            self.say("stopping at once: requests in progress are cut off; video jobs run again at the next start")
        super().handle_exit(sig, frame)

    async def shutdown(self, sockets=None) -> None:
        await super().shutdown(sockets)
        if self.force_exit:
            # uvicorn skips the application's shutdown on a second Ctrl-C: the video workers and their analysis
            # processes were left to be killed, and the application's cancelled lifespan printed a traceback.
            # (Already run, where the second Ctrl-C came during it, it returns at once.)
            await self.lifespan.shutdown()

    @contextlib.contextmanager
    def capture_signals(self):
        """uvicorn's signal handling, without raising the signals again once the server has stopped: raised again,
        a Ctrl-C reached asyncio's own handler, which cancelled what was left of the event loop (CancelledError
        tracebacks). The server has stopped as asked, and the command exits 0."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in HANDLED_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def run(app, host: str, port: int, root_path: str = "", access_log: bool = False,
        say: Callable[[str], None] = print) -> None:
    """Serve ``app`` until SIGTERM or Ctrl-C."""
    config = uvicorn.Config(_AnswerCutOff(app), host=host, port=port, root_path=root_path,
                            log_config=log_config(access_log, root_path),
                            access_log=access_log, timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S)
    GracefulServer(config, say=say).run()


def startup_lines(settings: ServerSettings, ran: dict, temporary_folder_problem: str | None = None) -> list[str]:
    """What the server runs with, said as it starts, so a deployment's log records it: the analysis (``ran``:
    :attr:`fervid.inference.video.VideoResult.run_settings` of its video pipeline, the model's precision and the
    method as they resolved), where its data is kept, and its limits. ``temporary_folder_problem``: why the
    system's temporary folder is not usable, where the server keeps its temporary files in its data folder instead
    (:func:`fervid.apps.server.use_usable_temporary_folder`)."""
    pipeline = settings.pipeline
    method = ran["method"] + (f" ({ran['temporal_model']})" if ran.get("temporal_model") else "")
    frames = "every frame" if ran["sample_fps"] is None else f"at most {ran['sample_fps']:g} frames/s"
    # per-frame labels read no window (None): --method frame crashed the start-up here
    window = "no window" if ran["window"] is None else f"window {ran['window']:g} s"
    pictures = [] if pipeline.annotate else ["no annotated MP4 (--no-annotate)"]
    if ran.get("key_frames") == 0:  # ("at most 0 key frames per track")
        pictures.append("no key frames (--key-frames 0)")
    elif ran.get("key_frames") is not None:
        pictures.append(f"at most {ran['key_frames']} key frames per track")
    temporary = [] if temporary_folder_problem is None else [
        f"temporary files: {tempfile.gettempdir()}, in the data folder: the system's temporary folder is not usable "
        f"({temporary_folder_problem}); set TMPDIR to a writable folder to use another"]
    return [
        f"analysis: model {ran['model']} ({ran['precision']}), detector {ran['detector']}; videos: {method}, {window}, "
        f"detection every {ran['detect_every']:g} s, {frames}"
        + "".join(f", {p}" for p in pictures),
        f"data: {Path(settings.data_dir).absolute()} (finished jobs, sessions saved from /live among them, deleted "
        f"{settings.job_ttl_hours:g} h after they end)",
        f"limits: uploads up to {settings.max_upload_mb:g} MB, {settings.max_images_per_request} images per request, "
        f"{settings.max_image_pixels / 1e6:g} megapixels per image, {settings.max_video_pixels / 1e6:g} per video "
        f"frame, {settings.max_concurrent_images} images analysed "
        f"at once; {settings.max_queued_jobs} video jobs waiting, {settings.workers} analysed at once",
        *temporary,
    ]
