"""End-to-end: a real headless Chromium drives the web page served by `fervid serve`.

Needs Debian's chromium (/usr/bin/chromium; `.ci/run` installs it) and Playwright for Python (no browser
download: it is pointed at that executable). Skipped locally when Chromium is missing; in CI (CI=true) a missing
browser is a failure, so the test cannot silently vanish. Screenshots go to tests/e2e/ (ignored by git).
"""

import io
import json
import re
from pathlib import Path
from urllib.parse import urljoin

import pytest

from fervid.inference.annotate import UNCERTAIN_MARK
from fervid.inference.models import ModelConfig, resolve_model_dir
from fervid.inference.video import sample_video

from browser import CHROMIUM, CHROMIUM_ARGS, CSP_WATCH, SHOTS, require_browser
from served import fervid_server, long_clip, prefix_proxy
from conftest import needs_sample_clip

CARPHONE = sample_video()
# the served model's threshold for an uncertain face, as the pages state it
UNCERTAIN_BELOW = f"{ModelConfig.load(resolve_model_dir() / 'config.json').uncertain_below:.0%}"
require_browser()
pytestmark = pytest.mark.slow  # a real Chromium and a `fervid serve` process

from playwright.sync_api import expect, sync_playwright  # noqa: E402


# What a page's status says, each change in window.said
SAID = """() => { window.said = [];
    new MutationObserver(() => said.push(document.querySelector('#status').textContent))
      .observe(document.querySelector('#status'), {childList: true, characterData: true, subtree: true}); }"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with fervid_server(tmp_path_factory.mktemp("serve")) as (url, _):
        yield url


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    """`fervid serve --root-path /fervid` behind a proxy that serves it at /fervid/ as the README's nginx example
    does (`location /fervid/ { proxy_pass http://127.0.0.1:PORT/; }`, the browser's Host and the WebSocket headers
    passed on)."""
    with fervid_server(tmp_path_factory.mktemp("serve-prefix"), "--root-path", "/fervid") as (upstream, _), \
            prefix_proxy(upstream, "/fervid", forward_host=True) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page(browser):
    page = browser.new_page(viewport={"width": 1100, "height": 1400})
    page.add_init_script(CSP_WATCH)
    yield page


def test_photo_upload_shows_happy(server, page, astronaut_png):
    SHOTS.mkdir(exist_ok=True)
    page.goto(server + "/")
    page.set_input_files("#file-input", str(astronaut_png))
    expect(page.locator("#status")).to_contain_text("happy", timeout=30_000)
    expect(page.locator("#faces tbody tr")).to_have_count(1)
    expect(page.locator("#faces")).to_contain_text("happy")
    # labelled as the annotated image is (face_label): with its confidence; not uncertain, so with no "?"
    expect(page.locator("#status")).to_have_text(re.compile(r"astronaut\.png: 1 face\(s\): happy \d+%$"))
    # what its percentage is, and "?" with the model's threshold; the JSON named for whom it is
    expect(page.locator("#photo-percent")).to_contain_text("how sure the model is")
    expect(page.locator("#photo-percent")).to_contain_text(f"less than {UNCERTAIN_BELOW} sure")
    expect(page.locator("#photo-numbering")).to_contain_text("numbered from the left")
    expect(page.locator("#photo-downloads .note")).to_have_text("For programmers: the result as JSON")
    page.screenshot(path=str(SHOTS / "photo.png"), full_page=True)
    assert page.evaluate("window.cspViolations") == []  # the photo drawn from a blob: URL, under the server's CSP


def test_an_uncertain_faces_row_shows_the_mark_once_and_tells_a_screen_reader_uncertain(server, page,
                                                                                      uncertain_face_png):
    """The photo's faces table said "surprise 44%? (uncertain)": the mark and the word for one flag. Its row shows
    the label as the annotated image does ("surprise 44%?"), and the mark is an image named "uncertain" to a screen
    reader, once."""
    page.goto(server + "/")
    page.set_input_files("#file-input", str(uncertain_face_png))
    expect(page.locator("#faces tbody tr")).to_have_count(1, timeout=30_000)
    label = page.locator("#faces tbody tr td").nth(1)
    expect(label).to_have_text(re.compile(r"^surprise \d+%\?$"))
    expect(label.get_by_role("img", name="uncertain", exact=True)).to_have_count(1)
    expect(page.locator("#faces")).not_to_contain_text("(uncertain)")


def test_a_photos_status_and_picture_say_its_faces_to_a_screen_reader(server, page, uncertain_face_png):
    """The status line said "surprise 44%?" to a screen reader (the mark read as nothing, or "question mark"), and
    the picture was "carphone_88.png with 1 face(s) outlined", its drawn labels unsaid: the status's mark is an image
    named "uncertain", and the picture's name lists each face's label in words."""
    page.goto(server + "/")
    page.set_input_files("#file-input", str(uncertain_face_png))
    status = page.locator("#status")
    expect(status).to_have_text(re.compile(r"^carphone_88\.png: 1 face\(s\): surprise \d+%\?$"), timeout=30_000)
    expect(status.get_by_role("img", name="uncertain", exact=True)).to_have_count(1)
    expect(status).to_have_attribute("aria-live", "polite")
    expect(page.get_by_role("img", name=re.compile(
        r"^carphone_88\.png with 1 face\(s\) outlined: 1 surprise \d+%, uncertain$"))).to_have_count(1)


def test_a_photos_faces_download_as_the_servers_csv_table_from_its_one_analysis(server, page, astronaut_png):
    """A video's faces could be downloaded as spreadsheets, a photo's as JSON only: the photo's link downloads the
    table `fervid image --csv` writes (the server's ?format=csv), named after the photo. It came from a second
    POST of the photo (?format=csv), analysed again: the photo is sent once, and its table comes with its JSON."""
    import csv

    from fervid.inference.records import IMAGE_TABLE_COLUMNS

    sent = []

    def note(request):
        if "/v1/images" in request.url:
            sent.append(request.url)

    page.on("request", note)
    try:
        page.goto(server + "/")
        page.set_input_files("#file-input", str(astronaut_png))
        expect(page.locator("#status")).to_contain_text("happy", timeout=30_000)
        link = page.locator("#photo-downloads").get_by_role("link", name="Download the faces (spreadsheet, CSV)")
        with page.expect_download(timeout=30_000) as made:
            link.click()
        with page.expect_download() as again:
            link.click()
        with page.expect_download() as json_made:
            page.get_by_role("link", name="the result as JSON").click()
    finally:
        page.remove_listener("request", note)
    assert len(sent) == 1, sent  # the photo's one analysis: none for its downloads
    download = made.value
    assert download.suggested_filename == "astronaut.csv"
    table = Path(download.path()).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(table)))
    assert list(rows[0]) == IMAGE_TABLE_COLUMNS and len(rows) == 1
    assert rows[0]["file"] == "astronaut.png" and rows[0]["emotion"] == "happy"
    shown = page.locator("#faces tbody td").nth(1).text_content()
    assert shown == f"happy {round(float(rows[0]['confidence']) * 100)}%", shown  # the faces the page shows
    upload = {"files": {"name": "astronaut.png", "mimeType": "image/png", "buffer": astronaut_png.read_bytes()}}
    served = page.request.post(server + "/v1/images?format=csv", multipart=upload)
    assert served.ok and table == served.text()
    assert Path(again.value.path()).read_text(encoding="utf-8") == table
    # the JSON download is the document `fervid image --json` writes, without the table it came with
    assert json.loads(Path(json_made.value.path()).read_text(encoding="utf-8"))["files"] == page.request.post(
        server + "/v1/images", multipart=upload).json()["files"]
    assert page.evaluate("window.cspViolations") == []


def test_a_photos_face_numbers_are_the_apis_in_its_boxes_list_and_table(server, page, astronaut_png, tmp_path):
    """A face's number is its place in the API's list (the CSV's `face`), which is the order the page explains:
    from the left, and faces one above the other from the top, column by column. The drawn labels, the faces
    list and the downloaded table number each face alike: a column of two faces, the lower one's box starting
    further left, is 1 above and 2 below, and the face right of them 3."""
    import csv

    from PIL import Image

    astronaut = Image.open(astronaut_png).convert("RGB")
    face = astronaut.crop((150, 20, 300, 200))  # 150 x 180
    photo = Image.new("RGB", (760, 620), (90, 110, 130))
    for box, size in (((130, 30), (150, 180)), ((100, 330), (165, 198)), ((480, 180), (210, 252))):
        photo.paste(face.resize(size), box)
    photo.save(tmp_path / "column.png")
    page.goto(server + "/")
    page.set_input_files("#file-input", str(tmp_path / "column.png"))
    expect(page.locator("#status")).to_contain_text("column.png: 3 face(s)", timeout=60_000)
    with page.expect_download() as made:
        page.get_by_role("link", name="Download the faces (spreadsheet, CSV)").click()
    rows = list(csv.DictReader(io.StringIO(Path(made.value.path()).read_text(encoding="utf-8"))))
    boxes = [{k: float(row[k]) for k in ("x", "y", "width", "height")} for row in rows]
    assert [row["face"] for row in rows] == ["1", "2", "3"]
    assert boxes[0]["y"] < boxes[1]["y"] and boxes[1]["x"] < boxes[0]["x"] < boxes[2]["x"], boxes  # as explained
    listed = page.locator("#faces tbody tr")
    labels = page.evaluate("JSON.parse(document.querySelector('#photo-canvas').dataset.labels)")
    spoken = page.locator("#photo-canvas").get_attribute("aria-label")
    for number, (row, box, label) in enumerate(zip(rows, boxes, labels), start=1):
        said = f"{row['emotion']} {float(row['confidence']):.0%}"
        uncertain = row["uncertain"] == "TRUE"
        assert listed.nth(number - 1).locator("td").first.text_content() == str(number)
        assert listed.nth(number - 1).locator("td").nth(1).text_content() == said + UNCERTAIN_MARK * uncertain
        assert label["text"] == f"{number} {said}{UNCERTAIN_MARK * uncertain}", label
        assert f"{number} {said}{', uncertain' * uncertain}" in spoken, spoken
        # drawn at its own face: above its box, below it, or inside its top, from its left edge
        assert label["x"] == pytest.approx(box["x"], abs=0.5), (label, box)
        assert any(label["y"] == pytest.approx(y, abs=0.5)
                   for y in (box["y"] - label["h"], box["y"] + box["height"], box["y"])), (label, box)


def answer_job_status(server_now, ends: dict):
    """A page route's handler (``tab.route("**/v1/jobs/*", ...)``) answering each job's status as the server does
    (``GET /v1/jobs/{id}``): done, its file named by the id's first letter, uploaded an hour before ``server_now``
    (the server's clock, its Date header too), deleted at ``ends[id]`` (``expires_at``)."""
    from email.utils import format_datetime

    def answer(route, request):
        job_id = request.url.rsplit("/", 1)[1]
        route.fulfill(status=200, content_type="application/json",
                      headers={"Date": format_datetime(server_now, usegmt=True)},
                      body=json.dumps({"id": job_id, "status": "done", "progress": 1.0, "error": None,
                                       "filename": f"{job_id[0]}.mp4", "created": server_now.timestamp() - 3600,
                                       "partial": False, "restarts": 0, "waiting_for": 0,
                                       "expires_at": ends[job_id].isoformat()}))

    return answer


def test_the_recent_list_keeps_and_drops_videos_by_the_servers_clock(server, browser):
    """The recent list dropped a video whose deletion time the browser's clock had passed: a browser a day fast
    listed none of the videos the server kept, and one a day slow listed those it had deleted until they were
    gone. It goes by the time of the server's answer (its Date header)."""
    from datetime import datetime, timedelta, timezone

    now = datetime.now(timezone.utc)
    kept, deleted = "a" * 32, "b" * 32
    ends = {kept: now + timedelta(hours=2), deleted: now - timedelta(hours=2)}  # by the server's clock, now
    context = browser.new_context()
    try:
        for browser_clock in (now + timedelta(days=1), now - timedelta(days=1)):
            tab = context.new_page()
            tab.route("**/v1/jobs/*", answer_job_status(now, ends))
            tab.clock.install(time=browser_clock)
            tab.goto(server + "/")
            tab.evaluate("""(ids) => { localStorage.setItem('fervid-recent-videos', JSON.stringify(ids.map((id) => (
                {job_id: id, name: `${id[0]}.mp4`, started: Date.now(), status_url: `v1/jobs/${id}`,
                 result_url: `v1/jobs/${id}/result`, live: false})))); }""", [kept, deleted])
            tab.reload()
            recent = tab.locator("#recent-list li")
            expect(recent).to_have_count(1)
            expect(recent.first).to_contain_text("a.mp4")
            uploaded = tab.evaluate("(when) => new Date(when).toLocaleString()", (now.timestamp() - 3600) * 1000)
            expect(recent.first).to_contain_text(f"uploaded {uploaded}, ready")  # the server's time of it
            stored = tab.evaluate("JSON.parse(localStorage.getItem('fervid-recent-videos')).map((e) => e.job_id)")
            assert stored == [kept], (browser_clock, stored)
            tab.close()
    finally:
        context.close()


@needs_sample_clip
def test_video_upload_shows_player_timeline_and_seeks(server, page):
    """Also what a keyboard or screen-reader user met: the status region repeated "running 0%" and the job id
    about 18 times in 11 s; the timeline had no time scale, Enter was its only key, and headings went from h1 to
    h3; key frames took the focus without saying they are buttons that seek."""
    page.goto(server + "/")
    page.evaluate(SAID)
    page.set_input_files("#file-input", str(CARPHONE))
    expect(page.locator("#video")).to_be_visible(timeout=120_000)
    expect(page.locator(".timeline canvas")).to_have_count(1)
    expect(page.locator("#timelines")).to_contain_text("Person #1")
    # the dominant emotion with its share and the track's uncertain share, as `fervid video` prints them
    expect(page.locator("#timelines h3")).to_have_text(re.compile(r", (mostly|most often) \w+ \(\d+%\), uncertain in "
                                                                  r"\d+% of frames$"))
    page.wait_for_function("() => document.querySelector('#player').readyState >= 1", timeout=30_000)
    duration = page.evaluate("document.querySelector('#player').duration")
    assert 3.5 < duration < 4.5  # the annotated MP4 decodes in the browser
    canvas = page.locator(".timeline canvas")
    box = canvas.bounding_box()
    canvas.click(position={"x": box["width"] * 0.75, "y": box["height"] / 2})
    page.wait_for_function("() => document.querySelector('#player').currentTime > 2", timeout=10_000)
    # the downloads a person opens first, in plain words: the episodes table leads; JSON and Parquet for programmers
    links = [a.text_content() for a in page.locator("#downloads a").all()]
    assert links == ["emotion episodes (spreadsheet)", "every frame (spreadsheet)",
                     "the video with faces marked (MP4)", "timeline of person #1 (picture)", "JSON", "Parquet"], links
    expect(page.locator("#downloads .note")).to_have_text("For programmers: JSON · Parquet")
    episodes = page.request.get(urljoin(server + "/", page.locator("#downloads a").first.get_attribute("href")))
    assert episodes.ok and episodes.text().startswith("track,")  # one row per emotion episode
    timeline = page.request.get(urljoin(server + "/", page.locator("#downloads a").nth(3).get_attribute("href")))
    assert timeline.ok and timeline.body().startswith(b"\x89PNG")
    # the two kinds of percentage, each said; "?" with the model's threshold
    note = page.locator("#video-percent")
    expect(note).to_contain_text("share of the time the face showed that emotion")
    expect(note).to_contain_text("how sure the model is")
    expect(note).to_contain_text(f"less than {UNCERTAIN_BELOW} sure")
    expect(page.locator("#keyframes-note")).to_contain_text("how sure the model is")
    # the timeline's vertical scale: how sure, from 0% to 100%
    scale = page.evaluate("JSON.parse(document.querySelector('.timeline canvas').dataset.scale)")
    assert scale == ["0%", "25%", "50%", "75%", "100%"], scale
    page.screenshot(path=str(SHOTS / "video.png"), full_page=True)
    assert page.evaluate("window.cspViolations") == []  # the video, key frames and styles, under the server's CSP

    said = page.evaluate("window.said")
    job_id = page.locator("#job").text_content().removeprefix("job ")
    assert len(job_id) == 32 and not any(job_id in text for text in said), said  # beside the status, not in it
    assert all(a != b for a, b in zip(said, said[1:])) and len(said) <= 13, said  # at most each 10%, and the end
    assert page.evaluate("JSON.parse(document.querySelector('.timeline canvas').dataset.ticks)")[:2] == ["0 s", "1 s"]
    expect(canvas).to_have_attribute("role", "slider")
    expect(canvas).to_have_attribute("aria-valuemax", f"{duration:.1f}")
    canvas.press("Home")
    canvas.press("ArrowRight")
    canvas.press("ArrowRight")
    assert page.evaluate("document.querySelector('#player').currentTime") == pytest.approx(2.0)
    expect(canvas).to_have_attribute("aria-valuetext", "2.0 s")
    canvas.press("ArrowLeft")
    assert page.evaluate("document.querySelector('#player').currentTime") == pytest.approx(1.0)
    levels = page.evaluate("""() => [...document.querySelectorAll('h1, h2, h3')].filter((h) => h.offsetParent)
                                      .map((h) => +h.tagName[1])""")
    assert levels[0] == 1 and all(b <= a + 1 for a, b in zip(levels, levels[1:])), levels  # no level skipped
    figure = page.locator("#keyframes figure").first
    expect(figure).to_have_attribute("role", "button")
    expect(figure).to_have_attribute("aria-label", re.compile(r"^Seek the video to \d+\.\d s: person #1, \w+$"))


def test_photo_labels_are_sized_for_the_screen_and_kept_apart(server, page, astronaut_png, tmp_path):
    """Labels were sized to the image, not as it is shown: a 6000 x 512 panorama's were 3 px high on the page, and
    a crowd's overlapped each other. They are 11-16 px as shown, sized to their face, and placed apart."""
    from PIL import Image

    astronaut = Image.open(astronaut_png).convert("RGB")
    panorama = Image.new("RGB", (6000, 512), (90, 110, 130))
    panorama.paste(astronaut, (2700, 0))
    panorama.save(tmp_path / "panorama.png")
    face = astronaut.crop((150, 20, 300, 200))  # 150 x 180
    crowd = Image.new("RGB", (4000, 800), (90, 110, 130))
    for i in range(12):  # 15 px apart: a label wider than a face and its gap (as shown) cannot go above each
        crowd.paste(face, (1000 + 165 * i, 300))
    crowd.save(tmp_path / "crowd.png")
    page.goto(server + "/")
    for name, faces in (("panorama.png", 1), ("crowd.png", 12)):
        page.set_input_files("#file-input", str(tmp_path / name))
        expect(page.locator("#status")).to_contain_text(f"{name}: {faces} face(s)", timeout=60_000)
        canvas = page.evaluate("""() => { const c = document.querySelector('#photo-canvas');
            return {scale: c.clientWidth / c.width, width: c.width, height: c.height,
                    labels: JSON.parse(c.dataset.labels)}; }""")
        labels, scale = canvas["labels"], canvas["scale"]
        assert scale < 0.3 and len(labels) == faces
        for i, label in enumerate(labels):
            assert 11 - 1e-6 <= label["font"] * scale <= 16 + 1e-6, (name, label, scale)  # as shown on the page
            assert label["x"] >= 0 and label["y"] >= 0 and label["x"] + label["w"] <= canvas["width"] + 1e-6
            assert label["y"] + label["h"] <= canvas["height"] + 1e-6 and label["h"] < 180
            for other in labels[i + 1:]:  # apart
                assert (label["x"] + label["w"] <= other["x"] or other["x"] + other["w"] <= label["x"]
                        or label["y"] + label["h"] <= other["y"] or other["y"] + other["h"] <= label["y"])


@needs_sample_clip
def test_a_no_annotate_server_shows_timelines_without_a_player_or_key_frames(tmp_path, page):
    """`fervid serve --no-annotate --key-frames 0` (a server that keeps no picture of a face): the page shows a
    video's timelines and tables, with no empty player, no key-frame heading and no broken download."""
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    with fervid_server(tmp_path / "serve", "--no-annotate", "--key-frames", "0", "--method", "mean") as (url, _):
        page.goto(url + "/")
        page.set_input_files("#file-input", str(CARPHONE))
        expect(page.locator("#timelines")).to_contain_text("Person #1", timeout=120_000)
        expect(page.locator("#status")).to_contain_text("mostly")
        assert page.locator("#player").is_hidden() and page.locator("#keyframes-heading").is_hidden()
        assert page.locator("#keyframes figure").count() == 0
        downloads = page.locator("#downloads a")
        assert downloads.count() >= 4 and "MP4" not in page.locator("#downloads").inner_text()
        for i in range(downloads.count()):  # each link answers
            assert page.request.get(urljoin(url + "/", downloads.nth(i).get_attribute("href"))).ok
        page.locator(".timeline canvas").click()  # seeking a player that is not there does no harm
    assert not errors, errors


def test_the_page_works_from_the_keyboard_and_keeps_its_layout(server, page, astronaut_png, tmp_path):
    """The file input was display:none (no Tab stop: the page needed a mouse); the live page's rules made the
    faces table a flex box and the timelines 40 px high; a TIFF the browser cannot draw lost its results."""
    from PIL import Image

    page.goto(server + "/")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")  # past the link to the live page
    assert page.evaluate("document.activeElement.id") == "file-input"
    Image.open(astronaut_png).save(tmp_path / "astronaut.tiff")
    page.set_input_files("#file-input", str(tmp_path / "astronaut.tiff"))
    expect(page.locator("#status")).to_contain_text("happy", timeout=30_000)
    expect(page.locator("#photo-note")).to_contain_text("cannot display astronaut.tiff")
    assert page.evaluate("getComputedStyle(document.querySelector('#faces')).display") == "table"
    downloads = page.locator("#photo-downloads a")  # the table, then the JSON: named after the photo
    expect(downloads).to_have_count(2)
    expect(downloads.first).to_have_attribute("download", "astronaut.csv")
    expect(downloads.last).to_have_attribute("download", "astronaut.json")


def test_a_tiff_after_a_photo_does_not_show_the_photo_before_it(server, page, astronaut_png, tmp_path):
    """The canvas's CSS display overrode its hidden attribute: a TIFF the browser cannot draw, dropped after a PNG,
    left the PNG's picture and boxes above the TIFF's faces table."""
    from PIL import Image

    page.goto(server + "/")
    page.set_input_files("#file-input", astronaut_png)
    expect(page.locator("#photo-canvas")).to_be_visible(timeout=30_000)
    Image.open(astronaut_png).convert("L").save(tmp_path / "grey.tiff")
    page.set_input_files("#file-input", str(tmp_path / "grey.tiff"))
    expect(page.locator("#photo-note")).to_contain_text("cannot display grey.tiff", timeout=30_000)
    expect(page.locator("#photo-canvas")).to_be_hidden()


@needs_sample_clip
def test_a_video_job_deleted_while_the_page_waits_is_said_and_a_new_file_wins(server, page, astronaut_png):
    page.goto(server + "/")
    page.set_input_files("#file-input", str(CARPHONE))
    page.wait_for_function("() => sessionStorage.getItem('fervid-video-job') !== null", timeout=30_000)
    job = page.evaluate("JSON.parse(sessionStorage.getItem('fervid-video-job'))")
    assert page.request.delete(server + f"/v1/jobs/{job['job_id']}").ok
    expect(page.locator("#status")).to_contain_text("no longer exists", timeout=30_000)  # it polled 404s for ever
    page.set_input_files("#file-input", str(CARPHONE))
    page.wait_for_function("() => document.querySelector('#status').textContent.includes('Analysing')",
                           timeout=30_000)
    job = page.evaluate("JSON.parse(sessionStorage.getItem('fervid-video-job'))")
    page.set_input_files("#file-input", str(astronaut_png))  # picked while the video runs: the photo's page stays
    expect(page.locator("#status")).to_contain_text("happy", timeout=30_000)
    for _ in range(240):  # until the video's job is done, and a moment for the page to have seen it
        if page.request.get(server + job["status_url"]).json()["status"] == "done":
            break
        page.wait_for_timeout(500)
    page.wait_for_timeout(1500)
    assert page.locator("#video").is_hidden() and "happy" in page.locator("#status").text_content()
    assert page.evaluate("getComputedStyle(document.querySelector('#drop input')).display") != "none"


def tab_job(tab, timeout=30_000) -> str:
    """The id of the video job a tab shows (said beside its status), once it has one."""
    expect(tab.locator("#job")).to_have_text(re.compile(r"^job [0-9a-f]{32}$"), timeout=timeout)
    return tab.locator("#job").text_content().removeprefix("job ")


@needs_sample_clip
def test_two_tabs_each_follow_their_own_video_through_a_reload(server, browser, tmp_path):
    """Tab A uploads long_class.mp4, tab B classroom.mp4, and A is reloaded during the analysis: A followed the
    video B picked last ("Analysing classroom.mp4", then classroom's results; long_class's were out of reach), as
    one key in localStorage held every tab's job. B, queued behind A, says what it waits for ("queued 0%")."""
    (tmp_path / "classroom.mp4").write_bytes(CARPHONE.read_bytes())
    long_class = long_clip(tmp_path / "long_class.mp4", CARPHONE, seconds=8.0)
    context = browser.new_context()
    try:
        tab_a, tab_b = context.new_page(), context.new_page()
        tab_a.goto(server + "/")
        tab_a.set_input_files("#file-input", str(long_class))
        job_a = tab_job(tab_a)
        tab_b.goto(server + "/")
        tab_b.evaluate(SAID)
        tab_b.set_input_files("#file-input", str(tmp_path / "classroom.mp4"))
        job_b = tab_job(tab_b)
        tab_a.reload()
        expect(tab_a.locator("#status")).to_contain_text("Analysing long_class.mp4")
        expect(tab_a.locator("#job")).to_have_text(f"job {job_a}")
        expect(tab_a.locator("#status")).to_contain_text("long_class.mp4: 1 person(s) tracked", timeout=180_000)
        expect(tab_b.locator("#status")).to_contain_text("classroom.mp4: 1 person(s) tracked", timeout=180_000)
        tab_a.reload()  # finished: the tab shows its own video's results again
        expect(tab_a.locator("#status")).to_contain_text("long_class.mp4: 1 person(s) tracked", timeout=30_000)
        expect(tab_a.locator("#video")).to_be_visible()
        assert tab_a.evaluate("document.querySelector('#player').src").endswith("long_class_annotated.mp4")
        assert tab_job(tab_b) == job_b != job_a
        # the server's one worker analysed long_class first: classroom's tab said so, then that it was starting
        said_b = tab_b.evaluate("window.said")
        assert "Analysing classroom.mp4: waiting for 1 other video to finish first" in said_b, said_b
        assert "Analysing classroom.mp4: starting" in said_b, said_b
        assert not any(re.search(r"(queued|running) 0%", text) for text in said_b), said_b
    finally:
        context.close()


@needs_sample_clip
def test_a_closed_tabs_video_is_listed_with_when_the_server_deletes_it(server, browser, tmp_path):
    """A video's results vanished with its tab (closed, or reloaded once done), and nothing said the server deletes
    them 24 h later. The page lists this browser's recent videos, with links that show their results again while
    the server keeps them, and says when it deletes them; one the server no longer has leaves the list."""
    from datetime import datetime

    (tmp_path / "lesson.mp4").write_bytes(CARPHONE.read_bytes())
    context = browser.new_context()
    try:
        tab = context.new_page()
        tab.goto(server + "/")
        expect(tab.locator("#recent")).to_be_hidden()  # nothing analysed from this browser yet
        tab.set_input_files("#file-input", str(tmp_path / "lesson.mp4"))
        job = tab_job(tab)
        expect(tab.locator("#video")).to_be_visible(timeout=120_000)
        expect(tab.locator("#expires")).to_contain_text("The server deletes these results on")
        expires = tab.request.get(f"{server}/v1/jobs/{job}").json()["expires_at"]
        deleted_on = tab.evaluate("(when) => new Date(when).toLocaleString()", expires)
        assert datetime.fromisoformat(expires).timestamp() == pytest.approx(
            datetime.now().timestamp() + 24 * 3600, abs=600)  # fervid serve's --job-ttl-hours, 24
        expect(tab.locator("#expires")).to_have_text(f"The server deletes these results on {deleted_on}: download "
                                                     "what you keep.")
        tab.close()

        tab = context.new_page()
        tab.goto(server + "/")
        expect(tab.locator("#video")).to_be_hidden()  # a new tab shows no video of its own...
        recent = tab.locator("#recent-list li")
        expect(recent).to_have_count(1)  # ... and lists this browser's
        expect(recent.first).to_contain_text("lesson.mp4")
        expect(recent.first).to_contain_text(f"ready, the server deletes it on {deleted_on}")
        recent.first.get_by_role("link", name="lesson.mp4").click()
        expect(tab.locator("#status")).to_contain_text("lesson.mp4: 1 person(s) tracked", timeout=30_000)
        expect(tab.locator("#expires")).to_contain_text(f"deletes these results on {deleted_on}")
        assert tab.evaluate("location.hash") == ""
        tab.reload()  # the reloaded tab shows the results it showed
        expect(tab.locator("#status")).to_contain_text("lesson.mp4: 1 person(s) tracked", timeout=30_000)

        assert tab.request.delete(f"{server}/v1/jobs/{job}").ok  # deleted (or expired): out of the list
        tab.reload()
        expect(tab.locator("#status")).to_contain_text("no longer exists", timeout=30_000)
        expect(tab.locator("#recent")).to_be_hidden()
        assert tab.evaluate("JSON.parse(localStorage.getItem('fervid-recent-videos'))") == []
    finally:
        context.close()


@needs_sample_clip
def test_a_page_that_loses_its_server_for_a_while_says_whom_to_ask(server, browser, tmp_path):
    """"Lost contact with the server; retrying…" repeated for ever, with no advice: after 30 s it says to ask
    whoever runs the server."""
    (tmp_path / "lesson.mp4").write_bytes(CARPHONE.read_bytes())
    context = browser.new_context()
    try:
        tab = context.new_page()
        tab.clock.install()
        tab.goto(server + "/")
        tab.set_input_files("#file-input", str(tmp_path / "lesson.mp4"))
        job = tab_job(tab)
        tab.route(f"**/v1/jobs/{job}", lambda route: route.abort())  # the server out of reach
        status = tab.locator("#status")
        expect(status).to_contain_text("Lost contact with the server; retrying… (lesson.mp4)", timeout=30_000)
        assert "ask whoever runs the server" not in status.text_content()
        for _ in range(40):  # 5 s of the page's time a step, until 30 s have gone without an answer
            if "If this goes on, ask whoever runs the server." in status.text_content():
                break
            tab.clock.run_for(5000)
            tab.wait_for_timeout(100)
        expect(status).to_have_text("Lost contact with the server; retrying… (lesson.mp4) If this goes on, ask "
                                    "whoever runs the server.")
        tab.unroute(f"**/v1/jobs/{job}")
        tab.clock.run_for(5000)
        expect(status).not_to_contain_text("Lost contact", timeout=30_000)
    finally:
        context.close()


def test_a_file_the_browser_gives_no_video_type_is_a_video_by_fervids_suffixes(server, page):
    """Browsers give .mts, .mxf and .vob files no video/ type; the page decides by fervid video's own suffixes
    (served in /constants.js; it kept a hand-made copy)."""
    page.goto(server + "/")
    names = ["interview.MTS", "camera.mxf", "clip.m2ts", "notes.ts", "photo.jpg"]
    assert page.evaluate(f"{names}.map(isVideoName)") == [True, True, True, False, False]


@needs_sample_clip
def test_a_dark_video_says_so_beside_its_results(server, page, tmp_path):
    """fervid video says a dark video was read on its levels stretched; the page said nothing of it."""
    import cv2

    from conftest import clip_writer

    cap = cv2.VideoCapture(str(CARPHONE))
    dim = tmp_path / "dim.mp4"
    writer = clip_writer(dim, 176, 144, 30.0)
    for _ in range(45):
        writer.write((cap.read()[1] // 16).astype("uint8"))
    writer.close()
    page.goto(server + "/")
    page.set_input_files("#file-input", str(dim))
    expect(page.locator("#status")).to_contain_text("dark in 45 of 45 analysed frames", timeout=120_000)


@needs_sample_clip
def test_the_pages_work_behind_a_reverse_proxy_under_a_path_prefix(proxied, page, astronaut_png):
    """Under a proxy's /fervid/ the page loaded, and then its stylesheet, scripts, uploads, the job's links and
    the live page's WebSocket (hard-wired to /v1/live) all went to the root and failed."""
    failed = []

    def note(response):
        if response.status >= 400:
            failed.append(f"{response.status} {response.url}")

    page.on("response", note)
    try:
        page.goto(proxied + "/")
        assert page.evaluate("getComputedStyle(document.querySelector('#drop')).borderStyle") != "none"  # styled
        page.set_input_files("#file-input", str(astronaut_png))
        expect(page.locator("#status")).to_contain_text("happy", timeout=30_000)
        page.set_input_files("#file-input", str(CARPHONE))
        expect(page.locator("#video")).to_be_visible(timeout=120_000)
        expect(page.locator("#timelines")).to_contain_text("Person #1")
        page.wait_for_function("() => document.querySelector('#player').readyState >= 1", timeout=30_000)
        page.wait_for_function("() => [...document.querySelectorAll('#keyframes img')].every((i) => i.complete)")
        assert page.evaluate("[...document.querySelectorAll('#keyframes img')].every((i) => i.naturalWidth > 0)")
        hrefs = [a.get_attribute("href") for a in page.locator("#downloads a").all()]
        assert len(hrefs) == 6 and all(h.startswith("/fervid/v1/jobs/") for h in hrefs), hrefs
        page.click("text=Live camera")
        page.wait_for_url(proxied + "/live")
        socket_url = page.evaluate("liveSocketUrl()")
        assert socket_url == proxied.replace("http://", "ws://") + "/v1/live"
        first = page.evaluate("""(url) => new Promise((resolve) => {
            const ws = new WebSocket(url);
            ws.onmessage = (e) => { resolve(JSON.parse(e.data)); ws.close(); };
            ws.onclose = (e) => resolve({closed: e.code});
        })""", socket_url)
        assert first.get("type") == "ready", first
    finally:
        page.remove_listener("response", note)
    assert not failed, failed


def test_a_finished_video_can_be_deleted_from_the_server_from_the_page_after_confirming(server, browser, tmp_path,
                                                                                         face_clip):
    """The page could not delete a job: its upload's results stayed on the server until they expired (24 h). A
    finished one (done or failed) has a "Delete from the server" button, on the page and in the recent list, which
    asks first, then sends DELETE /v1/jobs/{id} and drops it from this browser's list."""
    from datetime import datetime, timedelta, timezone

    (tmp_path / "lesson.mp4").write_bytes(face_clip.read_bytes())
    context = browser.new_context()
    try:
        tab = context.new_page()
        tab.goto(server + "/")
        tab.set_input_files("#file-input", str(tmp_path / "lesson.mp4"))
        job = tab_job(tab)
        expect(tab.locator("#video")).to_be_visible(timeout=120_000)
        button = tab.get_by_role("button", name="Delete from the server", exact=True)
        questions = []
        tab.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
        button.click()  # asked, and told no: nothing deleted
        expect(tab.locator("#video")).to_be_visible()
        assert questions and "lesson.mp4" in questions[0] and "cannot be undone" in questions[0], questions
        assert tab.request.get(f"{server}/v1/jobs/{job}").ok
        expect(tab.get_by_role("button", name="Delete lesson.mp4 from the server")).to_be_visible()  # the list's
        tab.once("dialog", lambda dialog: dialog.accept())
        button.click()
        expect(tab.locator("#status")).to_have_text("Deleted lesson.mp4 and its results from the server.")
        assert tab.request.get(f"{server}/v1/jobs/{job}").status == 404
        expect(tab.locator("#video")).to_be_hidden()
        expect(button).to_be_hidden()
        expect(tab.locator("#recent")).to_be_hidden()
        assert tab.evaluate("JSON.parse(localStorage.getItem('fervid-recent-videos'))") == []
        assert tab.locator("#player").get_attribute("src") is None and tab.locator("#keyframes img").count() == 0
        tab.reload()  # the tab no longer follows it
        expect(tab.locator("#status")).not_to_contain_text("no longer exists")
        expect(tab.locator("#video")).to_be_hidden()

        # a failed job in the list: deleted from there (a running one has no button)
        failed, running = "f" * 32, "e" * 32
        deleted = []

        def answer(route, request):
            job_id = request.url.rsplit("/", 1)[1]
            if request.method == "DELETE":
                deleted.append(job_id)
                return route.fulfill(status=200, content_type="application/json", body=json.dumps({"deleted": job_id}))
            status = "failed" if job_id == failed else "running"
            route.fulfill(status=200, content_type="application/json", body=json.dumps({
                "id": job_id, "status": status, "progress": 0.5, "error": "no frame could be read",
                "filename": f"{job_id[0]}.mp4", "created": datetime.now().timestamp(), "partial": False,
                "restarts": 0, "waiting_for": 0,
                "expires_at": (datetime.now(timezone.utc) + timedelta(hours=2)).isoformat() if status == "failed"
                else None}))

        for job_id in (failed, running):
            tab.route(f"**/v1/jobs/{job_id}", answer)
        tab.evaluate("""(ids) => { localStorage.setItem('fervid-recent-videos', JSON.stringify(ids.map((id) => (
            {job_id: id, name: `${id[0]}.mp4`, started: Date.now(), status_url: `v1/jobs/${id}`,
             result_url: `v1/jobs/${id}/result`, live: false})))); }""", [failed, running])
        tab.reload()
        expect(tab.locator("#recent-list li")).to_have_count(2)
        expect(tab.locator("#recent-list button")).to_have_count(1)
        tab.once("dialog", lambda dialog: dialog.accept())
        tab.get_by_role("button", name="Delete f.mp4 from the server").click()
        expect(tab.locator("#recent-list li")).to_have_count(1)
        expect(tab.locator("#recent-list li")).to_contain_text("e.mp4")
        assert deleted == [failed]
    finally:
        context.close()


def test_a_recent_video_whose_server_is_out_of_reach_leaves_the_list_when_the_server_said_it_deletes_it(
        server, browser):
    """The recent list (each upload's file name, in localStorage) kept a video whose server could not be reached
    "as it was", for ever. It goes at the time the server last said it deletes it, by this browser's clock (the
    server's clock 1 h ahead here)."""
    from datetime import datetime, timedelta, timezone

    now = datetime.now(timezone.utc)
    server_now = now + timedelta(hours=1)
    soon, later = "a" * 32, "b" * 32
    ends = {soon: server_now + timedelta(hours=2), later: server_now + timedelta(days=3)}  # the server's clock
    context = browser.new_context()
    try:
        tab = context.new_page()
        tab.route("**/v1/jobs/*", answer_job_status(server_now, ends))
        tab.goto(server + "/")
        tab.evaluate("""(ids) => { localStorage.setItem('fervid-recent-videos', JSON.stringify(ids.map((id) => (
            {job_id: id, name: `${id[0]}.mp4`, started: Date.now(), status_url: `v1/jobs/${id}`,
             result_url: `v1/jobs/${id}/result`, live: false})))); }""", [soon, later])
        tab.reload()
        expect(tab.locator("#recent-list li")).to_have_count(2)
        tab.close()

        for browser_clock, listed in ((now + timedelta(hours=1), ["a.mp4", "b.mp4"]),  # before either is deleted
                                      # after "a" (server: +1 h +2 h); before it by a clock that took the
                                      # server's times for its own
                                      (now + timedelta(hours=2, minutes=30), ["b.mp4"])):
            tab = context.new_page()
            tab.route("**/v1/jobs/*", lambda route: route.abort())  # the server out of reach
            tab.clock.install(time=browser_clock)
            tab.goto(server + "/")
            recent = tab.locator("#recent-list li")
            expect(recent).to_have_count(len(listed))
            for item, name in zip(recent.all(), listed):
                expect(item).to_contain_text(name)
            # as it last said, by this browser's clock (to the day: the Date header is to the second)
            deletes = tab.evaluate("(when) => new Date(when).toLocaleDateString()",
                                   (ends[later] - timedelta(hours=1)).timestamp() * 1000)
            expect(recent.last).to_contain_text(f"the server deletes it on {deletes}")
            stored = tab.evaluate("JSON.parse(localStorage.getItem('fervid-recent-videos')).map((e) => e.name)")
            assert stored == listed, (browser_clock, stored)
            tab.close()
    finally:
        context.close()
