"""benchmarks/compare_models.py: the carphone label shares per video method, and the side-by-side table."""

import shutil

import pytest

from fervid.emotions import EMOTIONS
from fervid.inference.models import DEFAULT_MODEL, resolve_model_dir
from fervid.inference.temporal import METHODS
from fervid.inference.video import sample_video

from benchmark_scripts import load

compare_models = load("compare_models")


def test_label_shares_cover_every_frame_per_method_and_skip_a_missing_lstm(tmp_path):
    from fervid.inference.analyzer import Analyzer

    shares = compare_models.video_label_shares(Analyzer(DEFAULT_MODEL), sample_video())
    assert set(shares) == set(METHODS) >= {"lstm", "mean", "frame", "hmm"}
    for method, by_label in shares.items():
        assert set(by_label) == set(EMOTIONS) and sum(by_label.values()) == pytest.approx(1, abs=0.01), method
    # a copy of the CNN under another name has no temporal LSTM trained on its features: lstm is skipped
    copy = tmp_path / "renamed_cnn"
    shutil.copytree(resolve_model_dir(DEFAULT_MODEL), copy)
    renamed = Analyzer(copy)
    renamed.cnn.config.name = "renamed_cnn"
    shares = compare_models.video_label_shares(renamed, sample_video())
    assert shares["lstm"] is None and shares["frame"] is not None


def row(acc, rate, cross=0.5, n=3500):
    per_class = dict.fromkeys(EMOTIONS, 0.5)

    def scores(a):
        return {"n": n, "accuracy": a, "macro_f1": a, "ece": 0.05, "precision": per_class, "recall": per_class}

    return {"model": "m", "precision": "int8", "ferplus": scores(acc), "fer2013": scores(acc),
            "ckplus": scores(cross), "jaffe": scores(cross), "faces_per_s": {"median": rate},
            "carphone_label_shares": {"frame": None}}


def test_table_gives_speed_as_a_ratio_to_the_first_model():
    table = compare_models.markdown({"base": row(0.6, 1000.0), "new": row(0.8, 750.0)}, "base")
    speed = next(line for line in table.splitlines() if line.startswith("| int8 faces/s"))
    assert "1,000 (1.00x)" in speed and "750 (0.75x)" in speed
    assert "**0.8000**" in table and "**0.6000**" not in table  # only the best FER+ accuracy is bold


def test_table_adds_barsoum_et_al_s_clear_majority_subset_where_every_model_has_it():
    base, new = row(0.6, 1000.0), row(0.8, 750.0)
    assert "clear majority" not in compare_models.markdown({"base": base, "new": new}, "base")
    base["ferplus_clear_majority"] = {"n": 2900, "accuracy": 0.65}
    new["ferplus_clear_majority"] = {"n": 2900, "accuracy": 0.88}
    clear = next(line for line in compare_models.markdown({"base": base, "new": new}, "base").splitlines()
                 if "clear majority" in line)
    assert "2900" in clear and clear.endswith("| 0.6500 | 0.8800 |")


