"""What `fervid serve` writes in its log, for an operator collecting a container's stdout and stderr: a line per
video job event naming the job, its FFmpeg encoder's messages as one such line, and an access log of the requests
as they were received, without the health probes."""

import logging
import os
import stat
import time

import httpx
import imageio_ffmpeg
import pytest
from fastapi.testclient import TestClient
from uvicorn.logging import AccessFormatter

from fervid.apps.server import ServerSettings, create_app
from fervid.apps.serving import log_config

from served import fervid_server, wait_done

BASE = "http://127.0.0.1"  # the server answers only the Host names it serves


def job_lines(caplog, job_id: str) -> list[tuple[str, str]]:
    return [(record.levelname, record.getMessage()) for record in caplog.records
            if record.name == "fervid.apps.server" and job_id in record.getMessage()]


@pytest.mark.parametrize("upload_names", [False, True])
def test_a_video_jobs_queue_start_and_end_are_log_lines_naming_its_upload_only_with_the_access_log(
        tmp_path, face_clip, caplog, upload_names):
    """No line said a job was queued, started or finished: an operator saw only failures. The upload's file name is
    in the queued line only with --access-log (whose paths name it anyway; README, "Privacy and data protection")."""
    video = face_clip.read_bytes()
    settings = ServerSettings(data_dir=tmp_path / "data", log_upload_names=upload_names)
    with caplog.at_level(logging.INFO, logger="fervid.apps.server"), \
            TestClient(create_app(settings), base_url=BASE) as client:
        job_id = client.post("/v1/videos", files={"file": ("Intérview 01.mp4", video, "video/mp4")}).json()["job_id"]
        state = wait_done(client, job_id, timeout=120)
        for _ in range(50):  # the worker logs the end once it has seen it
            if len(job_lines(caplog, job_id)) == 3:
                break
            time.sleep(0.1)
    assert state["status"] == "done", state
    lines = job_lines(caplog, job_id)
    size = f"{len(video) / 1e6:.1f} MB"
    queued = f"Intérview 01.mp4, {size}" if upload_names else size
    assert lines[:2] == [("INFO", f"video job {job_id} queued ({queued})"), ("INFO", f"video job {job_id} started")]
    level, done = lines[2]
    assert level == "INFO" and done.startswith(f"video job {job_id} done in "), lines
    took = float(done.removeprefix(f"video job {job_id} done in ").removesuffix(" s"))
    assert 0 < took < time.time() - state["created"]
    assert len(lines) == 3
    assert any("Intérview" in record.getMessage() for record in caplog.records) is upload_names


@pytest.fixture
def encoder_failing_on_a_full_disk(tmp_path, monkeypatch) -> str:
    """An ffmpeg binary (IMAGEIO_FFMPEG_EXE, which the job's analysis process inherits) that is the real one except
    as the annotated video's encoder: there it takes the frames, then fails as FFmpeg does on a full disk, with its
    messages (copied from a probe's server log) on stderr."""
    fake = tmp_path / "ffmpeg"
    fake.write_text(f"""#!/bin/sh
case " $* " in
  *" libx264 "*)
    cat > /dev/null
    echo "[vost#0:0/libx264 @ 0x558c47dffd00] Error submitting a packet to the muxer: No space left on device" >&2
    echo "    Last message repeated 1 times" >&2
    echo "[out#0/mp4 @ 0x558c47e015c0] Error writing trailer: No space left on device" >&2
    echo "[out#0/mp4 @ 0x558c47e015c0] Error closing file: No space left on device" >&2
    for output; do :; done
    echo "[out#0/mp4 @ 0x558c47e015c0] Error opening output $output: No space left on device" >&2
    exit 228;;
esac
exec '{imageio_ffmpeg.get_ffmpeg_exe()}' "$@"
""", encoding="utf-8")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(fake))
    return "No space left on device"


