"""Continuous power-law fit of an ESD tail: MLE alpha with xmin chosen by minimal KS distance.

For sorted eigenvalues x_0 <= ... <= x_{N-1} (above the floor) every x_i except the largest
is a candidate xmin (duplicates kept, as WeightWatcher 0.7.7's ``WWFit``). For candidate i
with tail size n = N - i:

    alpha_i = 1 + n / sum_{j>=i} ln(x_j / x_i)
    D_i     = max_{k<n} | 1 - (x_{i+k}/x_i)^(1-alpha_i) - k/n |     (left empirical step k/n)

and D_i = 1 where alpha_i <= 1. The fit is the first i with the smallest D_i;
sigma = (alpha - 1)/sqrt(n). Brute force costs O(N^2). :func:`fit_power_law` finds the same
index exactly: a lower bound of every D_i from a few ranks k (a maximum over a subset
cannot exceed the maximum over all), then the full D_i only for candidates, in order of
their bound, whose bound does not exceed the best D found so far.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

WW_EVALS_THRESH = 1e-5  # WeightWatcher 0.7.7 EVALS_THRESH: eigenvalues <= this are dropped
WW_SMALL_N = 20  # WeightWatcher 0.7.7 SMALL_N_CUTOFF: fewer eigenvalues use its small-N fit
_SMALL_N_KMIN = 8  # WeightWatcher 0.7.7 fit_powerlaw_smallN k_min
_BOUND_RANKS = 24  # evenly spaced ranks per candidate for the lower bound
_HEAD_RANKS = 8  # plus the first few ranks, where D of a bad xmin usually sits
_CHUNK = 1 << 20  # elements per block of the (candidates, ranks) bound matrix


@dataclass(frozen=True)
class PowerLawFit:
    """Result of a power-law fit; NaN fields and a ``reason`` when it failed."""

    alpha: float
    xmin: float
    xmax: float
    D: float
    sigma: float
    num_pl_spikes: int
    num_fit_evals: int  # eigenvalues above the floor that took part in the search
    reason: str = ""

    @property
    def ok(self) -> bool:
        return not self.reason


def failed_fit(reason: str, *, num_fit_evals: int = 0, xmax: float = math.nan) -> PowerLawFit:
    nan = math.nan
    return PowerLawFit(nan, nan, xmax, nan, nan, 0, num_fit_evals, reason)


def tail_alphas(x: np.ndarray) -> np.ndarray:
    """MLE alpha for every candidate xmin x[0..N-2] of sorted ``x`` (float64, O(N)).

    Suffix sums of logs centred on the largest log keep the cancellation in
    ``sum ln x_j - n ln x_i`` small.
    """
    logx = np.log(x)
    c = logx - logx[-1]  # <= 0
    suffix = np.cumsum(c[::-1])[::-1]  # suffix[i] = sum_{j>=i} c_j
    n = np.arange(x.size, 0, -1, dtype=np.float64)  # tail sizes N..1
    s = suffix[:-1] - n[:-1] * c[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1.0 + n[:-1] / s


def ks_distance(x: np.ndarray, i: int, alpha: float) -> float:
    """Full KS distance D_i of candidate i (WeightWatcher's formula, element for element)."""
    if not alpha > 1.0:
        return 1.0
    tail = x[i:]
    n = tail.size
    with np.errstate(over="ignore", invalid="ignore"):
        model = 1.0 - (tail / x[i]) ** (1.0 - alpha)
    return float(np.max(np.abs(model - np.arange(n) / n)))


def _lower_bounds(x: np.ndarray, alphas: np.ndarray, cand: np.ndarray, ranks: int) -> np.ndarray:
    """max over ``ranks`` evenly spaced ranks (plus the first few) of |F_model - k/n|.

    A maximum over a subset of ranks never exceeds the maximum over all ranks, so this is a
    lower bound of D for every candidate index in ``cand``.
    """
    grid = np.linspace(0.0, 1.0, ranks)
    out = np.ones(cand.size)
    rows = max(1, _CHUNK // (ranks + _HEAD_RANKS))
    for start in range(0, cand.size, rows):
        i = cand[start : start + rows, None]  # (C, 1)
        n = x.size - i  # tail sizes
        k_even = np.floor(grid[None, :] * (n - 1)).astype(np.int64)  # (C, R)
        k_head = np.minimum(np.arange(_HEAD_RANKS)[None, :], n - 1)  # (C, H)
        k = np.concatenate([k_head, k_even], axis=1)  # (C, H+R)
        a = alphas[i]
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            model = 1.0 - (x[i + k] / x[i]) ** (1.0 - a)
            d = np.max(np.abs(model - k / n), axis=1)
        out[start : start + rows] = np.where(a[:, 0] > 1.0, d, 1.0)
    return out


def search_xmin(x: np.ndarray, alphas: np.ndarray) -> tuple[int, float, int]:
    """Exact pruned KS search: (first index of the minimal D, that D, full evaluations).

    Bounds are refined level by level (more ranks each time) only for the candidates that
    can still win; each level also evaluates the full D of its most promising candidate
    so that the pruning threshold tightens early.
    """
    best_i, best_d, evaluated = -1, math.inf, 0

    def consider(i: int) -> None:
        nonlocal best_i, best_d, evaluated
        d = ks_distance(x, i, float(alphas[i]))
        evaluated += 1
        if d < best_d or (d == best_d and i < best_i):
            best_i, best_d = i, d

    cand = np.arange(alphas.size)
    bounds = np.zeros(alphas.size)
    ranks = _BOUND_RANKS
    while cand.size > 1:
        bounds = np.maximum(bounds, _lower_bounds(x, alphas, cand, ranks))
        consider(int(cand[np.argmin(bounds)]))
        keep = bounds <= best_d
        cand, bounds = cand[keep], bounds[keep]
        if ranks >= x.size // 4:
            break
        ranks *= 8
    order = np.argsort(bounds, kind="stable")
    for j in order:
        if bounds[j] > best_d:
            break
        if int(cand[j]) != best_i:
            consider(int(cand[j]))
    return best_i, best_d, evaluated


def search_xmin_brute(x: np.ndarray, alphas: np.ndarray) -> tuple[int, float]:
    """O(N^2) reference for :func:`search_xmin` (tests and benchmarks)."""
    ds = np.array([ks_distance(x, i, float(alphas[i])) for i in range(alphas.size)])
    i = int(np.argmin(ds))
    return i, float(ds[i])


def _ww_alpha(x: np.ndarray, i: int) -> float:
    """alpha_i summed exactly as WeightWatcher does (np.sum over the suffix)."""
    logx = np.log(x)
    n = float(x.size - i)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(1.0 + n / (np.sum(logx[i:]) - n * logx[i]))


def _small_n_fit(x: np.ndarray) -> tuple[int, float, float]:
    """WeightWatcher 0.7.7's fit for fewer than 20 eigenvalues: (index, alpha, D).

    alpha is the bias-corrected 1 + (n - 1)/sum; tails shorter than 8 (or with a sum
    <= 1e-12) are not evaluated (alpha 0, D 1). Its code then selects, as for large N,
    the first minimal D (the small-N objective it also computes is overwritten).
    """
    logx = np.log(x)
    size = x.size
    alphas = np.zeros(size - 1)
    ds = np.ones(size - 1)
    evaluated = False
    for i in range(size - 1):
        n = size - i
        if n < _SMALL_N_KMIN:
            continue
        s = float(np.sum(logx[i:]) - n * logx[i])
        if s <= 1e-12:
            continue
        alphas[i] = 1.0 + (n - 1.0) / s
        if alphas[i] <= 1.0:
            continue
        ds[i] = ks_distance(x, i, float(alphas[i]))
        evaluated = True
    if not evaluated:  # no candidate: the whole spectrum is the tail
        s = float(np.sum(logx) - size * logx[0])
        if s > 1e-12:
            alphas[0] = 1.0 + (size - 1.0) / s
            ds[0] = ks_distance(x, 0, float(alphas[0]))
    best = int(np.argmin(ds))
    return best, float(alphas[best]), float(ds[best])


def fit_power_law(
    evals: np.ndarray,
    *,
    floor: float,
    small_n: bool = False,
) -> PowerLawFit:
    """Fit the tail of the eigenvalues ``evals`` (any order) above ``floor``.

    ``floor``: eigenvalues ``<= floor`` are dropped before the search (WeightWatcher uses the
    absolute 1e-5; the default mode passes a floor relative to lambda_max).
    ``small_n``: use WeightWatcher 0.7.7's special fit when fewer than 20 eigenvalues remain
    (compat mode only; the default mode uses the same estimator at every size).
    """
    ev = np.sort(np.asarray(evals, dtype=np.float64).ravel())
    if ev.size == 0 or not np.all(np.isfinite(ev)):
        return failed_fit("eigenvalues are empty or not finite")
    x = ev[ev > floor]
    xmax = float(x[-1]) if x.size else math.nan
    if x.size < 2:
        return failed_fit(
            f"{x.size} eigenvalue(s) above the floor {floor:.3g}; need at least 2",
            num_fit_evals=int(x.size),
            xmax=xmax,
        )
    if small_n and x.size < WW_SMALL_N:
        i, alpha, d = _small_n_fit(x)
    else:
        alphas = tail_alphas(x)
        i, _, _ = search_xmin(x, alphas)
        alpha = _ww_alpha(x, i)  # the winner's alpha and D, summed as WeightWatcher does
        d = ks_distance(x, i, alpha)
    xmin = float(x[i])
    n_tail = x.size - i
    if not (math.isfinite(alpha) and alpha > 1.0):
        return failed_fit(
            f"degenerate tail: alpha={alpha} at xmin={xmin:.6g} (tail eigenvalues all equal?)",
            num_fit_evals=int(x.size),
            xmax=xmax,
        )
    return PowerLawFit(
        alpha=alpha,
        xmin=xmin,
        xmax=xmax,
        D=float(d),
        sigma=(alpha - 1.0) / math.sqrt(n_tail),
        num_pl_spikes=int(np.count_nonzero(ev >= xmin)),
        num_fit_evals=int(x.size),
    )
