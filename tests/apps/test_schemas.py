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
