import numpy as np
import pytest

pytest.importorskip("torch")

from fervid.evaluation.datasets import load_fer2013  # noqa: E402
from fervid.inference.models import DEFAULT_MODEL, ModelError, available_models  # noqa: E402
from fervid.inference.temporal import (LSTMTemporal, MovingAverage, PerFrame, flicker_per_second,  # noqa: E402
                             make_method, shipped_temporal_models)
from fervid.training.train_temporal import TemporalTrainConfig, simulate_clip, train_temporal  # noqa: E402

from conftest import write_fer2013_csv, write_ferplus_votes  # noqa: E402


def test_simulated_clip_moves_but_keeps_the_face(astronaut_rgb):
    import cv2

    still = cv2.resize(cv2.cvtColor(astronaut_rgb[40:240, 130:310], cv2.COLOR_RGB2GRAY), (48, 48))
    clip = simulate_clip(still, 16, np.random.default_rng(0))
    assert clip.shape == (16, 48, 48) and clip.dtype == np.uint8
    diffs = [np.abs(clip[i].astype(int) - clip[i + 1]).mean() for i in range(15)]
    assert min(diffs) > 0.5  # every frame differs from the next
    corr = [np.corrcoef(f.ravel(), still.ravel())[0, 1] for f in clip]
    assert np.median(corr) > 0.6  # ...but it is still the same face


def test_flicker_counts_label_changes_per_second():
    assert flicker_per_second(np.array([1, 1, 2, 2, 1, 1]), fps=3) == pytest.approx(2 / 2)
    assert flicker_per_second(np.array([3] * 30), fps=30) == 0


def test_tiny_temporal_training_exports_a_working_model(tmp_path):
    csv = write_fer2013_csv(tmp_path / "f.csv", {"Training": 120, "PublicTest": 40})
    cfg = TemporalTrainConfig(fer2013=str(csv), ckplus="", train_clips=60, test_clips=20, frames=6, epochs=2)
    report = train_temporal(cfg, tmp_path / "lstm", progress=False)
    assert set(report["heldout_simulated_clips"]) == {"frame", "mean", "lstm", "hmm"}
    clips = report["heldout_simulated_clips"]
    # averaging over the window can only calm the labels the per-frame CNN gives
    assert clips["mean"]["flicker_per_s"] <= clips["frame"]["flicker_per_s"]
    lstm = LSTMTemporal(tmp_path / "lstm", cnn=DEFAULT_MODEL)
    assert lstm.cnn == DEFAULT_MODEL  # the folder names the CNN whose features it was trained on
    with pytest.raises(ModelError, match="trained on the features of CNN"):
        LSTMTemporal(tmp_path / "lstm", cnn="some_other_cnn")
    feats = np.random.default_rng(0).normal(size=(25, 512)).astype(np.float32)
    probs = np.full((25, 7), 1 / 7, np.float32)
    out = lstm(probs, feats)  # 25 frames: more than it was trained on, subsampled to 6
    assert out.shape == (7,) and out.sum() == pytest.approx(1, abs=1e-5)
    np.testing.assert_allclose(MovingAverage()(probs, feats), 1 / 7, rtol=1e-5)
    np.testing.assert_allclose(PerFrame()(probs, feats), probs[-1])
    assert len(load_fer2013(csv, "PublicTest")) == 40


@pytest.mark.parametrize("cnn", available_models())
def test_every_shipped_cnn_has_a_temporal_lstm_trained_on_its_very_weights(cnn):
    from fervid.inference.models import EmotionCNN

    digest = EmotionCNN(cnn).weights_sha256
    lstm = make_method("lstm", cnn=cnn, cnn_weights_sha256=digest)
    assert lstm.cnn == cnn and lstm.folder == shipped_temporal_models()[cnn]
    assert lstm.config["cnn_weights_sha256"] == digest  # a CNN retrained under its name needs a new LSTM


def test_an_lstm_trained_on_other_weights_of_the_same_cnn_is_refused(tmp_path):
    import json
    import shutil

    from fervid.inference.models import PAPER_MODEL, EmotionCNN
    from fervid.inference.temporal import LSTMTemporal

    folder = tmp_path / "lstm"
    shutil.copytree(shipped_temporal_models()[PAPER_MODEL], folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "cnn_weights_sha256": "0" * 64}))
    with pytest.raises(ModelError, match="with weights 000000000000, but the CNN given has weights"):
        LSTMTemporal(folder, cnn=PAPER_MODEL, cnn_weights_sha256=EmotionCNN(PAPER_MODEL).weights_sha256)


def test_a_mismatched_cnn_and_lstm_pair_is_refused_naming_both():
    from fervid.inference.models import PAPER_MODEL
    from fervid.inference.temporal import LSTMTemporal

    paper_lstm = shipped_temporal_models()[PAPER_MODEL]
    other = next(m for m in available_models() if m != PAPER_MODEL)
    with pytest.raises(ModelError, match=f"trained on the features of CNN '{PAPER_MODEL}', not '{other}'"):
        LSTMTemporal(paper_lstm, cnn=other)
    with pytest.raises(ModelError, match="reads 512-d features, but CNN 'fer2013_vgg' gives 256-d"):
        LSTMTemporal(paper_lstm, cnn=PAPER_MODEL, feature_dim=256)


def test_a_cnn_without_a_temporal_lstm_is_refused_by_name():
    with pytest.raises(ModelError, match="no shipped temporal LSTM reads the features of CNN 'my_cnn'"):
        make_method("lstm", cnn="my_cnn")


def test_temporal_stills_take_ferplus_majority_labels_when_given_the_votes(tmp_path):
    from fervid.evaluation.datasets import load_ferplus
    from fervid.training.train_temporal import stills

    csv = write_fer2013_csv(tmp_path / "f.csv", {"Training": 120, "PublicTest": 40})
    votes = write_ferplus_votes(csv, tmp_path / "fer2013new.csv")
    plain = stills(TemporalTrainConfig(fer2013=str(csv)), "PublicTest")
    relabelled = stills(TemporalTrainConfig(fer2013=str(csv), ferplus=str(votes)), "PublicTest")
    assert len(plain) == 40 and len(relabelled) == 32  # FER+ left out the rows it dropped or called not-a-face
    np.testing.assert_array_equal(relabelled.labels, load_ferplus(csv, votes, "PublicTest").labels)
