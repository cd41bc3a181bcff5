"""The Analyzer composes the stages: detect -> align and crop -> CNN -> :class:`~fervid.inference.records.Face` records."""

from __future__ import annotations

import dataclasses
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, TypedDict

import cv2
import numpy as np
from PIL import Image

from fervid.errors import FervidWarning, OptionError
from fervid.inference.align import crop_face, face_alignment, stretch_dark_levels
from fervid.inference.detect import (DEFAULT_DETECTOR, DEFAULT_MIN_FACE, UPRIGHT_MIN_SCORE, Detection, FaceDetector,
                                    checked_detection, largest_faces, left_to_right, make_detector, score_rank,
                                    stand_upright)
from fervid.inference.models import (DEFAULT_MODEL, DEFAULT_PRECISION, CNNOutput, EmotionCNN, ModelConfig, graph_for,
                                     resolve_model_dir, runtime_versions, warn_of_cnn_folder_not_used)
from fervid.inference.options import MAX_IMAGE_PIXELS, PipelineOptions, checked_flag
from fervid.inference.images import ImageInput, ImageLoadError, VideoNotImageError, load_image, source_name
from fervid.inference.records import Face, ImageResult

if TYPE_CHECKING:
    from typing_extensions import Unpack  # (typing's from Python 3.12: read by type checkers only)

    from fervid.inference.stream import FaceStream, StreamChanges
    from fervid.inference.temporal import LSTMTemporal
    from fervid.inference.track_classifier import TrackClassifier, TrackClassifierChanges
    from fervid.inference.video import VideoChanges, VideoOptions, VideoResult


class AnalyzerSettings(TypedDict):
    """What made an analyzer's results (:attr:`Analyzer.settings`), as the results' files record it."""

    model: str
    weights_file: str
    weights_sha256: str
    precision: str
    temperature: float
    detector: str
    score_threshold: float | None
    min_face: float | None
    max_faces: int | None
    fervid: str
    onnxruntime: str
    face_crops: bool


