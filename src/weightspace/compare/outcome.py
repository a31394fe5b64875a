"""Rank correlations with outcomes at the level of conditions, with honest uncertainty.

The unit is the **condition** (its seeds averaged): runs of one condition are replicates, not
independent points. Relations are computed within one stratum (a category, or augmentation vs
synthetic data) — pooled over categories a correlation is mostly a contrast between them
(within dropout and within weight decay the sign can reverse).

:func:`rank_test`: Spearman ρ; p exact over all n! pairings for n ≤ 8, else a permutation
test through ``scipy.stats.permutation_test`` (``n_perm`` pairings, +1 correction); a 95%
interval by resampling conditions *and* drawing each outcome from its own uncertainty (its
seed-level standard error, at least the binomial SE of an accuracy) — conservative, it widens
the interval by the outcome's noise. Nothing below :data:`MIN_N` conditions is tested.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import factorial

import numpy as np
import pandas as pd

from weightspace.compare.effect_size import CI_LEVEL
from weightspace.compare.rank import (
    _exact_spearman_p,
    _permutation_spearman_p,
    _spearman_rows,
)

MIN_N = 5  # four points: the smallest exact two-sided p of a perfect ρ is 1/12
EXACT_N = 8
MIN_CI_N = 8


def rank_test(
    x: np.ndarray,
    y: np.ndarray,
    *,
    y_se: np.ndarray | None = None,
    rng: np.random.Generator,
    n_boot: int,
    n_perm: int,
) -> dict[str, float]:
    """Spearman ρ of ``y`` on ``x`` with its p-value and interval (see the module doc)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    se = np.zeros_like(y) if y_se is None else np.nan_to_num(np.asarray(y_se, float))
    ok = np.isfinite(x) & np.isfinite(y)
    x, y, se = x[ok], y[ok], se[ok]
    nan = float("nan")
    out = {"rho": nan, "p": nan, "exact": False, "ci_low": nan, "ci_high": nan, "n": len(x)}
    if len(x) < MIN_N or np.ptp(x) == 0 or np.ptp(y) == 0:
        return out
    rho = float(_spearman_rows(x, y))
    out["rho"] = rho
    if len(x) <= EXACT_N and factorial(len(x)) <= 10 * max(n_perm, 1):
        out["p"], out["exact"] = _exact_spearman_p(x, y, rho), True
    else:
        out["p"] = _permutation_spearman_p(x, y, n_perm=n_perm, rng=rng)
    if len(x) >= MIN_CI_N:
        idx = rng.integers(0, len(x), size=(n_boot, len(x)))  # resampled conditions
        noisy = y[idx] + se[idx] * rng.standard_normal(idx.shape)
        boot = _spearman_rows(x[idx], noisy)
        boot = boot[np.isfinite(boot)]
        tail = (1 - CI_LEVEL) / 2
        if len(boot) >= 10:
            out["ci_low"], out["ci_high"] = (float(v) for v in np.quantile(boot, [tail, 1 - tail]))
    return out


def binomial_se(acc: np.ndarray, n_test: float | None) -> np.ndarray:
    """Standard error of an accuracy measured on ``n_test`` images (NaN when unknown)."""
    acc = np.asarray(acc, float)
    if not n_test:
        return np.full_like(acc, np.nan)
    return np.sqrt(np.clip(acc * (1 - acc), 0, None) / n_test)


def condition_outcomes(
    scores: pd.DataFrame,
    runs: pd.DataFrame,
    metrics: Sequence[str],
    outcomes: Sequence[str],
    *,
    baseline: str,
    n_test: float | None = None,
) -> pd.DataFrame:
    """One row per (dataset, condition, category): the seed-averaged spectral scores, the
    seed-averaged change of each outcome against the baseline of the same seed
    (``d_<outcome>``) and its standard error (``se_<outcome>``): the spread over seeds / √S,
    never below the binomial SE of the two accuracies it subtracts when ``n_test`` is known.

    ``scores``: run scores (dataset, condition, category, seed, metrics...)."""
    keep = [c for c in ["dataset", "condition", "seed", *outcomes] if c in runs.columns]
    table = scores.merge(runs[keep].drop_duplicates(["dataset", "condition", "seed"]),
                         on=["dataset", "condition", "seed"], how="left")  # fmt: skip
    base = runs[runs["condition"] == baseline]
    per_seed = base.groupby(["dataset", "seed"])[list(outcomes)].mean()
    pooled = base.groupby("dataset")[list(outcomes)].mean()
    ref = per_seed.reindex(pd.MultiIndex.from_frame(table[["dataset", "seed"]]))
    ref = ref.fillna(pooled.reindex(table["dataset"]).set_index(ref.index))
    for outcome in outcomes:
        value = pd.to_numeric(table[outcome], errors="coerce").to_numpy(float)
        table[f"d_{outcome}"] = value - ref[outcome].to_numpy(float)
        if outcome.endswith("_acc"):
            both = (
                binomial_se(value, n_test) ** 2
                + binomial_se(ref[outcome].to_numpy(float), n_test) ** 2
            )
            table[f"b_{outcome}"] = both
    group = table.groupby(["dataset", "condition", "category"], sort=True)
    out = group[list(metrics)].mean()
    out["n_seeds"] = group.size()
    for outcome in outcomes:
        col = f"d_{outcome}"
        out[col] = group[col].mean()
        seed_var = group[col].var(ddof=1).fillna(0.0)
        binom = group[f"b_{outcome}"].mean().fillna(0.0) if f"b_{outcome}" in table else 0.0
        out[f"se_{outcome}"] = np.sqrt(np.maximum(seed_var, binom) / out["n_seeds"])
    return out.reset_index()
