"""``fervid serve``: one FastAPI server for the REST API (``/v1``) and the web page (``/``).

Images are analysed in the request. Videos become jobs: the upload is checked by decoding it, stored under
``<data-dir>/jobs/<id>/``, and analysed by a background worker pool; a job's state lives in its folder
(``job.json``), so jobs survive a restart (unfinished ones are queued again, each once). Cleanup policy: a
job's uploaded original is deleted as soon as its analysis ends, done or failed (nothing reads it again: only an
unfinished job, run again after a restart, needs it), and a failed job's outputs with it (it keeps its job.json);
finished and failed jobs older than ``job_ttl_hours``
(default 24) are deleted at start-up and every 10 minutes, and ``DELETE /v1/jobs/<id>`` deletes one at once; a job
folder an upload left without its ``job.json`` (a full disk or a crash cut it off as it was stored) is deleted at
start-up, or once it has been untouched for 10 minutes.
The data folder (where fervid creates it), its ``jobs`` folder and every job's folder are private to the server's
user (0700) and the files the server writes there 0600: uploads are participants' faces. On POSIX only: on Windows
the modes do nothing (chmod sets the read-only flag alone), and what the server writes takes the access list of the
folder it is in (README, "Privacy and data protection": a --data-dir only the service's account can read).

Limits (README, "Reliability"): a request body is counted as it streams in and refused with 413 past
``max_upload_mb`` (all files together), so nothing beyond the limit reaches the disk; at most
``max_images_per_request`` images per request and ``max_concurrent_images`` analysed at once; every image goes
through the same decoded-size limit as the CLI (``fervid.inference.images.MAX_PIXELS``). Only the Host names the server
serves are answered (DNS rebinding; ``/healthz``, which names no job or file, answers any), and state-changing requests
from another origin are refused (CSRF).

Behind a reverse proxy that serves it under a path prefix (``fervid serve --root-path /fervid``, the ASGI
``root_path``), the pages load everything by relative URLs and every link the API answers starts with the prefix.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import json
import logging
import os
import queue
import re
import shutil
import signal
import tempfile
import threading
import time
import unicodedata
import uuid
from collections.abc import Callable
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISREG
from typing import Literal, TypeGuard, overload
from urllib.parse import quote

from anyio import CapacityLimiter, to_thread
from fastapi import Depends, FastAPI, File, HTTPException, Query, Request, UploadFile, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection
from starlette.routing import Route

from fervid import __version__
from fervid.errors import OptionError
from fervid.folder_lock import FolderLock, FolderLocked
from fervid.apps import defaults
from fervid.apps.child_process import end_with_parent, lower_priority
from fervid.apps.live import LiveLimits, expires_at, serve_live
from fervid.apps.schemas import (FRAME_SERIES, DeletedOut, ErrorOut, FramesOut, HealthOut, ImagesOut,
                                 ImagesWithCsvOut, JobOut, ResultOut, VideoJobOut)
from fervid.emotions import EMOTIONS
from fervid.inference.annotate import EMOTION_COLORS, EMOTION_DASHES, UNCERTAIN_MARK
from fervid.inference.images import (NAME_MAX, ImageLoadError, ImageTooLargeError, decode_image_bytes, fitted_stem,
                                     megapixels_text)
from fervid.inference.models import DEFAULT_MODEL, ModelConfig, is_shipped_name, resolve_model_dir
from fervid.inference.options import FRAMES_MEMORY_MB, MAX_FRAME_PIXELS, PipelineOptions, check_positive
from fervid.inference.records import ImageResult, images_csv, images_document
from fervid.inference.set_aside import replace_retrying
from fervid.inference.video import VIDEO_SUFFIXES, OutputNames, VideoAnalyzer, output_paths_error
from fervid.json_files import json_text
from fervid.progress import one_line

STATIC_DIR = Path(__file__).parent / "web"


def web_constants_script(model: str | Path = DEFAULT_MODEL) -> str:
    """What the web and live pages share with the Python side, as JavaScript constants (served at /constants.js,
    loaded before the pages' own scripts); ``model``: the emotion model served, whose ``uncertain_below`` threshold
    the pages explain "?" by (read from its config.json: the weights need not be loaded for a page)."""
    uncertain_below = ModelConfig.load(resolve_model_dir(model) / "config.json").uncertain_below
    return (f"const EMOTIONS = {json.dumps(list(EMOTIONS))};\n"
            f"const COLORS = {json.dumps(EMOTION_COLORS)};\n"
            f"const DASHES = {json.dumps(EMOTION_DASHES)};  // a timeline line's dashes, in line widths\n"
            f"const VIDEO_SUFFIXES = {json.dumps(sorted(VIDEO_SUFFIXES))};  // what fervid video reads\n"
            f"const UNCERTAIN_MARK = {json.dumps(UNCERTAIN_MARK)};  // after an uncertain face's label\n"
            f"const UNCERTAIN_BELOW = {json.dumps(uncertain_below)};  // the model's threshold for that mark\n")
JOB_ID = re.compile(r"^[0-9a-f]{32}$")
# the zero-width non-joiner and joiner, with which Persian, Urdu and Indic names are spelled ("فیلم‌ها")
JOINERS = "\u200c\u200d"
# Windows' device names: no file can be named so there, in any case, with any suffix ("CON.mp4", "nul.backup.mkv")
WINDOWS_DEVICE_NAME = re.compile(r"(CON|PRN|AUX|NUL|COM[0-9¹²³]|LPT[0-9¹²³]) *(\..*)?", re.IGNORECASE)
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
RETRY_QUEUED_S = 30  # a full queue's Retry-After: a hint (a job takes seconds to minutes), not a promise
PRIVATE_FOLDER, PRIVATE_FILE = 0o700, 0o600  # uploads and results are people's faces: other local users get nothing
FINISHED = ("done", "failed")
# a job folder still without its job.json after this long untouched is an upload that failed as it was stored (a
# job's is written continuously, then gets its job.json at once): deleted by the periodic cleanup
ABANDONED_UPLOAD_S = 600
# an earlier analysis of a job still running when a restarted server runs it again: an orphan of a killed server
# ends itself at once (end_with_parent), so one that holds its job's lock this long is still at work
EARLIER_ANALYSIS_WAIT_S = 10.0
# a job's analysis process ended by one of these signals (its exit code is minus the signal's number) was stopped
# from outside, not broken: its job runs again. (SIGINT: a Ctrl-C that reached it as it started, before it ignores
# them, _run_job)
INTERRUPTING_EXIT_CODES = (-signal.SIGTERM, -signal.SIGINT)
# how long a worker waits for the server to begin stopping before it queues such a job again (the server's own
# SIGTERM arrives with it, and its graceful shutdown gives requests in progress 5 s before the workers stop)
INTERRUPTED_REQUEUE_WAIT_S = 8.0
DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}  # out of space, or of the user's disk quota
DATA_FOLDER, TEMPORARY_FOLDER = "the data folder", "the temporary folder"  # where a server's file goes
# a job's analysis process's messages (its FFmpeg encoder's among them) kept for its log line: the last few, each cut
ANALYSIS_MESSAGES_KEPT, ANALYSIS_MESSAGE_CHARS = 6, 300
log = logging.getLogger(__name__)


def _disk_full(exc: BaseException | None) -> TypeGuard[OSError]:
    return isinstance(exc, OSError) and exc.errno in DISK_FULL


def _disk_full_message(folder_kind: str) -> str:
    """A full disk's 507, naming which of the server's folders (``DATA_FOLDER``, ``TEMPORARY_FOLDER``) is on it
    (not its path, the operator's to know: the log line has it)."""
    return f"the server's disk is full ({folder_kind}): the upload could not be stored; try again later"


def _under(path, folder: Path) -> bool:
    """Whether ``path`` (an OSError's filename: None, or bytes, where it has none to give) is in ``folder``."""
    return isinstance(path, (str, os.PathLike)) and Path(os.path.abspath(path)).is_relative_to(os.path.abspath(folder))


def _free_mb(path: Path) -> float | None:
    """Free megabytes on the disk that holds ``path``, or its nearest folder that exists (the jobs folder may have
    been removed under the server); None where none can be asked."""
    for folder in (path, *path.parents):
        try:
            return shutil.disk_usage(folder).free / 1024 / 1024
        except OSError:
            continue
    return None


TEMPORARY_FOLDER_NAME = "tmp"  # <data-dir>/tmp: temporary files where the system's folder is not usable


class NoTemporaryFolder(OSError):
    """Neither the system's temporary folder nor one under the data folder can hold a file: the server cannot
    store an upload over 1 MB (Starlette spools each to a temporary file), so it does not start."""


def _temporary_folder_problem() -> str | None:
    """Why the temporary folder (``tempfile.gettempdir()``: TMPDIR, /tmp, ...) cannot hold a file; None where it
    can. A file is made there, as Starlette makes one for each upload part over 1 MB."""
    try:
        with tempfile.TemporaryFile():
            return None
    except OSError as exc:  # FileNotFoundError "No usable temporary directory found in [...]", or a read-only one
        return one_line(str(exc))


def use_usable_temporary_folder(data_dir: Path) -> str | None:
    """Make sure this process's temporary files have a folder: where the system's cannot hold a file (a container's
    read-only root, TMPDIR unset or not writable), they go to ``<data_dir>/tmp`` instead, a container's writable
    volume: for this process (``tempfile.tempdir``) and the processes it starts (TMPDIR: a job's analysis).
    Without it, /healthz answered 500 with a traceback to every probe, and every upload over 1 MB 400 "There was an
    error parsing the body", with no line in the log. Returns the system folder's problem where the data folder's
    is used (said at start-up and in /healthz's warnings); None where the system's serves. NoTemporaryFolder where
    neither can hold a file."""
    problem = _temporary_folder_problem()
    if problem is None:
        return None
    folder = Path(data_dir).absolute() / TEMPORARY_FOLDER_NAME
    fallback_problem: str | None
    try:
        # (the data folder above it exists, 0700: create_app's JobStore made it first)
        folder.mkdir(parents=True, exist_ok=True, mode=PRIVATE_FOLDER)  # private: it holds uploads as they arrive
    except OSError as exc:
        fallback_problem = exc.strerror or str(exc)
    else:
        system_folder, tempfile.tempdir = tempfile.tempdir, str(folder)
        fallback_problem = _temporary_folder_problem()
        if fallback_problem is None:
            os.environ["TMPDIR"] = str(folder)
            return problem
        tempfile.tempdir = system_folder
    raise NoTemporaryFolder(f"no usable temporary folder: {problem}; nor {folder} ({fallback_problem}): set TMPDIR "
                            "to a writable folder, or give a writable --data-dir")


def remove_earlier_temporary_files(data_dir: Path, before: float) -> tuple[int, int]:
    """Delete what earlier runs of a server left in ``<data_dir>/tmp`` (the temporary folder it falls back to:
    :func:`use_usable_temporary_folder`), and return how many files went and their bytes. A server killed in the
    middle of an upload, or a job's analysis killed with it, left its temporary files there, and none was ever
    removed. Only what was last changed before ``before`` (this server's start) goes, and the caller holds the data
    folder's lock (:func:`data_folder_lock`): no other server, and none of this one's uploads, is using them. What
    cannot be removed (another user's file) is left, and so is fervid's matplotlib folder, kept on purpose
    (:func:`fervid.plotting.kept_folder_name`: a restart deleted its font cache, rebuilt by the next job)."""
    from fervid.plotting import kept_folder_name

    folder = Path(data_dir) / TEMPORARY_FOLDER_NAME
    removed_files = removed_bytes = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:  # none (the system's temporary folder has always served), or not a folder
        return 0, 0
    for entry in entries:
        if entry.name == kept_folder_name():  # matplotlib's, kept from run to run on purpose (its font cache)
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if info.st_mtime >= before:
                continue
            if entry.is_dir(follow_symlinks=False):
                files = [Path(where) / name for where, _, names in os.walk(entry.path) for name in names]
                sizes = [file.lstat().st_size for file in files]
                shutil.rmtree(entry.path)
                removed_files, removed_bytes = removed_files + len(files), removed_bytes + sum(sizes)
            else:
                os.unlink(entry.path)
                removed_files, removed_bytes = removed_files + 1, removed_bytes + info.st_size
        except OSError:
            continue
    return removed_files, removed_bytes


def _private_file(path, flags):
    """``open(..., opener=_private_file)``: a file the server writes is created 0600, whatever the umask (which
    is the process's, and fervid's library code leaves it alone)."""
    return os.open(path, flags, PRIVATE_FILE)


@dataclass
class ServerSettings:
    data_dir: Path = defaults.DATA_DIR
    max_upload_mb: float = defaults.MAX_UPLOAD_MB
    max_queued_jobs: int = defaults.MAX_QUEUED_JOBS
    workers: int = defaults.SERVER_WORKERS
    job_ttl_hours: float = defaults.JOB_TTL_HOURS
    pipeline: PipelineOptions = field(default_factory=PipelineOptions)  # model, detector, video settings
    live: LiveLimits = field(default_factory=LiveLimits)  # the /v1/live WebSocket's frame, rate, viewer bounds
    max_images_per_request: int = defaults.MAX_IMAGES_PER_REQUEST
    max_concurrent_images: int = 2  # images decoded and analysed at once; further requests wait their turn
    max_image_pixels: int = defaults.MAX_IMAGE_PIXELS  # decoded size per image
    max_video_pixels: int = MAX_FRAME_PIXELS  # a video frame's size: larger ones are refused (415) at upload
    frames_memory_mb: float = FRAMES_MEMORY_MB  # decoded frames a video job holds at once (VideoOptions')
    host: str = defaults.HOST  # the address served: answered as a Host name besides the local names
    allowed_hosts: tuple[str, ...] = ()  # more Host names to answer (e.g. behind a reverse proxy)
    allowed_origins: tuple[str, ...] = ()  # origins allowed to POST/DELETE (e.g. "https://app.example")
    # a queued job's log line names its upload (fervid serve --access-log, whose paths name it anyway); else the log
    # carries job ids and sizes, not file names (README, "Privacy and data protection")
    log_upload_names: bool = False

    def __post_init__(self):
        # zero workers would queue video jobs that never run; a zero or NaN limit would refuse (or admit) everything
        for name in ("max_upload_mb", "max_queued_jobs", "workers", "job_ttl_hours", "max_images_per_request",
                     "max_concurrent_images", "max_image_pixels", "max_video_pixels", "frames_memory_mb"):
            check_positive(name, getattr(self, name))
        # one limit: the server's analyzer reads images too (the live page's frames) and carries it; given in either
        # place it is the server's, given differently in both it is refused (an upload needs a limit: None is none)
        if self.pipeline.max_image_pixels != self.max_image_pixels:
            if self.max_image_pixels == defaults.MAX_IMAGE_PIXELS and self.pipeline.max_image_pixels is not None:
                self.max_image_pixels = self.pipeline.max_image_pixels
            elif self.pipeline.max_image_pixels != defaults.MAX_IMAGE_PIXELS:
                raise OptionError(f"max_image_pixels {self.max_image_pixels} and pipeline.max_image_pixels "
                                  f"{self.pipeline.max_image_pixels}: the server has one image limit, and uploads "
                                  "need one; give it once (ServerSettings.max_image_pixels, --max-image-megapixels)")
            self.pipeline = self.pipeline.replace(max_image_pixels=self.max_image_pixels)
        if self.pipeline.face_crops:  # it would be ignored: the server detects the faces of what it is sent
            raise ValueError("face_crops: fervid serve detects faces; classify images that are face crops with "
                             "`fervid image --face-crops` or analyze_image(image, face_crop=True)")

    def make_analyzer(self, **options):
        return self.pipeline.analyzer(**options)


def root_path_option(value: str) -> str:
    """``--root-path`` as the ASGI root_path: ``/fervid`` for ``fervid``, ``/fervid/`` or ``/fervid``; ``""`` for
    ``/`` or nothing. ValueError for a URL or anything else that is not a path."""
    path = value.strip().rstrip("/")
    if not path:
        return ""
    path = "/" + path.lstrip("/")
    if "://" in value or any(c in path for c in "?#% \\") or "//" in path:
        raise ValueError(f"--root-path must be the path a reverse proxy serves fervid under, such as /fervid, "
                         f"not {value!r}")
    return path


def _loopback(host: str) -> bool:
    import ipaddress

    try:
        return host.lower() == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_names_note(settings: ServerSettings) -> str | None:
    """The start-up line of a server bound to an address others can reach: which Host names it answers and how to
    add more (a neighbour's ``curl http://<machine IP>:8000/v1/...`` got 400, with nothing said when it started).
    None on a loopback address, where the local names are all a client can use."""
    if _loopback(settings.host):
        return None
    if "*" in settings.allowed_hosts:
        return ("answering every Host name (--allow-host '*'): a web page the user visits can reach this server "
                "by DNS rebinding; name the hosts instead where you can")
    wildcard = settings.host in ("0.0.0.0", "::", "")
    names = dict.fromkeys([*LOCAL_HOSTS, *([] if wildcard else [settings.host]), *settings.allowed_hosts])
    return (f"answering requests for the Host names {', '.join(names)} (others get 400, DNS-rebinding protection; "
            f"/healthz answers any): add the names clients use with --allow-host NAME, repeatable (this machine's "
            f"address or name, a proxy's or service's name), or --allow-host '*' for any")


def open_access_warning(settings: ServerSettings, port: int) -> str | None:
    """The start-up warning of a server bound to an address others can reach: it has no authentication (the Host
    check stops a DNS-rebinding page, not a person who can reach the address). None on a loopback address."""
    if _loopback(settings.host):
        return None
    where = f"this machine on port {port}" if settings.host in ("0.0.0.0", "::", "") else f"{settings.host}:{port}"
    return (f"warning: fervid has no authentication: anyone who can reach {where} can upload photos "
            "and videos, read every job's results (key frames and annotated videos show faces) and delete jobs; the "
            "Host-name check stops DNS rebinding, not them. To serve others, bind 127.0.0.1 behind a reverse proxy "
            "with TLS and authentication (README: \"Exposing the server\", \"Privacy and data protection\")")


class PlainHTTPException(HTTPException):
    """An HTTPException with a ``message`` for a person besides its ``detail`` (the answer's ``error``, which names
    the server's options for whoever runs it): the web page shows the message."""

    def __init__(self, status_code: int, detail: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(status_code, detail=detail, headers=headers)
        self.message = message


def _error_body(error: str, status: int, message: str | None = None) -> dict:
    return {"error": error, "status": status} | ({"message": message} if message else {})


async def _send_error(send, status: int, error: str, message: str | None = None,
                      headers: dict[str, str] | None = None) -> None:
    body = json.dumps(_error_body(error, status, message)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"),
                            *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items())]})
    await send({"type": "http.response.body", "body": body})


