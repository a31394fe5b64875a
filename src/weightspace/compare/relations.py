"""Dose–response (metric vs regularizer strength) and spectral change vs accuracy/ECE/OOD,
both with **conditions** as the points.

A run's spectral score is its ΔΔ averaged over layers; a condition's is the mean over its
seeds (runs of one condition are replicates, not independent points: with runs as points
the test rejected 9.5–31% under no trend once conditions differ from one another). The
statistic is Spearman's ρ (:func:`weightspace.stats.spearman.spearman_test`): exact p over
all orderings for up to eight conditions, a permutation p above. Where the design cannot
reach p < 0.05 at all — four dropout strengths: the smallest exact two-sided p of a perfect
ρ is 1/12 — the row says so (``note``) and carries no p-value instead of a test that could
never reject.

The dose of an augmentation (``div``) condition is its magnitude level (``augment_level``,
0..10, written by the study from the condition) when the runs table has one; AutoAugment and
TrivialAugment have no level (NaN) and are left out. Tables without that column
(WeightWatcher folders) use ``strength``. Spectral vs outcome: per category (pooled over
categories a correlation is mostly a contrast between them), the outcome's change against
the baseline of the same seed, with its seed-level SE in the interval
(:mod:`weightspace.compare.outcome`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from weightspace.compare.categories import BASELINE, parse_strength
from weightspace.compare.outcome import MIN_N, condition_outcomes
from weightspace.stats.spearman import spearman_test

OUTCOMES = ("test_acc", "test_ece", "ood_acc", "ood_ece", "test_loss", "test_nll", "gap")
RUN_KEY = ["dataset", "condition", "seed"]
LEVEL = "augment_level"
DOSE_COLUMNS = ["dataset", "category", "metric", "kind", "rho", "p", "exact", "min_p", "ci_low",
                "ci_high", "n", "n_runs", "dose", "note"]  # fmt: skip


def run_scores(dd: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """ΔΔ averaged over layers: one row per (dataset, condition, category, seed)."""
    cols = ["dataset", "condition", "category", "seed"]
    return dd.groupby(cols, sort=False)[list(metrics)].mean().reset_index()


def _outcome_columns(runs: pd.DataFrame | None) -> list[str]:
    if runs is None:
        return []
    return [
        c
        for c in OUTCOMES
        if c in runs.columns and pd.to_numeric(runs[c], errors="coerce").notna().any()
    ]


def _with_runs(scores: pd.DataFrame, runs: pd.DataFrame | None, outcomes: list[str]):
    """Attach strength (from runs, else parsed from the name) and outcomes to run scores."""
    table = scores.copy()
    table["strength"] = np.nan
    if runs is not None:
        keep = [c for c in [*RUN_KEY, "strength", LEVEL, *outcomes] if c in runs.columns]
        extra = runs[keep].drop_duplicates(RUN_KEY)
        table = table.drop(columns="strength").merge(extra, on=RUN_KEY, how="left")
        if "strength" not in table.columns:
            table["strength"] = np.nan
    parsed = table["condition"].map(parse_strength)
    table["strength"] = pd.to_numeric(table["strength"], errors="coerce").fillna(parsed)
    if LEVEL in table.columns:
        table[LEVEL] = pd.to_numeric(table[LEVEL], errors="coerce")
    return table


def _dose(category: str, group: pd.DataFrame) -> str:
    """The column that places a category's conditions: ``augment_level`` for ``div`` where
    the runs have one, else ``strength``."""
    if category == "div" and LEVEL in group.columns and group[LEVEL].notna().any():
        return LEVEL
    return "strength"


def dose_response_table(
    dd: pd.DataFrame,
    runs: pd.DataFrame | None,
    metrics: Sequence[str],
    *,
    rng: np.random.Generator,
    n_boot: int,
    n_perm: int = 2000,
    min_strengths: int = 3,
) -> pd.DataFrame:
    """Spearman ρ over conditions of each metric and outcome against the dose, per dataset
    and category with at least ``min_strengths`` distinct doses (:data:`DOSE_COLUMNS`)."""
    outcomes = _outcome_columns(runs)
    table = _with_runs(run_scores(dd, metrics), runs, outcomes)
    rows = []
    for (dataset, category), group in table.groupby(["dataset", "category"], sort=True):
        dose = _dose(str(category), group)
        group = group[np.isfinite(group[dose])]
        n_runs = group.groupby("condition").size()
        conditions = group.groupby("condition")[[dose, *metrics, *outcomes]].mean()
        if conditions[dose].nunique() < min_strengths:
            continue
        for kind, names in (("spectral", list(metrics)), ("outcome", outcomes)):
            for name in names:
                y = pd.to_numeric(conditions[name], errors="coerce").to_numpy(float)
                test = spearman_test(conditions[dose], y, rng=rng, n_boot=n_boot, n_perm=n_perm)
                note, p = "", test.p
                if np.isfinite(test.min_p) and not test.reachable:
                    note = (f"{test.n} conditions: the smallest possible p is "
                            f"{test.min_p:.3f}, so no test can reach p < 0.05")  # fmt: skip
                    p = np.nan
                rows.append(
                    {"dataset": dataset, "category": category, "metric": name, "kind": kind,
                     "rho": test.rho, "p": p, "exact": test.exact, "min_p": test.min_p,
                     "ci_low": test.ci_low, "ci_high": test.ci_high, "n": test.n,
                     "n_runs": int(n_runs.sum()), "dose": dose, "note": note}
                )  # fmt: skip
    out = pd.DataFrame(rows, columns=DOSE_COLUMNS)
    return out[out["n"] >= 3].reset_index(drop=True)  # outcomes missing for a dataset


def spectral_vs_outcomes(
    dd: pd.DataFrame,
    runs: pd.DataFrame | None,
    metrics: Sequence[str],
    *,
    baseline: str = BASELINE,
    rng: np.random.Generator,
    n_boot: int,
    n_perm: int = 2000,
    n_test: float | None = None,
) -> pd.DataFrame:
    """Spearman ρ between a condition's spectral score and its outcome change against the
    same-seed baseline (Δ accuracy, Δ ECE, ...), conditions as the points, per dataset and
    category; at least :data:`~weightspace.compare.outcome.MIN_N` conditions. ``n_test`` (or
    a ``n_test`` column of ``runs``): the test-set size, for the binomial SE of accuracies."""
    cols = ["dataset", "category", "metric", "outcome", "rho", "p", "exact", "min_p", "ci_low",
            "ci_high", "n", "outcome_se", "noise_share"]  # fmt: skip
    outcomes = _outcome_columns(runs)
    if not outcomes or runs is None:
        return pd.DataFrame(columns=cols)
    if n_test is None and "n_test" in runs.columns:
        n_test = float(pd.to_numeric(runs["n_test"], errors="coerce").median())
    table = condition_outcomes(
        run_scores(dd, metrics), runs, metrics, outcomes, baseline=baseline, n_test=n_test
    )
    rows = []
    for (dataset, category), group in table.groupby(["dataset", "category"], sort=True):
        for metric in metrics:
            for outcome in outcomes:
                y = group[f"d_{outcome}"].to_numpy(float)
                se = group[f"se_{outcome}"].to_numpy(float)
                test = spearman_test(group[metric], y, y_se=se, rng=rng, n_boot=n_boot,
                                     n_perm=n_perm, min_n=MIN_N)  # fmt: skip
                spread = np.nanvar(y, ddof=1) if np.isfinite(y).sum() > 1 else np.nan
                rows.append(
                    {"dataset": dataset, "category": category, "metric": metric,
                     "outcome": outcome, "rho": test.rho, "p": test.p, "exact": test.exact,
                     "min_p": test.min_p, "ci_low": test.ci_low, "ci_high": test.ci_high,
                     "n": test.n, "outcome_se": float(np.nanmean(se)),
                     "noise_share": float(np.nanmean(se**2) / spread) if spread else np.nan}
                )  # fmt: skip
    out = pd.DataFrame(rows, columns=cols)
    return out[out["rho"].notna()].reset_index(drop=True)
