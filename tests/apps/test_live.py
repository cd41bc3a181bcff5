"""The /v1/live WebSocket (fervid.apps.live): frames in, rows of the one face schema out, newest wins, a saved
session becomes a video job, and bad messages close one connection with a reason, never the server."""

import io
import json
import os
import struct
import threading
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from starlette.websockets import WebSocketDisconnect

from conftest import refuse, retry_waits
from fervid.apps.live import LiveLimits
from fervid.inference.temporal import labels_delay
from fervid.apps.schemas import FaceRow
from fervid.inference.video import TABLE_COLUMNS
from fervid.apps.server import ServerSettings, create_app
from fervid.inference.records import ROW_COLUMNS

BASE = "http://127.0.0.1"
LIVE = "ws://127.0.0.1/v1/live"  # the server answers only the Host names it serves


@pytest.fixture
def client(tmp_path):
    settings = ServerSettings(data_dir=tmp_path / "data", live=LiveLimits(max_frame_bytes=300_000, max_viewers=2))
    with TestClient(create_app(settings), base_url=BASE) as c:
        yield c


def frame_message(seq: int, rgb: np.ndarray, fmt: str = "JPEG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, fmt, quality=85)
    return struct.pack("<I", seq) + buf.getvalue()


def closed_with(ws) -> int:
    message = ws.receive()
    assert message["type"] == "websocket.close", message
    return message["code"]


def test_frames_in_rows_out_and_a_saved_session_is_a_video_job(client, astronaut_rgb):
    with client.websocket_connect(LIVE) as ws:
        ready = ws.receive_json()
        # the delay under the name the session's tracks JSON gives it
        assert ready["type"] == "ready" and ready["labels_delay_seconds"] == labels_delay(ready["method"],
                                                                                          ready["window"])
        for seq in range(1, 9):  # one frame in flight at a time, as the page sends them
            ws.send_bytes(frame_message(seq, np.roll(astronaut_rgb, 3 * seq, axis=1)))
            result = ws.receive_json()
            assert result["type"] == "result" and result["seq"] == seq
        (face,) = result["faces"]
        assert {"time", "frame", "track", *ROW_COLUMNS} <= set(face) and face["track"] == 1
        assert face["emotion"] == "happy" and (result["width"], result["height"]) == (512, 512)
        FaceRow.model_validate(face)  # the API's documented row, exactly
        assert list(face)[:-1] == TABLE_COLUMNS  # the video table's row (it lacked `detected`), then landmarks
        ws.send_text('{"type": "stop", "save": true}')
        saved = ws.receive_json()
        assert saved["type"] == "saved" and saved["frames"] == 8 and saved["tracks"] == 1
    job = client.get(saved["result_url"]).json()
    assert job["tracks"][0]["dominant_emotion"] == "happy" and "annotated_video" not in job["links"]
    # it says what made it, as an uploaded video's result does, and that its labels are causal (not centred)
    assert job["centred_window"] is False and job["precision"] == "int8" and job["detect_every"] == 0.3
    assert job["labels_delay_seconds"] == ready["labels_delay_seconds"] > 0
    assert {"window", "sample_fps", "score_threshold"} <= set(job)
    table = client.get(saved["links"]["frames_csv"])
    assert table.status_code == 200 and len(table.text.strip().splitlines()) == 1 + 8
    assert client.get(job["tracks"][0]["timeline_url"]).status_code == 200


def test_a_saved_session_is_private_and_an_unsaved_one_leaves_nothing(tmp_path, astronaut_rgb):
    """A saved session's folder and files were 0755/0644 under the usual umask (every local user could read
    them); one stopped without saving leaves nothing in the data folder."""
    old_umask = os.umask(0o022)
    try:
        jobs = tmp_path / "data" / "jobs"
        with TestClient(create_app(ServerSettings(data_dir=tmp_path / "data")), base_url=BASE) as client:
            for save in (False, True):
                with client.websocket_connect(LIVE) as ws:
                    ws.receive_json()
                    for seq in range(1, 5):
                        ws.send_bytes(frame_message(seq, astronaut_rgb))
                        ws.receive_json()
                    recording = next(jobs.glob(".live-*"))
                    assert oct(recording.stat().st_mode & 0o777) == "0o700"  # private while it records too
                    ws.send_text(json.dumps({"type": "stop", "save": save}))
                    reply = ws.receive_json()
                if not save:
                    assert reply["type"] == "stopped" and not list(jobs.iterdir())
        assert reply["type"] == "saved" and [p.name for p in jobs.iterdir()] == [reply["job_id"]]
        paths = [jobs, *jobs.rglob("*")]
        assert any(p.name.endswith("_frames.csv") for p in paths)
        assert {oct(p.stat().st_mode & 0o777) for p in paths if p.is_dir()} == {"0o700"}
        assert {oct(p.stat().st_mode & 0o777) for p in paths if p.is_file()} == {"0o600"}
    finally:
        os.umask(old_umask)


@pytest.mark.parametrize("refusals", [0, 2], ids=["saved-at-once", "windows-holds-it-a-moment"])
def test_a_saved_session_is_saved_with_when_its_time_0_was_by_the_wall_clock(tmp_path, astronaut_rgb, monkeypatch,
                                                                            refusals):
    """A lab aligns a session's rows (times from its start) with its own event log: the saved job's tracks JSON, its
    table's Parquet metadata and its job.json say when that start was. Windows' virus scanner or indexer opening a
    file of the recording for a moment refused the rename of its folder into the job's (WinError 32) and the
    session was lost; the rename is tried again, as fervid's others."""
    from datetime import datetime, timezone

    from fervid.inference import set_aside
    from fervid.inference.video import table_outcome

    before = datetime.now(timezone.utc)
    with TestClient(create_app(ServerSettings(data_dir=tmp_path / "data")), base_url=BASE) as client:
        with client.websocket_connect(LIVE) as ws:
            ws.receive_json()
            for seq in range(1, 3):
                ws.send_bytes(frame_message(seq, astronaut_rgb))
                ws.receive_json()
            # (os.rename too: Path.rename's, which the folder was moved by)
            refused = refuse(monkeypatch, ["replace", "rename"],
                             lambda source, target: os.path.basename(source).startswith(".live-"), times=refusals)
            waits = retry_waits(monkeypatch)
            ws.send_text(json.dumps({"type": "stop", "save": True}))
            saved = ws.receive_json()
        assert saved["type"] == "saved", saved
        assert len(refused) == refusals and waits == list(set_aside.REPLACE_RETRY_WAITS_S[:refusals])
        assert client.get(saved["links"]["frames_csv"]).text.count("\n") == 1 + 2
        job = client.get(saved["result_url"]).json()
    after = datetime.now(timezone.utc)
    started = datetime.fromisoformat(job["started_at"])
    assert started.utcoffset() is not None and before < started < after
    folder = tmp_path / "data" / "jobs" / saved["job_id"]
    assert json.loads((folder / "job.json").read_text(encoding="utf-8"))["started_at"] == job["started_at"]
    assert table_outcome(next(folder.rglob("*_frames.parquet")))["started_at"] == job["started_at"]


def test_a_saved_session_says_when_the_server_deletes_it(tmp_path, astronaut_rgb):
    """Saved sessions were deleted with the server's finished jobs (24 h by default) and the page said nothing of
    it: the saved message says when, and the page shows it."""
    from datetime import datetime, timedelta, timezone

    settings = ServerSettings(data_dir=tmp_path / "data", job_ttl_hours=2)
    with TestClient(create_app(settings), base_url=BASE) as client:
        with client.websocket_connect(LIVE) as ws:
            ws.receive_json()
            ws.send_bytes(frame_message(1, astronaut_rgb))
            ws.receive_json()
            ws.send_text(json.dumps({"type": "stop", "save": True}))
            saved = ws.receive_json()
        script = client.get("/static/live.js").text
    expires = datetime.fromisoformat(saved["expires_at"])
    assert abs(expires - datetime.now(timezone.utc) - timedelta(hours=2)) < timedelta(minutes=1)
    assert "message.expires_at" in script and "deletes it on" in script


def test_a_dark_picture_is_read_on_its_levels_stretched_and_said_to_be_dark(client, astronaut_rgb):
    """A webcam at night: the astronaut at a thirty-second of her brightness is found and read happy, and each
    result says the picture is dark (the page then suggests more light); a lit picture is not."""
    dim = (astronaut_rgb / 32).astype(np.uint8)
    with client.websocket_connect(LIVE) as ws:
        ws.receive_json()
        for seq in range(1, 5):
            ws.send_bytes(frame_message(seq, dim))
            result = ws.receive_json()
            assert result["dark"] is True
        assert [face["emotion"] for face in result["faces"]] == ["happy"]
        lit = []
        for seq in range(5, 12):  # measured once a detection round (0.3 s): the light changes slowly
            time.sleep(0.1)
            ws.send_bytes(frame_message(seq, astronaut_rgb))
            lit.append(ws.receive_json()["dark"])
        assert lit[-1] is False


def test_newest_frame_wins_when_frames_arrive_faster_than_they_are_analysed(client, astronaut_rgb):
    with client.websocket_connect(LIVE) as ws:
        ws.receive_json()
        for seq in range(1, 31):  # a burst: the server analyses what is newest when it is free, drops the rest
            ws.send_bytes(frame_message(seq, astronaut_rgb))
        seen = []
        while not seen or seen[-1]["seq"] != 30:
            seen.append(ws.receive_json())
        assert len(seen) < 30 and seen[-1]["dropped"] == 30 - len(seen)
        ws.send_text('{"type": "stop", "save": false}')
        assert ws.receive_json()["type"] == "stopped"


def test_a_stop_that_arrives_while_frames_are_queued_still_saves_the_session(tmp_path, astronaut_rgb):
    # the stop comes in while the server analyses frame 1 with the newest frame queued behind it: the server must
    # analyse that frame and then save, not wait for a message that the ended receiver will never deliver. The
    # exchange runs in a thread with its own client so a hang fails this test instead of stalling the suite.
    settings = ServerSettings(data_dir=tmp_path / "data", live=LiveLimits(max_frame_bytes=300_000))
    replies: list = []

    def session() -> None:
        with TestClient(create_app(settings), base_url=BASE) as c, c.websocket_connect(LIVE) as ws:
            ws.receive_json()
            for seq in range(1, 6):
                ws.send_bytes(frame_message(seq, astronaut_rgb))
            ws.send_text('{"type": "stop", "save": true}')
            while not replies or replies[-1]["type"] == "result":
                replies.append(ws.receive_json())

    worker = threading.Thread(target=session, daemon=True)
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), f"no reply to the stop after 60 s; replies so far: {[r['type'] for r in replies]}"
    saved = replies[-1]
    assert saved["type"] == "saved" and saved["frames"] == len(replies) - 1 and replies[-2]["seq"] == 5


