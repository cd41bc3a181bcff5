import re
from pathlib import Path

import numpy as np
import pytest

from conftest import needs_repository
from fervid.emotions import EMOTIONS
from fervid.inference.temporal import (LSTM_TRAINED_SPACING, MovingAverage, PerFrame, StickyHMM, TrackSmoother,
                                       TrackWindows, frames_per_window, labels_delay, tempered, window_notice)

README = Path(__file__).resolve().parents[2] / "README.md"


def test_a_window_holds_the_analysed_frames_within_it():
    # centred: within half the window each side (29.97 fps: 14 each side, the 15th is 0.5005 s away)
    assert frames_per_window(1.0, 29.97, centred=True) == 29
    assert frames_per_window(1.0, 30.0, centred=True) == 31
    assert frames_per_window(1.0, 2.0, centred=True) == 3  # --sample-fps 2: 0.5 s each side
    assert frames_per_window(1.0, 1.0, centred=True) == 1  # --sample-fps 1: the frame alone
    assert frames_per_window(1.0, 1.0, centred=False) == 2  # causal: the frame and the one a second before


def test_a_window_too_short_for_its_method_is_said_and_one_that_suits_it_is_not():
    """At --sample-fps 1 a 1 s window holds one analysed frame: mean and hmm gave the frame's own labels, and the
    LSTM read three copies of one frame and named emotions the CNN never gave, without a word."""
    for method in ("mean", "hmm"):
        said = window_notice(method, 1.0, 1.0, centred=True, naming="flags", most_rate=29.97)
        assert said.startswith("at 1 analysed frame a second (1 s apart), a 1 s centred window holds 1 analysed "
                               f"frame: --method {method} has nothing to smooth and gives each frame's own labels")
        assert window_notice(method, 1.0, 2.0, centred=True, naming="flags") is None  # 3 frames: something to smooth
    lone = window_notice("lstm", 1.0, 1.0, centred=True, naming="flags", most_rate=29.97)
    assert "the LSTM learnt from frames at most 0.3 s apart and from windows of 3 frames or more" in lone
    assert lone.endswith("use --method frame or --sample-fps 4 or more")
    # a rate the memory for the windows capped (--frames-memory-mb): more memory, not a faster --sample-fps, helps
    capped = window_notice("lstm", 1.0, 1.0, centred=True, naming="flags", most_rate=29.97, memory_capped=True)
    assert capped.endswith("use --method frame or a higher --frames-memory-mb (for 4 frames a second or more)")
    assert window_notice("mean", 1.0, 1.0, centred=True, naming="flags", most_rate=29.97,
                         memory_capped=True).endswith("a longer --window or a higher --frames-memory-mb lets it smooth")
    # 3 frames, but 0.5 s apart: farther than the LSTM's training windows' frames ever were
    apart = window_notice("lstm", 1.0, 2.0, centred=True, naming="flags", most_rate=29.97)
    assert "(0.5 s apart), a 1 s centred window holds 3 analysed frames: the LSTM learnt from frames at most 0.3 s " \
           "apart, so its labels here are outside what it learnt" in apart
    # frames close enough, too few of them (a 5 fps video, a 0.1 s window): a longer window, not a higher rate
    few = window_notice("lstm", 0.1, 5.0, centred=True, naming="flags", most_rate=5.0)
    assert "from windows of 3 frames or more" in few and few.endswith("use --method frame or a longer --window")
    assert window_notice("lstm", 1.0, 29.97, centred=True, naming="flags") is None  # every frame of a 30 fps video
    assert window_notice("lstm", 1.0, 1 / LSTM_TRAINED_SPACING, centred=True, naming="flags") is None
    assert window_notice("frame", 1.0, 1.0, centred=True, naming="flags") is None  # reads no window


def test_a_window_notice_names_the_options_as_python_gives_them_for_the_api():
    """analyze_video(..., sample_fps=2) warned "use --method frame or --sample-fps 4 or more": flags, which a
    Python caller has none of. Asked for the API's words, the same advice names the keywords."""
    lone = window_notice("lstm", 1.0, 1.0, centred=True, naming="keywords", most_rate=29.97)
    assert lone.endswith('use method="frame" or sample_fps=4 or more')
    assert window_notice("lstm", 1.0, 1.0, centred=True, naming="keywords", most_rate=29.97,
                         memory_capped=True).endswith('use method="frame" or a higher frames_memory_mb (for 4 '
                                                      "frames a second or more)")
    assert window_notice("lstm", 0.1, 5.0, centred=True, naming="keywords", most_rate=5.0).endswith(
        'use method="frame" or a longer window')
    smooth = window_notice("hmm", 1.0, 1.0, centred=True, naming="keywords", most_rate=29.97)
    assert smooth.endswith('method="hmm" has nothing to smooth and gives each frame\'s own labels, as '
                           'method="frame" does; a longer window or a higher sample_fps lets it smooth')
    for naming in ("flags", "keywords"):  # the same facts either way: only the options' names differ
        said = window_notice("lstm", 1.0, 1.0, centred=True, naming=naming, most_rate=29.97)
        assert said.split(": ")[0] == lone.split(": ")[0]
        assert "--" not in said if naming == "keywords" else "sample_fps" not in said


