import io
import time

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from fervid.server import ServerSettings, create_app
from fervid.video import sample_video

CARPHONE = sample_video()


@pytest.fixture
def client(tmp_path):
    settings = ServerSettings(data_dir=tmp_path / "data", max_upload_mb=5, max_queued_jobs=2)
    with TestClient(create_app(settings)) as c:
        yield c


def png_bytes(rgb) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG")
    return buf.getvalue()


def wait_done(client, job_id, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = client.get(f"/v1/jobs/{job_id}").json()
        if state["status"] in ("done", "failed"):
            return state
        time.sleep(0.2)
    raise AssertionError("job did not finish")


def test_health_docs_and_page(client):
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/docs").status_code == 200
    assert "/v1/images" in client.get("/openapi.json").json()["paths"]
    page = client.get("/")
    assert page.status_code == 200 and "Drop a photo or video" in page.text
    assert client.get("/static/app.js").status_code == 200


def test_images_endpoint_same_schema_as_cli(client, astronaut_rgb):
    r = client.post("/v1/images", files=[("files", ("a.png", png_bytes(astronaut_rgb), "image/png")),
                                         ("files", ("b.png", png_bytes(astronaut_rgb[:, ::-1].copy()), "image/png"))])
    assert r.status_code == 200
    body = r.json()
    assert [f["file"] for f in body["files"]] == ["a.png", "b.png"]
    face = body["files"][0]["faces"][0]
    assert face["emotion"] == "happy" and set(face["box"]) == {"x", "y", "width", "height"}


def test_image_errors_are_json(client):
    r = client.post("/v1/images", files=[("files", ("fake.jpg", b"this is text", "image/jpeg"))])
    assert r.status_code == 415 and "fake.jpg" in r.json()["error"]
    big = b"\0" * (6 * 1024 * 1024)
    r = client.post("/v1/images", files=[("files", ("big.png", big, "image/png"))])
    assert r.status_code == 413 and "MB" in r.json()["error"]
    r = client.post("/v1/images")
    assert r.status_code == 422


def test_video_job_lifecycle(client):
    r = client.post("/v1/videos", files={"file": ("carphone.mp4", CARPHONE.read_bytes(), "video/mp4")})
    assert r.status_code == 202
    job_id = r.json()["job_id"]
    t0 = time.perf_counter()
    assert client.get("/healthz").status_code == 200
    assert time.perf_counter() - t0 < 0.1  # answers while the job runs
    state = wait_done(client, job_id)
    assert state["status"] == "done", state
    result = client.get(f"/v1/jobs/{job_id}/result").json()
    assert len(result["tracks"]) == 1
    video = client.get(result["links"]["annotated_video"])
    assert video.status_code == 200 and video.content[4:8] == b"ftyp"
    assert client.get(result["tracks"][0]["timeline_url"]).headers["content-type"] == "image/png"
    frames = client.get(result["links"]["frames_json"]).json()
    assert len(frames["tracks"]["1"]["time"]) == 120
    assert client.delete(f"/v1/jobs/{job_id}").status_code == 200
    assert client.get(f"/v1/jobs/{job_id}").status_code == 404


def test_video_rejects_non_videos_and_bad_ids(client):
    r = client.post("/v1/videos", files={"file": ("x.mp4", b"not a video" * 100, "video/mp4")})
    assert r.status_code == 415 and "x.mp4" in r.json()["error"]
    for bad in ("../../etc", "..%2F..%2Fetc", "0" * 31, "zz" * 16):
        assert client.get(f"/v1/jobs/{bad}").status_code == 404
    r = client.post("/v1/videos", files={"file": ("c.mp4", CARPHONE.read_bytes(), "video/mp4")})
    job_id = r.json()["job_id"]
    assert client.get(f"/v1/jobs/{job_id}/files/..%2Fjob.json").status_code == 404
    wait_done(client, job_id)


def test_queue_bound_gives_429(tmp_path):
    settings = ServerSettings(data_dir=tmp_path / "d", max_queued_jobs=1, workers=1)
    with TestClient(create_app(settings)) as c:
        codes = [c.post("/v1/videos", files={"file": ("c.mp4", CARPHONE.read_bytes(), "video/mp4")}).status_code
                 for _ in range(4)]
    assert codes[0] == 202 and 429 in codes


def test_jobs_survive_a_restart(tmp_path):
    settings = ServerSettings(data_dir=tmp_path / "d")
    with TestClient(create_app(settings)) as c:
        job_id = c.post("/v1/videos", files={"file": ("c.mp4", CARPHONE.read_bytes(), "video/mp4")}).json()["job_id"]
        wait_done(c, job_id)
    with TestClient(create_app(settings)) as c:  # a new server process over the same data dir
        assert c.get(f"/v1/jobs/{job_id}").json()["status"] == "done"
        assert len(c.get(f"/v1/jobs/{job_id}/result").json()["tracks"]) == 1
