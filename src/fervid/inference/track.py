"""Following faces over time: IoU matching on detection frames, optical flow in between.

Detection runs every ~0.3 s (it is the expensive stage); on the frames in between each track's landmarks are
carried along by pyramidal Lucas-Kanade optical flow, so every processed frame has an aligned face. A track
survives :data:`MISS_SECONDS` without a match (a blink, a hand in front of the face), keeping its id.

Each track also keeps its face's own motion, measured while it is seen for sure (matched in the last round, no
other face close by). Flow on a face that another face passes in front of, or that a round missed, may follow
whatever covers it, so such a face is expected where its own motion would have taken it as well as where flow
has it, and it has no rows while the two disagree. Faces matched in the last round choose their detections
first. When flow loses a face (a scene cut, the face gone, the box squeezed out of the frame, the face turned faster
than a head turns where the picture jumped: :data:`MAX_TURN_SPEED`), the track is not
shown again until a detection finds it, where its motion would have taken it or, unless it left the frame or
another face is there, where it was lost: no row is made up for a face that is not there.

Frames analysed further apart (--sample-fps) get flow that reaches further (:func:`flow_levels`); a face flow loses
on a picture that did not move is looked for by its own picture nearby and followed from there
(:meth:`FaceTracker._found_again`), and a face found in one round only is looked for within a walk of where it was
(:meth:`FaceTracker._within_a_walk`). Frames given
with their times are as far apart as the time between them (a variable-frame-rate recording's stretch with no
frames, frames dropped: :meth:`FaceTracker._clock`), and a face flow lost across such a stretch is looked for within
a walk of where it was too. Where flow
loses faces while the whole picture moved (a camera bump, :func:`camera_shift`), flow starts again from where the
shift puts them, and the faces it does not follow move with the picture.
"""

from __future__ import annotations

import importlib
import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np

from fervid.inference.detect import Detection, box_area, iou, left_to_right, score_rank
from fervid.inference.records import TIME_DECIMALS


@dataclass
class Track:
    """A face followed over time; ``detection`` is its current box and landmarks."""

    track_id: int
    detection: Detection
    first_frame: int
    last_detected_frame: int
    points: np.ndarray = field(repr=False)  # landmarks + box corners, for optical flow
    missed_rounds: int = 0
    rounds_matched: int = 1  # detection rounds that found it (its first included)
    # The face's own motion: its box on anchor_frame, the last frame where it was seen for sure (a whole-frame
    # detection matched it, or flow carried it with nothing over it since such a match), and its velocity then
    # (pixels per frame, smoothed over VELOCITY_FRAMES). Where it is not seen for sure (another face passes in
    # front of it, a round missed it, flow lost it) it is expected where that motion takes it.
    velocity: tuple[float, float] = (0.0, 0.0)
    velocity_measured: bool = False  # a sample was taken: until then its velocity is not known, not zero
    anchor_box: tuple = ()
    anchor_frame: int = -1
    clear_size: tuple = ()  # (w, h) of its box when last seen with no other face close by
    lost: bool = False  # flow lost the face since its last detection: no box until a detection finds it again
    # flow has followed the face with no other face close by since a detection matched it: flow then anchors its
    # motion (after a face passed close, flow may lag or lead until a detection places it again)
    flow_sure: bool = False
    left_frame: bool = False  # lost at or past the frame's edge (or its box turned over): it left the picture
    # flow lost it on a frame that came after frames that did not (a variable-frame-rate recording's stretch with no
    # frames, frames dropped): the face moved unseen for that time, and is looked for within a walk of where it was
    lost_unseen: bool = False
    # when a detection last matched it (seconds: the frame's time where frames come with theirs, else its index at
    # the tracker's fps), for how long it went unseen (FaceTracker.miss_seconds)
    last_detected_time: float = 0.0

    def detected(self, frame_index: int, detection: Detection, motion: bool = True, velocity: bool = True) -> None:
        """Matched to ``detection`` on ``frame_index``: the box, its points and (``motion``) where it anchors its
        motion, and (``velocity``) a sample of its velocity. A closer look's detection leaves the motion alone, as
        does one of a face another face is passing in front of whose box shrank: it may be the part still in
        view, and motion measured from it lost a face hidden by a passer-by; next to another face, its box may be
        losing a little to the face in front of it frame by frame, which read as the face slowing down."""
        if motion:
            self.moved_to(frame_index, detection.box, velocity)
        self.detection, self.points = detection, _points(detection)
        self.last_detected_frame, self.missed_rounds, self.lost, self.left_frame = frame_index, 0, False, False
        self.lost_unseen = False
        self.rounds_matched += 1

    def moved_to(self, frame_index: int, box: tuple, velocity: bool = True) -> None:
        """Seen for sure at ``box`` on ``frame_index``: the anchor of its motion, and a sample of its velocity
        since the last anchor. A sample over :data:`VELOCITY_FRAMES` or more (a face seen again after a round or
        more) replaces the velocity; a shorter one (a frame of flow) is averaged half and half with it, which
        follows a face that starts walking within a few frames; the first sample is taken as it is (averaged with
        the zero it had, a face walking past at --sample-fps 5 was expected half-way behind). A detection on the
        frame flow already anchored moves the anchor only."""
        if velocity and self.anchor_box and frame_index > self.anchor_frame >= 0:
            frames = frame_index - self.anchor_frame
            weight = 1.0 if frames >= VELOCITY_FRAMES or not self.velocity_measured else 0.5
            self.velocity = tuple((1 - weight) * self.velocity[i]
                                  + weight * (box[i] - self.anchor_box[i]) / frames for i in (0, 1))
            self.velocity_measured = True
        self.anchor_box, self.anchor_frame = box, frame_index

    def predicted_box(self, frame_index: int) -> tuple | None:
        """Where the face's own motion takes its last sure box by ``frame_index``; None before its first."""
        if not self.anchor_box or self.anchor_frame < 0:
            return None
        frames = frame_index - self.anchor_frame
        x, y, w, h = self.anchor_box
        w, h = self.clear_size or (w, h)
        return (x + self.velocity[0] * frames, y + self.velocity[1] * frames, w, h)

    def expected_boxes(self, frame_index: int, crowded: bool = False) -> list[tuple]:
        """Where to look for this face on a detection frame: where flow carried it and where its own motion
        would have taken it (flow may have followed a face passing in front of it, whose detection it then took:
        two people crossing swapped ids). Once flow has lost it, where its motion would have taken it, and where
        it was lost (a face hidden for a moment comes back there) unless it left the frame there (someone else
        stepping in where a person just left is someone new) or another face is ``crowded`` around that place
        (someone walking past stood there when the next round came)."""
        predicted = self.predicted_box(frame_index)
        if predicted is None:
            return [self.detection.box]
        if self.lost and (self.left_frame or crowded):
            return [predicted]
        return [self.detection.box, predicted]

    def flow_agrees(self, frame_index: int) -> bool:
        """Whether flow has the face about where its own motion would have taken it (centres within
        :data:`AGREEMENT` of its width): flow that left its motion far behind may be following something else."""
        predicted = self.predicted_box(frame_index)
        if predicted is None:
            return True
        (x, y, w, h), (px, py, pw, ph) = self.detection.box, predicted
        return bool(np.hypot(x + w / 2 - px - pw / 2, y + h / 2 - py - ph / 2) <= AGREEMENT * max(pw, 1.0))


