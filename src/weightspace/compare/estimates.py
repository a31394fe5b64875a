"""Every condition's ΔΔ profile as the seed-matched linear model estimates it, per dataset.

The Δ table (one row per run × layer) becomes, per dataset, a matrix of runs × cells
(metric, layer) and one :class:`weightspace.stats.linear.LinearFit` with conditions and
seeds as fixed effects and one noise level per category (:mod:`weightspace.stats.linear`).
A condition's ΔΔ is ``m[condition] − m[baseline]``: the seed-matched ΔΔ averaged over seeds
when every condition has the baseline's seeds, and the estimate that still cancels what a
seed shares when the seed sets differ (a failed run, a baseline with extra seeds).

Metrics are put on one scale by dividing each by its pooled noise SD per cell (the
residual spread within conditions across seeds), so "all metrics" profiles weigh every
metric by its signal-to-noise rather than by its units. With one seed there is no residual:
the scale falls back to the RMS of the ΔΔ values and no noise-based test is possible.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from weightspace.compare.categories import BASELINE
from weightspace.errors import DataError
from weightspace.stats.linear import Design, LinearFit, fit, seed_sets
from weightspace.stats.profiles import NoiseModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatasetProfiles:
    """One dataset's runs as a scaled matrix, its fit, and the labels behind both."""

    dataset: str
    model: NoiseModel
    metric: np.ndarray  # (P,) metric of each cell
    layer: np.ndarray  # (P,) layer key of each cell
    scales: dict[str, float]
    category: dict[str, str]  # condition → category
    baseline: str
    noise_known: bool  # False with one seed: no residual, no test

    @property
    def fit(self) -> LinearFit:
        return self.model.fit

    @property
    def conditions(self) -> list[str]:
        return [str(c) for c in self.fit.design.conditions]

    def contrast(self, weights: dict[str, float]) -> np.ndarray:
        """A (C,) contrast vector from ``{condition: weight}`` (absent conditions: 0)."""
        out = np.zeros(len(self.conditions))
        for name, w in weights.items():
            out[self.conditions.index(name)] += w
        return out

    def versus_baseline(self, condition: str) -> np.ndarray:
        return self.contrast({condition: 1.0, self.baseline: -1.0})

    def centroid(self, members: Sequence[str]) -> np.ndarray:
        """The mean of ``members``' ΔΔ as a contrast (baseline subtracted)."""
        if not members:
            return np.zeros(len(self.conditions))
        return self.contrast({m: 1.0 / len(members) for m in members}) - self.contrast(
            {self.baseline: 1.0}
        )

    def members(self, category: str) -> list[str]:
        return [c for c in self.conditions if self.category.get(c) == category]

    def dd(self) -> pd.DataFrame:
        """Every non-baseline condition's ΔΔ per cell in the metrics' own units (long)."""
        base = self.fit.means[self.conditions.index(self.baseline)]
        scale = np.array([self.scales[m] for m in self.metric])
        rows = []
        for i, condition in enumerate(self.conditions):
            if condition == self.baseline:
                continue
            values = (self.fit.means[i] - base) * scale
            rows.append(pd.DataFrame({"dataset": self.dataset, "condition": condition,
                                      "category": self.category[condition], "metric": self.metric,
                                      "layer": self.layer, "value": values}))  # fmt: skip
        return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()

    def scores(self, metrics: Sequence[str]) -> pd.DataFrame:
        """Every non-baseline condition's score per metric: its ΔΔ averaged over the
        metric's layers, in the metric's units (one row per condition)."""
        base = self.fit.means[self.conditions.index(self.baseline)]
        names = [c for c in self.conditions if c != self.baseline]
        rows = np.array([self.conditions.index(c) for c in names], dtype=int)
        out = pd.DataFrame({"dataset": self.dataset, "condition": names,
                            "category": [self.category[c] for c in names]})  # fmt: skip
        for m in metrics:
            cols = self.metric == m
            diff = self.fit.means[np.ix_(rows, cols)] - base[cols]
            out[m] = diff.mean(1) * self.scales[m] if cols.any() else np.nan
        return out

    def restrict(self, metric: str) -> NoiseModel:
        """The noise model of one metric's cells."""
        return NoiseModel.of(self.fit.columns(self.metric == metric))


def dataset_profiles(
    delta: pd.DataFrame,
    metrics: Sequence[str],
    key: str,
    *,
    baseline: str = BASELINE,
) -> list[DatasetProfiles]:
    """One :class:`DatasetProfiles` per dataset of a Δ table (``delta_table`` output:
    dataset, condition, category, seed, ``key``, metrics). Cells missing in any run of a
    dataset are left out of it; a dataset without its baseline is an error."""
    out = []
    for dataset, group in delta.groupby("dataset", sort=True):
        if baseline not in set(group["condition"]):
            raise DataError(f"dataset {dataset!r} has no baseline condition {baseline!r}")
        wide = group.pivot_table(index=["condition", "seed"], columns=key, values=list(metrics),
                                 aggfunc="first", dropna=False)  # fmt: skip
        # dropna=False keeps every cell column but makes the index the product of conditions
        # and seeds: the (condition, seed) pairs that were never run are all-NaN rows.
        wide = wide.dropna(axis=0, how="all").dropna(axis=1, how="any")
        if wide.shape[1] == 0:
            log.info("dataset %s: no cell observed in every run; left out", dataset)
            continue
        runs = wide.index.to_frame(index=False)
        category = dict(zip(group["condition"].astype(str), group["category"].astype(str),
                            strict=False))  # fmt: skip
        labels = runs["condition"].astype(str).to_numpy()
        out.append(profiles_from_matrix(
            str(dataset), wide.to_numpy(float), labels, runs["seed"].to_numpy(),
            [category[c] for c in labels], wide.columns.get_level_values(0).to_numpy(),
            wide.columns.get_level_values(1).to_numpy(), baseline=baseline,
        ))  # fmt: skip
    return out


