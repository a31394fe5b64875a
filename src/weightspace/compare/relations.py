"""Dose–response (metric vs regularizer strength) and spectral change vs accuracy/ECE/OOD.

Dose–response: points are runs (condition × seed, per dataset); a run's spectral score is
its ΔΔ averaged over layers. Spectral vs outcome: points are conditions, per category
(:mod:`weightspace.compare.outcome`). Rank correlations (Spearman) because neither relation need be linear and the
strengths are on very different scales (dropout p vs weight decay λ); 95% CIs by bootstrap
resampling of the runs. Baseline runs are left out: their ΔΔ is 0 by construction.

The dose of an augmentation (``div``) condition is its magnitude level (``augment_level``,
0..10, written by the study from the condition) when the runs table has one: noise, RandAugment,
AugMix and the composite policies sit on one axis; AutoAugment and TrivialAugment have no level
(NaN) and are left out. Tables without that column (WeightWatcher folders) use ``strength``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from weightspace.compare.categories import BASELINE, parse_strength
from weightspace.compare.outcome import condition_outcomes, rank_test
from weightspace.compare.rank import spearman_ci

OUTCOMES = ("test_acc", "test_ece", "ood_acc", "ood_ece", "test_loss", "test_nll", "gap")
RUN_KEY = ["dataset", "condition", "seed"]
LEVEL = "augment_level"


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
    """The column that places a category's runs: ``augment_level`` for ``div`` where the
    runs have one, else ``strength``."""
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
    min_strengths: int = 3,
) -> pd.DataFrame:
    """Spearman ρ (with CI) of each metric and outcome against the dose (``strength``; for
    ``div`` the ``augment_level``: column ``dose``), per dataset and category, where a category
    has at least ``min_strengths`` distinct doses."""
    outcomes = _outcome_columns(runs)
    table = _with_runs(run_scores(dd, metrics), runs, outcomes)
    rows = []
    for (dataset, category), group in table.groupby(["dataset", "category"], sort=True):
        dose = _dose(str(category), group)
        group = group[np.isfinite(group[dose])]
        n_strengths = group[dose].nunique()
        if n_strengths < min_strengths:
            continue
        for kind, names in (("spectral", list(metrics)), ("outcome", outcomes)):
            for name in names:
                y = pd.to_numeric(group[name], errors="coerce").to_numpy(float)
                rho, p, low, high = spearman_ci(
                    group[dose].to_numpy(float), y, rng=rng, n_boot=n_boot
                )
                rows.append(
                    {
                        "dataset": dataset,
                        "category": category,
                        "metric": name,
                        "kind": kind,
                        "rho": rho,
                        "p": p,
                        "ci_low": low,
                        "ci_high": high,
                        "n": int(np.isfinite(y).sum()),
                        "n_strengths": int(n_strengths),
                        "dose": dose,
                    }
                )
    cols = ["dataset", "category", "metric", "kind", "rho", "p", "ci_low", "ci_high", "n",
            "n_strengths", "dose"]  # fmt: skip
    table = pd.DataFrame(rows, columns=cols)
    return table[table["n"] >= 3].reset_index(drop=True)  # outcomes missing for a dataset


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
    same-seed baseline (Δ accuracy, Δ ECE, ...), **conditions** as the points (seeds
    averaged), per dataset and per category (pooled over categories a correlation is a
    contrast between them). p exact for n ≤ 8, else permutation; the interval carries the
    outcome's seed-level SE (and the binomial SE of an accuracy when ``n_test``, or a
    ``n_test`` column of ``runs``, gives the test-set size). At least
    :data:`~weightspace.compare.outcome.MIN_N` conditions per stratum."""
    cols = ["dataset", "category", "metric", "outcome", "rho", "p", "exact", "ci_low",
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
                test = rank_test(group[metric].to_numpy(float), y, y_se=se, rng=rng,
                                 n_boot=n_boot, n_perm=n_perm)  # fmt: skip
                spread = np.nanvar(y, ddof=1) if np.isfinite(y).sum() > 1 else np.nan
                rows.append(
                    {"dataset": dataset, "category": category, "metric": metric,
                     "outcome": outcome, **test, "outcome_se": float(np.nanmean(se)),
                     "noise_share": float(np.nanmean(se**2) / spread) if spread else np.nan}
                )  # fmt: skip
    table = pd.DataFrame(rows, columns=cols)
    return table[table["rho"].notna()].reset_index(drop=True)