def _route_path(scope) -> str:
    """The path within the app: uvicorn's ``path`` starts with the ``root_path`` (--root-path); routes go by the
    rest."""
    path, root = scope.get("path", ""), scope.get("root_path", "").rstrip("/")
    if root and (path == root or path.startswith(root + "/")):
        return path[len(root):] or "/"
    return path


def _prefix(request: HTTPConnection) -> str:
    """The path prefix a reverse proxy serves the app under (--root-path), for the links the API answers."""
    return request.scope.get("app_root_path", request.scope.get("root_path", "")).rstrip("/")


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


class BodyLimit:
    """Counts a request's body as it streams in and answers 413 as soon as it passes ``limit`` bytes (all files
    of a multipart form together), before the form parser has written anything beyond the limit to disk."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = _header(scope, b"content-length")
        megabytes = f"{self.limit / 1024 / 1024:.2f}".rstrip("0").rstrip(".")  # 1024, 0.05: not 1.02e+03
        too_big = f"the upload is larger than this server takes: {megabytes} MB (fervid serve --max-upload-mb)"
        plain = (f"The file is too big: this server takes files of up to {megabytes} MB. Ask whoever runs the "
                 "server to raise the limit.")
        if declared and declared.isdigit() and int(declared) > self.limit:
            return await _send_error(send, 413, too_big, plain)
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    # FastAPI passes an HTTPException raised while it reads the body straight to the handler
                    raise PlainHTTPException(413, too_big, plain)
            return message

        return await self.app(scope, limited_receive, send)


def _queue_full(filename: str | None, max_queued_jobs: int) -> PlainHTTPException:
    """The answer to a video upload while ``max_queued_jobs`` are waiting: 429, with when to try again."""
    return PlainHTTPException(
        429, f"{filename or 'the video'}: the server's queue of video jobs is full ({max_queued_jobs}, "
             "--max-queued-jobs); try again later",
        f"The server is busy: {max_queued_jobs} video(s) are already waiting. Try again in a minute.",
        headers={"Retry-After": str(RETRY_QUEUED_S)})


class QueueFullCheck:
    """Refuses a video upload (POST /v1/videos) while the job queue is full, before a byte of its body is read: the
    429 came only after the whole upload (a client that sent ``Expect: 100-continue`` was told to go on, and sent
    9 MB for nothing). ``workers``: the server's :class:`VideoWorkers`, once it has started (None before). The
    route checks again as it queues the job: the queue may have filled while the upload came in."""

    def __init__(self, app, workers: Callable[[], VideoWorkers | None], path: str = "/v1/videos"):
        self.app, self.workers, self.path = app, workers, path

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "POST" and _route_path(scope) == self.path:
            workers = self.workers()
            if workers is not None and workers.full():
                refused = _queue_full(None, workers.settings.max_queued_jobs)
                return await _send_error(send, refused.status_code, refused.detail, refused.message,
                                         refused.headers)
        return await self.app(scope, receive, send)


class HostCheck:
    """Answers only requests whose Host header names this server (a DNS-rebinding page's requests carry the
    attacker's host name). ``open_paths`` answer any Host: /healthz, which names no job or file, is asked by container
    orchestrators and neighbours by an address or service name the server cannot know (a pod's IP, ``fervid:8000``)."""

    def __init__(self, app, allowed_hosts, open_paths=("/healthz",)):
        self.app, self.allowed = app, {h.lower().strip("[]") for h in allowed_hosts if h}
        self.open_paths = set(open_paths)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" or scope["type"] == "http" and _route_path(scope) not in self.open_paths:
            host = (_header(scope, b"host") or "").lower()
            name = host[1:].split("]")[0] if host.startswith("[") else host.rsplit(":", 1)[0] if host.count(":") == 1 \
                else host
            if name not in self.allowed and "*" not in self.allowed:
                if scope["type"] == "websocket":
                    return await send({"type": "websocket.close", "code": 1008})
                return await _send_error(send, 400, f"host {host!r} is not served here (see --allow-host)")
        return await self.app(scope, receive, send)


class OriginCheck:
    """Refuses state-changing requests (POST, PUT, PATCH, DELETE) sent by a page of another origin, so a web
    page the user visits cannot queue jobs or delete them; same-origin pages (by their Origin, or by the browser's
    ``Sec-Fetch-Site: same-origin``) and clients that send no Origin (curl, scripts) are unaffected.
    ``allowed_origins`` adds origins, e.g. a front end served elsewhere."""

    UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}

    def __init__(self, app, allowed_origins):
        self.app, self.allowed = app, {o.rstrip("/").lower() for o in allowed_origins}

    async def __call__(self, scope, receive, send):
        # a WebSocket is checked like a POST: a page elsewhere must not stream into (or record on) this server
        if scope["type"] == "websocket" or scope["type"] == "http" and scope["method"] in self.UNSAFE:
            origin = (_header(scope, b"origin") or "").rstrip("/").lower()
            fetch_site = (_header(scope, b"sec-fetch-site") or "").lower()
            host = (_header(scope, b"host") or "").lower()
            # a browser's own word (Sec-Fetch-Site, which no page can set) counts: behind a reverse proxy that
            # forwards its own Host (nginx's default), the page's Origin is the proxy's and never matches the Host
            same = fetch_site == "same-origin" or origin in ("", "null") and fetch_site in ("", "none") \
                or origin.split("://", 1)[-1] == host
            if not same and origin not in self.allowed and "*" not in self.allowed:
                if scope["type"] == "websocket":
                    return await send({"type": "websocket.close", "code": 1008})
                return await _send_error(send, 403, f"cross-origin request from {origin or 'another site'} refused "
                                                    "(see --allow-origin)")
        return await self.app(scope, receive, send)


class SecurityHeaders:
    """Adds to every HTTP answer the headers that keep a browser from misusing it: no MIME sniffing, no Referer
    (a job's URL is as good as its key), no framing (clickjacking), and a Content-Security-Policy that lets the
    pages load only their own scripts, styles, images and media (blob: for a photo drawn from the picked file,
    inline styles for the probability bars' widths; connect-src falls back to 'self', which covers the live page's
    WebSocket to its own host). The API docs (``unrestricted_paths``) run inline scripts: they get no policy.
    Every API answer (``/v1/...``: a photo's faces, a job's state, results, key frames and annotated video) is
    ``Cache-Control: no-store``: with only an ETag and Last-Modified, a shared lab PC's browser cache (or a proxy's)
    kept a job's faces after it was deleted or expired."""

    POLICY = ("default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
              "style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; form-action 'self'; "
              "frame-ancestors 'none'")
    HEADERS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
               (b"x-frame-options", b"DENY")]

    def __init__(self, app, unrestricted_paths=()):
        self.app, self.unrestricted = app, set(unrestricted_paths)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        added, path = self.HEADERS, _route_path(scope)
        if path not in self.unrestricted:
            added = [*added, (b"content-security-policy", self.POLICY.encode())]
        if path.startswith("/v1/"):
            added = [*added, (b"cache-control", b"no-store")]

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *added]}
            await send(message)

        return await self.app(scope, receive, send_with_headers)


