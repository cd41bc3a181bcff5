"""The choices that shape an analysis, with their defaults, declared once.

The API (:class:`fervid.Analyzer`, :class:`fervid.inference.video.VideoOptions`), every CLI command, the server and batch
take a :class:`PipelineOptions`, so a default changed here changes everywhere.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import TypeAdapter, ValidationError

from fervid.errors import OptionError

from fervid.inference.detect import (DEFAULT_DETECTOR, DEFAULT_MIN_FACE, DETECTORS, check_max_faces, check_min_face,
                                     check_score_threshold)
from fervid.inference.models import DEFAULT_MODEL, DEFAULT_PRECISION, check_precision
from fervid.inference.temporal import METHODS

if TYPE_CHECKING:
    from typing_extensions import Unpack  # (typing's from Python 3.12: read by type checkers only)

    from fervid.inference.analyzer import Analyzer
    from fervid.inference.video import VideoChanges, VideoOptions


def check_positive(name: str, value: float, unit: str = "") -> None:
    """A setting that must be a finite, positive number (NaN and infinity compare oddly and slip past ``<= 0``)."""
    if not (math.isfinite(value) and value > 0):
        raise OptionError(f"{name} must be {f'a positive number of {unit}' if unit else 'positive'}, not {value}")


# the largest seed: numpy's (np.random.seed, scikit-learn's random_state) are 32-bit, and a run is seeded by one
SEED_MAX = 2**32 - 1


def check_seed(name: str, value: int) -> None:
    """A seed numpy takes: 0 to 2**32 - 1 (it failed with "Seed must be between 0 and 2**32 - 1" after the data was
    loaded, not naming the setting)."""
    if not 0 <= value <= SEED_MAX:
        raise OptionError(f"{name} must be 0 to {SEED_MAX} (2**32 - 1), not {value}")


@functools.cache
def _field_types(cls: type) -> dict[str, TypeAdapter]:
    hints = typing.get_type_hints(cls)
    return {f.name: TypeAdapter(hints[f.name]) for f in dataclasses.fields(cls)}


def _plain(value):
    """A numpy number (np.float64(0.3), np.int64(16), np.bool_) as the Python number it holds; anything else as
    it is."""
    return value.item() if hasattr(value, "dtype") and hasattr(value, "item") and getattr(value, "ndim", None) == 0 \
        else value


def _type_problem(name: str, field_type: TypeAdapter, value) -> str | None:
    try:
        field_type.validate_python(value, strict=True)
    except ValidationError as exc:
        return f"{name}: {exc.errors()[0]['msg'].lower()}, not {value!r}"
    return None


def check_field_types(options: object) -> None:
    """Every field of an options dataclass checked against its annotation, strictly: annotate="no" was taken as
    true, sample_fps=True as 1 frame per second, and detect_every="0.3" failed deep inside with a message naming
    no option. Integers pass for floats, and numpy numbers (np.float64(0.3), np.int64(16), np.bool_) become the
    Python numbers they hold (a np.float32 kept as it was failed the results' JSON after the whole analysis);
    nothing else is converted."""
    problems = []
    # (a class is hashable: mypy reads object.__hash__, an instance's, as the class's own)
    for name, field_type in _field_types(type(options)).items():  # type: ignore[arg-type]
        value = _plain(getattr(options, name))
        object.__setattr__(options, name, value)  # also on a frozen dataclass: this is its own __post_init__
        problems.append(_type_problem(name, field_type, value))
    if any(problems):
        raise OptionError("; ".join(filter(None, problems)))


def checked_flag(name: str, value) -> bool:
    """A True/False setting that is no options field (``Analyzer(keep_features=...)``), checked as the fields are
    (:func:`check_field_types`): "no" was taken as true."""
    value = _plain(value)
    problem = _type_problem(name, _FLAG, value)
    if problem:
        raise OptionError(problem)
    return value


_FLAG = TypeAdapter(bool)


def check_temporal_model(method: str, temporal_model: str | None) -> None:
    """A temporal model is the LSTM's: with another method it would be ignored."""
    if temporal_model and method != "lstm":
        raise OptionError(f"a temporal model is read by method lstm, not {method}")


def check_key_frames(key_frames: int | None) -> None:
    """A cap on a track's key frames: a count, 0 for none (None: no cap)."""
    if key_frames is not None and key_frames < 0:
        raise OptionError(f"key_frames must be 0 or more, not {key_frames}")


def check_video_timing(detect_every: float, window: float, sample_fps: float | None) -> None:
    """A video's seconds and rate: a NaN window would analyse every frame and label none."""
    check_positive("detect_every", detect_every, "seconds")
    check_positive("window", window, "seconds")
    if sample_fps is not None:
        check_positive("sample_fps", sample_fps, "frames per second")


# the largest video frame read (width x height), refused before any is decoded (VideoOptions.max_frame_pixels,
# `fervid video` and `fervid serve --max-video-megapixels`): a 62 KB file declaring 16000 x 16000 frames needs 768 MB
# for each. 8K (8192 x 4320, 35 megapixels) is read
MAX_FRAME_PIXELS = 40_000_000
# the largest image the API reads (PipelineOptions.max_image_pixels, Analyzer(max_image_pixels=...)) and the server
# takes (`fervid serve --max-image-megapixels`), width x height, refused before any pixel is decoded: a 97 KB PNG
# declaring 10000 x 10000 took 1.5 GB and 14 s in analyze_image. A 48-megapixel phone photo is read
MAX_IMAGE_PIXELS = 50_000_000
# MB of decoded frames a video's analysis may hold at once (VideoOptions.frames_memory_mb, `--frames-memory-mb`):
# 1080p at 1000 fps needs 6 GB (it ran out of memory); 4K at 60 fps (1.9 GB) fits. A ceiling, not what is taken:
# the frames held are the LSTM's 1 s look-ahead, a CNN batch of 16 and 2 more (frames_memory_limits), so 1080p at
# 30 fps holds 48 x 6.2 MB = 0.30 GB and 720p 0.13 GB whatever this is; only 4K at 60 fps comes near it (78 x 24.9
# MB = 1.94 GB). Left at 2000 on small machines' account (a laptop with 2 GB free), measured: a lower bound saves
# memory only where it binds, and there it costs frames analysed, not CPU (the 4 s carphone clip under a bound that
# bound it: 120 frames analysed at 2000 MB, 60 at 3.7 MB, 44 at 2 MB; process peak RSS 298-301 MB and 2.6-3.4 s of
# CPU in all three, on a shared 2-core machine: the models and libraries are the process's memory, not its frames);
# lowered to 1000 it would analyse 4K phone video at 22 fps. A default following the machine's free memory would
# make a video's numbers depend on what else ran beside it (and `fervid batch` records it among the settings a run
# that goes on compares).
FRAMES_MEMORY_MB = 2000.0


# what a setting left at None means, said in words where a message shows it ("max_faces=None" read as Python)
_NONE_MEANS = {"key_frames": "every episode's", "max_faces": "every face", "sample_fps": "every frame",
               "score_threshold": "the detector's own", "temporal_model": "the one shipped for the CNN",
               "max_image_pixels": "no limit"}


def setting_text(name: str, value) -> str:
    """A setting's value as a message shows it: None in words (``max_faces`` None: "every face"), a string
    quoted, anything else as it is."""
    if value is None:
        return _NONE_MEANS.get(name, "none")
    return repr(value) if isinstance(value, str) else str(value)


@dataclass(frozen=True)
class PipelineOptions:
    """Every choice that shapes an analysis, with its default. ``options.analyzer()`` makes the
    :class:`fervid.Analyzer` they describe, whose ``analyze_video(path, options=options)`` takes them too;
    ``replace(**changes)`` gives a copy with some changed. A bad value (or one of the wrong type) raises
    :class:`fervid.errors.OptionError` (a ValueError) at once; a model or temporal model that names nothing raises
    ModelNotFound when the analyzer or the video pipeline loads it."""

    model: str | Path = DEFAULT_MODEL  # emotion CNN: a shipped name (fervid.inference.models.available_models) or a model folder
    detector: str = DEFAULT_DETECTOR  # a name in fervid.inference.detect.DETECTORS
    score_threshold: float | None = None  # minimum detection score; None: the detector's own
    min_face: float = DEFAULT_MIN_FACE  # px: the smallest face looked for (large images are detected finer for it)
    precision: str = DEFAULT_PRECISION  # auto (the graph model names, else its int8 copy where it has one), int8, fp32
    # the largest N faces of an image; in a video at most N followed at once, and with 1 the one face is track 1
    # throughout (a participant's webcam: a face that leaves and comes back, or a person behind them, is not a new
    # track). None: every face
    max_faces: int | None = None
    # images: each image is one face cropped already (FER2013's 48 x 48 faces, `fervid image --crops` output),
    # classified whole as `fervid evaluate` reads a folder of crops, with no detection (a face filling a small
    # picture is re-cropped by the detector, or missed); `fervid image --face-crops`, Analyzer(face_crops=True) (its
    # analyze_image's default; analyze_image(image, face_crop=True) for one image)
    face_crops: bool = False
    # images the Python API reads (Analyzer.analyze_image, FaceStream.push; paths, bytes, files, PIL images and
    # arrays alike): larger ones raise ImageTooLargeError naming the image and this limit, an encoded one before it
    # is decoded. None: no limit of fervid's. (The command line's `image` and `batch` read files up to
    # fervid.inference.images.MAX_PIXELS; the server's --max-image-megapixels sets this)
    max_image_pixels: int | None = MAX_IMAGE_PIXELS
    detect_every: float = 0.3  # video: seconds between face detections; optical flow tracks in between
    window: float = 1.0  # video: seconds of frames the temporal method looks at
    method: str = "lstm"  # video: temporal method, one of fervid.inference.temporal.METHODS
    sample_fps: float | None = None  # video: analyse at most this many frames per second (None: every frame)
    annotate: bool = True  # write annotated images / videos where outputs are written
    # each face's 5 landmarks (eyes, nose tip, mouth corners) in the JSON outputs that have them (`fervid image
    # --json`, batch's result.json, the server's /v1/images and /v1/live); False: null there, and the document
    # records "landmarks": false (data minimisation: README "Privacy and data protection"). They still frame each
    # face for the CNN; the tables and a video's tracks JSON never have them
    landmarks: bool = True
    # video, where outputs are written: key frames kept per track at most, those of its longest episodes
    # (fervid.inference.video.key_frame_rank); 0: none; None: every episode's of MIN_EPISODE_SECONDS or more
    key_frames: int | None = None
    # video, method lstm: a temporal LSTM folder (`fervid train-temporal`) trained on the CNN's features; None: the
    # one shipped for the CNN
    temporal_model: str | Path | None = None

    def __post_init__(self):
        check_field_types(self)
        check_video_timing(self.detect_every, self.window, self.sample_fps)
        check_key_frames(self.key_frames)
        check_score_threshold(self.score_threshold)
        check_min_face(self.min_face)
        check_max_faces(self.max_faces)
        if self.max_image_pixels is not None:
            check_positive("max_image_pixels", self.max_image_pixels, "pixels")
        check_precision(self.precision)
        for registry, name in ((METHODS, self.method), (DETECTORS, self.detector)):
            registry[name]  # an unknown name raises UnknownName (a ValueError) listing the registered ones
        check_temporal_model(self.method, self.temporal_model)

    def replace(self, **changes) -> PipelineOptions:
        return dataclasses.replace(self, **changes)

    def analyzer(self, *, threads: int | None = None, keep_features: bool = True) -> Analyzer:
        """The :class:`fervid.Analyzer` these options describe, with the analyzer's own ``threads`` and
        ``keep_features`` (as :class:`fervid.Analyzer` takes them). Options cannot tell the default model's name
        from one the user set: a folder of that name in the working folder is not warned of here (``Analyzer(model=
        ...)`` and the command line's ``--model`` warn of it)."""
        from fervid.inference.analyzer import Analyzer

        return Analyzer._of_settings(self.model, detector=self.detector, score_threshold=self.score_threshold,
                                     precision=self.precision, min_face=self.min_face, max_faces=self.max_faces,
                                     face_crops=self.face_crops, max_image_pixels=self.max_image_pixels,
                                     threads=threads, keep_features=keep_features)

    def video(self, **changes: Unpack[VideoChanges]) -> VideoOptions:
        """The video pipeline's :class:`fervid.inference.video.VideoOptions` (``changes``: e.g. ``centred=False``)."""
        from fervid.inference.video import VideoOptions

        shared: VideoChanges = dict(detect_every=self.detect_every, window=self.window, sample_fps=self.sample_fps,
                      method=self.method, annotate=self.annotate, key_frames=self.key_frames,
                      temporal_model=self.temporal_model)
        merged: VideoChanges = {**shared, **changes}
        return VideoOptions(**merged)
