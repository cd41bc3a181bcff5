"""The API's response models describe exactly what every writer produces (one schema, not a second copy)."""

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from fervid.apps.schemas import FaceOut, FaceRow, ImagesOut
from fervid.apps.server import ServerSettings, create_app
from fervid.inference.analyzer import Analyzer
from fervid.inference.records import ImageResult, images_document
from fervid.inference.video import VideoAnalyzer, VideoOptions
from fervid.samples import carphone
from conftest import needs_sample_clip


@needs_sample_clip
def test_the_json_of_images_and_the_rows_of_video_fit_the_api_models(astronaut_rgb):
    analyzer = Analyzer()
    result = analyzer.analyze_image(astronaut_rgb)
    FaceOut.model_validate(result[0].to_dict())
    ImagesOut.model_validate(images_document([result, ImageResult("x.png", error="x.png: broken")],
                                             analyzer.settings))
    video = VideoAnalyzer(analyzer, VideoOptions(method="mean", annotate=False)).run(carphone())
    for face in video.faces[:5]:
        FaceRow.model_validate({**face.table_row(), "landmarks": [list(p) for p in face.landmarks]})
    with pytest.raises(ValidationError):  # a drifted field would be caught
        FaceOut.model_validate({**result[0].to_dict(), "label": "happy"})


def test_the_api_documents_and_checks_its_image_response(tmp_path, astronaut_png):
    with TestClient(create_app(ServerSettings(data_dir=tmp_path)), base_url="http://127.0.0.1") as client:
        schema = client.get("/openapi.json").json()
        assert "ImagesOut" in schema["components"]["schemas"] and "FaceOut" in schema["components"]["schemas"]
        r = client.post("/v1/images", files={"files": ("a.png", astronaut_png.read_bytes(), "image/png")})
        assert r.status_code == 200 and r.json()["files"][0]["faces"][0]["emotion"] == "happy"
        # every image JSON records face_crops, the server's too (it detects every face): the schema says it is there
        assert r.json()["face_crops"] is False and "face_crops" in schema["components"]["schemas"]["ImagesOut"][
            "required"]


def test_every_answer_is_typed_and_every_field_described_once(tmp_path):
    """/result, /frames, DELETE and /healthz were untyped objects in /openapi.json; no field had a description
    (a box's units and origin, progress's range, created's clock, the job statuses); /healthz's description was a
    note to fervid's developers; the 500 every endpoint can answer was not listed."""
    from fervid.emotions import EMOTIONS
    from fervid.inference.records import FIELD_DESCRIPTIONS

    with TestClient(create_app(ServerSettings(data_dir=tmp_path)), base_url="http://127.0.0.1") as client:
        spec = client.get("/openapi.json").json()
    # the live WebSocket's rows are no HTTP answer: their model's schema is not in /openapi.json
    schemas = {**spec["components"]["schemas"], "FaceRow": FaceRow.model_json_schema()}
    answers = {(path, method): op["responses"] for path, ops in spec["paths"].items() for method, op in ops.items()}
    for (path, method), responses in answers.items():
        if "/files/" in path:  # a file, not JSON
            continue
        assert "$ref" in responses["200" if method != "post" or "images" in path else "202"]["content"][
            "application/json"]["schema"], (path, method)
        if path.startswith("/v1/"):
            assert "500" in responses, (path, method)
    assert "507" in answers[("/v1/videos", "post")] and "507" in answers[("/v1/images", "post")]
    for name in ("ResultOut", "TrackOut", "Episode", "Change", "ResultLinks", "FramesOut", "TrackSeries", "HealthOut",
                 "DeletedOut", "JobOut", "VideoJobOut", "ImagesOut", "FileOut", "FaceOut", "Box", "Probabilities",
                 "EmotionShares", "FaceRow", "ErrorOut"):
        for field, prop in schemas[name]["properties"].items():
            assert prop.get("description") or "$ref" in prop, (name, field)
    # a face's fields are described once (fervid.inference.records), wherever a model has them
    for name, fields in (("Box", ["x", "y", "width", "height"]), ("Probabilities", EMOTIONS),
                         ("FaceOut", ["landmarks", "detection_score", "emotion", "confidence", "uncertain"]),
                         ("FaceRow", list(schemas["FaceRow"]["properties"])),
                         ("TrackSeries", ["time", *EMOTIONS, "emotion", "uncertain"]),
                         ("TrackOut", ["track", "start", "end", "frames", "seen_seconds", "dominant_emotion"])):
        for field in fields:
            assert schemas[name]["properties"][field]["description"] == FIELD_DESCRIPTIONS[field], (name, field)
    assert "pixels from the image's left edge" in FIELD_DESCRIPTIONS["x"] and "top-left" in schemas["Box"][
        "description"]
    job = schemas["JobOut"]["properties"]
    assert job["status"]["enum"] == ["queued", "running", "done", "failed"]
    assert "0 to 1" in job["progress"]["description"] and "Unix time, in seconds" in job["created"]["description"]
    assert schemas["FaceOut"]["properties"]["emotion"]["enum"] == list(EMOTIONS)
    health = spec["paths"]["/healthz"]["get"]
    assert "event loop" not in health["description"] and "HEAD" in health["description"]


