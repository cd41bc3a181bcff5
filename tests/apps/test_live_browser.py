"""End-to-end: the /live page in Debian's Chromium with a fake camera (a Y4M file made here: the astronaut moving
and growing beside a second face, the carphone sample's man), served by a real `fervid serve`.

It checks what a user sees: the faces' boxes and the expected emotion within seconds, a timeline that grows,
stop + save giving a downloadable per-frame table, and a malformed WebSocket message answered with a clean error
that leaves the server serving.
"""

import csv
import io
import re

import cv2
import numpy as np
import pytest

from fervid.inference.video import sample_video

from browser import CHROMIUM, CHROMIUM_ARGS, CSP_WATCH, SHOTS, require_browser
from served import fervid_server
from conftest import needs_sample_clip

require_browser()
pytestmark = pytest.mark.slow  # a real Chromium with a fake camera and a `fervid serve` process

from playwright.sync_api import expect, sync_playwright  # noqa: E402

WIDTH, HEIGHT, FPS, FRAMES = 640, 480, 15, 60


def write_y4m(path, astronaut_rgb) -> None:
    """Two faces for Chromium's fake camera (it loops the file): the astronaut drifting and growing on the left,
    the carphone man (upscaled) on the right."""
    astronaut = cv2.cvtColor(astronaut_rgb[20:240, 120:330], cv2.COLOR_RGB2BGR)
    capture = cv2.VideoCapture(str(sample_video()))
    ok, man = capture.read()
    capture.release()
    assert ok
    man = cv2.resize(man[10:140, 30:150], None, fx=1.6, fy=1.6)
    with open(path, "wb") as fh:
        fh.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F{FPS}:1 Ip A1:1 C420jpeg\n".encode())
        for i in range(FRAMES):
            frame = np.full((HEIGHT, WIDTH, 3), 90, np.uint8)
            phase = 2 * np.pi * i / FRAMES
            face = cv2.resize(astronaut, None, fx=0.9 + 0.15 * np.sin(phase), fy=0.9 + 0.15 * np.sin(phase))
            x, y = int(50 + 40 * np.sin(phase)), int(60 + 20 * np.cos(phase))
            frame[y: y + face.shape[0], x: x + face.shape[1]] = face
            frame[150: 150 + man.shape[0], 400: 400 + man.shape[1]] = man
            fh.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with fervid_server(tmp_path_factory.mktemp("serve-live"), "--method", "mean") as (url, _):
        yield url


@pytest.fixture(scope="module")
def page(tmp_path_factory, astronaut_rgb):
    camera = tmp_path_factory.mktemp("camera") / "faces.y4m"
    write_y4m(camera, astronaut_rgb)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            *CHROMIUM_ARGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={camera}"])
        context = browser.new_context(viewport={"width": 1100, "height": 1300})
        context.add_init_script(CSP_WATCH)
        yield context.new_page()
        browser.close()


