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
