"""`fervid serve`'s answers when something goes wrong underneath a request: a full disk, a bug, a job deleted while
it is read. Each was a text/plain 500 (README: every error is JSON)."""

import errno
import json
import logging
import os
import re
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import fervid.apps.server as server
from fervid.apps.server import JobStore, ServerSettings, create_app
from fervid.emotions import EMOTIONS
from fervid.inference.video import OutputNames, sample_video
from conftest import needs_sample_clip

BASE = "http://127.0.0.1"  # the server answers only the Host names it serves
CARPHONE = sample_video()


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def client(data_dir):
    # raise_server_exceptions=False: the client gets the answer a real client would, not the server's exception
    with TestClient(create_app(ServerSettings(data_dir=data_dir, max_upload_mb=5)), base_url=BASE,
                    raise_server_exceptions=False) as c:
        yield c


def tracks_document(stem: str, tracks: list[dict] = ()) -> str:
    """A tracks JSON as the analysis writes it (the fields the API's ResultOut requires), with ``tracks``."""
    return json.dumps({"file": f"{stem}.mp4", "ok": True, "error": None, "fps": 25.0, "width": 320, "height": 240,
                       "duration": 1.0, "frames_read": 25, "frames_analysed": 25, "method": "mean",
                       "model": "ferplus_vgg", "detector": "centerface", "tracks": list(tracks)})


def a_track(key_frame: str) -> dict:
    shares = {e: 1.0 if e == "happy" else 0.0 for e in EMOTIONS}
    return {"track": 1, "start": 0.0, "end": 0.96, "frames": 25, "seen_seconds": 1.0, "dominant_emotion": "happy",
            "emotion_share": shares, "mean_probabilities": shares,
            "mean_box": {"x": 1.0, "y": 2.0, "width": 50.0, "height": 60.0}, "changes": [],
            "episodes": [{"emotion": "happy", "start": 0.0, "end": 0.96, "key_frame": key_frame,
                          "key_frame_time": 0.4}]}


def done_job(data_dir: Path, stem: str = "clip") -> str:
    """A finished job as the analysis leaves it: job.json, the tracks JSON and the frames table."""
    job_id = uuid.uuid4().hex
    store = JobStore(data_dir / "jobs")
    out = store.make_folder(job_id) / "out"
    out.mkdir()
    names = OutputNames(stem)
    (out / names.tracks_json).write_text(tracks_document(stem), encoding="utf-8")
    (out / names.frames_csv).write_text("time,frame,track\n", encoding="utf-8")
    store.write(job_id, id=job_id, status="done", progress=1.0, created=time.time(), input=None,
                filename=f"{stem}.mp4", error=None, stem=stem)
    return job_id


def test_an_unexpected_error_is_a_json_500_and_still_reaches_the_log(data_dir, client):
    job_id = done_job(data_dir)
    names = OutputNames("clip")
    (data_dir / "jobs" / job_id / "out" / names.tracks_json).write_text("{broken", encoding="utf-8")
    answer = client.get(f"/v1/jobs/{job_id}/result")
    assert answer.status_code == 500 and answer.headers["content-type"] == "application/json"
    assert answer.json() == {"error": "internal error", "status": 500}
    # the exception still goes on to the server (uvicorn logs its traceback), after the JSON answer; a second client
    # of the same app, not started again (one server per data folder)
    with pytest.raises(json.JSONDecodeError):
        TestClient(client.app, base_url=BASE).get(f"/v1/jobs/{job_id}/result")


