"""The errors fervid raises for what it can name: one base, :class:`FervidError`, so that an application catches
them all (``except fervid.FervidError``) without catching its own bugs. Each class keeps the built-in base it
had before this one existed (``ImageLoadError`` and ``VideoError`` are ValueErrors, ``ModelError`` a RuntimeError,
``UnknownName`` a KeyError and a ValueError), so code written against those keeps working. And the warnings it
gives, one base, :class:`FervidWarning`, so that an application filters them all
(``warnings.filterwarnings("ignore", category=fervid.FervidWarning)``); and how a notice the command line and the
API both give names an option (:func:`said_option`).

Kept free of heavy imports: ``import fervid`` loads it at once (the classes that need OpenCV or ONNX Runtime stay
lazy)."""

from __future__ import annotations

import errno
import os
import sys
from typing import Literal


class FervidError(Exception):
    """The base of fervid's own errors: an input, a setting, a model or an output folder fervid cannot use, each
    said with what it is and what to do."""


class OptionError(FervidError, ValueError):
    """A setting fervid cannot use: a value out of range or of the wrong type (``VideoOptions(window=-1)``,
    ``detect_every="0.3"``), settings that contradict each other, a flag that does not apply to the input
    (``bgr=True`` with a path). A ValueError, as these always were."""


class OutputDirError(FervidError, FileExistsError):
    """An output folder that cannot be one: a file is there under its name. A FileExistsError (what ``mkdir``
    raised for it, and what code written before this class catches), naming the path in ``filename``: made as
    OSError is, ``OutputDirError(errno.EEXIST, reason, path)`` (:func:`file_in_the_way`), which pickles."""

    def __str__(self) -> str:  # OSError's own: "[Errno 17] ...: 'path'"
        return f"{self.filename}: {self.strerror}"


class PathTooLongError(FervidError, OSError):
    """An output path longer than this machine opens: Windows refuses one of more than 259 characters (MAX_PATH)
    where long paths are not enabled (:func:`fervid.machine.long_paths_limited`), and a run that met it mid-way lost
    its work on the file. Raised before anything is analysed. An OSError made as OSError is
    (``PathTooLongError(errno.ENAMETOOLONG, reason, path)``, :func:`fervid.machine.path_too_long`), naming the path
    in ``filename``."""

    def __str__(self) -> str:  # OSError's own: "[Errno 36] ...: 'path'"
        return f"{self.filename}: {self.strerror}"


class OutOfMemory(MemoryError):
    """Memory ran out analysing an input, said where: ``str()`` names the input and the frame ("s20.mp4: out of
    memory at frame 19 (0.60 s; ONNX Runtime: std::bad_alloc); ..."). A MemoryError, as running out of memory always was, raised in place of
    Python's own or of ONNX Runtime's allocation failure (``std::bad_alloc``, which is no MemoryError), that one
    its ``__cause__``."""


class FervidWarning(UserWarning):
    """The base of the warnings fervid gives (a temporal window too short for its method, a model's folder not
    used, outputs named apart): ``warnings.filterwarnings("ignore", category=fervid.FervidWarning)`` silences them
    all, and "error" makes them raise. Filter by this category, not by module: a warning about a call is
    attributed to the caller's line (``stacklevel``), so ``module="fervid"`` does not match it. A UserWarning,
    as fervid's warnings always were."""


class TelemetryNotStopped(FervidWarning, RuntimeWarning):
    """onnxruntime was imported before fervid, its usage telemetry on, and fervid could not turn it off
    (:mod:`fervid.onnx_runtime_telemetry`). A RuntimeWarning too, as this warning was before
    :class:`FervidWarning`."""


# how a message names an option, as its reader gives it: "flags" on the command line (--sample-fps 4), "keywords"
# in Python (sample_fps=4)
OptionNaming = Literal["flags", "keywords"]


def said_option(name: str, naming: OptionNaming, value: object = None) -> str:
    """The option ``name`` (a keyword's name: ``sample_fps``), with ``value`` where one is given, as ``naming``'s
    reader writes it: ``--sample-fps 4``, ``--method frame``, ``--window`` on the command line; ``sample_fps=4``,
    ``method="frame"``, ``window`` in Python. For a notice that the command line and the API both give."""
    if naming == "flags":
        flag = "--" + name.replace("_", "-")
        return flag if value is None else f"{flag} {value}"
    if value is None:
        return name
    return f'{name}="{value}"' if isinstance(value, str) else f"{name}={value}"