class JSONCORSMiddleware(CORSMiddleware):
    """Starlette's CORS middleware, whose refused preflight (400) is fervid's JSON error like every other answer,
    not a text/plain "Disallowed CORS origin"."""

    def preflight_response(self, request_headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400 or not isinstance(response, PlainTextResponse):
            return response
        reason = bytes(response.body).decode("utf-8", "replace")
        headers = {k: v for k, v in response.headers.items() if k not in ("content-length", "content-type")}
        return JSONResponse({"error": f"CORS preflight refused: {reason[:1].lower()}{reason[1:]} (see --allow-origin)",
                             "status": 400}, status_code=400, headers=headers)


class JobStore:
    """Jobs as folders: ``job.json`` (status, progress, error) next to the input and the outputs."""

    def __init__(self, root: Path):
        # absolute: the analysis child works inside its job's folder (os.chdir), where a relative root such as the
        # default fervid-data/jobs names nothing, and every video job failed
        self.root = Path(root).absolute()
        self._make_root()
        self._lock = threading.Lock()

    def _make_root(self) -> None:
        # the data folder 0700 where this creates it (one that exists is the user's to set); the jobs folder 0700
        # even where it exists: it is fervid's own, and one made by an older fervid was 0755
        self.root.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_FOLDER)
        self.root.mkdir(exist_ok=True, mode=PRIVATE_FOLDER)
        os.chmod(self.root, PRIVATE_FOLDER)

    def make_folder(self, name: str) -> Path:
        """A new folder in the store (a job's, a live recording's), private to the server's user; the store's own
        folder again where it was removed under the server (a /tmp cleaner)."""
        if not self.root.is_dir():
            self._make_root()
        folder = self.root / name
        folder.mkdir(mode=PRIVATE_FOLDER)
        return folder

    @staticmethod
    def make_private(folder: Path) -> None:
        """Every folder under ``folder`` 0700 and file 0600 (a live session's recording, written by the server's
        own threads under the process's umask)."""
        for path in (folder, *folder.rglob("*")):
            os.chmod(path, PRIVATE_FOLDER if path.is_dir() else PRIVATE_FILE)

    def folder(self, job_id: str) -> Path:
        if not JOB_ID.match(job_id):  # ids are uuid4 hex: nothing else can name a folder
            raise HTTPException(404, detail=f"no job {job_id!r}")
        return self.root / job_id

    def read(self, job_id: str) -> dict:
        path = self.folder(job_id) / "job.json"
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, NotADirectoryError):  # never made, or deleted (even while this read it)
            raise HTTPException(404, detail=f"no job {job_id!r}") from None

    def read_quiet(self, job_id: str) -> dict:
        try:
            return self.read(job_id)
        except (HTTPException, json.JSONDecodeError, OSError):
            return {}

    def write(self, job_id: str, **fields) -> dict:
        with self._lock:  # this process's threads; the job's analysis process writes it too, each into its own file
            path = self.folder(job_id) / "job.json"
            state = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
            state.update(fields, updated=time.time())
            # a file of this write's own (0600), never one another process is writing: with one name for all
            # (job.tmp), the server's write cut the analysis process's short or moved it away under it
            handle, tmp = tempfile.mkstemp(prefix="job.", suffix=".tmp", dir=path.parent)
            try:
                with open(handle, "w", encoding="utf-8") as fh:
                    fh.write(json_text(state, indent=None))
                # atomic: a crash never leaves half a job.json; tried again while Windows refuses it as the
                # page's poll (every 500 ms) holds it open
                replace_retrying(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            return state

    def all(self) -> list[dict]:
        out: list[dict] = []
        if not self.root.is_dir():  # removed under the server (a /tmp cleaner): no jobs; an upload makes it again
            return out
        for folder in self.root.iterdir():
            if JOB_ID.match(folder.name) and (folder / "job.json").is_file():
                try:
                    out.append(json.loads((folder / "job.json").read_text(encoding="utf-8")))
                except (json.JSONDecodeError, FileNotFoundError):  # deleted since it was listed
                    continue
        return out

    def abandoned(self, idle_s: float) -> list[str]:
        """Job folders that never got their job.json and have not changed for ``idle_s`` seconds: an upload that
        failed as it was stored (a full disk, a crash). all() skips them, so neither the TTL nor DELETE reached them,
        and the partial upload (someone's face) stayed for good. A job being made is safe: its upload is written into
        its folder piece by piece and its job.json follows within seconds, so the folder is never idle that long."""
        if not self.root.is_dir():
            return []
        cutoff = time.time() - idle_s
        found = []
        for folder in self.root.iterdir():
            if not JOB_ID.match(folder.name) or (folder / "job.json").exists():
                continue
            try:  # the folder's own time changes as files come and go; a file's as it is written
                changed = max([folder.stat().st_mtime, *(entry.stat().st_mtime for entry in os.scandir(folder))])
            except OSError:  # removed meanwhile
                continue
            if changed < cutoff:
                found.append(folder.name)
        return found

    def exists(self, job_id: str) -> bool:
        return (self.folder(job_id) / "job.json").is_file()

    def delete(self, job_id: str) -> None:
        folder = self.folder(job_id)
        # job.json first: a request reading the job's files that then misses one knows the job is gone (a 404), not
        # broken
        (folder / "job.json").unlink(missing_ok=True)
        shutil.rmtree(folder, ignore_errors=True)

    def drop_unneeded(self, job_id: str) -> None:
        """Delete what a finished job no longer needs: its uploaded original, done or failed (the API serves only
        the outputs, and a finished job is never run again: only an unfinished one is, after a restart, and it
        keeps its upload until then), and a failed job's outputs (:meth:`drop_outputs`)."""
        job = self.read_quiet(job_id)
        if job.get("status") == "failed":
            self.drop_outputs(job_id)
        if job.get("status") in FINISHED and job.get("input"):  # a saved live session has none
            try:
                (self.folder(job_id) / Path(job["input"]).name).unlink(missing_ok=True)
            except OSError:
                pass

    def drop_outputs(self, job_id: str) -> None:
        """Delete a job's outputs (``out/``): a failed job's are partial files nothing serves (its /result and files
        answer 409), and they held the disk for the whole TTL: two uploads that failed on a full disk left it full,
        and every later upload was refused (507) for 24 h."""
        shutil.rmtree(self.folder(job_id) / "out", ignore_errors=True)

    def record_failure(self, job_id: str, error: str | None, **fields) -> dict:
        """Record a job as failed with its ``error``: its outputs deleted first, which frees the disk the failure
        may have been for (a full one), so that job.json can be written."""
        self.drop_outputs(job_id)
        return self.write(job_id, status="failed", finished=time.time(), error=error, **fields)


class VideoWorkers:
    """A bounded queue and worker threads; each job runs in its own process at a lower CPU priority, so the
    analysis never holds the server's GIL and /healthz and image requests stay responsive during a video job."""

    def __init__(self, store: JobStore, settings: ServerSettings):
        self.store = store
        self.settings = settings
        # unbounded underneath: the bound applies to new submissions (429), never to jobs recovered at start-up
        self.queue: queue.Queue[str] = queue.Queue()
        # queued, not yet taken by a worker, not deleted, in the order they were queued: what the bound counts
        self.waiting: dict[str, None] = {}
        # taken by a worker, until its analysis has ended (and the worker is done with it: the event is set then)
        self.running: dict[str, threading.Event] = {}
        self.cancelled: set[str] = set()  # deleted while queued or running
        self.stopping = threading.Event()
        self._submit_lock = threading.Lock()
        self.threads = [threading.Thread(target=self._work, daemon=True) for _ in range(settings.workers)]
        for t in self.threads:
            t.start()

    def submit(self, job_id: str, recovered: bool = False, upload: str | None = None) -> bool:
        """Queue a job; False (the caller answers 429) when ``max_queued_jobs`` are already waiting, except for
        a job recovered at start-up, which always queues. ``upload``: what the log line saying it is queued says
        of its upload (a new job's), said before a worker can say it started."""
        with self._submit_lock:
            if not recovered and self._full():
                return False
            if upload is not None:
                log.info("video job %s queued (%s)", job_id, upload)
            self.waiting[job_id] = None
            self.queue.put(job_id)
            return True

    def _full(self) -> bool:
        return len(self.waiting) >= self.settings.max_queued_jobs

    def full(self) -> bool:
        """Whether a new job would be refused (``max_queued_jobs`` are waiting for a worker)."""
        with self._submit_lock:
            return self._full()

    def counts(self) -> dict[str, int]:
        """Jobs waiting for a worker and jobs being analysed (recovered ones too), without reading the job store."""
        with self._submit_lock:
            return {"queued": len(self.waiting), "running": len(self.running)}

    def waiting_for(self, job_id: str) -> int | None:
        """How many other jobs must end before a queued job starts: those queued before it and those being analysed,
        less the other workers that will be free for it (the page said "queued 0%" for a minute, without saying
        why); None where it is not queued here (running, finished, deleted)."""
        with self._submit_lock:
            if job_id not in self.waiting:
                return None
            ahead = list(self.waiting).index(job_id)
            return max(0, ahead + len(self.running) - self.settings.workers + 1)

    def cancel(self, job_id: str, wait_s: float = 10.0) -> None:
        """A deleted job: not run if still queued (its place is free at once); stopped if running, and waited for
        (``wait_s`` at most), so that its folder is deleted after its analysis process and encoder have stopped:
        deleted under them, the process's next write raised a traceback into the server's log, and FFmpeg's "Unable
        to re-open ... output file" followed."""
        with self._submit_lock:
            self.waiting.pop(job_id, None)
            self.cancelled.add(job_id)
            ended = self.running.get(job_id)
        if ended is not None:
            ended.wait(wait_s)

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
            with self._submit_lock:
                self.waiting.pop(job_id, None)
                if job_id in self.cancelled:
                    self.cancelled.discard(job_id)
                    continue
                self.running[job_id] = threading.Event()
            interrupted = False
            try:
                interrupted = self._run(ctx, job_id)
            except Exception:  # a worker that died took its place in the pool with it: no job ran on it again
                log.exception("video job %s", job_id)
            finally:
                with self._submit_lock:
                    self.running.pop(job_id).set()
            # its analysis was stopped by a signal while this server goes on: queued again once the server has had
            # time to begin stopping (systemd signals the server and the analysis together; the job then runs at
            # the next start, as after any other stop)
            if interrupted and not self.stopping.wait(INTERRUPTED_REQUEUE_WAIT_S) and self.store.exists(job_id):
                log.warning("video job %s: its analysis was stopped by a signal; it is queued again", job_id)
                self.submit(job_id, recovered=True)

    def _run(self, ctx, job_id: str) -> bool:
        """Analyse one job taken from the queue in its own process, until it ends or is stopped; its end is a line in
        the server's log: done, with its time, or failed, with its error (it was said only to a client asking for
        the job). True where its analysis was interrupted by a signal (the job is queued again)."""
        try:
            return self._analyse(ctx, job_id)
        finally:
            job = self.store.read_quiet(job_id)
            if job.get("status") == "failed":
                # (its error may carry FFmpeg's words, which name the upload's outputs)
                log.warning("video job %s failed: %s", job_id,
                            self._loggable(job_id, job, one_line(str(job.get("error")))))
            elif job.get("status") == "done":
                took = f" in {job['finished'] - job['started']:.1f} s" if job.get("started") and job.get("finished") \
                    else ""
                log.info("video job %s done%s%s", job_id, took,
                         ", partial (its error says where the video broke)" if job.get("partial") else "")

    def _loggable(self, job_id: str, job: dict, said: str) -> str:
        """A job's analysis messages as the log may keep them: FFmpeg names its output files, which are named after
        the upload (``out/Intérview 01_annotated.mp4``), and the log names no upload unless --access-log
        (log_upload_names; README, "Privacy and data protection"): the job folder's paths go, and the upload's
        name and its outputs' stem are "the upload"."""
        folder = self.store.folder(job_id)
        for root in sorted({str(folder), str(folder.resolve())}, key=len, reverse=True):
            said = said.replace(root + os.sep, "").replace(root, "")
        if self.settings.log_upload_names:
            return said
        for name in sorted({n for n in (job.get("filename"), job.get("stem"),
                                        Path(job.get("filename") or "").stem) if n}, key=len, reverse=True):
            # as a name, not inside a word: an upload named c.mp4 made "process" "prothe uploadess" (a stem may be
            # followed by its outputs' "_annotated.mp4")
            said = re.sub(rf"(?<![\w.-]){re.escape(name)}(?![^\W_])", "the upload", said)
        return said

    def _analyse(self, ctx, job_id: str) -> bool:
        if not self.store.exists(job_id):  # deleted meanwhile
            return False
        # an orphan of a killed server (it ends itself at once): never two runs into one folder
        if not _earlier_analysis_ended(self.store.folder(job_id), EARLIER_ANALYSIS_WAIT_S):
            self.store.record_failure(job_id, "a previous analysis of this job is still running")
            self.store.drop_unneeded(job_id)
            return False
        job = self.store.write(job_id, status="running", progress=0.0, started=time.time(), pid=None)
        log.info("video job %s started%s", job_id, f" (restart {job['restarts']})" if job.get("restarts") else "")
        messages = AnalysisMessages(ctx)
        proc = ctx.Process(target=_run_job, args=(str(self.store.root), job_id, self.settings, messages.writer),
                           daemon=True)
        proc.start()
        messages.read()
        self.store.write(job_id, pid=proc.pid)  # for people (and tests) looking for it; the lock tells if it runs
        while proc.is_alive():
            proc.join(0.2)
            if job_id in self.cancelled or self.stopping.is_set():
                _stop_with_helpers(proc)
        if said := messages.said():  # ahead of the job's own line, whose error may point "above" to them
            log.warning("video job %s: its analysis said: %s", job_id, self._loggable(job_id, job, said))
        stopped = job_id in self.cancelled or self.stopping.is_set()
        # SIGTERM or SIGINT from outside (systemd stops a service by signalling its every process, the server's
        # analyses with it): the job was interrupted, not broken; it failed for good with "exited with -15"
        interrupted = not stopped and proc.exitcode in INTERRUPTING_EXIT_CODES
        if (self.store.root / job_id).is_dir():
            if interrupted:  # its upload stays: run again, from the start
                restarts = self.store.read_quiet(job_id).get("restarts", 0) + 1
                self.store.write(job_id, status="queued", progress=0.0, pid=None, restarts=restarts)
            elif proc.exitcode not in (0, None) and not stopped:
                self.store.record_failure(job_id, analysis_exit_error(proc.exitcode), pid=None)
            else:
                self.store.write(job_id, pid=None)
            self.store.drop_unneeded(job_id)  # the child drops it itself; not where it died before it could
        self.cancelled.discard(job_id)
        return interrupted


def analysis_exit_error(exitcode: int) -> str:
    """The error of a job whose analysis process ended with ``exitcode`` (not 0): a signal by its name (the exit
    code is minus its number), and SIGKILL, the OOM killer's, with the server's options that lower a job's memory
    (the job said only "analysis process exited with -9")."""
    if exitcode >= 0:
        return f"analysis process exited with {exitcode}"
    try:
        name = signal.Signals(-exitcode).name
    except ValueError:
        return f"analysis process was ended by signal {-exitcode}"
    if name == "SIGKILL":
        return ("analysis process was killed (SIGKILL), most often because memory ran out (the kernel's OOM killer, "
                "or a container's memory limit): the server's --frames-memory-mb and --max-video-megapixels lower "
                "what a job holds, and fewer --workers run fewer jobs at once")
    return f"analysis process was ended by {name} (signal {-exitcode})"


class AnalysisMessages:
    """What a job's analysis process writes on its standard error, and the FFmpeg processes it starts (the annotated
    video's encoder): read by the server through a pipe instead of going into the server's stderr as they were, raw,
    many lines for one failure and naming no job (``[out#0/mp4 @ 0x558c...] Error writing trailer: No space left on
    device`` among fervid's lines). The last :data:`ANALYSIS_MESSAGES_KEPT` distinct ones make one log line that
    names the job. Where the platform cannot hand a pipe to the process as its stderr (Windows), they go to the
    server's stderr as before."""

    def __init__(self, ctx):
        self.lines: list[str] = []
        self._reader = self.writer = None
        self._thread: threading.Thread | None = None
        if os.name == "posix":
            self._reader, self.writer = ctx.Pipe(duplex=False)

    def read(self) -> None:
        """Begin reading, once the process has started (and holds its own end of the pipe)."""
        if self._reader is None:
            return
        self.writer.close()  # the process's copy (and its FFmpeg's) stays open: the pipe ends when they do
        self._thread = threading.Thread(target=self._read_all, daemon=True)
        self._thread.start()

    def _read_all(self) -> None:
        assert self._reader is not None
        with self._reader, open(self._reader.fileno(), "rb", closefd=False) as pipe:
            for raw in pipe:
                line = _analysis_message(raw.decode("utf-8", "replace"))
                if line and line not in self.lines:
                    self.lines = [*self.lines, line][-ANALYSIS_MESSAGES_KEPT:]

    def said(self, wait_s: float = 5.0) -> str:
        """The messages, as one line ("" for none); waits ``wait_s`` at most for an FFmpeg still holding the pipe."""
        if self._thread is not None:
            self._thread.join(wait_s)
        return " | ".join(self.lines)


def _analysis_message(line: str) -> str | None:
    """One line of an analysis's stderr as its log line keeps it: without FFmpeg's memory addresses (``[out#0/mp4 @
    0x558c47e015c0]`` is ``[out#0/mp4]``), cut to :data:`ANALYSIS_MESSAGE_CHARS`; None for a blank line and FFmpeg's
    "Last message repeated N times"."""
    line = one_line(re.sub(r" @ 0x[0-9a-fA-F]+\]", "]", line.strip()))
    if not line or line.startswith("Last message repeated"):
        return None
    return line if len(line) <= ANALYSIS_MESSAGE_CHARS else line[:ANALYSIS_MESSAGE_CHARS - 1] + "…"


def _analysis_lock(folder: Path) -> FolderLock:
    """Held by a job's analysis process for as long as it runs, and released by the OS as it ends, killed or not:
    whether an earlier analysis of a job still runs, whatever the system (Windows' and macOS's have no /proc to
    tell a process's start time by) and whichever process has the pid it had by now."""
    return FolderLock(folder, "an analysis of this job", "wait for it to end", name="analysis.lock",
                      doing="is still running", removed=True, mode=PRIVATE_FILE)


def _earlier_analysis_ended(folder: Path, timeout: float) -> bool:
    """Wait (``timeout`` seconds at most) for an earlier analysis of the job in ``folder`` to end; True once none
    runs."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with _analysis_lock(folder):
                return True
        except FolderLocked:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` (one of a job's helpers, found in /proc) still runs: a zombie has ended, it waits
    only for a parent (init, once its own was killed)."""
    fields = _proc_stat_fields(pid)
    return fields is not None and fields[0] != "Z"


# Linux describes each process in /proc/<pid>/stat: a job's helpers are found there (elsewhere they end with it)
_HAS_PROC = Path("/proc/self/stat").is_file()


def _proc_stat_fields(pid: int) -> list[str] | None:
    """Process ``pid``'s /proc/<pid>/stat fields from the third on (state, ppid, ..., start time at index 19): the
    name before them is in parentheses and may hold spaces and ")". None where it cannot be read (no /proc, or the
    process ended)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields if len(fields) > 19 else None


def _process_started(pid: int) -> str | None:
    """When process ``pid`` started (Linux: clock ticks since boot, /proc/<pid>/stat field 22), which with the pid
    names one process; None where that cannot be read (no /proc, or the process ended)."""
    fields = _proc_stat_fields(pid)
    return fields[19] if fields else None


def _children(pid: int) -> list[tuple[int, str]]:
    """The processes ``pid`` started, each with its start time (Linux: from /proc); none where that cannot be read."""
    found: list[tuple[int, str]] = []
    for entry in Path("/proc").iterdir() if _HAS_PROC else ():
        if entry.name.isdigit():
            fields = _proc_stat_fields(int(entry.name))  # None: ended meanwhile
            if fields and int(fields[1]) == pid:
                found.append((int(entry.name), fields[19]))
    return found


def _stop_with_helpers(proc) -> None:
    """Stop a job's analysis process and the FFmpeg processes it started (the annotated video's encoder, a decoder,
    each in its own process group): left to themselves, they ran on after it, and the encoder finished its file
    after the job was deleted ("Unable to re-open ... output file" in the server's log)."""
    helpers = _children(proc.pid)
    proc.terminate()
    proc.join(5)
    if proc.is_alive():
        proc.kill()
        proc.join()
    for pid, started in helpers:
        if _process_started(pid) == started:  # still that process, not another that got its pid since
            try:
                os.kill(pid, signal.SIGKILL)  # its output is of a job deleted, or run again from scratch
            except OSError:
                pass
    for pid, started in helpers:  # a kill is delivered in its own time: gone before the job's folder is
        _wait_exit(pid, started, timeout=5.0)


def _wait_exit(pid: int, started: str, timeout: float) -> None:
    """Wait (``timeout`` seconds at most) for a process to end, or ``pid`` to be another process's: one whose start
    time is not ``started``."""
    deadline = time.time() + timeout
    while _alive(pid) and _process_started(pid) == started and time.time() < deadline:
        time.sleep(0.1)


def _kept_in_name(character: str, first: bool = False) -> bool:
    """Whether a job's file names keep ``character`` of an uploaded name (each other one is written "_"): letters
    and digits of any script, "_", ".", "-", "(", ")" and the space; past a name's first character, combining marks
    (Unicode's Mn, Mc, Me: Devanagari's, Thai's and Tamil's vowel signs, Hebrew's points, which no composed form
    holds: "हिंदी" was "ह__द_") and the zero-width joiners; non-ASCII symbols (emoji, "©": no system's file
    names refuse them). Never a path's separator, a control character or a bidirectional control (U+202E showed
    "evil\u202egnp.mp4" as "evilmp4.png")."""
    if character.isalnum() or character in "_.- ()":
        return True
    if character.isascii():
        return False
    category = unicodedata.category(character)
    # (Sk: the emoji skin tones, U+1F3FB-U+1F3FF; ASCII's "^" and "`" are not kept, above)
    return category in ("So", "Sk") or (not first and (category in ("Mn", "Mc", "Me") or character in JOINERS))


def is_file_name(name: str) -> bool:
    """Whether ``name`` may be one of a job's output files: a name :func:`_input_name` could have made, not hidden
    (no leading "."), that fits a file name (no OS "name too long" error)."""
    return (bool(name) and not name.startswith(".")
            and all(_kept_in_name(character, first=index == 0) for index, character in enumerate(name))
            and len(name.encode()) <= NAME_MAX)  # (no surrogate is kept: each name encodes)


def _input_name(uploaded: str | None) -> str:
    """The name a job stores its upload under: the uploaded name where it is a plain file name (each output is
    named after it, and the saved JSON names the video and its key frames as they download: stored as input.mp4,
    tracks.json said "input.mp4"), with characters a path or URL would trip on replaced, and cut as every
    output's stem is where its outputs' names would be too long (fitted_stem; cut to 100 characters, a Chinese name
    was 300 bytes: the upload could not be written). Composed (NFC) first: macOS sends "ü" as "u" and a combining
    diaeresis, which was replaced ("Mu_ller"); a Windows device name gets a "_" before it ("_CON.mp4"): Windows
    cannot store it. Letters keep their combining marks (:func:`_kept_in_name`)."""
    path = Path(unicodedata.normalize("NFC", uploaded or "").replace("\\", "/").rsplit("/", 1)[-1])
    stem = path.stem.strip(" .")
    stem = "".join(character if _kept_in_name(character, first=index == 0) else "_"
                   for index, character in enumerate(stem))
    stem = fitted_stem("_" + stem if WINDOWS_DEVICE_NAME.fullmatch(stem) else stem) or "video"
    suffix = path.suffix.lower()
    return stem + (suffix if suffix in VIDEO_SUFFIXES else ".mp4")


def _sent_name(upload: UploadFile) -> str | None:
    """An upload's file name as the person's file has it: browsers send a '"', CR and LF in a multipart file name
    as %22, %0D and %0A (the HTML standard's form encoding), which Starlette passes on as sent. (A name that had
    "%22" in it is read as '"': browsers leave "%" as it is, so the two cannot be told apart.)"""
    if upload.filename is None:
        return None
    return re.sub("%(22|0D|0A)", lambda escape: chr(int(escape[1], 16)), upload.filename, flags=re.IGNORECASE)


async def _one_video_file(request: Request, file: UploadFile = File(...)) -> UploadFile:
    """The upload of ``POST /v1/videos``; a second file was silently dropped: a job takes one video."""
    files = (await request.form()).getlist("file")  # parsed once: Starlette keeps the form FastAPI read
    if len(files) > 1:
        raise HTTPException(422, detail=f"{len(files)} files in one request; a video job takes one "
                                        "(post each video on its own)")
    return file


def _errors(**described: str) -> dict:
    """OpenAPI ``responses`` for error statuses, each with fervid's error body (FastAPI would list only 422, with
    its own validation schema, which the server never sends)."""
    return {int(code.removeprefix("e")): {"model": ErrorOut, "description": text} for code, text in described.items()}


# Every /v1 request can meet these: the Host check and a malformed request (the origin check and the body limit are
# for the requests that change something, CHANGE_ERRORS; /healthz answers any Host and takes nothing to be malformed)
HOST_REFUSED = "the Host header names no address this server serves (see --allow-host)"
COMMON_ERRORS = _errors(e400=HOST_REFUSED,
                        e422="the request is malformed: a missing file, a bad or unknown query parameter",
                        e500="an internal error: a bug (the server's log has its traceback)")
CHANGE_ERRORS = COMMON_ERRORS | _errors(e403="a state-changing request from a page of another origin (see "
                                             "--allow-origin)")
UPLOAD_ERRORS = CHANGE_ERRORS | _errors(
    e400=f"{HOST_REFUSED}; or the multipart/form-data body is malformed (no boundary, a broken part)",
    e500="an internal error (a bug: the server's log has its traceback), or an upload over 1 MB that the server's "
         "temporary folder could not hold (the log says why)",
    e507="the server's disk is full (its data folder or its temporary folder): the upload could not be stored")
NOT_MULTIPART = "; a body that is not multipart/form-data (a raw image or video: curl --data-binary) is a 415 too"
NO_JOB = COMMON_ERRORS | _errors(e404="no such job (never queued, deleted, or expired after --job-ttl-hours)")
NOT_DONE = NO_JOB | _errors(e409="the job is not done yet, or failed")
# what GET /v1/jobs/{id}/files/{name} answers, by the file's name (FileResponse guesses from the suffix)
FILE_TYPES = {200: {"description": "the file: an annotated video, a timeline or key frame, a per-frame table, the "
                                   "tracks JSON (Parquet has no registered type: application/octet-stream)",
                    "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in (
                        "video/mp4", "image/png", "text/csv", "application/json", "application/octet-stream")}}}


