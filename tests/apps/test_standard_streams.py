"""fervid.apps.standard_streams: commands run with stdin, stdout or stderr closed, on a full disk, or in an ASCII
console, as on a cluster's nodes and in daemons. Each runs `python -m fervid` in a child process: the streams are
the process's own."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from fervid.samples import carphone
from conftest import needs_sample_clip

FULL = "/dev/full"  # Linux's always-full device: every write fails with ENOSPC
needs_dev_full = pytest.mark.skipif(not os.path.exists(FULL), reason="no /dev/full")


def two_photos(tmp_path, astronaut_png) -> list:
    """Two photos: `fervid image` shows its progress bar for more than one."""
    copy = tmp_path / "copy.png"
    copy.write_bytes(astronaut_png.read_bytes())
    return [astronaut_png, copy]


def fervid(*args, close=(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=None, timeout=180):
    """`python -m fervid *args`, its descriptors in ``close`` closed (`>&-`, `2>&-`, `<&-`)."""
    return subprocess.run([sys.executable, "-m", "fervid", *map(str, args)], stdout=stdout, stderr=stderr,
                          stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})}, timeout=timeout,
                          preexec_fn=(lambda: [os.close(fd) for fd in close]) if close else None)


@needs_sample_clip
@needs_dev_full
def test_a_full_or_closed_stderr_does_not_stop_the_analysis(tmp_path, astronaut_png):
    """`fervid video clip.mp4 --out x 2>/dev/full` (or `2>&-`) exited 1 before a frame was analysed: the progress
    bar's first line failed (ENOSPC), and the error ended the command. With nowhere to tell anything, the work goes
    on and its exit status says how it went."""
    for name, redirect in (("full", {"stderr": open(FULL, "w")}), ("closed", {"close": (2,)})):
        done = fervid("image", *two_photos(tmp_path, astronaut_png), "--json", tmp_path / f"{name}.json", **redirect)
        assert done.returncode == 0, (name, done.stdout)
        assert len(json.loads((tmp_path / f"{name}.json").read_text())["files"]) == 2
    done = fervid("video", carphone(), "--out", tmp_path / "video", "--no-annotate", "--key-frames", "0",
                  stderr=open(FULL, "w"))
    assert done.returncode == 0, done.stdout
    frames = (tmp_path / "video" / "carphone_pristine_frames.csv").read_text().splitlines()
    assert len(frames) > 100  # its header and a row a frame: it was analysed


def test_a_closed_stdout_is_written_to_the_null_device_and_told_by_the_exit_status(tmp_path, astronaut_png):
    """`fervid demo --out d >&-` wrote everything, then a traceback ('NoneType' object has no attribute 'flush');
    `--csv - >&-` a TypeError. What goes to a closed stdout is lost, and the command exits as for a closed pipe
    (141); one that writes nothing to it exits 0."""
    done = fervid("image", astronaut_png, "--json", tmp_path / "a.json", close=(1,))
    assert (done.returncode, done.stderr) == (141, b"")  # its summary lines were lost
    assert json.loads((tmp_path / "a.json").read_text())["files"][0]["faces"]
    assert fervid("image", astronaut_png, "--json", tmp_path / "b.json", "-q", close=(1,)).returncode == 0
    done = fervid("image", astronaut_png, "--csv", "-", "-q", close=(1,))
    assert (done.returncode, done.stderr) == (141, b"")


def test_a_closed_stdin_is_no_standard_input(tmp_path, astronaut_png):
    """`fervid image - --json x.json <&-` raised TypeError ('NoneType' object is not iterable)."""
    done = fervid("image", "-", "--json", tmp_path / "x.json", close=(0,))
    assert done.returncode == 2 and done.stderr.decode().strip() == (
        "error: -: no standard input to read the paths from (it is closed)")


@needs_dev_full
def test_a_full_stdout_is_named_and_the_other_outputs_are_written(tmp_path, astronaut_png):
    """`fervid image a.png --json f.json >/dev/full` said "error: No space left on device", naming nothing, though
    f.json was written; `fervid demo >/dev/full` stopped after its photo. Buffered or not (`python -u`)."""
    for buffered in (True, False):
        env = {"PYTHONUNBUFFERED": "" if buffered else "1"}
        target = tmp_path / f"{buffered}.json"
        done = fervid("image", *two_photos(tmp_path, astronaut_png), "--json", target, stdout=open(FULL, "w"), env=env)
        assert done.returncode == 1 and done.stderr.decode().splitlines()[-1] == (
            "error: standard output: No space left on device"), done.stderr
        assert len(json.loads(target.read_text())["files"]) == 2
        assert "Traceback" not in done.stderr.decode() and "Exception ignored" not in done.stderr.decode()


def test_serve_starts_with_stdout_closed(tmp_path):
    """`fervid serve --port P >&-` did not start: uvicorn's logging asked sys.stdout, None, whether it is a
    terminal."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "fervid", "serve", "--port", str(port), "--data-dir",
                               str(tmp_path / "data")], stdin=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              preexec_fn=lambda: os.close(1))
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                assert json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2))["status"]
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()
                assert time.monotonic() < deadline, "fervid serve did not answer"
                time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_messages_never_fail_on_encoding_and_data_on_stdout_is_utf8(tmp_path, astronaut_png):
    """`PYTHONIOENCODING=ascii fervid image café.png --json i.json` crashed printing its summary
    (UnicodeEncodeError), and `--csv -` after the CSV's header. Messages escape what the console cannot show;
    data sent to stdout is UTF-8, as fervid's files are."""
    cafe = tmp_path / "café.png"
    cafe.write_bytes(astronaut_png.read_bytes())
    ascii_console = {"PYTHONIOENCODING": "ascii"}
    done = fervid("image", cafe, "--json", tmp_path / "i.json", env=ascii_console)
    assert done.returncode == 0 and f"{tmp_path}/caf\\xe9.png: 1 face(s)" in done.stdout.decode("ascii")
    done = fervid("image", cafe, "--csv", "-", "-q", env=ascii_console)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode("utf-8").splitlines()[1].startswith(f"{cafe},1,")


