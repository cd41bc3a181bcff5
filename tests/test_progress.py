"""fervid.progress: one rule for every command's progress bar."""

import io

from tqdm import tqdm

from fervid.progress import LogLines, progress_bar


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_bar_in_a_log_is_lines_without_carriage_returns_and_at_a_slow_pace():
    """tqdm wrote a carriage return and a whole line into a log at every redraw: 28 in a 4 s video."""
    log = io.StringIO()
    bar = progress_bar(range(500), desc="clip.mp4", unit="frame", file=log)
    assert isinstance(bar, LogLines)
    for n in bar:
        if n == 100:
            tqdm.write("a line of the command's own", file=log)
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    # its start, the command's line, and its end: not one line a redraw
    assert len(lines) == 3 and lines[1] == "a line of the command's own", lines
    assert lines[0].startswith("clip.mp4:   0%") and lines[2].startswith("clip.mp4: 100%") and "500/500" in lines[2]
    # a bar that is not kept once done (leave=False) keeps its lines in a log all the same, and writes no blank one
    log = io.StringIO()
    bar = progress_bar(total=10, desc="reading files", leave=False, file=log)
    bar.update(4)
    bar.close()
    assert log.getvalue().splitlines()[-1].startswith("reading files:  40%") and "\n\n" not in log.getvalue()


def test_a_bar_on_a_terminal_is_tqdms_own_and_show_false_hides_it():
    screen = Terminal()
    bar = progress_bar(range(3), file=screen)
    assert type(bar) is tqdm
    list(bar)
    assert "\r" in screen.getvalue()  # redrawn in place
    for stream in (io.StringIO(), Terminal()):
        list(progress_bar(range(3), file=stream, show=False))
        assert stream.getvalue() == ""


def test_tqdm_disable_hides_every_bar():
    """TQDM_DISABLE=1 did nothing: every command passed tqdm disable= itself, which overrides tqdm's settings (tqdm
    reads them as it is imported: a process of its own)."""
    import os
    import subprocess
    import sys

    script = ("import io; from fervid.progress import progress_bar; log = io.StringIO(); "
              "list(progress_bar(range(3), file=log)); print(repr(log.getvalue()))")
    unset = {name: value for name, value in os.environ.items() if name != "TQDM_DISABLE"}
    for env, shown in (({**unset, "TQDM_DISABLE": "1"}, False), (unset, True)):
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              encoding="utf-8", timeout=60, env=env)
        assert (done.stdout.strip() != "''") is shown, (done.stdout, done.stderr)


def test_a_bar_in_a_log_writes_a_postfix_change_no_more_often_than_its_counts(monkeypatch):
    """`set_postfix` redraws at once (tqdm's refresh=True), and each redraw was a line: `fervid image many/ 2>log`
    wrote a line per image, and training a line per batch, where a log should get one every LOG_SECONDS."""
    import tqdm.std

    import fervid.progress

    clock = [1000.0]
    monkeypatch.setattr(tqdm.std, "time", lambda: clock[0])  # tqdm's clock: a second an item
    monkeypatch.setattr(fervid.progress, "LOG_SECONDS", 5.0)
    log = io.StringIO()
    bar = progress_bar(range(50), unit="image", file=log)
    for n in bar:
        bar.set_postfix_str(f"photo{n}.jpg")
        bar.set_postfix(loss=f"{1 / (n + 1):.3f}")
        clock[0] += 1.0
    lines = log.getvalue().splitlines()
    # its start, a line every 5 s of the 50, and its end, whose postfix is the last one set
    assert 10 <= len(lines) <= 12, lines
    assert lines[0].startswith("  0%") and lines[-1].startswith("100%") and "loss=0.020" in lines[-1], lines


class Full(io.StringIO):
    """A stream on a full disk (`2>/dev/full`): every write and flush fails."""

    def __init__(self, terminal=False):
        super().__init__()
        self.terminal, self.tries = terminal, 0

    def write(self, text):
        self.tries += 1
        raise OSError(28, "No space left on device")

    def flush(self):
        raise OSError(28, "No space left on device")

    def isatty(self):
        return self.terminal


def test_a_bar_whose_stream_fails_stops_writing_and_the_work_goes_on():
    """`fervid video clip.mp4 2>/dev/full` stopped before a frame (exit 1, empty outputs): the log bar's first line
    raised ENOSPC into the command."""
    for terminal in (False, True):
        stream = Full(terminal)
        bar = progress_bar(range(200), file=stream, mininterval=0, desc="clip.mp4")
        assert isinstance(bar, LogLines) is not terminal
        seen = 0
        for _ in bar:
            bar.set_postfix_str("a")
            seen += 1
        bar.close()
        tqdm.write("a line of the command's own", file=io.StringIO())
        assert seen == 200 and stream.tries == 1, (terminal, stream.tries)  # its first write failed, the others none
    closed = io.StringIO()
    closed.close()
    assert list(progress_bar(range(3), file=closed)) == [0, 1, 2]
    assert list(progress_bar(range(3), file=None)) == [0, 1, 2]  # stderr closed: Python's sys.stderr is None
