"""Drawing results: boxes, labels and probability bars that stay with their own face."""

import cv2
import numpy as np

from fervid.inference.annotate import annotate, bars_rect, face_unit, layout
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
    happy_bgr = (0, 200, 250)
    for (x, y, w, h) in (left, middle):
        gap = drawn[y + 5, x - 3]  # between the box's edge and the bars
        assert tuple(gap) == happy_bgr, gap
