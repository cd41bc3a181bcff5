"""Analyzer.stream: frames pushed one by one from the caller's own loop, tracked and labelled as analyze_video does a
file's (the carphone sample's frames)."""

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import faces_coming_and_going, needs_sample_clip

from fervid.errors import FervidWarning, OptionError
from fervid.inference.analyzer import Analyzer
from fervid.inference.stream import FaceStream, StreamFrame
from fervid.inference.temporal import TrackWindows
from fervid.inference.video import (STAGES, RisingClock, VideoAnalyzer, VideoOptions, _read_frames, open_video,
                                    sample_video)


@pytest.fixture(scope="module")
def analyzer():
    return Analyzer()


@pytest.fixture(scope="module")
def carphone_frames():
    """(time, BGR frame) of the carphone clip, as analyze_video reads them; and its rate."""
    cap = open_video(sample_video())
    try:
        frames = [(t, grabbed()) for t, grabbed in _read_frames(  # (each converted before the next is read)
            cap, dict.fromkeys(STAGES, 0.0), RisingClock(cap.frame_rate, start=cap.video_start))]
        rate = cap.frame_rate  # (before release: a released capture has only FFmpeg's rounded guess, 29.97)
    finally:
        cap.release()
    return frames, rate


def pushed(stream: FaceStream, frames, **push) -> tuple[list[StreamFrame], int]:
    """Every frame pushed, then the stream finished: (the frames returned, how many came back from finish())."""
    done = []
    for t, frame in frames:
        done += stream.push(frame, t, **push)
    rest = stream.finish()
    return done + rest, len(rest)


@needs_sample_clip
@pytest.mark.parametrize("method, centred", [("mean", False), ("lstm", False), ("lstm", True)])
def test_a_streams_rows_are_analyze_videos_for_the_same_settings(analyzer, carphone_frames, method, centred):
    frames, fps = carphone_frames
    video = analyzer.analyze_video(sample_video(), method=method, centred=centred, annotate=False)
    done, _ = pushed(analyzer.stream(fps, method=method, centred=centred), frames, bgr=True)
    assert [d.index for d in done] == list(range(len(frames)))  # each frame once, in order
    assert [d.time for d in done] == [t for t, _ in frames]
    faces = [face for d in done for face in d.faces]
    assert len(faces) == len(video.faces) == 120
    for streamed, analysed in zip(faces, video.faces):
        assert (streamed.time, streamed.frame, streamed.track_id, streamed.emotion, streamed.detected) == \
               (analysed.time, analysed.frame, analysed.track_id, analysed.emotion, analysed.detected)
        assert np.allclose(streamed.probabilities, analysed.probabilities, rtol=0, atol=1e-6)
        assert np.allclose(streamed.box, analysed.box, rtol=0, atol=1e-6)
    # one row schema: the stream's rows are the video's per-frame table (rounded to 4 decimals: a difference of
    # 1e-7 in the CNN's batches of 1 and of 16 may round a probability the other way)
    table = pd.DataFrame([row for d in done for row in d.rows()])
    pd.testing.assert_frame_equal(table, video.frame_table(), check_dtype=False, rtol=0, atol=1.01e-4)


@needs_sample_clip
def test_causal_frames_come_back_as_pushed_and_centred_ones_a_lookahead_later(analyzer, carphone_frames):
    frames, fps = carphone_frames
    live = analyzer.stream(fps, method="mean")
    assert (live.options.centred, live.options.batch_frames, live.lookahead, live.labels_delay) == (False, 1, 0.0, 0.5)
    for t, frame in frames[:5]:
        [done] = live.push(frame, t, bgr=True)
        assert done.time == t and done.image is frame  # the frame as pushed, to draw on
    assert live.finish() == []
    offline = analyzer.stream(fps, method="mean", centred=True)
    assert (offline.lookahead, offline.labels_delay) == (0.5, 0.0)
    done, from_finish = pushed(offline, frames[:30], bgr=True)
    assert from_finish == 15  # the last half second's frames (0.5 s at 29.97 fps) waited for frames that never came
    assert [d.index for d in done] == list(range(30))


@needs_sample_clip
def test_finish_ends_the_stream_and_a_with_block_closes_it(analyzer, carphone_frames):
    frames, fps = carphone_frames
    stream = analyzer.stream(fps, method="mean", centred=True)
    stream.push(frames[0][1], bgr=True)
    assert [d.index for d in stream.finish()] == [0]
    assert stream.finish() == []
    with pytest.raises(RuntimeError, match="finished"):
        stream.push(frames[1][1], bgr=True)
    with analyzer.stream(fps, method="mean") as stream:
        assert len(stream.push(frames[0][1], bgr=True)) == 1
    with pytest.raises(RuntimeError, match="closed"):
        stream.push(frames[1][1], bgr=True)


