"""Norm, rank and entropy metrics of an ESD (one small formula each).

Every function takes eigenvalues lambda of WᵀW (pooled over slices, float64) and returns
plain floats. Two families: the WeightWatcher 0.7.7 definitions (``ww_*``, absolute
thresholds, used by ``compat="ww"``) and scale-invariant ones (thresholds relative to
lambda_max) for the default mode.
"""

from __future__ import annotations

import math

import numpy as np

from weightspace.spectral.esd import EPS64, GRAM_NOISE

WW_EPSILON = 1e-10  # WeightWatcher 0.7.7 EPSILON, added to p and to the rank in its entropy
WW_WEAK_RANK_TOL = 1e-6  # WeightWatcher 0.7.7 WEAK_RANK_LOSS_TOLERANCE (absolute, on lambda)
WEAK_RANK_REL = 1e-6  # default mode: weak rank loss counts lambda < 1e-6·lambda_max


def zero_floor(lambda_max: float, m: int) -> float:
    """Relative eigenvalue floor of the default mode: lambda_max · M · 1000 · eps.

    Below it an eigenvalue of an M×M Gram matrix is indistinguishable from 0.
    """
    return lambda_max * max(m, 1) * GRAM_NOISE


def norm_metrics(evals: np.ndarray, alpha: float) -> dict[str, float]:
    """Norms shared by both modes; alpha-based ones are NaN when alpha is NaN."""
    norm = float(np.sum(evals))
    lmax = float(np.max(evals))
    if lmax <= 0.0:
        nan = math.nan
        return {
            "norm": norm,
            "log_norm": nan,
            "spectral_norm": lmax,
            "log_spectral_norm": nan,
            "alpha_weighted": nan,
            "log_alpha_norm": nan,
            "stable_rank": nan,
        }
    log_spec = math.log10(lmax)
    if math.isfinite(alpha):
        alpha_weighted = alpha * log_spec
        # log10 Σλ^α = α·log10 λmax + log10 Σ(λ/λmax)^α: no overflow for large λ or α
        log_alpha_norm = alpha * log_spec + math.log10(float(np.sum((evals / lmax) ** alpha)))
    else:
        alpha_weighted = log_alpha_norm = math.nan
    return {
        "norm": norm,
        "log_norm": math.log10(norm),
        "spectral_norm": lmax,
        "log_spectral_norm": log_spec,
        "alpha_weighted": alpha_weighted,
        "log_alpha_norm": log_alpha_norm,
        "stable_rank": norm / lmax,
    }


def ww_matrix_rank(sv: np.ndarray, n: int) -> int:
    """WeightWatcher's rank: singular values > sigma_max · N · eps (numpy's convention)."""
    if sv.size == 0:
        return 0
    return int(np.count_nonzero(sv > np.max(sv) * n * EPS64))


def ww_rank_loss(slice_sv: np.ndarray, n: int) -> int:
    """Sum over slices of (M − rank of the slice), WeightWatcher's ``rank_loss``."""
    return int(sum(row.size - ww_matrix_rank(row, n) for row in slice_sv))


def ww_entropy(sv: np.ndarray, n: int) -> float:
    """WeightWatcher 0.7.7 ``matrix_entropy``: −Σ p ln p / ln(rank), p = λ/Σλ + 1e-10."""
    rank = ww_matrix_rank(sv, n) + WW_EPSILON
    ev = sv * sv
    total = float(np.sum(ev))
    if total <= 0.0:
        return math.nan
    p = ev / total + WW_EPSILON
    return float(-np.sum(p * np.log(p)) / np.log(rank))


def ww_rank_metrics(slice_evals: np.ndarray, n: int) -> dict[str, float]:
    """sv_max, sv_min, rank_loss, weak_rank_loss, matrix_rank, entropy as WeightWatcher 0.7.7.

    ``slice_evals``: ``(S, M)`` eigenvalues per slice. sv_min is (sic) the largest of the
    per-slice smallest singular values.
    """
    slice_sv = np.sqrt(slice_evals)  # (S, M)
    sv = np.sqrt(np.sort(slice_evals.ravel()))
    return {
        "sv_max": float(np.max(slice_sv)),
        "sv_min": float(np.max(np.min(slice_sv, axis=1))),
        "rank_loss": ww_rank_loss(slice_sv, n),
        "weak_rank_loss": int(np.count_nonzero(slice_evals < WW_WEAK_RANK_TOL)),
        "matrix_rank": ww_matrix_rank(sv, n),
        "entropy": ww_entropy(sv, n),
    }


def spectral_entropy(evals: np.ndarray, floor: float) -> float:
    """Normalised spectral entropy −Σ p ln p / ln(rank), p = λ/Σλ over λ > floor.

    1 for a flat spectrum, 0 for rank one; NaN without a nonzero eigenvalue.
    """
    nz = evals[evals > floor]
    if nz.size == 0:
        return math.nan
    if nz.size == 1:
        return 0.0
    p = nz / np.sum(nz)
    return float(-np.sum(p * np.log(p)) / math.log(nz.size))


def rank_metrics(evals: np.ndarray, m: int) -> dict[str, float]:
    """Scale-invariant sv_max, sv_min, rank_loss, weak_rank_loss, matrix_rank, entropy."""
    lmax = float(np.max(evals))
    floor = zero_floor(lmax, m)
    rank = int(np.count_nonzero(evals > floor))
    return {
        "sv_max": math.sqrt(lmax),
        "sv_min": math.sqrt(float(np.min(evals))),
        "rank_loss": int(evals.size - rank),
        "weak_rank_loss": int(np.count_nonzero(evals < WEAK_RANK_REL * lmax)),
        "matrix_rank": rank,
        "entropy": spectral_entropy(evals, floor) if lmax > 0 else math.nan,
    }
