import numpy as np
import pytest

from fervid.evaluate import plot_confusion, score


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
