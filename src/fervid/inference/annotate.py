"""Drawing results onto images: a box per face, its label, and a bar per emotion probability; writing them."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from fervid.emotions import EMOTIONS
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
    """A copy of the image with each face's box, label (``labels[i]`` or ``emotion confidence``) and bars."""
    out = image_bgr.copy()
    h, w = out.shape[:2]
    unit = max(1.0, min(h, w) / 500.0)  # scale strokes and text with the image
    font_scale, thickness = 0.5 * unit, max(1, round(unit))
    for i, face in enumerate(faces):
        x, y, bw, bh = (int(round(v)) for v in face.box)
        colour = EMOTION_COLORS_BGR[face.emotion]
        cv2.rectangle(out, (x, y), (x + bw, y + bh), colour, max(2, round(2 * unit)))
        text = labels[i] if labels else f"{face.emotion} {face.confidence:.0%}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
        ty = y - 4 if y - th - 6 >= 0 else min(h - 2, y + bh + th + 4)
        cv2.rectangle(out, (x, ty - th - 3), (x + tw + 4, ty + base - 1), colour, -1)
        cv2.putText(out, text, (x + 2, ty - 1), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), thickness,
                    cv2.LINE_AA)
        if bars:
            _draw_bars(out, face, x + bw + 4, y, unit)
    return out


def _draw_bars(out: np.ndarray, face: Face, x0: int, y0: int, unit: float) -> None:
    h, w = out.shape[:2]
    row = max(9, round(11 * unit))
    label_w, bar_w = round(52 * unit), round(60 * unit)
    if x0 + label_w + bar_w > w:  # no room on the right: draw on the left of the box
        x0 = max(0, int(face.box[0]) - label_w - bar_w - 4)
    font_scale = 0.33 * unit
    for i, (name, p) in enumerate(zip(EMOTIONS, face.probabilities)):
        y = y0 + i * row
        if y + row > h:
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
    try:
        path.write_bytes(encoded.tobytes())
    except OSError as exc:
        if path.is_file() and path.stat().st_size < len(encoded):  # no part-written image left behind
            path.unlink()
        if exc.filename:
            raise
        # a full disk fails the write, not the open: its error names no file until given one here
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    return path
