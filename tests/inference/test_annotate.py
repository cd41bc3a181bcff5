"""Drawing results: boxes, labels and probability bars that stay with their own face."""

import itertools

import cv2
import numpy as np
import pytest

from fervid.inference.annotate import (
    EMOTION_COLORS_BGR, UNCERTAIN_MARK, WHITE_BGR, annotate, bars_rect, contrast_ratio, face_label, face_unit, fit_label,
    ink_bgr, layout, needs_edge)
from fervid.inference.detect import intersection
from fervid.inference.records import Face

HAPPY = (0.01, 0.0, 0.02, 0.9, 0.02, 0.02, 0.03)


def face_at(x, y, size):
    return Face(box=(x, y, size, size), landmarks=((x + size * 0.3, y + size * 0.4),) * 5, detection_score=0.9,
                probabilities=HAPPY, uncertain=False)


def test_bars_never_cover_another_face():
    """In a crowd, each face's bars were drawn over its right-hand neighbour."""
    boxes = [(x, y, 100, 100) for x in range(20, 900, 110) for y in (20, 300)]  # 10 px apart
    for i, box in enumerate(boxes):
        rect = bars_rect(box, boxes[:i] + boxes[i + 1:], (600, 1000), 1.0)
        assert rect is None, (box, rect)  # no room between the faces: no bars rather than bars on a face
    spaced = [(50, 50, 100, 100), (450, 50, 100, 100)]
    assert bars_rect(spaced[0], spaced[1:], (600, 1000), 1.0)[0] == 50 + 100 + 4  # room on the right
    assert bars_rect((880, 50, 100, 100), [], (600, 1000), 1.0)[0] < 880  # the image's edge: on the left


def test_labels_of_touching_faces_cover_no_other_label_or_face():
    """Side by side, each face's label (wider than a small face) was drawn over its neighbour's."""
    photo = np.full((480, 640, 3), 120, np.uint8)
    faces = [face_at(20 + 62 * k, 200, 60) for k in range(9)]
    boxes = [tuple(int(v) for v in face.box) for face in faces]
    units = [face_unit(box, photo.shape[:2]) for box in boxes]
    sizes = [cv2.getTextSize("surprise 100%", cv2.FONT_HERSHEY_SIMPLEX, 0.5 * u, 1) for u in units]
    assert sizes[0][0][0] > 62  # wider than a face and its gap: above every face, labels would overlap
    places = layout(boxes, sizes, units, photo.shape[:2])
    rects = [label for label, _ in places] + [bars for _, bars in places if bars is not None]
    for i, a in enumerate(rects):
        assert not any(intersection(a, b) > 0 for b in rects[i + 1:]), a
        assert not any(intersection(a, box) > 0 for j, box in enumerate(boxes) if j != i), a
        assert a[0] >= 0 and a[1] >= 0 and a[0] + a[2] <= 640 and a[1] + a[3] <= 480
    assert {label[1] < 200 for label, _ in places} == {True, False}  # above some faces, below others
    drawn = annotate(photo, faces)  # and the drawing follows the layout: each label in its face's colour
    for label, _ in places:
        x, y, w, h = label
        assert (drawn[y + 1, x + 1] != 120).any()


def test_text_and_bars_are_sized_to_the_face_on_a_large_photo():
    """On a 6000 px photo the panel, sized to the image, was about 7 times the face."""
    photo = np.full((4000, 6000, 3), 120, np.uint8)
    drawn = annotate(photo, [face_at(2000, 1500, 150)])
    rows, cols = np.nonzero((drawn != photo).any(axis=2))
    assert cols.max() - cols.min() < 4 * 150 and rows.max() - rows.min() < 2 * 150
    small = np.full((480, 640, 3), 120, np.uint8)  # a 640 px frame keeps its legible minimum
    drawn_small = annotate(small, [face_at(100, 100, 60)])
    rows, cols = np.nonzero((drawn_small != small).any(axis=2))
    assert rows.max() - 100 >= 7 * 9  # 7 rows of bars, at least 9 px each


def test_bars_go_right_of_their_face_and_are_joined_to_its_box():
    """Three faces in a row, listed right to left (as a video's track numbers may be): the rightmost face's bars
    went left of it, against the middle face, where they read as the middle face's (whose own bars were then
    left out). Placed from the image's left, each face's bars go right of it where they fit, and a band in the
    box's colour joins them to their own box."""
    photo = np.full((480, 640, 3), 120, np.uint8)
    faces = [face_at(x, 150, 100) for x in (480, 260, 40)]
    drawn = annotate(photo, faces)
    boxes = [tuple(int(v) for v in face.box) for face in faces]
    units = [face_unit(box, photo.shape[:2]) for box in boxes]
    sizes = [cv2.getTextSize("happy 90%", cv2.FONT_HERSHEY_SIMPLEX, 0.5 * u, 1) for u in units]
    places = layout(boxes, sizes, units, photo.shape[:2])
    right, middle, left = (bars for _, bars in places)
    assert left[0] == 40 + 100 + 4 and middle[0] == 260 + 100 + 4  # right of their own faces
    assert right is None  # no room right of the last face, and left of it would sit against the middle face
    happy_bgr = EMOTION_COLORS_BGR["happy"]
    for (x, y, w, h) in (left, middle):
        gap = drawn[y + 5, x - 3]  # between the box's edge and the bars
        assert tuple(gap) == happy_bgr, gap


