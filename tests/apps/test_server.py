import io
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote, urljoin

import httpx
import imageio_ffmpeg
import numpy as np
import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from PIL import Image

from fervid.apps.server import ServerSettings, create_app
from fervid.inference.video import OutputNames
from fervid.inference.options import PipelineOptions

from conftest import FACE_CLIP_FRAMES, refuse
from served import fervid_server, long_clip, prefix_proxy, wait_done

BASE = "http://127.0.0.1"  # the server answers only the Host names it serves


@pytest.fixture
def client(tmp_path):
    settings = ServerSettings(data_dir=tmp_path / "data", max_upload_mb=5, max_queued_jobs=2)
    with TestClient(create_app(settings), base_url=BASE) as c:
        yield c


def png_bytes(rgb) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG")
    return buf.getvalue()


def test_health_docs_and_page(client):

    assert client.get("/healthz").json()["status"] == "ok"
    for docs in ("/docs", "/redoc"):  # FastAPI's own pages load their scripts from a CDN: blank when offline
        page = client.get(docs)
        sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert page.status_code == 200 and sources and not [u for u in sources if "//" in u], sources
        assert all(client.get(u).status_code == 200 for u in sources)
    assert "/v1/images" in client.get("/openapi.json").json()["paths"]
    # ReDoc's script asked a CDN for its logo (a failed request and a console error offline)
    assert b"cdn.redoc.ly" not in client.get("/static-offline-docs/redoc.standalone.js").content
    spec = client.get("/openapi.json").json()
    assert not {"/", "/live"} & set(spec["paths"]) and spec["info"]["version"].endswith("(API v1)")  # pages, not API
    page = client.get("/")
    assert page.status_code == 200 and "Drop a photo or video" in page.text
    for path in ("/", "/live"):  # every script a page loads is served
        scripts = [urljoin(BASE + path, u) for u in re.findall(r'<script src="([^"]+)"', client.get(path).text)]
        assert BASE + "/constants.js" in scripts and all(client.get(u).status_code == 200 for u in scripts), scripts


def test_every_page_answers_head_as_get_does(client):
    """HEAD /live (an uptime monitor's or a link checker's check of the camera page) was a 405 while HEAD / answered;
    so were /docs, /redoc and /constants.js. Every route answering GET at a fixed path answers HEAD: GET's status
    and headers, no body."""
    pages = [route.path for route in client.app.routes
             if "GET" in (getattr(route, "methods", None) or ()) and "{" not in route.path]
    assert {"/", "/live", "/constants.js", "/docs", "/redoc", "/healthz"} <= set(pages), pages
    for path in pages:
        got, head = client.get(path), client.head(path)
        assert (head.status_code, head.content) == (got.status_code, b"") and got.status_code == 200, path
        assert [head.headers.get(h) for h in ("content-type", "content-length")] == [
            got.headers.get(h) for h in ("content-type", "content-length")], path


def test_the_pages_constants_are_fervids_own(client):
    """The pages kept hand-made copies of the emotions, their colours and the video suffixes; they now load
    fervid's, so a suffix fervid video learns to read is one the web page sends as a video too."""
    from fervid.emotions import EMOTIONS
    from fervid.inference.annotate import EMOTION_COLORS_BGR, EMOTION_DASHES
    from fervid.inference.video import VIDEO_SUFFIXES

    response = client.get("/constants.js")
    assert response.headers["content-type"].startswith("text/javascript")
    constants = dict(re.findall(r"^const (\w+) = (.+?);", response.text, re.MULTILINE))
    assert json.loads(constants["EMOTIONS"]) == list(EMOTIONS)
    assert set(json.loads(constants["VIDEO_SUFFIXES"])) == VIDEO_SUFFIXES
    # the served model's threshold for "?", which the pages state (their notes said "the model's threshold")
    from fervid.inference.models import ModelConfig, resolve_model_dir
    served = ModelConfig.load(resolve_model_dir() / "config.json").uncertain_below
    assert json.loads(constants["UNCERTAIN_BELOW"]) == served and 0 < served < 1
    colors = json.loads(constants["COLORS"])
    assert colors["happy"] == "#ccbb44" and colors["angry"] == "#ee6677"
    assert {name: tuple(int(c[i:i + 2], 16) for i in (5, 3, 1)) for name, c in colors.items()} == EMOTION_COLORS_BGR
    assert json.loads(constants["DASHES"]) == {name: list(dashes) for name, dashes in EMOTION_DASHES.items()}


def test_every_answer_tells_the_browser_what_it_may_do_with_it(client):
    """No answer had a Content-Security-Policy, nosniff, Referrer-Policy or framing rule: a page elsewhere could
    frame fervid's, and a job's URL (as good as its key) went out in Referer headers."""
    refused_host = TestClient(client.app, base_url="http://elsewhere.example").get("/")
    answers = [client.get(path) for path in ("/", "/live", "/static/app.js", "/v1/jobs/" + "0" * 32)]
    for answer in [*answers, refused_host]:
        assert answer.headers["x-content-type-options"] == "nosniff" and answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["referrer-policy"] == "no-referrer"
        policy = dict(d.strip().split(" ", 1) for d in answer.headers["content-security-policy"].split(";"))
        assert policy["default-src"] == "'self'" and policy["frame-ancestors"] == "'none'"
        assert "'unsafe-inline'" not in policy.get("script-src", policy["default-src"])
    assert refused_host.status_code == 400 and answers[-1].status_code == 404
    docs = client.get("/docs")  # Swagger UI starts itself with an inline script: no policy there
    assert "<script>" in docs.text and "content-security-policy" not in docs.headers
    assert docs.headers["x-frame-options"] == "DENY"


def test_openapi_describes_the_errors_the_server_sends(client):
    """The schema listed only 422, with FastAPI's validation body, which the server never sends: a generated
    client misread every error."""
    spec = client.get("/openapi.json").json()
    error = {"$ref": "#/components/schemas/ErrorOut"}
    images = spec["paths"]["/v1/images"]["post"]["responses"]
    assert {"400", "403", "413", "415", "422"} <= set(images)
    assert all(images[code]["content"]["application/json"]["schema"] == error for code in set(images) - {"200"})
    assert {"413", "415", "422", "429"} <= set(spec["paths"]["/v1/videos"]["post"]["responses"])
    # a GET has no body to be too large and changes nothing another origin could be refused for
    assert not {"403", "413"} & set(spec["paths"]["/healthz"]["get"]["responses"])
    assert "403" in spec["paths"]["/v1/jobs/{job_id}"]["delete"]["responses"]
    assert "404" in spec["paths"]["/v1/jobs/{job_id}"]["get"]["responses"]
    assert "409" in spec["paths"]["/v1/jobs/{job_id}/result"]["get"]["responses"]
    assert "HTTPValidationError" not in json.dumps(spec)
    # a malformed multipart body is a 400 too; /healthz answers any Host and nothing of it can be malformed
    assert "multipart" in images["400"]["description"] and "multipart" in spec["paths"]["/v1/videos"]["post"][
        "responses"]["400"]["description"]
    assert set(spec["paths"]["/healthz"]["get"]["responses"]) == {"200"}
    assert {"400", "404", "422"} <= set(spec["paths"]["/v1/jobs/{job_id}/files/{name}"]["get"]["responses"])
    # a job's files are videos, pictures, tables and JSON: documented as application/json alone, a generated
    # client parsed an MP4 as JSON
    files = spec["paths"]["/v1/jobs/{job_id}/files/{name}"]
    assert set(files["get"]["responses"]["200"]["content"]) == {
        "video/mp4", "image/png", "text/csv", "application/json", "application/octet-stream"}
    assert "head" in files and files["head"]["operationId"] != files["get"]["operationId"]
    # the schema is the body sent: `message` (words for the web page) only where the error names a server option
    schema, body = spec["components"]["schemas"]["ErrorOut"], client.get("/v1/jobs/" + "0" * 32).json()
    assert set(schema["required"]) == set(body) and set(schema["properties"]) == set(body) | {"message"}


def test_one_server_per_data_folder(tmp_path):
    """A second server on the same --data-dir queued the first one's running job again, deleted its outputs and
    ran it a second time."""
    from typer.testing import CliRunner

    from fervid.apps.cli import app
    from fervid.folder_lock import FolderLocked

    settings = ServerSettings(data_dir=tmp_path / "data")
    with TestClient(create_app(settings), base_url=BASE):
        with pytest.raises(FolderLocked, match=r"another fervid server \(pid \d+, this process\) is using this folder"):
            with TestClient(create_app(settings), base_url=BASE):
                pass
        with socket.socket() as probe:  # a free port: the address check comes before the folder's
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        refused = CliRunner().invoke(app, ["serve", "--data-dir", str(tmp_path / "data"), "--port", str(port)])
        assert refused.exit_code == 75 and "another fervid server" in refused.output  # as batch's: retry later
        assert "serving on" not in refused.output
    with TestClient(create_app(settings), base_url=BASE) as c:  # the lock goes with the server
        assert c.get("/healthz").status_code == 200


def test_images_endpoint_same_schema_as_cli(client, astronaut_rgb):
    r = client.post("/v1/images", files=[("files", ("a.png", png_bytes(astronaut_rgb), "image/png")),
                                         ("files", ("b.png", png_bytes(astronaut_rgb[:, ::-1].copy()), "image/png"))])
    assert r.status_code == 200
    body = r.json()
    assert [f["file"] for f in body["files"]] == ["a.png", "b.png"]
    face = body["files"][0]["faces"][0]
    assert face["emotion"] == "happy" and set(face["box"]) == {"x", "y", "width", "height"}


def test_a_server_started_with_no_landmarks_answers_faces_without_them(tmp_path, astronaut_rgb):
    """`fervid serve --no-landmarks` (PipelineOptions.landmarks False): POST /v1/images answers each face's
    landmarks as null and says "landmarks": false, with ?csv=true too; a server started without it gives them."""
    photo = [("files", ("a.png", png_bytes(astronaut_rgb), "image/png"))]
    answers = {}
    for landmarks in (True, False):
        settings = ServerSettings(data_dir=tmp_path / str(landmarks), pipeline=PipelineOptions(landmarks=landmarks))
        with TestClient(create_app(settings), base_url=BASE) as c:
            answers[landmarks] = [c.post(f"/v1/images{query}", files=photo) for query in ("", "?csv=true")]
    for landmarks, (plain, with_csv) in answers.items():
        for answer in (plain, with_csv):
            assert answer.status_code == 200, answer.text
            body = answer.json()
            (face,) = body["files"][0]["faces"]
            assert body["landmarks"] is landmarks
            assert (face["landmarks"] is None) if not landmarks else len(face["landmarks"]) == 5
    assert "landmark" not in answers[False][1].json()["csv"]


def test_images_as_csv_are_the_table_fervid_image_writes(client, astronaut_png, tmp_path, monkeypatch):
    """The web page offered a photo's faces as JSON only (a video's as spreadsheets too): ?format=csv answers the
    table `fervid image --csv` writes, a face per row with the JSON's values, and a row naming a file's error."""
    import csv

    from typer.testing import CliRunner

    from fervid.apps.cli import app
    from fervid.inference.records import IMAGE_TABLE_COLUMNS

    photo = [("files", ("astronaut.png", astronaut_png.read_bytes(), "image/png"))]
    r = client.post("/v1/images?format=csv", files=[*photo, ("files", ("notes.png", b"some text", "image/png"))])
    assert r.status_code == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert list(rows[0]) == IMAGE_TABLE_COLUMNS and [row["file"] for row in rows] == ["astronaut.png", "notes.png"]
    face = client.post("/v1/images", files=photo).json()["files"][0]["faces"][0]
    assert rows[0]["face"] == "1" and rows[0]["emotion"] == face["emotion"] == "happy"
    assert [float(rows[0][k]) for k in ("x", "y", "width", "height")] == list(face["box"].values())
    assert {e: float(rows[0][e]) for e in face["probabilities"]} == face["probabilities"]
    assert float(rows[0]["confidence"]) == face["confidence"] and rows[0]["uncertain"] == "FALSE"
    assert rows[1]["face"] == "" and "not an image" in rows[1]["error"]
    monkeypatch.chdir(astronaut_png.parent)  # the command line names the file as it is given: astronaut.png
    written = CliRunner().invoke(app, ["image", "astronaut.png", "--csv", str(tmp_path / "faces.csv"), "--quiet"])
    assert written.exit_code == 0, written.output
    only_photo = client.post("/v1/images?format=csv", files=photo).text
    assert only_photo == (tmp_path / "faces.csv").read_text(encoding="utf-8")
    # a format the server does not write is refused, not answered as JSON
    refused = client.post("/v1/images?format=xlsx", files=photo)
    assert refused.status_code == 422 and "format" in refused.json()["error"]