@dataclass(frozen=True)
class TrackedFace:
    """Where track ``track_id`` is on one frame; ``detected`` is False when the box came from optical flow."""

    track_id: int
    frame_index: int
    detection: Detection
    detected: bool


# Lucas-Kanade's pyramid levels between consecutive frames: it follows up to about 80 px of motion (30 px a frame
# at 25 fps is a head crossing a 640 px frame in 0.6 s).
FLOW_LEVELS = 3
# the most levels between frames far apart (:func:`flow_levels`)
MAX_FLOW_LEVELS = 6
# Optical flow runs on the region around the tracked points, this far beyond them at FLOW_LEVELS (twice as far for
# each level more): the coarsest pyramid level's window (21 px at 1/8 scale, 84 px each side) plus the largest
# motion LK follows between frames. Building the pyramids of a whole 1080p frame cost more than the flow itself.
FLOW_MARGIN = 240
# Lucas-Kanade's error (mean absolute grey difference over a point's window) above which the points no longer
# follow the face they started on: at most 4.9 on the carphone sample's face, 0.2 on clips the tests make; 37 to
# 147 where the face was cut to another scene or removed.
LOST_FLOW_ERROR = 20.0
# the most a face's size changes between two frames before flow is taken to have slipped off it
MAX_SCALE_STEP = 1.4
# the fastest (degrees a second) flow may turn a face in the picture's plane before it is taken to have slipped off
# it: 10 degrees between frames at 30 fps. The carphone sample's head turned at most 2.1 degrees a frame; where the
# sample looped back to its start (a hard jump, the same car, the face elsewhere, no cut told) flow turned its
# points 12-25 degrees in one frame, and its box, turned with them, drifted off the face (343x405 to 475x305 over
# 0.37 s, read as sad) while the next round's detection started a second track on the face
MAX_TURN_SPEED = 300.0
# the least of a flow-carried box that must stay in the frame for a face to be there
MIN_INSIDE = 0.5
# how far (in face widths) flow may carry a face from where its own motion would have taken it and still be taken
# to follow it when nothing confirms it (a round missed it, or another face's box lies over it)
AGREEMENT = 0.25
# how far around a face's box (in its widths and heights) another face counts as passing in front of it
NEAR = 0.5
# a box this much smaller than the face's last sure box, next to another face, may show only part of the face
SHRUNK = 0.85
# a velocity measured over this many frames (about a detection round at the default 0.3 s, 25-30 fps) is taken as
# it is; one over fewer is averaged with the last
VELOCITY_FRAMES = 8
# camera_shift: the width of the small copies it compares (1/6 of 1080p: a bump of 60 px is 10 px there), the
# least spread of grey levels (of 255) a tile must show to say where it moved, the tiles of 9 that must show
# something and agree, and how closely (copy pixels)
CAMERA_COPY_WIDTH = 320
CAMERA_TEXTURE = 8.0
CAMERA_TILES = 6
CAMERA_AGREEMENT = 1.0
# how fast a face found in one round only may have walked (in its own widths per second: a walk across the picture
# is the same number of face widths a second near or far from the camera; the probe's teacher walked 4, a brisk
# walk of 1.4 m/s past a 15 cm wide face is 9) to be the face a later round finds nearby
WALKING_SPEED = 6.0
# A face flow lost is looked for by its picture (FaceTracker._found_again) this fast (in its own widths a second, as
# WALKING_SPEED): further than a walk, as its picture is its check; a face that got up and left at 9 widths a
# second, and one that came to sit down at 9, were lost at --sample-fps 5 with 6
FOUND_SPEED = 12.0
# found_nearby: the width (pixels) a face's picture is compared at, and the least normalised cross-correlation with
# which its picture found elsewhere is taken for it: 0.90-1.0 for faces that moved (walking, crossing, at
# --sample-fps 5), 0.74 or less where the face was hidden, turned away, gone or cut to another shot
FOUND_WIDTH = 40
FOUND_CORRELATION = 0.8
# with max_faces, how much larger in area a face found must be than the smallest face followed to take its place, and
# in how many detection rounds a face followed must have been found to keep its place whatever comes (until it is
# gone: unseen for miss_seconds). A face found in fewer (a false detection, a poster seen before the participant
# sat down) gives way; one found in more is the face the run follows: a photo scrolling into a shared screen (6
# times a webcam's face) took the participant's place, and with max_faces 1 her track number, on the other side of
# the picture
LARGER_FACE = 1.5
ESTABLISHED_ROUNDS = 3
# with max_faces 1, how much smaller in area than the face followed a face found while it is away may be and still
# be taken: someone behind a participant is much smaller (a third of the width: a ninth of the area), the
# participant back after leaning back or moving the camera a little smaller (at two-thirds the area they were lost)
AWAY_SMALLER = 3.0