def test_a_job_deleted_while_its_files_are_read_is_a_404(data_dir, client, monkeypatch):
    """race.py of the probe: polling /result and /frames while the job was deleted gave 500s (its job.json was read,
    its files were gone)."""
    store = JobStore(data_dir / "jobs")

    for endpoint, name in (("result", "tracks_json"), ("frames", "frames_csv")):
        job_id = done_job(data_dir)

        class DeletedAsRead(OutputNames):  # the DELETE lands between the job.json read and the file's
            def __getattribute__(self, attribute):
                if attribute == name:
                    store.delete(job_id)
                return super().__getattribute__(attribute)

        monkeypatch.setattr(server, "OutputNames", DeletedAsRead)
        answer = client.get(f"/v1/jobs/{job_id}/{endpoint}")
        assert answer.status_code == 404 and answer.json()["error"] == f"job {job_id} was deleted", answer.text
        monkeypatch.undo()
    # a file missing from a job that is still there is no deletion: an internal error
    job_id = done_job(data_dir)
    (data_dir / "jobs" / job_id / "out" / OutputNames("clip").frames_csv).unlink()
    assert client.get(f"/v1/jobs/{job_id}/frames").status_code == 500


def disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@needs_sample_clip
def test_a_full_disk_is_a_json_507_naming_the_folder(data_dir, client, monkeypatch, caplog):
    """An upload that met a full disk was a text/plain 500; then a 507 and a log line that did not say which disk
    (the data folder's or the temporary folder's, often two in a container)."""
    monkeypatch.setattr(shutil, "copyfileobj", disk_full)  # the upload copied into its job's folder
    with caplog.at_level(logging.ERROR, logger="fervid.apps.server"):
        answer = client.post("/v1/videos", files={"file": ("clip.mp4", CARPHONE.read_bytes(), "video/mp4")})
    assert answer.status_code == 507, answer.text
    assert answer.json() == {"error": "the server's disk is full (the data folder): the upload could not be "
                                      "stored; try again later", "status": 507}
    # for the operator: the request, the folder and its path, the reason
    assert caplog.messages == [f"POST /v1/videos: the server's disk is full (the data folder, {data_dir}): "
                               "the upload could not be stored (No space left on device)"]
    # named as the module, as fervid's other loggers are (it was "fervid.server")
    assert {record.name for record in caplog.records} == {"fervid.apps.server"}
    monkeypatch.undo()
    caplog.clear()

    class FullTemporaryFile(tempfile.SpooledTemporaryFile):  # the multipart body spooled to the temporary folder
        def write(self, data):
            disk_full()

    monkeypatch.setattr("starlette.formparsers.SpooledTemporaryFile", FullTemporaryFile)
    with caplog.at_level(logging.ERROR, logger="fervid.apps.server"):
        answer = client.post("/v1/videos", files={"file": ("clip.mp4", CARPHONE.read_bytes(), "video/mp4")})
    assert answer.status_code == 507, answer.text  # FastAPI said 400 "error parsing the body"
    assert answer.json()["error"] == ("the server's disk is full (the temporary folder): the upload could not be "
                                      "stored; try again later")
    assert caplog.messages == [f"POST /v1/videos: the server's disk is full (the temporary folder, "
                               f"{tempfile.gettempdir()}): the upload could not be stored (No space left on device)"]
    # another OSError is no full disk
    monkeypatch.setattr("starlette.formparsers.SpooledTemporaryFile", tempfile.SpooledTemporaryFile)
    monkeypatch.setattr(shutil, "copyfileobj", lambda *a, **k: (_ for _ in ()).throw(PermissionError(13, "denied")))
    answer = client.post("/v1/videos", files={"file": ("clip.mp4", CARPHONE.read_bytes(), "video/mp4")})
    assert answer.status_code == 500
    assert answer.json()["error"] == "clip.mp4: the server could not store the upload (denied)"


TWO_MB = os.urandom(2 * 1024 * 1024)  # an upload Starlette spools to a temporary file (over 1 MB): not a video


def no_usable_temporary_folder(monkeypatch, tmp_path):
    """The system's temporary folder as a container with a read-only root has it: tempfile finds none (its own
    error), as for a non-root user whose TMPDIR, /tmp, /var/tmp and working folder are read-only (root may write
    there whatever the modes: the check is made where the folder is chosen)."""
    def none_usable():
        raise FileNotFoundError(errno.ENOENT, f"No usable temporary directory found in ['{tmp_path / 'ro'}', '/tmp']")

    monkeypatch.setattr(tempfile, "tempdir", None)  # not chosen yet, as in a fresh process
    monkeypatch.setattr(tempfile, "_get_default_tempdir", none_usable)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "ro"))