@pytest.mark.skipif(os.name != "posix", reason="a shell script as the ffmpeg binary; Windows keeps FFmpeg's stderr")
def test_the_encoders_messages_are_one_log_line_naming_the_job_not_raw_lines_on_the_servers_stderr(
        tmp_path, face_clip, caplog, capfd, encoder_failing_on_a_full_disk):
    """A job's FFmpeg encoder wrote into the server's stderr as it came, many lines for one failure and none naming
    the job, among fervid's own log lines."""
    with caplog.at_level(logging.INFO, logger="fervid.apps.server"), \
            TestClient(create_app(ServerSettings(data_dir=tmp_path / "data")), base_url=BASE) as client:
        job_id = client.post("/v1/videos", files={"file": ("Intérview 01.mp4", face_clip.read_bytes(), "video/mp4")}
                             ).json()["job_id"]
        state = wait_done(client, job_id, timeout=120)
        for _ in range(50):
            if len(job_lines(caplog, job_id)) == 4:
                break
            time.sleep(0.1)
    # the client reading the job's error gets FFmpeg's own words (it said "its message, if any, is above")
    assert "the ffmpeg encoder failed as it finished the video (exit status 228; ffmpeg said: [vost#0:0/libx264] " \
           "Error submitting a packet to the muxer: No space left on device | [out#0/mp4] Error writing trailer: " \
           "No space left on device | [out#0/mp4] Error closing file: No space left on device | [out#0/mp4] Error " \
           "opening output out/Intérview 01_annotated.partial.mp4: No space left on device)" in state["error"], state
    assert "Error writing trailer" not in capfd.readouterr().err  # (the job's process and its FFmpeg's stderr)
    said = [message for level, message in job_lines(caplog, job_id) if "its analysis said" in message]
    assert len(said) == 1 and said[0].startswith(
        f"video job {job_id}: its analysis said: [vost#0:0/libx264] Error submitting a packet to the muxer: No space "
        "left on device | [out#0/mp4] Error writing trailer: No space left on device | [out#0/mp4] Error closing "
        "file: No space left on device | [out#0/mp4] Error opening output out/the upload_annotated"), said
    # FFmpeg's words name the outputs, named after the upload: the log names no upload without --access-log
    # (README, "Privacy and data protection"), nor the server's job folder
    assert "Intérview" not in said[0] and str(tmp_path) not in said[0], said
    # ahead of the line of the job's end, whose error carries FFmpeg's words too, naming no upload either
    messages = [message for _, message in job_lines(caplog, job_id)]
    assert messages.index(said[0]) == len(messages) - 2 and "exit status 228" in messages[-1], messages
    assert "Intérview" not in messages[-1] and "No space left on device" in messages[-1], messages


def test_the_access_log_names_paths_as_received_behind_a_proxy_and_leaves_out_healthy_probes(tmp_path):
    """With --root-path /fervid, a request for /healthz (the proxy had stripped the prefix) was logged
    "GET /fervid/healthz"; and a container platform's probes every few seconds filled the access log."""
    data = tmp_path / "data"
    with fervid_server(data, "--access-log", "--root-path", "/fervid") as (url, _):
        for _ in range(3):
            assert httpx.get(url + "/healthz").status_code == 200
            assert httpx.head(url + "/healthz").status_code == 200
        assert httpx.get(url + "/v1/jobs/" + "0" * 32 + "?x=1").status_code in (404, 422)
        assert httpx.post(url + "/healthz").status_code == 405  # not a probe: logged
    access = [line for line in (data / "serve.log").read_text(encoding="utf-8").splitlines() if ' - "' in line]
    assert len(access) == 2, access
    assert '"GET /v1/jobs/00000000000000000000000000000000?x=1 HTTP/1.1" 4' in access[0], access
    assert '"POST /healthz HTTP/1.1" 405' in access[1], access


def access_line(config: dict, method: str, path: str, status: int) -> str | None:
    """The line uvicorn's access log writes for a request under ``config`` (:func:`log_config`'s), None where it
    leaves the request out. The record is made as uvicorn's HTTP protocols make it (path: the scope's, root path
    first)."""
    factory = config["filters"]["access_paths"]
    access_filter = factory["()"](**{key: value for key, value in factory.items() if key != "()"})
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 0, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5000", method, path, "1.1", status), None)
    if not access_filter.filter(record):
        return None
    return AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False).format(record)


def test_a_probe_that_fails_stays_in_the_access_log():
    config = log_config(access_log=True, root_path="/fervid")
    assert "access_paths" in config["loggers"]["uvicorn.access"]["filters"]
    assert access_line(config, "GET", "/fervid/healthz", 200) is None
    assert access_line(config, "HEAD", "/fervid/healthz", 204) is None
    assert access_line(config, "GET", "/fervid/healthz", 503) == '127.0.0.1:5000 - "GET /healthz HTTP/1.1" 503 ' \
                                                                 'Service Unavailable'
    assert access_line(config, "HEAD", "/fervid/healthz", 500) is not None
    assert access_line(config, "GET", "/fervid/healthzz", 200) == '127.0.0.1:5000 - "GET /healthzz HTTP/1.1" 200 OK'
    assert access_line(config, "GET", "/fervid", 200) == '127.0.0.1:5000 - "GET / HTTP/1.1" 200 OK'
    # a path that only begins as the root path does is left as it came
    assert access_line(config, "GET", "/fervidx/a", 404) == '127.0.0.1:5000 - "GET /fervidx/a HTTP/1.1" 404 Not Found'
    # without a root path
    assert access_line(log_config(access_log=True), "GET", "/healthz", 200) is None