@pytest.mark.parametrize("fps", [29.97, 30.0])
@pytest.mark.parametrize("sample_fps", [3.333, 3.33, 3.3])
def test_the_published_designs_spacing_is_what_the_lstm_learnt_from(fps, sample_fps):
    """--sample-fps 3.333 (the published design's 0.3 s) said "at 3.33 analysed frames a second (0.3 s apart) ...
    the LSTM learnt from frames at most 0.3 s apart, so its labels here are outside what it learnt": 1/3.333 s, or 9
    frames of 29.97 fps video (0.3003 s), against the 0.3 s of its widest stride, 9 frames of 30 fps."""
    from fervid.inference.video import analysis_rate

    assert window_notice("lstm", 1.0, analysis_rate(fps, sample_fps), centred=True, naming="flags", most_rate=fps) is None
    assert window_notice("lstm", 1.0, fps / 9, centred=True, naming="flags", most_rate=fps) is None  # every 9th frame


def test_a_spacing_said_beyond_the_lstms_is_never_said_as_the_same_number():
    """Whenever the notice says the frames are farther apart than the LSTM learnt from, the spacing it says differs
    from the one it says learnt (it said both as 0.3 s)."""
    import re

    said = 0
    for rate in np.arange(2.5, 4.0, 0.001):
        notice = window_notice("lstm", 1.0, float(rate), centred=True, naming="flags", most_rate=29.97)
        if notice and "frames at most" in notice:
            said += 1
            apart = re.search(r"\(([0-9.]+) s apart\)", notice).group(1)
            learnt = re.search(r"frames at most ([0-9.]+) s apart", notice).group(1)
            assert float(apart) > float(learnt), notice
    assert said > 100  # 3.2 a second (0.31 s apart) and slower are said
    assert "(0.31 s apart)" in window_notice("lstm", 1.0, 3.2, centred=True, naming="flags", most_rate=29.97)


def test_labels_trail_by_about_half_a_causal_window_and_not_a_centred_one():
    assert labels_delay("lstm", 1.0) == labels_delay("mean", 1.0) == 0.5
    assert labels_delay("hmm", 1.0) == 0.15 and labels_delay("frame", 1.0) == 0.0
    assert labels_delay("lstm", 1.0, centred=True) == 0.0


def test_the_lstm_is_said_to_be_outside_its_training_spacing_where_its_trainer_says_so():
    pytest.importorskip("torch")
    from fervid.training.train_temporal import CLIP_FPS, STRIDES

    assert max(STRIDES) / CLIP_FPS == pytest.approx(LSTM_TRAINED_SPACING)


def _readme_text() -> str:
    return " ".join(README.read_text(encoding="utf-8").split())


