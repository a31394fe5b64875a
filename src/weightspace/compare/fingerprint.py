"""Regularizer fingerprint: is a condition's ΔΔ profile closer to dropout's or weight decay's?

A condition's *profile* is its seed-averaged ΔΔ over every (dataset, layer, metric). Each
metric is scaled by its root-mean-square over all conditions and layers (not centred: zero
means "same as the baseline", which must stay zero), so that every metric weighs the same.
A reference category's centroid is the mean profile of its conditions, leaving out the
condition being classified.

Distance (``mode``): ``"shape"`` (default) first scales every profile — and every centroid
— to unit root-mean-square, so it compares the *pattern* of changes over layers and metrics,
not their size (distance = √(2(1 − cos))). Reason: with raw (``"euclidean"``) distances a
category with many weak conditions has a centroid near zero, and every weak condition then
looks like it (on the RN18 tables the weakest dropout, dp0.1, came out "like weight decay").
The size of a change is reported separately as ``magnitude`` (RMS of the scaled profile,
0 = the baseline).

Confidence: the share of bootstrap resamples of *layers* (a layer keeps all its metrics) in
which the nearest category stays the nearest — does the verdict rest on a few layers?
p-value: the reference conditions of the two closest categories are relabelled (every
split, or ``n_perm`` random ones); p = share of relabellings whose distance difference is at
least the observed one — is the condition closer to one category than chance splits of the
references would make it?
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from weightspace.compare.conclude import NAMES
from weightspace.compare.stats import label_splits
from weightspace.errors import ConfigError

log = logging.getLogger(__name__)

P_THRESHOLD = 0.05


def profile_matrix(
    cond_layers: pd.DataFrame, metrics: Sequence[str], key: str
) -> tuple[pd.DataFrame, np.ndarray]:
    """Scaled profiles (conditions × columns) and the layer group of every column."""
    wide = cond_layers.pivot_table(
        index=["condition", "category"], columns=["dataset", key], values=list(metrics)
    )  # columns: (metric, dataset, layer)
    wide = wide.dropna(axis=1, how="any")
    for metric in metrics:
        if metric in wide.columns.get_level_values(0):
            block = wide[metric]
            scale = float(np.sqrt(np.mean(block.to_numpy() ** 2)))
            wide[metric] = block / scale if scale > 0 else block
    layer_of = pd.MultiIndex.from_arrays(
        [wide.columns.get_level_values(1), wide.columns.get_level_values(2)]
    )
    groups = pd.factorize(layer_of)[0]
    return wide, groups


def _rms(diff: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.sqrt(np.mean(diff**2, axis=axis))


def _unit(rows: np.ndarray) -> np.ndarray:
    """Scale each row (the last axis) to unit RMS; an all-zero row stays zero."""
    norm = _rms(rows)[..., None]
    return np.divide(rows, norm, out=np.zeros_like(rows), where=norm > 0)


def _bootstrap_confidence(
    sq: np.ndarray, groups: np.ndarray, nearest: int, rng: np.random.Generator, n_boot: int
) -> float:
    """Share of layer resamples where ``nearest`` stays the argmin. ``sq``: (R, C)."""
    n_layers = int(groups.max()) + 1
    draws = rng.integers(0, n_layers, size=(n_boot, n_layers))  # (B, L) resampled layers
    counts = np.zeros((n_boot, n_layers))
    np.add.at(counts, (np.arange(n_boot)[:, None], draws), 1.0)
    weights = counts[:, groups]  # (B, C)
    d2 = weights @ sq.T / weights.sum(1, keepdims=True)  # (B, R)
    return float(np.mean(np.argmin(d2, axis=1) == nearest))


def _permutation_p(
    profile: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    rng: np.random.Generator,
    n_perm: int,
    shape: bool,
) -> tuple[float, bool]:
    """Two-sided p of d(second) − d(first) under relabelling of the pooled references."""
    pooled = np.vstack([first, second])  # (n, C)
    masks, exact = label_splits(len(pooled), len(first), rng, n_perm)  # (K, n)
    m = masks.astype(float)
    c1 = m @ pooled / len(first)  # (K, C)
    c2 = (1 - m) @ pooled / len(second)
    o1, o2 = first.mean(0), second.mean(0)
    if shape:
        c1, c2, o1, o2 = _unit(c1), _unit(c2), _unit(o1), _unit(o2)
    null = np.abs(_rms(profile - c2) - _rms(profile - c1))
    observed = abs(_rms(profile - o2) - _rms(profile - o1))
    hits = np.sum(null >= observed * (1 - 1e-9))
    if exact:
        return float(hits / len(null)), True
    return float((1 + hits) / (1 + len(null))), False


def _verdict(nearest: str, p: float, closer_to_baseline: bool) -> str:
    name = NAMES.get(nearest, nearest)
    if not np.isfinite(p):
        text = f"nearest to {name} (too few reference conditions to test)"
    elif p < P_THRESHOLD:
        text = f"acts like {name}"
    else:
        text = f"leans toward {name} (not significant)"
    if closer_to_baseline:
        text += "; closer to the baseline than to any reference"
    return text


def fingerprint_table(
    cond_layers: pd.DataFrame,
    metrics: Sequence[str],
    key: str,
    *,
    references: Sequence[str] = ("dp", "wd"),
    mode: str = "shape",
    rng: np.random.Generator,
    n_perm: int,
    n_boot: int,
) -> pd.DataFrame:
    """One row per condition: nearest reference category, distances, confidence, p, verdict."""
    if mode not in ("shape", "euclidean"):
        raise ConfigError(f"fingerprint mode must be 'shape' or 'euclidean', got {mode!r}")
    shape = mode == "shape"
    wide, groups = profile_matrix(cond_layers, metrics, key)
    dist_cols = [f"distance_{r}" for r in references]
    columns = ["condition", "category", "nearest", *dist_cols, "magnitude", "margin",
               "confidence", "p_value", "exact", "n_layers", "verdict"]  # fmt: skip
    if wide.shape[1] == 0 or not len(wide):
        log.info("fingerprint: no layer observed for every condition; table left empty")
        return pd.DataFrame(columns=columns)
    names = wide.index.get_level_values("condition").to_numpy()
    cats = wide.index.get_level_values("category").to_numpy()
    raw = wide.to_numpy()  # (conditions, C)
    values = _unit(raw) if shape else raw

    def centroid(idx: np.ndarray) -> np.ndarray:
        mean = values[idx].mean(0)
        return _unit(mean) if shape else mean

    rows = []
    for i, (condition, category) in enumerate(zip(names, cats, strict=True)):
        members = {r: np.flatnonzero((cats == r) & (np.arange(len(cats)) != i)) for r in references}
        present = [r for r in references if len(members[r])]
        row = {"condition": condition, "category": category, "n_layers": int(groups.max()) + 1}
        row["magnitude"] = float(_rms(raw[i]))
        dists = {r: float(_rms(values[i] - centroid(members[r]))) for r in present}
        row.update({f"distance_{r}": dists.get(r, np.nan) for r in references})
        if not present:
            rows.append(row | {"nearest": "", "verdict": "no reference conditions"})
            continue
        order = sorted(present, key=dists.__getitem__)
        nearest = order[0]
        row["nearest"] = nearest
        p, exact, margin, conf = np.nan, False, np.nan, np.nan
        if len(order) > 1:
            second = order[1]
            margin = dists[second] - dists[nearest]
            sq = np.stack([(values[i] - centroid(members[r])) ** 2 for r in present])
            conf = _bootstrap_confidence(sq, groups, present.index(nearest), rng, n_boot)
            first_m, second_m = values[members[nearest]], values[members[second]]
            if len(first_m) + len(second_m) >= 3:
                p, exact = _permutation_p(values[i], first_m, second_m, rng, n_perm, shape)
        row.update({"margin": margin, "confidence": conf, "p_value": p, "exact": exact})
        baseline_closer = not shape and row["magnitude"] < dists[nearest]
        row["verdict"] = _verdict(nearest, p, baseline_closer)
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)
