"""Category means with intervals that carry every source of variation, and the noise floor.

A condition's *score* on a metric is its ΔΔ (from the seed-matched linear model,
:mod:`weightspace.compare.estimates`) averaged over the metric's layers, then over
datasets. A category mean over ``n`` conditions has variance ``τ²/n + σ_e²/(nS) + V_bs``:
conditions differ (``τ``), each has its own seed noise (``σ_e``), and all of them subtract
the same baseline runs (``V_bs``, which resampling conditions never sees: such intervals
excluded 0 in about half of the simulated studies without any effect). The spread of the
category's condition scores (``s²/n``, n − 1 df) estimates the first two terms; ``V_bs``
comes from the linear model: the baseline runs' weights in the category mean times the
baseline's noise along the metric's mean, with the df of that estimate. The t quantile
takes the smaller of the two dfs (conservative; Welch–Satterthwaite with estimated
components rejected 9% instead of 5% with two seeds). With one seed there is no residual
and the interval is NaN with a reason.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from weightspace.compare.categories import BASELINE
from weightspace.compare.delta import baseline_pairs
from weightspace.compare.estimates import DatasetProfiles
from weightspace.stats.groups import shared_reference_mean
from weightspace.stats.linear import satterthwaite

FLOOR_COLUMNS = ["dataset", "metric", "n_baseline_seeds", "n_pairs", "floor", "floor_mean",
                 "floor_layer", "floor_layer_mean", "reason"]  # fmt: skip
MEANS_COLUMNS = ["n_conditions", "n_seeds", "se", "df", "ci_low", "ci_high", "ci_reason"]


def _baseline_share(p: DatasetProfiles, metric: str, members: list[str]) -> tuple[float, float]:
    """(variance, df) of the baseline's noise in the mean score of ``members`` (metric
    units): Σ over baseline runs of their weight² × the baseline's noise along the mean."""
    cols = p.metric == metric
    u = cols / cols.sum()
    fit = p.fit
    b = fit.weights(p.centroid(members))
    base = fit.design.condition == p.conditions.index(p.baseline)
    var_g = fit.projected_cov(u[:, None])[:, 0, 0]
    weights = np.bincount(
        fit.group_of_run[base], weights=b[base] ** 2, minlength=fit.n_groups
    ).astype(float)
    share = float(weights @ var_g) * p.scales[metric] ** 2
    return share, fit.combination_df(weights, var_g)


def category_mean_intervals(
    profiles: list[DatasetProfiles], metrics: Sequence[str]
) -> pd.DataFrame:
    """Per (metric, category): the mean of the condition scores with a standard error that
    carries condition, seed and shared-baseline variation, and its 95% t-interval."""
    rows = []
    for metric in metrics:
        usable = [p for p in profiles if (p.metric == metric).any()]
        if not usable:
            continue
        first = usable[0]
        for category in sorted({first.category[c] for c in first.conditions} - {first.baseline}):
            members = [c for c in first.members(category) if all(c in p.conditions for p in usable)]
            if not members:
                continue
            scores = np.mean([_scores(p, metric, members) for p in usable], axis=0)
            shares = [_baseline_share(p, metric, members) for p in usable]
            n_data = len(usable)
            share = sum(v for v, _ in shares) / n_data**2
            share_df = satterthwaite([v for v, _ in shares], [d for _, d in shares])
            if not all(p.noise_known for p in usable):
                share, share_df = np.nan, 0.0
            mean = shared_reference_mean(scores, share, share_df)
            seeds = [_seeds(usable[0], c) for c in members]
            rows.append({"metric": metric, "category": category, "n_conditions": len(members),
                         "n_seeds": float(np.mean(seeds)), "se": mean.se, "df": mean.df,
                         "ci_low": mean.ci[0], "ci_high": mean.ci[1], "ci_reason": mean.reason,
                         "p": mean.p})  # fmt: skip
    return pd.DataFrame(rows, columns=["metric", "category", *MEANS_COLUMNS, "p"])


def _scores(p: DatasetProfiles, metric: str, members: list[str]) -> np.ndarray:
    """Each member's ΔΔ score on ``metric`` (mean over its layers, metric units)."""
    cols = p.metric == metric
    base = p.fit.means[p.conditions.index(p.baseline), cols]
    return np.array([
        float(np.mean(p.fit.means[p.conditions.index(c), cols] - base)) * p.scales[metric]
        for c in members
    ])  # fmt: skip


def _seeds(p: DatasetProfiles, condition: str) -> int:
    return int(np.sum(p.fit.design.condition == p.conditions.index(condition)))


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