@needs_sample_clip
def test_a_push_while_another_thread_pushes_is_refused_and_the_stream_goes_on(analyzer, carphone_frames):
    frames, fps = carphone_frames
    sequential, _ = pushed(analyzer.stream(fps, method="mean", batch_frames=4), frames[:12], bgr=True)
    stream = analyzer.stream(fps, method="mean", batch_frames=4)
    inside, go_on = threading.Event(), threading.Event()
    run = stream._frames.push

    def held_push(*args):  # the first push waits inside the pipeline until the other calls were made
        inside.set()
        assert go_on.wait(30)
        return run(*args)

    stream._frames.push = held_push
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(stream.push, frames[0][1], frames[0][0], bgr=True)
        assert inside.wait(30)
        for call, what in ((lambda: stream.push(frames[1][1], frames[1][0], bgr=True), "push"),
                           (stream.finish, "finish"), (stream.close, "close")):
            with pytest.raises(RuntimeError, match=f"FaceStream.{what} called while another push, finish or close "
                                                   "of this stream is running: a stream takes its frames in time "
                                                   "order from one thread at a time"):
                call()
        go_on.set()
        done = first.result()
    stream._frames.push = run
    for t, frame in frames[1:12]:  # the refused calls changed nothing: the frames as pushed from one thread
        done += stream.push(frame, t, bgr=True)
    done += stream.finish()
    assert [row for d in done for row in d.rows()] == [row for d in sequential for row in d.rows()]


@needs_sample_clip
def test_pushes_from_several_threads_return_their_frames_or_say_why_not(analyzer, carphone_frames):
    frames, fps = carphone_frames
    stream = analyzer.stream(fps, method="mean", batch_frames=4)
    done, refused = [], []

    def push(frame):
        try:
            done.extend(stream.push(frame, bgr=True))
        except RuntimeError as exc:  # never an IndexError or KeyError from inside the pipeline, nor a frame lost
            assert "one thread at a time" in str(exc)
            refused.append(frame)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(push, [frame for _, frame in frames[:40]]))
    done += stream.finish()
    assert sorted(d.index for d in done) == list(range(40 - len(refused)))


@needs_sample_clip
def test_an_analyzers_streams_and_videos_share_one_lstm_session_at_its_threads(carphone_frames, monkeypatch):
    import onnxruntime

    frames, fps = carphone_frames
    loaded = []
    session = onnxruntime.InferenceSession

    def counted(path, *args, **kwargs):
        loaded.append(Path(path).name)
        return session(path, *args, **kwargs)

    monkeypatch.setattr(onnxruntime, "InferenceSession", counted)
    analyzer = Analyzer(threads=1)
    loaded.clear()  # (the CNN's and the detector's)
    streams = [analyzer.stream(fps) for _ in range(3)]
    video = VideoAnalyzer(analyzer, VideoOptions())
    assert loaded == ["model.onnx"]  # the LSTM once, not once a stream or video
    lstm = analyzer.temporal_lstm()
    assert all(stream._frames.temporal is lstm for stream in streams) and video.temporal is lstm
    assert lstm.session.get_session_options().intra_op_num_threads == 1  # the analyzer's threads, not 2
    assert Analyzer(threads=3).temporal_lstm().session.get_session_options().intra_op_num_threads == 3

    # the shared session keeps nothing of one stream's for another's: streams run side by side in threads give
    # the rows each gives alone
    def rows(stream, part):
        done, _ = pushed(stream, part, bgr=True)
        return [row for d in done for row in d.rows()]

    parts = [frames[:40], frames[40:80], frames[80:120]]
    alone = [rows(Analyzer(threads=1).stream(fps), part) for part in parts]
    with ThreadPoolExecutor(3) as pool:
        together = list(pool.map(rows, streams, parts))
    assert together == alone and all(alone)


def test_times_default_to_frames_pushed_over_fps_and_must_rise(analyzer):
    blank = np.full((120, 160, 3), 128, np.uint8)
    stream = analyzer.stream(10.0, method="frame")
    assert [d.time for _ in range(3) for d in stream.push(blank)] == [0.0, 0.1, 0.2]
    for earlier in (0.2, 0.1):  # the same time as the frame before, or earlier
        with pytest.raises(OptionError, match=r"frame 3 at 0\.[12] s is not after the frame before it, at 0\.2 s"):
            stream.push(blank, earlier)
    assert [d.time for d in stream.push(blank, 0.25)] == [0.25]  # a refused frame changed nothing
    untimed = analyzer.stream(method="frame")
    with pytest.raises(OptionError, match="made without fps: push each frame with its time"):
        untimed.push(blank)
    assert [(d.time, d.index) for d in untimed.push(blank, 3.0)] == [(3.0, 0)]
    with pytest.raises(OptionError, match="time must be a finite number"):
        untimed.push(blank, float("nan"))
    with pytest.raises(OptionError, match="fps must be a positive number"):
        analyzer.stream(0)


