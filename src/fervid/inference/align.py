"""Preprocessing as the published design describes it: eye alignment, a grey 48x48 crop in FER2013's framing,
then subtraction of the local (per-image) mean and of the global mean image; then, fervid's addition (the paper
names no such step), division by one global standard deviation (:class:`Normalization`'s ``scale``).

The one entry point :func:`preprocess_faces` serves both training data (FER2013 is already cropped, so it is
passed with no eye positions) and faces found by a detector (warped on their eyes first), so that both reach
the network framed and normalised identically.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

CROP_SIZE = 48


@dataclass(frozen=True)
class FaceTemplate:
    """Where the eye centres sit in a ``size`` x ``size`` crop, in pixels (x, y).

    The defaults are the medians of the eye positions that fervid's default detector finds on FER2013
    Training images (``python benchmarks/fer2013_eye_template.py``: 2,967 of the first 3,000 images, eye
    distance 18.0 px, eye line at y = 18.25), made symmetric, so that a detected face is framed the way the
    network saw faces in training.
    """

    left_eye: tuple[float, float] = (15.0, 18.2)  # the subject's right eye, on the image's left
    right_eye: tuple[float, float] = (33.0, 18.2)
    size: int = CROP_SIZE
    # (x0, y0, x1, y1): where a detector's box lies on a face framed like this; set by :meth:`for_detector` from
    # the detector's ``fer2013_box``. None: faces are always framed on their eyes (face_alignment)
    face_box: tuple[float, float, float, float] | None = None

    @property
    def eye_distance(self) -> float:
        return float(np.hypot(self.right_eye[0] - self.left_eye[0], self.right_eye[1] - self.left_eye[1]))

    def for_detector(self, detector_eyes: tuple[tuple[float, float], tuple[float, float]] | None,
                     detector_box: tuple[float, float, float, float] | None = None) -> FaceTemplate:
        """This template as seen through another detector's landmarks and boxes.

        Detectors disagree on where an eye is (CenterFace puts it about 1 px lower in a 48 px crop than
        libfacedetection). ``detector_eyes`` is where a detector puts FER2013's eyes, in 48 x 48 FER2013
        coordinates (``benchmarks/fer2013_eye_template.py --detector NAME``); the template's own eyes were measured
        the same way with libfacedetection (:data:`REFERENCE_EYES`). Mapping the detector's eyes through the
        similarity that takes the reference eyes onto this template frames its faces as the model saw them in
        training. None: the detector is the reference. ``detector_box`` (x0, y0, x1, y1) is where the detector boxes
        FER2013's faces, in the same coordinates (the same script): mapped the same way, it becomes
        :attr:`face_box`.
        """
        ref_l, ref_r = (np.asarray(e, np.float64) for e in REFERENCE_EYES)
        own_l, own_r = (np.asarray(e, np.float64) for e in (self.left_eye, self.right_eye))
        scale = np.hypot(*(own_r - own_l)) / np.hypot(*(ref_r - ref_l))
        ref_mid, own_mid = (ref_l + ref_r) / 2, (own_l + own_r) / 2

        def to_template(*points):
            return tuple(float(v) for point in points
                         for v in own_mid + scale * (np.asarray(point, np.float64) - ref_mid))

        left, right = (self.left_eye, self.right_eye) if detector_eyes is None else map(to_template, detector_eyes)
        box = None if detector_box is None else to_template(detector_box[:2], detector_box[2:])
        return FaceTemplate(left, right, self.size, box)


# Where libfacedetection (yuface) puts FER2013's eyes, in 48 x 48 FER2013 coordinates: the measurement behind
# FaceTemplate's defaults and the shipped models' templates, and the reference that other detectors' eye
# positions are mapped from (FaceTemplate.for_detector).
REFERENCE_EYES = ((15.0, 18.2), (33.0, 18.2))


@dataclass
class Normalization:
    """Pixel normalisation stored with the weights: x/255 - mean(x) - global_mean_image, then / scale."""

    global_mean: np.ndarray = field(default_factory=lambda: np.zeros((CROP_SIZE, CROP_SIZE), np.float32))
    scale: float = 1.0

    @classmethod
    def fit(cls, crops: np.ndarray) -> Normalization:
        """Compute the global mean image and scale from training crops (uint8, N x H x W)."""
        centred = _subtract_local_mean(crops)
        global_mean = centred.mean(axis=0)
        scale = float((centred - global_mean).std())
        return cls(global_mean.astype(np.float32), scale if scale > 0 else 1.0)

    def to_dict(self) -> dict:
        return {"global_mean": np.round(self.global_mean, 6).tolist(), "scale": self.scale}

    @classmethod
    def from_dict(cls, data: dict) -> Normalization:
        return cls(np.asarray(data["global_mean"], np.float32), float(data["scale"]))

    def matches(self, other: Normalization) -> bool:
        """Whether ``other`` is this normalisation (fitted on the same training faces, to stored precision)."""
        return bool(np.allclose(self.global_mean, other.global_mean, atol=1e-5)
                    and np.isclose(self.scale, other.scale, rtol=1e-5))

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        """uint8 crops (N, H, W) -> float32 network input (N, 1, H, W)."""
        out = _subtract_local_mean(crops)
        out -= self.global_mean
        out /= self.scale
        return out[:, None, :, :]


def _subtract_local_mean(crops: np.ndarray) -> np.ndarray:
    x = np.asarray(crops, dtype=np.float32) / 255.0
    if x.ndim == 2:
        x = x[None]
    x -= x.mean(axis=(1, 2), keepdims=True)
    return x


def eye_alignment_matrix(left_eye, right_eye, template: FaceTemplate = FaceTemplate()) -> np.ndarray:
    """2x3 similarity transform taking the two eye centres (image pixels) onto the template's eyes.

    ``left_eye`` is the eye on the image's left. The transform rotates the eye line level and scales it to the
    template's eye distance.
    """
    src = np.asarray([left_eye, right_eye], dtype=np.float64)
    dst = np.asarray([template.left_eye, template.right_eye], dtype=np.float64)
    src_vec, dst_vec = src[1] - src[0], dst[1] - dst[0]
    src_len = float(np.hypot(*src_vec))
    if src_len < 1e-6:
        raise ValueError("eye positions coincide; cannot align")
    scale = float(np.hypot(*dst_vec)) / src_len
    angle = np.arctan2(dst_vec[1], dst_vec[0]) - np.arctan2(src_vec[1], src_vec[0])
    cos, sin = scale * np.cos(angle), scale * np.sin(angle)
    rot = np.array([[cos, -sin], [sin, cos]])
    src_mid, dst_mid = src.mean(axis=0), dst.mean(axis=0)
    shift = dst_mid - rot @ src_mid
    return np.hstack([rot, shift[:, None]]).astype(np.float32)


# Where a face's landmarks put the middle of its mouth, in eye distances measured from the eyes' midpoint: below the
# eye line (``drop``) and along it (``shift``). Frontal upright faces put it 0.83-1.19 below and within 0.1 to
# the side (JAFFE heads and CK+ faces upscaled 4x through CenterFace, 0.1 to 99.9 percentiles); the window is
# that range widened by a tenth of an eye distance or more. Outside it the landmarks are not a face's: a face
# turned far to one side or upside down (CenterFace collapses the eyes together on both). Framed on those eyes,
# 8.8% of FER2013 PublicTest's faces upscaled 4x scored 0.60 against FER+, and 0.75 framed on their boxes
# (docs/results.md, section 7).
MOUTH_DROP = (0.67, 1.30)
MOUTH_SHIFT = 0.28


def turned_points(points, turns: int, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Where image points (x, y) lie once the image is turned ``turns`` quarter turns counter-clockwise, as
    ``numpy.rot90(image, turns)`` turns it (negative: clockwise). Points are in continuous pixel coordinates, as the
    detectors give them (pixel i spans i to i + 1: its centre is i + 0.5). ``shape``: the image's (height, width,
    ...), for positions in the turned image; without it, the points are only turned about the origin (their
    distances and angles, which is what a face's geometry needs)."""
    points = np.asarray(points, np.float64).reshape(-1, 2).copy()
    height, width = shape[:2] if shape is not None else (0, 0)
    for _ in range(turns % 4):  # one counter-clockwise quarter: (x, y) -> (y, width - x)
        points = np.stack([points[:, 1], width - points[:, 0]], 1)
        height, width = width, height
    return points


