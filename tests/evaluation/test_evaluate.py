from dataclasses import replace

import numpy as np
import pytest

from fervid.evaluation.evaluate import plot_confusion, score
from fervid.inference.models import available_models


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
    # of video, the labels are the segments scored: "the data" read as fervid's labels too, which name surprise
    # here, and "the annotations" as every line, where a line outside the stretch analysed may name it
    frames = score(y_true, np.where(y_pred == 6, 5, y_pred), "ann.csv", unit="frames")
    assert frames.macro_f1_label == "macro-F1 (without fear, sad, surprise, absent from the segments scored)"
    png = plot_confusion(ev, tmp_path / "cm.png")
    assert png.stat().st_size > 10_000


def test_a_class_with_nothing_to_count_is_not_scored_zero():
    """Classes absent from the data and never predicted were printed 0.000 precision and recall (and written 0 to
    metrics.json), as if measured and failed."""
    import json

    from sklearn.metrics import classification_report

    y_true = np.array([0, 0, 3, 3, 3, 6, 6, 1])
    y_pred = np.array([0, 3, 3, 3, 6, 6, 2, 0])  # fear predicted once, never in the data; disgust never predicted
    ev = score(y_true, y_pred)
    assert ev.precision[4] is ev.recall[4] is ev.f1[4] is None  # sad: none there, none predicted
    assert "| sad | n/a | n/a | n/a | 0 |" in ev.per_class_table()
    assert ev.precision[2] == 0.0 and ev.recall[2] is None and ev.f1[2] == 0.0  # fear: predicted, wrongly
    assert ev.precision[1] is None and ev.recall[1] == 0.0  # disgust: there, never predicted
    assert json.loads(json.dumps(ev.to_dict()))["precision"][4] is None  # null in metrics.json, not NaN
    # the average rows are sklearn's classification_report's over the classes the data has
    report = classification_report(y_true, y_pred, labels=[0, 1, 3, 6], output_dict=True, zero_division=0)
    for mine, theirs in ((ev.macro_avg, report["macro avg"]), (ev.weighted_avg, report["weighted avg"])):
        assert mine == {"precision": round(theirs["precision"], 4), "recall": round(theirs["recall"], 4),
                        "f1": round(theirs["f1-score"], 4), "support": 8}
    assert ev.macro_avg["f1"] == round(ev.macro_f1, 4)
    assert "| macro avg (without fear, sad, surprise) | 0.417 | 0.417 | 0.417 | 8 |" in ev.per_class_table()


def test_accuracy_has_a_95_percent_wilson_interval():
    """A score on 129 JAFFE faces was printed as bare as one on 3,589 FER2013 faces."""
    y_true = np.array([0, 0, 3, 3, 3, 6, 6, 1])
    ev = score(y_true, np.array([0, 3, 3, 3, 6, 6, 6, 1]))
    z, n, p = 1.959964, 8, 6 / 8  # Wilson's interval by its formula
    centre, half = (p + z * z / (2 * n)) / (1 + z * z / n), z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n
                                                                                        + z * z / (4 * n * n))
    assert ev.accuracy_ci95 == pytest.approx([centre - half, centre + half], abs=1e-4)
    assert ev.accuracy_text == f"accuracy 0.7500 (95% CI {ev.accuracy_ci95[0]:.4f}-{ev.accuracy_ci95[1]:.4f}, Wilson)"
    assert score(y_true, y_true).accuracy_ci95[1] == 1.0


def _people(right: list[int], faces: int = 10):
    """Faces of len(right) people, ``faces`` each, every face of person i right where right[i] (one person's faces
    go together, as three frames of one CK+ sequence do)."""
    y_true = np.zeros(len(right) * faces, np.int64)
    y_pred = np.repeat(np.where(right, 0, 3), faces)
    subjects = [f"S{i:03d}" for i in np.repeat(np.arange(len(right)), faces)]
    return y_true, y_pred, subjects


def test_the_interval_resamples_people_where_the_data_names_them(monkeypatch):
    """CK+48's 783 faces are 86 people's (three near-identical frames per sequence), JAFFE's 6 people's; Wilson read
    them as independent draws, an interval too narrow (0.662-0.726 on CK+, where resampling people gives
    0.649-0.739)."""
    from fervid.evaluation import evaluate as evaluation
    from fervid.evaluation.datasets import FaceDataset

    from scipy.stats import t

    right = [1, 1, 1, 0, 1, 0, 1, 1, 0, 1, 1, 0] * 3  # 36 people, 24 of them always right
    y_true, y_pred, subjects = _people(right)
    ev = score(y_true, y_pred, "made", subjects=subjects)
    assert ev.accuracy == pytest.approx(24 / 36) and ev.ci_method == "bootstrap over 36 subjects"
    # the percentiles of the accuracy of 36 people drawn with replacement, by hand
    draws = np.random.default_rng(1).choice(right, size=(20000, len(right))).mean(axis=1)
    assert ev.accuracy_ci95 == pytest.approx(np.percentile(draws, [2.5, 97.5]), abs=0.02)
    wilson = score(y_true, y_pred).accuracy_ci95  # no subjects: the 360 faces as independent draws, as before
    assert score(y_true, y_pred).ci_method == "Wilson"
    assert ev.accuracy_ci95[1] - ev.accuracy_ci95[0] > 2.5 * (wilson[1] - wilson[0])
    assert score(y_true, y_pred, subjects=subjects).accuracy_ci95 == ev.accuracy_ci95  # seeded
    assert f"(95% CI {ev.accuracy_ci95[0]:.4f}-{ev.accuracy_ci95[1]:.4f}, bootstrap over 36 subjects)" \
        in ev.accuracy_text
    # 12 of them: a t interval, the people's accuracies' mean plus or minus t(11) times their standard error (the
    # jackknife's is that where every person has as many faces)
    y_true, y_pred, subjects = _people(right[:12])
    twelve = score(y_true, y_pred, "made", subjects=subjects)
    half = t.ppf(0.975, 11) * np.std(right[:12], ddof=1) / np.sqrt(12)
    assert twelve.ci_method == "t interval over 12 subjects"
    assert twelve.accuracy_ci95 == pytest.approx([8 / 12 - half, 8 / 12 + half], abs=1e-4)
    assert f"(95% CI {twelve.accuracy_ci95[0]:.4f}-{twelve.accuracy_ci95[1]:.4f}, t interval over 12 subjects)" \
        in twelve.accuracy_text
    # 4 people: too few to resample, and no interval rather than Wilson's, which would read 40 faces as 40 draws
    few_true, few_pred, few_subjects = _people([1, 0, 1, 1])
    few = score(few_true, few_pred, subjects=few_subjects)
    assert few.accuracy_ci95 is None and few.ci_method == "none: 4 subject(s), too few: an interval needs 5"
    # a dataset that names its people (CK+, JAFFE) is scored so by evaluate()
    monkeypatch.setattr(evaluation, "predict_dataset", lambda cnn, ds: np.eye(7)[y_pred])
    made = FaceDataset(np.zeros((len(y_true), 48, 48), np.uint8), y_true, name="made", subjects=subjects)
    assert evaluation.evaluate(None, made).to_dict() == twelve.to_dict()


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


def _calibrate_on(monkeypatch, logits, labels, temperature):
    from types import SimpleNamespace

    from fervid.evaluation import evaluate as evaluation
    from fervid.evaluation.datasets import FaceDataset

    monkeypatch.setattr(evaluation, "predict_dataset", lambda cnn, ds, logits=False: raw)
    raw = logits
    model = SimpleNamespace(config=SimpleNamespace(uncertain_below=0.5, temperature=temperature))
    return evaluation.calibrate(model, FaceDataset(np.zeros((len(labels), 48, 48), np.uint8), labels, name="made"))


