"""Our default protocol: every seed, the noise floor, tests that respect the layer structure.

Unit of inference: the **condition**. A condition's ΔΔ is averaged over its seeds (each seed
compared with the baseline of the same seed); its *score* on a metric is the mean of that
ΔΔ over layers (and over datasets when several are pooled). Category differences are tested
by relabelling whole conditions — the same relabelling at every layer — so the layers of one
run stay together and are not counted as independent samples.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd

from weightspace.compare import rotation
from weightspace.compare.categories import BASELINE
from weightspace.compare.delta import condition_scores, delta_delta, delta_table, resolve_metrics
from weightspace.compare.fingerprint import fingerprint_table, reference_accuracy
from weightspace.compare.mixed import mixed_model_table
from weightspace.compare.multiplicity import adjust_tables
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
from weightspace.compare.relations import dose_response_table, spectral_vs_outcomes
from weightspace.compare.stats import permutation_anova, two_group_test
from weightspace.compare.uncertainty import (
    category_mean_intervals,
    noise_floor_table,
    run_scores,
)

log = logging.getLogger(__name__)

TEST_COLUMNS = ["metric", "a", "b", "diff", "diff_ci_low", "diff_ci_high", "t", "df", "g",
                "g_ci_low", "g_ci_high", "p_perm", "p_welch", "p", "exact", "n_a", "n_b"]  # fmt: skip


def condition_layers(dd: pd.DataFrame, metrics: Sequence[str], key: str) -> pd.DataFrame:
    """ΔΔ averaged over seeds: one row per (dataset, condition, category, layer)."""
    cols = ["dataset", "condition", "category", key]
    return dd.groupby(cols, sort=False)[list(metrics)].mean().reset_index()


def category_tests(
    scores: pd.DataFrame,
    metrics: Sequence[str],
    *,
    rng: np.random.Generator,
    n_perm: int,
) -> pd.DataFrame:
    """Pairwise category differences of condition scores: ``p`` = the larger of the
    Welch-studentized permutation p (whole conditions relabelled) and Welch's t-test p, Welch t-interval of the difference, Hedges' g with its
    noncentral-t interval. A condition score is seed-averaged, so its spread between
    conditions already holds the within-condition seed spread; the shared baseline cancels
    in a difference of two categories observed with the same seeds."""
    rows = []
    categories = sorted(scores["category"].unique())
    for metric in metrics:
        for a, b in combinations(categories, 2):
            xa = scores.loc[scores["category"] == a, metric].dropna().to_numpy()
            xb = scores.loc[scores["category"] == b, metric].dropna().to_numpy()
            test = two_group_test(xa, xb, rng=rng, n_perm=n_perm)
            rows.append(
                {
                    "metric": metric,
                    "a": a,
                    "b": b,
                    "diff": test.diff,
                    "diff_ci_low": test.diff_ci[0],
                    "diff_ci_high": test.diff_ci[1],
                    "t": test.t,
                    "df": test.df,
                    "g": test.g,
                    "g_ci_low": test.g_ci[0],
                    "g_ci_high": test.g_ci[1],
                    "p_perm": test.p_perm,
                    "p_welch": test.p_welch,
                    "p": test.p,
                    "exact": test.exact,
                    "n_a": test.n_a,
                    "n_b": test.n_b,
                }
            )
    return pd.DataFrame(rows, columns=TEST_COLUMNS)


def omnibus_table(
    scores: pd.DataFrame, metrics: Sequence[str], *, rng: np.random.Generator, n_perm: int
) -> pd.DataFrame:
    """One-way F over categories with conditions as the samples, permutation p-value."""
    rows = []
    for metric in metrics:
        ok = scores[metric].notna()
        f, p = permutation_anova(
            scores.loc[ok, metric].to_numpy(),
            scores.loc[ok, "category"].to_numpy(),
            rng=rng,
            n_perm=n_perm,
        )
        rows.append(
            {
                "metric": metric,
                "F": f,
                "p_perm": p,
                "n_conditions": int(ok.sum()),
                "categories": ",".join(sorted(scores.loc[ok, "category"].unique())),
            }
        )
    return pd.DataFrame(rows)


def category_means_ci(
    profiles: pd.DataFrame, dd: pd.DataFrame, metrics: Sequence[str], *, baseline: str
) -> pd.DataFrame:
    """The paper's category means plus a standard error and t-interval carrying condition,
    seed and shared-baseline variation (:mod:`weightspace.compare.uncertainty`)."""
    table = category_means(profiles, metrics)
    intervals = category_mean_intervals(run_scores(dd, metrics), metrics, baseline=baseline)
    return table.merge(intervals, on=["metric", "category"], how="left")


def _fingerprints_by_dataset(
    cond_layers: pd.DataFrame,
    metrics: Sequence[str],
    key: str,
    references: tuple[str, ...],
    controls: pd.DataFrame,
    n_seeds: dict[str, float],
) -> pd.DataFrame:
    """The fingerprint of every condition within each dataset (only when several are pooled)."""
    frames = []
    if cond_layers["dataset"].nunique() > 1:
        for dataset, group in cond_layers.groupby("dataset", sort=True):
            table = fingerprint_table(
                group,
                metrics,
                key,
                references=references,
                controls=controls[controls["dataset"] == dataset],
                n_seeds=n_seeds,
            )
            table.insert(0, "dataset", dataset)
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
    references: tuple[str, ...] = ("dp", "wd"),
    baseline: str = BASELINE,
    weight_deltas: pd.DataFrame | None = None,
) -> dict[str, pd.DataFrame]:
    """Every table of the default protocol (see the module docstring and docs/compare.md).

    ``weight_deltas``: the studies' ΔW / subspace-overlap table; with it, ``rotation`` and
    ``rotation_tests`` (:mod:`weightspace.compare.rotation`)."""
    metrics = resolve_metrics(layers, metrics)
    streams = np.random.SeedSequence(seed).spawn(7)
    rngs = [np.random.default_rng(s) for s in streams]
    delta = delta_table(layers, metrics=metrics, align="layer_id", drop_frozen=True)
    dd = delta_delta(delta, baseline=baseline, key="layer_id", match_seed=True)
    require_conditions(dd, baseline)
    key = layer_key(dd)
    profiles = layer_profiles(dd, metrics, key)
    cond_layers = condition_layers(dd, metrics, key)
    scores = condition_scores(cond_layers, metrics)
    noise = noise_floor_table(delta, metrics, baseline=baseline)
    per_cond = classifier_rows(dd)[["dataset", "condition", "category", "seed", *metrics]]
    controls = delta[delta["condition"] == baseline]
    n_seeds = dd.groupby(["dataset", "condition"])["seed"].nunique().groupby("condition").min()
    seeds = {str(k): float(v) for k, v in n_seeds.items()}
    fingerprint = fingerprint_table(
        cond_layers, metrics, key, references=references, controls=controls, n_seeds=seeds
    )
    tables = {
        "delta_delta": dd,
        "category_means": category_means_ci(profiles, dd, metrics, baseline=baseline),
        "layer_profiles": profiles,
        "condition_scores": scores,
        "anova": anova_table(profiles, metrics),
        "ttests": ttest_table(profiles, metrics),
        "correlations": correlation_table(profiles, metrics, key),
        "classifier": classifier_table(dd, metrics),
        "classifier_conditions": per_cond.reset_index(drop=True),
        "noise_floor": noise,
        "omnibus": omnibus_table(scores, metrics, rng=rngs[1], n_perm=n_perm),
        "category_tests": category_tests(scores, metrics, rng=rngs[2], n_perm=n_perm),
        "mixed_model": mixed_model_table(cond_layers, metrics, key),
        "fingerprint": fingerprint,
        "fingerprint_references": reference_accuracy(fingerprint, references),
        "fingerprint_by_dataset": _fingerprints_by_dataset(
            cond_layers, metrics, key, references, controls, seeds
        ),
        "dose_response": dose_response_table(dd, runs, metrics, rng=rngs[4], n_boot=n_boot),
        "spectral_vs_accuracy": spectral_vs_outcomes(
            dd, runs, metrics, baseline=baseline, rng=rngs[5], n_boot=n_boot
        ),
    }
    if weight_deltas is not None and not weight_deltas.empty:
        per_run = rotation.run_rotation(weight_deltas)
        tables["rotation"] = rotation.rotation_summary(per_run, baseline=baseline)
        tables["rotation_tests"] = category_tests(
            rotation.tested_scores(per_run, baseline=baseline),
            rotation.TESTED,
            rng=rngs[6],
            n_perm=n_perm,
        )
    return adjust_tables(tables)
