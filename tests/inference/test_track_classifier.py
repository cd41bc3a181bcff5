"""Analyzer.track_classifier: the faces of your own detector and tracker, classified over time as analyze_video
classifies its tracks' (the carphone sample's frames, its one face detected and classified on each)."""

import dataclasses

import numpy as np
import pytest

import fervid
from fervid.errors import FervidError, OptionError
from fervid.inference.analyzer import Analyzer
from fervid.inference.video import STAGES, RisingClock, _read_frames, open_video, sample_video
from conftest import needs_sample_clip


@pytest.fixture(scope="module")
def analyzer():
    return Analyzer()


@pytest.fixture(scope="module")
def carphone_faces(analyzer):
    """(time, Face) of the carphone clip's one face on each frame, as analyze_video reads the frames, found and
    classified by the public API (detect, classify); and the clip's rate."""
    cap = open_video(sample_video())
    try:
        frames = [(t, grabbed()) for t, grabbed in _read_frames(
            cap, dict.fromkeys(STAGES, 0.0), RisingClock(cap.frame_rate, start=cap.video_start))]
        rate = cap.frame_rate
    finally:
        cap.release()
    faces = []
    for t, frame in frames:
        [face] = analyzer.classify(frame, analyzer.detect(frame))
        faces.append((t, face))
    return faces, rate


def fed(classifier, faces, track_id=1) -> tuple[list, list]:
    """Every face added as one track: (the rows ready() gave as they were added, the rows finish() gave)."""
    ready = []
    for t, face in faces:
        classifier.add(track_id, t, face)
        ready += classifier.ready()
    return ready, classifier.finish()


@needs_sample_clip
@pytest.mark.parametrize("method, centred", [("lstm", True), ("hmm", True), ("mean", True), ("frame", True),
                                             ("lstm", False)])
def test_your_own_tracks_faces_get_the_rows_analyze_video_gives_them(analyzer, carphone_faces, method, centred):
    """The TrackSmoother fed by hand reproduced analyze_video only when classify(t) waited for the next second of
    frames (early, it used half a window: 0.20 off), and there was no public way to run the temporal methods over a
    tracker's own faces at all."""
    faces, fps = carphone_faces
    video = analyzer.analyze_video(sample_video(), method=method, detect_every=1 / fps, centred=centred)
    classifier = analyzer.track_classifier(fps, method=method, centred=centred)
    assert isinstance(classifier, fervid.TrackClassifier) and classifier.method == method
    ready, finished = fed(classifier, faces)
    rows = ready + finished
    # a row is ready once the track's frames lookahead seconds after it are in: the last lookahead's come at the end
    waited = round(classifier.lookahead * fps)
    assert (len(ready), len(finished)) == (len(faces) - waited, waited)
    assert [r.time for r in rows] == [r.time for r in video.faces]
    np.testing.assert_allclose([r.probabilities for r in rows], [r.probabilities for r in video.faces], rtol=0,
                               atol=1e-6)
    # one row schema: the rows of the video's per-frame table, frame numbers, boxes and all
    assert [r.table_row() for r in rows] == [r.table_row() for r in video.faces]


@needs_sample_clip
def test_tracks_are_labelled_each_over_its_own_frames_and_one_ended_early_is_finished_alone(analyzer,
                                                                                           carphone_faces):
    faces, fps = carphone_faces
    alone_ready, alone_finished = fed(analyzer.track_classifier(fps, method="mean"), faces)
    short_ready, short_finished = fed(analyzer.track_classifier(fps, method="mean"), faces[:40])
    both = analyzer.track_classifier(fps, method="mean")
    calls = []  # the rows of each call
    for i, (t, face) in enumerate(faces):
        both.add(1, t, face)
        if i < 40:
            both.add(7, t, face)
        calls.append(both.ready())
        if i == 60:  # the tracker says track 7 ended: its last rows, from the frames it had
            calls.append(both.finish(7))
    calls.append(both.finish())
    rows = [row for call in calls for row in call]
    assert all([(r.time, r.track_id) for r in call] == sorted((r.time, r.track_id) for r in call) for call in calls)
    assert [r.track_id for r in calls[30]] == [1, 7]  # both tracks' rows of a time come together
    assert [r.probabilities for r in rows if r.track_id == 1] == [
        r.probabilities for r in alone_ready + alone_finished]
    assert [r.probabilities for r in rows if r.track_id == 7] == [
        r.probabilities for r in short_ready + short_finished]
    with pytest.raises(RuntimeError, match="finished"):
        both.add(1, 10.0, faces[0][1])


@needs_sample_clip
def test_tracks_finished_one_after_another_leave_nothing_of_theirs_held_but_their_numbers(analyzer, carphone_faces):
    """finish(track_id) let go of a track's window but kept its last face's time: an entry for each track your
    tracker ended, for as long as the classifier ran (a camera's passers-by, for hours)."""
    faces, fps = carphone_faces
    classifier = analyzer.track_classifier(fps, method="mean")
    for track_id in range(1, 7):  # six people one after another, 20 frames each
        for t, face in faces[20 * (track_id - 1):20 * track_id]:
            classifier.add(track_id, t, face)
            classifier.ready()
        assert len(classifier.finish(track_id)) > 0
        assert not (classifier._windows.tracks or classifier._waiting or classifier._last_time)
    with pytest.raises(OptionError, match="track 3 was finished"):
        classifier.add(3, 10.0, faces[0][1])


