"""Rank correlations with outcomes at the level of conditions, with honest uncertainty.

The unit is the **condition** (its seeds averaged): runs of one condition are replicates, not
independent points. Relations are computed within one stratum (a category, or augmentation vs
synthetic data) — pooled over categories a correlation is mostly a contrast between them
(within dropout and within weight decay the sign can reverse).

The test is :func:`weightspace.stats.spearman.spearman_test` with each outcome's own
uncertainty (its seed-level standard error, at least the binomial SE of an accuracy) in the
interval. Nothing below :data:`MIN_N` conditions is tested.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

MIN_N = 5  # four points: the smallest exact two-sided p of a perfect ρ is 1/12


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
