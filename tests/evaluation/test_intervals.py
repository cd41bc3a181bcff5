"""The 95% intervals of an accuracy and of Cohen's kappa over groups of items (people, video segments)."""

import numpy as np
import pytest

from fervid.evaluation.evaluate import score


def _people(accuracies: np.ndarray, faces: int, rng: np.random.Generator, classes: int = 1):
    """Labels and predictions of len(accuracies) people, ``faces`` each, person i's faces right with probability
    accuracies[i] (a wrong one is another class); and each face's person."""
    count = len(accuracies)
    y_true = rng.integers(0, classes, (count, faces)) if classes > 1 else np.zeros((count, faces), int)
    right = rng.random((count, faces)) < accuracies[:, None]
    y_pred = np.where(right, y_true, (y_true + rng.integers(1, 7, (count, faces))) % 7)
    return y_true.ravel(), y_pred.ravel(), [f"P{i}" for i in np.repeat(np.arange(count), faces)]


def test_over_six_people_the_accuracys_interval_covers_the_true_one_95_times_in_100():
    """JAFFE is 6 people: a percentile bootstrap over them gave 0.3852-0.5878 for ferplus_vgg's 0.4961, and in
    simulation (people of accuracy 0.5 + N(0, 0.12), 21 faces each) such intervals held the true accuracy 86 times
    in 100, not 95. A t interval over the people holds it 94-95 times (intervals.MIN_BOOTSTRAP_GROUPS)."""
    from fervid.evaluation.intervals import accuracy_interval

    rng = np.random.default_rng(0)
    covered = []
    for _ in range(400):
        y_true, y_pred, subjects = _people(np.clip(0.5 + rng.normal(0, 0.12, 6), 0, 1), 21, rng)
        interval, method = accuracy_interval(y_true == y_pred, subjects, "subjects", "faces")
        covered.append(interval[0] <= 0.5 <= interval[1])
    assert method == "t interval over 6 subjects" == score(y_true, y_pred, subjects=subjects).ci_method
    assert np.mean(covered) >= 0.92, np.mean(covered)


def test_over_six_people_kappas_interval_covers_the_true_one_too():
    """Kappa's interval over JAFFE's 6 people was the same too-narrow bootstrap (83 in 100 in simulation); over
    under 30 groups it is a t interval with the groups' delete-one jackknife error (94 in 100)."""
    from sklearn.metrics import cohen_kappa_score

    from fervid.evaluation.intervals import kappa_interval

    rng = np.random.default_rng(1)
    truth = cohen_kappa_score(*_people(np.clip(0.5 + rng.normal(0, 0.12, 20000), 0, 1), 21, rng, classes=7)[:2])
    covered = []
    for _ in range(300):
        y_true, y_pred, subjects = _people(np.clip(0.5 + rng.normal(0, 0.12, 6), 0, 1), 21, rng, classes=7)
        interval, method = kappa_interval(y_true, y_pred, 7, subjects, "subjects")
        covered.append(interval[0] <= truth <= interval[1])
    assert method == "t interval over 6 subjects" == score(y_true, y_pred, subjects=subjects).kappa_ci_method
    assert np.mean(covered) >= 0.9, np.mean(covered)


def test_jaffes_interval_is_the_cluster_robust_t_interval_of_its_six_people():
    """ferplus_vgg's JAFFE faces right, person by person (KA, KL, KM, KR, MK, NA): a statistician's cluster-robust
    t interval on them read 0.348-0.644, 45% wider than the bootstrap's 0.3852-0.5878."""
    from scipy.stats import t

    right, faces = np.array([12, 12, 14, 7, 13, 6]), np.array([23, 22, 22, 20, 21, 21])
    y_pred = np.concatenate([np.r_[np.zeros(r, int), np.full(f - r, 3)] for r, f in zip(right, faces)])
    subjects = np.repeat(["KA", "KL", "KM", "KR", "MK", "NA"], faces)
    ev = score(np.zeros(len(y_pred), int), y_pred, "jaffe", subjects=subjects)
    accuracy = right.sum() / faces.sum()
    # the ratio estimator's cluster-robust (CR1) standard error, by its formula
    error = np.sqrt(6 / 5 * ((right - accuracy * faces) ** 2).sum()) / faces.sum()
    half = t.ppf(0.975, 5) * error
    assert ev.accuracy == pytest.approx(0.4961, abs=1e-4) and ev.ci_method == "t interval over 6 subjects"
    assert ev.accuracy_ci95 == pytest.approx([accuracy - half, accuracy + half], abs=0.005)
    assert ev.accuracy_ci95[1] - ev.accuracy_ci95[0] > 1.4 * (0.5878 - 0.3852)


