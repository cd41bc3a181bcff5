import numpy as np
import pytest

from fervid.inference.temporal import LSTM_TRAINED_SPACING, frames_per_window, labels_delay, window_notice


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
        said = window_notice(method, 1.0, 1.0, centred=True, most_rate=29.97)
        assert said.startswith("at 1 analysed frame a second (1 s apart), a 1 s centred window holds 1 analysed "
                               f"frame: --method {method} has nothing to smooth and gives each frame's own labels")
        assert window_notice(method, 1.0, 2.0, centred=True) is None  # 3 frames: something to smooth
    lone = window_notice("lstm", 1.0, 1.0, centred=True, most_rate=29.97)
    assert "the LSTM learnt from frames at most 0.3 s apart and from windows of 3 frames or more" in lone
    assert lone.endswith("use --method frame or --sample-fps 4 or more")
    # a rate the memory for the windows capped (--frames-memory-mb): more memory, not a faster --sample-fps, helps
    capped = window_notice("lstm", 1.0, 1.0, centred=True, most_rate=29.97, memory_capped=True)
    assert capped.endswith("use --method frame or a higher --frames-memory-mb (for 4 frames a second or more)")
    assert window_notice("mean", 1.0, 1.0, centred=True, most_rate=29.97, memory_capped=True).endswith(
        "a longer --window or a higher --frames-memory-mb lets it smooth")
    # 3 frames, but 0.5 s apart: farther than the LSTM's training windows' frames ever were
    apart = window_notice("lstm", 1.0, 2.0, centred=True, most_rate=29.97)
    assert "(0.5 s apart), a 1 s centred window holds 3 analysed frames: the LSTM learnt from frames at most 0.3 s " \
           "apart, so its labels here are outside what it learnt" in apart
    # frames close enough, too few of them (a 5 fps video, a 0.1 s window): a longer window, not a higher rate
    few = window_notice("lstm", 0.1, 5.0, centred=True, most_rate=5.0)
    assert "from windows of 3 frames or more" in few and few.endswith("use --method frame or a longer --window")
    assert window_notice("lstm", 1.0, 29.97, centred=True) is None  # every frame of a 30 fps video
    assert window_notice("lstm", 1.0, 1 / LSTM_TRAINED_SPACING, centred=True) is None
    assert window_notice("frame", 1.0, 1.0, centred=True) is None  # reads no window


@pytest.mark.parametrize("fps", [29.97, 30.0])
@pytest.mark.parametrize("sample_fps", [3.333, 3.33, 3.3])
def test_the_published_designs_spacing_is_what_the_lstm_learnt_from(fps, sample_fps):
    """--sample-fps 3.333 (the published design's 0.3 s) said "at 3.33 analysed frames a second (0.3 s apart) ...
    the LSTM learnt from frames at most 0.3 s apart, so its labels here are outside what it learnt": 1/3.333 s, or 9
    frames of 29.97 fps video (0.3003 s), against the 0.3 s of its widest stride, 9 frames of 30 fps."""
    from fervid.inference.video import analysis_rate

    assert window_notice("lstm", 1.0, analysis_rate(fps, sample_fps), centred=True, most_rate=fps) is None
    assert window_notice("lstm", 1.0, fps / 9, centred=True, most_rate=fps) is None  # every 9th frame


def test_a_spacing_said_beyond_the_lstms_is_never_said_as_the_same_number():
    """Whenever the notice says the frames are farther apart than the LSTM learnt from, the spacing it says differs
    from the one it says learnt (it said both as 0.3 s)."""
    import re

    said = 0
    for rate in np.arange(2.5, 4.0, 0.001):
        notice = window_notice("lstm", 1.0, float(rate), centred=True, most_rate=29.97)
        if notice and "frames at most" in notice:
            said += 1
            apart = re.search(r"\(([0-9.]+) s apart\)", notice).group(1)
            learnt = re.search(r"frames at most ([0-9.]+) s apart", notice).group(1)
            assert float(apart) > float(learnt), notice
    assert said > 100  # 3.2 a second (0.31 s apart) and slower are said
    assert "(0.31 s apart)" in window_notice("lstm", 1.0, 3.2, centred=True, most_rate=29.97)


def test_labels_trail_by_about_half_a_causal_window_and_not_a_centred_one():
    assert labels_delay("lstm", 1.0) == labels_delay("mean", 1.0) == 0.5
    assert labels_delay("hmm", 1.0) == 0.15 and labels_delay("frame", 1.0) == 0.0
    assert labels_delay("lstm", 1.0, centred=True) == 0.0


def test_the_lstm_is_said_to_be_outside_its_training_spacing_where_its_trainer_says_so():
    pytest.importorskip("torch")
    from fervid.training.train_temporal import CLIP_FPS, STRIDES

    assert max(STRIDES) / CLIP_FPS == pytest.approx(LSTM_TRAINED_SPACING)
