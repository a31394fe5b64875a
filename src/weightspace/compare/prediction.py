"""Does a diversity score predict accuracy? Condition-level statistics of the check.

:func:`prediction_correlations` correlates scores with an outcome across the conditions of a
study, **per stratum** — augmentation and synthetic-data conditions apart (the paired ρ and
WVS are meaningless for synthetic data, and pooling would make the correlation a contrast
between the two kinds) — with exact/permutation p-values, a minimum number of conditions,
and intervals that carry the outcome's seed-level standard error
(:func:`weightspace.stats.spearman.spearman_test`).

:func:`paper_prediction_check` reruns the paper's evidence from its published
``run-metrics/`` folders (accuracy and pixel / embedding Vendi score per condition): Spearman
ρ(accuracy, VS) over the baseline and the ten augmentations, per dataset, with the paper's
t-approximation p, a permutation p and two 95% intervals — Fisher z with the
Bonett–Wright variance (1 + ρ²/2)/(n − 3), and a percentile bootstrap over conditions
(both from :func:`weightspace.stats.spearman.spearman_test`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from weightspace.compare.categories import BASELINE
from weightspace.compare.load import load_runs
from weightspace.compare.outcome import MIN_N, binomial_se
from weightspace.errors import DataError
from weightspace.stats.effect import CI_LEVEL
from weightspace.stats.multiplicity import benjamini_hochberg, holm
from weightspace.stats.spearman import spearman_test

PAPER_TABLES_ENV = "WEIGHTSPACE_PAPER_TABLES"
VENDI_COLUMNS = {"embedding": "vendi_embedding", "pixel": "vendi_pixel"}
CHECK_COLUMNS = ["stratum", "score", "target", "rho", "p", "exact", "ci_low", "ci_high", "n",
                 "min_p"]  # fmt: skip


def prediction_correlations(
    table: pd.DataFrame,
    scores: Sequence[str],
    target: str,
    *,
    stratum: str | None = None,
    target_se: str | None = None,
    rng: np.random.Generator,
    n_boot: int = 1000,
    n_perm: int = 2000,
    min_n: int = MIN_N,
) -> pd.DataFrame:
    """Spearman ρ of every score against ``target`` across conditions (rows), within each
    value of ``stratum`` (all rows when None); ``target_se``: a column of the target's
    standard errors. Strata with fewer than ``min_n`` conditions give NaN rows."""
    groups = table.groupby(stratum, sort=True) if stratum else [("all", table)]
    rows = []
    for name, group in groups:
        se = group[target_se].to_numpy(float) if target_se else None
        for score in scores:
            if score not in group.columns:
                continue
            test = spearman_test(group[score], group[target], y_se=se, rng=rng, n_boot=n_boot,
                                 n_perm=n_perm, min_n=min_n)  # fmt: skip
            rows.append({"stratum": name, "score": score, "target": target,
                         **dataclasses.asdict(test)})  # fmt: skip
    return pd.DataFrame(rows, columns=CHECK_COLUMNS)


def paper_tables_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The folder of the published tables: ``root``, else ``$WEIGHTSPACE_PAPER_TABLES``."""
    if root is None:
        env = os.environ.get(PAPER_TABLES_ENV)
        if not env:
            raise DataError(
                f"no paper tables folder given; pass root=... or set {PAPER_TABLES_ENV} to "
                "the folder holding clip-rn50/<dataset>/run-metrics/"
            )
        root = env
    path = Path(root)
    if not path.is_dir():
        raise DataError(f"paper tables folder {path} does not exist; pass the right folder")
    return path


def fisher_interval(rho: float, n: int) -> tuple[float, float]:
    """95% interval of Spearman ρ: Fisher z with the Bonett–Wright variance."""
    if n <= 3 or not np.isfinite(rho) or abs(rho) >= 1:
        return float("nan"), float("nan")
    half = stats.norm.ppf(1 - (1 - CI_LEVEL) / 2) * np.sqrt((1 + rho**2 / 2) / (n - 3))
    z = np.arctanh(rho)
    return float(np.tanh(z - half)), float(np.tanh(z + half))


