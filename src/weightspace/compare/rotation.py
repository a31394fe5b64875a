"""Rotate or rescale? How training moved each layer, summarised per category.

Input: a study's ``weight_delta.parquet`` — one row per run × layer, written by every run
from :func:`weightspace.spectral.delta.weight_delta_table` (its initial and final weights): the ESD
metrics of ΔW = W_after − W_init (``delta_*``), ``rel_change`` = ‖ΔW‖_F / ‖W_init‖_F, and
the overlap of the top-k left and right singular subspaces of W_init and W_after
(``overlap_*`` = mean cos² of the principal angles; 1 = the dominant directions stayed,
whatever happened to the singular values) with the largest principal angle
(``max_angle_*``, degrees).

Per run each quantity is averaged over layers (non-finite values left out; left and right
sides averaged), per condition over seeds: the condition *score* (:data:`METRICS`). A
regularizer that only rescales the weights keeps ``overlap`` where the baseline's is while
its ``rel_change`` (and the norm metrics) move; one that rotates the weight space lowers
``overlap`` and raises ``max_angle``.

The category pairs are tested on the condition scores of :data:`TESTED` with the test of the
spectral category comparisons (:func:`weightspace.compare.contrasts.category_tests`: whole
conditions relabelled). The baseline is one condition, so it is not tested against; its
mean is shown beside each category's (``diff_from_baseline``, descriptive).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd

from weightspace.compare.categories import BASELINE
from weightspace.compare.delta import condition_scores
from weightspace.errors import DataError
from weightspace.stats.groups import t_interval

#: per-run summaries (means over layers) and what they read from the weight-delta table
METRICS: dict[str, tuple[str, ...]] = {
    "overlap": ("overlap_left", "overlap_right"),
    "max_angle": ("max_angle_left", "max_angle_right"),
    "rel_change": ("rel_change",),
    "delta_stable_rank": ("delta_stable_rank",),
}
#: the scores whose category differences are tested (exploratory family)
TESTED = ("overlap", "rel_change")
KEYS = ["dataset", "run_id", "condition", "category", "seed"]


def run_rotation(deltas: pd.DataFrame) -> pd.DataFrame:
    """One row per run: ``dataset, run_id, condition, category, seed`` and :data:`METRICS`."""
    needed = {c for cols in METRICS.values() for c in cols}
    missing = sorted(({"run_id", "condition", "category", "seed"} | needed) - set(deltas.columns))
    if missing:
        raise DataError(
            f"the weight-delta table lacks columns {missing}; rebuild it with "
            "`weightspace study --collect --out DIR`"
        )
    table = deltas.copy()
    if "dataset" not in table.columns:
        table["dataset"] = ""
    for name, cols in METRICS.items():
        values = table[list(cols)].astype(float).where(np.isfinite(table[list(cols)]))
        table[name] = values.mean(axis=1)  # the two sides of a layer
    return table.groupby(KEYS, sort=True)[list(METRICS)].mean().reset_index()


def condition_rotation(per_run: pd.DataFrame) -> pd.DataFrame:
    """Seed means: ``condition, category`` and :data:`METRICS` (datasets averaged, as the
    spectral condition scores)."""
    return condition_scores(per_run, list(METRICS))


def rotation_summary(
    per_run: pd.DataFrame, *, baseline: str = BASELINE, level: float = 0.95
) -> pd.DataFrame:
    """Per category × metric: ``mean`` over conditions (each a seed mean) with a t-interval
    over conditions (over seeds for a one-condition category such as the baseline),
    ``baseline_mean`` and ``diff_from_baseline`` (descriptive), ``n_conditions, n_runs``."""
    scores = condition_rotation(per_run)
    base = scores.loc[scores["category"] == baseline, list(METRICS)].mean()
    rows = []
    for category, metric in itertools.product(sorted(scores["category"].unique()), METRICS):
        conds = scores.loc[scores["category"] == category, metric].dropna()
        runs = per_run.loc[per_run["category"] == category, metric].dropna()
        units = conds if len(conds) > 1 else runs
        mean, lo, hi = t_interval(units.to_numpy(dtype=float), level) if len(units) else (
            np.nan, np.nan, np.nan)  # fmt: skip
        rows.append(
            {
                "category": category,
                "metric": metric,
                "mean": mean,
                "ci_low": lo,
                "ci_high": hi,
                "baseline_mean": float(base[metric]),
                "diff_from_baseline": mean - float(base[metric]),
                "n_conditions": len(conds),
                "n_runs": len(runs),
            }
        )
    return pd.DataFrame(rows)


def tested_scores(per_run: pd.DataFrame, *, baseline: str = BASELINE) -> pd.DataFrame:
    """The condition scores that enter the category tests (the baseline left out)."""
    scores = condition_rotation(per_run)
    return scores[scores["category"] != baseline].reset_index(drop=True)


def layer_rotation(deltas: pd.DataFrame, categories: Sequence[str] | None = None) -> pd.DataFrame:
    """Per category × layer (``longname``): mean overlap and relative change over runs —
    which layers rotate. ``categories``: those to keep (default all)."""
    table = deltas.copy()
    table["overlap"] = table[["overlap_left", "overlap_right"]].mean(axis=1)
    if categories is not None:
        table = table[table["category"].isin(list(categories))]
    order = table.groupby("longname", sort=False)["layer_id"].min().sort_values().index
    out = table.groupby(["category", "longname"], sort=False)[["overlap", "rel_change"]].mean()
    out = out.reset_index()
    out["longname"] = pd.Categorical(out["longname"], categories=list(order), ordered=True)
    return out.sort_values(["category", "longname"]).reset_index(drop=True)