def test_a_perfect_score_gets_wilsons_interval_not_a_zero_width_one():
    """CK+'s 171 happy faces all right, 57 people: "1.0000 (95% CI 1.0000-1.0000, bootstrap over 57 subjects)" read
    as certainty; no resample of the people can vary it. Wilson's interval over the 57 people says what they can."""
    from fervid.evaluation.intervals import wilson_interval

    subjects = [f"S{i:03d}" for i in np.repeat(np.arange(57), 3)]
    happy = np.full(171, 3)
    ev = score(happy, happy, "ckplus", subjects=subjects)
    assert ev.accuracy_ci95 == wilson_interval(57, 57) == pytest.approx([0.937, 1.0], abs=1e-3)
    assert ev.ci_method == ("Wilson over 57 subjects, each wrong where any of its faces is: none of 171 faces wrong, "
                            "too few wrong to resample the subjects")
    # all but a few wrong, over fewer people (a t interval's error would be 0 where each is all wrong): the 2 right
    # faces are of one person, who counts right, the other 19 wrong
    ev = score(happy[:60], np.r_[np.full(58, 6), 3, 3], subjects=subjects[:60])
    assert ev.accuracy_ci95 == wilson_interval(1, 20) and ev.accuracy_ci95[0] < 2 / 60 < ev.accuracy_ci95[1]
    assert ev.ci_method == ("Wilson over 20 subjects, each right where any of its faces is: 2 of 60 faces right, too "
                            "few right to resample the subjects")
    # kappa all right is 1 over any part of the faces: no interval, and why
    two = np.tile([3, 6, 6], 57)
    kappa = score(two, two, subjects=subjects)
    assert kappa.kappa == 1.0 and kappa.kappa_ci95 is None
    assert kappa.kappa_text == ("Cohen's kappa 1.0000 (no interval: all 171 faces right, kappa 1.0000 over any part "
                                "of them)")


def test_a_near_perfect_video_scores_interval_counts_the_participants_not_the_frames():
    """510 frames of 5 participants all right read "Wilson, 510 frames read as independent" 0.9925-1.0000, while one
    wrong segment gave 0.9111-1.0000 (a t interval over the 5): the frames of one person are no independent draws.
    Wilson's over the 5 participants reads 0.566-1.000, one of them with a wrong frame 0.376-0.964."""
    from fervid.evaluation.intervals import wilson_interval

    participants = np.repeat([f"P{i}" for i in range(5)], 102)
    labels = np.full(510, 3)
    ev = score(labels, labels, "video", unit="frames", subjects=participants, groups_are="participants")
    assert ev.accuracy_ci95 == wilson_interval(5, 5) == pytest.approx([0.566, 1.0], abs=1e-3)
    assert ev.ci_method == ("Wilson over 5 participants, each wrong where any of its frames is: none of 510 frames "
                            "wrong, too few wrong to resample the participants")
    predicted = labels.copy()
    predicted[[3, 40, 100]] = 6  # three frames wrong, all of P0
    ev = score(labels, predicted, "video", unit="frames", subjects=participants, groups_are="participants")
    assert ev.accuracy_ci95 == wilson_interval(4, 5) and ev.accuracy_ci95[0] < 0.5
    assert ev.ci_method.startswith("Wilson over 5 participants, each wrong where any of its frames is: 3 of 510 ")


def test_kappa_is_undefined_where_the_labels_name_one_class():
    """10 video segments all labelled neutral gave "Cohen's kappa 0.0000 (95% CI 0.0000-0.0000 ...)": with one
    class among the labels, chance agrees with them as well as any rater, and kappa measures nothing."""
    import json

    lines = np.repeat(np.arange(10), 20).astype(str)
    neutral = np.full(200, 6)
    guess = np.where(np.arange(200) % 4 == 0, 3, 6)
    ev = score(neutral, guess, unit="frames", subjects=lines, groups_are="segments")
    assert ev.kappa is None and ev.kappa_ci95 is None
    assert json.loads(json.dumps(ev.to_dict()))["kappa"] is None  # null in metrics.json
    assert ev.kappa_text == ("Cohen's kappa undefined (every label is neutral: agreement beyond chance needs two "
                             "classes or more among the labels)")
    assert ev.accuracy == 0.75 and ev.accuracy_ci95 is not None  # the accuracy is still measured
