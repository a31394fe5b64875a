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

from weightspace.compare.categories import BASELINE
from weightspace.compare.delta import baseline_pairs, delta_delta, delta_table, resolve_metrics
from weightspace.compare.fingerprint import fingerprint_table
from weightspace.compare.mixed import mixed_model_table
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
from weightspace.compare.stats import MIN_BOOT_GROUP, permutation_anova, two_group_test

log = logging.getLogger(__name__)

NOISE_FACTOR = 2.0
TEST_COLUMNS = ["metric", "a", "b", "diff", "diff_ci_low", "diff_ci_high", "d", "d_ci_low",
                "d_ci_high", "p_perm", "exact", "n_a", "n_b", "noise_floor", "noise"]  # fmt: skip  # an effect within 2 × the noise floor is labelled "within"


def condition_layers(dd: pd.DataFrame, metrics: Sequence[str], key: str) -> pd.DataFrame:
    """ΔΔ averaged over seeds: one row per (dataset, condition, category, layer)."""
    cols = ["dataset", "condition", "category", key]
    return dd.groupby(cols, sort=False)[list(metrics)].mean().reset_index()


def condition_scores(cond_layers: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Mean ΔΔ over layers per (dataset, condition), then over datasets per condition."""
    per_dataset = cond_layers.groupby(["dataset", "condition", "category"])[list(metrics)].mean()
    return per_dataset.groupby(level=["condition", "category"]).mean().reset_index()


def noise_floor_table(delta: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Spread of ΔΔ between baseline seeds (what a condition without effect shows).

    ``floor``: root-mean-square over seed pairs of the layer-averaged bs(i) − bs(j) ΔΔ — the
    noise of one condition's score. ``floor_layer``: RMS of the per-layer differences — the
    noise of one point of a layer profile. Pooled datasets get a row ``dataset="all"`` whose
    floor is that of a score averaged over the datasets.
    """
    pairs = baseline_pairs(delta, key="layer_id")
    rows = []
    for dataset, base in delta[delta["condition"] == BASELINE].groupby("dataset"):
        sub = pairs[pairs["dataset"] == dataset]
        n_pairs = len(sub.groupby(["seed_a", "seed_b"]))
        for metric in metrics:
            pair_means = sub.groupby(["seed_a", "seed_b"])[metric].mean()
            rows.append(
                {
                    "dataset": dataset,
                    "metric": metric,
                    "n_baseline_seeds": base["seed"].nunique(),
                    "n_pairs": n_pairs,
                    "floor": float(np.sqrt(np.nanmean(pair_means**2))) if n_pairs else np.nan,
                    "floor_layer": float(np.sqrt(np.nanmean(sub[metric] ** 2)))
                    if n_pairs
                    else np.nan,
                    "reason": "" if n_pairs else "one baseline seed: no noise floor",
                }
            )
    table = pd.DataFrame(rows)
    if table["dataset"].nunique() > 1:
        for metric, group in table.groupby("metric"):
            known = group["floor"].dropna()
            floor = np.sqrt(np.mean(known**2) / len(known)) if len(known) else np.nan
            layer = group["floor_layer"].dropna()
            rows.append(
                {
                    "dataset": "all",
                    "metric": metric,
                    "n_baseline_seeds": int(group["n_baseline_seeds"].min()),
                    "n_pairs": int(group["n_pairs"].sum()),
                    "floor": float(floor),
                    "floor_layer": float(np.sqrt(np.mean(layer**2) / len(layer)))
                    if len(layer)
                    else np.nan,
                    "reason": "" if len(known) else "one baseline seed: no noise floor",
                }
            )
        table = pd.DataFrame(rows)
    return table


def _floor(noise: pd.DataFrame, metric: str) -> float:
    rows = noise[noise["metric"] == metric]
    pooled = rows[rows["dataset"] == "all"] if (rows["dataset"] == "all").any() else rows
    return float(pooled["floor"].iloc[0]) if len(pooled) == 1 else float("nan")


def noise_label(effect: float, floor: float) -> str:
    if not np.isfinite(floor) or not np.isfinite(effect):
        return "unknown"
    return "within" if abs(effect) <= NOISE_FACTOR * floor else "above"


def category_tests(
    scores: pd.DataFrame,
    metrics: Sequence[str],
    noise: pd.DataFrame,
    *,
    rng: np.random.Generator,
    n_perm: int,
    n_boot: int,
) -> pd.DataFrame:
    """Pairwise category differences of condition scores: permutation p (conditions
    relabelled), Cohen's d and bootstrap CIs (conditions resampled within category)."""
    rows = []
    categories = sorted(scores["category"].unique())
    for metric in metrics:
        floor = _floor(noise, metric)
        for a, b in combinations(categories, 2):
            xa = scores.loc[scores["category"] == a, metric].dropna().to_numpy()
            xb = scores.loc[scores["category"] == b, metric].dropna().to_numpy()
            test = two_group_test(xa, xb, rng=rng, n_perm=n_perm, n_boot=n_boot)
            rows.append(
                {
                    "metric": metric,
                    "a": a,
                    "b": b,
                    "diff": test.diff,
                    "diff_ci_low": test.diff_ci[0],
                    "diff_ci_high": test.diff_ci[1],
                    "d": test.d,
                    "d_ci_low": test.d_ci[0],
                    "d_ci_high": test.d_ci[1],
                    "p_perm": test.p_perm,
                    "exact": test.exact,
                    "n_a": test.n_a,
                    "n_b": test.n_b,
                    "noise_floor": floor,
                    "noise": noise_label(test.diff, floor),
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
    profiles: pd.DataFrame,
    scores: pd.DataFrame,
    metrics: Sequence[str],
    noise: pd.DataFrame,
    *,
    rng: np.random.Generator,
    n_boot: int,
) -> pd.DataFrame:
    """The paper's category means plus a bootstrap CI over conditions and the noise floor."""
    table = category_means(profiles, metrics)
    lows, highs, counts, floors = [], [], [], []
    for row in table.itertuples():
        values = scores.loc[scores["category"] == row.category, row.metric].dropna().to_numpy()
        counts.append(len(values))
        floors.append(_floor(noise, row.metric))
        if len(values) >= MIN_BOOT_GROUP:
            boot = values[rng.integers(0, len(values), size=(n_boot, len(values)))].mean(1)
            lows.append(float(np.percentile(boot, 2.5)))
            highs.append(float(np.percentile(boot, 97.5)))
        else:
            lows.append(np.nan)
            highs.append(np.nan)
    table["n_conditions"] = counts
    table["ci_low"], table["ci_high"] = lows, highs
    table["noise_floor"] = floors
    table["noise"] = [noise_label(m, f) for m, f in zip(table["mean"], floors, strict=True)]
    return table


def _fingerprints_by_dataset(
    cond_layers: pd.DataFrame,
    metrics: Sequence[str],
    key: str,
    references: tuple[str, ...],
    rng: np.random.Generator,
    n_perm: int,
    n_boot: int,
) -> pd.DataFrame:
    """The fingerprint of every condition within each dataset (only when several are pooled)."""
    frames = []
    if cond_layers["dataset"].nunique() > 1:
        for dataset, group in cond_layers.groupby("dataset", sort=True):
            table = fingerprint_table(
                group, metrics, key, references=references, rng=rng, n_perm=n_perm, n_boot=n_boot
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
) -> dict[str, pd.DataFrame]:
    """Every table of the default protocol (see the module docstring and docs/compare.md)."""
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
    noise = noise_floor_table(delta, metrics)
    per_cond = classifier_rows(dd)[["dataset", "condition", "category", "seed", *metrics]]
    return {
        "delta_delta": dd,
        "category_means": category_means_ci(
            profiles, scores, metrics, noise, rng=rngs[0], n_boot=n_boot
        ),
        "layer_profiles": profiles,
        "condition_scores": scores,
        "anova": anova_table(profiles, metrics),
        "ttests": ttest_table(profiles, metrics),
        "correlations": correlation_table(profiles, metrics, key),
        "classifier": classifier_table(dd, metrics),
        "classifier_conditions": per_cond.reset_index(drop=True),
        "noise_floor": noise,
        "omnibus": omnibus_table(scores, metrics, rng=rngs[1], n_perm=n_perm),
        "category_tests": category_tests(
            scores, metrics, noise, rng=rngs[2], n_perm=n_perm, n_boot=n_boot
        ),
        "mixed_model": mixed_model_table(cond_layers, metrics, key),
        "fingerprint": fingerprint_table(
            cond_layers,
            metrics,
            key,
            references=references,
            rng=rngs[3],
            n_perm=n_perm,
            n_boot=n_boot,
        ),
        "fingerprint_by_dataset": _fingerprints_by_dataset(
            cond_layers, metrics, key, references, rngs[6], n_perm, n_boot
        ),
        "dose_response": dose_response_table(dd, runs, metrics, rng=rngs[4], n_boot=n_boot),
        "spectral_vs_accuracy": spectral_vs_outcomes(
            dd, runs, metrics, baseline=baseline, rng=rngs[5], n_boot=n_boot
        ),
    }