# Machado, Oliveira & Fernandes (2009), severity 1.0: linear-RGB matrices simulating protanopia and deuteranopia
MACHADO = {"protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                          [-0.003882, -0.048116, 1.051998]],
           "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                            [-0.011820, 0.042940, 0.968881]]}


@pytest.mark.parametrize("vision", ["typical", "protanopia", "deuteranopia"])
def test_the_emotion_colours_are_told_apart_with_colour_blindness(vision):
    """Simulated for a deuteranope, happy and surprise were 6.8 apart (CIEDE2000), angry and disgust 7.4, fear and
    sad 8.7: read as the same colour. Every pair is now at least 12 apart."""
    from skimage.color import deltaE_ciede2000, rgb2lab

    names = list(EMOTION_COLORS_BGR)
    srgb = np.array([bgr[::-1] for bgr in EMOTION_COLORS_BGR.values()]) / 255
    linear = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    if vision != "typical":
        linear = np.clip(linear @ np.array(MACHADO[vision]).T, 0, 1)
    seen = np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)
    lab = rgb2lab(seen[None])[0]
    distances = {(names[i], names[j]): deltaE_ciede2000(lab[i], lab[j]) for i, j in itertools.combinations(range(7), 2)}
    closest = min(distances, key=distances.get)
    assert distances[closest] >= 12, (closest, distances[closest])


def test_text_on_an_emotion_colour_and_its_lines_on_white_have_contrast():
    """Labels were black on every colour; text is black or white for at least 4.5:1 (WCAG AA), and a colour
    under 3:1 on white (graphics, WCAG 1.4.11) is the one whose timeline line gets a dark edge."""
    for name, bgr in EMOTION_COLORS_BGR.items():
        assert contrast_ratio(ink_bgr(bgr), bgr) >= 4.5, name
        assert needs_edge(bgr) == (contrast_ratio(bgr, WHITE_BGR) < 3), name
    assert ink_bgr(EMOTION_COLORS_BGR["fear"]) == (255, 255, 255) and ink_bgr(EMOTION_COLORS_BGR["happy"]) == (0, 0, 0)
    photo = np.full((300, 300, 3), 120, np.uint8)
    fear = Face(box=(100, 100, 100, 100), landmarks=((130, 140),) * 5, detection_score=0.9,
                probabilities=(0.02, 0.02, 0.9, 0.02, 0.02, 0.01, 0.01), uncertain=False)
    drawn = annotate(photo, [fear], bars=False)
    label = drawn[80:100, 100:200]  # the label above the box, on the fear colour
    assert (label.min(axis=2) > 230).sum() > 20  # white text on it


def test_a_label_fits_a_tiny_photo_without_cutting_a_digit():
    """On a 64 x 77 photo "happy 100%" ran past the right edge and read "happy 1". A label shrinks to fit, down to a
    legible size; below that the default label drops its percentage rather than lose part of it."""
    assert fit_label(("happy 100%", "happy"), 1.0, 640) == ("happy 100%", 0.5)  # room: as it was
    text, scale = fit_label(("happy 100%", "happy"), 1.0, 90)
    assert text == "happy 100%" and 0.35 <= scale < 0.5
    assert cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] + 4 <= 90
    assert fit_label(("happy 100%", "happy"), 1.0, 64) == ("happy", 0.5)
    text, scale = fit_label(("surprise",), 1.0, 30)  # no shorter choice: smaller still, never cut
    assert cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] + 4 <= 30
    tiny = np.full((77, 64, 3), 120, np.uint8)
    face = Face(box=(8, 14, 48, 56), landmarks=((20, 30),) * 5, detection_score=0.9,
                probabilities=(0, 0, 0, 1.0, 0, 0, 0), uncertain=False)
    drawn = annotate(tiny, [face], bars=False)
    box, unit = (8, 14, 48, 56), face_unit((8, 14, 48, 56), (77, 64))
    text, scale = fit_label(("happy 100%", "happy"), unit, 64)
    ((label_x, label_y, label_w, label_h), _), = layout(
        [box], [cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)], [unit], (77, 64), bars=False)
    assert label_x >= 0 and label_x + label_w <= 64
    patch = drawn[label_y + 1:label_y + label_h - 1, label_x + 1:label_x + label_w - 1]
    assert (patch.max(axis=2) < 60).sum() > 20  # its black text is drawn
    right_end = drawn[label_y:label_y + label_h, label_x + label_w - 2:label_x + label_w]
    assert (right_end == EMOTION_COLORS_BGR["happy"]).all()  # the text ends inside its label: nothing cut


