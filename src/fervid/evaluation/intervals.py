"""95% intervals of an accuracy: Wilson's where the scored items are independent draws, and one over whole groups
(a person's faces, a video segment's frames) where they are not; and of Cohen's kappa, over the same groups (each
item its own group where the accuracy's interval is Wilson's).

Three near-identical frames of one CK+ sequence, or the twenty faces one JAFFE poser made, are not twenty
independent draws: an interval that counts them as such is too narrow. An interval over the groups, each with all
its items, keeps what the items of one group share. From :data:`MIN_BOOTSTRAP_GROUPS` groups it is a percentile
bootstrap (CK+'s 86 people); under it a t interval with the groups' delete-one jackknife standard error and G-1
degrees of freedom (JAFFE's 6 people), as the bootstrap over few groups is too narrow (see the constant)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

# Fewer groups than this give no interval at all: a t interval over 2-4 groups, on 1 to 3 degrees of freedom, spans
# most of 0-1, and a bootstrap over them gave 1.0-1.0 or 0.0-1.0, which said nothing (the first read as certainty)
MIN_INTERVAL_GROUPS = 5
# From this many groups the percentile bootstrap, below it the t interval. A percentile bootstrap over few groups is
# too narrow: it draws from the groups seen as if they were all there are. Simulated (2,000 data sets each, 1,000
# resamples; the t interval's coverage beside it), people of accuracy 0.5 + N(0, 0.12), 21 faces each (JAFFE-like):
# 5 groups 82% (t 94%), 6: 86% (95%), 8: 88% (95%), 10: 89% (94%), 15: 93% (95%), 20: 92% (94%), 25: 94% (96%),
# 30: 93% (95%), 40: 93% (95%), 86: 94% (95%); people of accuracy 0.7 + N(0, 0.15), 3-15 faces each (CK+-like):
# 6: 85% (93%), 10: 90% (94%), 20: 93% (94%), 30: 93% (94%), 86: 94% (94%). Kappa's, 7 classes, JAFFE-like (400
# data sets, 500 resamples): 6 groups 83% (t 94%), 10: 90% (95%), 20: 90% (92%). From 30 groups the two agree within
# a point or two (Monte Carlo error about 0.5) and CK+'s 86 people keep their bootstrap interval.
MIN_BOOTSTRAP_GROUPS = 30
BOOTSTRAP_RESAMPLES = 2000
# An accuracy with fewer items right, or fewer wrong, than this gets Wilson's interval over its groups: a group's
# variation cannot be seen in so few, and an interval that resamples groups shrinks to nothing (171 of 171 CK+ happy
# faces right gave 1.0000-1.0000 for "bootstrap over 57 subjects"; Wilson's over the 57 reads 0.937-1.000, over the
# 171 faces as if independent 0.978-1.000: too narrow, as 510 frames of 5 people read 0.993-1.000)
FEW_ITEMS_ONE_WAY = 5


def wilson_interval(successes: int, n: int) -> list[float] | None:
    """The 95% Wilson score interval of a proportion (scipy's; better than the normal approximation near 0 and 1
    and on few faces)."""
    from scipy.stats import binomtest

    if not n:
        return None
    ci = binomtest(successes, n).proportion_ci(confidence_level=0.95, method="wilson")
    return [round(float(ci.low), 4), round(float(ci.high), 4)]


def _group_numbers(groups: Sequence | np.ndarray, items: int, what: str) -> np.ndarray:
    if items != len(groups):
        raise ValueError(f"{items} {what} but {len(groups)} groups")
    return np.unique(np.asarray(groups, dtype=str), return_inverse=True)[1]


def _too_few(count: int, groups_are: str) -> str:
    return f"none: {count} {groups_are[:-1]}(s), too few: an interval needs {MIN_INTERVAL_GROUPS}"


def _t_interval(estimate: float, left_out: np.ndarray, bounds: tuple[float, float]) -> list[float]:
    """95% t interval around ``estimate`` from its values with each group left out in turn (the jackknife standard
    error, G-1 degrees of freedom), kept within ``bounds`` (what the estimate can be)."""
    from scipy.stats import t

    count = len(left_out)
    error = np.sqrt((count - 1) / count * ((left_out - left_out.mean()) ** 2).sum())
    half = float(t.ppf(0.975, count - 1)) * error
    return [round(float(max(estimate - half, bounds[0])), 4), round(float(min(estimate + half, bounds[1])), 4)]


def interval_over_groups(values: np.ndarray, groups: Sequence | np.ndarray, groups_are: str = "groups",
                         resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> tuple[list[float] | None, str]:
    """95% interval of the mean of ``values`` (one per item: 1/0 for right/wrong, or the difference of two models'
    1/0 on the same face) over whole ``groups``, each with all its items (the mean is the items' sum over their
    count, so a large group weighs as much as its items), and how it was made, named by ``groups_are``:

    - ``bootstrap over 86 subjects``: from :data:`MIN_BOOTSTRAP_GROUPS` groups, a percentile bootstrap resampling
      the groups with replacement (seeded: the same data give the same interval);
    - ``t interval over 6 subjects``: under it, the mean plus or minus the t quantile on G-1 degrees of freedom
      times the groups' delete-one jackknife standard error (for this ratio of sums, close to the cluster-robust
      one), kept within the values' own range;
    - ``none: 4 subject(s), too few: an interval needs 5``, None: under :data:`MIN_INTERVAL_GROUPS` groups."""
    from scipy.stats import bootstrap

    values = np.asarray(values, dtype=float)
    group = _group_numbers(groups, len(values), "values")
    count = int(group.max()) + 1 if group.size else 0
    if count < MIN_INTERVAL_GROUPS:
        return None, _too_few(count, groups_are)
    # per group: the sum of its values and its size; the mean (and a resample's) is the ratio of their totals
    sums, sizes = np.bincount(group, weights=values), np.bincount(group).astype(float)
    if count < MIN_BOOTSTRAP_GROUPS:
        left_out = (sums.sum() - sums) / (sizes.sum() - sizes)
        return (_t_interval(sums.sum() / sizes.sum(), left_out, (values.min(), values.max())),
                f"t interval over {count} {groups_are}")
    result = bootstrap((sums, sizes), lambda s, n, axis=-1: s.sum(axis=axis) / n.sum(axis=axis), paired=True,
                       vectorized=True, n_resamples=resamples, method="percentile", confidence_level=0.95,
                       random_state=np.random.default_rng(seed))
    low, high = result.confidence_interval
    return [round(float(low), 4), round(float(high), 4)], f"bootstrap over {count} {groups_are}"


def accuracy_interval(right: np.ndarray, groups: Sequence | np.ndarray, groups_are: str = "groups",
                      items_are: str = "items") -> tuple[list[float] | None, str]:
    """95% interval of the accuracy of ``right`` (1/0 per item) over whole ``groups``, as
    :func:`interval_over_groups` makes it, but Wilson's where fewer than :data:`FEW_ITEMS_ONE_WAY` items are right
    or wrong (what the groups share cannot show in so few, and an interval over them would be 1.0000-1.0000 where
    all are right). Wilson's over the groups, not the items: a group counts wrong where any of its items is (right
    where any is, where right is the few), so that 510 frames of 5 participants all right read 0.566-1.000 as 5
    participants do, not 0.993-1.000 as 510 independent frames would; its method says so: ``Wilson over 57
    subjects, each wrong where any of its faces is: none of 171 faces wrong, too few wrong to resample the
    subjects``."""
    right = np.asarray(right, dtype=bool)
    group_of = np.unique(np.asarray(groups, dtype=str), return_inverse=True)[1] if len(groups) else np.zeros(0, int)
    count = int(group_of.max()) + 1 if group_of.size else 0
    correct, n = int(right.sum()), len(right)
    fewest = min(correct, n - correct)
    if count >= MIN_INTERVAL_GROUPS and n == len(groups) and fewest < FEW_ITEMS_ONE_WAY:
        which, other = ("wrong", "right") if correct > n - correct else ("right", "wrong")
        # the groups with any of the few: wrong where the few are wrong, right where they are right
        with_few = len(np.unique(group_of[right if which == "right" else ~right]))
        groups_right = count - with_few if which == "wrong" else with_few
        return wilson_interval(groups_right, count), (
            f"Wilson over {count} {groups_are}, each {which} where any of its {items_are} is: "
            f"{fewest or 'none'} of {n} {items_are} {which}, too few {which} to resample the {groups_are}")
    return interval_over_groups(right, groups, groups_are)


def kappa_interval(y_true: np.ndarray, y_pred: np.ndarray, classes: int, groups: Sequence | np.ndarray | None = None,
                   groups_are: str = "items", items_are: str = "items", resamples: int = BOOTSTRAP_RESAMPLES,
                   seed: int = 0) -> tuple[list[float] | None, str]:
    """95% interval of Cohen's kappa (unweighted) of ``y_pred`` against ``y_true`` (class indices below
    ``classes``) over whole ``groups`` (None: each item its own group; ``groups_are`` and ``items_are`` name them),
    each resample's or leave-one-out's kappa
    from its groups' confusion matrices added up, and how it was made: as :func:`interval_over_groups` chooses
    (``bootstrap over 40 faces``, ``t interval over 6 subjects``, seeded), or None and ``none: `` with why:
    too few groups, every item right (kappa is 1 over any part of them: an interval of 1.0-1.0 says nothing), or
    kappa undefined on the data or without one of its groups (one class only, in both)."""
    from scipy.stats import DegenerateDataWarning, bootstrap

    cells = np.asarray(y_true, dtype=int) * classes + np.asarray(y_pred, dtype=int)
    group = _group_numbers(np.arange(len(cells)) if groups is None else groups, len(cells), "labels")
    count = int(group.max()) + 1 if group.size else 0
    if count < MIN_INTERVAL_GROUPS:
        return None, _too_few(count, groups_are)
    confusions = np.zeros((count, classes * classes))  # per group, its confusion matrix flattened
    np.add.at(confusions, (group, cells), 1)

    def kappa_of_confusions(confusion: np.ndarray) -> np.ndarray:
        confusion = confusion.reshape(-1, classes, classes)
        total = confusion.sum(axis=(1, 2))
        observed = np.trace(confusion, axis1=1, axis2=2) / total
        expected = (confusion.sum(axis=2) * confusion.sum(axis=1)).sum(axis=1) / total ** 2
        with np.errstate(divide="ignore", invalid="ignore"):
            return (observed - expected) / (1 - expected)

    kappa = kappa_of_confusions(confusions.sum(axis=0))[0]
    if not np.isfinite(kappa):  # undefined on the data itself: nothing to resample
        return None, "none: kappa undefined (one class only, in both)"
    if (cells % (classes + 1) == 0).all():  # every item on the diagonal
        return None, f"none: all {len(cells)} {items_are} right, kappa 1.0000 over any part of them"
    if count < MIN_BOOTSTRAP_GROUPS:
        left_out = kappa_of_confusions(confusions.sum(axis=0) - confusions)
        if not np.isfinite(left_out).all():
            return None, "none: kappa undefined without one of the groups (one class only, in both)"
        return _t_interval(float(kappa), left_out, (-1.0, 1.0)), f"t interval over {count} {groups_are}"

    def kappa_of(drawn: np.ndarray, axis: int = -1) -> np.ndarray:
        # drawn: (resamples, groups) of group numbers; how often each group was drawn, times its confusion matrix
        drawn = np.atleast_2d(drawn)
        rows = np.arange(len(drawn))[:, None] * count
        times = np.bincount((rows + drawn).ravel(), minlength=len(drawn) * count).reshape(len(drawn), count)
        return kappa_of_confusions(times @ confusions)

    with warnings.catch_warnings():
        # resamples all alike can only be all right, said above; scipy's warning of it is no news
        warnings.simplefilter("ignore", DegenerateDataWarning)
        # batches of 100 resamples: a resample's draws are one row of groups (35,000 faces: 28 MB a batch)
        result = bootstrap((np.arange(count),), kappa_of, vectorized=True, n_resamples=resamples, batch=100,
                           method="percentile", confidence_level=0.95, random_state=np.random.default_rng(seed))
    low, high = result.confidence_interval
    if not (np.isfinite(low) and np.isfinite(high)):
        return None, "none: kappa undefined on resamples (one class only, in both)"
    return [round(float(low), 4), round(float(high), 4)], f"bootstrap over {count} {groups_are}"


def paired_difference(first: np.ndarray, other: np.ndarray, subjects: Sequence | None = None) -> dict:
    """``other``'s accuracy minus ``first``'s on the same faces (1/0 for right/wrong, face by face), with

    - ``ci95``: a paired interval over people (:func:`interval_over_groups`: a bootstrap over 30 people or more, a
      t interval under): every face of one person with both models' answers goes together, so that what one
      person's faces share, and what the two models share on them, stays in the interval (None under 5 people);
      ``ci_method`` says which; without ``subjects`` each face is its own person;
    - ``mcnemar_p``: the exact McNemar test, scipy's two-sided binomial test of the faces only one model got right
      (``discordant``: [only first, only other]); it reads faces as independent draws, so on CK+ (three near-identical
      frames per sequence) it is smaller than the people warrant: the interval is the one to read."""
    from scipy.stats import binomtest

    first, other = np.asarray(first, bool), np.asarray(other, bool)
    people = subjects is not None
    subjects = list(range(len(first))) if subjects is None else subjects
    only_first, only_other = int((first & ~other).sum()), int((~first & other).sum())
    p = binomtest(only_other, only_first + only_other).pvalue if only_first + only_other else 1.0
    interval, method = interval_over_groups(other.astype(float) - first, subjects, "subjects" if people else "faces")
    return {"n": int(len(first)), "subjects": len(set(subjects)),
            "difference": round(float(other.mean() - first.mean()), 4) if len(first) else 0.0,
            "ci95": interval, "ci_method": method, "discordant": [only_first, only_other], "mcnemar_p": float(p)}
