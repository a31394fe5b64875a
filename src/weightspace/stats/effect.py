"""Effect sizes on arrays: Cohen's d, Hedges' g and its noncentral-t interval."""

from __future__ import annotations

import numpy as np
from scipy import optimize, stats

CI_LEVEL = 0.95
_NCT_NODES = 4000


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


def hedges_g(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's d times the small-sample correction J = 1 − 3 / (4 (n_a + n_b) − 9)."""
    df = len(a) + len(b) - 2
    return cohens_d(a, b) * _hedges_j(df) if df > 0 else float("nan")


def _hedges_j(df: float) -> float:
    return 1.0 - 3.0 / (4.0 * df - 1.0)


def g_interval(g: float, n_a: int, n_b: int) -> tuple[float, float]:
    """95% interval of Hedges' g by inverting the noncentral t distribution of the pooled
    t statistic (exact under normal, equal-variance groups)."""
    df = n_a + n_b - 2
    if not np.isfinite(g) or min(n_a, n_b) < 2:
        return float("nan"), float("nan")
    scale = np.sqrt(n_a * n_b / (n_a + n_b))
    t_obs = g / _hedges_j(df) * scale
    tail = (1 - CI_LEVEL) / 2

    # scipy's noncentral t cdf; where it returns NaN (the large t of strong effects), by
    # quadrature over the chi-square of its denominator
    root = np.sqrt(stats.chi2.ppf((np.arange(_NCT_NODES) + 0.5) / _NCT_NODES, df) / df)

    def solve(q: float) -> float:
        def f(ncp: float) -> float:
            cdf = float(stats.nct.cdf(t_obs, df, ncp))
            if not np.isfinite(cdf):
                cdf = float(np.mean(stats.norm.cdf(t_obs * root - ncp)))
            return cdf - q

        width = 10.0 + abs(t_obs)
        low, high = t_obs - width, t_obs + width
        while f(low) < 0:
            low -= width
        while f(high) > 0:
            high += width
        return float(optimize.brentq(f, low, high, xtol=1e-10))

    ncp_low, ncp_high = solve(1 - tail), solve(tail)
    j = _hedges_j(df)
    return ncp_low / scale * j, ncp_high / scale * j
