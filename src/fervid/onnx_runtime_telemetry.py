"""ONNX Runtime's usage telemetry, turned off by ``import fervid`` (:func:`turn_off`, first thing in it).

ONNX Runtime 1.29+ sends usage telemetry to Microsoft on Linux and macOS too (a device id kept under ~/.cache, on
macOS under ~/Library/Application Support; a ProcessInfo event with the CPU, the OS and Python's path; uploads from
a few seconds in): fervid's promise is that nothing leaves the machine. ONNX Runtime reads ``ORT_DISABLE_TELEMETRY`` once, when it is imported, so it is set
here before any of fervid's modules loads onnxruntime; a user's own setting is kept.

How ONNX Runtime decides, measured on 1.32.0's Linux wheel (the macOS wheel holds the same code and names; the
Windows wheel has none of it: its events go to Windows' own event tracing, ETW, and it reads none of these
variables): telemetry starts with the import unless ``ORT_DISABLE_TELEMETRY`` is one of :data:`_TRUE_VALUES`, or
one of :data:`_CI_VARIABLES` is set to anything but one of :data:`_FALSE_VALUES` (both read without case and
surrounding spaces). Where the device id cannot be kept (a HOME that cannot be written) it runs all the same, its
events kept in memory.
"""

from __future__ import annotations

import functools
import os
import sys
import warnings
from collections.abc import Mapping

from fervid.errors import TelemetryNotStopped

# ORT_DISABLE_TELEMETRY's values that turn telemetry off (measured: "0", "false", "", "2" and "abc" leave it on)
_TRUE_VALUES = ("1", "true", "yes", "on")
# the variables by which ONNX Runtime sees a CI service (or its own test run) and keeps its telemetry off by itself
_CI_VARIABLES = ("CI", "TF_BUILD", "GITHUB_ACTIONS", "GITLAB_CI", "CIRCLECI", "TRAVIS", "JENKINS_URL",
                 "CODEBUILD_BUILD_ID", "BUILDKITE", "TEAMCITY_VERSION", "APPVEYOR", "BITBUCKET_BUILD_NUMBER",
                 "ORT_RUNNING_UNIT_TESTS")
# a CI variable's values that do not count (measured: "true", "1", "2", "abc" and a URL count)
_FALSE_VALUES = ("", "0", "false", "no", "off")
# the file ONNX Runtime's uploader keeps its event queue in, open from its import on while telemetry runs
_EVENT_STORE = "/.onnxruntime/onnxruntime.db"
# the files its telemetry leaves in :func:`_event_store_folder` after the program ends (measured on 1.32.0's Linux
# wheel, a fresh HOME: these two, 0600, in folders made 0700): a random device id and the event queue
_KEPT_FILES = ("deviceid", "onnxruntime.db")


def _turned_off_by_variable(environ: Mapping[str, str]) -> bool:
    """Whether ``ORT_DISABLE_TELEMETRY`` in ``environ`` keeps ONNX Runtime's telemetry off."""
    return environ.get("ORT_DISABLE_TELEMETRY", "").strip().lower() in _TRUE_VALUES


def _on_ci_service(environ: Mapping[str, str]) -> bool:
    """Whether ONNX Runtime, imported with ``environ``, takes itself to run on a CI service and keeps its telemetry
    off by itself."""
    return any(environ.get(name, "").strip().lower() not in _FALSE_VALUES for name in _CI_VARIABLES)


def _event_store_folder() -> str:
    """The folder ONNX Runtime keeps its device id and event store in (making the folders missing)."""
    if sys.platform == "darwin":
        return os.path.expanduser("~/Library/Application Support/Microsoft/DeveloperTools/.onnxruntime")
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(cache, "Microsoft", "DeveloperTools", ".onnxruntime")


def _event_store_could_be_kept() -> bool:
    """Whether ONNX Runtime could make its event store: the nearest folder of :func:`_event_store_folder`'s that
    exists can be written."""
    path = _event_store_folder()
    while not os.path.lexists(path):
        parent = os.path.dirname(path)
        if parent == path:  # (a relative XDG_CACHE_HOME's "", or a root that is not there)
            return False
        path = parent
    return os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK)


def _open_files() -> list[str] | None:
    """The paths of this process's open files, or None where they cannot be listed (Windows)."""
    if sys.platform == "darwin":  # no /proc: the descriptors under /dev/fd, each one's path from fcntl
        import fcntl

        folder = "/dev/fd"

        def path_of(fd: int) -> str:
            return os.fsdecode(fcntl.fcntl(fd, fcntl.F_GETPATH, bytes(1024)).split(b"\0", 1)[0])
    else:
        folder = "/proc/self/fd"

        def path_of(fd: int) -> str:
            return os.readlink(f"/proc/self/fd/{fd}")
    try:
        descriptors = os.listdir(folder)
    except OSError:
        return None
    paths = []
    for fd in descriptors:
        try:
            paths.append(path_of(int(fd)))
        except OSError:  # the descriptor listdir itself held, closed since (or, on macOS, a pipe's: no path)
            pass
    return paths


