"""Summaries the figures draw from the per-layer ΔΔ table.

ΔΔ itself is computed once, by :mod:`weightspace.compare.delta`, and saved with the study
(``dd.parquet``); the report reads it (see :mod:`weightspace.report._inputs`). The report
draws its intervals from the stored comparison; the t-interval over layers here serves the
figure functions' own callers (``category_means_figure`` on a long ΔΔ table).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

MAIN_METRICS = ("alpha", "entropy", "log_norm", "log_spectral_norm")
DELTA_METRICS = (*MAIN_METRICS, "stable_rank")


def mean_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float, int]:
    """Mean and t-interval ``(mean, low, high, n)`` of the finite values (NaN CI if n < 2)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    n = v.size
    if n == 0:
        return (float("nan"), float("nan"), float("nan"), 0)
    m = float(v.mean())
    if n < 2:
        return (m, float("nan"), float("nan"), n)
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * v.std(ddof=1) / np.sqrt(n))
    return (m, m - half, m + half, n)


def category_summary(
    dd: pd.DataFrame, metrics: list[str], level: float | None = 0.95
) -> pd.DataFrame:
    """Mean ΔΔ per category with a t-interval over layers (after averaging within layer);
    ``level=None``: the means only (NaN intervals).

    Columns: ``category, metric, mean, ci_low, ci_high, n_layers``.
    """
    rows = []
    per_layer = dd.groupby(["category", "layer"])[metrics].mean()
    for cat, sub in per_layer.groupby(level="category"):
        for m in metrics:
            values = sub[m].to_numpy(dtype=float)
            if level is None:
                finite = values[np.isfinite(values)]
                mean = float(finite.mean()) if finite.size else float("nan")
                lo, hi, n = float("nan"), float("nan"), int(finite.size)
            else:
                mean, lo, hi, n = mean_ci(values, level)
            rows.append(
                {
                    "category": cat,
                    "metric": m,
                    "mean": mean,
                    "ci_low": lo,
                    "ci_high": hi,
                    "n_layers": n,
                }
            )
    return pd.DataFrame(rows)