@needs_sample_clip
def test_live_page_shows_boxes_emotions_timelines_and_saves_the_session(server, page):
    """Also from the keyboard and a screen reader: Start and Stop disable themselves, and the focus fell to the
    page's body; the timelines were unlabelled canvases; nothing said a person's emotion changed."""
    SHOTS.mkdir(exist_ok=True)
    page.goto(server + "/live")
    assert page.locator("main #start").count() == 1  # the page has a main landmark
    page.check("#announce")  # opt-in: a polite live region says each person's new emotion
    page.focus("#start")
    page.keyboard.press("Enter")
    expect(page.locator("#faces .face[data-emotion='happy']")).to_have_count(1, timeout=30_000)
    assert page.evaluate("document.activeElement.id") == "stop"  # from the disabled Start to Stop
    expect(page.locator("#changes")).to_contain_text("happy")
    expect(page.locator("#changes")).to_have_attribute("aria-live", "polite")
    # the drawn labels, in words: the camera picture was a silent canvas to a screen reader
    expect(page.locator("#overlay")).to_have_attribute("aria-label", re.compile(
        r"^The camera picture, faces marked: (#\d+ \w+ \d+%(, uncertain)?; )*#\d+ happy \d+%"))
    timeline = page.locator("#timelines canvas").first
    expect(timeline).to_have_attribute("role", "img")
    expect(timeline).to_have_attribute("aria-label", re.compile(r"^track \d+, last 30 s: \w+ \d+%"))
    page.wait_for_function("() => JSON.parse(document.querySelector('#overlay').dataset.boxes || '[]').length >= 2",
                           timeout=15_000)
    boxes = page.evaluate("JSON.parse(document.querySelector('#overlay').dataset.boxes)")
    happy = [b for b in boxes if b["emotion"] == "happy"]
    assert happy and happy[0]["box"][2] > 50  # the astronaut's box, drawn at the camera image's scale
    points = lambda: page.evaluate(  # noqa: E731
        "Math.max(...[...document.querySelectorAll('#timelines canvas')].map(c => +c.dataset.points))")
    before = points()
    page.wait_for_timeout(2000)
    assert points() > before  # the timeline grows
    stats = page.evaluate("({fps: +document.querySelector('#fps').textContent, rtts: window.fervidLive.rtts})")
    assert stats["fps"] > 1 and len(stats["rtts"]) > 5
    page.screenshot(path=str(SHOTS / "live.png"), full_page=True)
    assert page.evaluate("window.cspViolations") == []  # the camera and the WebSocket, under the server's CSP

    page.keyboard.press("Enter")  # on Stop; "save the session" is checked by default
    link = page.locator("#download-csv")
    expect(link).to_be_visible(timeout=30_000)
    assert page.evaluate("document.activeElement.id") == "start"  # from the disabled Stop to Start
    table = page.request.get(server + link.get_attribute("href"))
    assert table.status == 200
    rows = list(csv.DictReader(io.StringIO(table.text())))
    assert len(rows) > 10 and "happy" in {r["emotion"] for r in rows} and {r["track"] for r in rows} >= {"1"}
    # the fake camera gives 15 frames/s: each sent once (a result came back faster and the same picture was sent
    # again, reported as 40+ frames/s)
    assert stats["fps"] <= FPS + 1

    # a second session: a frame left unanswered by the first blocked every send, under a "Live" status
    page.click("#start")
    page.wait_for_function("() => window.fervidLive.results > 5", timeout=30_000)
    # the dark-picture notice of a dark camera (shown as a result said so) went on showing after Stop: set and
    # stopped in one script, so that no result of this bright camera hides it in between
    page.evaluate("document.querySelector('#dark').hidden = false; document.querySelector('#stop').click()")
    assert page.evaluate("JSON.parse(document.querySelector('#overlay').dataset.boxes)") == []  # cleared
    assert page.evaluate("document.querySelector('#dark').hidden")


@needs_sample_clip
def test_a_malformed_message_gets_a_clean_error_and_the_server_goes_on(server, page):
    page.goto(server + "/live")
    closed = page.evaluate("""() => new Promise((resolve) => {
        const ws = new WebSocket(`ws://${location.host}/v1/live`);
        const seen = [];
        ws.onmessage = (e) => { seen.push(JSON.parse(e.data)); if (seen.length === 1) ws.send("not json"); };
        ws.onclose = (e) => resolve({code: e.code, reason: e.reason, messages: seen});
    })""")
    assert closed["code"] == 1007 and "JSON" in closed["reason"]
    assert [m["type"] for m in closed["messages"]] == ["ready", "error"]
    page.click("#start")  # a new session on the same server works
    expect(page.locator("#faces .face[data-emotion='happy']")).to_have_count(1, timeout=30_000)
    page.click("#stop")


@needs_sample_clip
def test_saved_sessions_are_listed_on_the_main_page_told_apart(server, page):
    """A saved session's results were reachable from the live page alone, until it was closed: "Your recent
    videos" listed uploaded videos only. Each saved session is listed there, named by when it ran, with a link that
    shows its timelines."""
    page.goto(server + "/live")
    page.evaluate("localStorage.removeItem('fervid-recent-videos')")  # the earlier tests' sessions
    for _ in range(2):
        page.click("#start")
        page.wait_for_function("() => window.fervidLive.results > 3", timeout=30_000)
        page.wait_for_timeout(1100)  # the two sessions start in different seconds
        page.click("#stop")
        expect(page.locator("#download-csv")).to_be_visible(timeout=30_000)
    jobs = page.evaluate("JSON.parse(localStorage.getItem('fervid-recent-videos')).map((entry) => entry.job_id)")
    assert jobs[0] == page.evaluate("window.fervidLive.saved.job_id")
    page.click("text=see its timelines on the main page")
    expect(page.locator("#status")).to_contain_text("person(s) tracked", timeout=30_000)
    expect(page.locator("#timelines canvas").first).to_be_visible()
    recent = page.locator("#recent-list li")
    expect(page.locator("#recent h2")).to_have_text("Your recent videos and live sessions")
    expect(recent).to_have_count(2)
    names = [item.get_by_role("link").text_content() for item in recent.all()]
    assert all(re.match(r"^live camera, .+ to .+ \(\d+ person\(s\)\)$", name) for name in names), names
    assert names[0] != names[1]
    expect(recent.first).to_contain_text("(saved ")  # not "uploaded"
    recent.nth(1).get_by_role("link").click()  # the first session, shown from its link
    expect(page.locator("#job")).to_have_text(f"job {jobs[1]}", timeout=30_000)
    expect(page.locator("#status")).to_contain_text(f"{names[1]}: ", timeout=30_000)
    expect(page.locator("#status")).to_contain_text("person(s) tracked")