def paper_prediction_check(
    root: str | os.PathLike[str] | None = None,
    *,
    model: str = "clip-rn50",
    seed: int = 0,
    n_perm: int = 20000,
    n_boot: int = 2000,
) -> pd.DataFrame:
    """ρ(accuracy, embedding / pixel VS) over the baseline and the augmentations of every
    dataset of ``<root>/<model>/`` that has accuracies and Vendi scores.

    Columns: dataset, diversity, rho, p_t (scipy's t approximation, as published), p_perm
    (permutation, +1 correction), fisher_low/high, boot_low/high, n, conditions.
    """
    folder = paper_tables_root(root) / model
    if not folder.is_dir():
        raise DataError(f"{folder} does not exist; the paper's {model} tables are not there")
    runs = load_runs(folder)
    if runs is None or "test_acc" not in runs.columns:
        raise DataError(f"{folder} holds no run-metrics/ with accuracies")
    rng = np.random.default_rng(seed)
    rows = []
    for dataset, group in runs.groupby("dataset", sort=True):
        keep = group[(group["category"] == "div") | (group["condition"] == BASELINE)]
        for name, column in VENDI_COLUMNS.items():
            if column not in keep.columns:
                continue
            pair = keep[["condition", "test_acc", column]].dropna()
            if len(pair) < MIN_N:
                continue
            x, y = pair["test_acc"].to_numpy(float), pair[column].to_numpy(float)
            published = stats.spearmanr(x, y)  # its t-approximation p, as the paper printed
            test = spearman_test(x, y, rng=rng, n_perm=n_perm, n_boot=n_boot)
            low, high = fisher_interval(test.rho, len(x))
            rows.append(
                {"dataset": dataset, "diversity": name, "rho": test.rho,
                 "p_t": float(published.pvalue), "p_perm": test.p,
                 "fisher_low": low, "fisher_high": high, "boot_low": test.ci_low,
                 "boot_high": test.ci_high, "n": len(x), "conditions": ",".join(pair["condition"])}
            )  # fmt: skip
    return pd.DataFrame(rows)


#: the pre-specified question of the main job: does the embedding diversity (the Vendi score,
#: and the paper's weighted Vendi score) of the augmented data predict the accuracy gain?
HEADLINE_SCORES = ("vs_emb", "wvs")
HEADLINE_FAMILY = "prediction: diversity vs accuracy gain (Holm)"
EXPLORATORY_FAMILY = "diversity vs outcome (exploratory)"
STUDY_COLUMNS = ["stratum", "score", "target", "n", "spearman", "p", "exact", "min_p", "spearman_lo",
                 "spearman_hi", "kendall", "kendall_lo", "kendall_hi", "family", "n_family",
                 "p_adj", "power"]  # fmt: skip


def gain_se(table: pd.DataFrame, *, baseline: str, n_test: float | None = None) -> pd.Series:
    """Standard error of each condition's accuracy gain over the baseline: the seed spread
    of both (``test_acc_std`` / √``n_seeds``), never below their binomial SEs on ``n_test``
    images when that is known."""
    std = pd.to_numeric(table["test_acc_std"], errors="coerce").fillna(0.0)
    seeds = pd.to_numeric(table["n_seeds"], errors="coerce").clip(lower=1)
    var = std**2 / seeds
    acc = pd.to_numeric(table["test_acc"], errors="coerce")
    binom = pd.Series(binomial_se(acc.to_numpy(float), n_test), index=table.index) ** 2 / seeds
    var = np.maximum(var, binom.fillna(0.0))
    base = table["condition"] == baseline
    base_var = float(var[base].iloc[0]) if base.any() else 0.0
    out = np.sqrt(var + base_var)
    out[base] = 0.0  # the baseline's gain is 0 by definition
    return out


