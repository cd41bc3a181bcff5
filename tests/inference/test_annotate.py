"""Drawing results: boxes, labels and probability bars that stay with their own face."""

import numpy as np

from fervid.inference.annotate import annotate, bars_rect
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
