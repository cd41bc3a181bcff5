"""Drawing results onto images: a box per face, its label, and a bar per emotion probability; writing them."""

from __future__ import annotations

import os
import secrets
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

from fervid.emotions import EMOTIONS
from fervid.errors import held_open_error
from fervid.inference.detect import intersection
from fervid.inference.records import Face
from fervid.inference.set_aside import replace_retrying

Rect = tuple[int, int, int, int]  # x, y, width, height in pixels

# One colour per emotion, so bars, boxes and timelines read the same across images, videos and the web pages (which
# load it from the server's /constants.js). Paul Tol's "bright" scheme, chosen to be told apart under deuteranopia
# and protanopia: the former palette's happy and surprise (yellow, orange) were 6.8 apart (CIEDE2000) to a
# deuteranope, its angry and disgust 7.4; these are at least 14 apart (tests/inference/test_annotate.py). The trade:
# happy, surprise and neutral are light (under 3:1 on white), so text on them is black (``ink_bgr``) and their lines
# on the white timeline get a dark edge (``needs_edge``).
EMOTION_COLORS: dict[str, str] = {
    "angry": "#ee6677",
    "disgust": "#228833",
    "fear": "#aa3377",
    "happy": "#ccbb44",
    "sad": "#4477aa",
    "surprise": "#66ccee",
    "neutral": "#bbbbbb",
}
EMOTION_COLORS_BGR: dict[str, tuple[int, int, int]] = {
    name: (int(c[5:7], 16), int(c[3:5], 16), int(c[1:3], 16)) for name, c in EMOTION_COLORS.items()}
# A dash pattern per emotion for lines (on, off, ... in line widths; () is solid), so that a timeline's curves are
# told apart by more than colour (for a colour-blind reader, and on a greyscale print)
EMOTION_DASHES: dict[str, tuple[float, ...]] = {
    "angry": (),
    "disgust": (4, 2),
    "fear": (1, 1.5),
    "happy": (6, 2, 1, 2),
    "sad": (8, 3),
    "surprise": (3, 1.5, 1, 1.5, 1, 1.5),
    "neutral": (2, 3),
}
BLACK_BGR, WHITE_BGR = (0, 0, 0), (255, 255, 255)
# What follows the label of a face whose confidence is under the model's threshold (its ``uncertain`` flag), in every
# label fervid shows: the annotated image and video, a key frame's caption, the command line's lines, the web and
# live pages (which load it from /constants.js). A "neutral 49%" drawn in the same colour and words as a sure face
# read as sure to anyone who had not opened the table.
UNCERTAIN_MARK = "?"


def relative_luminance(bgr: tuple[int, int, int]) -> float:
    """WCAG 2's relative luminance of an sRGB colour given as BGR 0-255."""
    linear = [c / 255 / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in bgr]
    return 0.0722 * linear[0] + 0.7152 * linear[1] + 0.2126 * linear[2]


