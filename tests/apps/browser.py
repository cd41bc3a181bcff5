"""What the browser tests share: Debian's Chromium through Playwright (no browser download), and a real
`fervid serve` process on a free port.

Skipped locally when Chromium or Playwright is missing; in CI (CI=true) a missing browser is a failure, so the
tests cannot silently vanish. Screenshots go to tests/e2e/ (ignored by git)."""

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path(__file__).resolve().parents[1] / "e2e"


def require_browser() -> None:
    """Call at module level, before importing playwright."""
    if not Path(CHROMIUM).exists() or importlib.util.find_spec("playwright") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install chromium and playwright for the browser tests", pytrace=False)
        pytest.skip("chromium or playwright not installed", allow_module_level=True)


# `fervid serve` answers /healthz 2.2 s after starting here, with a training run busy on both cores; but one CI run
# in a fresh clone (cold file cache, first byte-compilation) failed the old fixed 30 s wait, cause not reproduced.
# A generous deadline costs nothing when the server is up sooner.
SERVER_START_S = 120


@contextmanager
def fervid_server(data_dir: Path, *args: str):
    """``fervid serve`` in a child process; yields its base URL once /healthz answers.

    Its output goes to a log file, not a pipe: a pipe nobody reads fills up with the server's request log and
    blocks it mid-test. A server that exits before answering fails the test at once, with its log."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log_path = data_dir / "serve.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "fervid.apps.cli", "serve", "--port", str(port),
                                 "--data-dir", str(data_dir), *args], stdout=log, stderr=subprocess.STDOUT)
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
                    proc.kill()
                    pytest.fail(f"fervid serve did not answer within {SERVER_START_S} s: {log_path.read_text()}")
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