class Analyzer:
    """Loads the detector and the emotion model once; analyses any number of images.

    >>> analyzer = fervid.Analyzer()
    >>> faces = analyzer.analyze_image("photo.jpg")
    >>> faces[0].emotion, faces[0].probabilities

    Threads may share one analyzer (a :meth:`stream` takes its frames from one thread at a time); each network runs
    on ``threads`` threads (default 2, or fewer under a CPU affinity or ``OMP_NUM_THREADS``). It cannot be pickled:
    make one in each worker process. A web endpoint returns ``result.to_dict()`` (JSON-ready; a result's faces
    hold numpy arrays, ``feature`` and ``crop``, that FastAPI and Flask cannot encode). README: "Python API:
    errors, types, threads and processes".
    """

    def __init__(self, model: str | Path | None = None, detector: FaceDetector | str = DEFAULT_DETECTOR,
                 threads: int | None = None, keep_features: bool = True, precision: str = DEFAULT_PRECISION,
                 score_threshold: float | None = None, min_face: float = DEFAULT_MIN_FACE,
                 max_faces: int | None = None, face_crops: bool = False,
                 max_image_pixels: int | None = MAX_IMAGE_PIXELS):
        """``model``: a shipped CNN's name (:func:`fervid.inference.models.available_models`) or a model folder
        (or a graph file of one: ``x/model.onnx``, which ``precision="auto"`` runs as named, in fp32);
        None: the default, ``ferplus_vgg``. ``precision``: "auto" (the graph named, else the folder's int8 copy
        where it has one), "int8" or "fp32". A shipped name given here beside a folder of that name in the working
        folder warns (:class:`~fervid.inference.models.ModelFolderNotUsed`) that the folder is not used; the
        default does not.
        ``detector``: a registered name (``fervid.inference.detect.DETECTORS``) or any :class:`FaceDetector`;
        ``score_threshold`` (0-1) replaces a named detector's default; ``min_face``: the smallest face a named
        detector looks for, in pixels (large images are detected at a finer copy for it); ``max_faces``: keep an
        image's largest N faces, and follow at most N in a video (1: its one face is track 1 throughout; None:
        every face); ``face_crops``: the images it analyses are face crops already, each classified whole as one
        face with no detection (:meth:`analyze_image`'s default for ``face_crop``; a video's faces are always
        detected, and such an analyzer analyses no video); ``max_image_pixels``: the largest image (width x height)
        :meth:`analyze_image` and its streams' ``push`` read, a larger one raising
        :class:`~fervid.inference.images.ImageTooLargeError` (an encoded one before it is decoded; None: no limit);
        ``threads`` bounds both networks.
        From a :class:`~fervid.inference.options.PipelineOptions`: ``options.analyzer()``."""
        if model is not None:
            warn_of_cnn_folder_not_used(model)
        self._set_up(DEFAULT_MODEL if model is None else model, detector, threads, keep_features, precision,
                     score_threshold, min_face, max_faces, face_crops, max_image_pixels)

    @classmethod
    def _of_settings(cls, model: str | Path, detector: FaceDetector | str, threads: int | None, keep_features: bool,
                     precision: str, score_threshold: float | None, min_face: float, max_faces: int | None,
                     face_crops: bool, max_image_pixels: int | None) -> Analyzer:
        """The analyzer of settings that hold a model's name whether or not the user gave it
        (:meth:`PipelineOptions.analyzer`: options hold the default's name as any other): it says nothing of a
        folder of that name in the working folder; where the name was typed, the command line says it."""
        analyzer = cls.__new__(cls)
        analyzer._set_up(model, detector, threads, keep_features, precision, score_threshold, min_face, max_faces,
                         face_crops, max_image_pixels)
        return analyzer

    def _set_up(self, model: str | Path, detector: FaceDetector | str, threads: int | None, keep_features: bool,
                precision: str, score_threshold: float | None, min_face: float, max_faces: int | None,
                face_crops: bool, max_image_pixels: int | None) -> None:
        if isinstance(model, PipelineOptions):
            raise TypeError("Analyzer takes a model name or folder; for PipelineOptions use options.analyzer()")
        # each setting's type and range checked where the options check theirs, the error naming it
        # (min_face="48" failed inside numpy, score_threshold="0.5" in a comparison, keep_features="no" was true)
        checked = PipelineOptions(model=model, detector=detector if isinstance(detector, str) else DEFAULT_DETECTOR,
                                  score_threshold=score_threshold, min_face=min_face, precision=precision,
                                  max_faces=max_faces, face_crops=face_crops, max_image_pixels=max_image_pixels)
        model, score_threshold, min_face = checked.model, checked.score_threshold, checked.min_face
        precision, max_faces, face_crops = checked.precision, checked.max_faces, checked.face_crops
        keep_features = checked_flag("keep_features", keep_features)
        if isinstance(detector, str):
            detector = make_detector(detector, score_threshold=score_threshold, threads=threads, min_face=min_face)
        elif not callable(getattr(detector, "detect", None)):
            raise TypeError(f"detector must be a detector name or an object with a detect(image_bgr) method, not "
                            f"{detector!r}")
        elif score_threshold is not None or min_face != DEFAULT_MIN_FACE:
            # a detector object was made with its own settings: these would be ignored, and the results said to
            # come from a setup not asked for
            raise OptionError("score_threshold and min_face configure a detector named by its name; this detector "
                             "object was made with its own (make_detector(name, score_threshold=..., min_face=...))")
        self.cnn = EmotionCNN(model, threads=threads, precision=precision)
        self.detector = detector
        # the model's framing, adjusted for where this detector puts the eyes and its boxes
        self.template = self.cnn.config.template.for_detector(getattr(detector, "fer2013_eyes", None),
                                                              getattr(detector, "fer2013_box", None))
        self.max_faces = max_faces
        self.face_crops = face_crops
        self.max_image_pixels = checked.max_image_pixels
        self.keep_features = keep_features
        self.threads = threads  # the temporal LSTM's too (temporal_lstm)
        # (folder as named, folder resolved) -> its LSTM: loaded once, shared by this analyzer's videos and streams
        # (each loaded its own, ~43 ms and an OS thread a stream, at 2 threads whatever the analyzer's)
        self._temporal_lstms: dict[tuple[Path, Path], LSTMTemporal] = {}
        self._temporal_lstms_lock = threading.Lock()  # streams may be made from several threads at once

    def __repr__(self) -> str:
        # what it runs, in the constructor's own words (the default repr, <... object at 0x7f...>, said nothing)
        settings, threads = self.settings, self.cnn.session.get_session_options().intra_op_num_threads
        # face_crops and max_faces where not the defaults: each changes what an image's analysis gives
        shown = "".join(f", {name}={getattr(self, name)!r}" for name, default in (
            ("face_crops", False), ("max_faces", None), ("max_image_pixels", MAX_IMAGE_PIXELS))
                        if getattr(self, name) != default)
        return (f"Analyzer(model={settings['model']!r}, detector={settings['detector']!r}, "
                f"precision={settings['precision']!r}, threads={threads}{shown})")

    def __reduce__(self):
        # pool.map(analyzer.analyze_image, images) pickles the analyzer with every task: ONNX Runtime's sessions
        # cannot be pickled, and its own error ("cannot pickle 'onnxruntime...InferenceSession' object") said
        # nothing of what to do. (A session is also better made where it runs: its threads are that process's.)
        raise TypeError("an Analyzer cannot be pickled or sent to another process (its ONNX Runtime sessions "
                        "cannot be): make one Analyzer in each worker process, e.g. in a multiprocessing Pool's "
                        "initializer (initializer=, with a module-level function that stores it); threads can "
                        "share one")

    def __copy__(self) -> Analyzer:
        # copy.copy would reach __reduce__ above: a shallow copy, sharing the sessions, is what it gave before
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        return clone

    @property
    def detector_name(self) -> str:
        """The face detector that ran (recorded in every result file)."""
        return getattr(self.detector, "name", type(self.detector).__name__)

    @property
    def model_config(self) -> ModelConfig:
        """The emotion model's configuration, loaded and checked with its weights: name, classes, input framing,
        normalisation, softmax temperature, the ``uncertain_below`` threshold."""
        return self.cnn.config

    @property
    def settings(self) -> AnalyzerSettings:
        """What made the results, recorded beside them (image JSON, video tracks JSON, the Parquet tables'
        metadata): the model, the weights file that ran and its sha256, the precision it ran in, its softmax
        temperature, the detector, its score threshold, the smallest face it looked for, the fervid and ONNX
        Runtime versions, and whether images are read whole as face crops (``face_crops``)."""
        weights, versions = self.cnn.weights_identity, runtime_versions()
        return {"model": self.cnn.config.name, "weights_file": weights["weights_file"],
                "weights_sha256": weights["weights_sha256"], "precision": self.cnn.precision,
                # a recalibrated copy of a model gives other probabilities under the same name
                "temperature": float(self.cnn.config.temperature), "detector": self.detector_name,
                "score_threshold": getattr(self.detector, "score_threshold", None),
                # a float either way: the CLI's 48.0 and the API's default 48 wrote two types into one column
                "min_face": None if (min_face := getattr(self.detector, "min_face", None)) is None else float(min_face),
                "max_faces": self.max_faces, "fervid": versions["fervid"], "onnxruntime": versions["onnxruntime"],
                "face_crops": self.face_crops}

    def analyze_image(self, image: ImageInput, *, bgr: bool = False, face_crop: bool | None = None) -> ImageResult:
        """Faces in one image, numbered from the left (:func:`~fervid.inference.detect.left_to_right`), as an
        :class:`~fervid.inference.records.ImageResult` (which reads as the list of its faces).

        ``image``: a file path, a PIL image, a numpy array (RGB unless ``bgr=True``; grey, RGBA and float
        accepted), or an image file's bytes (``bytes`` or a binary file object). ``face_crop``: the image is one
        face cropped already (FER2013's 48 x 48 faces, `fervid image --crops` output): it is classified whole, as
        `fervid evaluate` reads a folder of crops, with no detection (:meth:`classify_face_crop`); None: as the
        analyzer's ``face_crops`` says (``Analyzer(face_crops=True)``, ``PipelineOptions(face_crops=True).analyzer()``,
        `fervid image --face-crops`). Raises
        :class:`fervid.inference.images.ImageLoadError` (a ValueError) for input that cannot be read as an image
        (its :class:`~fervid.inference.images.ImageTooLargeError` for one over the analyzer's ``max_image_pixels``),
        :class:`fervid.errors.OptionError` for a ``bgr`` or ``face_crop`` that is not True or False, and TypeError
        for what is none of those kinds (None, a number, a list) or a file object whose ``read`` is
        async (a FastAPI ``UploadFile``: pass ``await upload.read()`` or ``upload.file``).
        """
        # checked as every setting is (bgr="no" read as true: the channels silently swapped)
        bgr = checked_flag("bgr", bgr)
        face_crop = self.face_crops if face_crop is None else checked_flag("face_crop", face_crop)
        if not (isinstance(image, (str, os.PathLike, np.ndarray, bytes, bytearray, memoryview, Image.Image))
                or callable(getattr(image, "read", None))):
            raise TypeError(f"analyze_image reads a path, a PIL image, a numpy array, image bytes or a binary file, "
                            f"not {type(image).__name__}" + (" (analyse each image of a list in turn)"
                                                             if isinstance(image, (list, tuple)) else ""))
        try:
            image_bgr = load_image(image, bgr=bgr, max_pixels=self.max_image_pixels, limit_name=IMAGE_LIMIT_NAME)
        except VideoNotImageError as exc:  # said in the API's words: the CLI's `fervid video` is not this caller's
            raise VideoNotImageError(exc.what, "Analyzer.analyze_video") from None
        return self.analyze_bgr(image_bgr, source=source_name(image), face_crop=bool(face_crop))

    def analyze_bgr(self, image_bgr: np.ndarray, source: str = "", *, face_crop: bool | None = None) -> ImageResult:
        """:meth:`analyze_image` for a BGR uint8 array (H, W, 3), e.g. an OpenCV frame, as it is; ``source``
        names it in the result (``face_crop`` None: the analyzer's ``face_crops``)."""
        if not (isinstance(image_bgr, np.ndarray) and image_bgr.dtype == np.uint8 and image_bgr.ndim == 3
                and image_bgr.shape[2] == 3 and image_bgr.size):
            shape = getattr(image_bgr, "shape", None)
            raise ImageLoadError(f"analyze_bgr takes a BGR uint8 array (H, W, 3), not "
                                 f"{type(image_bgr).__name__}{'' if shape is None else f' {shape} {image_bgr.dtype}'}"
                                 "; analyze_image reads any other image")
        height, width = image_bgr.shape[:2]
        if self.face_crops if face_crop is None else face_crop:
            return ImageResult(source, [self.classify_face_crop(image_bgr)], width, height)
        seen = stretch_dark_levels(image_bgr)  # a dark photo's faces are found and read with its levels stretched
        detections = largest_faces(self.detect(seen), self.max_faces)
        detections = left_to_right(detections)
        return ImageResult(source, self._classify_seen(seen, detections), width, height)

    def classify_face_crop(self, image_bgr: np.ndarray) -> Face:
        """A BGR image (a numpy array in OpenCV's channel order, not :meth:`analyze_image`'s RGB; grey, BGRA and
        float accepted as analyze_image accepts them) that is one face cropped already, classified whole: its
        levels stretched where it is dark (as :meth:`analyze_bgr` reads a photo), greyed, made square about its
        centre (a box taller than wide widened with its edge pixels repeated:
        :func:`fervid.inference.align.square_about_centre`) and resized to the model's input, as `fervid evaluate`
        reads a folder of face crops (:func:`fervid.evaluation.datasets.load_image_folder`). Its box is the whole
        image; it has no landmarks and no detection score (None: no detector ran). Raises
        :class:`fervid.inference.images.ImageLoadError` for an image that cannot be read as one, or whose shorter
        side is under :data:`MIN_FACE_CROP` pixels."""
        image_bgr = _bgr_array(image_bgr, "classify_face_crop")
        height, width = image_bgr.shape[:2]
        if min(height, width) < MIN_FACE_CROP:
            raise ImageLoadError(f"a face crop of {width} x {height} px is under {MIN_FACE_CROP} px a side: too small "
                                 f"to read an expression from (the model reads {self.template.size} x "
                                 f"{self.template.size})")
        grey = cv2.cvtColor(stretch_dark_levels(image_bgr), cv2.COLOR_BGR2GRAY)
        crop = crop_face(grey, template=self.template)  # no eyes: made square and resized whole
        out = self.classify_crops(crop[None])
        probs = out.probabilities[0]
        return Face(box=(0.0, 0.0, float(width), float(height)), landmarks=(), detection_score=None,
                    probabilities=tuple(float(p) for p in probs),
                    uncertain=bool(probs.max() < self.cnn.config.uncertain_below),
                    feature=out.features[0] if self.keep_features else None, crop=crop)

    # the score a known single-face image's face is accepted at (below the detectors' own thresholds: JAFFE's and
    # CK+'s faces, grey and evenly lit, score under them now and then)
    LABELLED_FACE_MIN_SCORE = 0.3

    def crop_faces(self, images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Frame one face per image, grey (H, W) or BGR (H, W, 3) uint8 (OpenCV's channel order, not
        :meth:`analyze_image`'s RGB), like FER2013 (the most confident detection, at score 0.3 or more), for
        datasets of full-head photos such as JAFFE. Returns (uint8 crops N x 48 x 48, bool mask of images with a
        face); crops of images without a face are left black."""
        crops, faces = self.labelled_faces(images)
        return crops, faces > 0

    def labelled_faces(self, images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`crop_faces` (grey or BGR uint8 images: OpenCV's channel order, not :meth:`analyze_image`'s RGB)
        for photos each labelled with one person's emotion, with how many faces each holds:
        0 (none found), 1, or more where another face is found at the detector's own threshold (a real face, not
        the weaker guesses the labelled face is looked for among), so that which face the label describes is not
        known. Returns (uint8 crops N x 48 x 48 of the most confident face, int face counts N)."""
        size = self.template.size
        crops, faces = np.zeros((len(images), size, size), np.uint8), np.zeros(len(images), np.int64)
        # a detector object without a threshold of its own: every other face it reports counts
        threshold = getattr(self.detector, "score_threshold", None) or self.LABELLED_FACE_MIN_SCORE
        for i, img in enumerate(images):
            img = stretch_dark_levels(img)  # as analyze_bgr reads a photo
            bgr = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR) if img.ndim == 2 else img
            # a known single-face image: accept the detector's best guess even below its usual threshold
            detections = self.detect(bgr, min_score=self.LABELLED_FACE_MIN_SCORE)
            best = max(detections, key=score_rank, default=None)
            if best is not None:
                grey = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
                crops[i] = self.crop_detection(grey, best)
                # (a face without a score is one the detector reports with no doubt said: it counts)
                faces[i] = 1 + sum(d is not best and (d.score is None or d.score >= threshold)
                                   for d in detections)
        return crops, faces

    def classify(self, image_bgr: np.ndarray, detections: list[Detection]) -> list[Face]:
        """Classify given detections' faces in a BGR image (a numpy array in OpenCV's channel order, not
        :meth:`analyze_image`'s RGB; grey, BGRA and float accepted as analyze_image accepts them), your own
        detector's detections or :meth:`detect`'s, the image read as :meth:`analyze_bgr` reads it (its levels stretched where it is dark),
        so that a detection gives the record analyze_bgr gives for it.

        Each is a :class:`fervid.Detection`: its box (x, y, w, h), top-left corner, width and height in the
        image's pixels, and its landmarks: 5 (the eyes, the nose and the mouth's corners: framed on the eyes), 2
        (the eyes) or none (``()`` or None: framed on the box). Raises TypeError for what is not a Detection, and
        :class:`fervid.inference.detect.DetectionError` (a ValueError) naming a box not finite, lying wholly off
        the image or under 2 px."""
        if isinstance(detections, Detection):
            raise TypeError("classify takes a list of detections: classify(image, [detection])")
        image_bgr = _bgr_array(image_bgr, "classify")
        height, width = image_bgr.shape[:2]
        detections = [checked_detection(d, width, height) for d in detections]
        return self._classify_seen(stretch_dark_levels(image_bgr), detections)

    def _classify_seen(self, image_bgr: np.ndarray, detections: list[Detection]) -> list[Face]:
        """:meth:`classify` on an image as the detector saw it (its levels stretched where dark)."""
        if not detections:
            return []
        grey = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
        crops = np.stack([self.crop_detection(grey, d) for d in detections])
        out = self.classify_crops(crops)
        return [
            Face(box=d.box, landmarks=d.landmarks, detection_score=d.score,
                 probabilities=tuple(float(p) for p in probs),
                 uncertain=bool(probs.max() < self.cnn.config.uncertain_below),
                 feature=feat if self.keep_features else None, crop=crop)
            for d, probs, feat, crop in zip(detections, out.probabilities, out.features, crops)
        ]

    def detect(self, image_bgr: np.ndarray, min_score: float | None = None) -> list[Detection]:
        """The detector's faces in a BGR uint8 image (H, W, 3: OpenCV's channel order, not :meth:`analyze_image`'s
        RGB), each face lying on its side or upside down stood upright
        (:func:`fervid.inference.detect.stand_upright`): images and video find faces here."""
        # a turned face must score as a face would here: UPRIGHT_MIN_SCORE was measured with CenterFace (threshold
        # 0.4); yuface's own threshold is 0.8
        upright_score = max(UPRIGHT_MIN_SCORE, getattr(self.detector, "score_threshold", 0.0))
        return [stand_upright(self.detector, image_bgr, d, upright_score)
                for d in self.detector.detect(image_bgr, min_score)]

    def crop_detection(self, grey: np.ndarray, detection: Detection) -> np.ndarray:
        """The grey uint8 crop the CNN reads for one detected face: framed upright on its eyes, or on its box where
        its landmarks are not a face's (:func:`fervid.inference.align.face_alignment`)."""
        return crop_face(grey, template=self.template,
                         matrix=face_alignment(detection.landmarks, detection.box, self.template, detection.turns))

    def classify_crops(self, crops: np.ndarray) -> CNNOutput:
        """The CNN on aligned grey crops (N x 48 x 48 uint8, from :func:`fervid.inference.align.crop_face` with
        :attr:`template`), normalised as the model was trained. Images and video both classify faces here. Raises
        :class:`fervid.inference.images.ImageLoadError` for other arrays (a face crop of any other size, colour or
        type: :meth:`classify_face_crop`)."""
        size = self.template.size
        if not (isinstance(crops, np.ndarray) and crops.dtype == np.uint8 and crops.shape[1:] == (size, size)
                and crops.ndim == 3):
            shape, dtype = getattr(crops, "shape", None), getattr(crops, "dtype", None)
            got = type(crops).__name__ if shape is None else f"{dtype} {shape}"
            raise ImageLoadError(f"classify_crops takes N greyscale {size} x {size} uint8 crops, an array (N, {size}, "
                                 f"{size}) from crop_face, not {got}" + (
                                     "; one crop: crops[None]" if shape == (size, size) else "")
                                 + "; classify_face_crop reads a face crop of any size, colour or type")
        return self.cnn(self.cnn.config.normalization(crops))

    def temporal_lstm(self, model: str | Path | None = None) -> LSTMTemporal:
        """The temporal LSTM ``model`` (a folder or a shipped LSTM's name; None: the one shipped for this analyzer's
        CNN) at this analyzer's ``threads``, loaded on first use and then shared by its videos and streams: it
        keeps nothing between calls, and its ONNX Runtime session may run from several threads at once. Raises
        ModelError where it does not read this CNN's features (as :class:`fervid.inference.video.VideoAnalyzer`
        checks: ``temporal_lstm('temporal_lstm_fer2013_vgg')`` on a ferplus_vgg analyzer gave an LSTM whose
        predictions on its features mean nothing)."""
        from fervid.inference.temporal import LSTMTemporal, temporal_folder

        cnn = self.cnn.config
        folder = temporal_folder(model, cnn.features_of)
        key = (folder, folder.resolve())  # as named, as results record it; resolved, should the working folder move
        with self._temporal_lstms_lock:
            if key not in self._temporal_lstms:
                lstm = LSTMTemporal(folder, threads=self.threads)
                # an ensemble's features are its first member's, whose weights are not the ensemble's file
                lstm.check_cnn(cnn.features_of, cnn.feature_dim,
                               self.cnn.weights_sha256 if cnn.features_of == cnn.name else None)
                self._temporal_lstms[key] = lstm
            return self._temporal_lstms[key]

    def analyze_video(self, path: str | os.PathLike[str], out_dir: str | os.PathLike[str] | None = None, *,
                      options: VideoOptions | PipelineOptions | None = None,
                      progress: Callable[[int, int], None] | None = None,
                      stop: Callable[[], bool] | None = None, stem: str = "",
                      **changes: Unpack[VideoChanges]) -> VideoResult:
        """Analyse a video file: every face tracked, classified over a sliding window with a temporal method.

        ``options``: a :class:`fervid.inference.video.VideoOptions` (default: its defaults), or the
        :class:`~fervid.inference.options.PipelineOptions` this analyzer was made from (``options.analyzer()``);
        ``changes`` replace some of the video options, e.g. ``method="mean", window=0.5``. With ``out_dir``:
        annotated MP4, per-frame CSV/Parquet, per-track JSON, timelines and key frames are written there as the
        video is analysed, their names starting with ``stem`` (default: the video's own stem; give analyses of one
        video by several methods, or of videos of one name, their own stems or folders). Another user's outputs of
        that name there, or ones you cannot read, are never replaced: these are named apart as `fervid video` names
        them (``result.stem``, "u2_session1"), and a warning says so (``result.kept_apart``). Your own outputs there
        of another video of that name are replaced (`fervid video` names them apart; here the name is yours to
        choose): a warning names both videos (``result.replaced``). ``progress(frames_done, frames_total)`` is
        called as frames are read.

        To cancel: ``stop``, asked as each frame is read, before ``progress`` is told of it (``stop=event.is_set``
        with a ``threading.Event`` set from a GUI's button); once it returns true the analysis ends there, every
        frame analysed labelled and written, and the result is returned cancelled: ``result.cancelled``, ``ok``
        false, ``error`` saying where it stopped, ``frames_read`` how far it got (the last count ``progress`` was
        given), and the outputs in ``out_dir`` under their partial names (``result.outputs_partial``), as an
        interrupted run's, their tracks JSON saying ``cancelled`` and the video's own length (``video_seconds``).
        Returns a :class:`fervid.inference.video.VideoResult`; a video that breaks mid-way gives one whose ``error``
        says where and why, holding what was analysed before. Raises
        :class:`fervid.inference.video.VideoError` for a file that cannot be analysed at all; an exception raised
        by ``progress`` or ``stop`` themselves (a bug in them, your own way to cancel), MemoryError and an OSError
        writing the outputs (a full disk) are raised as they are, once the outputs up to there are saved in
        ``out_dir``."""
        import warnings

        from fervid.inference.video import StillImageError, VideoAnalyzer, VideoOptions

        if not isinstance(path, (str, os.PathLike)):
            camera = isinstance(path, (int, cv2.VideoCapture)) and not isinstance(path, bool)  # cv2's habit
            data = isinstance(path, (bytes, bytearray, memoryview)) or callable(getattr(path, "read", None))
            raise TypeError(f"analyze_video reads a video file: give its path, not {_a(type(path).__name__)}" + (
                " (a camera is read live: `fervid live --source 0`; in Python, push each frame cap.read() returns "
                "to a stream, stream = analyzer.stream(fps), stream.push(frame, bgr=True): its faces come back "
                "tracked and labelled over time, as analyze_video's are; README: \"Your own frame loop\")" if camera
                else
                " (write the data to a file first)" if data else ""))
        self._check_detects("analyze_video")
        if isinstance(options, PipelineOptions):
            self._check_runs(options)
            options = options.video()
        elif options is not None and not isinstance(options, VideoOptions):
            raise TypeError(f"options must be a VideoOptions or PipelineOptions, not a {type(options).__name__} "
                            "(single settings go as keywords: analyze_video(path, method='mean'))")
        check_video_settings(changes, [f.name for f in dataclasses.fields(VideoOptions)])
        options = dataclasses.replace(options or VideoOptions(), **changes)
        runner = VideoAnalyzer(self, options)
        # the method asked for is not the one that runs (the result records which), or its LSTM reads features of
        # another graph than the one it learnt from: said
        for notice in (runner.notice, runner.graph_notice):
            if notice:
                warnings.warn(notice, FervidWarning, stacklevel=2)
        try:
            result = runner.run(_str_or_path(path), None if out_dir is None else _str_or_path(out_dir),
                                progress=progress, stop=stop, stem=stem)
        except StillImageError as exc:  # said in the API's words: the CLI's `fervid image` is not this caller's
            if not exc.reader:
                raise
            raise StillImageError(exc.what, "Analyzer.analyze_image") from None
        if result.window_notice:  # a window too short for the method at the rate analysed
            warnings.warn(result.window_notice, FervidWarning, stacklevel=2)
        if result.kept_apart:  # another user's outputs under ``stem``: kept, these named apart (result.stem)
            warnings.warn(f"{result.source}: {result.kept_apart}", FervidWarning, stacklevel=2)
        if result.replaced:  # your own outputs of another video of that name: replaced, as asked, but said
            warnings.warn(f"{result.source}: its outputs replaced your outputs of {result.replaced} in {out_dir}/ "
                          f"(both named {result.stem}_*); give another stem or out_dir to keep both", FervidWarning,
                          stacklevel=2)
        return result

    def stream(self, fps: float | None = None, **changes: Unpack[StreamChanges]) -> FaceStream:
        """A :class:`~fervid.inference.stream.FaceStream` for frames from your own loop (a camera's callback, a
        WebRTC stack's frames): push each frame, get its faces tracked and classified over time as
        :meth:`analyze_video` does a file's, as the same :class:`fervid.inference.video.FrameFace` rows.

        ``fps``: the rate the frames come at, each frame's time then being frames before it / fps (None: each push
        gives its time). ``changes``: the video settings a stream uses (``detect_every``, ``window``, ``method``,
        ``centred``, ``batch_frames``, ``temporal_model``; :class:`fervid.inference.video.VideoOptions`), except
        that windows are causal (``centred=False``: a live loop cannot wait for the frames after one; a label
        trails a change of expression by :attr:`FaceStream.labels_delay`) and each frame goes through the CNN as it
        comes (``batch_frames=1``). ``centred=True``, for frames you have all of (an offline loop), labels each
        frame from the window around it, as analyze_video does a file, and returns it :attr:`FaceStream.lookahead`
        seconds of frames later (a second for the LSTM). Notices (a temporal method that falls back, a window too
        short at ``fps``) are warned, as analyze_video's are.

        A stream takes its frames from one thread at a time (they are in time order): a push while another
        thread's push or finish of the same stream runs raises RuntimeError. Make one stream per camera or
        connection; streams of one analyzer may run in threads side by side."""
        import warnings

        from fervid.inference.stream import FaceStream

        self._check_detects("stream")
        stream = FaceStream(self, fps, **changes)
        for notice in stream.notices:
            warnings.warn(notice, FervidWarning, stacklevel=2)
        return stream

    def _check_detects(self, method: str) -> None:
        """A video's faces are always detected: an analyzer made to read images whole as face crops would not do
        for a video what it says it does (its settings record face_crops)."""
        if self.face_crops:
            raise OptionError(f"this analyzer reads images whole as face crops (face_crops=True), and {method} "
                              "detects the faces of every frame: analyse videos with an analyzer made without "
                              "face_crops (images one at a time: analyze_image(image, face_crop=True))")

    def _check_runs(self, options: PipelineOptions) -> None:
        """Options naming another model, detector, precision, threshold or min_face than this analyzer's would be
        ignored by a video analysed with it: refuse them rather than report results of a setup not asked for."""
        differences = []
        if resolve_model_dir(options.model).resolve() != self.cnn.folder.resolve():
            differences.append(f"model {options.model!r} (this analyzer runs {self.cnn.config.name!r})")
        if options.detector != self.detector_name:
            differences.append(f"detector {options.detector!r} (this analyzer runs {self.detector_name!r})")
        if (graph_for(self.cnn.folder, self.cnn.config, options.precision, named=options.model)[1]
                != self.cnn.precision):
            differences.append(f"precision {options.precision!r} (this analyzer runs {self.cnn.precision!r})")
        threshold = getattr(self.detector, "score_threshold", None)
        if options.score_threshold is not None and options.score_threshold != threshold:
            differences.append(f"score_threshold {options.score_threshold} (this analyzer uses {threshold})")
        min_face = getattr(self.detector, "min_face", None)
        if min_face is not None and options.min_face != min_face:
            differences.append(f"min_face {options.min_face} (this analyzer uses {min_face})")
        if options.max_faces != self.max_faces:
            differences.append(f"max_faces {options.max_faces} (this analyzer keeps {self.max_faces or 'every face'})")
        if options.face_crops:
            differences.append("face_crops (images only: a video's faces are always detected)")
        if differences:
            raise OptionError(f"the options ask for {'; '.join(differences)}: analyse with options.analyzer()")

    def track_classifier(self, fps: float, **changes: Unpack[TrackClassifierChanges]) -> TrackClassifier:
        """A :class:`~fervid.inference.track_classifier.TrackClassifier` for the faces of your own detector and
        tracker: add each track's :class:`Face` (:meth:`classify` gives them for your detections), get their rows
        labelled over time as :meth:`analyze_video` labels its tracks', with this analyzer's temporal models.

        ``fps``: the rate your frames come at. ``changes``: the video settings it uses (``method``, ``window``,
        ``centred``, ``temporal_model``; :class:`fervid.inference.video.VideoOptions`, whose defaults it takes: the
        LSTM over a 1 s window centred on each frame). Notices (a temporal method that falls back, a window too
        short at ``fps``) are warned, as analyze_video's are."""
        import warnings

        from fervid.inference.track_classifier import TrackClassifier

        classifier = TrackClassifier(self, fps, **changes)
        for notice in classifier.notices:
            warnings.warn(notice, FervidWarning, stacklevel=2)
        return classifier


# the setting an image over the analyzer's limit is refused by, as its error names it
IMAGE_LIMIT_NAME = "the Analyzer's max_image_pixels"


# px: a face crop's shorter side at least (FER2013's are 48): under it, an upscaled smear with no expression to read
MIN_FACE_CROP = 8


def _bgr_array(image: np.ndarray, method: str) -> np.ndarray:
    """``image``, a numpy array in BGR order, as the BGR uint8 (H, W, 3) array the pipeline reads: grey, BGRA,
    float and other integer arrays converted as :meth:`Analyzer.analyze_image` converts them
    (:func:`fervid.inference.images.load_image`), whose errors it raises."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{method} takes an image as a numpy array, BGR (H, W, 3), not {_a(type(image).__name__)} "
                        "(analyze_image reads paths, PIL images and bytes)")
    return load_image(image, bgr=True)


def _str_or_path(path: str | os.PathLike[str]) -> str | Path:
    """A path as given where it is a str or Path (said as the caller wrote it: "./clip.mp4"), else as a Path."""
    return path if isinstance(path, (str, Path)) else Path(path)


def _a(noun: str) -> str:
    """A type's name with its article: "an int", "a list", "bytes"."""
    if noun == "bytes":
        return noun
    return f"{'an' if noun[0].lower() in 'aeiou' else 'a'} {noun}"


def check_video_settings(changes: Mapping[str, object], video_settings: list[str],
                         caller: str = "analyze_video(path)") -> None:
    """analyze_video's keywords (``caller``'s: ``stream(fps)``'s too) are video settings: the detector's and the
    CNN's are the analyzer's, made with it (``analyze_video(path, max_faces=1)`` failed in VideoOptions.__init__,
    saying nothing of where it goes)."""
    method = caller.split("(")[0]
    analyzer_settings = {f.name for f in dataclasses.fields(PipelineOptions)} - set(video_settings) - {"face_crops"}
    for name, value in changes.items():
        if name == "face_crops":
            raise TypeError("face_crops is for images (analyze_image(image, face_crop=True)): a video's faces are "
                            "always detected")
        if name in analyzer_settings:
            raise TypeError(f"{name} is a setting of the Analyzer, not of {method}: make the analyzer with it, "
                            f"fervid.Analyzer({name}={value!r}).{caller} (or "
                            f"PipelineOptions({name}={value!r}).analyzer())")
        if name not in video_settings:
            raise TypeError(f"{method} got an unexpected keyword argument {name!r}; its video settings are "
                            + ", ".join(video_settings))