@pytest.mark.parametrize("message, code, reason", [
    ("hello", 1007, "must be JSON"),
    ('{"type": "dance"}', 1007, "the only command"),
    ('{"type": "stop", "save": "false"}', 1007, "save must be true or false"),  # a string saved the recording
    (b"\x01\x00\x00\x00not an image", 1007, "not a JPEG or WebP image"),
    (b"\x01", 1007, "4-byte sequence number"),
    (b"\x01\x00\x00\x00" + b"\xff" * 400_000, 1009, "at most 300,000"),
])
def test_a_malformed_message_closes_that_connection_with_a_reason_and_the_server_goes_on(client, astronaut_rgb,
                                                                                         message, code, reason):
    with client.websocket_connect(LIVE) as ws:
        ws.receive_json()
        ws.send_text(message) if isinstance(message, str) else ws.send_bytes(message)
        error = ws.receive_json()
        assert error["type"] == "error" and reason in error["error"]
        assert closed_with(ws) == code
    with client.websocket_connect(LIVE) as ws:  # the next viewer is served
        ws.receive_json()
        ws.send_bytes(frame_message(1, astronaut_rgb))
        assert ws.receive_json()["faces"][0]["emotion"] == "happy"


def test_png_frames_and_huge_declared_images_are_refused(client, astronaut_rgb):
    with client.websocket_connect(LIVE) as ws:
        ws.receive_json()
        ws.send_bytes(frame_message(1, astronaut_rgb[::4, ::4], "PNG"))
        assert "send JPEG or WebP" in ws.receive_json()["error"] and closed_with(ws) == 1007
    huge = frame_message(1, np.zeros((16, 16, 3), np.uint8))
    huge = huge.replace(b"\x00\x10\x00\x10", b"\x30\x00\x30\x00", 1)  # the JPEG header now declares 12288x12288
    with client.websocket_connect(LIVE) as ws:
        ws.receive_json()
        ws.send_bytes(huge)
        assert "larger than" in ws.receive_json()["error"] and closed_with(ws) == 1009


