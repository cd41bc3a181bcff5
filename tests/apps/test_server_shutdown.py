"""How `fervid serve` stops in a deployment (SIGTERM, Ctrl-C): without waiting for ever on a stalled upload, and
without leaving its video workers running."""

import json
import os
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest

from fervid.inference.video import sample_video

from served import fervid_server
from conftest import needs_sample_clip

CARPHONE = sample_video()


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, what
        time.sleep(0.1)
    return value


def stall_an_upload(url: str) -> socket.socket:
    """An upload whose client stops sending half-way (a laptop closed mid-upload), as the probe's stall.py."""
    host, port = url.split("//")[1].split(":")
    stalled = socket.create_connection((host, int(port)))
    stalled.sendall(b"POST /v1/videos HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=XX"
                    b"\r\nContent-Length: 5000000\r\n\r\n--XX\r\nContent-Disposition: form-data; name=\"file\"; "
                    b"filename=\"a.mp4\"\r\n\r\n" + b"\0" * 2_000_000)
    return stalled


@pytest.mark.skipif(os.name != "posix", reason="signals are POSIX")
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_stalled_upload_holds_the_shutdown_for_seconds_not_for_ever(tmp_path, stop):
    """After SIGTERM or Ctrl-C the server waited, silently, for as long as a stalled upload's client kept its
    connection (46.5 s in the probe). It says it is shutting down and how long it waits, and stops within that."""
    with fervid_server(tmp_path / "d") as (url, proc):
        assert httpx.get(url + "/healthz").status_code == 200
        stalled = stall_an_upload(url)
        time.sleep(1.0)  # the upload is being read
        asked = time.monotonic()
        proc.send_signal(stop)
        assert proc.wait(timeout=30) == 0
        took = time.monotonic() - asked
        stalled.settimeout(5)
        answer = stalled.recv(65536).decode()
        stalled.close()
    # the upload cut off is told why, in JSON like every error (uvicorn's own answer was a text/plain 500)
    assert answer.startswith("HTTP/1.1 503 ") and "application/json" in answer, answer
    assert '{"error":"the server is shutting down: try again once it is back","status":503}' in answer
    log = (tmp_path / "d" / "serve.log").read_text(encoding="utf-8")
    assert 4.5 < took < 15, took  # 5 s for the requests in progress, then the workers' stop
    assert "shutting down (waiting up to 5 s for requests in progress; Ctrl-C again to stop at once)" in log
    # one WARNING saying what became of the upload, not uvicorn's ERROR "Cancel 1 running task(s), timeout graceful
    # shutdown exceeded", nor a traceback
    cut_off = [line for line in log.splitlines() if "cut off" in line]
    assert cut_off == ["WARNING:  the shutdown cut off POST /v1/videos, still in progress: its upload abandoned "
                       "(2.0 MB of 5.0 MB received), the temporary file it was stored in removed; its client "
                       "answered 503 (try again)"], log
    assert "ERROR" not in log and "Cancel 1 running task(s)" not in log, log
    assert "Traceback" not in log and "CancelledError" not in log


@needs_sample_clip
@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="signals and processes as on Linux")
def test_a_second_ctrl_c_stops_at_once_quietly_and_still_stops_the_video_workers(tmp_path):
    """A second Ctrl-C printed CancelledError tracebacks and skipped the workers' shutdown: a running job's
    analysis process was left to notice its server had gone."""
    with fervid_server(tmp_path / "d") as (url, proc):
        job_id = httpx.post(url + "/v1/videos", files={"file": ("c.mp4", CARPHONE.read_bytes(), "video/mp4")}
                            ).json()["job_id"]
        job_file = tmp_path / "d" / "jobs" / job_id / "job.json"
        child = wait_for(lambda: json.loads(job_file.read_text()).get("pid"), 60, "the job never started")
        stalled = stall_an_upload(url)
        time.sleep(0.5)
        asked = time.monotonic()
        proc.send_signal(signal.SIGINT)
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        took = time.monotonic() - asked
        stalled.close()
    log = (tmp_path / "d" / "serve.log").read_text()
    assert took < 4.5, took  # not the 5 s given to requests in progress
    assert "stopping at once: requests in progress are cut off; video jobs run again at the next start" in log
    assert "Traceback" not in log and "CancelledError" not in log, log
    job = json.loads(job_file.read_text())
    # the worker stopped the analysis and recorded it (a worker killed with the process leaves its pid behind); the
    # job runs again at the next start
    assert job["status"] == "running" and job["pid"] is None, job
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)