@contextmanager
def _deleted_meanwhile(store: JobStore, job_id: str):
    """Reading a job's outputs: a job deleted (DELETE, the TTL) after its job.json was read is a 404, as it is a
    moment later, not a 500. A file missing from a job that is still there stays an internal error."""
    try:
        yield
    except FileNotFoundError:
        if store.exists(job_id):
            raise
        raise HTTPException(404, detail=f"job {job_id} was deleted") from None


def _ended(job: dict) -> float | None:
    """When a finished (done or failed) job ended, which its time to live counts from; None for one that has not.
    Its ``finished`` time, not its last change: the server's own write after its analysis process ended (pid: null)
    moved the deletion time a page had been told by a second. A job an earlier fervid failed has its last change."""
    if job.get("status") not in FINISHED:
        return None
    return job.get("finished") or job.get("updated")


def _check_done(job_id: str, job: dict) -> None:
    if job["status"] != "done":
        why = f": {job['error']}" if job["status"] == "failed" and job.get("error") else ""
        raise HTTPException(409, detail=f"job {job_id} is {job['status']}, not done{why}")


def _plain(message: str) -> str:
    """A validation message for a client: a multipart part without a file name arrives as text, not a file, and
    pydantic's words for that name a Python class."""
    if "Expected UploadFile" in message:
        return "not a file (each part must be a file upload, with a file name)"
    return re.sub(r"\s*<class '[^']*'>", "", message)


