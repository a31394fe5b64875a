"""Rank correlation on arrays: Spearman ρ with an exact or permutation p and a bootstrap
interval (``scipy.stats.permutation_test`` / ``scipy.stats.bootstrap``)."""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

from weightspace.compare.effect_size import CI_LEVEL


def _percentile_ci(samples: np.ndarray) -> tuple[float, float]:
    samples = samples[np.isfinite(samples)]
    if len(samples) < 10:
        return float("nan"), float("nan")
    tail = (1 - CI_LEVEL) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return float(low), float(high)


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
    x: np.ndarray, y: np.ndarray, *, rng: np.random.Generator, n_boot: int, n_perm: int = 2000
) -> tuple[float, float, float, float]:
    """Spearman ρ, its p-value and a percentile bootstrap CI resampling the (x, y) pairs
    (``scipy.stats.bootstrap``; resamples where a column is constant are NaN and ignored).

    The p-value is exact (all n! pairings) for n ≤ 8, where the usual t approximation says
    p = 0 for a perfect ρ = ±1 on four points (the exact two-sided p is then 1/12), and a
    permutation p (``n_perm`` pairings, +1 correction) above. The CI is
    NaN below 8 points: resamples of a few monotone points are all monotone, so a bootstrap
    interval would claim a certainty the data cannot give.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    nan = float("nan")
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return nan, nan, nan, nan
    rho = float(stats.spearmanr(x, y).statistic)
    if len(x) <= EXACT_SPEARMAN_N:
        p = _exact_spearman_p(x, y, rho)
    else:  # permutation, +1 correction: never 0 (the t approximation says 0 for ρ = ±1)
        p = _permutation_spearman_p(x, y, n_perm=n_perm, rng=rng)
    if len(x) < MIN_CI_POINTS:
        return float(rho), float(p), nan, nan
    with warnings.catch_warnings():  # resamples with a constant column: NaN, dropped below
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        boot = stats.bootstrap(
            (x, y),
            _spearman_rows,
            paired=True,
            vectorized=True,
            n_resamples=n_boot,
            method="percentile",
            confidence_level=CI_LEVEL,
            rng=rng,
        )
    low, high = _percentile_ci(np.asarray(boot.bootstrap_distribution))
    return float(rho), float(p), low, high


def _permutation_spearman_p(
    x: np.ndarray, y: np.ndarray, *, n_perm: int, rng: np.random.Generator
) -> float:
    """Two-sided permutation p of Spearman ρ over ``n_perm`` pairings (+1 correction)."""
    res = stats.permutation_test(
        (x, y),
        lambda a, b, axis=-1: np.abs(_spearman_rows(a, b)),
        permutation_type="pairings",
        vectorized=True,
        n_resamples=n_perm,
        alternative="greater",
        rng=rng,
    )
    return float(res.pvalue)


def _spearman_rows(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Spearman ρ along the last axis of paired arrays (B, n); NaN for a constant row."""
    rx = stats.rankdata(x, axis=-1)
    ry = stats.rankdata(y, axis=-1)
    rx -= rx.mean(-1, keepdims=True)
    ry -= ry.mean(-1, keepdims=True)
    den = np.sqrt((rx**2).sum(-1) * (ry**2).sum(-1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, (rx * ry).sum(-1) / den, np.nan)
