"""95% intervals of an accuracy: Wilson's where the scored items are independent draws, and a bootstrap that
resamples whole groups (a person's faces, a video segment's frames) where they are not; and of Cohen's kappa, by
the same bootstrap (each item its own group where the accuracy's interval is Wilson's).

Three near-identical frames of one CK+ sequence, or the twenty faces one JAFFE poser made, are not twenty
independent draws: an interval that counts them as such is too narrow. Resampling the groups, each with all its
items, keeps what the items of one group share."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

# Fewer groups than this give no bootstrap interval: resampling 1-4 groups gives an interval of 1.0-1.0 or 0.0-1.0,
# which says nothing (and the first reads as certainty)
MIN_BOOTSTRAP_GROUPS = 5
BOOTSTRAP_RESAMPLES = 2000


def wilson_interval(successes: int, n: int) -> list[float] | None:
    """The 95% Wilson score interval of a proportion (scipy's; better than the normal approximation near 0 and 1
    and on few faces)."""
    from scipy.stats import binomtest

    if not n:
        return None
    ci = binomtest(successes, n).proportion_ci(confidence_level=0.95, method="wilson")
    return [round(float(ci.low), 4), round(float(ci.high), 4)]


def bootstrap_over_groups(values: np.ndarray, groups: Sequence | np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES,
                          seed: int = 0) -> list[float] | None:
    """95% percentile interval of the mean of ``values`` (one per item: 1/0 for right/wrong, or the difference of
    two models' 1/0 on the same face), resampling whole ``groups`` with replacement, each with all its items (the
    mean of a resample is its items' sum over their count, so a large group weighs as much as its items). Seeded:
    the same data give the same interval. None with fewer than :data:`MIN_BOOTSTRAP_GROUPS` groups."""
    from scipy.stats import bootstrap

    values = np.asarray(values, dtype=float)
    if len(values) != len(groups):
        raise ValueError(f"{len(values)} values but {len(groups)} groups")
    _, group = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
    if group.size == 0 or group.max() + 1 < MIN_BOOTSTRAP_GROUPS:
        return None
    # per group: the sum of its values and its size; a resample's mean is the ratio of their totals
    sums, sizes = np.bincount(group, weights=values), np.bincount(group).astype(float)
    result = bootstrap((sums, sizes), lambda s, n, axis=-1: s.sum(axis=axis) / n.sum(axis=axis), paired=True,
                       vectorized=True, n_resamples=resamples, method="percentile", confidence_level=0.95,
                       random_state=np.random.default_rng(seed))
    low, high = result.confidence_interval
    return [round(float(low), 4), round(float(high), 4)]


def bootstrap_kappa(y_true: np.ndarray, y_pred: np.ndarray, classes: int, groups: Sequence | np.ndarray | None = None,
                    resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> list[float] | None:
    """95% percentile interval of Cohen's kappa (unweighted) of ``y_pred`` against ``y_true`` (class indices below
    ``classes``), resampling whole ``groups`` as :func:`bootstrap_over_groups` does (None: each item its own group),
    each resample's kappa from its groups' confusion matrices added up. Seeded; None with fewer than
    :data:`MIN_BOOTSTRAP_GROUPS` groups, or where kappa is undefined on a resample (one class only, in both)."""
    from scipy.stats import DegenerateDataWarning, bootstrap

    cells = np.asarray(y_true, dtype=int) * classes + np.asarray(y_pred, dtype=int)
    groups = np.arange(len(cells)) if groups is None else groups
    if len(cells) != len(groups):
        raise ValueError(f"{len(cells)} labels but {len(groups)} groups")
    _, group = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
    if group.size == 0 or group.max() + 1 < MIN_BOOTSTRAP_GROUPS:
        return None
    count = int(group.max()) + 1
    confusions = np.zeros((count, classes * classes))  # per group, its confusion matrix flattened
    np.add.at(confusions, (group, cells), 1)

    def kappa_of(drawn: np.ndarray, axis: int = -1) -> np.ndarray:
        # drawn: (resamples, groups) of group numbers; how often each group was drawn, times its confusion matrix
        drawn = np.atleast_2d(drawn)
        rows = np.arange(len(drawn))[:, None] * count
        times = np.bincount((rows + drawn).ravel(), minlength=len(drawn) * count).reshape(len(drawn), count)
        confusion = (times @ confusions).reshape(-1, classes, classes)
        total = confusion.sum(axis=(1, 2))
        observed = np.trace(confusion, axis1=1, axis2=2) / total
        expected = (confusion.sum(axis=2) * confusion.sum(axis=1)).sum(axis=1) / total ** 2
        with np.errstate(divide="ignore", invalid="ignore"):
            return (observed - expected) / (1 - expected)

    if not np.isfinite(kappa_of(np.arange(count))).all():  # undefined on the data itself: nothing to resample
        return None
    with warnings.catch_warnings():
        # every resample agreeing alike (each group all right): scipy warns of a degenerate distribution; its
        # interval (1.0-1.0) is the percentiles', as the accuracy's is
        warnings.simplefilter("ignore", DegenerateDataWarning)
        # batches of 100 resamples: a resample's draws are one row of groups (35,000 faces: 28 MB a batch)
        result = bootstrap((np.arange(count),), kappa_of, vectorized=True, n_resamples=resamples, batch=100,
                           method="percentile", confidence_level=0.95, random_state=np.random.default_rng(seed))
    low, high = result.confidence_interval
    if not (np.isfinite(low) and np.isfinite(high)):
        return None
    return [round(float(low), 4), round(float(high), 4)]


def paired_difference(first: np.ndarray, other: np.ndarray, subjects: Sequence | None = None) -> dict:
    """``other``'s accuracy minus ``first``'s on the same faces (1/0 for right/wrong, face by face), with

    - ``ci95``: a paired bootstrap over people: each resample draws people with replacement, and every face of theirs
      with both models' answers, so that what one person's faces share, and what the two models share on them,
      stays in the interval (None under 5 people); without ``subjects`` each face is its own person;
    - ``mcnemar_p``: the exact McNemar test, scipy's two-sided binomial test of the faces only one model got right
      (``discordant``: [only first, only other]); it reads faces as independent draws, so on CK+ (three near-identical
      frames per sequence) it is smaller than the people warrant: the interval is the one to read."""
    from scipy.stats import binomtest

    first, other = np.asarray(first, bool), np.asarray(other, bool)
    subjects = list(range(len(first))) if subjects is None else subjects
    only_first, only_other = int((first & ~other).sum()), int((~first & other).sum())
    p = binomtest(only_other, only_first + only_other).pvalue if only_first + only_other else 1.0
    return {"n": int(len(first)), "subjects": len(set(subjects)),
            "difference": round(float(other.mean() - first.mean()), 4) if len(first) else 0.0,
            "ci95": bootstrap_over_groups(other.astype(float) - first, subjects),
            "discordant": [only_first, only_other], "mcnemar_p": float(p)}