def upright_eyes(landmarks, turns: int = 0) -> tuple[tuple[float, float], tuple[float, float]]:
    """The two eye landmarks, as (eye on the left, eye on the right) of the face stood upright by ``turns``
    (:attr:`fervid.inference.detect.Detection.turns`), in the image's own pixels."""
    a, b = ((float(p[0]), float(p[1])) for p in landmarks[:2])
    (ua, _), (ub, _) = turned_points([a, b], turns)
    return (a, b) if ua <= ub else (b, a)


def landmarks_frame_a_face(landmarks, turns: int = 0) -> bool:
    """Whether 5 landmarks (eyes, nose, mouth corners; image pixels) place the mouth where a face's mouth lies
    relative to its eyes (:data:`MOUTH_DROP`, :data:`MOUTH_SHIFT`), with the eyes taken left to right, on the image
    turned ``turns`` quarter turns (a face stood upright: :func:`fervid.inference.detect.stand_upright`)."""
    points = turned_points(landmarks, turns)
    left, right = sorted(points[:2].tolist())
    axis = np.subtract(right, left)
    distance = float(np.hypot(*axis))
    if distance < 1e-6:
        return False
    along = axis / distance
    offset = (points[3] + points[4]) / 2 - (np.asarray(left) + np.asarray(right)) / 2
    drop = (offset[1] * along[0] - offset[0] * along[1]) / distance
    shift = float(offset @ along) / distance
    return MOUTH_DROP[0] <= drop <= MOUTH_DROP[1] and abs(shift) <= MOUTH_SHIFT


