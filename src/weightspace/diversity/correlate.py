"""Rank correlations of scores against an outcome, with bootstrap confidence intervals."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd


def _rank_corrs(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    from scipy import stats

    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan, math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rho = stats.spearmanr(x, y).statistic
        tau = stats.kendalltau(x, y).statistic
    return float(rho), float(tau)


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
        boots = []
        if not math.isnan(rho):
            for _ in range(n_boot):
                idx = rng.integers(0, len(x), len(x))
                b = _rank_corrs(x[idx], y[idx])
                if not math.isnan(b[0]):
                    boots.append(b)
        arr = np.array(boots) if boots else np.full((1, 2), math.nan)
        lo, hi = np.quantile(arr, [alpha, 1 - alpha], axis=0) if boots else arr[[0, 0]]
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
                "n_boot_used": len(boots),
            }
        )
    return pd.DataFrame(out)