def test_a_temperature_at_the_end_of_the_range_searched_is_never_applied(monkeypatch):
    """Whole photos read as face crops: the outputs say nothing of the labels, the fit ran to the bound (20) and
    that temperature was marked applied and written into the model."""
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 7, 3000)
    report = _calibrate_on(monkeypatch, rng.normal(0, 3, (3000, 7)), labels, temperature=1.0)
    assert report["temperature"] == pytest.approx(20, rel=0.02) and report["at_fitting_bound"] is True
    assert report["fitting_bounds"] == [0.05, 20.0]
    assert report["applied"] is False and report["kept_temperature"] == 1.0


def test_calibration_is_judged_against_the_models_current_temperature(monkeypatch):
    """calibrate compared the fitted temperature with temperature 1 only: a model calibrated before (the shipped
    ferplus_vgg runs at 0.5575) was judged against an error it never had, and a fit that did not help was
    reported as one, or one that did not beat the current temperature dropped it for 1."""
    from scipy.special import softmax

    from fervid.evaluation.evaluate import expected_calibration_error

    rng = np.random.default_rng(3)
    logits = rng.normal(0, 1.2, (4000, 7))
    labels = np.array([rng.choice(7, p=p) for p in softmax(logits, axis=1)])
    report = _calibrate_on(monkeypatch, logits * 4, labels, temperature=4.0)  # calibrated already, at 4
    assert report["current_temperature"] == 4.0
    assert report["ece_current"] == round(expected_calibration_error(softmax(logits, axis=1), labels), 4)
    assert report["ece_current"] < 0.05 < report["ece_before"]  # at T=1 it is overconfident
    assert report["applied"] == (report["ece_gain"] > report["ece_gain_se"])
    assert report["kept_temperature"] == (round(report["temperature"], 4) if report["applied"] else 4.0)


def test_calibration_judges_the_fit_against_the_current_temperature_on_the_same_halves(monkeypatch):
    """The fitted temperature's error, measured on half the faces at a time, was set against the current
    temperature's over all of them; binned ECE rises as the faces grow fewer, so a temperature that helps was
    turned down: 8 of 20 times for a model plainly overconfident (right as often as softmax(logits) says, run at
    softmax(1.3 * logits))."""
    from scipy.special import softmax

    from fervid.evaluation.evaluate import expected_calibration_error

    reports = []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        logits = rng.normal(0, 1.5, (400, 7))
        labels = np.array([rng.choice(7, p=p) for p in softmax(logits, axis=1)])
        reports.append((logits, labels, _calibrate_on(monkeypatch, logits * 1.3, labels, temperature=1.0)))
    assert sum(report["applied"] for *_, report in reports) >= 16  # 18: turned down where it did not help there
    # the halves calibrate cross-fits on (its split seeds, 0 to 9)
    halvings = [np.random.default_rng(seed).permutation(400) for seed in range(10)]
    for logits, labels, report in reports:
        assert report["temperature"] == pytest.approx(1.3, abs=0.25)  # the fit finds the overconfidence
        # the current temperature's error on those halves, averaged alike, is what the fit is judged against
        assert report["ece_current_halves_by_seed"] == pytest.approx([np.mean(
            [expected_calibration_error(softmax(logits[h] * 1.3, axis=1), labels[h])
             for h in (halves[:200], halves[200:])]) for halves in halvings], abs=1e-4)
        assert report["applied"] == (report["ece_gain"] > report["ece_gain_se"])


def test_a_fitted_temperature_is_judged_over_ten_halvings_not_one(monkeypatch):
    """One random halving decided whether a temperature was applied: on FER2013's PublicTest the fit was turned
    down on it (0.0418 against 0.0362) and applied on 11 of 30 other halvings, at a mean of 0.0348 against 0.0336.
    It is now judged on 10 halvings: applied where it lowers the mean cross-fitted ECE by more than the gain's
    standard error over them. Here a model calibrated at temperature 1 (labels drawn from its own probabilities):
    the first halving alone favours the fitted temperature, the ten do not."""
    from scipy.special import softmax

    from fervid.evaluation.evaluate import expected_calibration_error, fit_temperature

    rng = np.random.default_rng(111)
    logits = rng.normal(0, 1.5, (2000, 7))
    labels = np.array([rng.choice(7, p=p) for p in softmax(logits, axis=1)])
    report = _calibrate_on(monkeypatch, logits, labels, temperature=1.0)
    assert report["split_seeds"] == list(range(10)) and report["ece_bins"] == 15
    cross, current = [], []
    for seed in report["split_seeds"]:  # each halving's errors, as calibrate says it measured them
        halves = np.random.default_rng(seed).permutation(2000)
        a, b = halves[:1000], halves[1000:]
        cross.append(np.mean([expected_calibration_error(
            softmax(logits[test] / fit_temperature(logits[fit], labels[fit]), axis=1), labels[test])
            for fit, test in ((a, b), (b, a))]))
        current.append(np.mean([expected_calibration_error(softmax(logits[h], axis=1), labels[h]) for h in (a, b)]))
    assert report["ece_after_cross_fitted_by_seed"] == pytest.approx(cross, abs=1e-4)
    assert report["ece_current_halves_by_seed"] == pytest.approx(current, abs=1e-4)
    assert (report["ece_after_cross_fitted"], report["ece_current_halves"]) == pytest.approx(
        (np.mean(cross), np.mean(current)), abs=1e-4)
    gains = np.array(current) - np.array(cross)
    assert (report["ece_gain"], report["ece_gain_se"]) == pytest.approx(
        (gains.mean(), gains.std(ddof=1) / np.sqrt(10)), abs=1e-4)
    assert gains[0] > 0  # the one halving the verdict was on favoured it
    assert report["ece_gain"] <= report["ece_gain_se"] and report["applied"] is False
    assert report["kept_temperature"] == 1.0
    with pytest.raises(ValueError, match="split_seeds must be 2 or more"):
        from fervid.evaluation import evaluate as evaluation

        evaluation.calibrate(None, None, split_seeds=1)


def _model_copy(tmp_path, name: str, **config_changes):
    """A shipped model's folder, as `fervid evaluate --write-card` meets it, its training config changed."""
    import json
    import shutil

    from fervid.inference.models import WEIGHTS_DIR

    folder = tmp_path / name
    shutil.copytree(WEIGHTS_DIR / name, folder)
    config = json.loads((folder / "training_config.json").read_text(encoding="utf-8"))
    (folder / "training_config.json").write_text(json.dumps(config | config_changes), encoding="utf-8")
    return folder


def test_a_model_card_says_where_its_faces_came_from_and_that_nobody_pictured_consented(tmp_path):
    """The cards named the training data's file but not its provenance: faces FER2013 took from Google image
    searches (no consent), FER+'s crowd-sourced labels and their licence, no breakdown by age, sex or skin tone."""
    from fervid.evaluation.evaluate import write_model_card

    ev = score(np.array([0, 3, 6]), np.array([0, 3, 6]), "hand")
    texts = {}
    for name, changes in (("ferplus_vgg", {}), ("fer2013_vgg", {}),
                          ("ferplus_vgg", {"data_kind": "folder", "data": "my_faces/"})):
        folder = _model_copy(tmp_path / str(len(texts)), name, **changes)
        card = write_model_card(folder, ev, command="fervid train ...", data="faces")
        text = (folder / "MODEL_CARD.md").read_text(encoding="utf-8")
        section = text.split("## Data and consent\n", 1)[1].split("\n\n", 1)[0]
        assert section.splitlines() == [f"- {line}" for line in card["data_and_consent"]]
        texts[name + str(bool(changes))] = section
    ferplus, fer2013, folder = texts["ferplus_vggFalse"], texts["fer2013_vggFalse"], texts["ferplus_vggTrue"]
    for section in (ferplus, fer2013):
        assert "FER2013 (Goodfellow et al. 2013" in section and "Google image searches" in section
        assert "did not consent" in section and "age, sex or skin tone" in section
        assert "not what the people pictured felt" in section
    assert "FER+ (Barsoum et al. 2016), crowd-sourced" in ferplus and "MIT licence" in ferplus
    assert "FER2013's own, one annotator per face" in fer2013 and "FER+" not in fer2013
    for section in (ferplus, fer2013):  # the weights' terms are not fervid's code's: the README's Licences says more
        assert "- Terms: fervid's MIT licence covers its code, not what these weights learnt from" in section
        assert "state no terms" in section and '(README.md, "Licences")' in section
    assert "my_faces/" in folder and "Terms:" not in folder and "FER2013" not in folder and "consented" in folder