def test_without_a_usable_temporary_folder_the_server_keeps_its_temporary_files_in_its_data_folder(
        data_dir, tmp_path, monkeypatch):
    """In a container with a read-only root (TMPDIR unset or read-only), the server started as if all were well,
    then /healthz answered 500 with a 60-line traceback to every probe, and every upload over 1 MB 400 "There was
    an error parsing the body", with no line in the log."""
    no_usable_temporary_folder(monkeypatch, tmp_path)
    with pytest.raises(FileNotFoundError):  # as the server finds it
        tempfile.gettempdir()
    with TestClient(create_app(ServerSettings(data_dir=data_dir, max_upload_mb=5)), base_url=BASE,
                    raise_server_exceptions=False) as client:
        folder = data_dir.absolute() / "tmp"
        # this process's temporary files, and those of the analysis processes it starts (TMPDIR)
        assert tempfile.gettempdir() == str(folder) and os.environ["TMPDIR"] == str(folder)
        assert (folder.stat().st_mode & 0o777) == 0o700 or os.name != "posix"  # uploads as they arrive: private
        # and the data folder this made (create_app before any lock made it): the README's 0700, not the umask's
        assert (data_dir.stat().st_mode & 0o777) == 0o700 or os.name != "posix"
        health = client.get("/healthz")
        assert health.status_code == 200, health.text
        assert health.json()["warnings"] == [
            "the system's temporary folder is not usable (TMPDIR, /tmp): temporary files, uploads as they arrive "
            "among them, are kept in the data folder's tmp/ (TMPDIR chooses another)"]
        # spooled and read: refused as what it is, not as a body that could not be parsed
        answer = client.post("/v1/videos", files={"file": ("big.mp4", TWO_MB, "video/mp4")})
        assert answer.status_code == 415 and "not a readable video" in answer.json()["error"], answer.text


def test_a_temporary_folder_that_goes_away_is_a_warning_and_a_logged_500_not_a_parse_error(client, monkeypatch,
                                                                                            caplog):
    """The temporary folder unusable after the start (removed, made read-only): /healthz answered 500 with a
    traceback, and an upload over 1 MB 400 "There was an error parsing the body" with no line in the log."""
    def none_usable():
        raise FileNotFoundError(errno.ENOENT, "No usable temporary directory found in ['/tmp', '/var/tmp']")

    monkeypatch.setattr(tempfile, "gettempdir", none_usable)
    health = client.get("/healthz")
    assert health.status_code == 200, health.text
    assert health.json()["warnings"] == [
        "no usable temporary folder (TMPDIR, /tmp): uploads over 1 MB are refused (500); restart the server, which "
        "then keeps them in its data folder"]
    with caplog.at_level(logging.ERROR, logger="fervid.apps.server"):
        answer = client.post("/v1/videos", files={"file": ("big.mp4", TWO_MB, "video/mp4")})
    assert answer.status_code == 500, answer.text
    assert answer.json() == {"error": "the server could not store the upload in the temporary folder (its log says "
                                      "why)", "status": 500}
    assert caplog.messages == ["POST /v1/videos: the upload could not be stored (the temporary folder: none is "
                               "usable): [Errno 2] No usable temporary directory found in ['/tmp', '/var/tmp']"]
    # a small upload is kept in memory: it is still served
    assert client.post("/v1/videos", files={"file": ("small.mp4", b"not a video", "video/mp4")}).status_code == 415


def cut_off_upload(data_dir: Path, age_s: float) -> Path:
    """A job folder as an upload that failed while it was stored leaves it: part of the video, no job.json."""
    folder = JobStore(data_dir / "jobs").make_folder(uuid.uuid4().hex)
    (folder / "clip.mp4").write_bytes(CARPHONE.read_bytes()[:100_000])
    then = time.time() - age_s
    for path in (folder / "clip.mp4", folder):
        os.utime(path, (then, then))
    return folder