@needs_sample_clip
def test_a_real_video_jobs_answers_fit_their_models(tmp_path):
    """The models are checked on every answer (response_model): a real job's result, frames and deletion answer
    200 through them, the tracks JSON's fields all typed."""
    import json
    import time
    import uuid

    from fervid.apps.schemas import Episode, ResultOut, TrackOut
    from fervid.apps.server import JobStore

    store = JobStore(tmp_path / "jobs")
    job_id = uuid.uuid4().hex
    out = store.make_folder(job_id) / "out"
    VideoAnalyzer(Analyzer(), VideoOptions(method="mean", annotate=False)).run(carphone(), out)
    store.write(job_id, id=job_id, status="done", progress=1.0, created=time.time(), input=None,
                filename="carphone.mp4", error=None, stem=carphone().stem)
    with TestClient(create_app(ServerSettings(data_dir=tmp_path)), base_url="http://127.0.0.1") as client:
        result = client.get(f"/v1/jobs/{job_id}/result")
        assert result.status_code == 200, result.text
        written = json.loads((out / f"{carphone().stem}_tracks.json").read_text(encoding="utf-8"))
        tracks = written["tracks"]
        assert tracks and set(tracks[0]) | {"timeline_url"} == set(TrackOut.model_fields)
        # every key of the tracks JSON is declared (its extras were listed by hand in ResultOut's docstring, and
        # drifted: end_reached, analysed_seconds, region, start, end, video_streams, analysed_fps_cap, segments)
        assert set(written) - set(ResultOut.model_fields) == set()
        assert set(tracks[0]["episodes"][0]) | {"key_frame_url"} == set(Episode.model_fields)
        # and the answer holds what the file holds: an LSTM's keys only where one ran (method mean here)
        assert set(result.json()) == set(written) | {"partial", "links"} == set(ResultOut.model_fields) - {
            "temporal_model", "temporal_model_sha256"}
        assert "annotated_video" not in result.json()["links"]
        frames = client.get(f"/v1/jobs/{job_id}/frames")
        assert frames.status_code == 200 and len(frames.json()["tracks"]["1"]["time"]) == 120
        # each series of FRAME_SERIES, as the frames table has it
        import pandas as pd

        from fervid.apps.schemas import FRAME_SERIES

        series, table = frames.json()["tracks"]["1"], pd.read_csv(out / f"{carphone().stem}_frames.csv")
        assert list(series) == FRAME_SERIES
        for column in FRAME_SERIES:
            assert series[column] == table[table.track == 1][column].tolist(), column
        assert client.delete(f"/v1/jobs/{job_id}").json() == {"deleted": job_id}


