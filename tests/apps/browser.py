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


@contextmanager
def fervid_server(data_dir: Path, *args: str):
    """``fervid serve`` in a child process; yields its base URL once /healthz answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "fervid.apps.cli", "serve", "--port", str(port), "--data-dir",
                             str(data_dir), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(url + "/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        else:
            proc.kill()
            pytest.fail(f"server did not start: {proc.stdout.read().decode()}")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