def _starting_environment() -> dict[str, str] | None:
    """The environment this process started with, before the program changed it (Linux's /proc/self/environ);
    None where it cannot be read."""
    try:
        with open("/proc/self/environ", "rb") as file:
            entries = file.read().split(b"\0")
    except OSError:
        return None
    return dict(os.fsdecode(entry).partition("=")[::2] for entry in entries if b"=" in entry)


def telemetry_started_by_earlier_import() -> bool | None:
    """Whether the onnxruntime already imported (by the application, before fervid) started its telemetry; None
    where that cannot be told.

    Decided by what held when onnxruntime was imported, not by the variable now: a notebook that set
    ORT_DISABLE_TELEMETRY=1 in a cell after importing onnxruntime has it set now and telemetry on all the same.
    ONNX Runtime keeps no record a program can ask, so: where the process's open files can be listed and ONNX
    Runtime could make its event store, its telemetry runs exactly when the store is open. Where it could not (a
    HOME that cannot be written), ONNX Runtime's rule on the environment now: a CI service's variables are set
    before the process starts, so they held then too; ORT_DISABLE_TELEMETRY not true now was not then; true now,
    it held then if the process started with it, and otherwise the program set it, before or after that import,
    which nothing here tells (None)."""
    if sys.platform == "win32":  # ONNX Runtime's telemetry there is Windows' ETW, which no variable nor import order
        return False  # changes: nothing to warn of
    files = _open_files()
    if files is not None:
        if any(path.endswith(_EVENT_STORE) for path in files):
            return True
        if _event_store_could_be_kept():
            return False
    if _on_ci_service(os.environ):
        return False
    if not _turned_off_by_variable(os.environ):
        return True
    starting = _starting_environment()
    if starting is not None and _turned_off_by_variable(starting):
        return False
    return None


def _kept_files_note() -> str:
    """The warning's sentence naming the files ONNX Runtime's telemetry keeps on this machine, those of
    :data:`_KEPT_FILES` that are there ("" where none is: a HOME it could not write, or Windows)."""
    folder = _event_store_folder()
    kept = [os.path.join(folder, name) for name in _KEPT_FILES if os.path.exists(os.path.join(folder, name))]
    if not kept:
        return ""
    # deleted while the program runs, the open event queue would be written on all the same (and the id made anew)
    return f" It keeps {' and '.join(kept)} (a device id and its event queue): delete them once this program has ended."


@functools.cache  # once a process: importlib.reload(fervid) does not say it again
def turn_off() -> None:
    """Set ORT_DISABLE_TELEMETRY=1 for the onnxruntime fervid's modules import (a value of the user's is kept); where
    the application imported onnxruntime first with its telemetry on (or perhaps on), warn that it cannot be turned
    off now."""
    started = "onnxruntime" in sys.modules and telemetry_started_by_earlier_import()
    if started is not False:
        # imported by the application first: its telemetry started then, and nothing ONNX Runtime offers stops it
        # afterwards (the variable is read once, by the import; disable_telemetry_events() stops the events of each
        # model loaded, which name its file and hash, but not the uploader nor the ProcessInfo event already queued)
        disable_events = getattr(sys.modules["onnxruntime"], "disable_telemetry_events", None)
        if disable_events is not None:
            disable_events()
        if started:
            cause = ("onnxruntime was imported before fervid, without ORT_DISABLE_TELEMETRY=1 in the environment, so "
                     "its usage telemetry to Microsoft (ONNX Runtime 1.29+) started then and cannot be turned off "
                     "now (setting the variable after that import is too late)")
        else:
            cause = (f"onnxruntime was imported before fervid, and ORT_DISABLE_TELEMETRY=1 was set by this program, "
                     f"not in the environment it started with: set before that import, it kept ONNX Runtime's usage "
                     f"telemetry to Microsoft (ONNX Runtime 1.29+) off; set after it, too late, the telemetry runs "
                     f"and cannot be turned off now. fervid cannot tell which here (ONNX Runtime could not keep its "
                     f"event store in {_event_store_folder()}, whose being open would say)")
        # stacklevel 3: the line that imported fervid (1 is this function, 2 fervid/__init__; warnings skips the
        # import system's frames between them)
        warnings.warn(f"{cause}; fervid stopped its per-model events only.{_kept_files_note()} Import fervid before "
                      "onnxruntime, or set ORT_DISABLE_TELEMETRY=1 in the environment (in a frozen app: a runtime "
                      "hook) - README, \"Privacy\"", TelemetryNotStopped, stacklevel=3)
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
