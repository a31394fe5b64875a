"""The one Spearman rank-correlation test: ρ, an exact or permutation p, the smallest p the
design can reach, and a bootstrap interval that can carry the outcome's own noise."""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import permutations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats as sps

from weightspace.stats.effect import CI_LEVEL

EXACT_N = 8  # up to 8! = 40,320 pairings are enumerated
MIN_CI_N = 8  # resamples of fewer monotone points are all monotone: no honest interval
NAN = math.nan


@dataclass(frozen=True)
class SpearmanTest:
    """ρ with its two-sided p (exact over all n! pairings for n ≤ :data:`EXACT_N`, else a
    permutation p with the +1 correction), the smallest p the n points can give, and a
    percentile-bootstrap interval (NaN below :data:`MIN_CI_N` points)."""

    rho: float
    p: float
    exact: bool
    ci_low: float
    ci_high: float
    n: int
    min_p: float

    @property
    def reachable(self) -> bool:
        """Whether p < 0.05 is possible at all with these points."""
        return math.isfinite(self.min_p) and self.min_p < 0.05


def spearman_rows(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    """Spearman ρ along the last axis of paired arrays (..., n); NaN for a constant row."""
    rx = sps.rankdata(x, axis=-1)
    ry = sps.rankdata(y, axis=-1)
    rx -= rx.mean(-1, keepdims=True)
    ry -= ry.mean(-1, keepdims=True)
    den = np.sqrt((rx**2).sum(-1) * (ry**2).sum(-1))
    with np.errstate(divide="ignore", invalid="ignore"):
        out: NDArray[np.float64] = np.where(den > 0, (rx * ry).sum(-1) / den, np.nan)
    return out


def _exact_null(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    """|ρ| over every pairing of y with x (n! values)."""
    rx, ry = sps.rankdata(x), sps.rankdata(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    perms = np.array(list(permutations(range(len(y)))))  # (n!, n)
    out: NDArray[np.float64] = np.abs((ry[perms] @ rx) / np.sqrt((rx**2).sum() * (ry**2).sum()))
    return out


def spearman_test(
    x: ArrayLike,
    y: ArrayLike,
    *,
    rng: np.random.Generator,
    y_se: ArrayLike | None = None,
    n_perm: int = 2000,
    n_boot: int = 1000,
    min_n: int = 3,
) -> SpearmanTest:
    """Spearman ρ of ``y`` on ``x`` (non-finite pairs dropped). Fewer than ``min_n`` points,
    or a constant column: every field NaN. ``y_se``: each y's standard error; the
    bootstrap then resamples the points *and* redraws each y from its own uncertainty, so
    the interval widens by the outcome's noise (conservative)."""
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    sa = np.zeros_like(ya) if y_se is None else np.nan_to_num(np.asarray(y_se, dtype=float))
    ok = np.isfinite(xa) & np.isfinite(ya)
    xs, ys, se = xa[ok], ya[ok], sa[ok]
    n = len(xs)
    if n < max(min_n, 3) or np.ptp(xs) == 0 or np.ptp(ys) == 0:
        return SpearmanTest(NAN, NAN, False, NAN, NAN, n, NAN)
    rho = float(spearman_rows(xs, ys))
    if n <= EXACT_N:  # the t approximation says p = 0 for a perfect ρ on four points
        null = _exact_null(xs, ys)
        p = float(np.mean(null >= abs(rho) * (1 - 1e-9)))
        min_p, exact = float(np.mean(null >= null.max() * (1 - 1e-9))), True
    else:
        res = sps.permutation_test(
            (xs, ys),
            lambda a, b, axis=-1: np.abs(spearman_rows(a, b)),
            permutation_type="pairings",
            vectorized=True,
            n_resamples=n_perm,
            alternative="greater",
            rng=rng,
        )
        p, min_p, exact = float(res.pvalue), 1.0 / (n_perm + 1), False
    low = high = NAN
    if n >= MIN_CI_N and n_boot > 0:
        idx = rng.integers(0, n, size=(n_boot, n))  # resampled points
        noisy = ys[idx] + se[idx] * rng.standard_normal(idx.shape)
        boot = spearman_rows(xs[idx], noisy)
        boot = boot[np.isfinite(boot)]
        if len(boot) >= 10:
            tail = (1 - CI_LEVEL) / 2
            low, high = (float(v) for v in np.quantile(boot, [tail, 1 - tail]))
    return SpearmanTest(rho, p, exact, low, high, n, min_p)