def test_viewers_are_bounded_and_other_sites_are_refused(client):
    with client.websocket_connect(LIVE) as a, client.websocket_connect(LIVE) as b:
        a.receive_json(), b.receive_json()
        with client.websocket_connect(LIVE) as c:
            assert "at most 2" in c.receive_json()["error"] and closed_with(c) == 1013
    with pytest.raises(WebSocketDisconnect) as refused:
        with client.websocket_connect(LIVE, headers={"origin": "https://evil.example"}) as ws:
            ws.receive_json()
    assert refused.value.code == 1008


def test_each_viewer_has_its_own_tracks(client, astronaut_rgb):
    with client.websocket_connect(LIVE) as a, client.websocket_connect(LIVE) as b:
        a.receive_json(), b.receive_json()
        for seq in range(1, 4):
            a.send_bytes(frame_message(seq, astronaut_rgb))
            b.send_bytes(frame_message(seq, astronaut_rgb[:, ::-1].copy()))
            ra, rb = a.receive_json(), b.receive_json()
        # the same person seen by two viewers is track 1 for each, at its own position
        assert [f["track"] for f in ra["faces"]] == [f["track"] for f in rb["faces"]] == [1]
        assert abs(ra["faces"][0]["x"] + ra["faces"][0]["width"] + rb["faces"][0]["x"] - 512) < 15


