"""Following faces over time: IoU matching on detection frames, optical flow in between.

Detection runs every ~0.3 s (it is the expensive stage); on the frames in between each track's landmarks are
carried along by pyramidal Lucas-Kanade optical flow, so every processed frame has an aligned face. A track
survives a few detection rounds without a match (a blink, a hand in front of the face), keeping its id. While it is
unmatched, flow may follow whatever covers the face (another person walking past) rather than the face, so the face
is also looked for where its own motion before the miss would have taken it. When flow loses a face (a scene cut,
the face gone, the box squeezed out of the frame), the track is not shown again until a detection finds it: no row
is made up for a face that is not there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from fervid.inference.detect import Detection, iou


@dataclass
class Track:
    """A face followed over time; ``detection`` is its current box and landmarks."""

    track_id: int
    detection: Detection
    first_frame: int
    last_detected_frame: int
    missed_rounds: int = 0
    points: np.ndarray = field(default=None, repr=False)  # landmarks + box corners, for optical flow
    velocity: tuple[float, float] = (0.0, 0.0)  # box motion per frame between its last two detections
    detected_box: tuple = ()  # the box at motion_frame
    motion_frame: int = -1  # the last whole-frame detection: velocity and detected_box are measured from it
    lost: bool = False  # flow lost the face since its last detection: no box until a detection finds it again

    def detected(self, frame_index: int, detection: Detection, motion: bool = True) -> None:
        """Matched to ``detection`` on ``frame_index``: the box, its points and (``motion``) its motion since the
        last match. A closer look's detection leaves the motion alone: it may be a part-hidden face's smaller box,
        and a velocity measured from it lost a face hidden by a passer-by."""
        if motion:
            if self.detected_box and frame_index > self.motion_frame >= 0:
                frames = frame_index - self.motion_frame
                self.velocity = tuple((detection.box[i] - self.detected_box[i]) / frames for i in (0, 1))
            self.detected_box, self.motion_frame = detection.box, frame_index
        self.detection, self.points = detection, _points(detection)
        self.last_detected_frame, self.missed_rounds, self.lost = frame_index, 0, False

    def expected_boxes(self, frame_index: int) -> list[tuple]:
        """Where to look for this face on a detection frame: where flow carried it, and, once it has missed a
        round, where its own motion would have taken it (flow then may have followed what hid it)."""
        boxes = [self.detection.box]
        if self.missed_rounds and self.detected_box:
            frames = frame_index - self.motion_frame
            x, y, w, h = self.detected_box
            boxes.append((x + self.velocity[0] * frames, y + self.velocity[1] * frames, w, h))
        return boxes


@dataclass(frozen=True)
class TrackedFace:
    """Where track ``track_id`` is on one frame; ``detected`` is False when the box came from optical flow."""

    track_id: int
    frame_index: int
    detection: Detection
    detected: bool


# Optical flow runs on the region around the tracked points, this far beyond them: the coarsest pyramid level's
# window (21 px at 1/8 scale, 84 px each side) plus the largest motion LK follows between frames. Building the
# pyramids of a whole 1080p frame cost more than the flow itself.
FLOW_MARGIN = 240
# Lucas-Kanade's error (mean absolute grey difference over a point's window) above which the points no longer
# follow the face they started on: at most 4.9 on the carphone sample's face, 0.2 on clips the tests make; 37 to
# 147 where the face was cut to another scene or removed.
LOST_FLOW_ERROR = 20.0
# the most a face's size changes between two frames before flow is taken to have slipped off it
MAX_SCALE_STEP = 1.4
# the least of a flow-carried box that must stay in the frame for a face to be there
MIN_INSIDE = 0.5


def _points(det: Detection) -> np.ndarray:
    x, y, w, h = det.box
    corners = [(x, y), (x + w, y), (x, y + h), (x + w, y + h)]
    return np.asarray(list(det.landmarks) + corners, dtype=np.float32).reshape(-1, 1, 2)


def _from_points(pts: np.ndarray, score: float, frame_shape: tuple[int, int]) -> Detection | None:
    """The detection flow carried ``pts`` to: its box clipped to the frame, as the detector clips its boxes (a face
    leaving the frame kept a box reaching past the edge: x -40 in the table), its landmarks not (the alignment
    uses where the eyes are, in or out of the frame). None when less than :data:`MIN_INSIDE` of the box is in
    the frame, or it turned over (a negative height was written as a face's box)."""
    pts = pts.reshape(-1, 2)
    landmarks = tuple((float(x), float(y)) for x, y in pts[:5])
    height, width = frame_shape[:2]
    (left, top), (right, bottom) = pts[5], pts[8]
    if right <= left or bottom <= top:
        return None
    x0, x1 = np.clip([left, right], 0, width)
    y0, y1 = np.clip([top, bottom], 0, height)
    if (x1 - x0) * (y1 - y0) < MIN_INSIDE * (right - left) * (bottom - top):
        return None
    return Detection((float(x0), float(y0), float(x1 - x0), float(y1 - y0)), landmarks, score)


class FaceTracker:
    """Assigns stable ids to faces across frames.

    ``iou_threshold``: least overlap between a track's box and a new detection to be the same face.
    ``max_missed_rounds``: detection rounds a track may go unmatched (kept moving by flow) before it ends.
    """

    def __init__(self, iou_threshold: float = 0.3, max_missed_rounds: int = 3):
        self.iou_threshold = iou_threshold
        self.max_missed_rounds = max_missed_rounds
        self.tracks: list[Track] = []
        self._next_id = 1
        self._prev_grey: np.ndarray | None = None

    def update(self, frame_index: int, grey: np.ndarray, detections: list[Detection],
               look_again: Callable[[tuple], list[Detection]] | None = None) -> list[TrackedFace]:
        """A detection frame: match detections to tracks (Hungarian on IoU), start new tracks, end stale ones.

        ``look_again(box)``: detections in the region around ``box`` (a closer look than the whole frame's). A
        track the frame's detections missed while flow still follows it is looked for there: a detector that
        misses a face now and then (a few rounds in a row, for some faces) left visible faces without rows and
        split them into two tracks. What it finds counts only where no other track or detection is."""
        self._flow(grey)  # move tracks to this frame first, so matching compares like with like
        matched_tracks, matched_dets = set(), set()
        if self.tracks and detections:
            cost = np.array([[1.0 - max(iou(box, d.box) for box in t.expected_boxes(frame_index))
                              for d in detections] for t in self.tracks])
            rows, cols = linear_sum_assignment(cost)
            for r, c in zip(rows, cols):
                if 1.0 - cost[r, c] >= self.iou_threshold:
                    self.tracks[r].detected(frame_index, detections[c])
                    matched_tracks.add(r)
                    matched_dets.add(c)
        if look_again is not None:
            for r, track in enumerate(self.tracks):
                if r in matched_tracks or track.lost or track.missed_rounds:
                    continue  # missed in the round before too: hidden or gone, not a detector's slip
                taken = [t.detection.box for i, t in enumerate(self.tracks) if i != r]
                taken += [d.box for c, d in enumerate(detections) if c not in matched_dets]
                found = [d for d in look_again(track.detection.box) if iou(d.box, track.detection.box)
                         >= self.iou_threshold and all(iou(d.box, box) < self.iou_threshold for box in taken)]
                if found:
                    track.detected(frame_index, max(found, key=lambda d: d.score), motion=False)
                    matched_tracks.add(r)
        for r, track in enumerate(self.tracks):
            if r not in matched_tracks:
                track.missed_rounds += 1
        self.tracks = [t for t in self.tracks if t.missed_rounds <= self.max_missed_rounds]
        for c, det in enumerate(detections):
            if c not in matched_dets:
                self.tracks.append(Track(self._next_id, det, frame_index, frame_index, 0, _points(det),
                                         detected_box=det.box, motion_frame=frame_index))
                self._next_id += 1
        self._prev_grey = grey
        return [TrackedFace(t.track_id, frame_index, t.detection, t.last_detected_frame == frame_index)
                for t in sorted(self.tracks, key=lambda t: t.track_id) if t.missed_rounds == 0]

    def cut(self) -> None:
        """A scene cut: every track ends (its number is not given again). A face in the new shot is someone new
        to the tracker, even where it sits where a face of the last shot sat."""
        self.tracks, self._prev_grey = [], None

    def propagate(self, frame_index: int, grey: np.ndarray) -> list[TrackedFace]:
        """A frame between detections: carry every live, currently seen track along by optical flow."""
        self._flow(grey)
        self._prev_grey = grey
        return [TrackedFace(t.track_id, frame_index, t.detection, False)
                for t in sorted(self.tracks, key=lambda t: t.track_id) if t.missed_rounds == 0 and not t.lost]

    def _flow(self, grey: np.ndarray) -> None:
        if self._prev_grey is None or not self.tracks or self._prev_grey.shape != grey.shape:
            return
        prev_pts = np.concatenate([t.points for t in self.tracks])
        flat = prev_pts.reshape(-1, 2)
        # the origin on a multiple of 16, so that every pyramid level samples the same pixels as the whole frame's
        x0, y0 = (np.maximum(np.floor(flat.min(0)) - FLOW_MARGIN, 0) // 16 * 16).astype(int)
        x1, y1 = np.minimum(np.ceil(flat.max(0)) + FLOW_MARGIN, (grey.shape[1], grey.shape[0])).astype(int)
        if x1 - x0 < 32 or y1 - y0 < 32:  # the points left the frame: the whole frame, as flow reports them lost
            x0, y0, x1, y1 = 0, 0, grey.shape[1], grey.shape[0]
        offset = np.array([x0, y0], np.float32)
        next_pts, status, error = cv2.calcOpticalFlowPyrLK(self._prev_grey[y0:y1, x0:x1], grey[y0:y1, x0:x1],
                                                       prev_pts - offset, None, winSize=(21, 21), maxLevel=3)
        next_pts = next_pts + offset
        status, error = status.reshape(-1).astype(bool), error.reshape(-1)
        for i, track in enumerate(self.tracks):
            if track.lost:
                continue  # its points stay where the face was last seen, for the next detection to match
            sl = slice(9 * i, 9 * i + 9)
            ok = status[sl]
            if ok.sum() < 3 or np.median(error[sl][ok]) > LOST_FLOW_ERROR:
                track.lost = True  # the face is gone from under its points (a cut, it left, something hides it)
                continue
            old, new = prev_pts[sl].reshape(-1, 2), next_pts[sl].reshape(-1, 2)
            # A robust similarity fit over the points that tracked; the rest follow it.
            matrix, _ = cv2.estimateAffinePartial2D(old[ok], new[ok], method=cv2.LMEDS)
            if matrix is None:
                shift = np.median(new[ok] - old[ok], axis=0)
                moved = old + shift
            else:
                scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
                if not 1 / MAX_SCALE_STEP <= scale <= MAX_SCALE_STEP:
                    track.lost = True
                    continue
                moved = old @ matrix[:, :2].T + matrix[:, 2]
            detection = _from_points(moved, track.detection.score, grey.shape)
            if detection is None:
                track.lost = True
                continue
            track.points, track.detection = moved.astype(np.float32).reshape(-1, 1, 2), detection