def test_a_model_card_lists_the_commands_train_recorded_and_says_a_later_stage_has_its_own(tmp_path):
    """A card's command was only what `--write-card --command` was given; a second stage's card said "see the
    command" of an earlier stage the recorded command does not train."""
    import json

    from fervid.evaluation.evaluate import write_model_card

    ev = score(np.array([0, 3, 6]), np.array([0, 3, 6]), "hand")
    folder = _model_copy(tmp_path, "fer2013_vgg")
    records = [{"command": "fervid train --config stage2.toml", "time": "2026-01-02T03:04:05+00:00", "resumed": False,
                "epochs_done": 0},
               {"command": "fervid train --out runs/stage2 --resume", "time": "2026-01-03T03:04:05+00:00",
                "resumed": True, "epochs_done": 7}]
    (folder / "training_commands.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    card = write_model_card(folder, ev, command="", data="faces")
    assert card["training"]["command"] == "fervid train --config stage2.toml" and card["training"]["commands"] == records
    text = (folder / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert ("- Command: `fervid train --config stage2.toml` (recorded by `fervid train`, 2026-01-02T03:04:05+00:00)\n"
            "- Resumed after epoch 7: `fervid train --out runs/stage2 --resume` (2026-01-03T03:04:05+00:00)\n") in text
    assert "(an earlier stage, trained by a command of its own)" in text and "see the command" not in text
    # a record whose run's start is missing (begun without a command line): its resumes reproduce nothing
    (folder / "training_commands.jsonl").write_text(json.dumps(records[1]) + "\n", encoding="utf-8")
    card = write_model_card(folder, ev, command="", data="faces")
    assert card["training"]["command"] == "" and "commands" not in card["training"]
    assert "- Command: not recorded" in (folder / "MODEL_CARD.md").read_text(encoding="utf-8")


def test_a_model_card_gives_the_like_for_like_errors_a_fit_was_turned_down_on(tmp_path):
    """A card said only that the fit "did not lower the error on held-out faces", not by what numbers."""
    import json

    from fervid.evaluation.evaluate import write_model_card

    folder = _model_copy(tmp_path, "fer2013_vgg")
    report = {"dataset": "fer2013:PublicTest", "n": 3589, "temperature": 0.9815, "current_temperature": 1.0,
              "ece_before": 0.0291, "ece_current": 0.0291, "ece_current_halves": 0.0362, "ece_after": 0.0279,
              "ece_after_cross_fitted": 0.0418, "at_fitting_bound": False, "fitting_bounds": [0.05, 20.0],
              "applied": False, "kept_temperature": 1.0, "uncertain_below": 0.5, "uncertain_share": 0.2,
              "accuracy_uncertain": 0.4, "accuracy_confident": 0.7}
    (folder / "calibration.json").write_text(json.dumps(report), encoding="utf-8")
    write_model_card(folder, score(np.array([0, 3, 6]), np.array([0, 3, 6]), "hand"), command="", data="faces")
    text = " ".join((folder / "MODEL_CARD.md").read_text(encoding="utf-8").split())
    assert ("It did not lower the error on held-out faces (0.0418 against 0.0362 at the temperature the model had, "
            "on the same halves), so the model keeps temperature 1.0.") in text


def test_a_model_card_gives_the_halvings_mean_errors_and_the_gains_standard_error(tmp_path):
    """The card said what one halving gave; a calibration judged over ten says their means and the gain's standard
    error (a calibration.json of one halving is said as before, above)."""
    import json

    from fervid.evaluation.evaluate import write_model_card

    folder = _model_copy(tmp_path, "fer2013_vgg")
    report = {"dataset": "fer2013:PublicTest", "n": 3589, "temperature": 0.9815, "current_temperature": 1.0,
              "ece_bins": 15, "ece_before": 0.0291, "ece_current": 0.0291, "ece_after": 0.0279,
              "split_seeds": list(range(10)), "ece_current_halves": 0.0343, "ece_after_cross_fitted": 0.0354,
              "ece_gain": -0.0011, "ece_gain_se": 0.0007, "at_fitting_bound": False, "fitting_bounds": [0.05, 20.0],
              "applied": False, "kept_temperature": 1.0, "uncertain_below": 0.5, "uncertain_share": 0.2,
              "accuracy_uncertain": 0.4, "accuracy_confident": 0.7}
    (folder / "calibration.json").write_text(json.dumps(report), encoding="utf-8")
    write_model_card(folder, score(np.array([0, 3, 6]), np.array([0, 3, 6]), "hand"), command="", data="faces")
    text = " ".join((folder / "MODEL_CARD.md").read_text(encoding="utf-8").split())
    assert ("0.0279 after, measured on the faces it was fitted on (0.0354 when the temperature is fitted on one half "
            "and measured on the other, the mean over 10 random halvings).") in text
    assert ("It did not lower the error on held-out faces by more than its standard error (means over 10 random "
            "halvings, 0.0354 against 0.0343 at the temperature the model had, on the same halves; a gain of -0.0011 "
            "+- 0.0007 (standard error over the halvings)), so the model keeps temperature 1.0.") in text
    report.update(applied=True, ece_gain=0.02, kept_temperature=0.9815)
    (folder / "calibration.json").write_text(json.dumps(report), encoding="utf-8")
    write_model_card(folder, score(np.array([0, 3, 6]), np.array([0, 3, 6]), "hand"), command="", data="faces")
    text = " ".join((folder / "MODEL_CARD.md").read_text(encoding="utf-8").split())
    assert "The temperature is applied (means over 10 random halvings, 0.0354 against 0.0343" in text


@pytest.mark.parametrize("null, says", [
    ("accuracy_confident", "right 33.3% of the time, against n/a (no face at 0.5 or more) for the others."),
    ("accuracy_uncertain", "right n/a (no face below 0.5) of the time, against 73.1% for the others.")])
def test_a_model_card_says_n_a_where_no_face_was_on_one_side_of_the_uncertain_threshold(tmp_path, null, says):
    """`fervid evaluate --write-card` on a model whose every calibration face was below 0.5 (calibration.json's
    "accuracy_confident": null) failed with a TypeError, having written card.json but no MODEL_CARD.md."""
    import json

    from fervid.evaluation.evaluate import write_model_card

    folder = _model_copy(tmp_path, "fer2013_vgg")
    report = json.loads((folder / "calibration.json").read_text(encoding="utf-8"))
    report.update({"accuracy_uncertain": 0.3333, "accuracy_confident": 0.7311, null: None,
                   "uncertain_share": 1.0 if null == "accuracy_confident" else 0.0})
    (folder / "calibration.json").write_text(json.dumps(report), encoding="utf-8")
    write_model_card(folder, score(np.array([0, 3, 6]), np.array([0, 3, 6]), "hand"), command="", data="faces")
    text = " ".join((folder / "MODEL_CARD.md").read_text(encoding="utf-8").split())
    assert says in text
    assert json.loads((folder / "card.json").read_text(encoding="utf-8"))["calibration"][null] is None


def test_a_card_that_cannot_be_rendered_leaves_both_card_files_as_they_were(tmp_path, monkeypatch):
    """A card whose MODEL_CARD.md failed to render had its card.json written already: the two disagreed."""
    import fervid.evaluation.evaluate as evaluate

    folder = _model_copy(tmp_path, "fer2013_vgg")
    before = {name: (folder / name).read_bytes() for name in ("card.json", "MODEL_CARD.md")}

    def broken(card):
        raise TypeError("cannot render")

    monkeypatch.setattr(evaluate, "model_card_markdown", broken)
    with pytest.raises(TypeError, match="cannot render"):
        evaluate.write_model_card(folder, score(np.array([0, 3]), np.array([0, 6]), "hand"), command="", data="x")
    assert {name: (folder / name).read_bytes() for name in before} == before


# every shipped CNN (the registry, not a list here): a model added without a card fails
@pytest.mark.parametrize("name", available_models())
def test_the_shipped_cards_carry_the_data_and_consent_note(name):
    import json

    from fervid.evaluation.evaluate import data_and_consent
    from fervid.inference.models import WEIGHTS_DIR

    card = json.loads((WEIGHTS_DIR / name / "card.json").read_text(encoding="utf-8"))
    assert card["data_and_consent"] == data_and_consent(card["training"]["config"],
                                                        command=card["training"]["command"])
    assert "is not recorded" not in " ".join(card["data_and_consent"])  # (its run's config, or the one it names)
    text = (WEIGHTS_DIR / name / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "## Data and consent\n" + "".join(f"- {line}\n" for line in card["data_and_consent"]) in text
    assert "- Terms: fervid's MIT licence covers its code" in text  # the shipped weights' terms, beside their data


def test_a_checkpoints_run_config_is_read_once_where_the_command_ran_here(tmp_path, monkeypatch):
    """A card's command with no directory recorded ran here: the checkpoint's run config.json as named and as the
    command meant it are one file, and it was read twice; with a directory recorded, both places are read."""
    from pathlib import Path

    import fervid.evaluation.evaluate as evaluate

    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "first").mkdir(parents=True)
    (tmp_path / "runs" / "first" / "config.json").write_text("{}", encoding="utf-8")  # (recording nothing)
    read: list[Path] = []
    real_read_json = evaluate._read_json
    monkeypatch.setattr(evaluate, "_read_json", lambda path: read.append(path) or real_read_json(path))
    second = {"data": "fer.csv", "labels": "fer2013", "init_from": "runs/first/best.pt"}
    evaluate.data_and_consent(second, command="fervid train --config configs/second.toml --out runs/second")
    assert read == [Path("runs/first/config.json")]
    read.clear()
    elsewhere = tmp_path / "elsewhere"
    evaluate.data_and_consent(second, command="fervid train --out runs/second", directory=elsewhere)
    assert read == [Path("runs/first/config.json"), elsewhere / "runs" / "first" / "config.json"]


def test_starting_weights_whose_run_folder_is_gone_are_described_by_the_config_the_command_trained_them_by(
        tmp_path, monkeypatch):
    """The shipped fer2013_vgg's card said of its stage-1 starting weights "what it learnt from, and under what
    terms, is not recorded": their run folder (runs/) is not kept, yet the card's own command names the config
    that trained it, which is."""
    from fervid.evaluation.evaluate import data_and_consent

    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "first.toml").write_text('data = "fer.csv"\nlabels = "ferplus"\nepochs = 2\n',
                                                      encoding="utf-8")
    second = {"data": "fer.csv", "labels": "fer2013", "init_from": "runs/first/best.pt"}
    command = ("fervid train --config configs/first.toml --out runs/first && "
               "fervid train --config configs/second.toml --out runs/second")
    said = next(line for line in data_and_consent(second, command=command) if line.startswith("Starting weights"))
    assert "`configs/first.toml`, the config its run" in said and "Labels: FER+ (Barsoum et al. 2016)" in said
    # the run named without --out is in runs/<config's name>, as `fervid train` names it
    assert "configs/first.toml" in next(line for line in data_and_consent(
        second, command="fervid train --config configs/first.toml && fervid train --config configs/second.toml")
        if line.startswith("Starting weights"))
    # as typed otherwise: `python -m fervid train`, `--config=...`; and from elsewhere, where the command ran
    for typed in ("python -m fervid train --config=configs/first.toml --out=runs/first",
                  "OMP_NUM_THREADS=2 /usr/bin/fervid train --out runs/first --config configs/first.toml"):
        assert "configs/first.toml" in next(line for line in data_and_consent(second, command=typed)
                                            if line.startswith("Starting weights")), typed
    monkeypatch.chdir(tmp_path / "configs")
    assert "configs/first.toml" in next(line for line in data_and_consent(second, command=command,
                                                                          directory=tmp_path)
                                        if line.startswith("Starting weights"))
    assert "is not recorded" in next(line for line in data_and_consent(second, command=command)
                                     if line.startswith("Starting weights"))  # (from here, no such config)
    monkeypatch.chdir(tmp_path)
    # another run's config, or none found, says so as before
    for other in ("fervid train --config configs/first.toml --out runs/other", "fervid train --out runs/first", None):
        said = next(line for line in data_and_consent(second, command=other) if line.startswith("Starting weights"))
        assert "is not recorded (its run's config.json, beside the checkpoint, is not found here)" in said


@pytest.mark.parametrize("name", ["temporal_lstm_ferplus_vgg", "temporal_lstm_fer2013_vgg"])
def test_each_shipped_temporal_model_has_the_card_its_training_record_gives(name, tmp_path):
    """A model bundle is weights, config and card; the shipped LSTMs had no card: what they read, how and on what
    they were trained (the command, the machine, the people on each side), on whose faces and under whose terms,
    and how they compare with the other video methods on held-out clips."""
    import json
    import shutil

    from fervid.evaluation.evaluate import write_temporal_card
    from fervid.inference.models import WEIGHTS_DIR

    folder = tmp_path / name
    shutil.copytree(WEIGHTS_DIR / name, folder)
    (folder / "MODEL_CARD.md").unlink()
    text = write_temporal_card(folder).read_text(encoding="utf-8")
    assert text == (WEIGHTS_DIR / name / "MODEL_CARD.md").read_text(encoding="utf-8")  # the shipped card is it
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    report = json.loads((folder / "training.json").read_text(encoding="utf-8"))
    assert f"`{config['cnn']}`'s features only" in text and config["cnn_weights_sha256"][:16] in text
    assert f"- Command: `{report['command']}`" in text and "Intel Xeon with AMX" in text
    assert "JAFFE's terms allow non-commercial research only" in text and "did not consent" in text
    assert "17 test (17 CK+, 0 JAFFE)" in text  # whose people the untouched numbers are measured on
    lstm_people = report["heldout"]["people"]["centred"]["lstm"]
    assert "| people | centred | " in text and f"{lstm_people['accuracy']:.3f} / " in text


def test_a_stills_only_temporal_models_card_says_it_learnt_from_no_people(tmp_path):
    """`fervid train-temporal` without --ckplus or --jaffe wrote a card saying "30 per training person of no lab
    people" and "Temperature: 1.000, fitted on the validation people's clips" with no validation people (the
    temperature was fitted on stills' clips, and not applied)."""
    import json
    import shutil

    from fervid.evaluation.evaluate import write_temporal_card
    from fervid.inference.models import WEIGHTS_DIR

    folder = tmp_path / "stills_only"
    shutil.copytree(WEIGHTS_DIR / "temporal_lstm_fer2013_vgg", folder)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    (folder / "config.json").write_text(json.dumps({**config, "people": {}, "temperature": 1.0}), encoding="utf-8")
    report = json.loads((folder / "training.json").read_text(encoding="utf-8"))
    report["config"] |= {"ckplus": "", "jaffe": "", "still_clips": 30}
    report["people"] = {"train": 0, "val": 0, "test": 0}
    report["temperature_choice"] = {"temperature": 1.0, "fitted": 0.2554, "applied": False,
                                    "cross_fitted_ece_untempered": 0.1007, "cross_fitted_ece_tempered": 0.2711}
    del report["heldout"]["people"]
    (folder / "training.json").write_text(json.dumps(report), encoding="utf-8")
    text = write_temporal_card(folder).read_text(encoding="utf-8")
    assert "- Clips: 30 of FER2013 Training stills (1.5 s each, labelled by FER2013's own labels) only: no " \
           "people's clips (no CK+ or JAFFE given)," in text
    assert "per training person" not in text and "no lab people" not in text
    assert "- Temperature: 1.0, none applied: the 0.255 fitted on held-out FER2013 stills' clips (no CK+ or JAFFE " \
           "people given) made the calibration error worse on cross-fitted halves (0.101 untempered, 0.271 " \
           "tempered)." in text
    assert "- People: none (no CK+ or JAFFE given)." in text


@pytest.mark.parametrize("name", ["temporal_lstm_ferplus_vgg", "temporal_lstm_fer2013_vgg"])
def test_a_temporal_card_says_where_its_lstm_departs_from_the_papers(name, tmp_path):
    """The cards called each LSTM "the temporal classifier of the published design": its architecture is the
    paper's, but the paper pre-trains on JAFFE and CK+ images only, where fervid's learns from simulated clips with
    FER2013 stills mixed in, labels the middle frame of 3-17 frame windows, and divides by a fitted temperature.
    Each departure is said from the model's own records, and only where it holds."""
    import json
    import shutil

    from fervid.evaluation.evaluate import write_temporal_card
    from fervid.inference.models import WEIGHTS_DIR

    text = (WEIGHTS_DIR / name / "MODEL_CARD.md").read_text(encoding="utf-8")
    config = json.loads((WEIGHTS_DIR / name / "config.json").read_text(encoding="utf-8"))
    report = json.loads((WEIGHTS_DIR / name / "training.json").read_text(encoding="utf-8"))
    departures = text.split("## Departures from the paper\n", 1)[1].split("\n## ", 1)[0]
    assert "temporal classifier of the published design:" not in text
    assert f"the paper's architecture ({config['architecture']})" in departures
    assert "the paper pre-trains its LSTM on JAFFE and CK+ images only" in departures
    assert f"{report['config']['still_clips']} of FER2013 Training stills" in departures
    assert "clips of the training people of CK+ (Lucey et al. 2010) and JAFFE" in departures
    assert f"the middle frame of a window of 3 to {config['max_frames']} frames" in departures
    assert f"a fitted temperature ({config['temperature']:.3f}); the paper has none" in departures

    # trained on stills alone, its temperature not applied: no people's clips and no temperature are claimed
    folder = tmp_path / name
    shutil.copytree(WEIGHTS_DIR / name, folder)
    (folder / "config.json").write_text(json.dumps({**config, "people": {}, "temperature": 1.0}), encoding="utf-8")
    report["config"] |= {"ckplus": "", "jaffe": ""}
    report["people"] = {"train": 0, "val": 0, "test": 0}
    report["temperature_choice"] |= {"temperature": 1.0, "applied": False}
    (folder / "training.json").write_text(json.dumps(report), encoding="utf-8")
    departures = write_temporal_card(folder).read_text(encoding="utf-8").split("## Departures from the paper\n")[1]
    departures = departures.split("\n## ", 1)[0]
    assert "FER2013 Training stills" in departures
    assert "training people" not in departures and "temperature" not in departures


def test_a_model_card_keeps_the_per_class_precisions_beside_the_graphs_precision(tmp_path):
    """card.json's evaluation had its 7 per-class precisions overwritten by the graph's precision, "int8"
    (`fervid.Analyzer().cnn.card['evaluation']['precision']` printed int8)."""
    from fervid.evaluation.evaluate import Evaluation, write_model_card

    folder = _model_copy(tmp_path, "ferplus_vgg")
    ev = score(np.array([0, 3, 6, 6]), np.array([0, 3, 6, 3]), "hand")
    card = write_model_card(folder, ev, command="fervid train ...", data="faces", precision="int8")
    assert card["evaluation"]["precision"] == ev.precision and card["graph_precision"] == "int8"
    # the stored evaluation reads back whole, but for kappa, which cards do not record (evaluate's metrics.json does)
    assert "kappa" not in card["evaluation"] and ev.kappa is not None
    assert Evaluation(**card["evaluation"]) == replace(ev, kappa=None, kappa_ci95=None, kappa_ci_method="")


def test_a_model_card_gives_each_accuracy_with_the_interval_its_evaluation_carries(tmp_path):
    """card.json carried each accuracy's 95% interval (Wilson on PublicTest) and MODEL_CARD.md left it out: 0.8475
    read as if it were sure to be under 0.85, which lies inside its interval (0.835-0.859)."""
    import json

    from fervid.evaluation.evaluate import Evaluation, write_model_card

    folder = _model_copy(tmp_path, "ferplus_vgg")
    shipped = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    write_model_card(folder, Evaluation(**shipped["evaluation"]), "", "faces", "int8",
                     fp32=Evaluation(**shipped["evaluation_fp32"]))
    text = (folder / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "Accuracy **0.8475** (95% CI 0.835-0.859, Wilson)" in text
    assert "The fp32 model it was quantized from: accuracy 0.8492 (95% CI 0.837-0.861, Wilson)" in text


def test_a_cards_seconds_per_epoch_is_always_the_median_and_the_mean_is_named_as_such(tmp_path):
    """training_summary.json's "seconds_per_epoch" is the mean wall time over epochs; the card's key of the same name
    is the median epoch, but fell back to that mean where the epochs' own seconds were not recorded, and the card's
    text then called the mean a median."""
    import json

    from fervid.evaluation.evaluate import write_model_card

    folder = _model_copy(tmp_path, "ferplus_vgg")
    summary = json.loads((folder / "training_summary.json").read_text(encoding="utf-8"))
    ev = score(np.array([0, 3, 6]), np.array([0, 3, 6]), "hand")
    card = write_model_card(folder, ev, command="", data="faces")
    assert card["training"]["seconds_per_epoch"] == 39.4  # the median of training_metrics.jsonl's seconds
    assert card["training"]["wall_seconds_per_epoch"] == summary["seconds_per_epoch"] == 45.4  # the mean

    lines = (folder / "training_metrics.jsonl").read_text(encoding="utf-8").splitlines()
    (folder / "training_metrics.jsonl").write_text(
        "".join(json.dumps({k: v for k, v in json.loads(line).items() if k != "seconds"}) + "\n" for line in lines),
        encoding="utf-8")
    card = write_model_card(folder, ev, command="", data="faces")
    assert card["training"]["seconds_per_epoch"] is None and card["training"]["wall_seconds_per_epoch"] == 45.4
    wall = next(line for line in (folder / "MODEL_CARD.md").read_text(encoding="utf-8").splitlines()
                if line.startswith("- Wall time:"))
    assert "mean 45.4 s/epoch, wall time over epochs" in wall and "median" not in wall, wall


@pytest.mark.parametrize("name", available_models())
def test_each_shipped_cnn_card_is_what_its_card_json_gives(name):
    """The shipped MODEL_CARD.md files had been edited by hand (a cross-dataset table, how the run was chosen among
    others, the CPU and stage notes): `fervid evaluate --write-card`, as docs/reproduce.sh runs it, dropped them."""
    import json

    from fervid.evaluation.evaluate import model_card_markdown
    from fervid.inference.models import WEIGHTS_DIR

    card = json.loads((WEIGHTS_DIR / name / "card.json").read_text(encoding="utf-8"))
    assert model_card_markdown(card) == (WEIGHTS_DIR / name / "MODEL_CARD.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", available_models())
def test_rewriting_a_shipped_cnn_card_from_its_evaluation_keeps_every_line(name, tmp_path, monkeypatch):
    """A card rewritten from the evaluation it records (as `--write-card` does after measuring it again) is the
    shipped one byte for byte: what was written by hand (training notes, how the run was chosen, the cross-dataset
    table) is kept while model.onnx is the same file."""
    import json
    import platform

    import fervid.inference.models
    from fervid.evaluation.evaluate import Evaluation, write_model_card

    folder = _model_copy(tmp_path, name)
    shipped = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    monkeypatch.setattr(platform, "platform", lambda: shipped["evaluated_on"])
    monkeypatch.setattr(fervid.inference.models, "runtime_versions", lambda: shipped["written_by"])
    write_model_card(folder, Evaluation(**shipped["evaluation"]), shipped["training"]["command"],
                     shipped["training"]["data"], shipped["graph_precision"],
                     fp32=Evaluation(**shipped["evaluation_fp32"]) if shipped["evaluation_fp32"] else None)
    for file in ("card.json", "MODEL_CARD.md"):
        assert (folder / file).read_bytes() == (fervid.inference.models.WEIGHTS_DIR / name / file).read_bytes(), file

    # a retrained model.onnx under the same name: nothing recorded for the old weights is kept
    (folder / "model.onnx").write_bytes((folder / "model.onnx").read_bytes() + b"\0")
    card = write_model_card(folder, Evaluation(**shipped["evaluation"]), "", "faces", "int8")
    assert card["training"]["notes"] == [] and card["chosen_among_runs"] is None and card["cross_dataset"] is None
    text = (folder / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "## Cross-dataset" not in text and "Stage 1" not in text and "2-core Intel Xeon" not in text
    if name == "ferplus_vgg":  # its last epoch shipped: the card says a choice among runs would flatter it
        assert "see the model's docs for how it was chosen" in text and "other four draws" not in text


@pytest.mark.parametrize("name", available_models())
def test_each_shipped_cnn_card_names_the_weights_and_the_fervid_that_measured_it(name):
    """No card recorded which weights its numbers belong to, or which fervid measured them."""
    import json
    import re

    from fervid.evaluation.evaluate import model_files
    from fervid.inference.models import WEIGHTS_DIR, ModelConfig

    folder = WEIGHTS_DIR / name
    card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    files = model_files(folder, ModelConfig.load(folder / "config.json").int8_file)
    assert card["weights"] == files and set(files) == {"model.onnx", "model_int8.onnx"}
    # the fervid that measured it: a release's version or a development version between releases (0.3.0.dev0)
    assert re.fullmatch(r"\d+\.\d+\.\d+(\.dev\d+)?", card["written_by"]["fervid"]) and card["written_by"]["onnxruntime"]
    assert card["cross_dataset"]["weights_sha256"] == files["model_int8.onnx"]  # the graph the table measured
    text = (folder / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert all(digest in text for digest in files.values()) and f"fervid {card['written_by']['fervid']}" in text
    # the command is a shell command line, pasteable: its prose (stages, timings) is in the notes
    assert "(" not in card["training"]["command"] and card["graph_precision"] == "int8"


def test_a_cross_dataset_table_is_taken_only_from_a_comparison_of_the_same_weights():
    from fervid.evaluation.evaluate import cross_dataset_from_comparison

    scores = {"n": 10, "accuracy": 0.5, "macro_f1": 0.4, "calibration": {"ece": 0.2}}
    comparison = {"command": "python benchmarks/compare_models.py ...", "fervid": "0.2.0", "models": {
        "a": {"model": "a", "precision": "int8", "weights_file": "model_int8.onnx", "weights_sha256": "aa",
              "ckplus": scores, "jaffe": scores},
        "b": {"model": "b", "precision": "int8", "weights_file": "model_int8.onnx", "weights_sha256": "bb",
              "ckplus": scores | {"accuracy": 0.7}}}}
    table = cross_dataset_from_comparison(comparison, "a", ["aa", "ff"])
    assert [row["dataset"] for row in table["datasets"]] == ["ckplus", "jaffe"]
    assert table["datasets"][0]["others"] == {"b": 0.7} and table["datasets"][1]["others"] == {}
    for name, digests, why in (("a", ["ff"], "not these weights"), ("c", ["aa"], "no model named c")):
        with pytest.raises(ValueError, match=why):
            cross_dataset_from_comparison(comparison, name, digests)


def test_the_card_of_a_model_trained_outside_fervid_claims_nothing_of_its_training(tmp_path):
    """A model folder without fervid's training record (training_config.json, training_summary.json,
    training_metrics.jsonl) got a card asserting FER2013 faces and labels, "Epochs: None", "Wall time: not recorded
    (the run did not finish ...)", FER2013's "Data and consent" and a "VGG-style CNN"."""
    import json
    import shutil

    from typer.testing import CliRunner

    from conftest import write_fer2013_csv
    from fervid.apps.cli import app
    from fervid.evaluation.evaluate import NOT_RECORDED
    from fervid.inference.models import WEIGHTS_DIR

    folder = tmp_path / "outside_cnn"
    shutil.copytree(WEIGHTS_DIR / "ferplus_vgg", folder)
    for name in ("training_config.json", "training_summary.json", "training_metrics.jsonl", "card.json",
                 "MODEL_CARD.md", "calibration.json"):
        (folder / name).unlink()
    fer = write_fer2013_csv(tmp_path / "fer.csv", {"Training": 10, "PublicTest": 20})
    done = CliRunner().invoke(app, ["evaluate", "--data", str(fer), "--model", str(folder), "--write-card"])
    assert done.exit_code == 0, done.output
    text = (folder / "MODEL_CARD.md").read_text(encoding="utf-8")
    training = text.split("## Training\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert training[1:5] == [f"- Data: training data {NOT_RECORDED}; evaluated on {fer} Usage=PublicTest",
                             f"- Targets: {NOT_RECORDED}", f"- Epochs: {NOT_RECORDED}", f"- Wall time: {NOT_RECORDED}"]
    consent = text.split("## Data and consent\n", 1)[1].split("\n\n", 1)[0]
    assert f"- Faces: {NOT_RECORDED};" in consent and f"- Labels: {NOT_RECORDED}." in consent
    limitations = text.split("## Limitations\n", 1)[1]
    assert "FER2013" not in consent + limitations + "\n".join(training)
    assert "None" not in "\n".join(training) and "did not finish" not in text
    card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    assert card["architecture"]["type"] == NOT_RECORDED and card["training"]["exported_checkpoint"] is None
    assert "VGG" not in text


@pytest.mark.parametrize("missing", ["training_config.json", "training_summary.json"])
def test_a_card_missing_one_training_record_says_that_file_is_missing_and_gives_the_rest(missing, tmp_path):
    """A model folder of a fervid run without training_config.json got a card saying "not recorded (trained outside
    fervid)" for its data, targets, epochs and wall time, yet giving its training faces per emotion, and a last
    limitation starting "the validation faces (FER2013's labels) chose the epoch shipped" (lowercase, its labels
    guessed); without training_summary.json, "Wall time: not recorded (the run did not finish ...)" of a run that
    finished."""
    import json
    import shutil

    from typer.testing import CliRunner

    from conftest import write_fer2013_csv
    from fervid.apps.cli import app
    from fervid.evaluation.evaluate import NOT_RECORDED
    from fervid.inference.models import WEIGHTS_DIR

    folder = tmp_path / "mine"
    shutil.copytree(WEIGHTS_DIR / "ferplus_vgg", folder)
    summary = json.loads((folder / "training_summary.json").read_text(encoding="utf-8"))
    # as a run recording its faces per emotion (they came after ferplus_vgg's) writes it, exported by default
    summary["train_class_counts"] = {"angry": 5, "disgust": 0, "fear": 4, "happy": 9, "sad": 6, "surprise": 3,
                                     "neutral": 8}
    summary["exported_checkpoint"] = "best.pt"
    (folder / "training_summary.json").write_text(json.dumps(summary), encoding="utf-8")
    for name in (missing, "card.json", "MODEL_CARD.md"):
        (folder / name).unlink()
    fer = write_fer2013_csv(tmp_path / "fer.csv", {"Training": 10, "PublicTest": 20})
    done = CliRunner().invoke(app, ["evaluate", "--data", str(fer), "--model", str(folder), "--write-card"])
    assert done.exit_code == 0, done.output
    text = (folder / "MODEL_CARD.md").read_text(encoding="utf-8")
    training = text.split("## Training\n", 1)[1].split("\n\n", 1)[0]
    limitations = [line for line in text.split("## Limitations\n", 1)[1].splitlines() if line]
    assert all(line[2].isupper() for line in limitations), limitations  # each a sentence
    assert "did not finish" not in text and NOT_RECORDED not in text  # a fervid run, which finished
    if missing == "training_config.json":
        unknown = "not recorded (the model folder has no training_config.json)"
        assert f"- Data: training data {unknown}; evaluated on" in training
        assert f"- Targets: {unknown}" in training and f"- Faces: {unknown};" in text
        # what the summary and metrics record is given, and what the config would have said is not guessed
        assert "- Training faces per emotion: angry 5, disgust 0," in training
        assert "- No training face of disgust: its output is as the network it started from had it, if it started " \
               "from one (not recorded: the model folder has no training_config.json)" in training
        assert f"- Epochs: {summary['epochs']} (best on its run's validation faces (which, and how they were " \
               "labelled, is not recorded) at epoch " in training
        assert f"- Wall time: {summary['wall_seconds']} s on " in training
        assert "- Its run's validation faces (which, and how they were labelled, is not recorded) chose the epoch " \
               "shipped" in limitations[-1] and "FER2013" not in text.split("## Limitations", 1)[1]
    else:
        assert "- Wall time: not recorded (the model folder has no training_summary.json); median " in training
        assert "- Targets: FER+'s ten-annotator vote distribution" in training


def test_ece_weights_each_bin_by_its_share_of_the_samples():
    """Its docstring said confidence-weighted; each bin counts by its share of the samples (Guo et al. 2017)."""
    import numpy as np

    from fervid.evaluation.evaluate import expected_calibration_error

    # three faces at confidence 0.95, all right (gap 0.05), one at 0.55, wrong (gap 0.55)
    probs = np.array([[0.95, 0.05]] * 3 + [[0.55, 0.45]])
    labels = np.array([0, 0, 0, 1])
    assert expected_calibration_error(probs, labels, bins=10) == pytest.approx(0.75 * 0.05 + 0.25 * 0.55)
    assert "share of the samples" in expected_calibration_error.__doc__


def test_ece_bins_hold_their_upper_edge_so_a_sure_answer_is_counted():
    """Bins are (lo, hi]: a confidence of exactly 1.0 (a float32 softmax rounds to it where the top logit leads the
    others by about 17 or more) is in the last bin, and one exactly at a bin's edge in the bin below it. With
    [lo, hi) a 100% sure face fell in no bin: faces all sure and all wrong scored ECE 0, a perfect calibration."""
    import numpy as np

    from fervid.evaluation.evaluate import expected_calibration_error

    sure = np.eye(7, dtype=np.float32)[[0, 3]]  # confidence 1.0, both wrong
    assert expected_calibration_error(sure, np.array([1, 2])) == pytest.approx(1.0)
    # bins of 0.25: a 1.0 (wrong) in (0.75, 1]; a 0.5 (right, at an edge) with a 0.3 (wrong) in (0.25, 0.5]
    probs = np.array([[0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0],
                      [0.5, 0.25, 0.25, 0.0, 0.0, 0.0, 0.0],
                      [0.3, 0.2, 0.2, 0.1, 0.1, 0.05, 0.05]], dtype=np.float32)
    labels = np.array([6, 0, 1])
    last, second = 1 / 3 * abs(0 - 1.0), 2 / 3 * abs(1 / 2 - (0.5 + 0.3) / 2)
    assert expected_calibration_error(probs, labels, bins=4) == pytest.approx(last + second, abs=1e-6)


def _shipped_bundles() -> dict[str, str]:
    """{folder under weights/: the file in it that is its card} for every shipped model: the CNNs' registry, the
    temporal LSTMs', and the face detector's folder (whose card is provenance.json)."""
    from fervid.inference.detect import CENTERFACE_DIR
    from fervid.inference.models import WEIGHTS_DIR
    from fervid.inference.temporal import shipped_temporal_models

    return {**{name: "MODEL_CARD.md" for name in available_models()},
            **{folder.name: "MODEL_CARD.md" for folder in shipped_temporal_models().values()},
            CENTERFACE_DIR.relative_to(WEIGHTS_DIR).as_posix(): "provenance.json"}


@pytest.mark.parametrize("name, card", _shipped_bundles().items())
def test_every_shipped_graph_has_its_sha256_in_its_folders_card(name, card):
    """The temporal LSTMs' cards named no digest of their model.onnx: which weights a card (its training, its
    held-out numbers, its data's terms) describes must be checkable for every .onnx fervid ships."""
    from fervid.inference.models import WEIGHTS_DIR, file_sha256

    folder = WEIGHTS_DIR / name
    graphs = sorted(folder.glob("*.onnx"))
    assert graphs, f"{folder} holds no .onnx"
    text = (folder / card).read_text(encoding="utf-8")
    assert [graph.name for graph in graphs if file_sha256(graph) not in text] == []


def test_a_cards_limitations_give_the_uncertain_flag_on_degraded_faces_measured_or_say_it_is_not(tmp_path):
    """A reviewer found the `uncertain` flag falling as degraded faces' accuracy fell, and the cards silent on it;
    they also claimed "accuracy drops on profile views, strong lighting", which nothing measured."""
    import json

    from fervid.evaluation.evaluate import Evaluation, degraded_faces_from_benchmark, write_model_card

    folder = _model_copy(tmp_path, "ferplus_vgg")
    shipped = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    digest = shipped["cross_dataset"]["weights_sha256"]
    scores = {"n": 10, "accuracy": 0.5, "uncertain_share": 0.1, "mean_confidence": 0.8, "errors_at_0.9": 2}
    report = {"command": "python benchmarks/degraded_faces.py", "cpu": "x",
              "models": {"ferplus_vgg": {"model": "ferplus_vgg", "weights_file": "model_int8.onnx",
                                         "weights_sha256": digest, "uncertain_below": 0.5}},
              "results": {"ckplus": {"ferplus_vgg": {"original": scores, "noise sd 40": scores | {
                  "accuracy": 0.01, "uncertain_share": 0.004, "mean_confidence": 0.93}}}}}
    with pytest.raises(ValueError, match="not these weights"):
        degraded_faces_from_benchmark(report, "ferplus_vgg", ["another digest"])
    for key in ("degraded_faces", "cross_dataset"):  # measured anew below, or for no weights: not kept
        shipped[key] = None
    (folder / "card.json").write_text(json.dumps(shipped), encoding="utf-8")
    write_model_card(folder, Evaluation(**shipped["evaluation"]), "", "faces", "int8",
                     degraded_faces=degraded_faces_from_benchmark(report, "ferplus_vgg", [digest]))
    text = (folder / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "accuracy drops on profile views" not in text
    assert "profile views, strong or uneven lighting and spontaneous expressions were not measured" in text
    assert ("The `uncertain` flag does not detect degraded or occluded faces" in text
            and "CK+48 (10 faces): as they are 0.500 / 10.0% / 0.80; noise sd 40 0.010 / 0.4% / 0.93." in text)
    # kept while the weights are the same, as the cross-dataset table is
    write_model_card(folder, Evaluation(**shipped["evaluation"]), "", "faces", "int8")
    assert "noise sd 40 0.010 / 0.4% / 0.93" in (folder / "MODEL_CARD.md").read_text(encoding="utf-8")
    (folder / "model.onnx").write_bytes((folder / "model.onnx").read_bytes() + b"\0")  # other weights
    write_model_card(folder, Evaluation(**shipped["evaluation"]), "", "faces", "int8")
    text = (folder / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "noise sd 40" not in text and "Whether the `uncertain` flag catches degraded or occluded faces is not " \
        "measured for these weights" in text


def test_a_cards_cross_dataset_section_gives_recall_by_class_the_classes_missed_and_whose_faces_they_are(tmp_path):
    """The default's card gave JAFFE's accuracy (0.496) alone: angry 0/18, disgust 0/18 and fear 1/19 were not
    said, nor that JAFFE is 6 Japanese women and CK+ adults 18-50."""
    import json

    from fervid.evaluation.evaluate import Evaluation, cross_dataset_from_comparison, model_files, write_model_card
    from fervid.inference.models import WEIGHTS_DIR

    folder = _model_copy(tmp_path, "ferplus_vgg")
    shipped = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    comparison = json.loads((WEIGHTS_DIR.parents[2] / "docs" / "eval" / "model_comparison_lab_faces.json").read_text(
        encoding="utf-8")) if (WEIGHTS_DIR.parents[2] / "docs").is_dir() else pytest.skip("needs the source tree")
    cross = cross_dataset_from_comparison(comparison, "ferplus_vgg",
                                          list(model_files(folder, "model_int8.onnx").values()))
    write_model_card(folder, Evaluation(**shipped["evaluation"]), "", "faces", "int8", cross_dataset=cross)
    text = (folder / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "| JAFFE | 0/18 | 0/18 | 1/19 | 17/19 | 13/19 | 15/18 | 18/18 |" in text
    assert "| CK+48 | 23/117 | 74/141 | 20/69 | 171/171 | 56/75 | 200/210 | - |" in text
    assert ("JAFFE's angry 0/18 (neutral 15, sad 3), disgust 0/18 (sad 11, neutral 7), fear 1/19 (sad 9, neutral 9)"
            in text)
    assert "adults 18 to 50" in text and "Japanese women, 6 in the copy used" in text
    assert "Never measured: children, people over 50, darker skin tones" in text


def test_a_temporal_card_says_the_lab_labels_are_posed_and_who_the_lab_people_are(tmp_path):
    """The LSTM cards called CK+'s and JAFFE's labels annotators' readings: they are the expressions the volunteers
    were asked to pose."""
    import shutil

    from fervid.evaluation.evaluate import write_temporal_card
    from fervid.inference.models import WEIGHTS_DIR

    folder = tmp_path / "temporal_lstm_ferplus_vgg"
    shutil.copytree(WEIGHTS_DIR / folder.name, folder)
    consent = write_temporal_card(folder).read_text(encoding="utf-8").split("## Data and consent\n")[1].split("\n## ")[0]
    assert "name the expression each volunteer was asked to pose" in consent
    assert "The stills' labels describe facial expressions as annotators read them" in consent
    assert "adults 18 to 50" in consent and "Never measured: children" in consent


def test_cohens_kappa_is_sklearns_beside_the_accuracy_with_its_interval():
    """A coder comparing fervid with their own coding found accuracy, macro-F1 and the confusion matrix, and no
    Cohen's kappa, the agreement their field reports (accuracy counts the agreement chance alone gives)."""
    import json

    from sklearn.metrics import cohen_kappa_score

    y_true = np.array([0, 0, 3, 3, 3, 6, 6, 1] * 5)
    y_pred = np.array([0, 3, 3, 3, 6, 6, 6, 1] * 5)
    ev = score(y_true, y_pred, "hand")
    assert ev.kappa == pytest.approx(cohen_kappa_score(y_true, y_pred)) and ev.kappa < ev.accuracy
    # 40 independent faces: a bootstrap over them (kappa is no proportion: Wilson's is not its interval)
    low, high = ev.kappa_ci95
    assert low < ev.kappa < high and ev.kappa_ci_method == "bootstrap over 40 faces"
    assert score(y_true, y_pred).kappa_ci95 == [low, high]  # seeded: the same report twice
    assert ev.kappa_text == f"Cohen's kappa {ev.kappa:.4f} (95% CI {low:.4f}-{high:.4f}, bootstrap over 40 faces)"
    assert json.loads(json.dumps(ev.to_dict()))["kappa"] == pytest.approx(ev.kappa)  # into metrics.json
    # always the majority class: 60% accuracy, and no agreement beyond chance
    majority = score(np.array([6] * 6 + [3] * 4), np.array([6] * 10))
    assert majority.accuracy == 0.6 and majority.kappa == 0.0
    # one class in both: kappa is 0/0, said so, not NaN in the JSON
    alike = score(np.array([3] * 5), np.array([3] * 5))
    assert alike.kappa is None and alike.kappa_ci95 is None and "undefined" in alike.kappa_text


def test_kappas_interval_resamples_the_groups_the_accuracys_does():
    """Frames of one video segment are no independent draws: the per-frame accuracy's interval resamples segments,
    and kappa's must too. 10 segments of 20 frames, each all right or all wrong."""
    from fervid.evaluation.intervals import kappa_interval

    lines = np.repeat(np.arange(2, 12), 20).astype(str)
    y_true = np.repeat([3, 6] * 5, 20)
    y_pred = np.where(np.repeat([1] * 6 + [0] * 4, 20) == 1, y_true, np.repeat([6, 3] * 5, 20))
    frames = score(y_true, y_pred, unit="frames", subjects=lines, groups_are="segments")
    assert frames.ci_method == frames.kappa_ci_method == "t interval over 10 segments"
    low, high = frames.accuracy_ci95
    assert low < 0.6 < high and high - low > 0.4  # Wilson on 200 frames would be about 0.13 wide
    k_low, k_high = frames.kappa_ci95
    apart, _ = kappa_interval(y_true, y_pred, 7)  # the 200 frames as independent draws: far too sure
    assert k_low < frames.kappa < k_high and k_high - k_low > 2.5 * (apart[1] - apart[0])
    # a few segments give no interval: resampling 4 segments all right gave "1.0000-1.0000"
    few = score(y_true[:80], y_pred[:80], unit="frames", subjects=lines[:80], groups_are="segments")
    assert few.accuracy_ci95 is None and few.kappa_ci95 is None and few.kappa is not None
    assert few.ci_method == few.kappa_ci_method == "none: 4 segment(s), too few: an interval needs 5"
    assert few.kappa_text.endswith(" (no interval: 4 segment(s), too few: an interval needs 5)")
    # the interval's kappa of the data itself is sklearn's: over 8 people a t interval, over 40 a bootstrap
    rng = np.random.default_rng(0)
    for people, method in ((8, "t interval over 8 subjects"), (40, "bootstrap over 40 subjects")):
        subjects = np.repeat(np.arange(people), 5)
        truth, guess = rng.integers(0, 7, len(subjects)), rng.integers(0, 7, len(subjects))
        scored = score(truth, guess, subjects=subjects.astype(str))
        assert (scored.kappa_ci95, scored.kappa_ci_method) == kappa_interval(truth, guess, 7, subjects, "subjects")
        assert scored.kappa_ci_method == method and scored.kappa_ci95[0] < scored.kappa < scored.kappa_ci95[1]


@pytest.mark.parametrize("name", ["fer2013_vgg", "ferplus_vgg", "temporal_lstm_fer2013_vgg", "temporal_lstm_ferplus_vgg"])
def test_every_model_card_says_its_intended_and_out_of_scope_uses_and_a_regenerated_one_keeps_them(name, tmp_path):
    """A university data-protection officer found no card saying what the models are for: emotion recognition of
    employees and students is prohibited in the EU (AI Act Art. 5(1)(f)). Each shipped card, and the one its
    generator writes again, says the intended use and what is out of scope."""
    import json
    import shutil

    from fervid.evaluation.evaluate import model_card_markdown, write_temporal_card
    from fervid.inference.models import WEIGHTS_DIR

    folder = tmp_path / name
    shutil.copytree(WEIGHTS_DIR / name, folder)
    if (folder / "card.json").exists():
        regenerated = model_card_markdown(json.loads((folder / "card.json").read_text(encoding="utf-8")))
    else:
        regenerated = write_temporal_card(folder).read_text(encoding="utf-8")
    for text in ((WEIGHTS_DIR / name / "MODEL_CARD.md").read_text(encoding="utf-8"), regenerated):
        intended = text.split("## Intended use\n")[1].split("\n## ")[0]
        out_of_scope = text.split("## Out-of-scope use\n")[1].split("\n## ")[0]
        assert "consent" in intended
        assert "employees or students" in out_of_scope and "Art. 5(1)(f)" in out_of_scope
        for use in ("Decisions about individuals", "Lie, deception or intent detection", "diagnosis"):
            assert use in out_of_scope
        assert text.index("## Out-of-scope use") < text.index("## Training")