def test_images_with_csv_answer_the_json_and_its_table_from_one_analysis(client, astronaut_png, monkeypatch):
    """The web page asked for a photo's JSON, then POSTed the photo again (?format=csv) for its spreadsheet: each
    photo was analysed twice. ?csv=true answers the JSON document with the table ?format=csv answers, as its
    `csv`, from one analysis per image; ?format=csv with it, where it would change nothing, is refused."""
    from fervid.inference.analyzer import Analyzer

    analysed = []
    analyze_bgr = Analyzer.analyze_bgr

    def counted(self, image_bgr, source="", **options):
        analysed.append(source)
        return analyze_bgr(self, image_bgr, source, **options)

    monkeypatch.setattr(Analyzer, "analyze_bgr", counted)
    photos = [("files", ("astronaut.png", astronaut_png.read_bytes(), "image/png")),
              ("files", ("notes.png", b"some text", "image/png"))]
    both = client.post("/v1/images?csv=true", files=photos)
    assert both.status_code == 200 and both.headers["content-type"] == "application/json", both.text
    assert analysed == ["astronaut.png"]  # once (notes.png is no image: never analysed)
    answer = both.json()
    table = answer.pop("csv")
    analysed.clear()
    assert answer == client.post("/v1/images", files=photos).json()  # the JSON as it is without the table
    assert table == client.post("/v1/images?format=csv", files=photos).text  # the table as ?format=csv writes it
    assert analysed == ["astronaut.png"] * 2 and table.splitlines()[1].startswith("astronaut.png,1,")
    analysed.clear()
    refused = client.post("/v1/images?csv=true&format=csv", files=photos)
    assert refused.status_code == 422 and "csv=true" in refused.json()["error"] and not analysed
    # described in the API's schema
    spec = client.get("/openapi.json").json()["paths"]["/v1/images"]["post"]
    assert "csv" in [parameter["name"] for parameter in spec["parameters"]]
    assert "?csv=true" in spec["responses"]["422"]["description"]


def test_openapi_lists_the_csv_true_answers_schema_beside_the_documented_answer(client):
    """`POST /v1/images?csv=true` answers ImagesWithCsvOut, which its 200 names, but /openapi.json had no such
    schema: a client generated from it had no type for that answer. ImagesOut stays the documented answer."""
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    with_csv = schemas["ImagesWithCsvOut"]
    assert with_csv["properties"]["csv"]["type"] == "string" and "csv" in with_csv["required"]
    assert set(with_csv["properties"]) == set(schemas["ImagesOut"]["properties"]) | {"csv"}
    answer = spec["paths"]["/v1/images"]["post"]["responses"]["200"]
    assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ImagesOut"}
    assert "ImagesWithCsvOut" in answer["description"]
    # every schema it refers to is listed (its files' and faces' are the answers' own)
    referred = set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(spec)))
    assert "FileOut" in referred and referred <= set(schemas)


def test_an_iphones_heic_upload_is_analysed_with_the_heic_extra(client, astronaut_rgb):
    """A HEIC photo (an iPhone's default, uploaded from the web page or an app) was refused as not an image."""
    pytest.importorskip("pillow_heif")
    heic = io.BytesIO()
    Image.fromarray(astronaut_rgb).save(heic, "HEIF", quality=90)
    r = client.post("/v1/images", files=[("files", ("IMG_0001.HEIC", heic.getvalue(), "image/heic"))])
    assert r.status_code == 200, r.text
    assert [face["emotion"] for face in r.json()["files"][0]["faces"]] == ["happy"]


def test_image_errors_are_json(client, astronaut_rgb, face_clip):
    r = client.post("/v1/images", files=[("files", ("fake.jpg", b"this is text", "image/jpeg"))])
    assert r.status_code == 415 and "fake.jpg" in r.json()["error"]
    # one rule whatever the number of files: 415 when no file is an image (two bad files answered 200) ...
    r = client.post("/v1/images", files=[("files", ("fake.jpg", b"text", "image/jpeg")),
                                         ("files", ("empty.png", b"", "image/png"))])
    assert r.status_code == 415 and "fake.jpg" in r.json()["error"] and "empty.png" in r.json()["error"]
    # ... and 200 with each unreadable one listed, as in `fervid image --json`, when some are
    r = client.post("/v1/images", files=[("files", ("fake.jpg", b"text", "image/jpeg")),
                                         ("files", ("a.png", png_bytes(astronaut_rgb), "image/png"))])
    assert r.status_code == 200 and [f["ok"] for f in r.json()["files"]] == [False, True]
    assert r.json()["failed"] == 1 and "fake.jpg" in r.json()["files"][0]["error"]
    big = b"\0" * (6 * 1024 * 1024)
    r = client.post("/v1/images", files=[("files", ("big.png", big, "image/png"))])
    assert r.status_code == 413 and "MB" in r.json()["error"]
    r = client.post("/v1/images")
    assert r.status_code == 422
    # a raw image body is told how uploads go (it got only "body.files: Field required"), as an unsupported media
    # type (it was a 422)
    r = client.post("/v1/images", content=png_bytes(astronaut_rgb), headers={"content-type": "image/png"})
    assert r.status_code == 415 and "multipart/form-data" in r.json()["error"] and "files=@" in r.json()["error"]
    r = client.post("/v1/videos", content=face_clip.read_bytes(), headers={"content-type": "video/mp4"})
    assert r.status_code == 415 and "file=@" in r.json()["error"] and r.json()["status"] == 415


def test_a_malformed_multipart_body_is_a_json_400_and_leaves_stderr_alone(client, capfd, tmp_path):
    """python-multipart's own line ("Expected boundary character 45, got 103 at index 2") went to the server's
    stderr, through Python's last-resort log handler, beside the 400 answer."""
    for body in (b"garbage--xx\r\n", b"--xx\r\nno headers end"):
        r = client.post("/v1/images", content=body, headers={"content-type": "multipart/form-data; boundary=xx"})
        assert r.status_code in (400, 422) and set(r.json()) == {"error", "status"}
    r = client.post("/v1/videos", content=b"x", headers={"content-type": "multipart/form-data"})
    assert r.status_code == 400 and "boundary" in r.json()["error"]
    assert "boundary" not in capfd.readouterr().err
    import logging

    create_app(ServerSettings(data_dir=tmp_path / "second"))  # a second app (tests, an app embedding two)
    for name in ("python_multipart", "multipart"):  # its quiet handler is added once, not once per app
        assert sum(isinstance(h, logging.NullHandler) for h in logging.getLogger(name).handlers) == 1


def test_video_job_lifecycle(client, face_clip):
    r = client.post("/v1/videos", files={"file": ("face_clip.mp4", face_clip.read_bytes(), "video/mp4")})
    assert r.status_code == 202
    job_id = r.json()["job_id"]
    health = client.get("/healthz")
    # it answers while the job is still waiting or running (the analysis runs in a child process), and counts it;
    # the child needs seconds to load the models, so the job cannot have finished yet
    assert health.status_code == 200 and health.json()["queued_jobs"] + health.json()["running_jobs"] == 1
    assert client.get(f"/v1/jobs/{job_id}").json()["status"] in ("queued", "running")
    state = wait_done(client, job_id)
    assert state["status"] == "done", state
    result = client.get(f"/v1/jobs/{job_id}/result").json()
    assert len(result["tracks"]) == 1
    video = client.get(result["links"]["annotated_video"])
    assert video.status_code == 200 and video.content[4:8] == b"ftyp"
    head = client.head(result["links"]["annotated_video"])  # it was a 405
    assert head.status_code == 200 and head.content == b"" and head.headers["content-type"] == "video/mp4"
    assert int(head.headers["content-length"]) == len(video.content)
    assert client.head(f"/v1/jobs/{job_id}/files/none.png").status_code == 404
    assert client.get(result["tracks"][0]["timeline_url"]).headers["content-type"] == "image/png"
    frames = client.get(result["links"]["frames_json"]).json()
    assert len(frames["tracks"]["1"]["time"]) == FACE_CLIP_FRAMES
    # every table /files serves is linked: the episodes too (a job has no segments here)
    episodes = client.get(result["links"]["episodes_csv"])
    assert episodes.status_code == 200 and episodes.text.startswith("track,emotion,start,end,duration")
    assert "segments_csv" not in result["links"]
    # the timeline's times are its rows' (rounded to 3 decimals, 0.0334 was 0.033: no row's time)
    rows = client.get(result["links"]["frames_csv"]).text.splitlines()[1:]
    assert frames["tracks"]["1"]["time"] == [float(row.split(",")[0]) for row in rows]
    # saved under the uploaded file's name: downloads of several videos stay apart, and the saved JSON names the
    # video and its key frames as they download (stored as input.mp4, it said "input.mp4")
    assert 'filename="face_clip_annotated.mp4"' in video.headers["content-disposition"]
    saved = client.get(result["links"]["tracks_json"])
    assert 'filename="face_clip_tracks.json"' in saved.headers["content-disposition"]
    assert saved.json()["file"] == "face_clip.mp4"
    key_frame = saved.json()["tracks"][0]["episodes"][0]["key_frame"]
    assert key_frame.startswith("face_clip_track1_") and client.get(f"/v1/jobs/{job_id}/files/{key_frame}").is_success
    assert client.delete(f"/v1/jobs/{job_id}").status_code == 200
    assert client.get(f"/v1/jobs/{job_id}").status_code == 404


def test_no_answer_with_faces_or_results_is_kept_in_a_browsers_cache(client, astronaut_rgb, face_clip):
    """A job's files and results were served with an ETag and Last-Modified and no Cache-Control: a shared lab PC's
    browser cache (or a proxy) kept its key frames, annotated video and results after DELETE or expiry. Every API
    answer is no-store; the MP4 still answers a Range request (a player seeks with them)."""
    def uncached(response):
        assert response.headers.get("cache-control") == "no-store", (response.request.url, response.headers)
        return response

    for query in ("", "?csv=true", "?format=csv"):  # a photo's faces, in each form the page and clients ask for
        photo = uncached(client.post(f"/v1/images{query}", files={"files": ("a.png", png_bytes(astronaut_rgb))}))
        assert photo.status_code == 200
    job_id = uncached(client.post("/v1/videos", files={"file": ("face_clip.mp4", face_clip.read_bytes(),
                                                                "video/mp4")})).json()["job_id"]
    assert wait_done(client, job_id)["status"] == "done"
    uncached(client.get(f"/v1/jobs/{job_id}"))
    result = uncached(client.get(f"/v1/jobs/{job_id}/result")).json()
    uncached(client.get(result["links"]["frames_json"]))
    video_url = result["links"]["annotated_video"]
    for url in (video_url, result["links"]["tracks_json"], result["links"]["frames_csv"],
                result["tracks"][0]["timeline_url"], result["tracks"][0]["episodes"][0]["key_frame_url"]):
        assert uncached(client.get(url)).status_code == 200
        assert uncached(client.head(url)).status_code == 200
    size = int(client.head(video_url).headers["content-length"])
    part = uncached(client.get(video_url, headers={"Range": "bytes=4-7"}))
    # (Starlette before its FileResponse took Range, as the 0.37 of the dependency floors, answers the whole file)
    if part.status_code != 200 or len(part.content) != size:
        assert part.status_code == 206 and part.content == b"ftyp"
        assert part.headers["content-range"] == f"bytes 4-7/{size}"
    uncached(client.delete(f"/v1/jobs/{job_id}"))
    uncached(client.get(video_url))  # a 404 of a deleted job's file is not kept either
    # the pages and their scripts hold no one's results: cached as before
    assert "cache-control" not in client.get("/static/app.js").headers


@pytest.mark.parametrize("model", [None, "models/mine/model.onnx"], ids=["shipped-model", "relative-model-file"])
def test_a_video_job_runs_with_a_relative_data_folder(tmp_path, monkeypatch, face_clip, model):
    """The default --data-dir, fervid-data, is relative; the analysis child changes into its job's folder, where
    that path names nothing: every video job failed ("analysis process exited with 1"). So did a model named by a
    relative path to a file of its folder (`--model models/mine/model.onnx`), which the server took at its start."""
    from fervid.inference.models import resolve_model_dir

    monkeypatch.chdir(tmp_path)
    options = PipelineOptions(method="mean", annotate=False)
    if model:
        shutil.copytree(resolve_model_dir("fer2013_vgg"), tmp_path / "models" / "mine")
        options = options.replace(model=model)
    settings = ServerSettings(data_dir=Path("fervid-data"), pipeline=options)
    with TestClient(create_app(settings), base_url=BASE) as c:
        job_id = c.post("/v1/videos", files={"file": ("face_clip.mp4", face_clip.read_bytes(), "video/mp4")}
                        ).json()["job_id"]
        assert wait_done(c, job_id)["status"] == "done"
        assert len(c.get(f"/v1/jobs/{job_id}/result").json()["tracks"]) == 1