@needs_sample_clip
def test_an_upload_cut_off_by_a_full_disk_or_a_crash_does_not_stay_for_good(data_dir):
    """An upload that failed as it was stored left jobs/<id>/ with part of the video (someone's face) and no
    job.json: the cleanup went by job.json, so neither the TTL nor DELETE ever removed it."""
    store = JobStore(data_dir / "jobs")
    old, recent = cut_off_upload(data_dir, age_s=3600), cut_off_upload(data_dir, age_s=10)
    being_stored = cut_off_upload(data_dir, age_s=3600)
    with open(being_stored / "clip.mp4", "ab") as fh:  # an upload still being copied in: its file is changing
        fh.write(b"\0" * 1000)
    finished = done_job(data_dir)
    os.utime(data_dir / "jobs" / finished, (time.time() - 3600,) * 2)
    assert store.abandoned(600) == [old.name]  # the periodic cleanup's rule: untouched for 10 minutes
    assert sorted(store.abandoned(0)) == sorted([old.name, recent.name, being_stored.name])
    # at start-up no upload can be in progress (one server per data folder): every such folder goes
    with TestClient(create_app(ServerSettings(data_dir=data_dir)), base_url=BASE) as client:
        assert not old.exists() and not recent.exists() and not being_stored.exists()
        assert client.get(f"/v1/jobs/{finished}").json()["status"] == "done"  # a job with its job.json stays


@needs_sample_clip
def test_healthz_counts_jobs_without_reading_the_store_answers_head_and_warns_of_a_full_disk(data_dir, monkeypatch):
    """/healthz read every job.json on the event loop (0.4-0.9 s with 5,000 jobs, every other request waiting);
    HEAD /healthz (a load balancer's check) was a 405; nothing said the disk was filling up until uploads failed."""
    from fervid.apps.server import VideoWorkers

    monkeypatch.setattr(VideoWorkers, "_work", lambda self: None)  # no worker takes the jobs: they stay queued
    with TestClient(create_app(ServerSettings(data_dir=data_dir, max_upload_mb=5)), base_url=BASE) as client:
        for _ in range(2):
            assert client.post("/v1/videos", files={"file": ("c.mp4", CARPHONE.read_bytes(), "video/mp4")}).is_success
        def read_every_job(self):
            raise AssertionError("/healthz read the job store")

        monkeypatch.setattr(JobStore, "all", read_every_job)
        health = client.get("/healthz").json()
        assert health["status"] == "ok" and health["queued_jobs"] == 2 and health["running_jobs"] == 0
        assert abs(health["disk_free_mb"] - shutil.disk_usage(data_dir).free / 2**20) < 100  # others write too
        assert health["warnings"] == []
        head = client.head("/healthz")
        assert head.status_code == 200 and head.content == b""

        monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9 - 3 * 2**20,
                                                                                         3 * 2**20))
        full = client.get("/healthz")
        # still ok (images are analysed, and a restart would free nothing), with the reason uploads may fail
        assert full.status_code == 200 and full.json()["status"] == "ok" and full.json()["disk_free_mb"] == 3
        assert full.json()["warnings"] == [
            "disk space is low: 3 MB free for the data folder, 3 MB free for the temporary folder, less than one "
            "upload of --max-upload-mb (5 MB); uploads may be refused (507)"]


def test_a_results_links_are_urls_for_any_upload_name(data_dir, client):
    """`/v1/jobs/<id>/files/Interview 01_frames.csv`: a link with a space in it is no URL (urllib raised
    InvalidURL). Each file name is percent-encoded, and the download route decodes it."""
    import urllib.parse

    stem = "Interview 01 (Zoé)"
    job_id = done_job(data_dir, stem)
    out, names = data_dir / "jobs" / job_id / "out", OutputNames(stem)
    key_frame = names.key_frame(1, 0.0, "happy")
    (out / names.tracks_json).write_text(tracks_document(stem, [a_track(key_frame)]), encoding="utf-8")
    for name in (names.timeline(1), key_frame, names.frames_parquet, names.annotated):
        (out / name).write_bytes(name.encode())
    result = client.get(f"/v1/jobs/{job_id}/result").json()
    links = [*result["links"].values(), result["tracks"][0]["timeline_url"],
             result["tracks"][0]["episodes"][0]["key_frame_url"]]
    assert result["links"]["frames_csv"] == f"/v1/jobs/{job_id}/files/Interview%2001%20%28Zo%C3%A9%29_frames.csv"
    for link in links:
        assert re.fullmatch(r"[A-Za-z0-9/._~%-]+", link), link  # URL characters only: no space, no "é"
        served = client.get(link)
        assert served.status_code == 200, link
        if "/files/" in link:
            name = urllib.parse.unquote(link.rsplit("/", 1)[1])
            assert served.content == (out / name).read_bytes() and name.startswith(stem)


