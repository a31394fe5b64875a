"""Pure statistics on arrays: permutation tests, effect sizes, bootstrap intervals.

Every function takes its randomness as a ``numpy.random.Generator``. Permutation p-values
are exact (every relabelling enumerated) when there are at most ``n_perm`` distinct
relabellings, otherwise Monte-Carlo with the +1 correction, p = (1 + #{|T*| ≥ |T|}) / (1 + B),
so a p-value is never 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from math import comb

import numpy as np
from scipy import stats

CI_LEVEL = 0.95
MIN_BOOT_GROUP = 3


@dataclass(frozen=True)
class TwoGroupTest:
    """Difference of means between groups a and b with a permutation p and bootstrap CIs."""

    diff: float
    d: float  # Cohen's d (pooled SD)
    p_perm: float
    diff_ci: tuple[float, float]
    d_ci: tuple[float, float]
    n_a: int
    n_b: int
    exact: bool


def cohens_d(a: np.ndarray, b: np.ndarray) -> float:
    """Standardized mean difference (mean a − mean b) / pooled SD; NaN if undefined."""
    n_a, n_b = len(a), len(b)
    if n_a + n_b < 3 or n_a == 0 or n_b == 0:
        return float("nan")
    var = (
        (n_a - 1) * np.var(a, ddof=1 if n_a > 1 else 0)
        + (n_b - 1) * np.var(b, ddof=1 if n_b > 1 else 0)
    ) / (n_a + n_b - 2)
    return float((np.mean(a) - np.mean(b)) / np.sqrt(var)) if var > 0 else float("nan")


def label_splits(n: int, n_a: int, rng: np.random.Generator, n_perm: int):
    """Boolean masks (K, n) of group-a membership under relabelling, and whether exact."""
    total = comb(n, n_a)
    if total <= n_perm:
        masks = np.zeros((total, n), dtype=bool)
        for k, idx in enumerate(combinations(range(n), n_a)):
            masks[k, list(idx)] = True
        return masks, True
    order = np.argsort(rng.random((n_perm, n)), axis=1)  # (B, n) random permutations
    return order < n_a, False


def permutation_diff(
    a: np.ndarray, b: np.ndarray, *, rng: np.random.Generator, n_perm: int
) -> tuple[float, bool]:
    """Two-sided permutation p-value of mean(a) − mean(b), labels exchangeable under H0."""
    values = np.concatenate([a, b])
    n, n_a = len(values), len(a)
    if len(a) == 0 or len(b) == 0:
        return float("nan"), False
    masks, exact = label_splits(n, n_a, rng, n_perm)
    mean_a = masks @ values / n_a
    mean_b = (~masks) @ values / (n - n_a)
    perm = np.abs(mean_a - mean_b)
    observed = abs(a.mean() - b.mean())
    hits = np.sum(perm >= observed * (1 - 1e-9))  # tolerance: float sums in other orders
    if exact:
        return float(hits / len(perm)), True
    return float((1 + hits) / (1 + len(perm))), False


def _percentile_ci(samples: np.ndarray) -> tuple[float, float]:
    samples = samples[np.isfinite(samples)]
    if len(samples) < 10:
        return float("nan"), float("nan")
    tail = (1 - CI_LEVEL) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return float(low), float(high)


def two_group_test(
    a: np.ndarray, b: np.ndarray, *, rng: np.random.Generator, n_perm: int, n_boot: int
) -> TwoGroupTest:
    """Permutation test + Cohen's d with bootstrap CIs that resample *within* each group
    (the groups' sizes are fixed by the design). The CIs are NaN when a group has fewer than
    ``MIN_BOOT_GROUP`` values: two values give three distinct resamples, not an interval."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    p, exact = permutation_diff(a, b, rng=rng, n_perm=n_perm)
    enough = min(len(a), len(b)) >= MIN_BOOT_GROUP
    ia = rng.integers(0, len(a), size=(n_boot, len(a))) if enough else None
    ib = rng.integers(0, len(b), size=(n_boot, len(b))) if enough else None
    boot_diff = np.full(n_boot, np.nan)
    boot_d = np.full(n_boot, np.nan)
    if ia is not None and ib is not None:
        ra, rb = a[ia], b[ib]  # (B, n_a), (B, n_b)
        boot_diff = ra.mean(1) - rb.mean(1)
        if len(a) + len(b) > 2:
            va = ra.var(1, ddof=1) if len(a) > 1 else np.zeros(n_boot)
            vb = rb.var(1, ddof=1) if len(b) > 1 else np.zeros(n_boot)
            pooled = ((len(a) - 1) * va + (len(b) - 1) * vb) / (len(a) + len(b) - 2)
            with np.errstate(divide="ignore", invalid="ignore"):
                boot_d = np.where(pooled > 0, boot_diff / np.sqrt(pooled), np.nan)
    diff = float(a.mean() - b.mean()) if len(a) and len(b) else float("nan")
    return TwoGroupTest(
        diff=diff,
        d=cohens_d(a, b),
        p_perm=p,
        diff_ci=_percentile_ci(boot_diff),
        d_ci=_percentile_ci(boot_d),
        n_a=len(a),
        n_b=len(b),
        exact=exact,
    )


def permutation_anova(
    values: np.ndarray, labels: np.ndarray, *, rng: np.random.Generator, n_perm: int
) -> tuple[float, float]:
    """One-way F over groups of ``values`` and its permutation p-value (labels shuffled)."""
    values = np.asarray(values, float)
    groups = np.unique(labels)
    if len(groups) < 2 or len(values) <= len(groups):
        return float("nan"), float("nan")
    codes = np.searchsorted(groups, labels)

    def f_stat(code_rows: np.ndarray) -> np.ndarray:  # (K, n) → (K,)
        onehot = code_rows[:, :, None] == np.arange(len(groups))  # (K, n, G)
        counts = onehot.sum(1)
        means = np.einsum("kng,n->kg", onehot, values) / counts
        grand = values.mean()
        between = (counts * (means - grand) ** 2).sum(1) / (len(groups) - 1)
        fitted = np.take_along_axis(means, code_rows, axis=1)
        within = ((values - fitted) ** 2).sum(1) / (len(values) - len(groups))
        with np.errstate(divide="ignore", invalid="ignore"):
            return between / within

    observed = float(f_stat(codes[None, :])[0])
    perms = np.argsort(rng.random((n_perm, len(values))), axis=1)  # (B, n)
    null = f_stat(codes[perms])
    p = (1 + np.sum(null >= observed * (1 - 1e-9))) / (1 + n_perm)
    return observed, float(p)


def _exact_spearman_p(x: np.ndarray, y: np.ndarray, rho: float) -> float:
    """Two-sided p of Spearman ρ over all n! pairings (used for n ≤ EXACT_SPEARMAN_N)."""
    from itertools import permutations

    rx, ry = stats.rankdata(x), stats.rankdata(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    perms = np.array(list(permutations(range(len(y)))))  # (n!, n)
    null = (ry[perms] @ rx) / np.sqrt((rx**2).sum() * (ry**2).sum())
    return float(np.mean(np.abs(null) >= abs(rho) * (1 - 1e-9)))


EXACT_SPEARMAN_N = 8
MIN_CI_POINTS = 8


def spearman_ci(
    x: np.ndarray, y: np.ndarray, *, rng: np.random.Generator, n_boot: int
) -> tuple[float, float, float, float]:
    """Spearman ρ, its p-value and a percentile bootstrap CI resampling the (x, y) pairs.

    The p-value is exact (all n! pairings) for n ≤ 8, where the usual t approximation says
    p = 0 for a perfect ρ = ±1 on four points (the exact two-sided p is then 1/12). The CI is
    NaN below 8 points: resamples of a few monotone points are all monotone, so a bootstrap
    interval would claim a certainty the data cannot give.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    nan = float("nan")
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return nan, nan, nan, nan
    rho, p = stats.spearmanr(x, y)
    if len(x) <= EXACT_SPEARMAN_N:
        p = _exact_spearman_p(x, y, float(rho))
    if len(x) < MIN_CI_POINTS:
        return float(rho), float(p), nan, nan
    idx = rng.integers(0, len(x), size=(n_boot, len(x)))  # (B, n)
    rx = stats.rankdata(x[idx], axis=1)
    ry = stats.rankdata(y[idx], axis=1)
    rx -= rx.mean(1, keepdims=True)
    ry -= ry.mean(1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        boot = (rx * ry).sum(1) / np.sqrt((rx**2).sum(1) * (ry**2).sum(1))
    low, high = _percentile_ci(boot)
    return float(rho), float(p), low, high