def python_site(tmp_path, monkeypatch, sitecustomize: str) -> None:
    """Every Python started from here on (a job's analysis child, a server) runs ``sitecustomize`` first: another
    system's differences, faked."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(sitecustomize, encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])))


def test_a_video_job_runs_where_python_has_no_os_nice(tmp_path, monkeypatch, face_clip):
    """Windows has no os.nice: every video job failed ("analysis process exited with 1", an AttributeError)."""
    python_site(tmp_path, monkeypatch, "import os\ndel os.nice\n")
    settings = ServerSettings(data_dir=tmp_path / "data", pipeline=PipelineOptions(method="mean", annotate=False))
    with TestClient(create_app(settings), base_url=BASE) as c:
        job_id = c.post("/v1/videos", files={"file": ("face_clip.mp4", face_clip.read_bytes(), "video/mp4")}
                        ).json()["job_id"]
        assert wait_done(c, job_id)["status"] == "done"


def test_where_windows_limits_paths_a_job_too_deep_for_its_outputs_fails_naming_the_servers_data_dir(
        tmp_path, monkeypatch, face_clip):
    """Where Windows limits paths, a job whose outputs would not fit in its folder fails before it is analysed,
    saying to give the server a shorter --data-dir (not "out_dir", the API's name), or the upload a shorter name."""
    python_site(tmp_path, monkeypatch, "import fervid.machine\nfervid.machine.long_paths_limited = lambda: True\n")
    data = tmp_path / ("data " * 30).strip()
    settings = ServerSettings(data_dir=data, pipeline=PipelineOptions(method="mean", annotate=False))
    with TestClient(create_app(settings), base_url=BASE) as c:
        job_id = c.post("/v1/videos", files={"file": ("face_clip.mp4", face_clip.read_bytes(), "video/mp4")}
                        ).json()["job_id"]
        state = wait_done(c, job_id)
    assert state["status"] == "failed", state
    # the job's folder, the server's own, is left out of a client's error (its outputs named out/face_clip_*)
    assert state["error"].startswith("out/face_clip_*: written as paths of up to "), state
    folder_most = 259 - len(f"/jobs/{job_id}/out/{OutputNames('face_clip').longest}")
    assert (f"give a shorter --data-dir (of at most {folder_most} characters as a full path) or a shorter name to "
            "the video, or enable long paths" in state["error"]), state


def test_serve_key_frames_caps_its_video_jobs_key_frames(tmp_path, face_clip):
    """`fervid serve --key-frames 0`: a job's result lists every episode, none with a key frame or a link to one."""
    settings = ServerSettings(data_dir=tmp_path / "data", pipeline=PipelineOptions(method="mean", annotate=False,
                                                                                    key_frames=0))
    with TestClient(create_app(settings), base_url=BASE) as c:
        job_id = c.post("/v1/videos", files={"file": ("face_clip.mp4", face_clip.read_bytes(), "video/mp4")}
                        ).json()["job_id"]
        assert wait_done(c, job_id)["status"] == "done"
        result = c.get(f"/v1/jobs/{job_id}/result").json()
    episodes = [ep for track in result["tracks"] for ep in track["episodes"]]
    assert result["key_frames"] == 0 and any(ep["end"] - ep["start"] >= 0.5 for ep in episodes)
    assert all(ep["key_frame"] is None and ep["key_frame_url"] is None for ep in episodes)
    assert not list((tmp_path / "data").glob(f"{job_id}/out/*_track1_0*.png"))


def test_serve_no_annotate_keeps_no_face_pictures_for_any_job(tmp_path, monkeypatch, face_clip):
    """`fervid serve` had no server-wide --no-annotate: every job the web page posted wrote an annotated MP4 (only
    the API's per-request ?annotate=false avoided it), and ServerSettings' own annotate=False did nothing."""
    from typer.testing import CliRunner

    import fervid.apps.server as server
    from fervid.apps.cli import app

    made = []

    def record_settings(settings):
        made.append(settings)
        return create_app(settings)  # (its start-up lines read what it found of the temporary folder)

    monkeypatch.setattr("fervid.apps.serving.run", lambda app, **options: None)
    monkeypatch.setattr(server, "create_app", record_settings)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = CliRunner().invoke(app, ["serve", "--port", str(port), "--data-dir", str(tmp_path / "d"),
                                       "--no-annotate", "--key-frames", "0", "--method", "mean"])
    assert started.exit_code == 0, started.output
    (settings,) = made
    assert settings.pipeline.annotate is False and settings.pipeline.key_frames == 0

    with TestClient(create_app(settings), base_url=BASE) as c:
        refused = c.post("/v1/videos?annotate=true", files={"file": ("face_clip.mp4", face_clip.read_bytes(),
                                                                     "video/mp4")})
        assert refused.status_code == 422 and "--no-annotate" in refused.json()["error"]
        job_id = c.post("/v1/videos", files={"file": ("face_clip.mp4", face_clip.read_bytes(), "video/mp4")}
                        ).json()["job_id"]  # as the web page posts it: no query
        assert wait_done(c, job_id)["status"] == "done"
        result = c.get(f"/v1/jobs/{job_id}/result").json()
        assert "annotated_video" not in result["links"] and len(result["tracks"]) == 1
        out = tmp_path / "d" / "jobs" / job_id / "out"
        pictures = sorted(p.name for p in out.iterdir() if p.suffix in (".mp4", ".png"))
        assert pictures == ["face_clip_track1_timeline.png"], pictures  # a chart of numbers, no face
        assert wait_gone(out.parent / "face_clip.mp4")


def modes(folder: Path) -> dict[str, str]:
    """Every path under ``folder`` (relative) and its permission bits, in octal."""
    return {str(p.relative_to(folder)): oct(p.stat().st_mode & 0o777) for p in folder.rglob("*")}


@pytest.fixture
def usual_umask():
    """The umask most systems give a user (022: new files readable by every local user), as fervid meets it."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def wait_gone(path: Path, timeout: float = 5.0) -> bool:
    deadline = time.time() + timeout
    while path.exists() and time.time() < deadline:
        time.sleep(0.05)
    return not path.exists()


def test_a_jobs_upload_is_deleted_when_its_analysis_ends_and_its_files_are_private(tmp_path, usual_umask, face_clip):
    """The uploaded original stayed in jobs/<id>/ until the job expired (24 h), though nothing served or read it
    again, and the data folder, job folders and files were 0755/0644: any local user could read participants'
    uploads and results."""
    data = tmp_path / "data"
    settings = ServerSettings(data_dir=data, pipeline=PipelineOptions(method="mean", annotate=False))
    with TestClient(create_app(settings), base_url=BASE) as c:
        job_id = c.post("/v1/videos", files={"file": ("face_clip.mp4", face_clip.read_bytes(), "video/mp4")}
                        ).json()["job_id"]
        assert wait_done(c, job_id)["status"] == "done"
        folder = data / "jobs" / job_id
        assert wait_gone(folder / "face_clip.mp4")  # the original, gone once its analysis ended
        result = c.get(f"/v1/jobs/{job_id}/result").json()  # the results stay, and are served
        assert len(result["tracks"]) == 1 and c.get(result["links"]["tracks_json"]).status_code == 200
        assert c.get(f"/v1/jobs/{job_id}/files/face_clip.mp4").status_code == 404
    assert oct(data.stat().st_mode & 0o777) == "0o700"
    files = modes(data)
    assert files["jobs"] == files[f"jobs/{job_id}"] == files[f"jobs/{job_id}/out"] == "0o700"
    written = {name: mode for name, mode in files.items() if (data / name).is_file()}  # .lock (the pid) too
    assert f"jobs/{job_id}/job.json" in written and f"jobs/{job_id}/out/face_clip_tracks.json" in written
    assert set(written.values()) == {"0o600"}, written


def test_a_failed_jobs_upload_is_deleted_too(tmp_path, face_clip):
    settings = ServerSettings(data_dir=tmp_path / "data", pipeline=PipelineOptions(
        model=str(tmp_path / "no-such-model"), method="mean", annotate=False))
    with TestClient(create_app(settings), base_url=BASE) as c:
        job_id = c.post("/v1/videos", files={"file": ("face_clip.mp4", face_clip.read_bytes(), "video/mp4")}
                        ).json()["job_id"]
        state = wait_done(c, job_id)
        assert state["status"] == "failed" and "no-such-model" in state["error"]
        assert wait_gone(tmp_path / "data" / "jobs" / job_id / "face_clip.mp4")


def test_an_older_servers_finished_jobs_lose_their_uploads_at_start_up(tmp_path, usual_umask, face_clip):
    """Jobs finished under an older fervid kept their uploads, in a jobs folder anyone could read; an unfinished
    job keeps its upload, which it is run again on."""
    jobs = tmp_path / "data" / "jobs"
    for job_id, status in (("a" * 32, "done"), ("b" * 32, "queued")):
        (jobs / job_id / "out").mkdir(parents=True)
        (jobs / job_id / "clip.mp4").write_bytes(face_clip.read_bytes())
        (jobs / job_id / "job.json").write_text(json.dumps({
            "id": job_id, "status": status, "input": "clip.mp4", "filename": "clip.mp4", "created": time.time(),
            "updated": time.time(), "stem": "clip"}))
    assert oct(jobs.stat().st_mode & 0o777) == "0o755"
    settings = ServerSettings(data_dir=tmp_path / "data", pipeline=PipelineOptions(method="mean", annotate=False))
    with TestClient(create_app(settings), base_url=BASE) as c:
        assert not (jobs / ("a" * 32) / "clip.mp4").exists() and (jobs / ("a" * 32) / "job.json").is_file()
        assert oct(jobs.stat().st_mode & 0o777) == "0o700"
        assert (jobs / ("b" * 32) / "clip.mp4").is_file()  # queued again: it needs its upload until it ends
        assert wait_done(c, "b" * 32)["status"] == "done"
        assert wait_gone(jobs / ("b" * 32) / "clip.mp4")


@pytest.mark.parametrize(("uploaded", "stored"), [
    ("carphone.mp4", "carphone.mp4"), ("Interview 3 (take 2).MOV", "Interview 3 (take 2).mov"), ("a;b&c.mp4", "a_b_c.mp4"),
    ("C:\\clips\\séance.mkv", "séance.mkv"), ("../../etc/passwd", "passwd.mp4"), ("..mp4", "video.mp4"),
    (None, "video.mp4")])
def test_an_upload_is_stored_under_its_own_plain_name(uploaded, stored):
    from fervid.apps.server import _input_name, is_file_name

    assert _input_name(uploaded) == stored and is_file_name(stored)


@pytest.mark.parametrize(("uploaded", "stored"), [
    ("Mu\u0308ller.mp4", "M\u00fcller.mp4"),  # macOS's decomposed "ü" (it was "Mu_ller.mp4")
    ("CON.mp4", "_CON.mp4"), ("con.MOV", "_con.mov"), ("Nul.backup.mkv", "_Nul.backup.mkv"), ("aux", "_aux.mp4"),
    ("COM1.avi", "_COM1.avi"), ("lpt9 .mp4", "_lpt9.mp4"), ("PRN.txt", "_PRN.mp4"), ("COM\u00b9.mp4", "_COM\u00b9.mp4"),
    ("CONSOLE.mp4", "CONSOLE.mp4"), ("COM10.mp4", "COM10.mp4"), ("my CON.mp4", "my CON.mp4")])
def test_an_upload_is_stored_under_a_name_every_system_can_store(uploaded, stored):
    """A name macOS sent decomposed lost its accents to "_"; a Windows device name (CON, NUL, COM1, ... in any case,
    with any suffix) cannot be stored on Windows."""
    from fervid.apps.server import _input_name, is_file_name

    assert _input_name(uploaded) == stored and is_file_name(stored)


@pytest.mark.parametrize("uploaded", [
    "हिंदी साक्षात्कार.mp4", "สวัสดี.mp4", "மொழி.mp4", "שָׁלוֹם.mp4",
    "فیلم\u200cها.mp4",  # a zero-width non-joiner, as Persian spells "films"
    "😀 ok.mp4", "👍🏽 1\ufe0f\u20e3.mp4"])  # an emoji with a skin tone, a keycap
def test_an_upload_keeps_the_combining_marks_of_its_name(uploaded):
    """Devanagari's, Thai's and Tamil's vowel signs and Hebrew's points are combining marks no composed form holds:
    "हिंदी साक्षात्कार.mp4" was stored (and downloaded) as "ह__द_ स_क_ष_त_क_र.mp4"."""
    from fervid.apps.server import _input_name, is_file_name

    assert _input_name(uploaded) == uploaded and is_file_name(uploaded)


@pytest.mark.parametrize(("uploaded", "stored"), [
    ("\u0301abc.mp4", "_abc.mp4"), (". \u0308x.mp4", "_x.mp4"), ("\u200dname.mp4", "_name.mp4"),  # a mark first
    ("evil\u202egnp.mp4", "evil_gnp.mp4"), ("a\u2066b\u2069.mp4", "a_b_.mp4"),  # bidirectional controls
    ("a\tb\x7f.mp4", "a_b_.mp4"), ("x^y`z.mp4", "x_y_z.mp4"), ("\udcff.mp4", "_.mp4")])
def test_an_upload_name_keeps_no_character_that_misleads_or_trips(uploaded, stored):
    from fervid.apps.server import _input_name, is_file_name

    assert _input_name(uploaded) == stored and is_file_name(stored)
    assert not is_file_name(uploaded)


@pytest.mark.parametrize("name", ["", ".", "..", ".hidden.png", "a/b.png", "a\\b.png", "\u0301a.png",
                                  "a\u202eb.png", "a\x00b.png", "\ud800.png", "é" * 200 + ".png"])
def test_no_hidden_path_control_or_overlong_name_is_a_job_file(name):
    from fervid.apps.server import is_file_name

    assert not is_file_name(name)


def test_a_video_named_in_hindi_is_served_under_its_name(client, face_clip):
    """Its outputs, its saved JSON's names and its downloads named it "ह__द_ स_क_ष_त_क_र"."""
    name = "हिंदी साक्षात्कार.mp4"
    answer = client.post("/v1/videos?annotate=false", files={"file": (name, face_clip.read_bytes(), "video/mp4")})
    assert answer.status_code == 202, answer.text
    job_id = answer.json()["job_id"]
    assert wait_done(client, job_id)["status"] == "done"
    result = client.get(f"/v1/jobs/{job_id}/result").json()
    assert result["file"] == name
    saved = client.get(result["links"]["tracks_json"])
    assert saved.is_success and quote("हिंदी साक्षात्कार_tracks.json") in saved.headers["content-disposition"]
    key_frame = saved.json()["tracks"][0]["episodes"][0]["key_frame"]
    assert key_frame.startswith("हिंदी साक्षात्कार_track1_")
    assert client.get(f"/v1/jobs/{job_id}/files/{quote(key_frame)}").is_success


def test_a_long_name_in_a_wide_script_is_cut_to_fit_a_file_name():
    """Cut to 100 characters, a Chinese name was 300 bytes: over the 255 a file name may have. Cut as `fervid
    video` cuts a stem (fitted_stem): to fit its outputs' names, whole characters, two names cut alike kept apart."""
    from fervid.apps.server import _input_name, is_file_name
    from fervid.inference.images import NAME_MAX, OUTPUT_SUFFIX_BYTES, fitted_stem

    stored = _input_name("视频" * 60 + ".mp4")
    stem = stored.removesuffix(".mp4")
    assert stem == fitted_stem("视频" * 60) and stem.startswith("视频" * 25) and is_file_name(stored)
    assert len(stem.encode()) <= NAME_MAX - OUTPUT_SUFFIX_BYTES
    assert _input_name("é" * 200 + ".mkv").startswith("é" * 80)  # 2 bytes each: no character cut in half
    assert _input_name("é" * 200 + "a.mkv") != _input_name("é" * 200 + "b.mkv")
    assert _input_name("a" * 149 + "视.mp4") == "a" * 149 + "视.mp4"  # it fits


def test_a_video_with_a_long_chinese_name_is_analysed(client, face_clip):
    """A 100-character Chinese name was an HTTP 500 (ENAMETOOLONG) that left an empty job folder; 80 characters
    failed the job after its analysis, when its outputs (the name and ~30 bytes more) were written."""
    name = "采访录像" * 25 + ".mp4"
    answer = client.post("/v1/videos?annotate=false", files={"file": (name, face_clip.read_bytes(), "video/mp4")})
    assert answer.status_code == 202, answer.text
    assert wait_done(client, answer.json()["job_id"])["status"] == "done"
    result = client.get(answer.json()["result_url"]).json()
    assert result["file"] == name and client.get(result["links"]["frames_csv"]).status_code == 200


def test_an_upload_that_cannot_be_stored_leaves_no_job_and_says_why(client, tmp_path, monkeypatch, face_clip):
    """A failed write of the upload was a plain-text 500 that left an empty job folder behind."""
    import errno

    import fervid.apps.server as server

    def full_disk(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(server.shutil, "copyfileobj", full_disk)
    answer = client.post("/v1/videos", files={"file": ("clip.mp4", face_clip.read_bytes(), "video/mp4")})
    assert answer.status_code == 507
    assert answer.json()["error"].startswith("the server's disk is full")
    assert list((tmp_path / "data" / "jobs").iterdir()) == []  # no job folder left


def test_a_quote_in_an_uploaded_name_is_the_quote(client, face_clip):
    """Browsers send '"', CR and LF in a multipart file name as %22, %0D and %0A; the name came back as sent."""
    answer = client.post("/v1/images", files={"files": ('say %22cheese%22.png', b"not a picture", "image/png")})
    assert answer.status_code == 415 and answer.json()["error"].startswith('say "cheese".png')
    answer = client.post("/v1/videos?annotate=false",
                         files={"file": ("take%0A2 %22final%22.mp4", face_clip.read_bytes(), "video/mp4")})
    assert client.get(answer.json()["status_url"]).json()["filename"] == 'take\n2 "final".mp4'
    wait_done(client, answer.json()["job_id"])


def test_video_job_without_the_annotated_copy(client, face_clip):
    job_id = client.post("/v1/videos?annotate=false",
                         files={"file": ("face_clip.mp4", face_clip.read_bytes(), "video/mp4")}).json()["job_id"]
    assert wait_done(client, job_id)["status"] == "done"
    result = client.get(f"/v1/jobs/{job_id}/result").json()
    assert "annotated_video" not in result["links"] and len(result["tracks"]) == 1
    assert client.get(result["tracks"][0]["timeline_url"]).status_code == 200
    assert len(client.get(result["links"]["frames_json"]).json()["tracks"]["1"]["time"]) == FACE_CLIP_FRAMES
    assert client.post("/v1/videos?annotate=maybe", files={"file": ("c.mp4", b"x", "video/mp4")}).status_code == 422
    # a setting the endpoint does not take was ignored: the video ran with the server's method, without a word
    unknown = client.post("/v1/videos?method=mean&annotate=false", files={"file": ("c.mp4", b"x", "video/mp4")})
    assert unknown.status_code == 422 and "unknown query parameter(s) method" in unknown.json()["error"]
    assert "it takes annotate" in unknown.json()["error"]
    assert client.get(f"/v1/jobs/{job_id}?x=1").status_code == 422


def test_video_rejects_non_videos_and_bad_ids(client, face_clip):
    r = client.post("/v1/videos", files={"file": ("x.mp4", b"not a video" * 100, "video/mp4")})
    assert r.status_code == 415 and "x.mp4" in r.json()["error"]
    for bad in ("../../etc", "..%2F..%2Fetc", "0" * 31, "zz" * 16):
        assert client.get(f"/v1/jobs/{bad}").status_code == 404
    r = client.post("/v1/videos", files={"file": ("c.mp4", face_clip.read_bytes(), "video/mp4")})
    job_id = r.json()["job_id"]
    assert client.get(f"/v1/jobs/{job_id}/files/..%2Fjob.json").status_code == 404
    wait_done(client, job_id)


def test_a_deleted_queued_job_frees_its_place_in_the_queue(tmp_path):
    """With --max-queued-jobs 1, deleting the queued job left uploads refused (429) until the running one ended."""
    from types import SimpleNamespace

    from fervid.apps.server import JobStore, VideoWorkers

    workers = VideoWorkers(JobStore(tmp_path / "jobs"), SimpleNamespace(workers=0, max_queued_jobs=1))
    assert workers.submit("a" * 32) and not workers.submit("b" * 32)
    workers.cancel("a" * 32)
    assert workers.submit("c" * 32)


def test_healthz_and_failed_jobs_answer_in_json(client, tmp_path):
    """The jobs folder removed under the server (a /tmp cleaner) made /healthz a plain-text 500; a failed job's
    result answered 409 without saying why; a multipart part without a file name got a Python class in its 422."""
    import shutil

    job_id = "f" * 32
    (tmp_path / "data" / "jobs" / job_id).mkdir(parents=True)
    (tmp_path / "data" / "jobs" / job_id / "job.json").write_text(json.dumps(
        {"id": job_id, "status": "failed", "error": "c.mp4: no video stream"}), encoding="utf-8")
    failed = client.get(f"/v1/jobs/{job_id}/result")
    assert failed.status_code == 409 and failed.json()["error"].endswith("is failed, not done: c.mp4: no video stream")
    shutil.rmtree(tmp_path / "data" / "jobs")
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json()["queued_jobs"] == 0
    nameless = client.post("/v1/images", files=[("files", ("", b"\xff\xd8", "image/jpeg"))])
    assert nameless.status_code == 422 and "<class" not in nameless.json()["error"]
    assert "not a file" in nameless.json()["error"]


def test_queue_bound_gives_429(tmp_path, face_clip):
    settings = ServerSettings(data_dir=tmp_path / "d", max_queued_jobs=1, workers=1)
    with TestClient(create_app(settings), base_url=BASE) as c:
        codes = [c.post("/v1/videos", files={"file": ("c.mp4", face_clip.read_bytes(), "video/mp4")}).status_code
                 for _ in range(4)]
        full = c.post("/v1/videos", files={"file": ("c.mp4", face_clip.read_bytes(), "video/mp4")})
    assert codes[0] == 202 and 429 in codes
    assert full.status_code == 429 and int(full.headers["retry-after"]) > 0
    assert "--max-queued-jobs" in full.json()["error"]
    # in words for the web page's user, without the option (there was no message)
    assert full.json()["message"] == ("The server is busy: 1 video(s) are already waiting. Try again in a minute.")


def test_a_full_queue_refuses_a_video_upload_before_reading_its_body(tmp_path, monkeypatch, face_clip):
    """With --max-queued-jobs 1 and one video waiting, a 9 MB upload got "100 Continue", was read whole, and only
    then refused (429): the client sent it all for nothing. It is refused before a byte of the body is read, with
    the same 429 and Retry-After."""
    import fervid.apps.server as server

    monkeypatch.setattr(server.VideoWorkers, "_work", lambda self: None)  # no worker: a queued job stays queued
    settings = ServerSettings(data_dir=tmp_path / "d", max_queued_jobs=1)
    with TestClient(create_app(settings), base_url=BASE) as c:
        assert c.post("/v1/videos", files={"file": ("c.mp4", face_clip.read_bytes(), "video/mp4")}
                      ).status_code == 202
        body_read, answer = [], []

        async def receive():
            body_read.append(True)
            return {"type": "http.request", "body": b"--x--\r\n", "more_body": False}  # (cut short)

        async def send(message):
            answer.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": "/v1/videos", "raw_path": b"/v1/videos", "query_string": b"",
                 "root_path": "", "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80),
                 "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"multipart/form-data; boundary=x"),
                             (b"content-length", str(9 * 1024 * 1024).encode()), (b"expect", b"100-continue")]}
        c.portal.call(c.app, scope, receive, send)
        assert len(list((tmp_path / "d" / "jobs").iterdir())) == 1  # the first job alone
    assert not body_read
    assert answer[0]["status"] == 429
    headers = dict(answer[0]["headers"])
    assert int(headers[b"retry-after"]) > 0 and headers[b"content-type"] == b"application/json"
    refused = json.loads(b"".join(m.get("body", b"") for m in answer[1:]))
    assert refused["status"] == 429 and "--max-queued-jobs" in refused["error"]
    assert refused["message"] == "The server is busy: 1 video(s) are already waiting. Try again in a minute."