def test_default_rule_puts_consensus_first_speed_as_a_bar_and_cross_dataset_as_the_tie_break():
    choose = compare_models.choose_default
    # the most accurate model is too slow (0.5x): the best of the rest wins
    assert choose({"base": row(0.66, 1000), "slow": row(0.90, 500), "new": row(0.83, 900)}, "base")[0] == "new"
    # within one standard error (0.0063 at p=0.84, n=3500) the cross-dataset accuracy decides...
    assert choose({"base": row(0.66, 1000), "a": row(0.840, 1000, cross=0.5),
                   "b": row(0.836, 1000, cross=0.6)}, "base")[0] == "b"
    # ...but not beyond it
    assert choose({"base": row(0.66, 1000), "a": row(0.850, 1000, cross=0.5),
                   "b": row(0.836, 1000, cross=0.6)}, "base")[0] == "a"
    # the shipped default, tied on FER+, stays unless the tie-break beats it beyond its standard error
    # (0.5 * sqrt(2 * 0.5 * 0.5 / 3500) = 0.006 here)
    tied = {"base": row(0.66, 1000), "shipped": row(0.840, 1000, cross=0.500), "b": row(0.838, 1000, cross=0.505)}
    name, why = choose(tied, "base", incumbent="shipped")
    assert name == "shipped" and "stays" in why
    assert choose(tied, "base")[0] == "b"  # without an incumbent, the plain rule
    tied["b"] = row(0.838, 1000, cross=0.510)
    assert choose(tied, "base", incumbent="shipped")[0] == "b"
    # an incumbent beaten on FER+ beyond one standard error does not stay
    assert choose({"base": row(0.66, 1000), "shipped": row(0.830, 1000, cross=0.6), "b": row(0.845, 1000)},
                  "base", incumbent="shipped")[0] == "b"


def test_table_adds_the_tie_aware_ferplus_accuracies_where_every_model_has_them():
    base, new = row(0.6, 1000.0), row(0.8, 750.0)
    assert "tie" not in compare_models.markdown({"base": base, "new": new}, "base")
    base["ferplus_ties"] = {"tied": 127, "untied": {"n": 3402, "accuracy": 0.61}, "random_tiebreak": 0.605}
    new["ferplus_ties"] = {"tied": 127, "untied": {"n": 3402, "accuracy": 0.86}, "random_tiebreak": 0.846}
    lines = compare_models.markdown({"base": base, "new": new}, "base").splitlines()
    untied = next(line for line in lines if "left out" in line)
    assert "127" in untied and "3402" in untied and untied.endswith("| 0.6100 | 0.8600 |")
    assert next(line for line in lines if "at random" in line).endswith("| 0.6050 | 0.8460 |")


def test_called_neutral_counts_expressive_faces_predicted_neutral_and_the_table_shows_it_for_both_sets():
    neutral = EMOTIONS.index("neutral")
    confusion = [[0] * len(EMOTIONS) for _ in EMOTIONS]
    angry = EMOTIONS.index("angry")
    confusion[angry][angry], confusion[angry][neutral] = 6, 3  # 3 of 9 angry faces called neutral
    confusion[EMOTIONS.index("happy")][EMOTIONS.index("happy")] = 11
    confusion[neutral][neutral] = 50  # neutral faces called neutral are not expressive faces
    assert compare_models.called_neutral(confusion) == pytest.approx(3 / 20)

    base, new = row(0.6, 1000.0), row(0.8, 750.0)
    assert "called neutral" not in compare_models.markdown({"base": base, "new": new}, "base")
    for r in (base, new):
        r["ckplus"] = {**r["ckplus"], "confusion": confusion}
        r["jaffe"] = {**r["jaffe"], "confusion": [[0] * len(EMOTIONS) for _ in EMOTIONS]}
    line = next(x for x in compare_models.markdown({"base": base, "new": new}, "base").splitlines()
                if "called neutral" in x)
    assert line.endswith("| 15.0% / 0.0% | 15.0% / 0.0% |")


def test_a_per_class_value_with_nothing_to_count_reads_n_a():
    """A class never predicted has no precision (None, as fervid evaluate gives it): the table raised TypeError."""
    base = row(0.6, 1000.0)
    base["ferplus"] = {**base["ferplus"], "precision": {**base["ferplus"]["precision"], "fear": None},
                       "recall": {**base["ferplus"]["recall"], "disgust": None}}
    lines = compare_models.markdown({"base": base, "new": row(0.8, 750.0)}, "base").splitlines()
    fear = next(line for line in lines if line.startswith("| fear: precision / recall"))
    disgust = next(line for line in lines if line.startswith("| disgust: precision / recall"))
    assert "| n/a / 0.50 | 0.50 / 0.50 |" in fear and "| 0.50 / n/a |" in disgust
