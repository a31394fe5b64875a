"""Standard errors that carry every source of variation, and the noise floor on its scale.

A run's *score* on a metric is its ΔΔ averaged over layers (and datasets). With conditions
``c`` and seeds ``s`` a score decomposes as ::

    y[c, s] = effect[c] + w[s] + e[c, s]

``effect[c]`` varies from condition to condition (the conditions are a sample of what a
category could hold); ``w[s]`` is shared by every condition of seed ``s`` — the noise of the
baseline run that all of them subtract; ``e`` is the run's own noise. A category mean over
``n`` conditions and ``S`` seeds has variance ``τ²/n + σ_e²/(nS) + σ_w²/S``. Resampling
conditions alone sees only the first two terms: the shared baseline never varies, which is
why such intervals excluded 0 in about half of the simulated studies without any effect.

Estimates (analytic, so the interval does not shrink to the few distinct resamples of four
conditions): the spread of the category's seed-averaged condition scores (``s²/n``, n − 1
df) estimates the first two terms; the spread of the seed means over every non-baseline
condition estimates ``σ_w² + σ_e²/C`` (S − 1 df; slightly conservative). The two parts are
combined, and the t quantile takes the smaller of their degrees of freedom (conservative;
Welch–Satterthwaite with estimated components rejected 9% instead of 5% with two seeds). With one seed the
shared baseline noise cannot be estimated and the interval is NaN with a reason.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from weightspace.compare.categories import BASELINE
from weightspace.compare.delta import baseline_pairs
from weightspace.compare.effect_size import CI_LEVEL

FLOOR_COLUMNS = ["dataset", "metric", "n_baseline_seeds", "n_pairs", "floor", "floor_mean",
                 "floor_layer", "floor_layer_mean", "reason"]  # fmt: skip
MEANS_COLUMNS = ["n_conditions", "n_seeds", "se", "df", "ci_low", "ci_high", "ci_reason"]


def run_scores(dd: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """ΔΔ averaged over layers per (dataset, condition, seed), then over datasets: one row
    per (condition, category, seed)."""
    cols = ["dataset", "condition", "category", "seed"]
    per_dataset = dd.groupby(cols, sort=False)[list(metrics)].mean()
    return per_dataset.groupby(level=["condition", "category", "seed"]).mean().reset_index()


def shared_seed_variance(scores: pd.DataFrame, metric: str) -> tuple[float, int, int]:
    """(variance of one seed's shared offset, its df, number of seeds) from every condition
    observed with every seed: the variance of the seed means over those conditions."""
    wide = scores.pivot_table(index="condition", columns="seed", values=metric).dropna()
    n_seeds = wide.shape[1]
    if n_seeds < 2 or wide.empty:
        return float("nan"), 0, n_seeds
    return float(np.var(wide.mean(axis=0).to_numpy(), ddof=1)), n_seeds - 1, n_seeds


def mean_interval(
    values: np.ndarray, seed_var: float, seed_df: int, n_seeds: float
) -> tuple[float, float, float, float, str]:
    """(se, df, low, high, reason) of the mean of ``values`` (seed-averaged condition
    scores) when every condition shares the seeds' offsets (variance ``seed_var``)."""
    nan = float("nan")
    n = len(values)
    if n < 2:
        return nan, nan, nan, nan, "one condition: no spread between conditions"
    if not np.isfinite(seed_var) or seed_df < 1:
        return nan, nan, nan, nan, "one seed: the shared baseline's noise cannot be estimated"
    a = float(np.var(values, ddof=1)) / n
    b = seed_var / max(n_seeds, 1.0)
    se2 = a + b
    if not se2 > 0:
        return 0.0, nan, nan, nan, "no variation"
    # Welch–Satterthwaite with estimated components is liberal when the few-df seed part
    # dominates (9% instead of 5% with two seeds in simulation): the smaller df instead.
    df = float(min(n - 1, seed_df))
    half = float(stats.t.ppf(1 - (1 - CI_LEVEL) / 2, df)) * np.sqrt(se2)
    centre = float(np.mean(values))
    return float(np.sqrt(se2)), float(df), centre - half, centre + half, ""


def category_mean_intervals(
    scores: pd.DataFrame, metrics: Sequence[str], *, baseline: str = BASELINE
) -> pd.DataFrame:
    """Per (metric, category): mean of the seed-averaged condition scores with a standard
    error carrying condition, seed and shared-baseline variation, and its 95% t-interval."""
    scores = scores[scores["condition"] != baseline]
    rows = []
    for metric in metrics:
        seed_var, seed_df, _ = shared_seed_variance(scores, metric)
        for category, group in scores.groupby("category", sort=True):
            per_cond = group.groupby("condition")[metric]
            values = per_cond.mean().dropna().to_numpy()
            seeds = per_cond.count()
            n_seeds = float(len(seeds) / np.sum(1.0 / seeds)) if len(seeds) else 0.0
            se, df, low, high, reason = mean_interval(values, seed_var, seed_df, n_seeds)
            rows.append(
                {
                    "metric": metric,
                    "category": category,
                    "n_conditions": len(values),
                    "n_seeds": n_seeds,
                    "se": se,
                    "df": df,
                    "ci_low": low,
                    "ci_high": high,
                    "ci_reason": reason,
                }
            )
    return pd.DataFrame(rows, columns=["metric", "category", *MEANS_COLUMNS])


def noise_floor_table(
    delta: pd.DataFrame, metrics: Sequence[str], *, baseline: str = BASELINE
) -> pd.DataFrame:
    """Spread of ΔΔ between baseline seeds (what a condition without effect shows).

    ``floor``: root-mean-square over seed pairs of the layer-averaged bs(i) − bs(j) — the
    noise of a **single-seed** score. ``floor_mean``: ``floor / √S`` with S baseline seeds —
    the noise of a seed-averaged condition score, the quantity the tables report.
    ``floor_layer``: RMS of the per-layer differences (one point of a layer profile, one
    seed); ``floor_layer_mean``: ``floor_layer / √S``, one layer's point of a seed-averaged
    profile (a category's mean over several conditions shares the baseline noise, so its
    own noise lies between ``floor_layer_mean / √2`` and ``floor_layer_mean``). Pooled datasets get a row ``dataset="all"`` for a score averaged over datasets.
    Descriptive only: whether an effect is distinguishable from noise is what the tests and
    intervals answer; a small effect is never declared absent because it is below a floor.
    """
    pairs = baseline_pairs(delta, baseline=baseline, key="layer_id")
    rows = []
    for dataset, base in delta[delta["condition"] == baseline].groupby("dataset"):
        sub = pairs[pairs["dataset"] == dataset]
        n_pairs = len(sub.groupby(["seed_a", "seed_b"]))
        n_seeds = base["seed"].nunique()
        for metric in metrics:
            pair_means = sub.groupby(["seed_a", "seed_b"])[metric].mean()
            floor = float(np.sqrt(np.nanmean(pair_means**2))) if n_pairs else np.nan
            layer = float(np.sqrt(np.nanmean(sub[metric] ** 2))) if n_pairs else np.nan
            rows.append(
                {
                    "dataset": dataset,
                    "metric": metric,
                    "n_baseline_seeds": n_seeds,
                    "n_pairs": n_pairs,
                    "floor": floor,
                    "floor_mean": floor / np.sqrt(n_seeds),
                    "floor_layer": layer,
                    "floor_layer_mean": layer / np.sqrt(n_seeds),
                    "reason": "" if n_pairs else "one baseline seed: no noise floor",
                }
            )
    table = pd.DataFrame(rows, columns=FLOOR_COLUMNS)
    if table["dataset"].nunique() > 1:
        for metric, group in table.groupby("metric"):
            count = len(group)
            known = group.dropna(subset=["floor"])
            layer = group["floor_layer"].dropna()
            layer_mean = group["floor_layer_mean"].dropna()
            rows.append(
                {
                    "dataset": "all",
                    "metric": metric,
                    "n_baseline_seeds": int(group["n_baseline_seeds"].min()),
                    "n_pairs": int(group["n_pairs"].sum()),
                    "floor": float(np.sqrt(np.mean(known["floor"] ** 2) / count))
                    if len(known)
                    else np.nan,
                    "floor_mean": float(np.sqrt(np.mean(known["floor_mean"] ** 2) / count))
                    if len(known)
                    else np.nan,
                    "floor_layer": float(np.sqrt(np.mean(layer**2) / len(layer)))
                    if len(layer)
                    else np.nan,
                    "floor_layer_mean": float(np.sqrt(np.mean(layer_mean**2) / len(layer_mean)))
                    if len(layer_mean)
                    else np.nan,
                    "reason": "" if len(known) else "one baseline seed: no noise floor",
                }
            )
        table = pd.DataFrame(rows, columns=FLOOR_COLUMNS)
    return table