def flow_levels(frames: int) -> int:
    """Pyramid levels for flow between frames ``frames`` apart: a level more (twice LK's reach) for each doubling,
    as a face moves that much further. At --sample-fps 5 of a 25 fps video (5 frames apart), a teacher walking
    across a 1080p classroom moved 120 px between analysed frames, 3 levels lost him every frame, and each
    detection round started a new track; 6 follow him."""
    return min(FLOW_LEVELS + max(int(np.ceil(np.log2(max(frames, 1)))), 0), MAX_FLOW_LEVELS)


def _shrunk(box: tuple, track: Track) -> bool:
    """Whether ``box`` is markedly narrower or shorter than the face's box when last seen clear of other faces
    (:data:`SHRUNK`): part of the face may be hidden."""
    if not track.clear_size:
        return False
    return box[2] < SHRUNK * track.clear_size[0] or box[3] < SHRUNK * track.clear_size[1]


def _at_edge(box: tuple, frame_shape: tuple[int, ...]) -> bool:
    """Whether a (frame-clipped) box touches the frame's edge: a face there is leaving or entering the picture."""
    x, y, w, h = box
    return x <= 1 or y <= 1 or x + w >= frame_shape[1] - 1 or y + h >= frame_shape[0] - 1


def _shifted_box(box: tuple, shift: tuple[float, float]) -> tuple:
    x, y, w, h = box
    return (x + shift[0], y + shift[1], w, h)


def camera_shift(before: np.ndarray, after: np.ndarray) -> tuple[float, float] | None:
    """How far the whole picture moved from grey frame ``before`` to ``after`` (x, y in pixels), or None where it
    did not move as one: the shift measured by phase correlation on each of the 3x3 tiles of small copies must
    agree (within :data:`CAMERA_AGREEMENT` copy pixels) on :data:`CAMERA_TILES` tiles or more that show something
    (a plain wall says nothing; where only faces show, their own motion is no camera's)."""
    scale = CAMERA_COPY_WIDTH / before.shape[1]
    size = (CAMERA_COPY_WIDTH, max(round(before.shape[0] * scale), 3))
    small = [cv2.resize(g, size, interpolation=cv2.INTER_AREA).astype(np.float32) for g in (before, after)]
    th, tw = size[1] // 3, size[0] // 3
    window = cv2.createHanningWindow((tw, th), cv2.CV_32F)
    shifts = []
    for i in range(3):
        for j in range(3):
            a, b = (s[i * th:(i + 1) * th, j * tw:(j + 1) * tw] for s in small)
            if a.std() >= CAMERA_TEXTURE and b.std() >= CAMERA_TEXTURE:
                shifts.append(cv2.phaseCorrelate(a, b, window)[0])
    if len(shifts) < CAMERA_TILES:
        return None
    median = np.median(shifts, axis=0)
    if sum(np.hypot(*(np.subtract(s, median))) <= CAMERA_AGREEMENT for s in shifts) < CAMERA_TILES:
        return None
    return float(median[0] / scale), float(median[1] / scale)


