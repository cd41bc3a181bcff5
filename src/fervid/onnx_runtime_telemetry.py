"""ONNX Runtime's usage telemetry, turned off by ``import fervid`` (:func:`turn_off`, first thing in it).

ONNX Runtime 1.29+ sends usage telemetry to Microsoft on Linux and macOS too (a device id kept under ~/.cache, a
ProcessInfo event with the CPU, the OS and Python's path, uploads from a few seconds in): fervid's promise is that
nothing leaves the machine. ONNX Runtime reads ``ORT_DISABLE_TELEMETRY`` once, when it is imported, so it is set
here before any of fervid's modules loads onnxruntime; a user's own setting is kept.
"""

from __future__ import annotations

import functools
import os
import sys
import warnings

# the values by which ONNX Runtime 1.32 turns its telemetry off (measured: "0", "false", "" and "2" leave it on)
_TRUE_VALUES = ("1", "true", "yes", "on")
# the file ONNX Runtime's uploader keeps its event queue in, open from its import on while telemetry runs (under
# ~/.cache/Microsoft/DeveloperTools, or $XDG_CACHE_HOME's)
_EVENT_STORE = "/.onnxruntime/onnxruntime.db"


def _open_files() -> list[str] | None:
    """The paths of this process's open files, or None where they cannot be listed (no /proc/self/fd: not Linux)."""
    try:
        descriptors = os.listdir("/proc/self/fd")
    except OSError:
        return None
    paths = []
    for fd in descriptors:
        try:
            paths.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:  # the descriptor listdir itself held, closed since
            pass
    return paths


def telemetry_started_by_earlier_import() -> bool:
    """Whether the onnxruntime already imported (by the application, before fervid) started its telemetry.

    Decided by what held when onnxruntime was imported, not by the variable now: a notebook that set
    ORT_DISABLE_TELEMETRY=1 in a cell after importing onnxruntime has it set now and telemetry on all the same.
    ONNX Runtime keeps no record a program can ask, so: where the process's open files can be listed (Linux), its
    telemetry runs exactly when its event store is open, whatever the variable says (and off by ONNX Runtime's own
    choice, on a CI service, it is not). Elsewhere, or where the store could not be made (a HOME that cannot be
    written: the events are kept in memory), the variable: not set true now, it was not then (true now, it may
    have been set too late, which only the open store tells)."""
    files = _open_files()
    if files is not None and any(path.endswith(_EVENT_STORE) for path in files):
        return True
    return os.environ.get("ORT_DISABLE_TELEMETRY", "").lower() not in _TRUE_VALUES


@functools.cache  # once a process: importlib.reload(fervid) does not say it again
def turn_off() -> None:
    """Set ORT_DISABLE_TELEMETRY=1 for the onnxruntime fervid's modules import (a value of the user's is kept); where
    the application imported onnxruntime first with its telemetry on, warn that it cannot be turned off now."""
    if "onnxruntime" in sys.modules and telemetry_started_by_earlier_import():
        # imported by the application first: its telemetry started then, and nothing ONNX Runtime offers stops it
        # afterwards (the variable is read once, by the import; disable_telemetry_events() stops the events of each
        # model loaded, which name its file and hash, but not the uploader nor the ProcessInfo event already queued)
        disable_events = getattr(sys.modules["onnxruntime"], "disable_telemetry_events", None)
        if disable_events is not None:
            disable_events()
        # stacklevel 3: the line that imported fervid (1 is this function, 2 fervid/__init__; warnings skips the
        # import system's frames between them)
        warnings.warn("onnxruntime was imported before fervid, without ORT_DISABLE_TELEMETRY=1 in the environment, "
                      "so its usage telemetry to Microsoft (ONNX Runtime 1.29+) started then and cannot be turned off "
                      "now (setting the variable after that import is too late); fervid stopped its per-model events "
                      "only. Import fervid before onnxruntime, or set ORT_DISABLE_TELEMETRY=1 in the environment (in "
                      "a frozen app: a runtime hook) - README, \"Privacy\"", RuntimeWarning, stacklevel=3)
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