def file_in_the_way(path) -> OutputDirError:
    """The error for an output folder ``path`` where a file is."""
    return OutputDirError(errno.EEXIST, "a file is in the way of this output folder (give a folder's path)",
                          str(path))


# Windows' ERROR_SHARING_VIOLATION (deleting a file another program has open: Excel, a video player) and
# ERROR_ACCESS_DENIED (replacing or renaming one)
_SHARING_VIOLATION, _ACCESS_DENIED = 32, 5
# the ``winerror`` of Windows' refusals of a file (or a folder holding one) that another process has open
WINDOWS_HELD_OPEN = (_SHARING_VIOLATION, _ACCESS_DENIED)


def held_open_advice(exc: OSError) -> str | None:
    """What to do about an error deleting, renaming or replacing a file that another program holds open, which
    Windows refuses (a table open in Excel, an annotated MP4 in a player), said of the file: "is open in another
    program ...: close it there", for a sentence that names it and goes on with when to run again. None for another
    error, and for a PermissionError elsewhere than on Windows, where an open file is replaced and the folder's
    permissions are what refused it. A folder Windows would not rename (a batch's results of a file: its own error,
    with a ``winerror``, not the C library's for opening a folder as a file) is refused for a file in it held open:
    "or a file in it may be open ...", for a sentence that names the folder as "it"."""
    winerror = getattr(exc, "winerror", None)
    suffix = os.path.splitext(os.fspath(exc.filename))[1].lower() if exc.filename is not None else ""
    program = _HOLDERS.get(suffix, "another program")
    folder = (winerror in WINDOWS_HELD_OPEN and exc.filename is not None
              and os.path.isdir(exc.filename))
    if folder:
        program = "another program (File Explorer, a viewer?)"
    in_it = "or a file in it " if folder else ""
    if winerror == _SHARING_VIOLATION:
        return f"{in_it}is open in {program}: close it there"
    if (isinstance(exc, PermissionError) and (winerror == _ACCESS_DENIED or sys.platform == "win32")
            and exc.filename is not None and (folder or os.path.isfile(exc.filename))):
        return f"{in_it}may be open in {program}: close it there (or make it writable)"
    return None


class HeldOpenError(FervidError, PermissionError):
    """An output file fervid could not write, replace or delete because another program holds it open (Windows
    refuses it for a table open in Excel, a picture in a viewer): made by :func:`held_open_error`, naming the file
    (``filename``), its ``strerror`` saying so and to close it there and run again. ``reason`` is the system's own
    words and ``advice`` :func:`held_open_advice`'s, for a caller that says them in a sentence of its own."""

    reason: str
    advice: str


def held_open_error(exc: OSError, path, failed: str = "", after: str = "") -> OSError:
    """``exc``, raised writing, replacing or deleting the output file ``path`` (naming it, or a temporary file written
    in its place), as the error to raise: naming ``path``, and a :class:`HeldOpenError` where another program holds
    it open (:func:`held_open_advice`), which says "close it there and run this again". ``failed`` follows the
    system's words (": cannot replace this output of an earlier run") and ``after`` ends the sentence (" (the
    earlier outputs are left as they were)"), held open or not."""
    reason = exc.strerror or str(exc)
    named = OSError(exc.errno, f"{reason}{failed}{after}", os.fspath(path))
    winerror = getattr(exc, "winerror", None)
    if winerror is not None:  # (not the constructor's: it takes one on Windows alone)
        setattr(named, "winerror", winerror)
    advice = held_open_advice(named)
    if advice is None:
        return named
    held = HeldOpenError(exc.errno, f"{reason}{failed}; it {advice} and run this again{after}", os.fspath(path))
    held.reason, held.advice = reason, advice
    return held


# the programs that hold fervid's outputs open, by their suffix
_HOLDERS = {".csv": "another program (Excel?)", ".mp4": "another program (a video player?)",
            ".png": "another program (an image viewer?)"}