def box_alignment_matrix(box, template: FaceTemplate) -> np.ndarray:
    """2x3 transform (scale and shift) taking a detector's box (x, y, w, h) onto ``template.face_box``: the
    framing FER2013's own crops have, which were cut from face boxes."""
    x, y, w, h = (float(v) for v in box)
    if w <= 0 or h <= 0:
        raise ValueError(f"an empty box cannot be framed: {box}")
    if template.face_box is None:
        raise ValueError("the template knows no detector's box: FaceTemplate.for_detector(..., detector_box) sets it")
    x0, y0, x1, y1 = template.face_box
    scale = float(np.sqrt((x1 - x0) * (y1 - y0) / (w * h)))
    return np.array([[scale, 0, (x0 + x1) / 2 - scale * (x + w / 2)],
                     [0, scale, (y0 + y1) / 2 - scale * (y + h / 2)]], np.float32)


def face_alignment(landmarks, box, template: FaceTemplate, turns: int = 0) -> np.ndarray:
    """The 2x3 transform that frames a detected face like ``template``: on its eyes, as the published design
    does, when its landmarks are a face's (:func:`landmarks_frame_a_face`) on the image turned ``turns`` quarter
    turns (a face stood upright: the crop comes out upright); otherwise on its box, when the template knows where
    the detector's boxes lie (:attr:`FaceTemplate.face_box`). Two landmarks are the eyes alone (a detector of
    your own that gives only those): framed on them, there being no mouth to check them by; none (or two that
    coincide), on the box."""
    points = np.asarray(landmarks, np.float64).reshape(-1, 2)
    if len(points) == 2:
        on_eyes = float(np.hypot(*(points[1] - points[0]))) >= 1e-6
    else:  # five: the eyes, where the mouth lies as a face's does; with no box framing known, the eyes regardless
        on_eyes = len(points) >= 5 and (template.face_box is None or landmarks_frame_a_face(points, turns))
    if not on_eyes:
        if template.face_box is None:
            raise ValueError("this face has no eye landmarks to frame it on, and the template knows no detector's "
                             "box to frame it on instead (FaceTemplate.for_detector(..., detector_box))")
        return box_alignment_matrix(box, template)
    return eye_alignment_matrix(*upright_eyes(points, turns), template)