@needs_sample_clip
def test_faces_and_times_it_cannot_use_are_refused_saying_what_is_wrong(analyzer, carphone_faces):
    """A TrackSmoother took 3 probabilities and a 100-d feature and failed later, deep inside numpy or ONNX
    Runtime; a time never added raised ZeroDivisionError."""
    faces, fps = carphone_faces
    (t0, face), (t1, next_face) = faces[:2]
    lstm = analyzer.track_classifier(fps)  # the defaults: analyze_video's, the LSTM
    assert lstm.method == "lstm" and lstm.options.window == 1.0 and lstm.options.centred
    for bad, match in [(dataclasses.replace(face, probabilities=face.probabilities[:3]), "7 probabilities"),
                       (dataclasses.replace(face, probabilities=tuple(np.log(face.probabilities))), "summing to 1"),
                       (dataclasses.replace(face, feature=face.feature[:100]), "512 finite values"),
                       (dataclasses.replace(face, feature=None), "keep_features=False")]:
        with pytest.raises(OptionError, match=match) as refused:
            lstm.add(1, t0, bad)
        assert isinstance(refused.value, FervidError) and isinstance(refused.value, ValueError)
    lstm.add(1, t0, face)
    with pytest.raises(OptionError, match="not after its face before"):
        lstm.add(1, t0, next_face)
    with pytest.raises(TypeError, match="fervid.Face"):
        lstm.add(1, t1, {"probabilities": face.probabilities})
    with pytest.raises(TypeError, match="track_id must be an int"):
        lstm.add("1", t1, next_face)
    lstm.add(2, t0, face)  # another track has its own times
    assert lstm.finish(2)[0].track_id == 2
    with pytest.raises(OptionError, match="track 2 was finished"):
        lstm.add(2, t1, next_face)
    # the methods that read probabilities alone take a face without its feature
    mean = analyzer.track_classifier(fps, method="mean")
    mean.add(1, t0, dataclasses.replace(face, feature=None))
    assert len(mean.finish()) == 1
    with pytest.raises(TypeError, match="detect_every"):
        analyzer.track_classifier(fps, detect_every=0.1)
    with pytest.raises(OptionError, match="fps must be a positive number"):
        analyzer.track_classifier(0)


@needs_sample_clip
@pytest.mark.parametrize("centred", [True, False])
def test_the_lstms_windows_of_all_tracks_run_together_giving_what_each_gives_run_alone(analyzer, carphone_faces,
                                                                                      monkeypatch, centred):
    """Each LSTM window was one ONNX Runtime run (hours of a class's video: a run per face per frame, 2 to 3 times
    the time of running a chunk's windows together). Now the windows of a call's rows, of all its tracks, run
    together, one run per length of window, and give each row what running its windows one by one gives; causal
    (live), each frame's rows still come at once, as its windows are ready."""
    from conftest import CountedRuns, OneWindowARun

    from fervid.inference.temporal import TrackSmoother

    faces, fps = carphone_faces
    spans = {1: range(0, len(faces)), 2: range(0, 50), 3: range(30, len(faces))}  # 3 starts while 2 goes on
    lstm = analyzer.temporal_lstm()
    alone = {}  # track id -> its outputs, each window run alone
    for track_id, span in spans.items():
        smoother = TrackSmoother(OneWindowARun(lstm), 1.0, centred=centred, fps=fps)
        for i in span:
            smoother.add(faces[i][0], np.float32(faces[i][1].probabilities), faces[i][1].feature)
        alone[track_id] = [smoother.classify(faces[i][0]) for i in span]
    counted = CountedRuns(lstm.session)
    monkeypatch.setattr(lstm, "session", counted)
    classifier = analyzer.track_classifier(fps, centred=centred)
    rows, runs_per_call = [], []
    for i, (t, face) in enumerate(faces):
        going_on = [track_id for track_id, span in spans.items() if i in span]
        for track_id in going_on:
            classifier.add(track_id, t, face)
        runs = len(counted.batches)
        ready = classifier.ready()
        runs_per_call.append(len(counted.batches) - runs)
        if not centred:  # live: the rows of the frame just added, at once
            assert [(r.time, r.track_id) for r in ready] == [(t, track_id) for track_id in going_on]
        rows += ready
    rows += classifier.finish()
    # a window is shorter near a track's start (its frames padded, causal) only: at most a run per length a call
    assert max(runs_per_call) <= 2 and sum(counted.batches) > 2 * len(counted.batches)
    for track_id, outputs in alone.items():
        np.testing.assert_allclose([r.probabilities for r in rows if r.track_id == track_id], outputs, rtol=0,
                                   atol=1e-6)


def test_a_window_too_short_at_the_rate_given_is_warned_in_the_apis_words(analyzer):
    """It advised "--method frame or --sample-fps 4 or more": a flag, and a rate: the classifier's frames come at
    the rate given, which it cannot raise."""
    with pytest.warns(fervid.FervidWarning) as said:
        analyzer.track_classifier(1.0, method="lstm")
    assert [str(w.message).rsplit("; ", 1)[1] for w in said] == ['use method="frame"']