def test_fervid_live_without_a_source_serves_the_live_page(tmp_path):
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "fervid.apps.cli", "live", "--no-open", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, encoding="utf-8", cwd=tmp_path)
    try:
        for _ in range(150):
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/live", timeout=1).read().decode()
                break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("fervid live did not start serving")
        assert "getUserMedia" not in page and '<script src="static/live.js">' in page  # relative: any path prefix
        script = urllib.request.urlopen(f"http://127.0.0.1:{port}/static/live.js", timeout=5).read().decode()
        assert "getUserMedia" in script and "v1/live" in script  # the page's code is served by fervid, no CDN
    finally:
        proc.terminate()
        out = proc.communicate(timeout=20)[0]
    assert f"http://127.0.0.1:{port}/live" in out


def test_a_server_started_with_no_landmarks_sends_live_faces_without_them(tmp_path, astronaut_rgb):
    """`fervid serve --no-landmarks` / `fervid live --no-landmarks`: each face of a /v1/live result has landmarks
    null, and the ready message says "landmarks": false; the default sends the 5 points."""
    from fervid.inference.options import PipelineOptions

    for landmarks in (True, False):
        settings = ServerSettings(data_dir=tmp_path / str(landmarks), pipeline=PipelineOptions(landmarks=landmarks))
        with TestClient(create_app(settings), base_url=BASE) as c, c.websocket_connect(LIVE) as ws:
            ready = ws.receive_json()
            assert ready["type"] == "ready" and ready["landmarks"] is landmarks
            ws.send_bytes(frame_message(1, astronaut_rgb))
            (face,) = ws.receive_json()["faces"]
            FaceRow.model_validate(face)
            assert (face["landmarks"] is None) if not landmarks else len(face["landmarks"]) == 5
            ws.send_text(json.dumps({"type": "stop", "save": False}))