@overload
def _public_message(text: str, folder: Path, stored: str, filename: str | None) -> str: ...


@overload
def _public_message(text: str | None, folder: Path, stored: str, filename: str | None) -> str | None: ...


def _public_message(text: str | None, folder: Path, stored: str, filename: str | None) -> str | None:
    """An error for a client: the job's stored input (``<folder>/<stored>``, or ``stored`` relative to it)
    becomes the uploaded file's name, and no other path of the job folder is left."""
    if text is None:
        return None
    for root in sorted({str(folder), str(folder.resolve())}, key=len, reverse=True):
        text = text.replace(root + os.sep, "").replace(root, "")
    return re.sub(rf"(?<![\w.-]){re.escape(stored)}(?![\w.-])", lambda _: filename or "the upload", text)


def _run_job(root: str, job_id: str, settings: ServerSettings, messages=None) -> None:
    """In a child process: analyse one queued video, writing progress and the outcome into its job.json; it ends
    with the server that started it, and holds the job's analysis lock for as long as it runs. ``messages``: the
    pipe (:class:`AnalysisMessages`' end) that becomes its stderr, and its FFmpeg processes'."""
    if messages is not None:
        os.dup2(messages.fileno(), 2)
        messages.close()
    end_with_parent()  # a restarted server, which queues the job again, never races an orphan over its outputs
    # Ctrl-C in a terminal reaches the server's whole process group: the server stops its analyses itself (the job
    # runs again at the next start), and this one, ended by a KeyboardInterrupt first, failed its job ("exited with
    # 1") and printed a traceback into the server's log
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with _analysis_lock(Path(root) / job_id):
        _analyse_job(root, job_id, settings)