def test_a_restart_says_which_jobs_it_queued_again_and_counts_each_jobs_restarts(tmp_path, monkeypatch, caplog,
                                                                                   face_clip):
    """After SIGTERM or kill -9 mid-job and a restart, nothing was said of the jobs run again, and a client polling
    a job saw it "running" both times with its progress falling (0.075, then 0.029). The start-up says so in one
    line, and the job's status counts its restarts: its progress fell back to 0 because it began again."""
    import logging

    import fervid.apps.server as server

    monkeypatch.setattr(server.VideoWorkers, "_work", lambda self: None)  # kept queued: what start-up made of them
    jobs = tmp_path / "d" / "jobs"
    cut_off, waiting = "1" * 32, "2" * 32
    for job_id, status, created in ((cut_off, "running", 1.0), (waiting, "queued", 2.0)):
        (jobs / job_id).mkdir(parents=True)
        (jobs / job_id / "input.mp4").write_bytes(face_clip.read_bytes())
        (jobs / job_id / "job.json").write_text(json.dumps({
            "id": job_id, "status": status, "input": "input.mp4", "filename": "c.mp4", "created": created,
            "progress": 0.075 if status == "running" else 0.0}), encoding="utf-8")
    settings = ServerSettings(data_dir=tmp_path / "d")
    for start, expected_restarts in ((1, 1), (2, 2)):  # the second start finds it queued: run again, not restarted
        if start == 2:  # cut off again once it ran
            server.JobStore(jobs).write(cut_off, status="running", progress=0.5)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="fervid.apps.server"):
            with TestClient(create_app(settings), base_url=BASE) as c:
                states = {job_id: c.get(f"/v1/jobs/{job_id}").json() for job_id in (cut_off, waiting)}
        assert (states[cut_off]["status"], states[cut_off]["progress"], states[cut_off]["restarts"]) == (
            "queued", 0.0, expected_restarts)
        assert states[waiting]["restarts"] == 0  # it never began
        said = [record.getMessage() for record in caplog.records if "queued again" in record.getMessage()]
        assert said == [f"2 unfinished video jobs queued again, each to run from the start: {cut_off}, {waiting}"]