def contrast_ratio(a_bgr: tuple[int, int, int], b_bgr: tuple[int, int, int]) -> float:
    """WCAG 2's contrast ratio of two colours (1 to 21)."""
    lighter, darker = sorted((relative_luminance(a_bgr), relative_luminance(b_bgr)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def ink_bgr(background_bgr: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white, whichever text reads better on ``background_bgr`` (as the web pages' ``ink()``)."""
    return max((BLACK_BGR, WHITE_BGR), key=lambda ink: contrast_ratio(ink, background_bgr))


def needs_edge(bgr: tuple[int, int, int]) -> bool:
    """Whether a line of this colour on white is under WCAG's 3:1 for graphics, and is drawn with a dark edge."""
    return contrast_ratio(bgr, WHITE_BGR) < 3


def face_label(emotion: str, confidence: float | None, uncertain: bool) -> str:
    """A face's label as every output of fervid words it: its emotion and confidence as a whole percentage, then
    :data:`UNCERTAIN_MARK` where the face is uncertain ("happy 87%", "neutral 49%?"); ``confidence`` None: the emotion
    alone ("neutral?"), where the percentage is not known or there is no room for it."""
    said = emotion if confidence is None else f"{emotion} {confidence:.0%}"
    return said + UNCERTAIN_MARK if uncertain else said


def annotate(image_bgr: np.ndarray, faces: list[Face], labels: list[str] | None = None,
             bars: bool = True) -> np.ndarray:
    """A copy of the image with each face's box, label (``labels[i]`` or :func:`face_label`'s: "happy 87%", "neutral
    49%?" for an uncertain face; in black or white, whichever reads better on the emotion's colour) and bars.

    Text and bars are sized to the face they belong to (legible at least as on a 500 px image, at most as large
    as the image's size calls for): sized to the image alone, a 6000 px group photo's panels were seven times
    its faces. A label is made smaller to fit the image's width, and below a legible size the default one drops its
    percentage (``fit_label``). Labels and bars are laid out so that none covers another face, label or bars (see
    ``layout``); bars are left out where there is no room."""
    out = image_bgr.copy()
    h, w = out.shape[:2]
    boxes = [(int(round(x)), int(round(y)), int(round(bw)), int(round(bh))) for x, y, bw, bh in (f.box for f in faces)]
    units = [face_unit(box, (h, w)) for box in boxes]
    # a label's choices, longest first: the default one can drop its percentage where the image is too narrow
    choices = [(labels[i],) if labels else (face_label(face.emotion, face.confidence, face.uncertain),
                                            face_label(face.emotion, None, face.uncertain))
               for i, face in enumerate(faces)]
    # Every box first: drawn face by face, a neighbour's box struck through labels already drawn.
    for face, (x, y, bw, bh), unit in zip(faces, boxes, units):
        cv2.rectangle(out, (x, y), (x + bw, y + bh), EMOTION_COLORS_BGR[face.emotion], max(2, round(2 * unit)))
    fitted = [fit_label(texts, unit, w) for texts, unit in zip(choices, units)]
    sizes = [_text_size(text, scale) for text, scale in fitted]
    places = layout(boxes, sizes, units, (h, w), bars)
    for face, box, (text, scale), unit, ((_, th), _), (label, bar_place) in zip(faces, boxes, fitted, units, sizes,
                                                                                places):
        lx, ly, lw, lh = label
        colour = EMOTION_COLORS_BGR[face.emotion]
        cv2.rectangle(out, (lx, ly), (lx + lw - 1, ly + lh - 1), colour, -1)
        cv2.putText(out, text, (lx + 2, ly + th + 2), cv2.FONT_HERSHEY_SIMPLEX, scale, ink_bgr(colour),
                    _thickness(scale), cv2.LINE_AA)
        if bar_place is not None:
            _draw_bars(out, face, bar_place, unit, box)
    return out


def with_caption(image_bgr: np.ndarray, lines: list[str], emotion: str) -> np.ndarray:
    """A copy of the image with a caption below it: ``lines`` drawn as :func:`annotate` draws a face's label (in
    black or white on the emotion's colour, sized to the image as to a face), the image itself left whole. An
    image too narrow for the lines at a legible size (a face at the frame's edge, cropped narrow) is widened with
    black at its right, so the caption stays readable."""
    h, w = image_bgr.shape[:2]
    unit = face_unit((0, 0, w, h), (h, w))
    legible = max(_text_size(line, MIN_LABEL_SCALE)[0][0] for line in lines) + 4
    width = max(w, legible)
    fitted = [fit_label((line,), unit, width) for line in lines]
    scale = min(scale for _, scale in fitted)  # one size for every line
    sizes = [_text_size(line, scale) for line in lines]
    line_height = max(th + base for (_, th), base in sizes) + 3
    colour = EMOTION_COLORS_BGR[emotion]
    out = np.zeros((h + line_height * len(lines) + 2, width, 3), np.uint8)
    out[:h, :w] = image_bgr
    out[h:] = colour
    for i, (line, ((_, th), _)) in enumerate(zip(lines, sizes)):
        cv2.putText(out, line, (2, h + 1 + i * line_height + th + 2), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    ink_bgr(colour), _thickness(scale), cv2.LINE_AA)
    return out


def face_unit(box: Rect, size: tuple[int, int]) -> float:
    """How much larger than at its legible minimum a face's text and bars are drawn: with the face's height,
    up to what the image's size calls for."""
    image_unit = max(1.0, min(size) / 500.0)
    return max(1.0, min(image_unit, box[3] / 80.0))


MIN_LABEL_SCALE = 0.35  # OpenCV's font scale for about 8 px capitals: smaller, a label is hard to read


def fit_label(choices: tuple[str, ...], unit: float, width: int) -> tuple[str, float]:
    """A label's text and font scale: the first of ``choices`` that fits the image's ``width`` at its face's size
    (``unit``) or at least at ``MIN_LABEL_SCALE``; where none does, the last one, shrunk to fit. A label wider than
    a 64 px image ran past its edge, and "happy 100%" read "happy 1"."""
    room = width - 4  # the label's padding
    for text in choices[:-1]:
        scale = _scale_to_fit(text, 0.5 * unit, room)
        if scale >= MIN_LABEL_SCALE:
            return text, scale
    return choices[-1], _scale_to_fit(choices[-1], 0.5 * unit, room)


def _scale_to_fit(text: str, scale: float, room: int) -> float:
    """``scale``, or less where ``text`` is wider than ``room`` pixels at it."""
    while _text_size(text, scale)[0][0] > room and scale > 0.05:
        scale *= 0.95
    return scale


def _thickness(scale: float) -> int:
    return max(1, round(2 * scale))


def _text_size(text: str, scale: float) -> tuple[tuple[int, int], int]:
    (width, height), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, _thickness(scale))
    return (width, height), baseline


def layout(boxes: list[Rect], text_sizes: list[tuple[tuple[int, int], int]], units: list[float],
           size: tuple[int, int], bars: bool = True) -> list[tuple[Rect, Rect | None]]:
    """Where each face's label and bars go, as (x, y, width, height) rectangles: (label, bars or None).

    Placed face by face from the image's left (so that every face's bars go the same way, right of it, where
    they fit), each where it covers no face's box and nothing placed before it: the label above its box, else
    below, else inside the box's top; the bars right of the box, else left, else not at all. Where crowded faces
    leave a label no free place, it goes where it hides the least (covering another label hides text: it counts
    four times as much as covering part of a face); a label is never left out."""
    h, w = size
    placed: list[Rect] = []  # labels and bars so far
    places: list = [None] * len(boxes)
    for i in sorted(range(len(boxes)), key=lambda k: (boxes[k][0], boxes[k][1])):
        box, ((tw, th), base), unit = boxes[i], text_sizes[i], units[i]
        other_boxes = boxes[:i] + boxes[i + 1:]
        x, y, bw, bh = box
        lw, lh = tw + 4, th + base + 3
        lx = max(0, min(x, w - lw))
        candidates = [(lx, y - lh), (lx, y + bh + 2), (max(0, min(x + 2, w - lw)), y + 2)]
        inside = [(cx, cy, lw, lh) for cx, cy in candidates if 0 <= cy and cy + lh <= h]

        def hidden(rect: Rect) -> float:
            return (4 * sum(intersection(rect, other) for other in placed)
                    + sum(intersection(rect, other) for other in other_boxes))

        label = min(inside, key=hidden) if inside else (lx, max(0, min(y, h - lh)), lw, lh)
        placed.append(label)
        bar_place = bars_rect(box, other_boxes + placed, size, unit) if bars else None
        if bar_place is not None:
            placed.append(bar_place)
        places[i] = (label, bar_place)
    return places


def bars_rect(box: Rect, others: list[Rect], size: tuple[int, int], unit: float) -> Rect | None:
    """Where a face's probability bars go (x, y, width, height): right of its box, else left, wherever they stay
    in the image and cover none of ``others``; None where neither does."""
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


def _draw_bars(out: np.ndarray, face: Face, rect: Rect, unit: float, box: Rect) -> None:
    """The bars in ``rect``, joined to the face's ``box`` by a band of the box's colour across the gap between
    them and framed in it: bars left of a face sit as near the next face to their left, and read as its bars."""
    x0, y0, width, space = rect
    row = max(9, round(11 * unit))
    label_w, bar_w = round(52 * unit), round(60 * unit)
    font_scale = 0.33 * unit
    colour = EMOTION_COLORS_BGR[face.emotion]
    gap_x0, gap_x1 = (box[0] + box[2], x0) if x0 >= box[0] + box[2] else (x0 + width, box[0])
    cv2.rectangle(out, (gap_x0, y0), (gap_x1, y0 + space - 1), colour, -1)
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
    cv2.rectangle(out, (x0, y0), (x0 + width - 1, y0 + space - 1), colour, max(1, round(unit)))


def write_image(path: str | Path, bgr: np.ndarray, text: dict[str, str] | None = None) -> Path:
    """Save a BGR image in the format its suffix names (``text``: Latin-1 key-value pairs a PNG carries, in tEXt
    chunks Pillow reads as its ``info`` on opening it). ``cv2.imwrite`` returns False where it cannot write (a
    read-only or full folder) and fails on non-ASCII paths on Windows; encoding in memory and writing the bytes
    raises the operating system's error, naming the file, instead."""
    path = Path(path)
    ok, encoded = cv2.imencode(path.suffix or ".png", bgr)
    if not ok:
        raise ValueError(f"{path}: OpenCV cannot encode an image as {path.suffix!r}")
    data = encoded.tobytes()
    if text and data[12:16] == b"IHDR":  # a PNG: its chunks go after the header chunk (8 + 25 bytes), before the
        # pixels, where a reader finds them without decoding any
        import zlib

        chunks = b""
        for key, value in text.items():
            body = b"tEXt" + key.encode("latin-1") + b"\0" + value.encode("latin-1")
            chunks += len(body[4:]).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")
        data = data[:33] + chunks + data[33:]
    with replacing(path) as temporary:
        temporary.write_bytes(data)
    return path


@contextmanager
def replacing(path: str | Path):
    """Write an output file through a temporary one beside it: ``with replacing(path) as temporary:`` write
    ``temporary``, which then replaces ``path`` (``os.replace``: whole, or not at all). A symbolic link at
    ``path`` (planted in a shared output folder: ``out/photo_fervid.png -> ~/.bashrc``) is replaced, not written
    through, and a write cut short (a full disk, a kill) leaves no part-written file under the output's name. An
    error names ``path``, not the temporary file; where another program holds ``path`` open (Windows refuses to
    replace a CSV open in Excel), it is a :class:`fervid.errors.HeldOpenError` that says so, and to close it there
    and run again. Written in place, as before: a device or pipe (``--json /dev/stdout``), and a file in a folder
    this process may not add files to."""
    path = Path(path)
    if (path.exists() and not path.is_symlink()
            and (not path.is_file() or not os.access(path.parent, os.W_OK | os.X_OK))):
        with naming_file(path):
            try:
                yield path
            except OSError as exc:
                if exc.filename is not None and str(exc.filename) == str(path):
                    raise held_open_error(exc, path) from None
                raise
        return
    temporary = path.with_name(temporary_name(path.name))
    try:
        with naming_file(path):
            try:
                yield temporary
            except OSError as exc:
                if exc.filename is not None and str(exc.filename) == str(temporary):
                    raise OSError(exc.errno, exc.strerror, str(path)) from None
                raise
            try:  # (tried again while Windows' scanner or indexer holds it a moment)
                replace_retrying(temporary, path)
            except OSError as exc:
                raise held_open_error(exc, path) from None
    finally:
        temporary.unlink(missing_ok=True)


def temporary_name(name: str) -> str:
    """The name :func:`replacing` writes the output ``name`` under: hidden, and named by no pattern fervid reads or
    writes (".tmp"); random, so that no one can plant a link there first. 22 characters longer than ``name``."""
    return f".{name}.{secrets.token_hex(8)}.tmp"


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
