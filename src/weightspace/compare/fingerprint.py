"""Regularizer fingerprint: does a condition's ΔΔ follow dropout's or weight decay's pattern?

A condition's *profile* is its seed-averaged ΔΔ over every (metric, dataset, layer) cell.
Each metric is scaled by its root-mean-square over all conditions and layers (not centred:
zero means "same as the baseline"), so every metric weighs the same. A reference category's
*direction* is the mean of its conditions' unit-scaled profiles, leaving out the condition
being classified, scaled to unit length.

Tests, with a null taken from the condition's own noise. The negative controls are the
baseline runs themselves: orthonormal (Helmert) contrasts between baseline seeds are
baseline-versus-baseline pseudo-conditions — profiles of pure seed noise, ``K = S_bs − 1`` of
them. The noise of a condition's seed-averaged profile along a direction ``u`` is estimated
as ``(2 / S) · mean_k (h_k · u)²`` (a ΔΔ is the difference of two runs; ``S`` seeds average
it), and ``t = profile · u / √that`` is referred to Student's t with K degrees of freedom.

* ``t_<ref>``: the projection on a reference's direction (is there a reference-like change?);
* ``t_direction``: the projection on ``unit(u_nearest − u_second)`` (closer to one reference
  than to the other?);
* ``p_value``: intersection–union test of "acts like the nearest reference" — the larger of
  the two two-sided p-values, and 1 unless both projections point toward the nearest;
* ``p_adj``: Benjamini–Hochberg over the conditions tested (the family, ``n_family``).

Verdicts: "acts like dropout" (``p_adj`` < 0.05); "neither: no evidence that it acts more
like dropout than like weight decay" (a reference projection is significant, the direction is
not); "no detectable dropout- or weight-decay-like effect" (neither projection is). With one
baseline seed there are no negative controls: nearest only, untested. ``distance_<ref>``
(shape distance √(2(1 − cos)) to the leave-one-out centroid) and ``magnitude`` (RMS of the
scaled profile, next to ``noise_magnitude``, the RMS a condition without effect would show)
describe; the tests decide. :func:`reference_accuracy`: how often a reference condition, left
out of its own centroid, is nearest to its own category.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from weightspace.compare.conclude import NAMES
from weightspace.compare.multiplicity import benjamini_hochberg
from weightspace.errors import ConfigError

log = logging.getLogger(__name__)

P_THRESHOLD = 0.05


def profile_matrix(
    cond_layers: pd.DataFrame, metrics: Sequence[str], key: str
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Scaled profiles (conditions × (metric, dataset, layer) cells) and the metric scales."""
    wide = cond_layers.pivot_table(
        index=["condition", "category"], columns=["dataset", key], values=list(metrics)
    )  # columns: (metric, dataset, layer)
    wide = wide.dropna(axis=1, how="any")
    scales: dict[str, float] = {}
    for metric in metrics:
        if metric in wide.columns.get_level_values(0):
            block = wide[metric]
            scale = float(np.sqrt(np.mean(block.to_numpy() ** 2)))
            scales[metric] = scale if scale > 0 else 1.0
            wide[metric] = block / scales[metric]
    return wide, scales