def test_a_bgr_flag_that_is_no_bool_is_refused_as_a_setting_and_the_stream_goes_on(analyzer):
    """push(frame, bgr="no") raised a plain TypeError, where every other setting raises fervid's OptionError."""
    blank = np.full((120, 160, 3), 128, np.uint8)
    stream = analyzer.stream(10.0, method="frame")
    with pytest.raises(OptionError, match="bgr: .*, not 'no'"):
        stream.push(blank, bgr="no")
    assert [(d.time, d.index) for d in stream.push(blank, bgr=np.bool_(True))] == [(0.0, 0)]  # nothing was taken


def test_a_frame_with_no_face_comes_back_with_no_faces(analyzer):
    stream = analyzer.stream(30.0, method="mean")
    [done] = stream.push(np.full((144, 192, 3), 90, np.uint8))
    assert (done.time, done.index, done.faces, done.rows()) == (0.0, 0, [], [])


@needs_sample_clip
def test_bgr_frames_give_what_their_rgb_copies_do(analyzer, carphone_frames):
    frames, fps = carphone_frames
    bgr, _ = pushed(analyzer.stream(fps, method="mean"), frames[:20], bgr=True)
    rgb, _ = pushed(analyzer.stream(fps, method="mean"), [(t, np.ascontiguousarray(f[:, :, ::-1]))
                                                         for t, f in frames[:20]])
    assert [row for d in bgr for row in d.rows()] == [row for d in rgb for row in d.rows()]
    assert sum(len(d.faces) for d in bgr) == 20
    swapped, _ = pushed(analyzer.stream(fps, method="mean"), frames[:20])  # BGR read as RGB: other probabilities
    assert [row for d in swapped for row in d.rows()] != [row for d in bgr for row in d.rows()]


@pytest.mark.parametrize("setting, said", [
    ({"sample_fps": 5.0}, "sample_fps is a setting of analyze_video, not of a stream: push only the frames"),
    ({"annotate": True}, "a stream writes no files"),
    ({"max_faces": 1}, r"max_faces is a setting of the Analyzer, not of stream: .*fervid\.Analyzer\(max_faces=1\)"
                       r"\.stream\(fps\)"),
    ({"windw": 1.0}, "stream got an unexpected keyword argument 'windw'; its video settings are detect_every, "
                     "window, method, centred, batch_frames, temporal_model"),
])
def test_settings_a_stream_does_not_use_are_refused_saying_why(analyzer, setting, said):
    with pytest.raises(TypeError, match=said):
        analyzer.stream(30.0, **setting)


def test_a_method_that_falls_back_or_a_short_window_is_warned(analyzer):
    """Said in the API's words (it said "--method mean ... a longer --window or a higher --sample-fps"): a stream's
    frames come at the rate given, so a faster rate is no advice, and a stream has no sample_fps."""
    with pytest.warns(FervidWarning) as said:
        stream = analyzer.stream(2.0, method="mean", window=0.4)
    assert stream.method == "mean"
    assert [str(w.message).split(": ", 1)[1] for w in said] == [
        'method="mean" has nothing to smooth and gives each frame\'s own labels, as method="frame" does; a longer '
        "window lets it smooth"]


@pytest.mark.parametrize("max_faces, stays, away", [(None, True, 1.3), (1, False, 0.9)])
def test_a_streams_ended_tracks_windows_are_let_go_of_and_its_labels_stay_as_they_were(astronaut_rgb, max_faces,
                                                                                       stays, away, monkeypatch):
    """A live stream kept every track's window (its LSTM's causal 1 s window: 2 s of features and outputs) until it
    ended. With max_faces 1 each face that comes is followed under the one number, the tracker's track of the last
    having ended: 0.9 s on, its causal windows read the last face's frames, as they did when every window was
    kept."""
    analyzer = Analyzer(max_faces=max_faces)
    frames = faces_coming_and_going(astronaut_rgb, visits=4, stays=stays, away=away)

    def analysed() -> tuple[pd.DataFrame, list[int]]:
        """The rows of every frame pushed (the LSTM's causal windows), and the windows held after each push."""
        stream, done, held = analyzer.stream(15.0), [], []
        for frame in frames:
            done += stream.push(frame, bgr=True)
            held.append(len(stream._frames.windows.tracks))
        done += stream.finish()
        return pd.DataFrame([row for d in done for row in d.rows()]), held

    rows, held = analysed()
    assert rows["track"].nunique() == (5 if max_faces is None else 1)
    assert max(held) <= (3 if max_faces is None else 1)  # the faces there, and one that has just left
    monkeypatch.setattr(TrackWindows, "end_passed", lambda self, *times: None)  # every window kept to the end
    kept, _ = analysed()
    pd.testing.assert_frame_equal(rows, kept, check_exact=True)