@needs_sample_clip
def test_a_raw_video_body_is_told_how_to_post_a_video(client):
    """The hint on /v1/videos said `curl -F file=@photo.jpg`."""
    raw = client.post("/v1/videos", content=CARPHONE.read_bytes(), headers={"content-type": "video/mp4"})
    assert raw.status_code == 415 and "curl -F file=@video.mp4" in raw.json()["error"]
    raw = client.post("/v1/images", content=b"\xff\xd8", headers={"content-type": "image/jpeg"})
    assert raw.status_code == 415 and "curl -F files=@photo.jpg" in raw.json()["error"]


@needs_sample_clip
@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="child processes are found in /proc")
def test_deleting_a_running_job_stops_its_analysis_and_encoder_first_and_quietly(data_dir, client, capfd):
    """DELETE removed the job's folder while its analysis process was still writing there and its FFmpeg encoder
    still finishing the annotated MP4: the server's log got the process's FileNotFoundError traceback and FFmpeg's
    "Unable to re-open ... output file"."""
    def children(pid):
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                if int(stat.read_text(encoding="utf-8").rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(stat.parent.name))
            except OSError:  # ended meanwhile
                pass
        return found

    job_id = client.post("/v1/videos", files={"file": ("clip.mp4", CARPHONE.read_bytes(), "video/mp4")}).json()[
        "job_id"]
    folder = data_dir / "jobs" / job_id

    def encoding():  # the analysis process and its encoder, once the annotated MP4 is being written
        pid = json.loads((folder / "job.json").read_text(encoding="utf-8")).get("pid")
        being_written = folder / "out" / OutputNames.partial(OutputNames("clip").annotated)
        return pid and being_written.is_file() and (pid, children(pid))

    deadline = time.monotonic() + 120
    while not (running := encoding()):
        assert time.monotonic() < deadline and client.get(f"/v1/jobs/{job_id}").json()["status"] != "done"
        time.sleep(0.05)
    analysis, helpers = running
    assert helpers  # FFmpeg, writing the annotated MP4
    assert client.delete(f"/v1/jobs/{job_id}").json() == {"deleted": job_id}
    def running(pid):  # neither gone nor a zombie, nor ending (a killed process's memory is released first)
        try:
            state = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").split(")")[1][:3]
            return "Z" not in state and Path(f"/proc/{pid}/cmdline").read_bytes() != b""
        except OSError:
            return False

    assert not [pid for pid in (analysis, *helpers) if running(pid)]  # stopped before the folder went
    assert not folder.exists()
    time.sleep(2.0)  # anything that ran on after it would have written by now
    assert not folder.exists()
    err = capfd.readouterr().err
    assert "Traceback" not in err and "re-open" not in err and "Error" not in err, err
    assert client.get("/healthz").json()["running_jobs"] == 0


