import numpy as np
import pytest

from fervid.evaluation.evaluate import plot_confusion, score


def test_scores_match_hand_counts(tmp_path):
    y_true = np.array([0, 0, 3, 3, 3, 6, 6, 1])
    y_pred = np.array([0, 3, 3, 3, 6, 6, 6, 1])
    ev = score(y_true, y_pred, "hand")
    assert ev.accuracy == pytest.approx(6 / 8)
    assert ev.confusion[3] == [0, 0, 0, 2, 0, 0, 1]
    assert ev.recall[0] == pytest.approx(0.5) and ev.precision[3] == pytest.approx(2 / 3, abs=1e-4)
    assert ev.support == [2, 1, 0, 3, 0, 0, 2]
    assert "| happy | 0.667 | 0.667 |" in ev.per_class_table()
    assert ev.macro_f1_classes == ["angry", "disgust", "happy", "neutral"]  # the classes the data has
    assert "macro-F1 (without fear, sad, surprise, absent from the data)" in ev.per_class_table()
    png = plot_confusion(ev, tmp_path / "cm.png")
    assert png.stat().st_size > 10_000


def test_temperature_scaling_fixes_overconfidence():
    from scipy.special import softmax

    from fervid.evaluation.evaluate import expected_calibration_error, fit_temperature

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 7, 4000)
    true_logits = rng.normal(0, 1, (4000, 7))
    true_logits[np.arange(4000), labels] += 1.5  # a model right about half the time...
    overconfident = true_logits * 4  # ...that reports it far too sure of itself
    t = fit_temperature(overconfident, labels)
    assert t > 2.0  # it must cool the logits down
    before = expected_calibration_error(softmax(overconfident, axis=1), labels)
    after = expected_calibration_error(softmax(overconfident / t, axis=1), labels)
    assert before > 0.2 and after < 0.05


@pytest.mark.parametrize("overconfidence", [1.0, 4.0])
def test_calibration_reports_the_uncertain_faces_at_the_temperature_the_model_keeps(monkeypatch, overconfidence):
    """The `uncertain` shares were measured at the fitted temperature even when it was not applied, so the card
    of a model that keeps temperature 1 described a flag the model does not raise."""
    from types import SimpleNamespace

    from scipy.special import softmax

    from fervid.evaluation import evaluate as evaluation
    from fervid.evaluation.datasets import FaceDataset

    rng = np.random.default_rng(1)
    logits = rng.normal(0, 1.2, (5000, 7))
    labels = np.array([rng.choice(7, p=p) for p in softmax(logits, axis=1)])  # calibrated at temperature 1
    logits = logits * overconfidence
    raw = logits
    monkeypatch.setattr(evaluation, "predict_dataset", lambda cnn, ds, logits=False: raw)
    faces = FaceDataset(np.zeros((5000, 48, 48), np.uint8), labels, name="made")
    report = evaluation.calibrate(SimpleNamespace(config=SimpleNamespace(uncertain_below=0.5)), faces)
    assert report["applied"] == (overconfidence > 1)  # kept only where it lowers the held-out error
    kept = softmax(logits / (report["temperature"] if report["applied"] else 1.0), axis=1)
    unsure = kept.max(axis=1) < 0.5
    assert report["uncertain_share"] == round(float(unsure.mean()), 4)
    assert report["accuracy_confident"] == round(float((kept.argmax(1) == labels)[~unsure].mean()), 4)


def test_tie_aware_accuracy_takes_the_class_order_out_of_tied_faces():
    from fervid.emotions import EMOTIONS
    from fervid.evaluation.evaluate import tie_aware_accuracy

    sad, neutral, happy, angry = (EMOTIONS.index(e) for e in ("sad", "neutral", "happy", "angry"))
    shares = np.zeros((4, len(EMOTIONS)))
    shares[0, [sad, neutral]] = 0.4
    shares[0, angry] = 0.2  # sad and neutral tie: argmax names sad, the first of the two in EMOTIONS order
    shares[1, happy] = 1.0
    shares[2, [sad, neutral, angry]] = 1 / 3  # a three-way tie
    shares[3, neutral], shares[3, sad] = 0.6, 0.4
    assert shares.argmax(axis=1)[0] == sad  # the artefact: a neutral prediction would score 0 on face 0

    pred = np.array([neutral, happy, angry, sad])
    got = tie_aware_accuracy(pred, shares)
    assert got["tied"] == 2
    assert got["untied"] == {"n": 2, "accuracy": 0.5}  # happy right, face 3's sad wrong
    assert got["random_tiebreak"] == pytest.approx(round((0.5 + 1 + 1 / 3 + 0) / 4, 4))
    # a prediction outside the tied emotions scores nothing, however the tie is broken
    assert tie_aware_accuracy(np.array([happy]), shares[:1])["random_tiebreak"] == 0.0


def test_learning_curves_tick_whole_epochs_only():
    """A short run (3 epochs, as a quick experiment makes) is drawn with ticks at whole epochs, not at 1.25."""
    from fervid.evaluation.evaluate import learning_curves_figure

    fig = learning_curves_figure([{"epoch": e, "train_acc": 0.5, "val_acc": 0.4, "train_loss": 1 / e,
                                   "val_loss": 1.2 / e} for e in (1, 2, 3)])
    for ax in fig.axes:
        lo, hi = ax.get_xlim()
        shown = [t for t in ax.get_xticks() if lo <= t <= hi]
        assert shown and all(float(t).is_integer() for t in shown), shown


def test_plots_leave_the_callers_matplotlib_backend_alone(tmp_path):
    """A notebook user's plotting backend (inline, or any other) stays what it was after fervid draws its PNGs."""
    import matplotlib

    from fervid.evaluation.evaluate import plot_learning_curves

    before = matplotlib.get_backend()
    matplotlib.use("svg")
    try:
        ev = score(np.array([0, 3, 6, 3]), np.array([0, 3, 3, 3]), "tiny")
        confusion = plot_confusion(ev, tmp_path / "cm.png")
        curves = plot_learning_curves([{"epoch": e, "train_acc": 0.5 + e / 10, "val_acc": 0.4 + e / 10,
                                        "train_loss": 1 / e, "val_loss": 1.2 / e} for e in (1, 2, 3)],
                                       tmp_path / "curves.png", title="tiny")
        assert matplotlib.get_backend() == "svg"
        for png in (confusion, curves):
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        matplotlib.use(before)