def study_correlations(
    table: pd.DataFrame,
    scores: Sequence[str],
    targets: Sequence[str],
    *,
    baseline: str = BASELINE,
    rng: np.random.Generator,
    n_boot: int = 1000,
    n_perm: int = 2000,
    n_test: float | None = None,
) -> pd.DataFrame:
    """The prediction check's correlations: the data conditions of a study (``table`` with
    ``condition``, ``synthetic``, ``test_acc``, ``test_acc_std``, ``n_seeds``, scores and
    targets) split into the ``augmentation`` and ``synthetic`` strata, the baseline in both;
    ``acc_gain`` carries :func:`gain_se`. Two families: the pre-specified question (the
    embedding Vendi and weighted Vendi scores against the accuracy gain over the
    augmentations, :data:`HEADLINE_SCORES`; Holm, with its ``power`` at the observed
    correlation, :func:`headline_power`) and every other pair (exploratory, BH)."""
    table = table.assign(acc_gain_se=gain_se(table, baseline=baseline, n_test=n_test))
    strata = _strata(table, baseline)
    out = []
    for target in targets:
        se = "acc_gain_se" if target == "acc_gain" else None
        res = prediction_correlations(strata, scores, target, stratum="stratum", target_se=se,
                                      rng=rng, n_boot=n_boot, n_perm=n_perm)  # fmt: skip
        kendall = []
        for row in res.itertuples():
            part = strata[strata["stratum"] == row.stratum][[row.score, target]].dropna()
            ok = np.isfinite(row.rho) and len(part) >= MIN_N
            tau = stats.kendalltau(part[row.score], part[target]).statistic if ok else np.nan
            kendall.append(float(tau))
        out.append(res.assign(kendall=kendall))
    frame = pd.concat(out, ignore_index=True).rename(
        columns={"rho": "spearman", "ci_low": "spearman_lo", "ci_high": "spearman_hi"}
    )
    frame["kendall_lo"] = frame["kendall_hi"] = np.nan
    headline = _headline_rows(frame)
    frame["family"] = np.where(headline, HEADLINE_FAMILY, EXPLORATORY_FAMILY)
    frame["n_family"], frame["p_adj"], frame["power"] = np.nan, np.nan, np.nan
    for mask, adjust in ((headline, holm), (~headline, benjamini_hochberg)):
        frame.loc[mask, "n_family"] = int(frame.loc[mask, "p"].notna().sum())
        frame.loc[mask, "p_adj"] = adjust(frame.loc[mask, "p"].to_numpy(float))
    tested = headline & frame["p"].notna()
    if tested.any():
        frame.loc[tested, "power"] = headline_power(strata, frame[tested], rng=rng)
    return frame[STUDY_COLUMNS]


def _strata(table: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """The augmentation and synthetic strata, the baseline in both."""
    base = table[table["condition"] == baseline]
    others = table[table["condition"] != baseline]
    frames = []
    for name, synthetic in (("augmentation", False), ("synthetic", True)):
        part = pd.concat([base, others[others["synthetic"].astype(bool) == synthetic]])
        frames.append(part.assign(stratum=name))
    return pd.concat(frames, ignore_index=True)


def _headline_rows(frame: pd.DataFrame) -> pd.Series:
    return (frame["stratum"] == "augmentation") & (frame["target"] == "acc_gain") & frame[
        "score"].isin(HEADLINE_SCORES)  # fmt: skip


def headline_power(
    strata: pd.DataFrame, rows: pd.DataFrame, *, rng: np.random.Generator, n_sims: int = 200
) -> np.ndarray:
    """Power of the pre-specified Holm family at the observed correlation: each simulated
    study redraws every condition's accuracy gain from its observed value and standard
    error (the observed gains already hold that noise once, so it is counted twice:
    conservative) and repeats the tests. One value per row of ``rows``."""
    part = strata[strata["stratum"] == "augmentation"]
    gain = part["acc_gain"].to_numpy(float)
    se = np.nan_to_num(part["acc_gain_se"].to_numpy(float))
    scores = [part[s].to_numpy(float) for s in rows["score"]]
    hits = np.zeros(len(scores))
    for _ in range(n_sims):
        noisy = gain + se * rng.standard_normal(len(gain))
        ps = [spearman_test(x, noisy, rng=rng, n_boot=0, n_perm=200, min_n=MIN_N).p for x in scores]
        hits += holm(np.array(ps)) < 0.05
    return hits / n_sims
