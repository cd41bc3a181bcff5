"""End-to-end: a real headless Chromium drives the web page served by `fervid serve`.

Needs Debian's chromium (/usr/bin/chromium; `.ci/run` installs it) and Playwright for Python (no browser
download: it is pointed at that executable). Skipped locally when Chromium is missing; in CI (CI=true) a missing
browser is a failure, so the test cannot silently vanish. Screenshots go to tests/e2e/ (ignored by git).
"""

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fervid.inference.video import sample_video

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CARPHONE = sample_video()
SHOTS = Path(__file__).resolve().parents[1] / "e2e"

if not Path(CHROMIUM).exists() or importlib.util.find_spec("playwright") is None:
    if os.environ.get("CI"):
        pytest.fail("CI must install chromium and playwright for the browser test", pytrace=False)
    pytest.skip("chromium or playwright not installed", allow_module_level=True)

from playwright.sync_api import expect, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = tmp_path_factory.mktemp("serve")
    proc = subprocess.Popen([sys.executable, "-m", "fervid.apps.cli", "serve", "--port", str(port), "--data-dir", str(data)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    import urllib.request

    for _ in range(100):
        try:
            urllib.request.urlopen(url + "/healthz", timeout=1)
            break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail(f"server did not start: {proc.stdout.read().decode()}")
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def page():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1100, "height": 1400})
        yield page
        browser.close()


def test_photo_upload_shows_happy(server, page, astronaut_png):
    SHOTS.mkdir(exist_ok=True)
    page.goto(server + "/")
    page.set_input_files("#file-input", str(astronaut_png))
    expect(page.locator("#status")).to_contain_text("happy", timeout=30_000)
    expect(page.locator("#faces tbody tr")).to_have_count(1)
    expect(page.locator("#faces")).to_contain_text("happy")
    page.screenshot(path=str(SHOTS / "photo.png"), full_page=True)


def test_video_upload_shows_player_timeline_and_seeks(server, page):
    page.goto(server + "/")
    page.set_input_files("#file-input", str(CARPHONE))
    expect(page.locator("#video")).to_be_visible(timeout=120_000)
    expect(page.locator(".timeline canvas")).to_have_count(1)
    expect(page.locator("#timelines")).to_contain_text("Person #1")
    page.wait_for_function("document.querySelector('#player').readyState >= 1", timeout=30_000)
    duration = page.evaluate("document.querySelector('#player').duration")
    assert 3.5 < duration < 4.5  # the annotated MP4 decodes in the browser
    canvas = page.locator(".timeline canvas")
    box = canvas.bounding_box()
    canvas.click(position={"x": box["width"] * 0.75, "y": box["height"] / 2})
    page.wait_for_function("document.querySelector('#player').currentTime > 2", timeout=10_000)
    assert page.locator("#downloads a").count() == 4
    page.screenshot(path=str(SHOTS / "video.png"), full_page=True)