def test_a_video_job_takes_one_file(client, face_clip):
    """A second file in the request was dropped without a word."""
    video = ("c.mp4", face_clip.read_bytes(), "video/mp4")
    r = client.post("/v1/videos", files=[("file", video), ("file", video)])
    assert r.status_code == 422 and "one" in r.json()["error"]
    assert client.get("/healthz").json()["queued_jobs"] == 0


def test_jobs_survive_a_restart(tmp_path, face_clip):
    settings = ServerSettings(data_dir=tmp_path / "d")
    with TestClient(create_app(settings), base_url=BASE) as c:
        job_id = c.post("/v1/videos", files={"file": ("c.mp4", face_clip.read_bytes(), "video/mp4")}).json()["job_id"]
        wait_done(c, job_id)
    with TestClient(create_app(settings), base_url=BASE) as c:  # a new server process over the same data dir
        assert c.get(f"/v1/jobs/{job_id}").json()["status"] == "done"
        assert len(c.get(f"/v1/jobs/{job_id}/result").json()["tracks"]) == 1


# --- hardening (issue 15): each case reproduces a failure found by probing the server --------------------------


def tiny_png(size=(64, 64), value=128) -> bytes:
    return png_bytes(np.full((*size[::-1], 3), value, np.uint8))


def png_declaring(width: int, height: int) -> bytes:
    """A small PNG whose header declares a huge image (a decompression bomb's shape), without its pixels."""
    data = bytearray(tiny_png((1, 1)))
    ihdr = data.index(b"IHDR")
    data[ihdr + 4:ihdr + 12] = struct.pack(">II", width, height)
    data[ihdr + 17:ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(data[ihdr:ihdr + 17])) & 0xFFFFFFFF)
    return bytes(data)


def test_streamed_upload_is_cut_off_at_the_request_limit(tmp_path):
    """1: the body is counted while it streams in and answered with 413 at the limit (a 1000 MB chunked upload
    used to be stored in full first); nothing beyond the limit reaches the disk."""
    with fervid_server(tmp_path / "d", "--max-upload-mb", "1", env={"TMPDIR": str(tmp_path)}) as (url, _):
        port = int(url.rsplit(":", 1)[1])
        boundary = "fervidboundary"
        head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.mp4\"\r\n"
                "Content-Type: video/mp4\r\n\r\n").encode()
        sent, answer, biggest_spool = 0, b"", 0
        with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
            conn.sendall((f"POST /v1/videos HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nTransfer-Encoding: chunked\r\n"
                          f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n").encode())
            chunk = head + b"\0" * (256 * 1024)
            conn.setblocking(False)
            try:
                while sent < 200 * 1024 * 1024 and b"\r\n\r\n" not in answer:  # at most 200 MB, never needed
                    conn.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    sent += len(chunk)
                    chunk = b"\0" * (256 * 1024)
                    biggest_spool = max([biggest_spool] + [f.stat().st_size for f in tmp_path.glob("tmp*")
                                                           if f.is_file()])
                    try:
                        answer += conn.recv(65536)
                    except BlockingIOError:
                        time.sleep(0.005)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server closed the connection after answering: that is the point
            conn.settimeout(30)  # the answer, if it has not come yet; a server still reading fails the test
            try:
                while b"\r\n\r\n" not in answer:
                    more = conn.recv(65536)
                    if not more:
                        break
                    answer += more
            except OSError:
                pass
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert sent < 20 * 1024 * 1024  # answered near the 1 MB limit, not after the whole upload
        assert biggest_spool <= 1024 * 1024 + 300 * 1024  # the form parser never held more than the limit
        assert not list((tmp_path / "d" / "jobs").iterdir())


def test_many_files_count_against_one_request_limit(tmp_path):
    settings = ServerSettings(data_dir=tmp_path / "d", max_upload_mb=1, max_images_per_request=300)
    rng = np.random.default_rng(0)
    many = [("files", (f"{i}.png", png_bytes(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)), "image/png"))
            for i in range(200)]
    assert sum(len(f[1][1]) for f in many) > 1024 * 1024  # each file is small, all together are not
    with TestClient(create_app(settings), base_url=BASE) as c:
        r = c.post("/v1/images", files=many)
        assert r.status_code == 413 and "MB" in r.json()["error"] and "--max-upload-mb" in r.json()["error"]
        # and in words for the web page's user, who cannot pass the server an option
        assert r.json()["message"] == ("The file is too big: this server takes files of up to 1 MB. Ask whoever "
                                       "runs the server to raise the limit.")
    settings = ServerSettings(data_dir=tmp_path / "e", max_images_per_request=4)
    with TestClient(create_app(settings), base_url=BASE) as c:
        r = c.post("/v1/images", files=many[:5])
        assert r.status_code == 413 and "at most 4" in r.json()["error"]
        # the web page's user is told in words too (it showed the bare error)
        assert r.json()["message"] == ("Too many pictures at once: this server takes up to 4 in one request, and 5 "
                                       "were sent. Send them in smaller groups.")


def test_decompression_bomb_is_refused_before_decoding(client):
    """2: a ~100-byte PNG declaring 12000 x 12000 used to be decoded (1.5 GB per request)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    r = client.post("/v1/images", files=[("files", ("bomb.png", png_declaring(12000, 12000), "image/png"))])
    assert r.status_code == 415 and "too large" in r.json()["error"] and "bomb.png" in r.json()["error"]
    # its size and the limit that refused it, by the option that sets it (it blamed Pillow's limit, not this one)
    assert "12000 x 12000 (144 megapixels; the limit is 50, the server's --max-image-megapixels)" in r.json()["error"]
    # the web page shows a message without the option: who can change the limit, and what the user can do
    assert r.json()["message"] == ("bomb.png is too large a picture for this server (144 megapixels; it takes up to "
                                   "50). Make it smaller, or ask whoever runs the server to raise the limit.")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100 * 1024  # kB: no 144 M pixels


@pytest.mark.parametrize("width, height, limit_megapixels, said", [
    (400, 500, 0.1, "0.2"),  # (read "0 megapixels; it takes up to 0.1")
    (7100, 7100, 50, "50.4"),  # (read "50 megapixels; it takes up to 50")
    (7072, 7072, 50, "50.01")])  # three figures would say 50, as the limit
def test_a_too_large_pictures_size_differs_from_the_limit_in_words(tmp_path, width, height, limit_megapixels, said):
    settings = ServerSettings(data_dir=tmp_path / "d", max_image_pixels=int(limit_megapixels * 1e6))
    with TestClient(create_app(settings), base_url=BASE) as c:
        r = c.post("/v1/images", files=[("files", ("big.png", png_declaring(width, height), "image/png"))])
    assert r.status_code == 415
    assert f"({said} megapixels; the limit is {limit_megapixels:g}" in r.json()["error"]
    assert r.json()["message"].startswith(f"big.png is too large a picture for this server ({said} megapixels; it "
                                          f"takes up to {limit_megapixels:g}). ")


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def kill_the_server_mid_job(tmp_path, data, face_clip) -> str:
    """Start a server, a long video job on it, and kill -9 the server once the job's analysis runs; its analysis
    child must end within 5 s. The job's id."""
    clip = long_clip(tmp_path / "long.mp4", face_clip)
    with fervid_server(data) as (url, proc):
        job_id = httpx.post(url + "/v1/videos", files={"file": ("long.mp4", clip.read_bytes(), "video/mp4")}
                            ).json()["job_id"]
        job_file = data / "jobs" / job_id / "job.json"
        deadline = time.time() + 60
        while not json.loads(job_file.read_text()).get("pid"):
            assert time.time() < deadline
            time.sleep(0.1)
        child = json.loads(job_file.read_text())["pid"]
        time.sleep(1.0)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.time() + 5
        while alive(child):  # the child notices its server is gone and stops
            assert time.time() < deadline, "analysis child outlived its server"
            time.sleep(0.1)
    return job_id


@pytest.mark.skipif(os.name != "posix", reason="kill -9 and process checks are POSIX")
def test_killed_server_leaves_no_orphan_and_the_job_runs_once_more(tmp_path, face_clip):
    """3: after kill -9 of the server its analysis child used to keep running beside the restarted server's."""
    data = tmp_path / "d"
    job_id = kill_the_server_mid_job(tmp_path, data, face_clip)
    with fervid_server(data) as (url, _):
        deadline = time.time() + 120
        while (state := httpx.get(f"{url}/v1/jobs/{job_id}").json())["status"] not in ("done", "failed"):
            assert time.time() < deadline
            time.sleep(0.3)
        assert state["status"] == "done" and not state["partial"], state
        result = httpx.get(f"{url}/v1/jobs/{job_id}/result").json()
        import cv2

        video = data / "jobs" / job_id / "out" / result["links"]["annotated_video"].rsplit("/", 1)[1]
        cap = cv2.VideoCapture(str(video))
        frames = 0
        while cap.read()[0]:
            frames += 1
        assert frames == result["frames_analysed"] > 300  # one complete, readable annotated MP4


@pytest.mark.skipif(os.name != "posix", reason="kill -9 and process checks are POSIX")
def test_a_killed_server_leaves_no_orphan_where_the_parent_pid_never_changes(tmp_path, monkeypatch, face_clip):
    """Windows: os.getppid() keeps a dead parent's id, which the analysis child watched: it ran on after its server
    was killed, into the folder the restarted server analysed the job into again."""
    python_site(tmp_path, monkeypatch, "import os\n_first = os.getppid()\nos.getppid = lambda: _first\n")
    kill_the_server_mid_job(tmp_path, tmp_path / "d", face_clip)


def wait_for_analysis(job_file: Path, timeout: float = 60) -> int:
    """The pid of a job's analysis process, once the server has started it."""
    deadline = time.time() + timeout
    while not (pid := json.loads(job_file.read_text(encoding="utf-8")).get("pid")):
        assert time.time() < deadline, "the job's analysis did not start"
        time.sleep(0.1)
    return pid


@pytest.mark.slow  # two server runs, one of them a 12 s clip's whole analysis
@pytest.mark.skipif(os.name != "posix", reason="process groups are POSIX")
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["systemd-stop", "ctrl-c"])
def test_stopping_the_servers_whole_process_group_leaves_its_running_job_to_run_again(tmp_path, stop, face_clip):
    """systemd stops a service by sending SIGTERM to its every process, and Ctrl-C in a terminal sends SIGINT to the
    whole foreground job: the job's analysis process was killed with the server, and its job failed for good
    ("video job ... failed: analysis process exited with -15"; the page said "Error: analysis process exited with
    -15" after the restart). It was interrupted: it runs again at the next start, as after any other stop."""
    data = tmp_path / "d"
    clip = long_clip(tmp_path / "long.mp4", face_clip)
    with fervid_server(data, own_process_group=True) as (url, proc):
        job_id = httpx.post(url + "/v1/videos", files={"file": ("long.mp4", clip.read_bytes(), "video/mp4")}
                            ).json()["job_id"]
        job_file = data / "jobs" / job_id / "job.json"
        deadline = time.time() + 120
        while not json.loads(job_file.read_text(encoding="utf-8")).get("progress"):  # under way
            assert time.time() < deadline
            time.sleep(0.1)
        os.killpg(proc.pid, stop)
        assert proc.wait(timeout=60) == 0
    stopped = json.loads(job_file.read_text(encoding="utf-8"))
    log = (data / "serve.log").read_text(encoding="utf-8")
    assert stopped["status"] in ("queued", "running") and stopped["error"] is None, stopped
    assert "failed" not in log and "Traceback" not in log, log
    with fervid_server(data) as (url, _):
        deadline = time.time() + 180
        while (state := httpx.get(f"{url}/v1/jobs/{job_id}").json())["status"] not in ("done", "failed"):
            assert time.time() < deadline
            time.sleep(0.3)
    assert state["status"] == "done" and not state["partial"] and state["error"] is None, state
    assert state["restarts"] == 1, state  # its progress fell back to 0: said
    assert f"1 unfinished video job queued again, each to run from the start: {job_id}" in (
        data / "serve.log").read_text(encoding="utf-8")