def control_contrasts(
    controls: pd.DataFrame | None,
    columns: pd.MultiIndex,
    scales: Mapping[str, float],
    key: str,
) -> np.ndarray | None:
    """(K, cells) orthonormal Helmert contrasts between baseline seeds, per dataset, scaled
    like the profiles; ``None`` when some dataset has a single baseline seed."""
    if controls is None or controls.empty:
        return None
    metrics = list(dict.fromkeys(columns.get_level_values(0)))
    wide = controls.pivot_table(index=["dataset", "seed"], columns=key, values=metrics)
    per_dataset: dict[object, np.ndarray] = {}
    n_contrasts = None
    for dataset in dict.fromkeys(columns.get_level_values(1)):
        if dataset not in wide.index.get_level_values(0):
            return None
        block = wide.xs(dataset, level="dataset").sort_index()  # seeds × (metric, layer)
        cells = [(m, layer) for m, d, layer in columns if d == dataset]
        x = block.reindex(columns=pd.MultiIndex.from_tuples(cells)).to_numpy(float)
        x = np.nan_to_num(x / np.array([scales[m] for m, _ in cells]))
        k = np.arange(1, len(x))
        helmert = [
            (x[:j].mean(0) - x[j]) * np.sqrt(j / (j + 1.0)) for j in k
        ]  # each ~ one run's noise
        per_dataset[dataset] = np.array(helmert).reshape(len(k), len(cells))
        n_contrasts = len(k) if n_contrasts is None else min(n_contrasts, len(k))
    if not n_contrasts:
        return None
    out = np.zeros((n_contrasts, len(columns)))
    for dataset, h in per_dataset.items():
        mask = np.array([d == dataset for _, d, _ in columns])
        out[:, mask] = h[:n_contrasts]
    return out


def _unit(rows: np.ndarray) -> np.ndarray:
    """Scale each row (last axis) to unit Euclidean length; an all-zero row stays zero."""
    norm = np.linalg.norm(rows, axis=-1, keepdims=True)
    return np.divide(rows, norm, out=np.zeros_like(rows), where=norm > 0)


def _projection_t(profile: np.ndarray, u: np.ndarray, h: np.ndarray, n_seeds: float) -> float:
    var = 2.0 / n_seeds * float(np.mean((h @ u) ** 2))
    return float(profile @ u / np.sqrt(var)) if var > 0 else float("nan")


def _two_sided(t: float, df: int) -> float:
    return float(2 * stats.t.sf(abs(t), df)) if np.isfinite(t) else float("nan")


def _verdict(row: Mapping[str, Any], present: list[str], p_adj: float) -> str:
    nearest = str(row["nearest"])
    name = NAMES.get(nearest, nearest)
    if not np.isfinite(p_adj):
        return f"nearest to {name} (one baseline seed: no noise estimate, not tested)"
    if p_adj < P_THRESHOLD:
        return f"acts like {name}"
    names = " or ".join(NAMES.get(r, r) for r in present)
    toward = [
        _two_sided(float(row[f"t_{r}"]), int(row["df"]))
        for r in present
        if float(row[f"t_{r}"]) > 0
    ]
    if len(present) > 1 and toward and min(toward) < P_THRESHOLD:
        other = NAMES.get(present[1] if present[0] == nearest else present[0])
        return f"neither: no evidence that it acts more like {name} than like {other}"
    return f"no detectable {names}-like effect"


