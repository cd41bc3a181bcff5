"""Face tracking between detections: optical flow on the region around the faces."""

import cv2
import numpy as np

from fervid.inference import track
from fervid.inference.detect import make_detector
from fervid.inference.track import FaceTracker
from fervid.inference.video import sample_video


def carphone_in_1080p(n=40):
    """The carphone sample's first frames, grey, enlarged 7.5x and placed on a 1920x1080 frame."""
    cap = cv2.VideoCapture(str(sample_video()))
    frames = []
    for _ in range(n):
        ok, frame = cap.read()
        assert ok
        big = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), None, fx=7.5, fy=7.5, interpolation=cv2.INTER_CUBIC)
        canvas = np.full((1080, 1920), 100, np.uint8)
        canvas[: big.shape[0], 300 : 300 + big.shape[1]] = big
        frames.append(canvas)
    cap.release()
    return frames


def follow(frames, detection):
    tracker = FaceTracker()
    tracker.update(0, frames[0], [detection])
    return [tracker.propagate(i, f)[0].detection for i, f in enumerate(frames[1:], 1)]


def test_flow_around_the_faces_follows_them_as_flow_over_the_whole_frame(monkeypatch):
    frames = carphone_in_1080p()
    (detection,) = make_detector().detect(cv2.cvtColor(frames[0], cv2.COLOR_GRAY2BGR))
    around = follow(frames, detection)
    monkeypatch.setattr(track, "FLOW_MARGIN", 10**6)  # the region becomes the whole frame
    whole = follow(frames, detection)
    for a, b in zip(around, whole):
        assert np.abs(np.subtract(a.landmarks, b.landmarks)).max() < 0.25
        assert np.abs(np.subtract(a.box, b.box)).max() < 0.25
    moved = np.subtract(whole[-1].landmarks, detection.landmarks)
    assert np.abs(moved).max() > 5  # the face did move: the comparison is not between two boxes standing still
