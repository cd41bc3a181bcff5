"""How `fervid serve` starts in a deployment: what it says it runs, and its access log."""

import socket
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from fervid.apps.cli import app

from served import fervid_server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_fervid_live_keeps_its_pages_saved_sessions_where_and_as_long_as_it_is_told(tmp_path, monkeypatch):
    """The /live page's saved sessions went to ./fervid-data and were deleted 24 h later, unsaid, with no option
    to keep them elsewhere or longer: `fervid live` takes serve's --data-dir and --job-ttl-hours."""
    calls = []
    monkeypatch.setattr("fervid.apps.serving.run", lambda app, **options: calls.append(app))
    started = CliRunner().invoke(app, ["live", "--no-open", "--port", str(free_port()), "--data-dir",
                                       str(tmp_path / "d"), "--job-ttl-hours", "168"])
    assert started.exit_code == 0, started.output
    assert f"data: {tmp_path / 'd'} (finished jobs, sessions saved from /live among them, deleted 168 h after they " \
           "end)" in started.output.splitlines() and calls
    # per-frame labels read no window: the start-up crashed saying so (TypeError)
    frame = CliRunner().invoke(app, ["live", "--no-open", "--port", str(free_port()), "--data-dir",
                                     str(tmp_path / "d"), "--method", "frame"])
    assert frame.exit_code == 0 and "videos: frame, no window, detection every" in frame.output, frame.output
    refused = CliRunner().invoke(app, ["live", "--no-open", "--job-ttl-hours", "0"])
    assert (refused.exit_code, refused.output) == (2, "error: --job-ttl-hours must be positive, not 0.0\n")


def test_serve_says_what_it_runs_and_where_its_data_is_at_start_up(tmp_path, monkeypatch):
    """The start-up line said only where the server listens: a team's deployment log did not record which model,
    detector, precision and video method answered, where the data went, or the limits."""
    calls = []
    monkeypatch.setattr("fervid.apps.serving.run", lambda app, **options: calls.append(options))
    started = CliRunner().invoke(app, ["serve", "--port", str(free_port()), "--data-dir", str(tmp_path / "d"),
                                       "--method", "mean", "--window", "2", "--sample-fps", "10", "--no-annotate",
                                       "--key-frames", "0", "--max-upload-mb", "50", "--workers", "2",
                                       "--job-ttl-hours", "2", "--access-log"])
    assert started.exit_code == 0, started.output
    lines = started.output.splitlines()
    assert lines[1] == ("analysis: model ferplus_vgg (int8), detector centerface; videos: mean, window 2 s, detection "
                        "every 0.3 s, at most 10 frames/s, no annotated MP4 (--no-annotate), no key frames "
                        "(--key-frames 0)")  # (it said "at most 0 key frames per track")
    assert lines[2] == f"data: {tmp_path / 'd'} (finished jobs, sessions saved from /live among them, deleted 2 h after they end)"
    assert lines[3] == ("limits: uploads up to 50 MB, 32 images per request, 50 megapixels per image, 40 per video "
                        "frame, 2 images analysed at once; 8 video jobs waiting, 2 analysed at once")
    assert calls[0]["access_log"] is True
    # the default: the LSTM, named with its model; no access log
    default = CliRunner().invoke(app, ["serve", "--port", str(free_port()), "--data-dir", str(tmp_path / "e")])
    assert "videos: lstm (temporal_lstm_ferplus_vgg), window 1 s, detection every 0.3 s, every frame\n" in default.output
    assert calls[1]["access_log"] is False


def test_serve_without_a_usable_temporary_folder_keeps_its_temporary_files_in_its_data_folder_and_says_so(
        tmp_path, monkeypatch):
    """In a container with a read-only root and no writable TMPDIR, `fervid serve` started as if all were well;
    then /healthz answered 500 and every upload over 1 MB 400 (Starlette spools them to temporary files). It keeps
    them in its data folder instead, and says so; where that cannot hold them either, it does not start."""
    import errno
    import tempfile

    def none_usable():  # what tempfile says where TMPDIR, /tmp, /var/tmp, /usr/tmp and the working folder are not
        raise FileNotFoundError(errno.ENOENT, "No usable temporary directory found in ['/tmp', '/var/tmp']")

    monkeypatch.setattr(tempfile, "tempdir", None)
    monkeypatch.setattr(tempfile, "_get_default_tempdir", none_usable)
    # unset, and restored after the test (the server sets it for its analyses): set first, as monkeypatch restores
    # only what it recorded, and delenv of a variable that is not there records nothing (the server's TMPDIR then
    # outlived the test, and Chromium's socket under that long path failed every later browser test)
    monkeypatch.setenv("TMPDIR", "unset")
    monkeypatch.delenv("TMPDIR")
    monkeypatch.setattr("fervid.apps.serving.run", lambda app, **options: None)
    data = tmp_path / "d"
    started = CliRunner().invoke(app, ["serve", "--port", str(free_port()), "--data-dir", str(data)])
    assert started.exit_code == 0, started.output
    assert started.output.splitlines()[4] == (
        f"temporary files: {data / 'tmp'}, in the data folder: the system's temporary folder is not usable ([Errno 2] "
        "No usable temporary directory found in ['/tmp', '/var/tmp']); set TMPDIR to a writable folder to use "
        "another")
    # neither can hold a file: one line, naming TMPDIR and --data-dir, and no start
    monkeypatch.setattr(tempfile, "tempdir", None)
    refused_data = tmp_path / "e"
    refused_data.mkdir()
    (refused_data / "tmp").write_text("in the way", encoding="utf-8")
    refused = CliRunner().invoke(app, ["serve", "--port", str(free_port()), "--data-dir", str(refused_data)])
    assert refused.exit_code == 1
    assert refused.output == (
        "error: no usable temporary folder: [Errno 2] No usable temporary directory found in ['/tmp', '/var/tmp']; "
        f"nor {refused_data / 'tmp'} (File exists): set TMPDIR to a writable folder, or give a writable --data-dir\n")


