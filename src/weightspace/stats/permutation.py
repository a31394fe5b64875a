"""Relabelling (permutation) tests on arrays.

Every function takes its randomness as a ``numpy.random.Generator``. A p-value is exact
(every relabelling enumerated) when there are at most ``n_perm`` distinct relabellings,
otherwise Monte-Carlo with the +1 correction, p = (1 + #{|T*| ≥ |T|}) / (1 + B), so a
p-value is never 0. :func:`smallest_p` says what the design can reach at all.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from math import comb

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats as sps

Statistic = Callable[..., NDArray[np.float64]]


def label_splits(
    n: int, n_a: int, rng: np.random.Generator, n_perm: int
) -> tuple[NDArray[np.bool_], bool]:
    """Boolean masks (K, n) of group-a membership under relabelling, and whether exact."""
    total = comb(n, n_a)
    if total <= n_perm:
        masks = np.zeros((total, n), dtype=bool)
        for k, idx in enumerate(itertools.combinations(range(n), n_a)):
            masks[k, list(idx)] = True
        return masks, True
    order = np.argsort(rng.random((n_perm, n)), axis=1)  # (B, n) random permutations
    return order < n_a, False


def smallest_p(n_a: int, n_b: int, *, two_sided: bool = True) -> float:
    """The smallest p-value an exact two-group relabelling test of ``n_a`` and ``n_b``
    units can give (e.g. 1/3 for 2 vs 2 two-sided): below 0.05 no test can reject."""
    total = comb(n_a + n_b, n_a)
    if total == 0:
        return math.nan
    # the most extreme split (and, two-sided with equal sizes, its mirror image)
    extreme = 2 if two_sided and n_a == n_b else 1
    return min(1.0, extreme / total)


def relabel_test(
    samples: Sequence[NDArray[np.float64]],
    statistic: Statistic,
    *,
    n_perm: int,
    rng: np.random.Generator,
) -> tuple[float, float]:
    """The observed ``statistic`` (vectorized, large = extreme) and its permutation p with
    group labels exchangeable (``scipy.stats.permutation_test``): every relabelling when
    there are at most ``n_perm``, else ``n_perm`` random ones with the +1 correction."""
    res = sps.permutation_test(
        samples,
        statistic,
        permutation_type="independent",
        vectorized=True,
        n_resamples=n_perm,
        alternative="greater",
        rng=rng,
    )
    return float(res.statistic), float(res.pvalue)


def welch_t(a: NDArray[np.float64], b: NDArray[np.float64], axis: int = -1) -> NDArray[np.float64]:
    """Welch's t of mean(a) − mean(b) along ``axis`` (vectorized); ±inf when both groups
    are constant and differ."""
    va = np.var(a, axis=axis, ddof=1) / a.shape[axis]
    vb = np.var(b, axis=axis, ddof=1) / b.shape[axis]
    diff = np.mean(a, axis=axis) - np.mean(b, axis=axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        out: NDArray[np.float64] = diff / np.sqrt(va + vb)
    return out


def permutation_diff(
    a: ArrayLike,
    b: ArrayLike,
    *,
    rng: np.random.Generator,
    n_perm: int,
    studentize: bool = True,
) -> tuple[float, bool]:
    """Two-sided permutation p of the difference between groups (labels exchangeable
    under H0) and whether it is exact: every split of the pooled values when there are at
    most ``n_perm`` (p = share of splits with |T*| ≥ |T|), else ``n_perm`` random ones with
    the +1 correction. ``T`` is Welch's t (``studentize``; with unequal spreads a raw mean
    difference rejects far above α), the raw difference when a group has a single value or
    both are constant."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) == 0 or len(b) == 0:
        return math.nan, False
    values = np.concatenate([a, b])
    masks, exact = label_splits(len(values), len(a), rng, n_perm)  # (K, n)
    n_a, n_b = len(a), len(b)
    sum_a = masks @ values
    mean_a, mean_b = sum_a / n_a, (values.sum() - sum_a) / n_b
    stat = np.abs(mean_a - mean_b)
    observed = abs(a.mean() - b.mean())
    if studentize and min(n_a, n_b) >= 2 and np.var(a, ddof=1) + np.var(b, ddof=1) > 0:
        sq_a = masks @ values**2
        var_a = (sq_a - n_a * mean_a**2) / (n_a - 1)
        var_b = ((values**2).sum() - sq_a - n_b * mean_b**2) / (n_b - 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            stat = stat / np.sqrt(np.maximum(var_a, 0) / n_a + np.maximum(var_b, 0) / n_b)
        observed = float(np.abs(welch_t(a, b)))
    hits = int(np.sum(np.nan_to_num(stat, nan=np.inf) >= observed * (1 - 1e-9)))
    return float((hits + (not exact)) / (len(stat) + (not exact))), exact


def f_statistic(
    *samples: NDArray[np.float64], axis: int = -1, welch: bool = True
) -> NDArray[np.float64]:
    """One-way F of ``samples`` along ``axis`` (vectorized): Welch's heteroscedastic F, or
    the classic F with ``welch=False``."""
    counts = np.array([x.shape[axis] for x in samples], float)
    means = np.stack([np.mean(x, axis=axis) for x in samples], -1)  # (..., G)
    k, n = len(samples), counts.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        if welch:
            var = np.stack([np.var(x, axis=axis, ddof=1) for x in samples], -1)
            weight = counts / var
            total = weight.sum(-1, keepdims=True)
            centre = (weight * means).sum(-1, keepdims=True) / total
            between = (weight * (means - centre) ** 2).sum(-1) / (k - 1)
            tmp = ((1 - weight / total) ** 2 / (counts - 1)).sum(-1)
            out: NDArray[np.float64] = between / (1 + 2 * (k - 2) / (k**2 - 1) * tmp)
            return out
        grand = (means * counts).sum(-1, keepdims=True) / n
        between = (counts * (means - grand) ** 2).sum(-1) / (k - 1)
        within = sum(((x - np.expand_dims(np.mean(x, axis=axis), axis)) ** 2).sum(axis)
                     for x in samples) / (n - k)  # fmt: skip
        out = between / within
        return out


def permutation_anova(
    values: ArrayLike,
    labels: ArrayLike,
    *,
    rng: np.random.Generator,
    n_perm: int,
    welch: bool = True,
) -> tuple[float, float]:
    """One-way F over groups of ``values`` and its permutation p-value (labels shuffled:
    exact when the relabellings number ≤ ``n_perm``, else the +1 correction). ``welch``:
    Welch's heteroscedastic F (the classic F when a group has fewer than two values or no
    spread)."""
    values = np.asarray(values, dtype=float)
    labels = np.asarray(labels)
    groups = np.unique(labels)
    if len(groups) < 2 or len(values) <= len(groups):
        return math.nan, math.nan
    samples = [values[labels == g] for g in groups]
    use_welch = welch and all(len(x) >= 2 and np.var(x, ddof=1) > 0 for x in samples)
    if min(len(x) for x in samples) < 2:  # scipy needs two values per group
        codes = np.searchsorted(groups, labels)
        perms = np.argsort(rng.random((n_perm, len(values))), axis=1)
        shuffled = values[perms]
        null = np.array([
            float(f_statistic(*[row[codes == g] for g in range(len(groups))], welch=False))
            for row in shuffled
        ])  # fmt: skip
        observed = float(f_statistic(*samples, welch=False))
        return observed, float((1 + np.sum(null >= observed * (1 - 1e-9))) / (1 + n_perm))

    def statistic(*xs: NDArray[np.float64], axis: int = -1) -> NDArray[np.float64]:
        return f_statistic(*xs, axis=axis, welch=use_welch)

    return relabel_test(samples, statistic, n_perm=n_perm, rng=rng)
