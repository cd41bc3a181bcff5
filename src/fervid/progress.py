"""Progress bars: every command's is made by :func:`progress_bar`, so that all follow one rule.

On a terminal, a tqdm bar redrawn in place. Anywhere else (stderr redirected to a log file, a pipe, a job
scheduler's output file) a redrawn bar wrote a carriage return and a whole line into the log at every redraw: 28
in a 4 s video, two a second for a whole `fervid batch` run. There it is a plain line when it starts, at most one
every :data:`LOG_SECONDS` while it runs, and one when it ends. ``TQDM_DISABLE=1``, tqdm's own setting, hides every
bar (as a command's ``--quiet`` does).

A bar never stops the work it shows: a write to its stream that fails (stderr on a full disk, `2>/dev/full`, closed,
or a terminal gone with its SSH session) ends its output, where the error stopped `fervid video` before a frame.
"""

from __future__ import annotations

import re
import sys

from tqdm import tqdm

LOG_SECONDS = 30.0  # a bar that is not on a terminal writes a line at most this often

# C0 controls (newline, carriage return, tab, ESC, ...), DEL and the C1 controls (0x9b is a one-character CSI)
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def one_line(text: str) -> str:
    """``text`` as one line a terminal shows as it is written: control characters as Python writes them in a
    string (a newline as \\n, a tab as \\t, ESC as \\x1b), and a file name's bytes that are not UTF-8 as escapes
    (\\udce9). For every error, warning and notice line and every name a bar or summary shows: a file named
    ``x<newline>ok: all files analysed fine.png`` printed a line of its own under fervid's name, and one named
    ``<ESC>[2J...`` cleared the terminal (Click strips such sequences only where its output is not a terminal).
    Results files keep names as they are."""
    shown = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return _CONTROL_CHARACTERS.sub(lambda found: repr(found[0])[1:-1], shown)


def is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


class _StreamUntilItFails:
    """A bar's stream whose first failed write or flush (an OSError: a full disk, a terminal hung up; ValueError: it
    was closed) silences it: its bar writes nothing more, and the error does not reach the work it shows (tqdm itself
    lets only EIO and a closed file pass)."""

    def __init__(self, stream):
        self._stream = stream
        self.failed = False

    def write(self, text: str) -> int:
        if not self.failed:
            try:
                return self._stream.write(text)
            except (OSError, ValueError):
                self.failed = True
        return len(text)

    def flush(self) -> None:
        if not self.failed:
            try:
                self._stream.flush()
            except (OSError, ValueError):
                self.failed = True

    def __getattr__(self, name):  # isatty, fileno, encoding: the stream's own
        return getattr(self._stream, name)

    def __eq__(self, other):  # tqdm.write clears the bars on the stream it writes to, found by equality
        return self._stream == getattr(other, "_stream", other)

    def __hash__(self):
        return hash(self._stream)


class LogLines(tqdm):
    """A tqdm bar written as lines of their own, for a file: no carriage returns, no clearing, the last state
    kept; a redraw with nothing new since the last line (after a ``tqdm.write``) writes nothing.

    Its first line is written at once, its last on closing, and the others at most every ``mininterval``: tqdm
    keeps that interval between counts, but ``set_postfix`` (whose ``refresh=True`` is the default) and
    ``tqdm.write`` redraw at once, which wrote a line per image and per training batch."""

    _shown = None  # (n, postfix, description) of the last line written
    _shown_at = 0.0  # when it was written

    @staticmethod
    def status_printer(file):
        def write_line(text: str) -> None:
            file.write(text + "\n")
            file.flush()

        return write_line

    def display(self, msg=None, pos=None, *, last: bool = False):
        if msg is not None:  # "" clears a terminal's bar: a log keeps its lines
            return False
        state = (self.n, self.postfix, self.desc)  # (a bar that says its state in its description: `fervid live`'s)
        if state == self._shown:
            return True
        now = self._time()  # type: ignore[attr-defined]  # tqdm's clock (mininterval's): private, so not in its stubs
        if last or self._shown is None or now - self._shown_at >= self.mininterval:
            self._shown, self._shown_at = state, now
            self.sp(str(self))
        return True

    def clear(self, nolock=False):  # before a tqdm.write: a line in a log needs no room made for it
        pass

    def close(self):
        if not self.disable:
            self.display(last=True)  # its end, unless its last line said it already
        self.leave = False  # said: nothing to clear, and no blank line after it
        super().close()


def progress_bar(iterable=None, *, show: bool = True, **options) -> tqdm:
    """A tqdm bar on stderr (``options`` as tqdm's; ``show=False``: none, for a command's ``--quiet``), redrawn in
    place on a terminal, a line every :data:`LOG_SECONDS` elsewhere. Where it is shown is left to tqdm's own
    ``TQDM_DISABLE`` (a ``disable=False`` passed to tqdm would override it)."""
    if not show:
        options["disable"] = True
    options.setdefault("file", sys.stderr)
    if options["file"] is None:  # stderr closed (`2>&-`): Python made sys.stderr None
        options["disable"] = True
    terminal = is_terminal(options["file"])
    if options["file"] is not None:
        options["file"] = _StreamUntilItFails(options["file"])
    if terminal:
        return tqdm(iterable, **options)
    options.setdefault("mininterval", LOG_SECONDS)
    options["maxinterval"] = max(options["mininterval"], options.get("maxinterval", 0.0))
    return LogLines(iterable, **options)