def png_declaring(width: int, height: int) -> bytes:
    """A 74-byte PNG whose header declares ``width`` x ``height`` pixels (a decompression bomb's)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))


@needs_sample_clip
def test_a_bad_video_upload_is_a_4xx_and_leaves_no_folder_whatever_fails(data_dir, client, monkeypatch):
    """A PNG declaring 100000 x 100000 pixels, renamed .mp4, was a 500 (Pillow's DecompressionBombError escaped),
    and any error but a VideoError left the upload on disk in a folder without job.json."""
    jobs = data_dir / "jobs"
    answer = client.post("/v1/videos", files={"file": ("bomb.mp4", png_declaring(100_000, 100_000), "video/mp4")})
    assert answer.status_code == 415, answer.text
    assert answer.json()["error"] == ("bomb.mp4: not a readable video (an image whose header declares "
                                      "10,000,000,000 pixels (over the limit Pillow decodes: a decompression "
                                      "bomb?), not a video)")

    def breaks(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("fervid.inference.video.open_video", breaks)
    assert client.post("/v1/videos", files={"file": ("clip.mp4", CARPHONE.read_bytes(), "video/mp4")}
                       ).status_code == 500
    assert not list(jobs.iterdir())  # both uploads gone with their folders


@needs_sample_clip
def test_a_video_of_frames_over_the_servers_size_limit_is_refused(data_dir):
    """Videos had no frame-size limit, as images have (a 62 KB file can declare 16000 x 16000 frames)."""
    settings = ServerSettings(data_dir=data_dir, max_upload_mb=5, max_video_pixels=20_000)
    with TestClient(create_app(settings), base_url=BASE) as client:
        answer = client.post("/v1/videos", files={"file": ("clip.mp4", CARPHONE.read_bytes(), "video/mp4")})
    # (it said "not a readable video": it may be readable, only too large for this server)
    assert answer.status_code == 415 and answer.json()["error"] == (
        "clip.mp4: frames too large: 176 x 144 (0.0253 megapixels; the limit is 0.02, "
        "the server's --max-video-megapixels)")
    # and in words for the web page's user, without the option (there was no message)
    assert answer.json()["message"] == (
        "clip.mp4's frames are too large for this server (0.0253 megapixels; it takes up to 0.02). Make the video "
        "smaller, or ask whoever runs the server to raise the limit.")
    assert not list((data_dir / "jobs").iterdir())


@needs_sample_clip
def test_a_video_job_holds_its_frames_within_the_servers_frames_memory(data_dir):
    """The memory of decoded frames a video's analysis may hold (VideoOptions.frames_memory_mb) could not be set for
    the server's jobs: `fervid serve --frames-memory-mb` sets it."""
    from fervid.inference.options import PipelineOptions

    settings = ServerSettings(data_dir=data_dir, max_upload_mb=5, frames_memory_mb=0.1,
                              pipeline=PipelineOptions(method="mean", annotate=False))
    with TestClient(create_app(settings), base_url=BASE) as client:
        job_id = client.post("/v1/videos", files={"file": ("clip.mp4", CARPHONE.read_bytes(), "video/mp4")}
                             ).json()["job_id"]
        for _ in range(600):
            state = client.get(f"/v1/jobs/{job_id}").json()
            if state["status"] in ("done", "failed"):
                break
            time.sleep(0.1)
    assert state["status"] == "failed" and "0.1 MB (--frames-memory-mb, VideoOptions.frames_memory_mb) hold too " \
        "few" in state["error"], state


@needs_sample_clip
def test_head_of_the_page_answers_as_get_does_and_a_failed_job_is_in_the_log(data_dir, client, monkeypatch, caplog):
    """HEAD / (an uptime monitor's check) was a 405; a video job that failed was said only to a client asking for
    it, never in the server's log."""
    page = client.get("/")
    head = client.head("/")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == page.headers["content-type"]

    def fails(self, ctx, job_id):
        self.store.write(job_id, status="failed", error="clip.mp4: no video frames could be decoded\nok: fine")

    monkeypatch.setattr(server.VideoWorkers, "_analyse", fails)
    with caplog.at_level(logging.WARNING, logger="fervid.apps.server"):
        job_id = client.post("/v1/videos", files={"file": ("clip.mp4", CARPHONE.read_bytes(), "video/mp4")}
                             ).json()["job_id"]
        for _ in range(100):
            if "failed" in caplog.text:
                break
            time.sleep(0.05)
    # (the upload's name is left out of the log without --access-log, as the README promises: its error may name it)
    assert f"video job {job_id} failed: the upload: no video frames could be decoded\\nok: fine" in caplog.text
    assert "clip.mp4" not in caplog.text


def test_a_job_that_fails_on_a_full_disk_frees_it_keeping_only_its_record(data_dir, monkeypatch):
    """On a 24 MB data volume two 9 MB uploads failed ("[Errno 28] No space left on device:
    'out/mid_frames.partial.csv'"), and their partial outputs (7 and 8.7 MB) stayed for the whole TTL: every later
    upload was refused (507) for 24 h. A failed job keeps its job.json, with its error, and nothing else."""
    store = JobStore(data_dir / "jobs")
    job_id = uuid.uuid4().hex
    folder = store.make_folder(job_id)
    (folder / "mid.mp4").write_bytes(b"\0" * 1000)  # the upload (its analysis is the stand-in below)
    store.write(job_id, id=job_id, status="running", progress=0.4, created=time.time(), input="mid.mp4",
                filename="mid.mp4", error=None, annotate=True)

    class FillsTheDisk:
        def __init__(self, analyzer, options):
            pass

        def run(self, video, out, progress):
            out.mkdir()
            (out / "mid_annotated.partial.mp4").write_bytes(b"\0" * 1024 * 1024)
            (out / "mid_frames.partial.csv").write_text("time,frame,track\n", encoding="utf-8")
            raise OSError(errno.ENOSPC, "No space left on device", "out/mid_frames.partial.csv")

    monkeypatch.setattr(server, "VideoAnalyzer", FillsTheDisk)
    monkeypatch.setattr(server.ServerSettings, "make_analyzer", lambda self, **options: None)
    monkeypatch.setattr(server, "lower_priority", lambda: None)  # this is pytest's process, not a job's own
    monkeypatch.chdir(data_dir)  # the analysis works in its job's folder: the test's folder back after it
    import cv2

    umask, threads = os.umask(0o022), cv2.getNumThreads()  # set for a job's own process: pytest's back after
    try:
        server._analyse_job(str(store.root), job_id, ServerSettings(data_dir=data_dir))
    finally:
        os.umask(umask)
        cv2.setNumThreads(threads)
    job = store.read(job_id)
    assert job["status"] == "failed" and "No space left on device" in job["error"], job
    assert [path.name for path in folder.iterdir()] == ["job.json"]


def test_a_failed_jobs_files_are_not_served_and_an_older_servers_are_deleted_at_start_up(data_dir):
    """/result answered 409 for a failed job while GET /v1/jobs/<id>/files/<name>.partial.png served its partial
    files (200); and a job an older fervid failed kept its outputs until the TTL."""
    store = JobStore(data_dir / "jobs")

    def job_with_a_file(status: str) -> str:
        job_id = uuid.uuid4().hex
        (store.make_folder(job_id) / "out").mkdir()
        (store.folder(job_id) / "out" / "mid_track1_timeline.partial.png").write_bytes(b"\x89PNG")
        store.write(job_id, id=job_id, status=status, progress=0.4, created=time.time(), input="mid.mp4",
                    filename="mid.mp4", error="[Errno 28] No space left on device" if status == "failed" else None)
        return job_id

    older = job_with_a_file("failed")
    with TestClient(create_app(ServerSettings(data_dir=data_dir)), base_url=BASE) as c:
        assert not (store.folder(older) / "out").exists()
        assert c.get(f"/v1/jobs/{older}").json()["error"] == "[Errno 28] No space left on device"
        for status in ("failed", "running"):
            job_id = job_with_a_file(status)
            result = c.get(f"/v1/jobs/{job_id}/result")
            for method in ("GET", "HEAD"):
                file = c.request(method, f"/v1/jobs/{job_id}/files/mid_track1_timeline.partial.png")
                assert (file.status_code, file.headers["content-type"]) == (409, "application/json"), status
            assert file.status_code == result.status_code == 409
            assert c.get(f"/v1/jobs/{job_id}/files/mid_track1_timeline.partial.png").json() == result.json()
        done = done_job(data_dir)
        assert c.get(f"/v1/jobs/{done}/files/{OutputNames('clip').frames_csv}").status_code == 200
