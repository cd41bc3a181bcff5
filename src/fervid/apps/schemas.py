"""The API's response models (OpenAPI at /docs), the same schema every writer uses: a face is described by
:meth:`fervid.inference.records.Face.to_dict` (JSON) and :func:`fervid.inference.records.face_row` (tables), and
these models validate exactly those (tests/apps/test_schemas.py)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, create_model

from fervid.emotions import EMOTIONS
from fervid.inference.video import TABLE_COLUMNS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Box(_Strict):
    x: float
    y: float
    width: float
    height: float


Probabilities = create_model("Probabilities", __base__=_Strict, __doc__="The 7 emotions' probabilities (sum 1).",
                             **{e: (float, ...) for e in EMOTIONS})


class FaceOut(_Strict):
    """One face in an image: box, 5 landmarks (eyes, nose, mouth corners), detection score, the most probable
    emotion, its probability (confidence), whether it is below the model's ``uncertain`` threshold, and all 7. A
    face crop classified whole (`fervid image --face-crops`) has the whole image as its box, no landmarks and a
    null detection score: no detector ran."""

    box: Box
    landmarks: list[list[float]]
    detection_score: float | None
    emotion: str
    confidence: float
    uncertain: bool
    probabilities: Probabilities


class FileOut(_Strict):
    file: str
    ok: bool
    width: int
    height: int
    faces: list[FaceOut]
    error: str | None = None


class ImagesOut(_Strict):
    """``fervid image --json`` and ``POST /v1/images``."""

    model: str
    weights_file: str  # the model's ONNX file that ran (its int8 graph by default) and its digest
    weights_sha256: str
    precision: str
    temperature: float  # the model's softmax temperature: a recalibrated copy's probabilities differ
    detector: str
    score_threshold: float | None
    min_face: float | None
    max_faces: int | None  # the largest N faces of each image were kept; None: every face
    face_crops: bool = False  # `fervid image --face-crops`: each image classified whole as one face, not detected
    fervid: str  # the versions that made the results
    onnxruntime: str
    files: list[FileOut]
    failed: int


class ErrorOut(_Strict):
    """Every error the server answers (any 4xx or 5xx): what went wrong, naming the file where there is one."""

    error: str
    status: int


class VideoJobOut(_Strict):
    """``POST /v1/videos``: the queued job and where to follow it."""

    job_id: str
    status: str
    status_url: str
    result_url: str


class JobOut(_Strict):
    """``GET /v1/jobs/{id}``: queued, running, done or failed; ``partial`` when the video broke mid-way and the
    results cover what was read up to the break (``error`` says why)."""

    id: str
    status: str
    progress: float
    error: str | None
    filename: str | None
    created: float | None
    partial: bool


_ROW_TYPES = {"frame": int, "track": int, "detection_score": float | None, "emotion": str, "uncertain": bool,
              "detected": bool}
FaceRow = create_model(
    "FaceRow", __base__=_Strict,
    __doc__="A face in a live frame: the video table's row (time, frame, track, the face row, detected) + landmarks.",
    **{c: (_ROW_TYPES.get(c, float), ...) for c in TABLE_COLUMNS},
    landmarks=(list[list[float]], ...))