def test_the_tracks_jsons_records_are_typed_and_described_in_the_schema(tmp_path):
    """scene_cut_tracks, replaced_faces, frame_size_changes and segments were untyped objects in /openapi.json (a
    client generator made them maps of anything): each entry is a model whose fields are typed and described, a
    segment's track summary described as a track's is."""
    from fervid.inference.records import FIELD_DESCRIPTIONS

    with TestClient(create_app(ServerSettings(data_dir=tmp_path)), base_url="http://127.0.0.1") as client:
        schemas = client.get("/openapi.json").json()["components"]["schemas"]
    result = schemas["ResultOut"]["properties"]
    for field, model in (("scene_cut_tracks", "SceneCut"), ("replaced_faces", "ReplacedFace"),
                         ("frame_size_changes", "FrameSizeChange"), ("segments", "Segment")):
        (listed,) = [kind for kind in result[field]["anyOf"] if kind.get("type") == "array"]
        assert listed["items"] == {"$ref": f"#/components/schemas/{model}"}, field
    types = {name: {field: prop.get("type") or prop.get("$ref") or prop.get("anyOf")
                    for field, prop in schemas[name]["properties"].items()}
             for name in ("SceneCut", "ReplacedFace", "FrameSizeChange", "Segment", "SegmentTrack")}
    assert types["ReplacedFace"] == {"time": "number", "track": "integer", "new_track": "integer",
                                     "area_ratio": "number", "why": "string"}
    assert types["FrameSizeChange"] == {"time": "number", "width": "integer", "height": "integer"}
    assert types["SceneCut"] == {"time": "number", "ended": "array", "kept": "array"}
    assert schemas["SceneCut"]["properties"]["ended"]["items"] == {"type": "integer"}
    assert schemas["Segment"]["properties"]["tracks"]["items"] == {"$ref": "#/components/schemas/SegmentTrack"}
    assert schemas["SegmentTrack"]["properties"]["episodes"]["items"] == {"$ref": "#/components/schemas/Episode"}
    # a segment no analysed frame fell in has no means: null, said in the schema
    for field, model in (("mean_box", "Box"), ("mean_probabilities", "Probabilities")):
        assert schemas["SegmentTrack"]["properties"][field]["anyOf"] == [{"$ref": f"#/components/schemas/{model}"},
                                                                         {"type": "null"}], field
        assert schemas["TrackOut"]["properties"][field]["$ref"] == f"#/components/schemas/{model}", field
    for name in types:
        for field, prop in schemas[name]["properties"].items():
            assert prop.get("description") or "$ref" in prop, (name, field)
    for field in ("track", "start", "end", "frames", "seen_seconds", "dominant_emotion"):
        assert schemas["SegmentTrack"]["properties"][field]["description"] == FIELD_DESCRIPTIONS[field], field