def crop_face(grey: np.ndarray, eyes=None, template: FaceTemplate = FaceTemplate(), *,
              matrix: np.ndarray | None = None) -> np.ndarray:
    """One grey uint8 crop of ``template.size`` pixels in FER2013 framing.

    ``eyes`` = ((x, y) of the eye on the image's left, (x, y) of the other) for a face found by a detector, or
    ``matrix``, a 2x3 transform from the image onto the crop (:func:`face_alignment`); neither for an image that
    is already a FER2013-style face crop, which is only resized, made square first where it is not
    (:func:`square_about_centre`).
    """
    grey = np.asarray(grey)
    if grey.ndim != 2:
        raise ValueError(f"expected a grey 2-D image, got shape {grey.shape}")
    if grey.dtype != np.uint8:
        grey = np.clip(grey, 0, 255).astype(np.uint8)
    size = template.size
    if eyes is None and matrix is None:
        if grey.shape == (size, size):
            return grey.copy()
        return cv2.resize(square_about_centre(grey), (size, size), interpolation=cv2.INTER_AREA)
    if matrix is None:
        matrix = eye_alignment_matrix(eyes[0], eyes[1], template)
    scale = float(np.hypot(matrix[0, 0], matrix[0, 1]))
    if scale < 0.5:
        # Shrinking a large face straight to 48 px aliases; blur first like INTER_AREA would. Only the part of the
        # image the crop samples is blurred (plus the kernel's reach): blurring the whole frame cost ~10 ms per face
        # on 1080p video. The pixels the crop reads are the same as with the whole frame blurred.
        sigma = 0.5 / scale * 0.6
        reach = int(np.ceil(3 * sigma)) + 2  # OpenCV's kernel radius for uint8 is 3 sigma; +1 for the bilinear step
        inverse = cv2.invertAffineTransform(matrix)
        corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64) @ inverse[:, :2].T + inverse[:, 2]
        (x0, y0), (x1, y1) = np.floor(corners.min(0)) - reach, np.ceil(corners.max(0)) + reach + 1
        x0, y0 = int(max(0, x0)), int(max(0, y0))
        x1, y1 = int(min(grey.shape[1], x1)), int(min(grey.shape[0], y1))
        if x1 - x0 < 2 or y1 - y0 < 2:  # the crop lies off the image: it is all border
            x0, y0, x1, y1 = 0, 0, grey.shape[1], grey.shape[0]
        grey = cv2.GaussianBlur(grey[y0:y1, x0:x1], (0, 0), sigmaX=sigma)
        matrix = np.array(matrix, np.float32)
        matrix[:, 2] += matrix[:, :2] @ np.array([x0, y0], np.float32)
    return cv2.warpAffine(grey, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def square_about_centre(grey: np.ndarray) -> np.ndarray:
    """A face crop made square about its centre, its shorter side widened to its longer with its edge pixels
    repeated (a square crop: itself). FER2013's faces are square, and a detector's box is taller than wide and
    lies within that square (CenterFace's box spans 83% of the crop's width and 95% of its height: the template's
    ``face_box``): resized as it was, a tall box's face came out squashed (surprise 0.70 read as neutral 0.89); cut
    to its shorter side, it lost brow and chin. CenterFace's box crops of 30 carphone frames, widened with their
    edges repeated, took fervid's own (eye-aligned) label on all 30, their probabilities 0.11 from its on average
    (largest difference); squashed, 26 and 0.19; cut, 25 and 0.15; widened with mid-grey, 30 and 0.12."""
    height, width = grey.shape[:2]
    if height == width:
        return grey
    side = max(height, width)
    top, left = (side - height) // 2, (side - width) // 2
    return cv2.copyMakeBorder(grey, top, side - height - top, left, side - width - left, cv2.BORDER_REPLICATE)


# A frame whose brightest pixels (99.5th percentile) stay under this grey level is dark: a dim room, a webcam at
# night. Its levels are stretched before faces are looked for and cropped. JAFFE's heads with sensor noise, at a
# quarter of their brightness, read 0.434 as they were and 0.481 stretched (0.496 at full brightness); at an
# eighth 0.333 and 0.488; at a sixteenth the detector found 22% of them, stretched all (0.031 and 0.488). At half
# their brightness nothing changes (their top stays above this). Of FER2013's own crops it touches 2 of the first
# 4,000 Training faces and 4 of PublicTest's 3,529 (benchmarks/bench_dark_frames.py; docs/results.md section 7).
DARK_TOP = 96
# A picture whose levels span fewer than this is blank, not dark: JAFFE's heads at a 32nd of their brightness still
# span about 8 levels and are found once stretched (docs/eval/dark_frames.json); a black video frame spans 0-2
FLAT_LEVELS = 4


def dark_levels_table(image: np.ndarray) -> np.ndarray | None:
    """The lookup table (256 grey levels, for ``cv2.LUT``) that stretches ``image``'s levels (BGR or grey uint8)
    to the full range where it is dark (its brightest pixels under :data:`DARK_TOP`); None where it is not. The
    0.5th and 99.5th percentiles of every 4th pixel set the stretch, so a few hot pixels do not hold it back; a
    range under 8 levels is stretched as 8 (noise is not amplified without bound). A picture of fewer than
    :data:`FLAT_LEVELS` levels (a black frame: a video's leader, a lens cap) holds nothing to brighten: None."""
    sample = np.ascontiguousarray(image[::4, ::4])
    if sample.ndim == 3:  # measured on grey, as video measures its frames: a photo and a frame get the same stretch
        sample = cv2.cvtColor(sample, cv2.COLOR_BGR2GRAY)
    sample = sample.reshape(-1, 1)
    # percentiles from a histogram: np.percentile took 0.7 ms of a 640x480 frame, most of them bright
    cumulative = np.cumsum(cv2.calcHist([sample], [0], None, [256], [0, 256]).ravel())
    low, high = np.searchsorted(cumulative, (0.005 * cumulative[-1], 0.995 * cumulative[-1]))
    if high >= DARK_TOP or high - low < FLAT_LEVELS:
        return None
    return np.clip((np.arange(256) - low) * 255.0 / max(high - low, 8.0), 0, 255).astype(np.uint8)


def stretch_dark_levels(image: np.ndarray) -> np.ndarray:
    """``image`` with its levels stretched where it is dark (:func:`dark_levels_table`), else ``image`` itself."""
    table = dark_levels_table(image)
    return image if table is None else cv2.LUT(image, table)


def preprocess_faces(
    grey: np.ndarray | list[np.ndarray],
    normalization: Normalization,
    eyes: list | None = None,
    template: FaceTemplate = FaceTemplate(),
) -> tuple[np.ndarray, np.ndarray]:
    """Crop and normalise faces; returns (uint8 crops N x 48 x 48, float32 network input N x 1 x 48 x 48).

    ``grey`` is one grey image holding all faces (with ``eyes`` a list of eye pairs, one per face) or a list /
    stack of already-cropped faces (``eyes`` None).
    """
    if eyes is None:
        crops = np.stack([crop_face(face, None, template) for face in grey]) if len(grey) else _empty(template)
    else:
        crops = np.stack([crop_face(np.asarray(grey), pair, template) for pair in eyes]) if eyes else _empty(template)
    return crops, normalization(crops)


def _empty(template: FaceTemplate) -> np.ndarray:
    return np.zeros((0, template.size, template.size), np.uint8)
