"""Face tracking between detections: optical flow on the region around the faces."""

import subprocess
import sys

import cv2
import numpy as np
import pytest

from fervid.inference import track
from fervid.inference.detect import make_detector
from fervid.inference.track import FaceTracker
from fervid.inference.video import sample_video
from conftest import needs_sample_clip


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


@needs_sample_clip
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


def _textured(seed=1):
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 255, (480, 640)).astype(np.uint8), (0, 0), 2)


def _face_at(x, y, size=100, score=0.9):
    from fervid.inference.detect import Detection

    return Detection((x, y, size, size), ((x + 30, y + 40), (x + 70, y + 40), (x + 50, y + 60), (x + 35, y + 80),
                                          (x + 65, y + 80)), score)


def test_a_box_found_in_one_round_only_keeps_no_rows_from_flow_once_missed():
    """A false detection on a still textured background, found once and then never again, kept rows from flow
    alone for four rounds (32 frames: an episode long enough for a key frame)."""
    grey, tracker, rows = _textured(), FaceTracker(), 0
    for i in range(40):
        rows += len(tracker.update(i, grey, [_face_at(200, 150)] if i == 0 else []) if i % 8 == 0
                    else tracker.propagate(i, grey))
    assert rows == 8  # its own round's frames, until the next round misses it


def test_a_closer_looks_box_does_not_read_as_motion():
    """The closer look's box (10 px off flow's) was anchored by flow on the next frame as a 5 px/frame velocity,
    which a round missing the face then froze into a drifting prediction."""
    grey, tracker = _textured(), FaceTracker()
    tracker.update(0, grey, [_face_at(200, 150)])
    for i in range(1, 8):
        tracker.propagate(i, grey)
    tracker.update(8, grey, [], look_again=lambda box: [_face_at(210, 150, 104)])
    tracker.propagate(9, grey)
    assert np.abs(tracker.tracks[0].velocity).max() < 0.5


def test_faces_side_by_side_are_covered_and_faces_apart_are_not():
    """Whether another face is close enough to pass in front, for all tracks at once (pair by pair, three times a
    frame, a 1080p crowd of 120 faces took 60 ms a frame)."""
    grey, tracker = _textured(), FaceTracker()
    tracker.update(0, grey, [_face_at(100, 100), _face_at(220, 100), _face_at(500, 300)])
    assert tracker._covered_mask().tolist() == [True, True, False]
    crowd = FaceTracker()
    crowd.update(0, grey, [_face_at(x, y, 40) for x in range(0, 600, 50) for y in range(0, 440, 45)])
    assert crowd._covered_mask().all() and len(crowd.tracks) == 120


def _rounds(tracker, grey, detections_per_round, every=8):
    """Detection rounds ``every`` frames apart with flow in between: the track ids shown on each round's frame."""
    shown = []
    for r, detections in enumerate(detections_per_round):
        shown.append([tf.track_id for tf in tracker.update(r * every, grey, detections)])
        for i in range(r * every + 1, (r + 1) * every):
            tracker.propagate(i, grey)
    return shown