@pytest.mark.parametrize("width", [220, 40])
def test_a_caption_goes_below_the_image_on_its_emotions_colour_and_widens_a_narrow_one(width):
    """A key frame's caption is drawn as a face's label is (ink on the emotion's colour), below the picture so that
    it covers none of it; a crop too narrow for it at a legible size (a face at the frame's edge) is widened."""
    from fervid.inference.annotate import MIN_LABEL_SCALE, _text_size, with_caption

    picture = np.random.default_rng(0).integers(0, 256, (180, width, 3), np.uint8)
    lines = ["surprise 96%", "track 12 00:01:03.7"]
    out = with_caption(picture, lines, "surprise")
    assert (out[:180, :width] == picture).all()  # the picture whole, above the caption
    assert out.shape[1] == max(width, max(_text_size(line, MIN_LABEL_SCALE)[0][0] for line in lines) + 4)
    caption = out[180:]
    colour, ink = EMOTION_COLORS_BGR["surprise"], ink_bgr(EMOTION_COLORS_BGR["surprise"])
    assert (caption == colour).all(2).mean() > 0.6  # mostly the emotion's colour
    # with text on it in two lines: ink (pixels nearer it than the colour: the text is anti-aliased) in the upper
    # and the lower half of the caption
    for half in np.array_split(caption.astype(int), 2):
        nearer_ink = np.abs(half - ink).sum(2) < np.abs(half - colour).sum(2)
        assert nearer_ink.sum() > 30


def test_an_uncertain_faces_label_ends_in_the_mark_and_a_sure_ones_does_not(astronaut_png, uncertain_face_png):
    """An uncertain face was drawn as a sure one is ("neutral 49%" on a CK+ face flagged uncertain), where the live
    page marked it "?": the annotated image labels it so too (face_label, which every output's label comes from),
    the mark kept where the image is too narrow for the percentage."""
    import dataclasses

    from fervid import Analyzer

    analyzer = Analyzer()
    for path, uncertain in ((astronaut_png, False), (uncertain_face_png, True)):
        image = cv2.imread(str(path))
        (face,) = analyzer.analyze_image(path)
        assert face.uncertain is uncertain, face
        plain = f"{face.emotion} {face.confidence:.0%}"
        said = plain + UNCERTAIN_MARK if uncertain else plain
        assert face_label(face.emotion, face.confidence, face.uncertain) == said
        drawn = annotate(image, [face])
        assert (drawn == annotate(image, [face], [said])).all()  # the label drawn is that text
        assert not (drawn == annotate(image, [face], [plain + UNCERTAIN_MARK if not uncertain else plain])).all()
    assert said.startswith("surprise 4") and said.endswith("%?")  # carphone's frame 88: surprise 0.44
    # a 64 px image, too narrow for "surprise 44%?": the emotion alone, still marked
    tiny = np.full((77, 64, 3), 120, np.uint8)
    small = dataclasses.replace(face, box=(8, 14, 48, 56))
    assert (annotate(tiny, [small], bars=False) == annotate(tiny, [small], ["surprise?"], bars=False)).all()
    assert face_label("neutral", None, False) == "neutral"


@pytest.mark.parametrize("refusals", [2, None], ids=["for-a-moment", "for-good"])
def test_an_output_windows_will_not_replace_for_a_moment_is_tried_again(tmp_path, monkeypatch, refusals):
    """A summary.json or files.csv just written, opened for a moment by Windows' virus scanner or indexer (WinError
    32): one refusal failed the output. Tried again for about 1.6 s; refused for good, the error says it is held
    open, the earlier file is left whole and no temporary file beside it."""
    from conftest import refuse, retry_waits
    from fervid.errors import HeldOpenError
    from fervid.inference.annotate import replacing

    table = tmp_path / "files.csv"
    table.write_text("earlier\n", encoding="utf-8")
    waits = retry_waits(monkeypatch)
    refuse(monkeypatch, "replace", times=refusals)
    if refusals:
        with replacing(table) as temporary:
            temporary.write_text("new\n", encoding="utf-8")
        assert table.read_text(encoding="utf-8") == "new\n" and waits == [0.02, 0.05]
    else:
        with pytest.raises(HeldOpenError, match="it is open in another program \\(Excel\\?\\): close it there"):
            with replacing(table) as temporary:
                temporary.write_text("new\n", encoding="utf-8")
        assert table.read_text(encoding="utf-8") == "earlier\n" and 1 <= sum(waits) <= 2
    assert [p.name for p in tmp_path.iterdir()] == ["files.csv"]
