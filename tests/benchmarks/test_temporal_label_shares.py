"""benchmarks/temporal_label_shares.py: each label's share of a method's outputs, and its precision and recall."""

import numpy as np
import pytest

from fervid.emotions import EMOTIONS

pytest.importorskip("torch")  # the script imports fervid.training's clip sets

from benchmark_scripts import load  # noqa: E402

label_report = load("temporal_label_shares").label_report


def test_shares_precision_and_recall_of_the_argmax_labels():
    fear, neutral, happy = (EMOTIONS.index(e) for e in ("fear", "neutral", "happy"))
    truth = np.array([fear, fear, neutral, neutral, neutral, happy])
    said = np.array([fear, neutral, fear, fear, neutral, happy])  # fear said 3 times, right once
    probabilities = np.eye(len(EMOTIONS))[said] * 0.6 + 0.4 / len(EMOTIONS)
    report = label_report(probabilities, truth)
    assert report["accuracy"] == pytest.approx(3 / 6, abs=1e-4)
    assert report["share"]["fear"] == pytest.approx(3 / 6, abs=1e-4) and sum(report["share"].values()) == pytest.approx(1)
    assert report["precision"]["fear"] == pytest.approx(1 / 3, abs=1e-3) and report["recall"]["fear"] == 0.5
    assert report["precision"]["neutral"] == 0.5 and report["recall"]["neutral"] == pytest.approx(1 / 3, abs=1e-3)
    # never said: nothing to count, not a measured 0 (it printed 0.00)
    assert report["precision"]["sad"] is None and report["recall"]["sad"] is None