def test_an_analysis_stopped_by_sigterm_alone_runs_again(tmp_path, monkeypatch, face_clip):
    """A job's analysis process ended by SIGTERM while the server goes on (an administrator's kill, a stop that
    reached the analysis first) is queued again, not failed with "analysis process exited with -15"."""
    import fervid.apps.server as server

    monkeypatch.setattr(server, "INTERRUPTED_REQUEUE_WAIT_S", 0.5, raising=False)
    settings = ServerSettings(data_dir=tmp_path / "d", pipeline=PipelineOptions(method="mean", annotate=False))
    with TestClient(create_app(settings), base_url=BASE) as c:
        job_id = c.post("/v1/videos", files={"file": ("c.mp4", face_clip.read_bytes(), "video/mp4")}).json()["job_id"]
        first = wait_for_analysis(tmp_path / "d" / "jobs" / job_id / "job.json")
        os.kill(first, signal.SIGTERM)
        state = wait_done(c, job_id, timeout=120)
        assert state["status"] == "done" and state["error"] is None and state["restarts"] == 1, state
        # analysed by another process: run again, from the start
        assert json.loads((tmp_path / "d" / "jobs" / job_id / "job.json").read_text(encoding="utf-8"))["pid"] != first
        assert c.get(f"/v1/jobs/{job_id}/result").json()["tracks"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_an_analysis_killed_by_the_oom_killer_says_memory_ran_out_and_what_lowers_it(tmp_path, caplog, face_clip):
    """An analysis process the kernel's OOM killer ended (SIGKILL) failed its job with "analysis process exited
    with -9" alone: nothing said memory had run out, nor which of the server's options lower it."""
    import logging

    from typer.testing import CliRunner

    from fervid.apps.cli import app as cli_app

    settings = ServerSettings(data_dir=tmp_path / "d", pipeline=PipelineOptions(method="mean", annotate=False))
    with caplog.at_level(logging.WARNING, logger="fervid.apps.server"), \
            TestClient(create_app(settings), base_url=BASE) as c:
        job_id = c.post("/v1/videos", files={"file": ("c.mp4", face_clip.read_bytes(), "video/mp4")}).json()["job_id"]
        os.kill(wait_for_analysis(tmp_path / "d" / "jobs" / job_id / "job.json"), signal.SIGKILL)
        state = wait_done(c, job_id, timeout=120)
    assert state["status"] == "failed"
    assert state["error"] == (
        "analysis process was killed (SIGKILL), most often because memory ran out (the kernel's OOM killer, or a "
        "container's memory limit): the server's --frames-memory-mb and --max-video-megapixels lower what a job "
        "holds, and fewer --workers run fewer jobs at once")
    assert f"video job {job_id} failed: analysis process was killed (SIGKILL)" in caplog.text  # the operator's too
    # each option it names is fervid serve's
    serve_help = CliRunner().invoke(cli_app, ["serve", "--help"], terminal_width=200).output
    for option in re.findall(r"--[a-z-]+", state["error"]):
        assert option in serve_help, option
    # another signal by its name; an exit code as it is
    from fervid.apps.server import analysis_exit_error

    assert analysis_exit_error(-signal.SIGSEGV) == "analysis process was ended by SIGSEGV (signal 11)"
    assert analysis_exit_error(1) == "analysis process exited with 1"


def test_a_queued_jobs_status_says_how_many_videos_it_waits_for(tmp_path, face_clip):
    """A video queued behind another said "queued 0%" for 43 s, with no reason: its status says how many other
    videos must finish first (waiting_for), and a running one's says nothing of the queue."""
    clip = long_clip(tmp_path / "long.mp4", face_clip)
    settings = ServerSettings(data_dir=tmp_path / "d", workers=1, pipeline=PipelineOptions(annotate=False))
    with TestClient(create_app(settings), base_url=BASE) as c:
        def post(name, data):
            return c.post("/v1/videos", files={"file": (name, data, "video/mp4")}).json()["job_id"]

        first = post("long.mp4", clip.read_bytes())
        deadline = time.time() + 60
        while (running := c.get(f"/v1/jobs/{first}").json())["status"] != "running":
            assert time.time() < deadline
            time.sleep(0.1)
        second, third = post("b.mp4", face_clip.read_bytes()), post("c.mp4", face_clip.read_bytes())
        states = [c.get(f"/v1/jobs/{job_id}").json() for job_id in (first, second, third)]
        assert running["waiting_for"] is None and running["expires_at"] is None
        assert [(s["status"], s["waiting_for"], s["expires_at"]) for s in states] == [
            ("running", None, None), ("queued", 1, None), ("queued", 2, None)]
        c.delete(f"/v1/jobs/{second}")  # its place is freed: the third waits for the first alone
        assert c.get(f"/v1/jobs/{third}").json()["waiting_for"] == 1
        c.delete(f"/v1/jobs/{first}")
        deadline = time.time() + 60
        while (state := c.get(f"/v1/jobs/{third}").json())["status"] == "queued":
            assert time.time() < deadline
            time.sleep(0.1)
        assert state["waiting_for"] is None
        c.delete(f"/v1/jobs/{third}")


def test_a_two_worker_server_counts_only_the_videos_a_queued_job_really_waits_for(tmp_path):
    """With --workers 2, a video queued behind two running ones starts when one of them ends."""
    from types import SimpleNamespace

    from fervid.apps.server import JobStore, VideoWorkers

    workers = VideoWorkers(JobStore(tmp_path / "jobs"), SimpleNamespace(workers=0, max_queued_jobs=8))
    workers.settings = SimpleNamespace(workers=2, max_queued_jobs=8)  # two workers, none taking jobs
    for job_id in ("a" * 32, "b" * 32, "c" * 32, "d" * 32):
        workers.submit(job_id)
    for taken in ("a" * 32, "b" * 32):  # as two workers take the first two
        workers.waiting.pop(taken)
    workers.running.update({"a" * 32: threading.Event(), "b" * 32: threading.Event()})
    assert [workers.waiting_for(job_id) for job_id in ("a" * 32, "c" * 32, "d" * 32)] == [None, 1, 2]
    workers.running.pop("a" * 32)  # one ended: the next takes its worker at once
    assert workers.waiting_for("c" * 32) == 0


def test_a_finished_jobs_status_says_when_the_server_deletes_it(tmp_path):
    """The page never said that a video's results are deleted 24 h after it ends (--job-ttl-hours): a finished job's
    status says when (expires_at), and the server deletes it then."""
    from datetime import datetime

    job_id = "d" * 32
    folder = tmp_path / "d" / "jobs" / job_id
    folder.mkdir(parents=True)
    ended = time.time() - 3600 + 6  # a job that ended an hour ago, less 6 s: deleted 6 s from now
    (folder / "job.json").write_text(json.dumps({"id": job_id, "status": "done", "progress": 1.0, "error": None,
                                                 "filename": "c.mp4", "created": ended - 10, "updated": ended}),
                                     encoding="utf-8")
    settings = ServerSettings(data_dir=tmp_path / "d", job_ttl_hours=1)
    with TestClient(create_app(settings), base_url=BASE) as c:
        expires = c.get(f"/v1/jobs/{job_id}").json()["expires_at"]
    when = datetime.fromisoformat(expires)
    assert when.utcoffset() is not None and when.timestamp() == pytest.approx(ended + 3600, abs=1)
    time.sleep(max(0.0, when.timestamp() + 1.5 - time.time()))
    with TestClient(create_app(settings), base_url=BASE) as c:  # the cleanup at start-up: past expires_at, gone
        assert c.get(f"/v1/jobs/{job_id}").status_code == 404


def test_the_server_and_a_jobs_analysis_writing_its_state_at_once_never_break_it(tmp_path):
    """The server and a job's analysis process each write the job's job.json (its own JobStore, its own lock):
    both wrote it through one job.tmp, and one's write cut the other's short or moved it away under it (a
    FileNotFoundError that failed the job, or half a job.json)."""
    from fervid.apps.server import JobStore

    job_id = "a" * 32
    server, analysis = JobStore(tmp_path / "jobs"), JobStore(tmp_path / "jobs")
    server.make_folder(job_id)
    server.write(job_id, id=job_id, status="running")
    errors, states = [], []

    def write(store, field):
        try:
            for i in range(300):
                store.write(job_id, **{field: i})
        except Exception as exc:
            errors.append(exc)

    def read():
        while writers[0].is_alive() or writers[1].is_alive():
            states.append(server.read(job_id))  # a half-written job.json raises here

    writers = [threading.Thread(target=write, args=(server, "pid")),
               threading.Thread(target=write, args=(analysis, "progress"))]
    reader = threading.Thread(target=read)
    for thread in (*writers, reader):
        thread.start()
    for thread in (*writers, reader):
        thread.join()
    assert errors == [] and states
    assert [p.name for p in (tmp_path / "jobs" / job_id).iterdir()] == ["job.json"]  # no temporary file left
    assert server.read(job_id)["status"] == "running"


def test_a_replace_of_a_jobs_state_refused_for_a_moment_is_tried_again(tmp_path, monkeypatch):
    """Windows refuses to replace a file another process has open (the page polls job.json every 500 ms): one
    refusal failed the job."""
    from fervid.apps.server import JobStore

    store = JobStore(tmp_path / "jobs")
    job_id = "a" * 32
    store.make_folder(job_id)
    refused = refuse(monkeypatch, "replace", times=2)
    store.write(job_id, status="running", progress=0.5)
    assert len(refused) == 2 and store.read(job_id)["progress"] == 0.5
    assert [p.name for p in (tmp_path / "jobs" / job_id).iterdir()] == ["job.json"]


def test_a_progress_write_that_fails_leaves_the_analysis_going_and_is_logged_once(tmp_path, caplog):
    """A job's progress is a hint: a write of it that failed (a replace Windows refused) failed the whole job."""
    from fervid.apps.server import JobStore, _progress_writer

    class Refusing(JobStore):
        def write(self, job_id, **fields):
            raise PermissionError(13, "Access is denied", str(self.folder(job_id) / "job.json"))

    progress = _progress_writer(Refusing(tmp_path / "jobs"), "a" * 32)
    progress(1, 10)
    time.sleep(0.6)  # past the half second between progress writes
    progress(2, 10)
    assert [r.getMessage() for r in caplog.records] == [
        f"video job {'a' * 32}: its progress could not be written ([Errno 13] Access is denied: "
        f"'{tmp_path / 'jobs' / ('a' * 32) / 'job.json'}'); the analysis goes on"]


def recovered_job(data: Path, face_clip: Path, **fields) -> str:
    """An unfinished job as a server that stopped left it (`face_clip`); its id."""
    job_id = "e" * 32
    folder = data / "jobs" / job_id
    folder.mkdir(parents=True)
    (folder / "input.mp4").write_bytes(face_clip.read_bytes())
    (folder / "job.json").write_text(json.dumps({"id": job_id, "status": "running", "input": "input.mp4",
                                                 "filename": "c.mp4", "created": time.time(), **fields}),
                                     encoding="utf-8")
    return job_id


def test_a_pid_now_used_by_another_process_does_not_block_a_recovered_job(tmp_path, face_clip):
    """After a crash, a job's recorded pid can belong to an unrelated process (pids are reused soon in a container,
    and after a reboot): where no /proc tells a process's start time (macOS, Windows), the job failed with "a
    previous analysis of this job is still running" and its upload was deleted."""
    # what a server on macOS recorded
    job_id = recovered_job(tmp_path / "d", face_clip, pid=os.getpid(), pid_started=None)
    settings = ServerSettings(data_dir=tmp_path / "d", pipeline=PipelineOptions(method="mean", annotate=False))
    with TestClient(create_app(settings), base_url=BASE) as c:
        assert wait_done(c, job_id, timeout=120)["status"] == "done"


def test_a_recovered_job_whose_earlier_analysis_still_runs_is_not_run_again(tmp_path, monkeypatch, face_clip):
    """An earlier analysis of the job holds its lock (an orphan of a killed server that did not end): a second one
    into the same folder would clash with it."""
    import fervid.apps.server as server

    monkeypatch.setattr(server, "EARLIER_ANALYSIS_WAIT_S", 1.0)
    job_id = recovered_job(tmp_path / "d", face_clip)
    settings = ServerSettings(data_dir=tmp_path / "d", pipeline=PipelineOptions(method="mean", annotate=False))
    with server._analysis_lock(tmp_path / "d" / "jobs" / job_id):
        with TestClient(create_app(settings), base_url=BASE) as c:
            state = wait_done(c, job_id)
    assert state["status"] == "failed" and state["error"] == "a previous analysis of this job is still running"
    assert not (tmp_path / "d" / "jobs" / job_id / "out").exists()


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="process states come from /proc")
def test_process_states_read_from_proc_survive_a_name_with_parentheses_and_a_zombie(tmp_path):
    """The server finds a job's helpers, their start times and whether they have ended from /proc/<pid>/stat, whose
    second field is the program's name in parentheses: a name holding ") Z (" must not shift the fields after it,
    and a child that exited but was not yet waited for (a zombie) has ended."""
    from fervid.apps.server import _alive, _children, _process_started

    odd_name = tmp_path / "x) Z (y"
    odd_name.symlink_to(sys.executable)
    child = subprocess.Popen([str(odd_name), "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        started = _process_started(child.pid)
        assert started is not None and started.isdigit()
        assert (child.pid, started) in _children(os.getpid())
        assert _alive(child.pid)
        child.stdin.close()  # it exits; until waited for, it stays a zombie
        deadline = time.time() + 10
        while _alive(child.pid) and time.time() < deadline:
            time.sleep(0.05)
        assert not _alive(child.pid)
        assert child.poll() == 0
        assert not _alive(child.pid) and _process_started(child.pid) is None
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_every_unfinished_job_runs_after_a_restart_and_healthz_counts_them(tmp_path, face_clip):
    """4: more unfinished jobs than --max-queued-jobs used to stay "queued" forever while /healthz said 0."""
    jobs = tmp_path / "d" / "jobs"
    ids = []
    for i in range(4):
        job_id = f"{i:032x}"
        (jobs / job_id).mkdir(parents=True)
        (jobs / job_id / "input.mp4").write_bytes(face_clip.read_bytes())
        (jobs / job_id / "job.json").write_text(json.dumps({"id": job_id, "status": "queued" if i % 2 else "running",
                                                            "input": "input.mp4", "filename": f"c{i}.mp4",
                                                            "created": time.time() + i, "progress": 0.5}))
        ids.append(job_id)
    settings = ServerSettings(data_dir=tmp_path / "d", max_queued_jobs=1, pipeline=PipelineOptions(method="mean"))
    with TestClient(create_app(settings), base_url=BASE) as c:
        health = c.get("/healthz").json()
        assert health["queued_jobs"] + health["running_jobs"] == 4
        for job_id in ids:
            assert wait_done(c, job_id, timeout=120)["status"] == "done"
        assert c.get("/healthz").json()["queued_jobs"] == 0


def cut_video(tmp_path, face_clip) -> bytes:
    """An MJPEG AVI cut in half: the first frames decode, then the stream breaks."""
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    avi = tmp_path / "clip.avi"
    subprocess.run([ffmpeg, "-loglevel", "error", "-i", str(face_clip), "-c:v", "mjpeg", "-q:v", "5", str(avi)],
                   check=True)
    data = avi.read_bytes()
    return data[: len(data) // 2]


def test_a_photo_is_not_a_video_and_a_truncated_video_is_partial(client, tmp_path, astronaut_rgb, face_clip):
    """7: a PNG posted as a video used to end "done"; a truncated video's results were unreachable (409)."""
    r = client.post("/v1/videos", files={"file": ("photo.png", png_bytes(astronaut_rgb), "image/png")})
    assert r.status_code == 415 and r.json()["error"].count("photo.png") == 1 and "image" in r.json()["error"]
    job_id = client.post("/v1/videos", files={"file": ("cut.avi", cut_video(tmp_path, face_clip), "video/x-msvideo")}
                         ).json()["job_id"]
    state = wait_done(client, job_id)
    assert state["status"] == "done" and state["partial"] is True and "cut.avi" in state["error"]
    result = client.get(f"/v1/jobs/{job_id}/result")
    assert result.status_code == 200 and result.json()["partial"] is True
    assert 5 < result.json()["frames_analysed"] < FACE_CLIP_FRAMES


def test_no_server_path_or_object_repr_in_any_answer(client, tmp_path, face_clip):
    """8: errors and served files used to hold absolute server paths and a BytesIO repr; a long name gave a
    plain-text 500; FastAPI's own 404/405/422 used {"detail"}."""
    data_dir = str((tmp_path / "data").resolve())
    r = client.post("/v1/images", files=[("files", ("x.png", b"\x89PNG\r\n\x1a\n" + b"garbage" * 30, "image/png"))])
    assert r.status_code == 415 and " at 0x" not in r.json()["error"] and "BytesIO" not in r.json()["error"]
    job_id = client.post("/v1/videos", files={"file": ("cut.avi", cut_video(tmp_path, face_clip), "video/x-msvideo")}
                         ).json()["job_id"]
    wait_done(client, job_id)
    answers = [client.get(f"/v1/jobs/{job_id}").text, client.get(f"/v1/jobs/{job_id}/result").text]
    result = client.get(f"/v1/jobs/{job_id}/result").json()
    answers.append(client.get(result["links"]["tracks_json"]).text)
    answers.append(client.get(result["links"]["frames_csv"]).text)
    for text in answers:
        assert data_dir not in text and str(tmp_path) not in text
    long = client.get(f"/v1/jobs/{job_id}/files/{'a' * 300}.png")
    assert long.status_code == 404 and long.json() == {"error": "no such file", "status": 404}
    for response, status in ((client.get("/no/such/route"), 404), (client.put("/v1/images"), 405),
                             (client.post("/v1/images"), 422)):
        assert response.status_code == status
        assert set(response.json()) == {"error", "status"} and response.json()["status"] == status


def test_foreign_hosts_and_cross_origin_writes_are_refused(tmp_path, astronaut_rgb, face_clip):
    """9: any Host header used to be answered (DNS rebinding) and a cross-origin POST queued a job (CSRF)."""
    settings = ServerSettings(data_dir=tmp_path / "d", allowed_origins=("https://app.example",))
    with TestClient(create_app(settings), base_url=BASE) as c:
        for path in ("/", "/v1/jobs/" + "0" * 32, "/docs", "/openapi.json", "/static/app.js"):
            refused = c.get(path, headers={"host": "evil.example"})
            assert refused.status_code == 400 and "--allow-host" in refused.json()["error"]
        with pytest.raises(WebSocketDisconnect):
            with c.websocket_connect("/v1/live", headers={"host": "evil.example"}) as ws:
                ws.receive_json()
        assert c.get("/healthz", headers={"host": "localhost:8000"}).status_code == 200
        assert c.get("/healthz", headers={"host": "[::1]:8000"}).status_code == 200
        # /healthz names no job or file: a Kubernetes probe (Host: the pod's IP), a compose neighbour (fervid:8000)
        # and a LAN machine got 400
        for host in ("10.42.0.17:8000", "fervid:8000", "192.168.1.20:8768", "evil.example"):
            health = c.get("/healthz", headers={"host": host})
            assert health.status_code == 200 and set(health.json()) == {"status", "queued_jobs", "running_jobs",
                                                                        "disk_free_mb", "warnings"}
        photo = [("files", ("a.png", png_bytes(astronaut_rgb), "image/png"))]
        evil = c.post("/v1/images", files=photo, headers={"origin": "http://evil.example"})
        assert evil.status_code == 403 and "cross-origin" in evil.json()["error"]
        video = {"file": ("c.mp4", face_clip.read_bytes(), "video/mp4")}
        assert c.post("/v1/videos", files=video, headers={"origin": "http://evil.example"}).status_code == 403
        assert not list((tmp_path / "d" / "jobs").iterdir())
        assert c.post("/v1/images", files=photo, headers={"origin": "http://127.0.0.1"}).status_code == 200
        allowed = c.post("/v1/images", files=photo, headers={"origin": "https://app.example"})
        # the allowed front end's browser shows it the answer only with CORS headers (it used to get none)
        assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == "https://app.example"
        preflight = c.options("/v1/jobs/0123", headers={"origin": "https://app.example",
                                                        "access-control-request-method": "DELETE"})
        assert preflight.status_code == 200 and "DELETE" in preflight.headers["access-control-allow-methods"]
        refused = c.options("/v1/images", headers={"origin": "http://evil.example",
                                                   "access-control-request-method": "POST"})
        # JSON like every other error (it was text/plain "Disallowed CORS origin")
        assert refused.status_code == 400 and refused.headers["content-type"] == "application/json"
        assert refused.json() == {"error": "CORS preflight refused: disallowed CORS origin (see --allow-origin)",
                                  "status": 400}
        assert c.post("/v1/images", files=photo, headers={"sec-fetch-site": "cross-site"}).status_code == 403
        assert c.post("/v1/images", files=photo, headers={"origin": "http://evil.example",
                                                          "sec-fetch-site": "cross-site"}).status_code == 403
        # behind a proxy that forwards its own Host (nginx's default), the page's Origin is the proxy's: the
        # browser's Sec-Fetch-Site (no page can set it) says the page is this server's own
        proxied = c.post("/v1/images", files=photo, headers={"origin": "https://example.org",
                                                             "sec-fetch-site": "same-origin"})
        assert proxied.status_code == 200
        assert c.post("/v1/images", files=photo).status_code == 200  # scripts and curl send no Origin
    with TestClient(create_app(ServerSettings(data_dir=tmp_path / "e", allowed_hosts=("fervid.lan",))),
                    base_url="http://fervid.lan") as c:
        assert c.get("/healthz").status_code == 200


def test_healthz_and_job_polls_stay_fast_while_images_are_analysed(tmp_path, astronaut_rgb):
    """10: /healthz used to wait behind the image requests (up to 5.2 s during 100 concurrent posts); so did job
    status polls (4.7-8.7 s with 50-60 concurrent uploads: the waiting uploads held every worker thread)."""
    photo = png_bytes(astronaut_rgb)
    with fervid_server(tmp_path / "d") as (url, _):
        stop = threading.Event()
        codes = []

        def post():
            while not stop.is_set():
                codes.append(httpx.post(url + "/v1/images", files=[("files", ("a.png", photo, "image/png"))],
                                        timeout=120).status_code)

        with ThreadPoolExecutor(56) as pool:  # more uploads than the server's 40 worker threads
            for _ in range(56):
                pool.submit(post)
            time.sleep(3.0)  # let the load build up
            latencies = {"/healthz": [], f"/v1/jobs/{'0' * 32}": []}
            with httpx.Client(base_url=url) as probe:
                # its connection made first: a fresh client's first request took 1.2 s on a saturated machine
                assert probe.get("/healthz", timeout=30).status_code == 200
                for _ in range(10):
                    for path, times in latencies.items():
                        t0 = time.perf_counter()
                        assert probe.get(path, timeout=30).status_code in (200, 404)
                        times.append(time.perf_counter() - t0)
                    time.sleep(0.1)
            stop.set()
        assert codes and set(codes) == {200}
        for times in latencies.values():
            assert float(np.median(times)) < 0.1 and max(times) < 2.0, latencies


@pytest.mark.parametrize("name, value", [("workers", 0), ("max_queued_jobs", 0), ("max_upload_mb", -1.0),
                                         ("job_ttl_hours", float("nan")), ("max_images_per_request", 0),
                                         ("max_image_pixels", 0)])
def test_settings_that_would_break_the_server_are_refused(name, value):
    """workers=0 used to start a server whose video jobs queued and never ran."""
    with pytest.raises(ValueError, match=f"{name} must be positive"):
        ServerSettings(**{name: value})


def test_the_servers_image_limit_is_its_analyzers_too():
    """The server's --max-image-megapixels is the limit of the analyzer it makes (PipelineOptions.max_image_pixels,
    which the Python API reads images by): one limit, given once."""
    from fervid.errors import OptionError

    settings = ServerSettings(max_image_pixels=12_000_000)
    assert settings.pipeline.max_image_pixels == 12_000_000
    assert ServerSettings().pipeline.max_image_pixels == ServerSettings().max_image_pixels == 50_000_000
    with pytest.raises(OptionError, match="the server has one image limit, and uploads need one; give it once"):
        ServerSettings(max_image_pixels=12_000_000, pipeline=PipelineOptions(max_image_pixels=3_000_000))
    # given once, in the pipeline, it is the server's (it was refused as given twice)
    settings = ServerSettings(pipeline=PipelineOptions(max_image_pixels=3_000_000))
    assert settings.max_image_pixels == settings.pipeline.max_image_pixels == 3_000_000
    with pytest.raises(OptionError, match="uploads need one"):  # None: no limit, which an upload cannot have
        ServerSettings(pipeline=PipelineOptions(max_image_pixels=None))


def test_serve_names_a_bad_limit_before_starting():
    from typer.testing import CliRunner

    from fervid.apps.cli import app

    result = CliRunner().invoke(app, ["serve", "--workers", "0"])
    assert result.exit_code == 2 and "workers must be positive, not 0" in result.output
    result = CliRunner().invoke(app, ["serve", "--max-image-megapixels", "inf"])
    assert result.exit_code == 2 and "--max-image-megapixels must be positive, not inf" in result.output


# --- deploying it (issue: an app developer's probe) ------------------------------------------------------------


def page_references(text: str) -> list[str]:
    """The URLs a page loads or links to: src, href, ReDoc's spec-url and Swagger UI's `url: '...'`."""
    found = re.findall(r'(?:src|href|spec-url)="([^"]+)"', text) + re.findall(r"\burl: '([^']+)'", text)
    return [ref for ref in found if not ref.startswith("data:")]


def test_behind_a_reverse_proxy_under_a_path_prefix(tmp_path, face_clip):
    """Behind nginx's `location /fervid/ { proxy_pass http://127.0.0.1:8765/; }` the page loaded, but its assets,
    /docs' OpenAPI and scripts, and the API's links (status_url, result links) all pointed at the root: 404s.
    `fervid serve --root-path /fervid` behind a proxy that strips the prefix: every one answers, through it."""
    video = {"file": ("face_clip.mp4", face_clip.read_bytes(), "video/mp4")}
    with fervid_server(tmp_path / "d", "--root-path", "/fervid/", "--method", "mean") as (upstream, _), \
            prefix_proxy(upstream, "/fervid") as url, httpx.Client(timeout=30) as http:
        origin = url.removesuffix("/fervid")
        assert http.get(origin + "/static/app.js").status_code == 404  # the proxy serves its prefix only
        for page in ("/", "/live", "/docs", "/redoc"):
            answer = http.get(url + page)
            references = page_references(answer.text)
            assert answer.status_code == 200 and references, page
            for reference in references:  # relative (the pages) or carrying the prefix (the docs)
                resolved = urljoin(url + page, reference)
                assert resolved.startswith(url + "/") and http.get(resolved).status_code == 200, (page, reference)
        assert http.get(url + "/openapi.json").json()["servers"] == [{"url": "/fervid"}]  # /docs' "Try it out"
        assert http.get(url + "/healthz").json()["status"] == "ok"
        posted = http.post(url + "/v1/videos?annotate=false", files=video)
        assert posted.status_code == 202, posted.text
        job = posted.json()
        assert job["status_url"] == f"/fervid/v1/jobs/{job['job_id']}"
        assert job["result_url"] == f"/fervid/v1/jobs/{job['job_id']}/result"
        deadline = time.time() + 120
        while http.get(origin + job["status_url"]).json()["status"] not in ("done", "failed"):
            assert time.time() < deadline
            time.sleep(0.3)
        result = http.get(origin + job["result_url"]).json()
        episodes = [ep for track in result["tracks"] for ep in track["episodes"]]
        links = [*result["links"].values(), *(track["timeline_url"] for track in result["tracks"]),
                 *(ep["key_frame_url"] for ep in episodes if ep["key_frame_url"])]
        assert len(links) > 4
        for link in links:
            assert link.startswith(f"/fervid/v1/jobs/{job['job_id']}/") and http.get(origin + link).is_success, link
    log = (tmp_path / "d" / "serve.log").read_text()
    assert "for a reverse proxy that forwards /fervid/ to it" in log


def test_a_saved_live_session_links_carry_the_path_prefix(tmp_path, astronaut_rgb):
    """The live page's WebSocket was hard-wired to /v1/live and a saved session's links to /v1/jobs/..."""
    frame = io.BytesIO()
    Image.fromarray(astronaut_rgb).save(frame, "JPEG", quality=85)
    settings = ServerSettings(data_dir=tmp_path / "d", pipeline=PipelineOptions(method="mean"))
    # uvicorn's scope under --root-path: the path as the proxy forwarded it, with the root path before it
    with TestClient(create_app(settings), base_url=BASE, root_path="/fervid") as c:
        with c.websocket_connect(f"{BASE.replace('http', 'ws')}/fervid/v1/live") as ws:
            assert ws.receive_json()["type"] == "ready"
            ws.send_bytes(struct.pack("<I", 1) + frame.getvalue())
            assert ws.receive_json()["type"] == "result"
            ws.send_text('{"type": "stop", "save": true}')
            saved = ws.receive_json()
        assert saved["type"] == "saved"
        for link in (saved["result_url"], *saved["links"].values()):
            assert link.startswith(f"/fervid/v1/jobs/{saved['job_id']}/") and c.get(link).status_code == 200, link
    script = (Path(create_app.__code__.co_filename).parent / "web" / "live.js").read_text(encoding="utf-8")
    assert "/v1/live`" not in script and 'new URL("v1/live", location.href)' in script  # the browser test runs it


@pytest.mark.parametrize(("given", "root_path"), [("", ""), ("/", ""), ("/fervid", "/fervid"), ("fervid/", "/fervid"),
                                                  ("/apps/fervid/", "/apps/fervid")])
def test_root_path_option(given, root_path):
    from fervid.apps.server import root_path_option

    assert root_path_option(given) == root_path


@pytest.mark.parametrize("given", ["https://example.org/fervid", "/fervid?x=1", "/a//b", "/my app"])
def test_root_path_option_refuses_what_is_no_path(given):
    from fervid.apps.server import root_path_option

    with pytest.raises(ValueError, match="--root-path must be the path"):
        root_path_option(given)


def test_serve_says_which_host_names_it_answers_on_a_reachable_address(tmp_path, monkeypatch):
    """A LAN neighbour's `curl http://<machine IP>:8768/...` and a compose neighbour's `fervid:8000` got 400, and
    nothing at start-up said that Host names are checked or how to add one."""
    from typer.testing import CliRunner

    from fervid.apps.cli import app
    from fervid.apps.server import host_names_note

    assert host_names_note(ServerSettings(host="127.0.0.1")) is None
    assert host_names_note(ServerSettings(host="localhost")) is None
    note = host_names_note(ServerSettings(host="0.0.0.0", allowed_hosts=("fervid",)))
    assert "Host names 127.0.0.1, localhost, ::1, fervid (" in note and "0.0.0.0" not in note
    assert "--allow-host NAME" in note and "--allow-host '*'" in note and "/healthz answers any" in note
    assert "192.168.1.20" in host_names_note(ServerSettings(host="192.168.1.20"))
    assert "every Host name" in host_names_note(ServerSettings(host="0.0.0.0", allowed_hosts=("*",)))

    help_text = CliRunner().invoke(app, ["serve", "--help"], terminal_width=200).output
    assert "'*'" in help_text and "--root-path" in help_text
    calls = []
    monkeypatch.setattr("fervid.apps.serving.run", lambda app, **options: calls.append(options))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--port", str(port), "--data-dir",
                                       str(tmp_path / "d"), "--root-path", "fervid/", "--method", "mean"])
    assert started.exit_code == 0, started.output
    assert [{k: v for k, v in call.items() if k != "say"} for call in calls] == [
        {"host": "0.0.0.0", "port": port, "root_path": "/fervid", "access_log": False}]
    assert "answering requests for the Host names 127.0.0.1, localhost, ::1 (" in started.output
    refused = CliRunner().invoke(app, ["serve", "--root-path", "https://example.org/fervid"])
    assert refused.exit_code == 2 and "--root-path must be the path" in refused.output


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "127.0.0.1", "localhost"])
def test_serve_warns_at_start_up_that_a_reachable_server_has_no_authentication(tmp_path, monkeypatch, host):
    """`fervid serve --host 0.0.0.0` started with a line about Host names only: nothing said that anyone who can
    reach the address can upload and read every result."""
    from typer.testing import CliRunner

    from fervid.apps.cli import app

    monkeypatch.setattr("fervid.apps.serving.run", lambda app, **options: None)
    monkeypatch.setattr("fervid.apps.cli._check_can_listen", lambda host, port: None)  # 192.168.1.20: not ours
    started = CliRunner().invoke(app, ["serve", "--host", host, "--port", "8765", "--data-dir", str(tmp_path / "d"),
                                       "--method", "mean"])
    assert started.exit_code == 0, started.output
    if host in ("127.0.0.1", "localhost"):
        assert "authentication" not in started.output
    else:
        where = "this machine on port 8765" if host == "0.0.0.0" else f"{host}:8765"
        assert f"no authentication: anyone who can reach {where} can upload" in started.output
        assert "read every job's results" in started.output and "reverse proxy" in started.output
        assert "Privacy and data protection" in started.output


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="peak memory comes from /proc")
def test_the_api_docs_give_this_servers_image_limit_and_serve_its_defaults(tmp_path):
    """The /v1/images 413 said "32 by default" whatever --max-images-per-request was; `fervid serve`'s options
    copied ServerSettings' defaults as literals (they live in fervid.apps.defaults, read by both)."""
    import typer.main

    from fervid.apps import defaults
    from fervid.apps.cli import app
    from fervid.apps.server import ServerSettings, create_app

    schema = create_app(ServerSettings(data_dir=tmp_path, max_images_per_request=5)).openapi()
    assert "than the server takes (5, --max-images-per-request)" in (
        schema["paths"]["/v1/images"]["post"]["responses"]["413"]["description"])
    serve = {param.name: param.default for param in typer.main.get_command(app).commands["serve"].params}
    settings = ServerSettings()
    for name in ("host", "data_dir", "max_upload_mb", "max_queued_jobs", "workers", "job_ttl_hours",
                 "max_images_per_request"):
        assert serve[name] == getattr(settings, name), name
    assert serve["max_image_megapixels"] * 1e6 == settings.max_image_pixels and serve["port"] == defaults.PORT