def found_nearby(before: np.ndarray, after: np.ndarray, box: tuple, reach: float) -> tuple[float, float] | None:
    """How far the picture in ``box`` of grey frame ``before`` moved in ``after`` (x, y in pixels), found within
    ``reach`` pixels of where it was by normalised cross-correlation (on copies where the box is
    :data:`FOUND_WIDTH` wide); None where nothing there correlates with it :data:`FOUND_CORRELATION` or more (the
    face hidden, turned, gone), or the box shows nothing (a plain patch matches anywhere)."""
    x, y, w, h = (int(round(v)) for v in box)
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, before.shape[1]), min(y + h, before.shape[0])
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    reach = int(np.ceil(reach))
    sx0, sy0 = max(x0 - reach, 0), max(y0 - reach, 0)
    sx1, sy1 = min(x1 + reach, after.shape[1]), min(y1 + reach, after.shape[0])
    scale = min(1.0, FOUND_WIDTH / (x1 - x0))
    template, region = (cv2.resize(im, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else im
                        for im in (before[y0:y1, x0:x1], after[sy0:sy1, sx0:sx1]))
    if template.std() < CAMERA_TEXTURE or any(r < t for r, t in zip(region.shape, template.shape)):
        return None
    scores = cv2.matchTemplate(region, template, cv2.TM_CCOEFF_NORMED)
    _, best, _, (bx, by) = cv2.minMaxLoc(scores)
    if best < FOUND_CORRELATION:
        return None
    return float(sx0 + bx / scale - x0), float(sy0 + by / scale - y0)


def _points(det: Detection) -> np.ndarray:
    x, y, w, h = det.box
    corners = [(x, y), (x + w, y), (x, y + h), (x + w, y + h)]
    return np.asarray(list(det.landmarks) + corners, dtype=np.float32).reshape(-1, 1, 2)


def _from_points(pts: np.ndarray, detection: Detection, frame_shape: tuple[int, int]) -> Detection | None:
    """The ``detection`` flow carried to ``pts``: its box clipped to the frame, as the detector clips its boxes (a face
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
    return Detection((float(x0), float(y0), float(x1 - x0), float(y1 - y0)), landmarks, detection.score,
                     detection.turns)


# how long a track may go without a detection (its face hidden, turned away, missed) and keep its number: 3 rounds at
# the default --detect-every 0.3; or MISS_ROUNDS rounds where they are further apart (one missed round must not
# split a track)
MISS_SECONDS = 0.9
MISS_ROUNDS = 3


def miss_seconds(detect_every: float) -> float:
    """How long a track may go without a detection with detection every ``detect_every`` s: :data:`MISS_SECONDS`,
    or :data:`MISS_ROUNDS` rounds where that is longer (3 s at --detect-every 1)."""
    return max(MISS_SECONDS, MISS_ROUNDS * detect_every)


# frames over which the rate frames arrive at is taken (their median spacing): a second at 15 fps
RATE_WINDOW = 15


class FaceTracker:
    """Assigns stable ids to faces across frames.

    ``iou_threshold``: least overlap between a track's box and a new detection to be the same face.
    ``miss_seconds``: how long a track may go without a detection (kept moving by flow, or lost) before it ends,
    by the frames' times (their indices at ``fps`` where none are given), whatever the rate frames are analysed at.
    ``max_faces``: at most this many tracks at once, new ones from the largest faces found; a face followed for
    :data:`ESTABLISHED_ROUNDS` keeps its place until it is gone, and a newer one gives way to a face
    :data:`LARGER_FACE` its area (:meth:`_make_room`; each time in :attr:`replaced_faces`). With 1, every track has
    one number (one face followed through a video: a participant who looks away and back is not a new person), the
    next one where a face gave way to another, and while the face followed is away a much smaller one (a person
    behind them; :data:`AWAY_SMALLER`) is not taken in its place, for up to ``forget_rounds`` detection rounds or
    until a scene cut ends its track. None: every face.
    ``fps``: the frame indices' rate (the video's), for how far a face may walk between two of them.

    Frames given with their ``time`` are placed on the tracker's clock by it: where frames did not come (a
    variable-frame-rate recording's still stretch, frames dropped), the frames that did are further apart than their
    indices say, and every allowance for motion (flow's reach, where a face's motion takes it, how far it may have
    walked) is for the time that passed (:meth:`_clock`). At a constant rate, or sampled (--sample-fps), the clock
    is the frame index.
    """

    def __init__(self, iou_threshold: float = 0.3, miss_seconds: float = MISS_SECONDS, max_faces: int | None = None,
                 forget_rounds: int = 100, fps: float = 25.0):
        # scipy.optimize loaded with the tracker, before any frame: loaded at the first frame with two faces, deep
        # in a video, it starts OpenBLAS, which under a memory cap spun at full CPU for ever retrying its allocation
        # (or failed as an ImportError, not said as memory); here, a failure comes before anything is analysed
        importlib.import_module("scipy.optimize")
        self.iou_threshold = iou_threshold
        self.fps = fps
        self.miss_seconds = miss_seconds
        self.max_faces = max_faces
        self.forget_rounds = forget_rounds
        self._followed_area = 0.0  # max_faces 1: the box area of the face followed last
        self._rounds_away = 0  # max_faces 1: detection rounds since a face was last followed
        self.tracks: list[Track] = []
        self._next_id = 1
        self._prev_grey = np.zeros((0, 0), np.uint8)  # the last frame's grey picture (none yet: empty)
        self._prev_index = 0  # the clock (:meth:`_clock`) of _prev_grey
        self._last_frame: tuple[int, float] | None = None  # the last frame's (index, time), where times are given
        self._skipped = 0.0  # frames whose time passed without them coming (:meth:`_clock`)
        self._unseen = False  # frames did not come just before this one
        self._recent_steps: deque[float] = deque(maxlen=RATE_WINDOW)  # seconds per frame index, as delivered
        # with max_faces: each time a face followed gave way to a larger one (_make_room), {"time", "track" (ended),
        # "new_track", "area_ratio", "why"}
        self.replaced_faces: list[dict] = []

    def _clock(self, frame_index: int, time: float | None) -> int:
        """Where frame ``frame_index``, shown at ``time`` seconds (None: not known), is on the tracker's clock: its
        index, plus the frames whose time passed without them coming (the time since the frame before, at ``fps``,
        less the frames between their indices, where that is half a frame or more; rounded to a frame). A phone's
        screen recording with no frames for 0.6 s while the face moved 50 px had the face judged as if it moved that
        far in 1/30 s: flow with 3 levels lost it, its motion was not carried on, and it came back as a new track."""
        self._unseen = False
        if time is not None:
            if self._last_frame is not None and frame_index > self._last_frame[0]:
                index, before = self._last_frame
                steps = frame_index - index
                missing = (time - before) * self.fps - steps
                if missing >= 0.5:  # a frame's time or more passed without it (not a constant rate's jitter)
                    self._skipped += missing
                # Frames missing against the rate frames have been coming at: a camera that reports 30 fps and
                # delivers 15 had every frame taken for one after a gap, and faces flow lost looked for as if
                # they had vanished for a while (:meth:`_within_a_walk`).
                delivered = max(statistics.median(self._recent_steps), 1 / self.fps) if self._recent_steps \
                    else 1 / self.fps
                self._unseen = (time - before) / delivered - steps >= 0.5
                self._recent_steps.append((time - before) / steps)
            self._last_frame = (frame_index, time)
        return frame_index + round(self._skipped)

    def update(self, frame_index: int, grey: np.ndarray, detections: list[Detection],
               look_again: Callable[[tuple], list[Detection]] | None = None,
               time: float | None = None) -> list[TrackedFace]:
        """A detection frame: match detections to tracks (Hungarian on IoU with where each face is expected),
        start new tracks, end stale ones.

        ``look_again(box)``: detections in the region around ``box`` (a closer look than the whole frame's). A
        track the frame's detections missed while flow still follows it is looked for there: a detector that
        misses a face now and then (a few rounds in a row, for some faces) left visible faces without rows and
        split them into two tracks. What it finds counts only where no other track or detection is.

        ``time``: when the frame was shown (seconds), for the time that passed since the frame before
        (:meth:`_clock`)."""
        index, frame_index = frame_index, self._clock(frame_index, time)
        self._flow(grey, frame_index)  # move tracks to this frame first, so matching compares like with like
        matched_tracks, matched_dets = set(), set()
        covered = self._covered_mask()
        # Faces seen in the last round choose first, then the ones a round missed or flow lost, among the
        # detections left: where two people cross, the one behind is expected where the one in front now is.
        # A face seen in the last round scores a detection by how well it lies both where flow has the face and
        # where its motion takes it (at the moment two people pass, the one behind is expected where the one in
        # front is seen, and flow on the one in front still has it there); the others by the better of their
        # expected boxes. Either way a detection is a face's only where one of them overlaps it enough.
        seen = [r for r, t in enumerate(self.tracks) if not (t.lost or t.missed_rounds)]
        unsure = [r for r, t in enumerate(self.tracks) if t.lost or t.missed_rounds]
        for level, both_cues in ((seen, True), (unsure, False)):
            free = [c for c in range(len(detections)) if c not in matched_dets]
            if not level or not free:
                continue
            overlaps = [[[iou(box, detections[c].box) for box in expected] for c in free]
                        for expected in (self.tracks[r].expected_boxes(frame_index, covered[r]) for r in level)]
            best = np.array([[max(o) for o in row] for row in overlaps])
            score = np.array([[sum(o) for o in row] for row in overlaps]) if both_cues else best.copy()
            score[best < self.iou_threshold] = 0.0  # a pair that cannot match must not steer the others
            # imported here, not at the module's top: the command line reads this module's constants for its
            # --help, and scipy.optimize takes half a second to load (the tracker loaded it already)
            from scipy.optimize import linear_sum_assignment

            for i, j in zip(*linear_sum_assignment(-score)):
                if best[i, j] >= self.iou_threshold:
                    r, c = level[i], free[j]
                    self._take(frame_index, self.tracks[r], detections[c], covered[r])
                    matched_tracks.add(r)
                    matched_dets.add(c)
        for r, c in self._within_a_walk(frame_index, detections, matched_tracks, matched_dets, grey.shape):
            self._take(frame_index, self.tracks[r], detections[c], covered[r])
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
                    track.detected(frame_index, max(found, key=score_rank), motion=False)
                    # its box may be a part-hidden face's, off its anchor: flow measured from it would read the
                    # difference as motion; a whole-frame match anchors it again
                    track.flow_sure = False
                    matched_tracks.add(r)
        for r, track in enumerate(self.tracks):
            if r not in matched_tracks:
                track.missed_rounds += 1
        # Unseen for longer than miss_seconds, by the frames' times, ends a track: counted in rounds (3), a track at
        # --sample-fps 5 outlived its third missed round 1.0 s after its last detection (rounds fall on frames 0.2 s
        # apart), and took a face that came to its place 1.2 s on (one person crossing into another's). A round falls
        # on the frame nearest its due time: a frame's leeway. (Not the clock's frames: a recording delivering 30
        # frames a second whose container says 17.5 had them count as 1/17.5 s each.)
        now = time if time is not None else frame_index / self.fps
        for r in matched_tracks:
            self.tracks[r].last_detected_time = now
        self.tracks = [t for t in self.tracks if now - t.last_detected_time <= self.miss_seconds + 1 / self.fps]
        new = [d for c, d in enumerate(detections) if c not in matched_dets]
        gave_way: list[tuple[Track, Detection]] = []
        if self.max_faces is not None:
            new, gave_way = self._make_room(new, self.max_faces)
            if gave_way and self.max_faces == 1:
                self._next_id += 1  # another face is followed from here: under a number of its own
        # faces first seen together are numbered as an image's faces are
        numbers = {}
        for det in left_to_right(new):
            numbers[id(det)] = self._next_id
            self.tracks.append(Track(self._next_id, det, frame_index, frame_index, _points(det),
                                     anchor_box=det.box, anchor_frame=frame_index, clear_size=det.box[2:],
                                     flow_sure=True, last_detected_time=now))
            if self.max_faces != 1:
                self._next_id += 1
        for old, det in gave_way:
            ratio = box_area(det.box) / max(box_area(old.detection.box), 1e-9)
            self.replaced_faces.append({
                "time": round(now, TIME_DECIMALS), "track": old.track_id, "new_track": numbers[id(det)],
                "area_ratio": round(ratio, 2),
                "why": f"a face {ratio:.1f} times its area was found while track {old.track_id} was new (found in "
                       f"{old.rounds_matched} detection round(s), under {ESTABLISHED_ROUNDS}), and at most "
                       f"{self.max_faces} face(s) are followed"})
        self._prev_grey, self._prev_index = grey, frame_index
        return [TrackedFace(t.track_id, index, t.detection, t.last_detected_frame == frame_index)
                for t in self._shown(frame_index)]

    @staticmethod
    def _take(frame_index: int, track: Track, detection: Detection, covered: bool) -> None:
        """``track`` matched ``detection`` in this round; ``covered``: another face is close enough to pass in front."""
        if covered:
            # its whole box, seen again: the anchor, and a velocity sample over a round (frame to frame, a face being
            # covered from one side drifts); part of it: neither
            whole = not _shrunk(detection.box, track)
            sample = whole and track.missed_rounds == 0 and frame_index - track.anchor_frame >= VELOCITY_FRAMES
            track.detected(frame_index, detection, whole, velocity=sample)
        else:
            track.detected(frame_index, detection)
            track.clear_size = detection.box[2:]
        track.flow_sure = not covered

    def _within_a_walk(self, frame_index: int, detections: list[Detection], matched_tracks: set,
                       matched_dets: set, frame_shape: tuple[int, ...]) -> list[tuple[int, int]]:
        """(track, detection) pairs for faces found in the last round only that flow lost at once: with no motion of
        their own yet, such a face is taken to be the unclaimed detection of about its size nearest to where it was
        found, within :data:`WALKING_SPEED` of it. At --sample-fps 5 a face walking past moved its own width or
        more between analysed frames, flow lost it, and each round started a new track. (A face followed longer
        has a motion to be looked for by: one that left the frame is not looked for where it left, as someone
        stepping in there is someone new.) A box cut by the frame's edge (a face coming in) is compared by its
        height alone, and how far it may have walked by that.

        So is a face that flow lost where frames did not come (:attr:`Track.lost_unseen`), unless it was lost at
        the frame's edge: its motion before may say little of where it went in that time (a phone's screen
        recording with no frames for 0.6-0.9 s, the face 60-85 px on, its width 100: a new track each time)."""
        pairs = []
        for r, track in enumerate(self.tracks):
            if r in matched_tracks or not track.lost or track.missed_rounds:
                continue
            if track.velocity_measured and not (track.lost_unseen and not track.left_frame):
                continue
            x, y, w, h = track.anchor_box
            cut = _at_edge(track.anchor_box, frame_shape)
            size = h if cut else w
            reach = WALKING_SPEED * size * (frame_index - track.anchor_frame) / self.fps
            for c, detection in enumerate(detections):
                dx, dy, dw, dh = detection.box
                distance = np.hypot(dx + dw / 2 - x - w / 2, dy + dh / 2 - y - h / 2)
                ratios = (dh / h, h / dh) if cut or _at_edge(detection.box, frame_shape) else (dw / w, w / dw, dh / h,
                                                                                                h / dh)
                if c not in matched_dets and distance <= reach and max(ratios) <= MAX_SCALE_STEP:
                    pairs.append((distance / size, r, c))
        taken: list[tuple[int, int]] = []
        for _, r, c in sorted(pairs):  # nearest first
            if all(r != tr and c != tc for tr, tc in taken):
                taken.append((r, c))
        return taken

    def _make_room(self, candidates: list[Detection], max_faces: int
                   ) -> tuple[list[Detection], list[tuple[Track, Detection]]]:
        """Of the faces no track has, those given tracks under ``max_faces``: while there is room, the largest; once
        full, one clearly larger than the smallest face followed (by LARGER_FACE in area) takes its place if that
        face is new (found in fewer than ESTABLISHED_ROUNDS rounds), so a false detection or a passer-by that came
        first does not keep the face the camera is on out, and two faces of about one size do not take turns. A face
        followed longer keeps its place until it is gone, whatever comes: a larger face that appears meanwhile (a
        photo on a shared screen, someone leaning into the picture) is not followed. Returns the faces taken, and
        the tracks that gave way (now ended) with the face that took each one's place."""
        if max_faces == 1:
            if self.tracks:
                self._followed_area, self._rounds_away = box_area(self.tracks[0].detection.box), 0
            else:
                self._rounds_away += 1
                if self._rounds_away > self.forget_rounds:  # gone for good: whoever comes is the one to follow
                    self._followed_area = 0.0
        taken: list[Detection] = []
        gave_way: list[tuple[Track, Detection]] = []
        for det in sorted(candidates, key=lambda d: -box_area(d.box)):
            if max_faces == 1 and AWAY_SMALLER * box_area(det.box) < self._followed_area:
                break  # someone much smaller than the face followed: not the one the camera is on
            if len(self.tracks) + len(taken) >= max_faces:
                smallest = min((t for t in self.tracks if t.rounds_matched < ESTABLISHED_ROUNDS),
                               key=lambda t: box_area(t.detection.box), default=None)
                if smallest is None or box_area(det.box) < LARGER_FACE * box_area(smallest.detection.box):
                    break
                self.tracks.remove(smallest)
                gave_way.append((smallest, det))
            taken.append(det)
        return taken, gave_way

    def cut(self, unchanged_around: Callable[[tuple], bool] = lambda box: False) -> tuple[list[int], list[int]]:
        """A scene cut: the tracks whose surroundings changed end (their numbers are not given again, unless
        ``max_faces`` is 1), and those for which ``unchanged_around(box)`` says the picture around the face's box is
        the one it was go on (a webcam shown picture-in-picture over a screen recording whose page changed). A face
        of the new shot is someone new to the tracker, even where it sits where a face of the last shot sat. Returns
        the ids of the tracks ended and of those kept."""
        going_on = [unchanged_around(t.detection.box) for t in self.tracks]
        ended = [t.track_id for t, on in zip(self.tracks, going_on) if not on]
        self.tracks = [t for t, on in zip(self.tracks, going_on) if on]
        if not self.tracks:  # with max_faces 1: the face followed is gone with its shot, and whoever comes is followed
            self._followed_area, self._rounds_away = 0.0, 0
        return ended, [t.track_id for t in self.tracks]

    def propagate(self, frame_index: int, grey: np.ndarray, time: float | None = None) -> list[TrackedFace]:
        """A frame between detections: carry every live, currently seen track along by optical flow (``time``: as
        for :meth:`update`)."""
        index, frame_index = frame_index, self._clock(frame_index, time)
        self._flow(grey, frame_index)
        self._prev_grey, self._prev_index = grey, frame_index
        return [TrackedFace(t.track_id, index, t.detection, False) for t in self._shown(frame_index)]

    def _shown(self, frame_index: int) -> list[Track]:
        """The tracks whose face is on this frame, by id: detected this round, or carried by flow that still
        follows it. Flow is trusted while its face was found in the last round and no other face is close by
        (:meth:`_covered_mask`); otherwise (a round missed it: the detector slipped, or something hides it; another face passes in
        front of it) only while it agrees with the face's own motion. A face hidden by someone walking past had
        rows of the passer-by's face, and a visible face a round missed lost its rows until the next round."""
        shown = []
        for t, covered in zip(self.tracks, self._covered_mask()):
            if t.lost:
                continue
            # a face found in one round only, then missed, has no motion of its own to agree with: flow on a face
            # glimpsed beside another, then gone, stayed on the other face, and on a false detection's background
            if (t.last_detected_frame == frame_index or not (t.missed_rounds or covered)
                    or (t.flow_agrees(frame_index) and (t.missed_rounds == 0 or t.rounds_matched > 1))):
                shown.append(t)
        return sorted(shown, key=lambda t: t.track_id)

    def _flow(self, grey: np.ndarray, frame_index: int) -> None:
        if not self.tracks or self._prev_grey.shape != grey.shape:
            return
        live = [t for t in self.tracks if not t.lost]
        self._carry(grey, frame_index - self._prev_index)
        for t in live:
            t.lost_unseen = t.lost and self._unseen
        # a face flow follows since its last match, with no other face's box over it, is seen for sure there
        for t, covered in zip(self.tracks, self._covered_mask()):
            t.flow_sure = t.flow_sure and not t.lost and t.missed_rounds == 0 and not covered
            if t.flow_sure:
                t.moved_to(frame_index, t.detection.box)
                t.clear_size = t.detection.box[2:]

    def _covered_mask(self) -> np.ndarray:
        """For each track, whether another live track's face is close enough to pass in front of it: their boxes,
        each widened by :data:`NEAR` of its size on every side (a head is larger than its face's box), meet. Flow on
        a face that another face is sliding over follows the one in front while the boxes barely overlap. One
        array operation for all pairs (a 1080p crowd of 120 faces took 60 ms a frame pair by pair)."""
        if len(self.tracks) < 2:
            return np.zeros(len(self.tracks), bool)
        x, y, w, h = np.array([t.detection.box for t in self.tracks], np.float64).T
        x0, y0, x1, y1 = x - NEAR * w, y - NEAR * h, x + w * (1 + NEAR), y + h * (1 + NEAR)
        meet = ((np.minimum(x1[:, None], x1[None]) > np.maximum(x0[:, None], x0[None]))
                & (np.minimum(y1[:, None], y1[None]) > np.maximum(y0[:, None], y0[None])))
        live = ~np.array([t.lost for t in self.tracks])
        np.fill_diagonal(meet, False)
        return (meet & live[None]).any(1)

    def _carry(self, grey: np.ndarray, frames: int) -> None:
        """Every live track's points and box moved by optical flow from the last frame, ``frames`` frames before,
        to ``grey``; a track whose face is no longer under its points is marked lost.

        Where flow lost a face and the whole picture moved (:func:`camera_shift`: a camera bumped, shaking for a few
        frames and left pointing a little aside), flow starts again from where the picture's shift puts the face,
        and the faces flow does not follow (lost, hidden) are moved with the picture: followed from where they
        were, a bump ended the tracks of the smaller faces, and a class's students came back under new numbers."""
        live = [t for t in self.tracks if not t.lost]  # a lost face's points stay where it was last seen
        levels = flow_levels(frames)
        failed = self._follow(live, grey, levels, frames)
        if not failed:
            return
        shift = camera_shift(self._prev_grey, grey)
        if shift is None or np.hypot(*shift) < 1.0:  # the picture did not move: the faces may have
            self._found_again(failed, grey, frames)
            return
        for track in failed:
            track.lost = track.left_frame = False
        self._follow(failed, grey, levels, frames, shift)
        for track in self.tracks:
            # where its own motion takes it is where the picture took it (a bump is no motion of the face's)
            track.anchor_box = _shifted_box(track.anchor_box, shift) if track.anchor_box else track.anchor_box
            if track.lost:
                track.points = track.points + np.asarray(shift, np.float32)
                x, y, w, h = _shifted_box(track.detection.box, shift)
                track.detection = Detection((x, y, w, h), tuple((px + shift[0], py + shift[1])
                                                                for px, py in track.detection.landmarks),
                                            track.detection.score, track.detection.turns)

    def _found_again(self, failed: list[Track], grey: np.ndarray, frames: int) -> None:
        """Of the faces flow lost (``failed``) on a picture that did not move, ``frames`` frames on, those found by
        their own picture (:func:`found_nearby`) within :data:`FOUND_SPEED` of where they were are followed by flow
        from there. Frames further apart than flow reaches (--sample-fps 5: a face that starts walking moved 80 px
        in 0.2 s) lost a face that with every frame analysed flow followed away: its track was looked for where the
        face had been, and someone taking the seat 0.4 s later took its number (flow had lost the newcomer too,
        which with every frame analysed had a track of its own to claim the seat). A picture found on another face
        followed (the face passing in front, or one alike) is not taken, and a face lost at the frame's edge is not
        looked for (it left)."""
        for track in failed:
            if track.left_frame:
                continue
            reach = FOUND_SPEED * track.detection.box[2] * frames / self.fps
            shift = found_nearby(self._prev_grey, grey, track.detection.box, reach)
            if shift is None:
                continue
            moved = _shifted_box(track.detection.box, shift)
            if any(iou(moved, t.detection.box) >= self.iou_threshold for t in self.tracks if t is not track
                   and not t.lost):
                continue  # another face is there
            track.lost = False
            self._follow([track], grey, FLOW_LEVELS, frames, shift)  # from within a pixel or two: no further reach

    def _follow(self, tracks: list[Track], grey: np.ndarray, levels: int, frames: int,
                shift: tuple[float, float] | None = None) -> list[Track]:
        """``tracks``' points and boxes moved by Lucas-Kanade flow (with ``levels`` pyramid levels) to ``grey``,
        ``frames`` frames after the last, starting from where ``shift`` puts them (None: where they were); those it
        loses (the points no longer match, or the face would have grown, shrunk or turned faster than a face does:
        :data:`MAX_SCALE_STEP`, :data:`MAX_TURN_SPEED`) are marked lost and returned."""
        if not tracks:
            return []
        prev_pts = np.concatenate([t.points for t in tracks])
        start = prev_pts if shift is None else prev_pts + np.asarray(shift, np.float32)
        flat = np.concatenate([prev_pts, start]).reshape(-1, 2)
        margin = FLOW_MARGIN << (levels - FLOW_LEVELS)
        # the origin on a multiple of twice the coarsest level's step, so that every pyramid level samples the same
        # pixels as the whole frame's
        align = 2 << levels
        x0, y0 = (np.maximum(np.floor(flat.min(0)) - margin, 0) // align * align).astype(int)
        x1, y1 = np.minimum(np.ceil(flat.max(0)) + margin, (grey.shape[1], grey.shape[0])).astype(int)
        if x1 - x0 < 32 or y1 - y0 < 32:  # the points left the frame: the whole frame, as flow reports them lost
            x0, y0, x1, y1 = 0, 0, grey.shape[1], grey.shape[0]
        offset = np.array([x0, y0], np.float32)
        next_pts, status, error = cv2.calcOpticalFlowPyrLK(
            self._prev_grey[y0:y1, x0:x1], grey[y0:y1, x0:x1], prev_pts - offset, start - offset,
            winSize=(21, 21), maxLevel=levels, flags=cv2.OPTFLOW_USE_INITIAL_FLOW)
        next_pts = next_pts + offset
        status, error = status.reshape(-1).astype(bool), error.reshape(-1)
        failed = []
        max_turn = MAX_TURN_SPEED * max(frames, 1) / self.fps
        for i, track in enumerate(tracks):
            sl = slice(9 * i, 9 * i + 9)
            ok = status[sl]
            if ok.sum() < 3 or np.median(error[sl][ok]) > LOST_FLOW_ERROR:
                # the face is gone from under its points (a cut, it left, something hides it)
                track.lost, track.left_frame = True, _at_edge(track.detection.box, grey.shape)
                failed.append(track)
                continue
            old, new = prev_pts[sl].reshape(-1, 2), next_pts[sl].reshape(-1, 2)
            # A robust similarity fit over the points that tracked; the rest follow it.
            matrix, _ = cv2.estimateAffinePartial2D(old[ok], new[ok], method=cv2.LMEDS)
            if matrix is None:
                moved = old + np.median(new[ok] - old[ok], axis=0)
            else:
                scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
                turn = abs(float(np.degrees(np.arctan2(matrix[1, 0], matrix[0, 0]))))
                if not 1 / MAX_SCALE_STEP <= scale <= MAX_SCALE_STEP or turn > max_turn:
                    track.lost, track.left_frame = True, _at_edge(track.detection.box, grey.shape)
                    failed.append(track)
                    continue
                moved = old @ matrix[:, :2].T + matrix[:, 2]
            detection = _from_points(moved, track.detection, grey.shape)
            if detection is None:
                track.lost = track.left_frame = True
                failed.append(track)
                continue
            track.points, track.detection = moved.astype(np.float32).reshape(-1, 1, 2), detection
        return failed
