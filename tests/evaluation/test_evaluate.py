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
