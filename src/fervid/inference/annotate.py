"""Drawing results onto images: a box per face, its label, and a bar per emotion probability; writing them."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

from fervid.emotions import EMOTIONS
from fervid.inference.detect import intersection
from fervid.inference.records import Face

# One BGR colour per emotion, so bars and boxes read the same across images and videos.
EMOTION_COLORS_BGR: dict[str, tuple[int, int, int]] = {
    "angry": (40, 40, 220),
    "disgust": (60, 140, 60),
    "fear": (150, 60, 150),
    "happy": (0, 200, 250),
    "sad": (200, 120, 30),
    "surprise": (0, 150, 255),
    "neutral": (170, 170, 170),
}


def annotate(image_bgr: np.ndarray, faces: list[Face], labels: list[str] | None = None,
             bars: bool = True) -> np.ndarray:
    """A copy of the image with each face's box, label (``labels[i]`` or ``emotion confidence``) and bars.

    Text and bars are sized to the face they belong to (legible at least as on a 500 px image, at most as large
    as the image's size calls for): sized to the image alone, a 6000 px group photo's panels were seven times
    its faces. Bars go beside the box where they cover no other face, and are left out where neither side has
    room."""
    out = image_bgr.copy()
    h, w = out.shape[:2]
    image_unit = max(1.0, min(h, w) / 500.0)  # scale strokes and text with the image
    boxes = [tuple(int(round(v)) for v in face.box) for face in faces]
    for i, face in enumerate(faces):
        x, y, bw, bh = boxes[i]
        unit = max(1.0, min(image_unit, bh / 80.0))
        font_scale, thickness = 0.5 * unit, max(1, round(unit))
        colour = EMOTION_COLORS_BGR[face.emotion]
        cv2.rectangle(out, (x, y), (x + bw, y + bh), colour, max(2, round(2 * unit)))
        text = labels[i] if labels else f"{face.emotion} {face.confidence:.0%}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
        ty = y - 4 if y - th - 6 >= 0 else min(h - 2, y + bh + th + 4)
        cv2.rectangle(out, (x, ty - th - 3), (x + tw + 4, ty + base - 1), colour, -1)
        cv2.putText(out, text, (x + 2, ty - 1), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), thickness,
                    cv2.LINE_AA)
        if bars:
            place = bars_rect(boxes[i], boxes[:i] + boxes[i + 1:], (h, w), unit)
            if place is not None:
                _draw_bars(out, face, place, unit)
    return out


def bars_rect(box: tuple[int, int, int, int], others: list[tuple[int, int, int, int]], size: tuple[int, int],
              unit: float) -> tuple[int, int, int, int] | None:
    """Where a face's probability bars go (x, y, width, height): right of its box, else left, wherever they stay
    in the image and cover no other face's box; None where neither does."""
    h, w = size
    x, y, bw, bh = box
    row = max(9, round(11 * unit))
    width, height = round(52 * unit) + round(60 * unit), row * len(EMOTIONS)
    for x0 in (x + bw + 4, x - width - 4):
        rect = (x0, y, width, min(height, h - y))
        inside = x0 >= 0 and x0 + width <= w and y >= 0
        if inside and not any(intersection(rect, other) > 0 for other in others):
            return rect
    return None


def _draw_bars(out: np.ndarray, face: Face, rect: tuple[int, int, int, int], unit: float) -> None:
    x0, y0, _, space = rect
    row = max(9, round(11 * unit))
    label_w, bar_w = round(52 * unit), round(60 * unit)
    font_scale = 0.33 * unit
    for i, (name, p) in enumerate(zip(EMOTIONS, face.probabilities)):
        y = y0 + i * row
        if (i + 1) * row > space:
            break
        overlay_bg = out[y : y + row - 1, x0 : x0 + label_w + bar_w]
        overlay_bg[:] = (overlay_bg * 0.4).astype(np.uint8)  # darken for legibility
        cv2.putText(out, name, (x0 + 2, y + row - 3), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (255, 255, 255), 1,
                    cv2.LINE_AA)
        cv2.rectangle(out, (x0 + label_w, y + 1), (x0 + label_w + int(bar_w * p), y + row - 2),
                      EMOTION_COLORS_BGR[name], -1)


def write_image(path: str | Path, bgr: np.ndarray) -> Path:
    """Save a BGR image in the format its suffix names. ``cv2.imwrite`` returns False where it cannot write (a
    read-only or full folder) and fails on non-ASCII paths on Windows; encoding in memory and writing the bytes
    raises the operating system's error, naming the file, instead."""
    path = Path(path)
    ok, encoded = cv2.imencode(path.suffix or ".png", bgr)
    if not ok:
        raise ValueError(f"{path}: OpenCV cannot encode an image as {path.suffix!r}")
    with naming_file(path):
        try:
            path.write_bytes(encoded.tobytes())
        except OSError:
            if path.is_file() and path.stat().st_size < len(encoded):  # no part-written image left behind
                path.unlink()
            raise
    return path


@contextmanager
def naming_file(path: Path):
    """An OSError while writing ``path`` that names no file (a full disk fails the write, not the open; pyarrow
    names none at all) is raised again naming it, so the one error line says which file."""
    try:
        yield
    except OSError as exc:
        if exc.filename:
            raise
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None
