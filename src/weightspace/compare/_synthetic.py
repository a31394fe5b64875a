"""Synthetic study tables with planted effects, for tests, examples and the report's demos.

Model of a run's Δ (after − before) at layer l on metric m::

    Δ[c, s, l, m] = train[l, m] + seed_shift[s, l, m] + effect[c] · signature[sig(c), l, m]
                    + noise · ε[c, s, l, m]

``train`` is what training does anyway (shared by every run, removed by ΔΔ),
``seed_shift`` is shared by all runs of one seed (removed by comparing with the baseline of
the same seed), ``signature[k]`` is the planted per-layer pattern of category ``k``, and ε is
standard normal. Outcomes: ``test_acc`` falls linearly with the planted log_norm change, so
spectral-vs-accuracy relations can be recovered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from weightspace import store
from weightspace.compare.categories import DEFAULT_RULES, parse_strength
from weightspace.compare.delta import DEFAULT_METRICS
from weightspace.errors import ConfigError

_BEFORE = {
    "alpha": 4.0,
    "entropy": 0.9,
    "log_norm": 1.0,
    "log_spectral_norm": 0.2,
    "stable_rank": 10.0,
}


@dataclass(frozen=True)
class SyntheticStudy:
    """Planted-effect study. ``conditions``: name → effect size (``bs`` is added with 0).
    ``signature_of``: name → category whose signature the condition carries (default: its
    own category by the default rules)."""

    conditions: Mapping[str, float]
    signature_of: Mapping[str, str] = field(default_factory=dict)
    n_layers: int = 12
    seeds: Sequence[int] = (0, 1, 2)
    noise: float = 0.01
    seed_shift: float = 0.05
    metrics: Sequence[str] = DEFAULT_METRICS
    dataset: str = "synthetic"
    acc_slope: float = 2.0

    def __post_init__(self) -> None:
        if self.n_layers < 2:
            raise ConfigError(f"n_layers must be ≥ 2, got {self.n_layers}")
        if not self.seeds:
            raise ConfigError("seeds must hold at least one seed")
        if self.noise < 0 or self.seed_shift < 0:
            raise ConfigError(
                f"noise and seed_shift must be ≥ 0, got {self.noise}, {self.seed_shift}"
            )
        unknown = sorted(set(self.signature_of) - set(self.conditions))
        if unknown:
            raise ConfigError(f"signature_of names {unknown} that are not in conditions")


def synthetic_tables(
    spec: SyntheticStudy, *, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, np.ndarray]]:
    """(layers, runs, signatures) following the study contract (docs/architecture.md).

    ``signatures[category]`` is the planted (n_layers, n_metrics) pattern, unit RMS.
    """
    n_l, metrics = spec.n_layers, list(spec.metrics)
    shape = (n_l, len(metrics))
    conditions = {"bs": 0.0, **dict(spec.conditions)}
    category = {c: DEFAULT_RULES.category(c) for c in conditions}
    sig_cat = {c: spec.signature_of.get(c, category[c]) for c in conditions}
    signatures = {}
    for k in sorted(set(sig_cat.values())):
        raw = rng.standard_normal(shape)
        signatures[k] = raw / np.sqrt(np.mean(raw**2))
    before = np.array([_BEFORE.get(m, 1.0) for m in metrics]) * (1 + 0.1 * rng.random(shape))
    train = 0.1 * rng.standard_normal(shape)
    shift = {s: spec.seed_shift * rng.standard_normal(shape) for s in spec.seeds}
    layer_rows, run_rows = [], []
    log_norm_col = metrics.index("log_norm") if "log_norm" in metrics else 0
    for name, effect in conditions.items():
        for s in spec.seeds:
            planted = effect * signatures[sig_cat[name]]
            delta = train + shift[s] + planted + spec.noise * rng.standard_normal(shape)
            run_id = f"{name}__s{s}"
            for snapshot, values in (("before", before), ("after", before + delta)):
                layer_rows.append((run_id, name, s, snapshot, values))
            acc = 0.8 - spec.acc_slope * planted[:, log_norm_col].mean() * 0.1
            run_rows.append(
                {
                    "run_id": run_id,
                    "condition": name,
                    "category": category[name],
                    "seed": s,
                    "status": "ok",
                    "strength": parse_strength(name) if name != "bs" else 0.0,
                    "test_acc": acc + 0.002 * rng.standard_normal(),
                    "test_ece": 0.05 + 0.01 * rng.random(),
                    "ood_acc": acc - 0.1 + 0.002 * rng.standard_normal(),
                }
            )
    layers = _layer_frame(layer_rows, metrics, n_l, category)
    runs = pd.DataFrame(run_rows)
    layers.insert(0, "dataset", spec.dataset)
    runs.insert(0, "dataset", spec.dataset)
    return layers, runs, signatures


def _layer_frame(rows: list, metrics: list[str], n_l: int, category: dict[str, str]):
    """One long frame from (run_id, condition, seed, snapshot, values (n_l, M)) blocks,
    built at once (a frame per block made large studies slow)."""
    n = len(rows)
    frame = pd.DataFrame(
        {
            "run_id": np.repeat([r[0] for r in rows], n_l),
            "condition": np.repeat([r[1] for r in rows], n_l),
            "category": np.repeat([category[r[1]] for r in rows], n_l),
            "seed": np.repeat([r[2] for r in rows], n_l),
            "snapshot": np.repeat([r[3] for r in rows], n_l),
            "layer_id": np.tile(np.arange(n_l) * 2 + 1, n),
            "name": "Linear",
            "longname": np.tile([f"block{i}.fc" for i in range(n_l)], n),
        }
    )
    values = np.concatenate([r[4] for r in rows]) if rows else np.zeros((0, len(metrics)))
    for j, metric in enumerate(metrics):
        frame[metric] = values[:, j]
    frame["status"] = "success"
    return frame


def write_synthetic_study(
    path, spec: SyntheticStudy, *, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Write ``layers.parquet`` and ``runs.parquet`` of a synthetic study under ``path``."""
    from pathlib import Path

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    layers, runs, signatures = synthetic_tables(spec, rng=rng)
    paths = store.StudyPaths(path)
    store.write_table(paths.layers_table, layers.drop(columns="dataset"))
    store.write_table(paths.runs_table, runs.drop(columns="dataset"))
    return signatures
