"""Tables the figures read, derived from a study's long layer table.

The statistics live in :mod:`weightspace.compare`; the figures only need the per-layer ΔΔ
values, which are recomputed here from the long format (``layers.parquet`` or
``weightspace.compare.load.load_layers``) so that the report also works on a study whose
comparison tables have not been computed:

    Δm(run, layer)  = m(after) − m(before)
    ΔΔm(run, layer) = Δm(run, layer) − Δm(baseline of the same dataset and seed, layer)

(the mean baseline Δ over seeds where that seed has no baseline run). Rows whose four main
Δ are all exactly zero are frozen layers and are dropped, as in the paper.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from scipy import stats

MAIN_METRICS = ("alpha", "entropy", "log_norm", "log_spectral_norm")
DELTA_METRICS = (*MAIN_METRICS, "stable_rank")
BASELINE = "bs"


def layer_key(layers: pd.DataFrame) -> pd.Series:
    """The name a layer is matched by: ``longname`` where present, else ``layer_id``."""
    if "longname" in layers.columns and layers["longname"].notna().all():
        return layers["longname"].astype(str)
    return layers["layer_id"].astype(str)


def delta_delta(layers: pd.DataFrame, *, metrics: tuple[str, ...] = DELTA_METRICS) -> pd.DataFrame:
    """Per-layer ΔΔ of every non-baseline run (long format in, long format out).

    Output columns: ``dataset, condition, category, seed, run_id, layer, layer_order`` and one
    column per metric present. Empty when there is no baseline or no before/after pair.
    """
    metrics = tuple(m for m in metrics if m in layers.columns)
    table = layers[layers["snapshot"].isin(["before", "after"])].copy()
    if table.empty or not metrics:
        return pd.DataFrame()
    if "dataset" not in table.columns:
        table["dataset"] = ""
    if "seed" not in table.columns:
        table["seed"] = 0
    if "category" not in table.columns:
        table["category"] = table["condition"].map(category_of)
    table["layer"] = layer_key(table)
    order_col = "layer_id" if "layer_id" in table.columns else None
    keys = ["dataset", "condition", "category", "seed", "run_id", "layer"]
    table[list(metrics)] = table[list(metrics)].apply(pd.to_numeric, errors="coerce")
    wide = table.pivot_table(index=keys, columns="snapshot", values=list(metrics), aggfunc="first")
    if "after" not in wide.columns.get_level_values(
        1
    ) or "before" not in wide.columns.get_level_values(1):
        return pd.DataFrame()
    delta = pd.DataFrame({m: wide[(m, "after")] - wide[(m, "before")] for m in metrics})
    delta = delta.reset_index()
    main = [m for m in MAIN_METRICS if m in delta.columns]
    frozen = (delta[main] == 0).all(axis=1) if main else pd.Series(False, index=delta.index)
    delta = delta[~frozen]

    is_bs = delta["condition"] == BASELINE
    base = delta[is_bs]
    if base.empty:
        return pd.DataFrame()
    by_seed = base.groupby(["dataset", "seed", "layer"])[list(metrics)].mean()
    by_layer = base.groupby(["dataset", "layer"])[list(metrics)].mean()
    runs = delta[~is_bs].copy()
    ref_seed = by_seed.reindex(pd.MultiIndex.from_frame(runs[["dataset", "seed", "layer"]]))
    ref_any = by_layer.reindex(pd.MultiIndex.from_frame(runs[["dataset", "layer"]]))
    ref = ref_seed.to_numpy()
    ref = np.where(np.isnan(ref), ref_any.to_numpy(), ref)
    runs[list(metrics)] = runs[list(metrics)].to_numpy() - ref
    runs = runs.dropna(subset=list(metrics), how="all")
    if order_col:
        order = table.groupby("layer")[order_col].min()
        runs["layer_order"] = runs["layer"].map(order).astype(float)
    else:
        runs["layer_order"] = runs.groupby("layer", sort=False).ngroup().astype(float)
    return runs.sort_values(["condition", "seed", "layer_order"]).reset_index(drop=True)


def category_of(condition: str) -> str:
    """The paper's rule: ``div`` if the name contains "div", then ``dp``, ``wd``, ``gen``, ``bs``."""
    name = str(condition).split("/")[-1]
    if name == BASELINE:
        return BASELINE
    for cat in ("gen", "div", "dp", "wd"):
        if cat in name:
            return cat
    return "other"


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


def category_summary(dd: pd.DataFrame, metrics: list[str], level: float = 0.95) -> pd.DataFrame:
    """Mean ΔΔ per category with a t-interval over layers (after averaging within layer).

    Columns: ``category, metric, mean, ci_low, ci_high, n_layers``.
    """
    rows = []
    per_layer = dd.groupby(["category", "layer"])[metrics].mean()
    for cat, sub in per_layer.groupby(level="category"):
        for m in metrics:
            mean, lo, hi, n = mean_ci(sub[m].to_numpy(), level)
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


_GEN = re.compile(r"gen_?(\d*\.?\d+)")


def synthetic_mode(condition: str) -> str:
    """``replace`` or ``add``, plus `` filtered`` for ``_vf`` names (``gen<p>[_add][_vf]``)."""
    name = str(condition)
    mode = "add" if "_add" in name else "replace"
    return mode + (" filtered" if name.endswith("_vf") else "")


def synthetic_fraction(condition: str) -> float:
    """The synthetic fraction p from a ``gen<p>[_add|_vf]`` name (NaN when absent)."""
    match = _GEN.search(str(condition))
    return float(match.group(1)) if match else float("nan")