def profiles_from_matrix(
    dataset: str,
    y: np.ndarray,
    conditions: np.ndarray,
    seeds: np.ndarray,
    categories: Sequence[str],
    metric: np.ndarray,
    layer: np.ndarray,
    *,
    baseline: str = BASELINE,
) -> DatasetProfiles:
    """:class:`DatasetProfiles` of a runs × cells matrix of Δ (``y``) with each run's
    condition, seed and category and each cell's metric and layer."""
    conditions = np.asarray(conditions).astype(str)
    category = dict(zip(conditions, (str(k) for k in categories), strict=True))
    category[baseline] = baseline
    design = Design.from_labels(conditions, seeds, [category[c] for c in conditions])
    check_seed_sets(conditions, np.asarray(seeds), baseline, dataset)
    raw = fit(y, design)
    scales, known = _scales(raw, y, metric, design, baseline)
    scaled = fit(y / np.array([scales[m] for m in metric]), design)
    return DatasetProfiles(dataset, NoiseModel.of(scaled), np.asarray(metric), np.asarray(layer),
                           scales, category, baseline, known)  # fmt: skip


def _scales(
    raw: LinearFit, y: np.ndarray, metric: np.ndarray, design: Design, baseline: str
) -> tuple[dict[str, float], bool]:
    """Per metric: the pooled residual SD per cell, or (no residual) the ΔΔ RMS."""
    scales: dict[str, float] = {}
    known = raw.residual_df >= 1
    base = raw.means[design.index(baseline)]
    for m in dict.fromkeys(metric):
        cols = metric == m
        if known:
            value = float(np.sqrt(np.mean(raw.residuals[:, cols] ** 2) * len(y) / raw.residual_df))
        else:
            value = float(np.sqrt(np.mean((raw.means[:, cols] - base[cols]) ** 2)))
        scales[str(m)] = value if value > 0 else 1.0
    return scales, bool(known)


def check_seed_sets(conditions: np.ndarray, seeds: np.ndarray, baseline: str, dataset: str) -> None:
    """Warn, naming them, about conditions whose seed set is not the one most conditions
    have, or holds seeds the baseline lacks: the linear model still removes what a seed
    shares, and its tests carry the extra baseline term, but such a condition's ΔΔ is
    less precise than the others'. A baseline with more seeds than the conditions is a
    design choice (it makes the shared reference more precise) and is not warned about."""
    sets = seed_sets(list(conditions), list(seeds))
    base = sets.get(baseline, frozenset())
    others = {c: s for c, s in sets.items() if c != baseline}
    if not others:
        return
    values = list(others.values())
    modal = max(set(values), key=values.count)
    odd = {c: sorted(s, key=str) for c, s in others.items() if s != modal or not s <= base}
    if odd:
        listed = "; ".join(f"{c}: seeds {v}" for c, v in sorted(odd.items())[:8])
        log.warning(
            "dataset %s: %d condition(s) differ from the usual seed set %s (%s%s); their "
            "ΔΔ use the seed-matched linear model and the tests carry the baseline term",
            dataset, len(odd), sorted(modal, key=str), listed, "; …" if len(odd) > 8 else "",
        )  # fmt: skip


def condition_layers(profiles: list[DatasetProfiles], metrics: Sequence[str]) -> pd.DataFrame:
    """Every non-baseline condition's ΔΔ per layer in the metrics' own units: one row per
    (dataset, condition, category, layer_id) with a column per metric."""
    frames = [p.dd() for p in profiles]
    frames = [f for f in frames if not f.empty]
    cols = ["dataset", "condition", "category", "layer_id", *metrics]
    if not frames:
        return pd.DataFrame(columns=cols)
    long = pd.concat(frames, ignore_index=True).rename(columns={"layer": "layer_id"})
    wide = long.pivot_table(index=["dataset", "condition", "category", "layer_id"],
                            columns="metric", values="value", sort=False).reset_index()  # fmt: skip
    wide.columns.name = None
    return wide.reindex(columns=cols)


def profile_scores(profiles: list[DatasetProfiles], metrics: Sequence[str]) -> pd.DataFrame:
    """Condition scores (:meth:`DatasetProfiles.scores`) averaged over datasets: one row per
    (condition, category) — the units of the category tests."""
    frames = [p.scores(metrics) for p in profiles]
    if not frames:
        return pd.DataFrame(columns=["condition", "category", *metrics])
    table = pd.concat(frames, ignore_index=True)
    return table.groupby(["condition", "category"], sort=False)[list(metrics)].mean().reset_index()
