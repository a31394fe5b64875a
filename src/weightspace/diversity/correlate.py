"""Rank correlations of scores against an outcome, with bootstrap confidence intervals."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd


def spearman_batch(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman ρ of each row pair of ``x``, ``y`` (B, n) (average ranks for ties); NaN when
    a row is constant."""
    from scipy.stats import rankdata

    rx = rankdata(x, axis=1)
    ry = rankdata(y, axis=1)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    den = np.sqrt((rx * rx).sum(axis=1) * (ry * ry).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (rx * ry).sum(axis=1) / den, np.nan)


def kendall_batch(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall τ-b of each row pair of ``x``, ``y`` (B, n) in O(B n²); NaN when constant."""
    iu = np.triu_indices(x.shape[1], 1)
    sx = np.sign(x[:, :, None] - x[:, None, :])[:, iu[0], iu[1]]  # (B, n(n-1)/2)
    sy = np.sign(y[:, :, None] - y[:, None, :])[:, iu[0], iu[1]]
    den = np.sqrt((sx * sx).sum(axis=1) * (sy * sy).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (sx * sy).sum(axis=1) / den, np.nan)


def _rank_corrs(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    if len(x) < 3:
        return math.nan, math.nan
    return float(spearman_batch(x[None], y[None])[0]), float(kendall_batch(x[None], y[None])[0])


def rank_correlations(
    table: pd.DataFrame,
    scores: Sequence[str],
    target: str,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Spearman ρ and Kendall τ of each ``scores`` column against ``target``, across rows.

    CIs: percentile bootstrap over rows (resampled with replacement; resamples where either
    column is constant are skipped). Rows with a NaN in the pair are dropped per score.
    Columns: ``score, target, n, spearman, spearman_lo, spearman_hi, kendall, kendall_lo,
    kendall_hi, n_boot_used``.
    """
    rng = np.random.default_rng(seed)
    alpha = (1 - level) / 2
    out = []
    for score in scores:
        if score not in table:
            continue
        pair = table[[score, target]].astype(float).dropna()
        x, y = pair[score].to_numpy(), pair[target].to_numpy()
        rho, tau = _rank_corrs(x, y)
        lo = hi = (math.nan, math.nan)
        used = 0
        if not math.isnan(rho):
            idx = rng.integers(0, len(x), (n_boot, len(x)))  # (B, n) resampled rows
            bs = np.stack([spearman_batch(x[idx], y[idx]), kendall_batch(x[idx], y[idx])], 1)
            bs = bs[~np.isnan(bs).any(axis=1)]  # resamples where a column is constant
            used = len(bs)
            if used:
                lo, hi = np.quantile(bs, [alpha, 1 - alpha], axis=0)
        out.append(
            {
                "score": score,
                "target": target,
                "n": len(x),
                "spearman": rho,
                "spearman_lo": float(lo[0]),
                "spearman_hi": float(hi[0]),
                "kendall": tau,
                "kendall_lo": float(lo[1]),
                "kendall_hi": float(hi[1]),
                "n_boot_used": used,
            }
        )
    return pd.DataFrame(out)