def fingerprint_table(
    cond_layers: pd.DataFrame,
    metrics: Sequence[str],
    key: str,
    *,
    references: Sequence[str] = ("dp", "wd"),
    controls: pd.DataFrame | None = None,
    n_seeds: Mapping[str, float] | None = None,
    mode: str = "shape",
    rng: np.random.Generator | None = None,
    n_perm: int = 0,
    n_boot: int = 0,
) -> pd.DataFrame:
    """One row per condition: nearest reference, distances, projection tests, verdict.

    ``controls``: the baseline runs' Δ (columns dataset, seed, ``key``, metrics) — the
    negative controls; ``n_seeds``: seeds per condition (default 1). ``mode="euclidean"``
    ranks ``nearest`` by raw distances instead of shapes. ``rng``/``n_perm``/``n_boot`` are
    accepted for compatibility and unused: the tests are analytic.
    """
    if mode not in ("shape", "euclidean"):
        raise ConfigError(f"fingerprint mode must be 'shape' or 'euclidean', got {mode!r}")
    wide, scales = profile_matrix(cond_layers, metrics, key)
    dist_cols = [f"distance_{r}" for r in references]
    t_cols = [f"t_{r}" for r in references]
    columns = ["condition", "category", "nearest", *dist_cols, "magnitude", "noise_magnitude",
               "margin", *t_cols, "t_direction", "df", "p_value", "p_adj", "n_family",
               "n_layers", "verdict"]  # fmt: skip
    if wide.shape[1] == 0 or not len(wide):
        log.info("fingerprint: no layer observed for every condition; table left empty")
        return pd.DataFrame(columns=columns)
    h = control_contrasts(controls, wide.columns, scales, key)
    names = wide.index.get_level_values("condition").to_numpy()
    cats = wide.index.get_level_values("category").to_numpy()
    raw = wide.to_numpy()  # (conditions, C)
    shapes = _unit(raw) * np.sqrt(raw.shape[1])  # unit RMS
    n_layers = len(wide.columns.droplevel(0).unique())
    rows = []
    for i, (condition, category) in enumerate(zip(names, cats, strict=True)):
        members = {r: np.flatnonzero((cats == r) & (np.arange(len(cats)) != i)) for r in references}
        present = [r for r in references if len(members[r])]
        row: dict[str, object] = {"condition": condition, "category": category,
                                  "n_layers": n_layers, "magnitude": float(np.sqrt(np.mean(raw[i] ** 2)))}  # fmt: skip
        seeds = float((n_seeds or {}).get(condition, 1.0))
        row["noise_magnitude"] = (
            float(np.sqrt(2.0 / seeds * np.mean(h**2))) if h is not None else np.nan
        )
        if mode == "shape":
            cents = {r: _unit(shapes[members[r]].mean(0)) * np.sqrt(raw.shape[1]) for r in present}
            dists = {r: float(np.sqrt(np.mean((shapes[i] - cents[r]) ** 2))) for r in present}
        else:
            cents = {r: raw[members[r]].mean(0) for r in present}
            dists = {r: float(np.sqrt(np.mean((raw[i] - cents[r]) ** 2))) for r in present}
        row.update({f"distance_{r}": dists.get(r, np.nan) for r in references})
        if not present:
            rows.append(row | {"nearest": "", "verdict": "no reference conditions"})
            continue
        order = sorted(present, key=dists.__getitem__)
        row["nearest"] = order[0]
        row["margin"] = dists[order[1]] - dists[order[0]] if len(order) > 1 else np.nan
        p = np.nan
        if h is not None:
            units = {r: _unit(cents[r]) for r in present}
            ts = {r: _projection_t(raw[i], units[r], h, seeds) for r in present}
            row.update({f"t_{r}": ts[r] for r in present})
            row["df"] = len(h)
            p = _two_sided(ts[order[0]], len(h)) if ts[order[0]] > 0 else 1.0
            if len(order) > 1:
                w = _unit(units[order[0]] - units[order[1]])
                t_dir = _projection_t(raw[i], w, h, seeds)
                row["t_direction"] = t_dir
                p = max(p, _two_sided(t_dir, len(h)) if t_dir > 0 else 1.0)
        row["p_value"] = p
        rows.append(row)
    table = pd.DataFrame(rows, columns=columns)
    tested = table["p_value"].notna()
    table["n_family"] = int(tested.sum())
    table.loc[tested, "p_adj"] = benjamini_hochberg(table.loc[tested, "p_value"].to_numpy(float))
    table["verdict"] = table["verdict"].astype(object)
    for idx in table.index[table["nearest"].astype(str) != ""]:
        done: dict[str, Any] = table.loc[idx].to_dict()
        present = [r for r in references if np.isfinite(done.get(f"distance_{r}", np.nan))]
        table.loc[idx, "verdict"] = _verdict(done, present, float(done["p_adj"]))
    return table


def reference_accuracy(table: pd.DataFrame, references: Sequence[str]) -> pd.DataFrame:
    """Leave-one-out check of the references: per reference category, how many of its
    conditions are nearest to their own category when left out of its centroid."""
    rows = []
    for ref in references:
        own = table[table["category"] == ref]
        if own.empty:
            continue
        correct = int((own["nearest"] == ref).sum())
        rows.append(
            {
                "category": ref,
                "n_conditions": len(own),
                "n_correct": correct,
                "accuracy": correct / len(own),
            }
        )
    return pd.DataFrame(rows, columns=["category", "n_conditions", "n_correct", "accuracy"])
