"""fervid's standard streams, set up once as a command starts (:func:`prepare`), for where a job runs without a
terminal's: closed (`>&-`, `2>&-`, `<&-`, a daemon's or a scheduler's), on a full disk (`>/dev/full`), or in an
encoding that cannot write a file's name (`PYTHONIOENCODING=ascii`, a C locale on an old Python).

- A closed stream's descriptor is opened on the null device, so that no file fervid opens takes its number (a
  library's own writes to descriptor 1 or 2 would go into it). Python made the stream None: a closed stdout is
  written to the null device, and a command that wrote to it exits 141, as for a closed pipe (what it wrote is
  lost); a closed stdin stays None, which the '-' inputs refuse ("no standard input").
- A failed write to stdout (`>/dev/full`) does not stop the command: what it writes to stdout from then on is dropped,
  and it ends with an error naming it, "standard output: No space left on device" (exit 1: an output not written).
  A closed pipe (`| head`) stops it as ever (exit 141).
- A failed write to stderr is dropped: there is nowhere left to tell it, and the work, and its exit status, go on
  (`2>/dev/full` stopped `fervid video` before a frame).
- A message never fails on encoding: a character the stream's encoding lacks is written as an escape (``\\xe9``,
  Python's backslashreplace), whichever line it is (every message is written with :func:`echo`). Data sent to
  stdout (``--csv -``, ``--json -``, ``--parquet -``) is UTF-8 whatever the console's encoding
  (:func:`send_to_stdout`), as fervid's files are.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from typing import TYPE_CHECKING, cast

import typer

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

STDOUT_NAME = "standard output"  # the name a failed write to stdout is told with


class _StandardOutput(io.FileIO):
    """stdout's descriptor. A write that fails (a full disk, a terminal gone) is kept in ``failure``, named "standard
    output", and what is written after it is dropped: the command's other outputs are written, and the failure is
    told as the command ends (exit 1, an output not written). ``lost``: it was closed when the command started and
    is written to the null device; ``wrote``: whether anything was written to it."""

    lost = False
    wrote = False
    failure: OSError | None = None

    def write(self, data: ReadableBuffer, /) -> int:
        size = memoryview(data).nbytes
        self.wrote = self.wrote or size > 0
        if self.failure is not None:
            return size
        try:
            return super().write(data)
        except BrokenPipeError:  # its reader closed it (`| head`): the command stops, exit 141
            raise
        except OSError as exc:
            self.failure = OSError(exc.errno, exc.strerror, STDOUT_NAME)
            return size


class _StandardError(io.FileIO):
    """stderr's descriptor: a write that fails is dropped (where would its error be told?)."""

    def write(self, data: ReadableBuffer, /) -> int:
        try:
            return super().write(data)
        except OSError:
            return memoryview(data).nbytes


def _open_closed_descriptors() -> None:
    for fd, mode in ((0, os.O_RDONLY), (1, os.O_WRONLY), (2, os.O_WRONLY)):
        try:
            os.fstat(fd)
        except OSError:  # closed: the lowest free number, which os.open takes, is this one
            null = os.open(os.devnull, mode)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)


def _on_descriptor(stream) -> bool:
    """Whether ``stream`` is Python's own text stream on a file descriptor (not a Windows console's, whose raw
    stream writes UTF-16 to it, nor a test's captured output)."""
    buffer = getattr(stream, "buffer", None)
    return type(getattr(buffer, "raw", buffer)) is io.FileIO  # (unbuffered, `python -u`: the raw stream itself)


def _text_stream(raw: io.FileIO, like) -> io.TextIOWrapper:
    """A text stream on ``raw`` as ``like`` (the stream Python made, None where it was closed) was, buffered or
    not (`python -u`), its errors written as escapes unless the user chose otherwise (PYTHONIOENCODING=ascii:replace)."""
    buffered = like is None or hasattr(like.buffer, "raw")
    errors = getattr(like, "errors", "strict")
    return io.TextIOWrapper(io.BufferedWriter(raw) if buffered else raw, encoding=getattr(like, "encoding", None),
                            errors="backslashreplace" if errors == "strict" else errors,
                            line_buffering=getattr(like, "line_buffering", raw.isatty()),
                            write_through=getattr(like, "write_through", False))


def prepare() -> None:
    """Set up stdin, stdout and stderr as the module says, before a command runs."""
    if os.name != "posix":  # a Windows console's streams are its own: only what it cannot encode is escaped
        with contextlib.suppress(AttributeError, ValueError):  # (None, or a stream without it: left as it is)
            cast(io.TextIOWrapper, sys.stdout).reconfigure(errors="backslashreplace")
        if sys.stdout is None:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (the process's stdout, open until it exits)
        return
    _open_closed_descriptors()
    if sys.stdout is None or _on_descriptor(sys.stdout):
        raw = _StandardOutput(1, "w", closefd=False)
        raw.lost = sys.stdout is None
        with contextlib.suppress(AttributeError, OSError, ValueError):  # (None: closed)
            sys.stdout.flush()
        sys.stdout = _text_stream(raw, sys.stdout)
    if sys.stderr is None or _on_descriptor(sys.stderr):
        with contextlib.suppress(AttributeError, OSError, ValueError):  # (None: closed)
            sys.stderr.flush()
        sys.stderr = _text_stream(_StandardError(2, "w", closefd=False), sys.stderr)


def echo(message: str = "", *, err: bool = False, nl: bool = True, **style) -> None:
    """A message line on stdout, or stderr (``err``), styled as ``typer.secho`` styles it (``fg``, ``bold``; colour
    on a terminal only): every line a command says is written with it. Given the stream, Click writes it to the one
    :func:`prepare` set up; left to find it, Click writes UTF-8 bytes where the stream's encoding is ASCII
    (`PYTHONIOENCODING=ascii` printed `error: café.png: ...` as raw UTF-8, not as ``caf\\xe9.png``)."""
    typer.secho(message, file=sys.stderr if err else sys.stdout, nl=nl, **style)


def _stdout_raw():
    raw = getattr(sys.stdout, "buffer", None)
    raw = getattr(raw, "raw", raw)
    return raw if isinstance(raw, _StandardOutput) else None


def stdout_lost() -> bool:
    """Whether the command wrote to a stdout that was closed when it started (exit 141, as for a closed pipe)."""
    raw = _stdout_raw()
    return raw is not None and raw.lost and raw.wrote


def stdout_failure() -> OSError | None:
    """The error of the first write to stdout that failed, naming it "standard output" (None: none failed)."""
    raw = _stdout_raw()
    return None if raw is None else raw.failure


def send_to_stdout(data: str | bytes) -> None:
    """Data sent to stdout whole (a table, a JSON document, a Parquet file), text as UTF-8 whatever stdout's own
    encoding: `--csv -` in a console whose encoding is ASCII stopped at the first accented file name
    (UnicodeEncodeError), and a Latin-1 one would have written a table no UTF-8 reader reads."""
    sys.stdout.flush()  # what was printed before it goes first
    if isinstance(data, str):
        if not hasattr(sys.stdout, "buffer"):  # a text stream only (a test's captured output): text it is
            sys.stdout.write(data)
            return
        data = data.encode("utf-8")
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