def _track(rate: float, seconds: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A face's frames' times (4 decimals, as the tables have them) and per-frame probabilities, some of them a
    frame's certainty (one emotion 1, the others 0)."""
    rng = np.random.default_rng(seed)
    times = np.round(np.arange(0.0, seconds, 1.0 / rate), 4)
    probabilities = rng.dirichlet(np.full(len(EMOTIONS), 0.5), len(times))
    probabilities[::7] = np.eye(len(EMOTIONS))[rng.integers(0, len(EMOTIONS), len(probabilities[::7]))]
    return times, probabilities


def _smoothed(method, times, probabilities, window: float, rate: float, centred: bool) -> np.ndarray:
    """Each frame's output as the video pipeline gives it (TrackSmoother)."""
    track = TrackSmoother(method, window, centred=centred, fps=rate)
    for t, p in zip(times, probabilities):
        track.add(float(t), p, np.zeros(4, np.float32))
    return np.array([track.classify(float(t)) for t in times])


class _WindowEdges:
    """A method whose output depends on its whole window, whose outputs the pipeline averages once more, as the
    LSTM's (a stand-in for it: no weights needed)."""

    name = "lstm"
    smooth_outputs = True
    temperature = 1.0

    def __call__(self, probabilities, features, weights=None, times=None, at=None):
        return (probabilities[0] + probabilities[-1]) / 2


@needs_repository
@pytest.mark.parametrize("rate, window", [(30.0, 1.0), (29.97, 1.0), (5.0, 1.0), (30.0, 2.0)])
def test_mean_and_the_lstms_second_average_weigh_frames_as_the_readme_says(rate, window):
    """README called `--method mean` "a moving average of probabilities"; a file's centred window weighs its frames
    by a triangle (TrackSmoother._weights), and the LSTM's outputs are averaged once more with those weights. The
    README's formula, recomputed here from the per-frame probabilities, is what the pipeline gives."""
    readme = _readme_text()
    assert ("the frame at t' counts towards the label at t with weight 1 - |t' - t| / (w/2 + 1/r), r the analysed "
            "frames a second") in readme
    assert "in a live (causal) window every frame counts alike" in readme
    assert "its outputs for the windows around a frame are averaged once more, weighted as `mean` weighs frames" in \
        readme

    def weight(dt):  # the README's
        return 1 - np.abs(dt) / (window / 2 + 1 / rate)

    said = re.search(r"one half a window away 1/\(1 \+ r w/2\) \(1/(\d+) for 1 s of 30 fps video\)", readme)
    assert said and weight(window / 2) == pytest.approx(1 / (1 + rate * window / 2))
    assert 1 - 0.5 / (0.5 + 1 / 30) == pytest.approx(1 / int(said[1]))
    times, probabilities = _track(rate, 3.0, seed=int(rate * window))

    def centred_mean(values, t):
        near = np.abs(times - t) <= window / 2 + 1e-6
        return np.average(values[near], axis=0, weights=weight(times[near] - t))

    expected = np.array([centred_mean(probabilities, t) for t in times])
    np.testing.assert_allclose(_smoothed(MovingAverage(), times, probabilities, window, rate, True), expected,
                               rtol=0, atol=1e-12)
    # live: the window ends at the frame, every frame in it alike
    causal = np.array([probabilities[(times >= t - window - 1e-6) & (times <= t)].mean(axis=0) for t in times])
    np.testing.assert_allclose(_smoothed(MovingAverage(), times, probabilities, window, rate, False), causal,
                               rtol=0, atol=1e-12)
    # the LSTM's: each window's output, then those of the windows around the frame, each averaged as `mean` does
    edges = np.array([(probabilities[np.abs(times - t) <= window / 2 + 1e-6][[0, -1]]).mean(axis=0) for t in times])
    expected = np.array([centred_mean(edges, t) for t in times])
    np.testing.assert_allclose(_smoothed(_WindowEdges(), times, probabilities, window, rate, True), expected,
                               rtol=0, atol=1e-12)


def _documented_hmm(probabilities, times, at: int, switches: float, independent: float, floor: float) -> np.ndarray:
    """The README's sticky HMM written out with a transition matrix: evidence clipped at ``floor`` and raised to
    min(1, median spacing / ``independent``), ``switches`` changes a second to any other expression alike, forward
    from a uniform start, backward from the window's end."""
    k = probabilities.shape[1]
    evidence = np.clip(probabilities, floor, 1.0) ** min(1.0, np.median(np.diff(times)) / independent)

    def chain(dt):
        change = 1 - np.exp(-switches * dt)
        return (1 - change) * np.eye(k) + change / (k - 1) * (1 - np.eye(k))

    forward = np.full(k, 1 / k) * evidence[0]
    for i in range(1, at + 1):
        forward = forward @ chain(times[i] - times[i - 1]) * evidence[i]
    backward = np.ones(k)
    for i in range(len(times) - 1, at, -1):
        backward = chain(times[i] - times[i - 1]) @ (evidence[i] * backward)
    posterior = forward * backward
    return posterior / posterior.sum()


@needs_repository
@pytest.mark.parametrize("rate", [30.0, 5.0])
def test_the_hmms_settings_are_those_the_readme_gives(rate):
    """README said only "a sticky HMM smoother with fixed settings": its switching rate, the evidence's tempering
    and the probabilities' floor were in the code alone. The HMM written out from the README's numbers is
    StickyHMM's, on frames some of which are certain (where the floor matters)."""
    readme = _readme_text()
    said = re.search(r"the hidden state is the expression, which changes about once a second \(a change between "
                     r"frames dt seconds apart has probability 1 - exp\(-dt\), to any of the other 6 alike\); each "
                     r"frame's probabilities, clipped at ([\d.e-]+), are its evidence, tempered to one independent "
                     r"observation per ([\d.]+) s \(raised to the power min\(1, s / \2\), s the median spacing of "
                     r"the window's frames: 1/(\d+) at 30 fps\); forward-backward over the window, from a uniform "
                     r"start, gives the frame's probabilities", readme)
    assert said, "README no longer gives the HMM's settings"
    floor, independent = float(said[1]), float(said[2])
    assert (1 / 30) / independent == pytest.approx(1 / int(said[3]))
    times, probabilities = _track(rate, 1.2, seed=int(rate))
    hmm = StickyHMM()
    for at in (0, len(times) // 2, len(times) - 1):  # a centred window's middle, a causal one's end, the start
        np.testing.assert_allclose(hmm(probabilities, None, times=times, at=at),
                                   _documented_hmm(probabilities, times, at, 1.0, independent, floor), atol=2e-6)


def _softened(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T), written out: p ** (1 / T), renormalised."""
    powered = np.asarray(probabilities, np.float64) ** (1 / temperature)
    return powered / powered.sum(axis=-1, keepdims=True)


def test_a_temperature_divides_the_log_probabilities_and_above_one_lowers_the_top_one():
    """A temperature multiplying the log-probabilities instead of dividing them went unnoticed: the shipped LSTMs
    carry T = 1.2681 (fer2013_vgg) and 1.3878 (ferplus_vgg), so every default video's probabilities, confidence
    and `uncertain` came out surer than the temperature was fitted to make them (a window 70% happy, the rest 5%
    each: 0.83 and 0.87 happy, not 0.57 and 0.53)."""
    happy = EMOTIONS.index("happy")
    window = np.full(len(EMOTIONS), 0.05, np.float32)
    window[happy] = 0.70
    for temperature, expected in ((1.2681, 0.5718), (1.3878, 0.5274), (2.0, 0.3841)):
        out = tempered(window, temperature)
        # by hand: 0.7 ** (1/T) / (0.7 ** (1/T) + 6 * 0.05 ** (1/T))
        assert out[happy] == pytest.approx(0.7 ** (1 / temperature) / (0.7 ** (1 / temperature)
                                                                        + 6 * 0.05 ** (1 / temperature)), abs=1e-6)
        assert out[happy] == pytest.approx(expected, abs=1e-4)
        assert out.argmax() == happy and out.sum() == pytest.approx(1.0, abs=1e-6)
    assert tempered(window, 0.5)[happy] > window[happy]  # below 1: surer
    assert tempered(window, 1.0) is window  # 1: none
    # a track's frames at once (the last axis is the emotions'), some of them a frame's certainty (clipped, not log 0)
    _, frames = _track(10.0, 2.0, seed=3)
    for temperature in (1.3878, 3.0):
        out = tempered(frames, temperature)
        np.testing.assert_allclose(out, _softened(np.clip(frames, 1e-7, 1.0), temperature), atol=1e-6)
        assert (out.max(axis=1) < frames.max(axis=1)).all() and (out.argmax(axis=1) == frames.argmax(axis=1)).all()


def test_an_lstms_temperature_from_its_folder_is_applied_to_the_tracks_outputs(tmp_path, astronaut_rgb):
    """The temperature travels from the LSTM folder's config.json (LSTMTemporal.temperature) to every track's final
    output (TrackSmoother.classify), as the video pipeline, live view and batch read it: the same LSTM at
    temperature 2 gives softmax(log p / 2) of its output at temperature 1, less sure, the same emotions."""
    import json
    import shutil

    from fervid.inference.analyzer import Analyzer
    from fervid.inference.models import WEIGHTS_DIR
    from fervid.inference.temporal import LSTMTemporal

    def lstm_at(temperature: float) -> LSTMTemporal:
        folder = Path(shutil.copytree(WEIGHTS_DIR / "temporal_lstm_ferplus_vgg", tmp_path / f"t{temperature}"))
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        (folder / "config.json").write_text(json.dumps({**config, "temperature": temperature}), encoding="utf-8")
        return LSTMTemporal(folder, cnn="ferplus_vgg")

    # a real face's features, the astronaut's, brighter and darker frame by frame (as a face in a video)
    analyzer = Analyzer("ferplus_vgg")
    grey = analyzer.analyze_image(astronaut_rgb)[0].crop.astype(np.float32)
    crops = np.stack([np.clip(grey * gain, 0, 255).astype(np.uint8) for gain in np.linspace(0.6, 1.3, 12)])
    out = analyzer.classify_crops(crops)
    times = np.arange(len(crops)) / 10.0
    at_one, at_two = lstm_at(1.0), lstm_at(2.0)
    assert (at_one.temperature, at_two.temperature) == (1.0, 2.0)
    outputs = {}
    for lstm in (at_one, at_two):
        track = TrackSmoother(lstm, 1.0, centred=True, fps=10.0)
        for t, p, f in zip(times, out.probabilities, out.features):
            track.add(float(t), p, f)
        outputs[lstm.temperature] = np.array([track.classify(float(t)) for t in times])
    np.testing.assert_allclose(outputs[2.0], _softened(outputs[1.0], 2.0), atol=1e-5)
    assert (outputs[2.0].max(axis=1) < outputs[1.0].max(axis=1) - 0.01).all()
    assert (outputs[2.0].argmax(axis=1) == outputs[1.0].argmax(axis=1)).all()


class AveragedWindows(MovingAverage):
    """The moving average with its outputs averaged over the windows around each frame, as the LSTM's are."""

    name = "averaged"
    smooth_outputs = True


@pytest.mark.parametrize("method", [PerFrame(), MovingAverage(), StickyHMM(), AveragedWindows()],
                         ids=lambda method: method.name)
@pytest.mark.parametrize("centred", [True, False])
def test_a_track_gone_is_forgotten_once_no_later_label_reads_it_and_the_labels_stay_as_they_were(method, centred):
    """Track 1 seen from 0 to 0.9 s and again from 1 + ``gap`` s under its number (a face lost and found, or another
    face under a tracker's one number), track 2 throughout, at 10 frames a second in time order, as a video's: its
    window let go of once labelled and out of every later label's reach gives the labels every window kept gives."""
    rng = np.random.default_rng(0)
    for gap in np.arange(0.1, 2.6, 0.1):
        frames = [(2, round(0.1 * i, 3)) for i in range(int((2.5 + gap) * 10))]
        frames += [(1, round(0.1 * i, 3)) for i in range(10)]
        frames += [(1, round(1.0 + gap + 0.1 * i, 3)) for i in range(5)]
        frames.sort(key=lambda frame: (frame[1], frame[0]))
        inputs = {frame: rng.dirichlet(np.ones(len(EMOTIONS))).astype(np.float32) for frame in frames}
        labels, held = [], []  # held: the windows held after each frame while track 1 is away, forgetting
        for forgets in (True, False):
            windows = TrackWindows(method, 1.0, centred, 10.0)
            waiting: list[tuple[int, float]] = []
            labelled = []
            for track_id, t in frames:
                windows.add(track_id, t, inputs[track_id, t], np.zeros(0, np.float32))
                waiting.append((track_id, t))
                final = [frame for frame in waiting if windows.final(frame[1], t)]
                waiting = [frame for frame in waiting if frame not in final]
                labelled += windows.classify_many(final)
                if final and forgets:
                    windows.end_passed(final[-1][1], t)
                if forgets and 0.95 < t < 0.95 + gap:
                    held.append(len(windows.tracks))
            labels.append(np.array(labelled + windows.classify_many(waiting)))
        np.testing.assert_array_equal(labels[0], labels[1], err_msg=f"{gap:.1f} s away")
        # away for longer than any label reads back: forgotten while away
        assert min(held) == (1 if gap > windows.reach + 0.05 else 2), f"{gap:.1f} s away"


def test_a_cnn_without_a_temporal_lstm_is_refused_by_name_in_python_s_words():
    """Called from Python, the advice names keywords (method="mean"), not the command line's flags."""
    from fervid.inference.models import ModelError
    from fervid.inference.temporal import make_method

    with pytest.raises(ModelError, match="no shipped temporal LSTM reads the features of CNN 'my_cnn'") as refused:
        make_method("lstm", cnn="my_cnn")
    said = str(refused.value)
    assert 'use method="mean" or method="frame"' in said and "pass its folder as temporal_model" in said
    assert "--method" not in said and "--temporal-model" not in said


def test_a_cnn_without_a_temporal_lstm_is_refused_in_the_words_of_its_caller():
    from fervid.inference.models import ModelError
    from fervid.inference.temporal import temporal_model_for

    with pytest.raises(ModelError) as on_the_command_line:
        temporal_model_for("my_cnn", "flags")
    assert "use --method mean or --method frame" in str(on_the_command_line.value)
    assert "as --temporal-model" in str(on_the_command_line.value)
    with pytest.raises(ModelError) as in_python:
        temporal_model_for("my_cnn", "keywords")
    assert 'use method="mean" or method="frame"' in str(in_python.value)