def _progress_writer(store: JobStore, job_id: str):
    """The analysis's progress callback: the share done into job.json, twice a second at most. A write that fails
    (a full disk; Windows refusing a replace for longer than its retries) is logged, once, and the analysis goes
    on: progress is a hint, and failing on it failed the job."""
    last = [0.0]
    logged = [False]

    def progress(done, total):
        now = time.time()
        if total and now - last[0] > 0.5:
            last[0] = now
            try:
                store.write(job_id, progress=round(min(done / total, 1.0), 3))
            except OSError as exc:
                if not logged[0]:
                    logged[0] = True
                    log.warning("video job %s: its progress could not be written (%s); the analysis goes on",
                                job_id, exc)

    return progress


def _analyse_job(root: str, job_id: str, settings: ServerSettings) -> None:
    import cv2

    # this process is the job's own (spawned for it), so its umask touches the server's writes only: every output,
    # the encoder's MP4 included, is 0600 (its folder is 0700 anyway)
    os.umask(0o077)
    lower_priority()  # the server process keeps priority; the encoder subprocess inherits this
    cv2.setNumThreads(1)
    store = JobStore(Path(root))
    job = store.read(job_id)
    folder = store.folder(job_id)
    progress = _progress_writer(store, job_id)
    filename = job.get("filename")
    shutil.rmtree(folder / "out", ignore_errors=True)  # a re-run after a restart starts clean
    model = settings.pipeline.model
    # a model folder (or a file of one) given relative to the server's folder: the job runs in its own folder
    if not is_shipped_name(model) and Path(model).exists():
        settings = dataclasses.replace(settings, pipeline=settings.pipeline.replace(model=str(Path(model).resolve())))
    video_options = settings.pipeline.video(annotate=job.get("annotate", True),
                                            max_frame_pixels=settings.max_video_pixels,
                                            frames_memory_mb=settings.frames_memory_mb)
    try:
        # where Windows limits paths: refused before a frame is read, naming the server's option (and the upload)
        if (too_long := output_paths_error(settings.data_dir, Path(job["input"]).stem, "--data-dir",
                                           under=os.path.relpath(folder / "out", settings.data_dir))) is not None:
            raise too_long
        os.chdir(folder)  # relative paths: no server path ends up in the outputs (tracks.json names the upload)
        result = VideoAnalyzer(settings.make_analyzer(threads=1), video_options).run(Path(job["input"]), Path("out"),
                                                                                     progress=progress)
        # a video that broke mid-way keeps its results up to the break: "done", flagged partial, with the reason
        usable = result.ok or result.frames_analysed > 0
        error = _public_message(result.error, folder, job["input"], filename)
        if usable:
            store.write(job_id, status="done", partial=not result.ok, progress=1.0, error=error,
                        finished=time.time(), stem=Path(job["input"]).stem)
        else:
            store.record_failure(job_id, error)
    except Exception as exc:  # a bad video fails its job, never the server
        store.record_failure(job_id, _public_message(str(exc), folder, job["input"], filename))
    # the analysis has ended: the original upload goes (a done job's outputs stay until the TTL)
    store.drop_unneeded(job_id)


def _known_query_only(connection: HTTPConnection) -> None:
    """Refuse a /v1 request with a query parameter its endpoint does not take: ``?method=mean`` on an upload
    was ignored, and the video analysed with the server's own settings without a word."""
    route = connection.scope.get("route")
    path = _route_path(connection.scope)
    if connection.scope["type"] != "http" or not path.startswith("/v1/") or route is None:
        return
    known = {param.alias for param in route.dependant.query_params}
    unknown = sorted(set(connection.query_params) - known)
    if unknown:
        takes = f"it takes {', '.join(sorted(known))}" if known else "it takes none"
        raise HTTPException(422, detail=f"unknown query parameter(s) {', '.join(unknown)} for {path} "
                                        f"({takes}; the analysis settings are the server's: see fervid serve --help)")


def data_folder_lock(data_dir: Path) -> FolderLock:
    """One server per data folder: a second one would queue the first one's running jobs again and delete their
    outputs to start them afresh. A data folder this creates is private to the server's user (0700); one that
    exists is left as it is (its ``jobs`` folder, which holds everything of a job, is made 0700 by the store)."""
    Path(data_dir).mkdir(parents=True, exist_ok=True, mode=PRIVATE_FOLDER)
    return FolderLock(data_dir, "another fervid server", "stop it, or give this one another --data-dir",
                      mode=PRIVATE_FILE)  # private, as every file of the server's: it names the process


REDOC_SCRIPT_URL = "/static-offline-docs/redoc.standalone.js"  # where FastAPIOffline serves it


@functools.cache
def _redoc_script() -> bytes:
    import fastapi_offline

    script = Path(fastapi_offline.__file__).parent / "static" / "redoc.standalone.js"
    return re.sub(rb'"https://cdn\.redoc\.ly/[^"]*"', b'"data:,"', script.read_bytes())  # the logo hides itself


async def _redoc_script_offline(request: Request) -> Response:
    return Response(_redoc_script(), media_type="text/javascript")