def test_a_video_upload_is_copied_to_disk_not_read_into_memory(tmp_path):
    """POST /v1/videos read the whole upload into memory: three concurrent 150 MB uploads raised the server's peak
    memory by about 410 MB. A 64 MB upload now raises it by far less than its size."""

    def peak_kb(pid: int) -> int:
        status = Path(f"/proc/{pid}/status").read_text()
        return int(re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE).group(1))

    big = tmp_path / "big.mp4"
    with open(big, "wb") as fh:
        fh.truncate(64 * 1024 * 1024)  # 64 MB of zeros: not a video, refused (415) after it is stored
    with fervid_server(tmp_path / "d", env={"TMPDIR": str(tmp_path)}) as (url, proc), \
            httpx.Client(timeout=120) as http:
        warm = http.post(url + "/v1/videos", files={"file": ("small.mp4", b"\0" * 100_000, "video/mp4")})
        assert warm.status_code == 415  # the code path, imports and FFmpeg's probe, before the measure
        before = peak_kb(proc.pid)
        with open(big, "rb") as fh:  # httpx sends a file object in pieces
            answer = http.post(url + "/v1/videos", files={"file": ("big.mp4", fh, "video/mp4")})
        assert answer.status_code == 415 and "big.mp4" in answer.json()["error"]
        assert peak_kb(proc.pid) - before < 24 * 1024, (before, peak_kb(proc.pid))
        assert not list((tmp_path / "d" / "jobs").iterdir())  # the refused upload is not kept
