"""95% intervals of an accuracy: Wilson's where the scored items are independent draws, and a bootstrap that
resamples whole groups (a person's faces, a video segment's frames) where they are not.

Three near-identical frames of one CK+ sequence, or the twenty faces one JAFFE poser made, are not twenty
independent draws: an interval that counts them as such is too narrow. Resampling the groups, each with all its
items, keeps what the items of one group share."""

from __future__ import annotations

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