def test_max_faces_one_follows_the_largest_face_as_track_1_throughout():
    """A participant's webcam: the face that looks away for longer than a track survives came back as track 2,
    3, ... (a timeline and summary each), and the person behind them was followed too. With max_faces=1 the one
    face followed is the largest, always number 1; a smaller face found first gives way to a clearly larger one,
    and faces of about one size do not take turns."""
    grey = _textured()
    participant, behind = _face_at(200, 150, 160), _face_at(480, 60, 60)
    away = [[behind]] * 6  # the participant out of view for six rounds (1.8 s at 0.3 s)
    script = [[participant, behind]] * 2 + away + [[participant, behind]] * 2
    every_face = _rounds(FaceTracker(), grey, script)
    assert every_face[0] == [1, 2] and every_face[-1] == [2, 3]  # a new number on coming back
    tracker = FaceTracker(max_faces=1)
    one = _rounds(tracker, grey, script)
    assert one[:2] == [[1], [1]] and one[-2:] == [[1], [1]] and one[5:8] == [[], [], []]
    assert tracker.tracks[0].detection.box == participant.box
    # the face behind was not followed while the participant was away (their rows would have been track 1's);
    # after a scene cut it is someone to follow
    tracker = FaceTracker(max_faces=1)
    _rounds(tracker, grey, script[:7])  # away for 5 rounds: the participant's track ended after 3
    assert tracker.tracks == []
    tracker.cut()
    assert _rounds(tracker, grey, [[behind]]) == [[1]]
    # the participant back leaning back (three-quarters the size: 0.56 of the area) was never followed again
    leaning_back = _face_at(220, 170, 120)
    tracker = FaceTracker(max_faces=1)
    assert _rounds(tracker, grey, [[participant, behind]] * 2 + away + [[leaning_back, behind]] * 2)[-1] == [1]
    assert tracker.tracks[0].detection.box == leaning_back.box
    # away for good (past forget_rounds): whoever comes is followed
    tracker = FaceTracker(max_faces=1, forget_rounds=4)
    assert _rounds(tracker, grey, [[participant]] + [[behind]] * 8)[-1] == [1]
    assert tracker.tracks[0].detection.box == behind.box
    # a smaller face found first (a poster, a false detection) gives way to the participant's
    tracker = FaceTracker(max_faces=1)
    _rounds(tracker, grey, [[behind], [behind, participant]])
    assert [t.detection.box for t in tracker.tracks] == [participant.box]
    # two faces of about one size: the one followed stays followed
    tracker = FaceTracker(max_faces=1)
    _rounds(tracker, grey, [[_face_at(100, 150, 120)], [_face_at(100, 150, 120), _face_at(400, 150, 130)]] * 2)
    assert [t.detection.box[0] for t in tracker.tracks] == [100]
    # max_faces=2 keeps the two largest, numbered as ever
    tracker = FaceTracker(max_faces=2)
    assert _rounds(tracker, grey, [[participant, behind, _face_at(20, 300, 40)]]) == [[1, 2]]


def test_a_face_followed_keeps_its_place_and_a_new_one_gives_way_under_a_new_number():
    """max_faces: a face followed was dropped for any face 1.5 times its area (a photo scrolling into a shared
    screen), and with max_faces 1 the newcomer went on as the same track 1, on the other side of the picture, with
    nothing said. A face found in ESTABLISHED_ROUNDS rounds keeps its place while it is followed; a newer one gives
    way, the newcomer under a number of its own, and each time is recorded."""
    grey = _textured()
    participant, photo, moderator = _face_at(450, 300, 80), _face_at(60, 60, 200), _face_at(450, 40, 90)
    tracker = FaceTracker(max_faces=1)
    shown = _rounds(tracker, grey, [[participant]] * track.ESTABLISHED_ROUNDS + [[participant, photo]] * 6)
    assert shown == [[1]] * (track.ESTABLISHED_ROUNDS + 6) and tracker.replaced_faces == []
    assert tracker.tracks[0].detection.box == participant.box
    # gone (unseen past miss_seconds), its place is free: the photo is followed
    tracker = FaceTracker(max_faces=1)
    _rounds(tracker, grey, [[participant]] * 4 + [[photo]] * 5)
    assert [t.detection.box for t in tracker.tracks] == [photo.box] and tracker.replaced_faces == []
    # max_faces 2: the participant and the moderator stay
    tracker = FaceTracker(max_faces=2)
    assert _rounds(tracker, grey, [[participant, moderator]] * 4 + [[participant, moderator, photo]] * 4)[-1] == [1, 2]
    assert tracker.replaced_faces == []
    # a face found a round before the participant gives way to her, and she is track 2 from there on, away and back
    tracker = FaceTracker(max_faces=1, fps=25.0)
    shown = _rounds(tracker, grey, [[participant], [participant, photo], [photo]] + [[]] * 5 + [[photo]] * 2)
    assert shown[:3] == [[1], [2], [2]] and shown[-1] == [2]
    assert tracker.replaced_faces == [{"time": 0.32, "track": 1, "new_track": 2, "area_ratio": 6.25, "why": (
        "a face 6.2 times its area was found while track 1 was new (found in 2 detection round(s), under 3), and at "
        "most 1 face(s) are followed")}]
    tracker = FaceTracker(max_faces=2)
    _rounds(tracker, grey, [[participant, moderator], [participant, moderator, photo]])
    # (the two seen together numbered from the top: the moderator 1) the smaller, newer face gives way
    assert [t.track_id for t in tracker.tracks] == [1, 3] and tracker.replaced_faces[0]["track"] == 2