def _with_answer_schemas(app: FastAPI, *models: type[BaseModel]) -> None:
    """List ``models`` among ``/openapi.json``'s component schemas too: answers a route gives besides its documented
    one (``POST /v1/images?csv=true``'s :class:`ImagesWithCsvOut`), which FastAPI leaves out (a route has one model
    per status, and a second for 200 would replace the first), so a client generated from the schema had no type
    for them. Their nested models are FastAPI's own (the same names, as answers: pydantic's serialization mode)."""
    make_openapi = app.openapi

    def openapi() -> dict:
        document = app.openapi_schema
        if document is None:
            document = make_openapi()  # (kept as app.openapi_schema: made once)
            _, schemas = models_json_schema([(model, "serialization") for model in models],
                                            ref_template="#/components/schemas/{model}")
            components = document.setdefault("components", {}).setdefault("schemas", {})
            for name, schema in schemas.get("$defs", {}).items():
                components.setdefault(name, schema)
        return document

    app.openapi = openapi  # type: ignore[method-assign]  # (FastAPI's documented way to extend its schema)


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    from fervid.inference.images import set_up_pillow_for_fervid

    set_up_pillow_for_fervid()  # a server owns its process; each upload's declared size is checked before decoding
    settings = settings or ServerSettings()
    created = time.time()  # what is older in the data folder's temporary folder is left from earlier runs
    store = JobStore(Path(settings.data_dir) / "jobs")
    # before the first request: uploads over 1 MB are spooled to it (NoTemporaryFolder: the server cannot start)
    state: dict = {"temporary_folder_problem": use_usable_temporary_folder(settings.data_dir)}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        with data_folder_lock(settings.data_dir):  # raises FolderLocked: the server does not start
            start()
            yield
            state["stop"].set()
            state["workers"].shutdown()

    # FastAPIOffline: the /docs and /redoc pages with their scripts served by fervid (FastAPI's load them from a
    # CDN: a blank page offline)
    app = FastAPIOffline(title="fervid", version=f"{__version__} (API v1)",
                         description="Facial emotion recognition in images and videos.",
                         lifespan=lifespan, dependencies=[Depends(_known_query_only)])
    # its ReDoc script still asks a CDN for the "API docs by Redocly" logo: served without that address, ahead of
    # the package's own static files
    app.router.routes.insert(0, Route(REDOC_SCRIPT_URL, _redoc_script_offline, include_in_schema=False))
    _with_answer_schemas(app, ImagesWithCsvOut)
    # where the system's temporary folder is not usable, why (fervid serve says so as it starts); else None
    app.state.temporary_folder_problem = state["temporary_folder_problem"]
    # outermost last: the security headers go on every answer, the Host check's refusals included; the Host check
    # runs first, then CORS (answers preflights; adds its headers to every answer to an allowed origin, errors
    # included), then the origin check, then the body limit, then the video queue (innermost: an upload declared
    # over the size limit is told so, 413, before it is told to come back later)
    app.add_middleware(QueueFullCheck, workers=lambda: state.get("workers"))
    app.add_middleware(BodyLimit, limit=int(settings.max_upload_mb * 1024 * 1024))
    app.add_middleware(OriginCheck, allowed_origins=settings.allowed_origins)
    if settings.allowed_origins:  # a front end served elsewhere: without CORS headers its browser hid every answer
        app.add_middleware(JSONCORSMiddleware, allow_origins=[o.rstrip("/") for o in settings.allowed_origins],
                           allow_methods=["GET", "POST", "DELETE"], allow_headers=["*"],
                           expose_headers=["Content-Disposition", "Retry-After"])
    app.add_middleware(HostCheck, allowed_hosts=(*LOCAL_HOSTS, settings.host, *settings.allowed_hosts))
    # FastAPIOffline's defaults (it leaves FastAPI's docs_url and redoc_url None)
    app.add_middleware(SecurityHeaders, unrestricted_paths=("/docs", "/redoc", app.swagger_ui_oauth2_redirect_url))
    for name in ("python_multipart", "multipart"):
        # a malformed multipart body is answered 400 with the parser's reason; its log line went to the server's
        # stderr too, through Python's last-resort handler (a logging setup of the host's own still gets it)
        quiet = logging.getLogger(name)
        if not any(isinstance(handler, logging.NullHandler) for handler in quiet.handlers):  # once, for every app
            quiet.addHandler(logging.NullHandler())
    image_slots = threading.BoundedSemaphore(max(1, settings.max_concurrent_images))

    def analyzer():
        if "analyzer" not in state:
            state["analyzer"] = settings.make_analyzer()
        return state["analyzer"]

    def cleanup(abandoned_after_s: float = ABANDONED_UPLOAD_S) -> int:
        cutoff = time.time() - settings.job_ttl_hours * 3600
        removed = 0
        for job_id in store.abandoned(abandoned_after_s):
            store.delete(job_id)
            removed += 1
        for job in store.all():
            if job.get("status") in FINISHED and (_ended(job) or 0) < cutoff:
                store.delete(job["id"])
                removed += 1
            elif job.get("status") in FINISHED:  # an upload an older fervid (or a crash) left beside its results
                store.drop_unneeded(job["id"])
        return removed

    def start() -> None:
        state["workers"] = VideoWorkers(store, settings)
        for stale in store.root.glob(".live-*"):  # recordings of live sessions cut off by a crash
            shutil.rmtree(stale, ignore_errors=True)
        # no upload is in progress yet (and no other server uses the folder: data_folder_lock): a job folder without
        # its job.json is one a crash or a full disk cut off, whatever its age
        cleanup(abandoned_after_s=0)
        files, size = remove_earlier_temporary_files(settings.data_dir, before=created)
        if files:
            log.info("removed %d temporary file%s (%s bytes) that earlier runs left in %s", files,
                     "" if files == 1 else "s", f"{size:,}", Path(settings.data_dir).absolute() / TEMPORARY_FOLDER_NAME)
        recovered = []
        for job in sorted(store.all(), key=lambda j: j.get("created", 0)):
            if job.get("status") in ("queued", "running"):  # interrupted by a restart: run again, once
                # one whose analysis had begun starts over: counted, so that a client sees why its progress fell
                restarts = job.get("restarts", 0) + (job["status"] == "running")
                store.write(job["id"], status="queued", progress=0.0, restarts=restarts)
                state["workers"].submit(job["id"], recovered=True)
                recovered.append(job["id"])
        if recovered:  # a restart said nothing of them: the jobs' clients saw progress fall back without a word
            log.warning("%d unfinished video job%s queued again, each to run from the start: %s", len(recovered),
                        "" if len(recovered) == 1 else "s", ", ".join(recovered))

        state["stop"] = threading.Event()

        def janitor():
            while not state["stop"].wait(600):
                cleanup()

        threading.Thread(target=janitor, daemon=True).start()

    @app.exception_handler(StarletteHTTPException)  # FastAPI's HTTPException and the router's own 404/405
    async def http_error(request: Request, exc: StarletteHTTPException):
        # FastAPI's 400 "error parsing the body", with no line in the log, where the upload could not be spooled to
        # the temporary folder: its disk full (507), or the folder gone or not writable (500)
        if exc.status_code == 400 and isinstance(exc.__cause__, OSError):
            return _storage_failed(request, exc.__cause__, TEMPORARY_FOLDER)
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        return JSONResponse(_error_body(detail, exc.status_code, getattr(exc, "message", None)),
                            status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {_plain(e.get('msg', ''))}"
                             for e in exc.errors())
        content_type = request.headers.get("content-type", "")
        if request.method == "POST" and not content_type.startswith("multipart/form-data"):
            # a raw image body (curl --data-binary) got only "body.files: Field required"
            images = _route_path(request.scope) == "/v1/images"
            field_name, example = ("files", "photo.jpg") if images else ("file", "video.mp4")
            how = (f"uploads go as multipart/form-data with the field {field_name!r} (curl -F "
                   f"{field_name}=@{example}), not as a {content_type or 'bare'} body")
            if content_type:  # a body of another type: the media type is what is wrong (415), not a field
                return JSONResponse({"error": f"unsupported media type: {how}", "status": 415}, status_code=415)
            problems += f"; {how}"
        return JSONResponse({"error": f"invalid request ({problems})", "status": 422}, status_code=422)

    def temporary_folder() -> Path | None:
        try:
            return Path(tempfile.gettempdir())
        except OSError:  # "No usable temporary directory found" (gone or made read-only since the start)
            return None

    def _storage_failed(request: Request, exc: OSError, folder_kind: str) -> JSONResponse:
        """An upload that could not be stored in ``folder_kind`` (DATA_FOLDER or TEMPORARY_FOLDER): its disk full
        is 507; anything else there (the temporary folder gone or read-only) 500. One line in the log each, naming
        the folder and its path for the operator."""
        folder = Path(settings.data_dir).absolute() if folder_kind == DATA_FOLDER else temporary_folder()
        where = f"{folder_kind}, {folder}" if folder is not None else f"{folder_kind}: none is usable"
        if _disk_full(exc):
            message, status = _disk_full_message(folder_kind), 507
            log.error("%s %s: the server's disk is full (%s): the upload could not be stored (%s)", request.method,
                      _route_path(request.scope), where, exc.strerror)
        else:
            message, status = f"the server could not store the upload in {folder_kind} (its log says why)", 500
            log.error("%s %s: the upload could not be stored (%s): %s", request.method, _route_path(request.scope),
                      where, one_line(str(exc)))
        return JSONResponse({"error": message, "status": status}, status_code=status)

    @app.exception_handler(OSError)
    async def os_error(request: Request, exc: OSError):
        """A full disk (an upload being stored, a job's state written) is the deployment's condition, not a bug:
        507, and one line in the server's log naming the folder. Any other OSError is an internal error (below)."""
        if not _disk_full(exc):
            raise exc
        temporary = temporary_folder()
        in_temporary = temporary is not None and _under(exc.filename, temporary) and not _under(exc.filename,
                                                                                              store.root)
        return _storage_failed(request, exc, TEMPORARY_FOLDER if in_temporary else DATA_FOLDER)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception):
        """Anything unexpected: JSON like every other error (Starlette answered a text/plain 500). The traceback
        still reaches the server's log: Starlette raises the exception again after this answer, and uvicorn logs
        it."""
        return JSONResponse({"error": "internal error", "status": 500}, status_code=500)

    @app.get("/healthz", response_model=HealthOut)
    async def healthz() -> dict:
        """Whether the server answers, its video jobs, and what may make requests fail (a full disk). Answered with
        any Host header; HEAD too."""
        # answered on the event loop itself, never behind the analysis threads (it must stay fast under load): the
        # counts are the worker pool's, kept in memory (reading every job.json took 0.4-0.9 s with 5,000 jobs, and
        # held up every other request meanwhile), jobs recovered at start-up included. A disk too full for an upload
        # is a warning, not a failure: images are still analysed, and a probe that restarted the server would free
        # nothing
        counts = state["workers"].counts()
        # uploads are spooled to the temporary folder, then a video is copied into the data folder
        temporary = temporary_folder()
        free_mb = {DATA_FOLDER: _free_mb(store.root),
                   TEMPORARY_FOLDER: None if temporary is None else _free_mb(temporary)}
        low = [f"{free:.0f} MB free for {where}" for where, free in free_mb.items()
               if free is not None and free < settings.max_upload_mb]
        warnings = [f"disk space is low: {', '.join(low)}, less than one upload of --max-upload-mb "
                    f"({settings.max_upload_mb:g} MB); uploads may be refused (507)"] if low else []
        if temporary is None:
            warnings.append("no usable temporary folder (TMPDIR, /tmp): uploads over 1 MB are refused (500); "
                            "restart the server, which then keeps them in its data folder")
        elif state["temporary_folder_problem"] is not None:
            warnings.append("the system's temporary folder is not usable (TMPDIR, /tmp): temporary files, uploads "
                            "as they arrive among them, are kept in the data folder's "
                            f"{TEMPORARY_FOLDER_NAME}/ (TMPDIR chooses another)")
        data_free = free_mb[DATA_FOLDER]
        return {"status": "ok", "queued_jobs": counts["queued"], "running_jobs": counts["running"],
                "disk_free_mb": None if data_free is None else round(data_free), "warnings": warnings}

    # HEAD too (a load balancer's or uptime monitor's check): it was a 405
    app.add_api_route("/healthz", healthz, methods=["HEAD"], include_in_schema=False)

    # Image requests wait for a turn here, on the event loop, not in a worker thread: waiting in threads, 50
    # concurrent uploads took every thread of the pool, and status polls and downloads queued behind them.
    image_turns = CapacityLimiter(max(1, settings.max_concurrent_images))

    def analyse_image(data: bytes, name: str) -> ImageResult:
        # bounded: N images decoded and in the CNN at once, whatever the number of requests (live sessions too)
        with image_slots:
            bgr = decode_image_bytes(data, name, settings.max_image_pixels,  # ImageLoadError: not an image
                                     limit_name="the server's --max-image-megapixels")
            return analyzer().analyze_bgr(bgr, source=name)

    @app.post("/v1/images", response_model=ImagesOut, responses=UPLOAD_ERRORS | _errors(
        e413=f"more images in one request than the server takes ({settings.max_images_per_request}, "
             "--max-images-per-request), or a body over --max-upload-mb",
        e415="no file of the request could be read as an image (or every one was over the pixel limit); where "
             "some could, the answer is 200 and the others are listed with ok: false and their error"
             + NOT_MULTIPART,
        e422=COMMON_ERRORS[422]["description"] + "; or ?csv=true with ?format=csv (the table is the whole answer "
                                                 "there)")
             | {200: {"description": "the images' faces: JSON (ImagesOut; with ?csv=true, ImagesWithCsvOut: the "
                                     "same and its `csv` table), or with ?format=csv the table `fervid image --csv` "
                                     "writes, a row per face",
                      "content": {"text/csv": {"schema": {"type": "string"}}}}})
    async def post_images(request: Request, files: list[UploadFile] = File(...),
                          answer_format: Literal["json", "csv"] = Query("json", alias="format", description=(
                              "json: the document `fervid image --json` writes; csv: the table `fervid image "
                              "--csv` writes (a row per face, one with its file alone for an image without one)")),
                          with_csv: bool = Query(False, alias="csv", description=(
                              "true: the JSON document with the CSV table ?format=csv answers as its `csv`, of the "
                              "same analysis (the web page's JSON and spreadsheet of a photo, analysed once)"))
                          ) -> dict | Response:
        """Analyse one or more photos; the same JSON schema as `fervid image --json`, or its CSV table
        (``?format=csv``), or both (``?csv=true``): a file that is not an image is listed with ``ok: false`` (in the
        table, a row with its ``error``), unless no file is (then 415, every file's error in one)."""
        if with_csv and answer_format == "csv":  # it would change nothing: said, not ignored
            raise HTTPException(422, detail="csv=true adds the CSV table to the JSON answer; with format=csv the "
                                            "table is the whole answer: leave one of them out")
        if len(files) > settings.max_images_per_request:
            raise PlainHTTPException(
                413, f"{len(files)} images in one request; at most {settings.max_images_per_request}",
                f"Too many pictures at once: this server takes up to {settings.max_images_per_request} in one "
                f"request, and {len(files)} were sent. Send them in smaller groups.")
        results, too_large = [], []
        for upload in files:
            data = await upload.read()  # the request was held to max_upload_mb as it streamed (BodyLimit)
            name = _sent_name(upload) or "upload"
            try:
                results.append(await to_thread.run_sync(analyse_image, data, name, limiter=image_turns))
            except ImageLoadError as exc:  # not decodable as an image, or too large decoded
                results.append(ImageResult(name, error=str(exc)))
                if isinstance(exc, ImageTooLargeError):
                    too_large.append(f"{name} is too large a picture for this server "
                                     f"({megapixels_text(exc.megapixels, exc.limit_megapixels)} "
                                     f"megapixels; it takes up to {exc.limit_megapixels:g}). Make it smaller, or ask "
                                     "whoever runs the server to raise the limit.")
            del data  # released before the next image is read
        if not any(result.ok for result in results):  # nothing analysed: the request failed, as the CLI's exit code says
            detail = "; ".join(result.error for result in results if result.error)
            if len(too_large) == len(results):  # every one over the pixel limit: said without the option's name
                raise PlainHTTPException(415, detail, " ".join(too_large))
            raise HTTPException(415, detail=detail)
        if answer_format == "csv":
            return Response(await to_thread.run_sync(images_csv, results), media_type="text/csv; charset=utf-8")
        document = images_document(results, await to_thread.run_sync(lambda: analyzer().settings),
                                   landmarks=settings.pipeline.landmarks)
        if with_csv:  # (the route's response model is ImagesOut, which has no csv: this answer is checked here)
            answer = ImagesWithCsvOut.model_validate({**document, "csv": await to_thread.run_sync(images_csv, results)})
            return JSONResponse(answer.model_dump(mode="json"))
        return document

    @app.post("/v1/videos", status_code=202, response_model=VideoJobOut, responses=UPLOAD_ERRORS | _errors(
        e413="the request body is larger than --max-upload-mb",
        e415="the file is not a video FFmpeg can read, or its frames are over --max-video-megapixels"
             + NOT_MULTIPART,
        e422="no file, or more than one (one video per job)",
        e429="the job queue is full (--max-queued-jobs); the Retry-After header says when to try again",
        e500="the server could not store the upload (e.g. its folder is not writable)",
        e507="the server's disk is full (its data folder or its temporary folder): the upload could not be stored"))
    def post_video(request: Request, file: UploadFile = Depends(_one_video_file),
                   annotate: bool | None = Query(None, description=(
                       "Write the annotated MP4 (false: tables, timelines and key frames only; about 2x faster on "
                       "full-HD video). Default: the server's (fervid serve --annotate/--no-annotate); true on a "
                       "--no-annotate server is a 422."))) -> dict:
        """Queue a video for analysis; returns the job id at once."""
        from fervid.inference.video import VideoError, VideoFramesTooLargeError, open_video

        if annotate is None:
            annotate = settings.pipeline.annotate
        elif annotate and not settings.pipeline.annotate:  # the server's word: it keeps no face pictures
            raise HTTPException(422, detail="this server writes no annotated videos (fervid serve --no-annotate); "
                                            "post without ?annotate=true")
        job_id = uuid.uuid4().hex
        filename = _sent_name(file)
        folder = store.make_folder(job_id)
        input_name = _input_name(filename)
        try:  # any failure before the job is recorded removes its folder: an upload left without a job.json stayed
            # copied from the spooled upload (held to max_upload_mb as it streamed, BodyLimit) in 1 MB pieces: read
            # whole, three concurrent 150 MB uploads held 410 MB more
            file.file.seek(0)
            try:
                with open(folder / input_name, "wb", opener=_private_file) as stored:
                    shutil.copyfileobj(file.file, stored, 1024 * 1024)
            except OSError as exc:  # a full disk, say: the reason without a path
                if _disk_full(exc):
                    raise  # the 507 every full disk gets (os_error, below)
                raise HTTPException(500, detail=f"{filename or 'the video'}: the server could not store the upload "
                                                f"({exc.strerror or exc})") from None
            try:
                open_video(folder / input_name, max_pixels=settings.max_video_pixels,
                           limit_name="the server's --max-video-megapixels").release()
            except VideoError as exc:
                reason = _public_message(str(exc), folder, input_name, filename).removeprefix(f"{filename}: ")
                if isinstance(exc, VideoFramesTooLargeError):  # readable, maybe: too large for this server
                    name = filename or "the video"
                    raise PlainHTTPException(
                        415, f"{name}: {reason}",
                        f"{name}'s frames are too large for this server "
                        f"({megapixels_text(exc.megapixels, exc.limit_megapixels)} megapixels; it takes up to "
                        f"{exc.limit_megapixels:g}). Make the video smaller, or ask whoever runs the server to raise "
                        "the limit.") from None
                raise HTTPException(415, detail=f"{filename}: not a readable video ({reason})") from None
            store.write(job_id, id=job_id, status="queued", progress=0.0, created=time.time(), input=input_name,
                        filename=filename, error=None, annotate=annotate)
        except BaseException:
            store.delete(job_id)
            raise
        size = f"{(folder / input_name).stat().st_size / 1e6:.1f} MB"
        upload = f"{one_line(filename or 'no file name')}, {size}" if settings.log_upload_names else size
        if not state["workers"].submit(job_id, upload=upload):  # filled while this upload came in (QueueFullCheck)
            store.delete(job_id)
            raise _queue_full(filename, settings.max_queued_jobs)
        jobs = f"{_prefix(request)}/v1/jobs/{job_id}"  # behind a proxy's path prefix (--root-path): with it
        return {"job_id": job_id, "status": "queued", "status_url": jobs, "result_url": f"{jobs}/result"}

    @app.get("/v1/jobs/{job_id}", response_model=JobOut, responses=NO_JOB)
    def get_job(job_id: str) -> dict:
        """A video job's status and progress."""
        job = store.read(job_id)
        ended = _ended(job)
        return {k: job.get(k) for k in ("id", "status", "progress", "error", "filename", "created")} | {
            "partial": bool(job.get("partial")), "restarts": job.get("restarts", 0),
            "waiting_for": state["workers"].waiting_for(job_id),
            "expires_at": None if ended is None else expires_at(ended, settings.job_ttl_hours)}

    # exclude_unset: a link to an output the job has not (the annotated video) is left out, not null
    @app.get("/v1/jobs/{job_id}/result", response_model=ResultOut, response_model_exclude_unset=True,
             responses=NOT_DONE)
    def get_result(request: Request, job_id: str) -> dict:
        """A done job's result: per track its emotions over time, episodes and key frames, and links to every
        output."""
        job = store.read(job_id)
        _check_done(job_id, job)
        out = store.folder(job_id) / "out"
        stem = job["stem"]
        names = OutputNames(stem)
        with _deleted_meanwhile(store, job_id):
            summary = json.loads((out / names.tracks_json).read_text(encoding="utf-8"))
        jobs = f"{_prefix(request)}/v1/jobs/{job_id}"

        def file_url(name: str) -> str:
            # percent-encoded: the outputs carry the upload's name ("Interview 01_frames.csv"), and a link with a
            # space in it is no URL (urllib raised InvalidURL); the route gets the name decoded
            return f"{jobs}/files/{quote(name, safe='')}"

        # a segment's episodes are its track's, with the same links
        segment_tracks = [track for segment in summary.get("segments") or [] for track in segment["tracks"]]
        for track in summary["tracks"]:
            track["timeline_url"] = file_url(names.timeline(track["track"]))
        for track in (*summary["tracks"], *segment_tracks):
            for ep in track["episodes"]:
                ep["key_frame_url"] = file_url(ep["key_frame"]) if ep.get("key_frame") else None
        summary["file"] = job.get("filename")
        summary["partial"] = bool(job.get("partial"))  # the video broke mid-way: results cover what was read
        summary["error"] = job.get("error")
        summary["links"] = {"frames_csv": file_url(names.frames_csv), "frames_parquet": file_url(names.frames_parquet),
                            "tracks_json": file_url(names.tracks_json), "frames_json": f"{jobs}/frames"}
        # (episodes: a job an earlier fervid ran has none; segments: a job with segments only)
        for link, name in (("episodes_csv", names.episodes_csv), ("segments_csv", names.segments_csv),
                           ("annotated_video", names.annotated)):  # (a live session's recording has no video)
            if (out / name).is_file():
                summary["links"][link] = file_url(name)
        return summary

    @app.get("/v1/jobs/{job_id}/frames", response_model=FramesOut, responses=NOT_DONE)
    def get_frames(job_id: str) -> dict:
        """Per-track time series of the 7 probabilities (what the web page's timeline draws)."""
        import pandas as pd

        job = store.read(job_id)
        _check_done(job_id, job)
        with _deleted_meanwhile(store, job_id):
            table = pd.read_csv(store.folder(job_id) / "out" / OutputNames(job["stem"]).frames_csv)
        tracks = {}
        for tid, rows in table.groupby("track"):
            tracks[str(tid)] = {column: rows[column].tolist() for column in FRAME_SERIES}  # as the table rounds them
        return {"emotions": list(EMOTIONS), "tracks": tracks}

    file_errors = FILE_TYPES | NOT_DONE | _errors(e404="no such job, or no such file in it")

    @app.get("/v1/jobs/{job_id}/files/{name}", response_class=FileResponse, responses=file_errors)
    def get_file(job_id: str, name: str):
        """One output file of a done job (the links of its result), shown inline and saved under the uploaded
        video's name; HEAD gives its size and type without the file."""
        # 404 where there is no such job; 409 where its /result is: a failed job's partial files were served
        _check_done(job_id, store.read(job_id))
        if not is_file_name(name):
            raise HTTPException(404, detail="no such file")
        path = store.folder(job_id) / "out" / name
        try:
            stat = path.stat()
        except OSError:
            if not store.exists(job_id):
                raise HTTPException(404, detail=f"job {job_id} was deleted") from None
            raise HTTPException(404, detail="no such file") from None
        if not S_ISREG(stat.st_mode):
            raise HTTPException(404, detail="no such file")
        # stat_result given: FileResponse would look at the file again as it answers, and a job deleted in between
        # was a 500
        return FileResponse(path, filename=name, content_disposition_type="inline", stat_result=stat)

    app.add_api_route("/v1/jobs/{job_id}/files/{name}", get_file, methods=["HEAD"], response_class=FileResponse,
                      responses=file_errors,
                      operation_id="head_file_v1_jobs__job_id__files__name__head", summary="Head File")

    @app.delete("/v1/jobs/{job_id}", response_model=DeletedOut, responses=NO_JOB | CHANGE_ERRORS)
    def delete_job(job_id: str) -> dict:
        """Delete a job at once: its upload and every output (a running one is stopped first)."""
        store.read(job_id)
        state["workers"].cancel(job_id)
        store.delete(job_id)
        return {"deleted": job_id}

    @app.get("/constants.js", include_in_schema=False)
    def page_constants() -> Response:
        """The emotions, their colours and the video suffixes, from fervid itself: the pages kept copies, which
        had to be edited by hand whenever fervid's changed."""
        if "constants" not in state:
            state["constants"] = web_constants_script(settings.pipeline.model)
        return Response(state["constants"], media_type="text/javascript")

    # pages, not API endpoints (HEAD too: below)
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        return (STATIC_DIR / "index.html").read_text(encoding="utf-8")

    @app.get("/live", response_class=HTMLResponse, include_in_schema=False)
    def live_page() -> str:
        """The camera page: frames go to /v1/live, each face's box, emotion and timeline are drawn back."""
        return (STATIC_DIR / "live.html").read_text(encoding="utf-8")

    viewers: dict = {}

    def live_runner():
        if "live_runner" not in state:  # one temporal model for all viewers; each viewer has its own tracks
            state["live_runner"] = VideoAnalyzer(analyzer(), settings.pipeline.video(centred=False, batch_frames=1,
                                                                                     annotate=False))
        return state["live_runner"]

    @app.websocket("/v1/live")
    async def live_socket(ws: WebSocket):
        await serve_live(ws, await to_thread.run_sync(live_runner), store, image_slots, settings.live, viewers,
                         settings.job_ttl_hours, landmarks=settings.pipeline.landmarks)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # every page answers HEAD as GET, without the body (an uptime monitor's or a link checker's check of /live or
    # /docs was a 405), as Starlette's own routes (/openapi.json, /static) do; FastAPI's answer GET alone. The pages
    # are the routes left out of the API's schema, where a HEAD operation would be listed beside each GET
    for route in app.routes:
        if isinstance(route, APIRoute) and route.methods and "GET" in route.methods and not route.include_in_schema:
            route.methods.add("HEAD")
    return app

