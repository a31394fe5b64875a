"""Our default protocol: every seed, the noise floor, tests that respect the layer structure.

Unit of inference: the **condition**. A condition's ΔΔ comes from the seed-matched linear
model (:mod:`weightspace.compare.estimates`: seed effects cancel, unbalanced seeds are
handled); its *score* on a metric is the mean of that ΔΔ over layers (and over datasets
when several are pooled). Category differences are tested by relabelling whole conditions
— the same relabelling at every layer — so the layers of one run stay together and are not
counted as independent samples. Whole profiles are placed between dropout and weight decay
and tested for any change by :mod:`weightspace.compare.fingerprint`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from weightspace.compare import rotation
from weightspace.compare.categories import BASELINE
from weightspace.compare.contrasts import category_tests, omnibus_table
from weightspace.compare.delta import delta_delta, delta_table, resolve_metrics
from weightspace.compare.estimates import (
    DatasetProfiles,
    condition_layers,
    dataset_profiles,
    profile_scores,
)
from weightspace.compare.fingerprint import REFERENCES, fingerprint_tables
from weightspace.compare.mixed import mixed_model_table
from weightspace.compare.multiplicity import adjust_tables, family_table
from weightspace.compare.paper import (
    anova_table,
    category_means,
    classifier_rows,
    classifier_table,
    correlation_table,
    layer_key,
    layer_profiles,
    require_conditions,
    ttest_table,
)
from weightspace.compare.power import plan_from_profiles, power_table, rotation_power
from weightspace.compare.relations import dose_response_table, spectral_vs_outcomes
from weightspace.compare.uncertainty import category_mean_intervals, noise_floor_table

log = logging.getLogger(__name__)


def category_means_ci(
    profiles: pd.DataFrame, fits: list[DatasetProfiles], metrics: Sequence[str]
) -> pd.DataFrame:
    """The paper's category means plus a standard error and t-interval carrying condition,
    seed and shared-baseline variation (:mod:`weightspace.compare.uncertainty`)."""
    table = category_means(profiles, metrics)
    intervals = category_mean_intervals(fits, metrics).drop(columns="p")
    return table.merge(intervals, on=["metric", "category"], how="left")


def _fingerprints_by_dataset(
    fits: list[DatasetProfiles], metrics: Sequence[str], references: tuple[str, ...]
) -> pd.DataFrame:
    """The fingerprint of every condition within each dataset (only when several are
    pooled), each dataset's tests in families of its own (``"<dataset>: headline (Holm)"``);
    its headline holds the moved and position tests (the shape test is the pooled one's)."""
    frames = []
    if len(fits) > 1:
        for fit in fits:
            table = fingerprint_tables([fit], metrics, references, shape=False,
                                       prefix=f"{fit.dataset}: ")["fingerprint"]  # fmt: skip
            table.insert(0, "dataset", fit.dataset)
            frames.append(table)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["dataset"])


def default_tables(
    layers: pd.DataFrame,
    *,
    runs: pd.DataFrame | None = None,
    metrics: Sequence[str] | None = None,
    seed: int = 0,
    n_perm: int = 2000,
    n_boot: int = 1000,
    references: tuple[str, ...] = REFERENCES,
    baseline: str = BASELINE,
    weight_deltas: pd.DataFrame | None = None,
    n_sims: int = 100,
) -> dict[str, pd.DataFrame]:
    """Every table of the default protocol (see the module docstring and docs/compare.md).

    ``weight_deltas``: the studies' ΔW / subspace-overlap table; with it, ``rotation`` and
    ``rotation_tests`` (:mod:`weightspace.compare.rotation`). ``n_sims``: simulated studies
    behind the ``power`` table (:mod:`weightspace.compare.power`; 0: no power table)."""
    metrics = resolve_metrics(layers, metrics)
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(7)]
    delta = delta_table(layers, metrics=metrics, align="layer_id", drop_frozen=True)
    dd = delta_delta(delta, baseline=baseline, key="layer_id", match_seed=True)
    require_conditions(dd, baseline)
    key = layer_key(dd)
    profiles = layer_profiles(dd, metrics, key)
    fits = dataset_profiles(delta, metrics, "layer_id", baseline=baseline)
    cond_layers = condition_layers(fits, metrics)
    scores = profile_scores(fits, metrics)
    per_cond = classifier_rows(dd)[["dataset", "condition", "category", "seed", *metrics]]
    fingerprint = fingerprint_tables(fits, metrics, references)
    tables = {
        "delta_delta": dd,
        "category_means": category_means_ci(profiles, fits, metrics),
        "layer_profiles": profiles,
        "condition_scores": scores,
        "anova": anova_table(profiles, metrics),
        "ttests": ttest_table(profiles, metrics),
        "correlations": correlation_table(profiles, metrics, key),
        "classifier": classifier_table(dd, metrics),
        "classifier_conditions": per_cond.reset_index(drop=True),
        "noise_floor": noise_floor_table(delta, metrics, baseline=baseline),
        "omnibus": omnibus_table(scores, metrics, rng=rngs[1], n_perm=n_perm),
        "category_tests": category_tests(scores, metrics, rng=rngs[2], n_perm=n_perm),
        "mixed_model": mixed_model_table(cond_layers, metrics, "layer_id"),
        **fingerprint,
        "fingerprint_by_dataset": _fingerprints_by_dataset(fits, metrics, references),
        "dose_response": dose_response_table(dd, runs, metrics, rng=rngs[4], n_boot=n_boot),
        "spectral_vs_accuracy": spectral_vs_outcomes(
            dd, runs, metrics, baseline=baseline, rng=rngs[5], n_boot=n_boot
        ),
    }
    per_run = None
    if weight_deltas is not None and not weight_deltas.empty:
        per_run = rotation.run_rotation(weight_deltas)
        tables["rotation"] = rotation.rotation_summary(per_run, baseline=baseline)
        tables["rotation_tests"] = category_tests(
            rotation.tested_scores(per_run, baseline=baseline),
            rotation.TESTED,
            rng=rngs[6],
            n_perm=n_perm,
        )
    if n_sims and fits and all(f.noise_known for f in fits):
        tables["power"] = _power(fits, per_run, baseline=baseline, n_sims=n_sims, seed=seed)
    tables = adjust_tables(tables)
    tables["families"] = family_table(tables)
    return tables


def _power(fits: list[DatasetProfiles], per_run: pd.DataFrame | None, *, baseline: str,
           n_sims: int, seed: int) -> pd.DataFrame:  # fmt: skip
    """The power table of the largest dataset's design (and the rotation tests)."""
    largest = max(fits, key=lambda f: f.fit.design.n_runs)
    if len(fits) > 1:
        log.info("power: simulated on the design of dataset %s (the largest)", largest.dataset)
    frames = [power_table(plan_from_profiles(largest), n_sims=n_sims, seed=seed)]
    if per_run is not None:
        frames.append(rotation_power(per_run, baseline=baseline, n_sims=n_sims, seed=seed))
    return pd.concat(frames, ignore_index=True)