def test_a_cut_ends_the_tracks_whose_surroundings_changed_and_keeps_the_others():
    """A scene cut ended every track: a webcam shown picture-in-picture over a screen recording was a new track at
    each page change. The tracks a cut's ``unchanged_around`` keeps go on under their numbers; the others end, and
    their numbers are not given again."""
    grey = _textured()
    tracker = FaceTracker()
    _rounds(tracker, grey, [[_face_at(100, 100), _face_at(450, 300)]])
    assert tracker.cut(lambda box: box[0] > 400) == ([1], [2])
    assert _rounds(tracker, grey, [[_face_at(100, 100), _face_at(452, 300)]]) == [[2, 3]]
    assert tracker.cut() == ([2, 3], []) and tracker.tracks == []


def test_the_trackers_clock_counts_the_frames_that_did_not_come():
    """Frames given with their times: where frames did not come (0.6 s of a 30 fps phone recording, or a rate
    below the video's), the clock the tracker's motion allowances run on counts the time that passed; at a constant
    rate and sampled (--sample-fps: indices 5 apart) it is the frame index."""
    tracker = FaceTracker(fps=30.0)
    assert [tracker._clock(i, i / 30) for i in range(30)] == list(range(30))
    assert tracker._clock(30, 1.6) == 48 and tracker._unseen  # 18 frames' time without frames
    assert tracker._clock(31, 1.6 + 1 / 30) == 49 and not tracker._unseen
    sampled = FaceTracker(fps=25.0)
    assert [sampled._clock(i, i / 25 + 1e-4 * (i % 2)) for i in range(0, 100, 5)] == list(range(0, 100, 5))
    assert FaceTracker()._clock(7, None) == 7


def test_a_camera_slower_than_it_reports_is_not_a_gap_at_every_frame():
    """A webcam that reports 30 fps and delivers 15 (dim light): its faces move two frames' worth between frames
    (the clock counts that time), but no frame follows a gap, so a face flow loses is not looked for as one that was
    out of sight; a stall of 0.6 s in the same stream still is."""
    tracker = FaceTracker(fps=30.0)
    unseen = []
    for i in range(30):
        clock = tracker._clock(i, i / 15)
        unseen.append(tracker._unseen)
    assert clock == 58  # 29 frames delivered over 58 frames' time at the reported rate
    assert not any(unseen[2:])
    assert tracker._clock(30, 29 / 15 + 0.6) >= 58 + 17 and tracker._unseen


def _back_after(tracker, grey, rounds, flow_frames=()):
    """A face found on frame 0, missed on detection ``rounds`` but the last, found again in its place on the last:
    the id it has there."""
    tracker.update(0, grey, [_face_at(200, 150)])
    for frame in sorted(set(rounds) | set(flow_frames)):
        if frame not in rounds:
            tracker.propagate(frame, grey)
        elif frame != rounds[-1]:
            tracker.update(frame, grey, [])
    return [tf.track_id for tf in tracker.update(rounds[-1], grey, [_face_at(200, 150)])]


