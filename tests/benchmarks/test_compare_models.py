"""benchmarks/compare_models.py: the carphone label shares per video method, and the side-by-side table."""

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

from fervid.emotions import EMOTIONS
from fervid.features import DEFAULT_MODEL, resolve_model_dir

_bench = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(_bench))
_spec = importlib.util.spec_from_file_location("compare_models", _bench / "compare_models.py")
compare_models = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compare_models)


def test_label_shares_cover_every_frame_per_method_and_skip_a_missing_lstm(tmp_path):
    from fervid.analyzer import Analyzer

    shares = compare_models.video_label_shares(Analyzer(DEFAULT_MODEL), compare_models.carphone())
    assert set(shares) == {"lstm", "mean", "frame"}
    for method, by_label in shares.items():
        assert set(by_label) == set(EMOTIONS) and sum(by_label.values()) == pytest.approx(1, abs=0.01), method
    # a copy of the CNN under another name has no temporal LSTM trained on its features: lstm is skipped
    copy = tmp_path / "renamed_cnn"
    shutil.copytree(resolve_model_dir(DEFAULT_MODEL), copy)
    renamed = Analyzer(copy)
    renamed.cnn.config.name = "renamed_cnn"
    shares = compare_models.video_label_shares(renamed, compare_models.carphone())
    assert shares["lstm"] is None and shares["frame"] is not None


def test_table_gives_speed_as_a_ratio_to_the_first_model():
    def row(acc, rate):
        per_class = dict.fromkeys(EMOTIONS, 0.5)
        scores = {"n": 10, "accuracy": acc, "macro_f1": acc, "ece": 0.05, "precision": per_class, "recall": per_class}
        return {"model": "m", "precision": "int8", "ferplus": scores, "fer2013": scores, "ckplus": scores,
                "jaffe": scores, "faces_per_s": {"median": rate}, "carphone_label_shares": {"frame": None}}

    table = compare_models.markdown({"base": row(0.6, 1000.0), "new": row(0.8, 750.0)}, "base")
    speed = next(line for line in table.splitlines() if line.startswith("| int8 faces/s"))
    assert "1,000 (1.00x)" in speed and "750 (0.75x)" in speed
    assert "**0.8000**" in table
