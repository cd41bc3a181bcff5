"""A real ``fervid serve`` process on a free loopback port, shared by the server and browser tests."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

# `fervid serve` answers /healthz 2.2 s after starting here, with a training run busy on both cores; but one CI run
# in a fresh clone (cold file cache, first byte-compilation) failed a fixed 30 s wait, cause not reproduced.
# A generous deadline costs nothing when the server is up sooner.
SERVER_START_S = 120


@contextmanager
def fervid_server(data_dir: Path, *args: str, env: dict | None = None):
    """``fervid serve --data-dir data_dir *args`` in a child process; yields ``(url, process)`` once /healthz
    answers, and stops (or kills) it when the block ends.

    Its output is appended to ``data_dir/serve.log``, not a pipe: a pipe nobody reads fills up with the server's
    request log and blocks it mid-test. A server that exits before answering fails the test at once, with its log."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "serve.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "fervid.apps.cli", "serve", "--port", str(port),
                                 "--data-dir", str(data_dir), *args], stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            try:
                urllib.request.urlopen(url + "/healthz", timeout=2)
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"fervid serve exited with code {proc.returncode}: {log_path.read_text()}")
                if time.monotonic() > deadline:
                    pytest.fail(f"fervid serve did not answer within {SERVER_START_S} s: {log_path.read_text()}")
                time.sleep(0.2)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