def test_a_track_goes_unseen_for_as_long_whatever_the_rate_frames_are_analysed_at():
    """Counted in detection rounds (3), a track at --sample-fps 5 lived past its third missed round, 1.0 s after its
    last detection (rounds fall on frames 0.2 s apart), and took a face that came to its place 1.2 s on: one person
    crossing into another's place took their number. It is now 0.9 s on the frames' clock (at 25 fps with every
    frame, rounds 7 and 8 frames apart: 0.92 s, as before), and 3 rounds where rounds are further apart."""
    grey = _textured()
    every_frame = _back_after(FaceTracker(fps=25.0), grey, [8, 15, 23, 30], range(1, 30))
    assert every_frame == [1]  # missed 0.32, 0.6 and 0.92 s on: the same face
    sampled = _back_after(FaceTracker(fps=25.0), grey, [10, 15, 25, 30], [5, 20])
    assert sampled == [2]  # missed 0.4, 0.6 and 1.0 s on: gone for longer than 0.9 s, someone new
    assert _back_after(FaceTracker(fps=25.0), grey, [10, 15, 20], [5]) == [1]
    # --detect-every 1: three missed rounds, 3 s
    assert track.miss_seconds(1.0) == 3.0 and track.miss_seconds(0.1) == track.MISS_SECONDS
    assert _back_after(FaceTracker(miss_seconds=track.miss_seconds(1.0), fps=25.0), grey, [25, 50, 75, 100]) == [1]
    assert _back_after(FaceTracker(miss_seconds=track.miss_seconds(1.0), fps=25.0), grey,
                       [25, 50, 75, 100, 125]) == [2]


def test_a_face_found_beside_where_another_was_is_someone_new_unless_it_overlaps_enough():
    """The video pipeline's tracker (FaceTracker's default) takes a detection for a track's face only where their
    boxes overlap by an IoU of 0.3 or more: a face tracked at (100, 100), 80 px wide, then 0.3 s later another face
    60 px to its right (IoU 0.14) while the first is not found, is a new track; at 40 px (IoU 0.33) the same face
    moved. (At 0.05 the face 60 px on took the first face's number.) The first face was found in two rounds, so its
    motion is known (none) and it is not looked for within a walk of where it was (FaceTracker._within_a_walk):
    overlap alone decides."""
    from fervid.inference.detect import iou

    grey = _textured()

    def face(x):
        return _face_at(x, 100, size=80)

    assert iou(face(100).box, face(160).box) == pytest.approx(1 / 7)
    assert iou(face(100).box, face(140).box) == pytest.approx(1 / 3)
    for x, same in ((160, False), (140, True)):
        tracker = FaceTracker(fps=30.0)
        for frame, detections in ((0, [face(100)]), (9, [face(100)]), (18, [face(x)])):
            shown = tracker.update(frame, grey, detections, time=frame / 30)
            if frame < 18:
                for i in range(frame + 1, frame + 9):
                    tracker.propagate(i, grey, time=i / 30)
        found = [tf for tf in shown if tf.detected]
        assert [tf.detection.box for tf in found] == [face(x).box]
        assert found[0].track_id == (1 if same else 2), (x, shown)
        if not same:  # the first face's track goes on by flow where it was, not moved onto the newcomer
            assert [(tf.detection.box, tf.detected) for tf in shown if tf.track_id == 1] == [(face(100).box, False)]


def test_the_tracker_loads_its_assignment_solver_before_any_frame():
    """scipy.optimize was loaded at the first frame with two faces, deep in a video: under a memory cap its OpenBLAS
    start-up spun at full CPU for ever (or failed as an import error, not said as memory). A tracker loads it as it
    is made, before anything is analysed."""
    code = ("import sys\nfrom fervid.inference.track import FaceTracker\n"
            "assert 'scipy.optimize' not in sys.modules\nFaceTracker()\nassert 'scipy.optimize' in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert done.returncode == 0, done.stderr
