"""Δ (after − before, per run and layer) and ΔΔ (condition − baseline, per layer)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from weightspace.compare.categories import BASELINE
from weightspace.errors import ConfigError, DataError

log = logging.getLogger(__name__)

MAIN_METRICS = ("alpha", "entropy", "log_norm", "log_spectral_norm")
DEFAULT_METRICS = (*MAIN_METRICS, "stable_rank")
RUN_KEYS = ["dataset", "condition", "category", "seed", "run_id"]
LAYER_INFO = ["layer_id", "name", "longname"]


def resolve_metrics(layers: pd.DataFrame, metrics: Sequence[str] | None) -> list[str]:
    """The metrics to analyse: those asked for (all must exist), or the default ones present."""
    if metrics is None:
        found = [m for m in DEFAULT_METRICS if m in layers.columns]
        if not found:
            raise DataError(
                f"the layer table has none of the default metrics {list(DEFAULT_METRICS)}; "
                "pass metrics=[...] naming numeric columns of the table"
            )
        return found
    metrics = list(metrics)
    missing = [m for m in metrics if m not in layers.columns]
    if missing or not metrics:
        numeric = sorted(c for c in layers.columns if pd.api.types.is_numeric_dtype(layers[c]))
        raise ConfigError(
            f"metrics {missing or metrics} are not columns of the layer table; available "
            f"numeric columns: {', '.join(numeric)}"
        )
    return metrics


def delta_table(
    layers: pd.DataFrame,
    *,
    metrics: Sequence[str] | None = None,
    align: str = "position",
    drop_frozen: bool = True,
) -> pd.DataFrame:
    """Δm = m(after) − m(before) for every run and layer.

    ``align="position"`` is the paper's rule: rows are paired by their index in the table,
    outer alignment with a missing cell counted as 0 (pandas ``sub(fill_value=0)``).
    ``align="layer_id"`` pairs rows by layer id and leaves a missing value NaN.
    Booleans become integers first. With ``drop_frozen`` rows whose Δ of the four main metrics
    (those present) are all exactly 0 are dropped — the layers that did not train.
    Returns one row per run × layer: dataset, condition, category, seed, run_id, layer_id,
    name, longname, metrics...
    """
    if align not in ("position", "layer_id"):
        raise ConfigError(f"align must be 'position' or 'layer_id', got {align!r}")
    metrics = resolve_metrics(layers, metrics)
    table = layers.copy()
    for m in metrics:
        if table[m].dtype == bool:
            table[m] = table[m].astype(int)
    key = [*RUN_KEYS, align]
    info = [c for c in LAYER_INFO if c != align]
    before = table[table["snapshot"] == "before"].set_index(key)
    after = table[table["snapshot"] == "after"].set_index(key)
    fill = 0 if align == "position" else None
    delta = after[metrics].sub(before[metrics], fill_value=fill)  # outer join on the key
    ids = after[info].combine_first(before[info]).reindex(delta.index)
    out = pd.concat([ids, delta], axis=1).reset_index()
    if drop_frozen:
        main = [m for m in MAIN_METRICS if m in metrics] or metrics
        frozen = (out[main] == 0).all(axis=1)
        out = out[~frozen]
    cols = [*RUN_KEYS, *LAYER_INFO, *metrics]
    return out[cols].reset_index(drop=True)


def _baseline_lookup(delta: pd.DataFrame, baseline: str, key: str, metrics: list[str]):
    base = delta[delta["condition"] == baseline]
    per_seed = base.set_index(["dataset", "seed", key])[metrics]
    if per_seed.index.duplicated().any():
        raise DataError(
            f"baseline {baseline!r} has several rows per (dataset, seed, {key}); layer keys "
            "must be unique within a run"
        )
    pooled = base.groupby(["dataset", key])[metrics].mean()
    return per_seed, pooled


def delta_delta(
    delta: pd.DataFrame,
    *,
    baseline: str = BASELINE,
    key: str = "layer_id",
    match_seed: bool = True,
) -> pd.DataFrame:
    """ΔΔm(layer, condition) = Δm(condition) − Δm(baseline), matched on ``key`` per dataset.

    With ``match_seed`` a run is compared with the baseline of the same seed; a seed without
    a baseline run falls back to the baseline averaged over its seeds (logged). Rows whose
    layer has no baseline row are dropped (inner match, as the paper). The baseline itself is
    not in the output.
    """
    metrics = [c for c in delta.columns if c not in RUN_KEYS + LAYER_INFO]
    no_base = sorted(
        set(delta["dataset"]) - set(delta.loc[delta["condition"] == baseline, "dataset"])
    )
    if no_base:
        raise DataError(
            f"dataset(s) {no_base} have no baseline condition {baseline!r}; ΔΔ needs it. Load "
            "the folder that holds the baseline tables too (e.g. the parent folder)"
        )
    per_seed, pooled = _baseline_lookup(delta, baseline, key, metrics)
    runs = delta[delta["condition"] != baseline]
    idx_seed = pd.MultiIndex.from_frame(runs[["dataset", "seed", key]])
    idx_pool = pd.MultiIndex.from_frame(runs[["dataset", key]])
    base = (
        per_seed.reindex(idx_seed).to_numpy()
        if match_seed
        else np.full((len(runs), len(metrics)), np.nan)
    )
    missing_seed = np.isnan(base).all(axis=1)
    if match_seed and missing_seed.any():
        seeds = sorted(set(runs.loc[missing_seed, "seed"].tolist()))
        log.info("no baseline run for seed(s) %s: using the seed-averaged baseline", seeds)
    fallback = pooled.reindex(idx_pool).to_numpy()
    base = np.where(missing_seed[:, None], fallback, base)
    out = runs.copy()
    out[metrics] = runs[metrics].to_numpy() - base
    has_base = ~np.isnan(fallback).all(axis=1)
    return out[has_base].reset_index(drop=True)


def study_delta_delta(layers: pd.DataFrame) -> pd.DataFrame:
    """The ΔΔ table of a study's long layer table as the comparisons compute it (Δ aligned on
    ``layer_id``, frozen layers dropped, ΔΔ against the same seed's baseline) with the layer
    label and order the figures use (:func:`with_layer_labels`)."""
    delta = delta_table(layers, metrics=None, align="layer_id", drop_frozen=True)
    return with_layer_labels(delta_delta(delta, key="layer_id", match_seed=True))


def with_layer_labels(dd: pd.DataFrame) -> pd.DataFrame:
    """``dd`` plus ``layer`` (the long name where every row has one, else the layer id as
    text) and ``layer_order`` (the layer id, as float)."""
    dd = dd.copy()
    if dd.empty:
        return dd
    if "longname" in dd.columns and dd["longname"].notna().all():
        dd["layer"] = dd["longname"].astype(str)
    else:
        dd["layer"] = dd["layer_id"].astype(str)
    order = dd["layer_id"] if "layer_id" in dd.columns else dd.groupby("layer").ngroup()
    dd["layer_order"] = pd.to_numeric(order, errors="coerce").astype(float)
    return dd


def baseline_pairs(delta: pd.DataFrame, *, baseline: str = BASELINE, key: str = "layer_id"):
    """ΔΔ between baseline seeds: Δ(bs, seed i) − Δ(bs, seed j) for every i < j.

    This is what a condition without any effect would show: the noise floor of ΔΔ.
    Returns rows with dataset, seed_a, seed_b, key, metrics (empty when < 2 seeds).
    """
    metrics = [c for c in delta.columns if c not in RUN_KEYS + LAYER_INFO]
    base = delta[delta["condition"] == baseline]
    frames = []
    for dataset, group in base.groupby("dataset"):
        wide = {s: g.set_index(key)[metrics] for s, g in group.groupby("seed")}
        seeds = sorted(wide)
        for i, a in enumerate(seeds):
            for b in seeds[i + 1 :]:
                diff = (wide[a] - wide[b]).dropna(how="all").reset_index()
                diff.insert(0, "seed_b", b)
                diff.insert(0, "seed_a", a)
                diff.insert(0, "dataset", dataset)
                frames.append(diff)
    if not frames:
        return pd.DataFrame(columns=["dataset", "seed_a", "seed_b", key, *metrics])
    return pd.concat(frames, ignore_index=True)


def condition_scores(rows: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Per condition: the mean of ``metrics`` over ``rows`` (layers of a seed-averaged ΔΔ
    table, or runs) within each dataset, then over datasets."""
    per_dataset = rows.groupby(["dataset", "condition", "category"])[list(metrics)].mean()
    return per_dataset.groupby(level=["condition", "category"]).mean().reset_index()
