"""Spectral change vs outcome and the diversity prediction check: conditions as the unit,
per stratum, exact p-values, a minimum n, the outcome's own uncertainty."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from weightspace.compare.outcome import MIN_N, binomial_se
from weightspace.compare.prediction import (
    PAPER_TABLES_ENV,
    paper_prediction_check,
    prediction_correlations,
)
from weightspace.compare.relations import spectral_vs_outcomes
from weightspace.stats.spearman import spearman_test

TABLES = Path(
    os.environ.get(PAPER_TABLES_ENV)
    or Path(__file__).resolve().parents[2] / "shared" / "reference" / "paper-tables"
)
CLIP = TABLES / "clip-rn50"


def _dd_and_runs(rng, slopes, seeds=(0, 1, 2), per_category=8, offsets=None):
    """ΔΔ rows (2 layers) and runs with Δacc = slope[cat] · score + category offset."""
    dd_rows, run_rows = [], []
    for s in seeds:
        run_rows.append({"dataset": "d", "condition": "bs", "category": "bs", "seed": s,
                         "test_acc": 0.7})  # fmt: skip
    for cat, slope in slopes.items():
        for c in range(per_category):
            score = (offsets or {}).get(cat, 0.0) + c / per_category
            for s in seeds:
                name = f"{cat}{c}"
                for layer in (1, 2):
                    dd_rows.append({"dataset": "d", "condition": name, "category": cat,
                                    "seed": s, "layer_id": layer,
                                    "log_norm": score + 0.01 * rng.standard_normal()})  # fmt: skip
                acc = 0.7 + slope * (c / per_category) - 0.3 * (offsets or {}).get(cat, 0.0)
                run_rows.append({"dataset": "d", "condition": name, "category": cat, "seed": s,
                                 "test_acc": acc + 0.002 * rng.standard_normal()})  # fmt: skip
    return pd.DataFrame(dd_rows), pd.DataFrame(run_rows)


def test_spectral_vs_outcome_uses_conditions_within_each_category():
    """Defect: runs as points ("n = 40" over 20 conditions) pooled over categories, where the
    correlation is a contrast between categories. Within dp and wd the sign here is +;
    pooled it would be − (wd sits at higher scores with lower accuracy)."""
    rng = np.random.default_rng(0)
    dd, runs = _dd_and_runs(rng, {"dp": 0.1, "wd": 0.1}, offsets={"dp": 0.0, "wd": 2.0})
    table = spectral_vs_outcomes(dd, runs, ["log_norm"], rng=rng, n_boot=200, n_perm=500)
    table = table.set_index("category")
    assert set(table.index) == {"dp", "wd"}
    assert (table["n"] == 8).all()  # conditions, not 24 runs
    assert (table["rho"] > 0.9).all() and (table["p"] < 0.01).all()
    pooled = stats.spearmanr(
        dd.groupby("condition")["log_norm"].mean(),
        runs[runs.condition != "bs"].groupby("condition")["test_acc"].mean(),
    ).statistic
    assert pooled < 0  # what the pooled, between-category correlation would have said


def test_spearman_test_minimum_n_exact_p_reachability_and_scipy_permutation():
    rng = np.random.default_rng(1)
    x = np.arange(4.0)
    assert np.isnan(spearman_test(x, x, rng=rng, n_boot=100, n_perm=100, min_n=MIN_N).p)
    four = spearman_test(x, x, rng=rng, n_boot=100, n_perm=100)  # four points, perfect ρ
    assert four.p == pytest.approx(1 / 12) and four.min_p == pytest.approx(1 / 12)
    assert not four.reachable  # no four-point test can reach p < 0.05
    x = np.arange(float(MIN_N + 1))
    res = spearman_test(x, x**2, rng=rng, n_boot=100, n_perm=100)
    assert res.exact and res.p == pytest.approx(2 / 720) and res.rho == 1.0 and res.reachable
    # n > 8: scipy's permutation_test with the same generator gives the same number
    x, y = rng.normal(size=12), rng.normal(size=12)
    got = spearman_test(x, y, rng=np.random.default_rng(5), n_boot=0, n_perm=999)
    ref = stats.permutation_test(
        (x, y),
        lambda a, b: abs(stats.spearmanr(a, b).statistic),
        vectorized=False,
        permutation_type="pairings",
        n_resamples=999,
        alternative="greater",
        rng=np.random.default_rng(5),
    )
    assert got.p == pytest.approx(ref.pvalue) and not got.exact


def test_outcome_uncertainty_widens_the_interval():
    """An accuracy gain on 2,000 test images has a binomial SE ≈ 0.013, larger than most
    gains: carried into the interval, ten small gains no longer give a tight ρ."""
    assert binomial_se(np.array([0.7]), 2000)[0] == pytest.approx(np.sqrt(0.21 / 2000))
    rng = np.random.default_rng(2)
    x = np.arange(10.0)
    y = 0.002 * x  # gains of at most 0.018
    tight = spearman_test(x, y, rng=rng, n_boot=500, n_perm=500)
    se = np.sqrt(2) * binomial_se(np.full(10, 0.7), 2000)
    wide = spearman_test(x, y, y_se=se, rng=rng, n_boot=500, n_perm=500)
    assert tight.ci_low > 0.9
    assert wide.ci_low < tight.ci_low - 0.3


def test_prediction_correlations_per_stratum_with_minimum_n():
    rng = np.random.default_rng(3)
    table = pd.DataFrame({
        "kind": ["augment"] * 7 + ["synthetic"] * 4,
        "vs_emb": np.r_[np.arange(7.0), np.arange(4.0)],
        "acc_gain": np.r_[np.arange(7.0) * 0.01, -np.arange(4.0)],
        "acc_gain_se": 0.001,
    })  # fmt: skip
    out = prediction_correlations(table, ["vs_emb"], "acc_gain", stratum="kind",
                                  target_se="acc_gain_se", rng=rng, n_boot=100)  # fmt: skip
    out = out.set_index("stratum")
    assert out.loc["augment", "rho"] == 1.0 and out.loc["augment", "exact"]
    assert out.loc["augment", "p"] == pytest.approx(2 / 5040)
    assert np.isnan(out.loc["synthetic", "rho"]) and out.loc["synthetic", "n"] == 4


@pytest.mark.skipif(not CLIP.is_dir(), reason=f"published tables not found at {TABLES} "
                    f"(set {PAPER_TABLES_ENV})")  # fmt: skip
def test_paper_prediction_check_reproduces_the_published_correlations():
    table = paper_prediction_check(TABLES, n_perm=2000, n_boot=500)
    table = table.set_index(["dataset", "diversity"])
    published = {
        ("cifar10", "embedding"): 0.982, ("cars", "embedding"): 0.891,
        ("domainnet34", "embedding"): 0.150, ("cifar10", "pixel"): -0.936,
        ("cars", "pixel"): 0.227, ("domainnet34", "pixel"): -0.565,
    }  # fmt: skip
    for key, rho in published.items():
        assert table.loc[key, "rho"] == pytest.approx(rho, abs=5e-4), key
        assert table.loc[key, "n"] == 11  # bs + the ten augmentations
        assert table.loc[key, "fisher_low"] < rho < table.loc[key, "fisher_high"]
    assert table.loc[("cifar10", "embedding"), "p_t"] == pytest.approx(8.4e-08, rel=0.01)
    assert table.loc[("domainnet34", "embedding"), "fisher_low"] < 0  # no evidence there


def test_paper_prediction_check_needs_a_folder(tmp_path, monkeypatch):
    from weightspace.errors import DataError

    monkeypatch.delenv(PAPER_TABLES_ENV, raising=False)
    with pytest.raises(DataError, match=PAPER_TABLES_ENV):
        paper_prediction_check()
    with pytest.raises(DataError, match="does not exist"):
        paper_prediction_check(tmp_path / "nowhere")


def test_one_spearman_test_behind_dose_response_outcomes_and_prediction():
    """Dose–response, spectral vs outcome and the prediction check all call
    :func:`spearman_test`: the same points give the same ρ and p everywhere."""
    from weightspace.compare.prediction import prediction_correlations

    rng = np.random.default_rng(4)
    x = np.arange(15.0)
    y = x + rng.normal(0, 4, 15)
    direct = spearman_test(x, y, rng=np.random.default_rng(9), n_boot=300, n_perm=400)
    table = pd.DataFrame({"score": x, "target": y})
    via = prediction_correlations(table, ["score"], "target", rng=np.random.default_rng(9),
                                  n_boot=300, n_perm=400).iloc[0]  # fmt: skip
    assert via["rho"] == direct.rho == pytest.approx(stats.spearmanr(x, y).statistic)
    assert via["p"] == direct.p and via["ci_low"] == direct.ci_low


def test_study_correlations_strata_gain_se_and_family():
    from weightspace.compare.prediction import gain_se, study_correlations

    n = 6
    table = pd.DataFrame({
        "condition": ["bs", *[f"div{i}" for i in range(n)], *[f"gen{i}" for i in range(n)]],
        "synthetic": [False] + [False] * n + [True] * n,
        "test_acc": 0.7 + 0.01 * np.r_[0, np.arange(n), -np.arange(n)],
        "test_acc_std": 0.01,
        "n_seeds": 4,
        "vs_emb": np.r_[0, np.arange(n), np.arange(n)].astype(float),
    })  # fmt: skip
    table["acc_gain"] = table["test_acc"] - 0.7
    se = gain_se(table, baseline="bs", n_test=2000)
    assert se.iloc[0] == 0
    binom = np.sqrt(0.7 * 0.3 / 2000 / 4)
    assert se.iloc[1] == pytest.approx(np.sqrt(2) * max(0.01 / 2, binom), rel=0.02)
    out = study_correlations(table, ["vs_emb"], ["acc_gain"], rng=np.random.default_rng(0),
                             n_boot=200, n_perm=200, n_test=2000)  # fmt: skip
    out = out.set_index("stratum")
    assert out.loc["augmentation", "n"] == n + 1 and out.loc["synthetic", "n"] == n + 1
    assert out.loc["augmentation", "spearman"] > 0.9 > 0 > out.loc["synthetic", "spearman"]
    assert (out["n_family"] == 1).all() and (out["p_adj"] >= out["p"]).all()
    # vs_emb against the gain over the augmentations is the pre-specified question (Holm),
    # with its power; the synthetic stratum is exploratory (BH), without
    assert out.loc["augmentation", "family"].startswith("prediction:")
    assert 0.5 < out.loc["augmentation", "power"] <= 1
    assert out.loc["synthetic", "family"].endswith("(exploratory)")
    assert np.isnan(out.loc["synthetic", "power"])