def test_access_log_on_request_only(tmp_path):
    """--access-log: uvicorn's line per request on stdout, for a team's record of who used the server; none by
    default. (/healthz, a probe's, is left out: tests/apps/test_server_logs.py.)"""
    for args, logged in (((), False), (("--access-log",), True)):
        data = tmp_path / str(logged)
        with fervid_server(data, *args) as (url, _):
            assert httpx.get(url + "/openapi.json").status_code == 200
        assert ('"GET /openapi.json HTTP/1.1" 200' in (data / "serve.log").read_text(encoding="utf-8")) is logged


@pytest.mark.skipif(not Path("/proc/self/limits").is_file(), reason="Linux: a process's limits in /proc")
def test_serve_raises_its_open_files_limit_to_the_most_it_may_have(tmp_path):
    """Under a low soft RLIMIT_NOFILE a busy `fervid serve` ran out of files: its accept() failed, and asyncio logged
    a traceback for every try (28,000 in one run). The server raises its soft limit to its hard one."""
    import resource
    import subprocess
    import sys
    import time
    import urllib.request

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard <= 256:
        pytest.skip(f"the hard limit here is {hard}: nothing to raise to")
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "fervid", "serve", "--port", str(port), "--data-dir",
                               str(tmp_path / "data")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard)))
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "fervid serve did not start"
                time.sleep(0.2)
        limits = Path(f"/proc/{server.pid}/limits").read_text()
        soft_now = next(line.split()[3] for line in limits.splitlines() if line.startswith("Max open files"))
        assert int(soft_now) == hard
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_serve_removes_the_temporary_files_earlier_runs_left_in_its_data_folder_and_says_how_many(tmp_path, caplog):
    """A server killed in the middle of an upload left its temporary file in <data-dir>/tmp (where the system's
    temporary folder is not usable), and nothing ever removed it: the next start removes what earlier runs left
    there, and logs how many files and bytes, leaving alone what is newer than its own start."""
    import logging
    import os
    import time

    from fastapi.testclient import TestClient

    from fervid.apps.server import ServerSettings, create_app

    from fervid.plotting import kept_folder_name

    data = tmp_path / "data"
    left = data / "tmp"
    (left / "fervid-matplotlib-x").mkdir(parents=True)  # (a run's own, mkdtemp's: removed as it ended, unless killed)
    (left / "tmpupload1").write_bytes(b"x" * 3000)
    (left / "fervid-matplotlib-x" / "fontlist.json").write_bytes(b"y" * 500)
    kept = left / kept_folder_name()  # matplotlib's folder, its font cache kept from run to run on purpose
    kept.mkdir()
    (kept / "fontlist-v390.json").write_bytes(b"f" * 700)
    long_ago = time.time() - 3600
    for path in (left / "tmpupload1", left / "fervid-matplotlib-x" / "fontlist.json", left / "fervid-matplotlib-x",
                 kept / "fontlist-v390.json", kept):
        os.utime(path, (long_ago, long_ago))
    server = create_app(ServerSettings(data_dir=data))
    newer = left / "made-after-the-start"  # (not this server's to remove)
    newer.write_bytes(b"z")
    with caplog.at_level(logging.INFO, logger="fervid.apps.server"), TestClient(server) as client:
        assert client.get("/healthz").status_code == 200
    assert sorted(p.name for p in left.iterdir()) == sorted([kept.name, "made-after-the-start"])
    assert (kept / "fontlist-v390.json").is_file()
    said = [r.getMessage() for r in caplog.records if "temporary file" in r.getMessage()]
    assert said == [f"removed 2 temporary files (3,500 bytes) that earlier runs left in {left}"]
    # a start with nothing left there says nothing
    caplog.clear()
    newer.unlink()
    assert sorted(p.name for p in left.iterdir()) == [kept.name]
    with caplog.at_level(logging.INFO, logger="fervid.apps.server"), TestClient(create_app(ServerSettings(data_dir=data))):
        pass
    assert not [r for r in caplog.records if "temporary file" in r.getMessage()]