def write_edited_session(path, astronaut_rgb):
    """MPEG-TS recordings joined end to end (`cat a.ts b.ts`): a 640x360 one at 25 fps with a small face from the
    start and a larger one from frame 8 (which --max-faces 1 gives way to), then a 640x480 one of another room with
    the face elsewhere (a scene cut, and a frame size change)."""
    import subprocess

    import cv2
    import imageio_ffmpeg
    import numpy as np

    from conftest import clip_writer

    face = cv2.cvtColor(astronaut_rgb[20:240, 120:330], cv2.COLOR_RGB2BGR)
    small = cv2.resize(face[:, ::-1], None, fx=0.5, fy=0.5)
    session = np.full((360, 640, 3), 90, np.uint8)
    session[20:20 + small.shape[0], 480:480 + small.shape[1]] = small
    joined = session.copy()
    joined[100:320, 150:360] = face
    room = np.full((480, 640, 3), 160, np.uint8)
    rng = np.random.default_rng(2)
    for _ in range(10):  # furniture
        x, y = (int(v) for v in rng.integers(0, 560, 2))
        cv2.rectangle(room, (x, y % 400), (x + 100, y % 400 + 80), tuple(int(c) for c in rng.integers(30, 230, 3)), -1)
    room[120:340, 300:510] = face[:, ::-1]
    recordings = [[session] * 8 + [joined] * 22, [room] * 30]
    data = b""
    for n, frames in enumerate(recordings):
        part = path.with_name(f"{path.stem}.part{n}.mp4")
        writer = clip_writer(part, frames[0].shape[1], frames[0].shape[0], 25.0)
        for i, frame in enumerate(frames):
            writer.write(np.roll(frame, i % 3, axis=1))  # a hand-held camera: frames that change
        writer.close()
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(part), "-c", "copy", "-f",
                        "mpegts", str(part.with_suffix(".ts"))], check=True)
        data += part.with_suffix(".ts").read_bytes()
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def edited_session_out(tmp_path_factory, astronaut_rgb):
    """The outputs of the edited session (--max-faces 1, two segments): every record of the tracks JSON there."""
    folder = tmp_path_factory.mktemp("edited")
    clip = write_edited_session(folder / "session.ts", astronaut_rgb)
    VideoAnalyzer(Analyzer(max_faces=1), VideoOptions(method="frame", annotate=False,
                                                      segments=((0, 1.0, "intro"), (1.0, 2.4)))).run(clip,
                                                                                                    folder / "out")
    return folder / "out"


def job_of(data_dir, out) -> str:
    """A done job whose outputs are a copy of ``out`` (a session's: stem ``session``)."""
    import shutil
    import time
    import uuid

    from fervid.apps.server import JobStore

    store = JobStore(data_dir / "jobs")
    job_id = uuid.uuid4().hex
    shutil.copytree(out, store.make_folder(job_id) / "out")
    store.write(job_id, id=job_id, status="done", progress=1.0, created=time.time(), input=None,
                filename="session.ts", error=None, stem="session")
    return job_id


def test_a_real_jobs_cuts_replaced_faces_size_changes_and_segments_fit_their_models(tmp_path, edited_session_out):
    """The records are typed from what the analysis writes: a real job's, every key of each declared and nothing
    declared it lacks; a segment's episodes link their key frames as its track's do."""
    import json

    from fervid.apps.schemas import (Episode, FrameSizeChange, ReplacedFace, SceneCut, Segment, SegmentTrack,
                                     TrackOut)

    written = json.loads((edited_session_out / "session_tracks.json").read_text(encoding="utf-8"))
    job_id = job_of(tmp_path, edited_session_out)
    with TestClient(create_app(ServerSettings(data_dir=tmp_path)), base_url="http://127.0.0.1") as client:
        answer = client.get(f"/v1/jobs/{job_id}/result")
        assert answer.status_code == 200, answer.text
        result = answer.json()
        for field, model in (("scene_cut_tracks", SceneCut), ("replaced_faces", ReplacedFace),
                             ("frame_size_changes", FrameSizeChange), ("segments", Segment)):
            assert written[field], field  # the clip has each
            for entry in written[field]:
                assert set(entry) == set(model.model_fields), field
        assert result["replaced_faces"] == written["replaced_faces"] and result["replaced_faces"][0]["new_track"] == 2
        assert result["scene_cut_tracks"] == written["scene_cut_tracks"]
        assert result["frame_size_changes"] == [{"time": pytest.approx(1.2), "width": 640, "height": 480}]
        assert [s["segment"] for s in result["segments"]] == ["intro", 2]
        segment_tracks = [track for segment in written["segments"] for track in segment["tracks"]]
        assert {track["track"] for track in segment_tracks} == {1, 2}
        for track in segment_tracks:
            assert set(track) == set(SegmentTrack.model_fields) == set(TrackOut.model_fields) - {"changes",
                                                                                                   "timeline_url"}
        linked = [ep for segment in result["segments"] for track in segment["tracks"] for ep in track["episodes"]]
        assert linked and all(set(ep) == set(Episode.model_fields) for ep in linked)
        key_frames = [ep["key_frame_url"] for ep in linked if ep["key_frame"]]
        assert key_frames and all(client.get(url).status_code == 200 for url in key_frames)
        # beside the links, a segment is answered as the file holds it
        for got, held in zip(result["segments"], written["segments"]):
            for got_track, held_track in zip(got["tracks"], held["tracks"]):
                for ep in got_track["episodes"]:
                    del ep["key_frame_url"]
            assert got == held