def test_every_message_escapes_what_an_ascii_console_cannot_show(tmp_path):
    """Under PYTHONIOENCODING=ascii only `fervid image`'s per-file lines were escaped: its `error:` lines, and
    `fervid video`'s, were written as raw UTF-8 (Click writes UTF-8 to a stream whose encoding is ASCII)."""
    ascii_console = {"PYTHONIOENCODING": "ascii"}
    for command, name in (("image", "nope_é.png"), ("video", "nope_é.mp4")):
        done = fervid(command, tmp_path / name, env=ascii_console)
        assert done.returncode == 1
        assert f"error: {tmp_path}/nope_\\xe9.{name[-3:]}: no such file".encode() in done.stderr, done.stderr
        done.stderr.decode("ascii")  # nothing but ASCII


def test_names_are_recorded_as_their_utf8_bytes_read_them_in_an_ascii_locale(tmp_path, astronaut_png):
    """Under LC_ALL=C on a Python not in UTF-8 mode, the `file` of `fervid image`'s CSV and JSON was
    "emo\\udcc3\\udca7\\udcc3\\udca3o.png" for `emoção.png` (its UTF-8 bytes as the ASCII locale's escapes): the
    tables record a name as its bytes read as UTF-8, as every locale names it."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "emoção.png").write_bytes(astronaut_png.read_bytes())
    ascii_locale = {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
    done = fervid("image", folder, "--csv", tmp_path / "o.csv", "--json", tmp_path / "o.json", "-q",
                  env=ascii_locale)
    assert done.returncode == 1, done.stderr  # (refused: OpenCV and Pillow are given the locale's name)
    assert f"error: {folder}/emo\\xe7\\xe3o.png: file name is UTF-8".encode() in done.stderr, done.stderr
    assert (tmp_path / "o.csv").read_text(encoding="utf-8").splitlines()[1].startswith(f"{folder}/emoção.png,")
    assert [f["file"] for f in json.loads((tmp_path / "o.json").read_text(encoding="utf-8"))["files"]] == [
        f"{folder}/emoção.png"]