def test_the_records_of_an_earlier_or_a_later_fervids_tracks_json_are_answered(tmp_path, edited_session_out):
    """A job's tracks JSON is answered as its file holds it: an earlier fervid's lacks a segment's
    analysed_seconds and an episode's duration, peak_confidence and uncertain_share (absent from the answer), and a
    later fervid's keys a record does not declare are passed on; a track or an episode with one was a 500."""
    import json

    job_id = job_of(tmp_path, edited_session_out)
    tracks_json = tmp_path / "jobs" / job_id / "out" / "session_tracks.json"
    doc = json.loads(tracks_json.read_text(encoding="utf-8"))
    later = {"later": {"said": 1}}
    segment_tracks = [track for segment in doc["segments"] for track in segment["tracks"]]
    episodes = [ep for track in doc["tracks"] + segment_tracks for ep in track["episodes"]]
    for record in (*doc["scene_cut_tracks"], *doc["replaced_faces"], *doc["frame_size_changes"], *doc["segments"],
                   *doc["tracks"], *segment_tracks, *episodes, *[c for t in doc["tracks"] for c in t["changes"]]):
        record.update(later)
    for segment in doc["segments"]:
        del segment["analysed_seconds"]
    for ep in episodes:
        del ep["duration"], ep["peak_confidence"], ep["uncertain_share"]
    tracks_json.write_text(json.dumps(doc), encoding="utf-8")
    with TestClient(create_app(ServerSettings(data_dir=tmp_path)), base_url="http://127.0.0.1",
                    raise_server_exceptions=False) as client:
        answer = client.get(f"/v1/jobs/{job_id}/result")
    assert answer.status_code == 200, answer.text
    result = answer.json()
    for field in ("scene_cut_tracks", "replaced_faces", "frame_size_changes", "segments", "tracks"):
        assert result[field] and all(record["later"] == {"said": 1} for record in result[field]), field
    assert all("analysed_seconds" not in segment for segment in result["segments"])
    answered = [ep for segment in result["segments"] for track in segment["tracks"] for ep in track["episodes"]]
    answered += [ep for track in result["tracks"] for ep in track["episodes"]]
    assert answered and all(ep["later"] == {"said": 1} and "duration" not in ep and "uncertain_share" not in ep
                            and "key_frame_url" in ep for ep in answered)
    assert all(track["later"] == {"said": 1} for segment in result["segments"] for track in segment["tracks"])


@needs_sample_clip
def test_a_results_duration_is_described_as_where_the_analysis_stopped_not_the_seconds_read():
    """ResultOut.duration said "Seconds of video read": carphone analysed from 2 s has duration 4.004, where the
    analysis stopped on the file's timeline, and 2.004 s analysed (analysed_seconds)."""
    from fervid.apps.schemas import ResultOut

    summary = VideoAnalyzer(Analyzer(), VideoOptions(method="frame", annotate=False, start=2.0)).run(
        carphone()).summary()
    assert (summary["duration"], summary["end_reached"], summary["analysed_seconds"]) == (4.004, 4.004, 2.004)
    said = ResultOut.model_fields["duration"].description
    assert "read" not in said.replace("not the seconds read", "")
    assert said.startswith("Seconds (on the file's timeline, from its start) where the analysis stopped")
