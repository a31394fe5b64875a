"""Regression tests for the calibration of the default protocol: every defect as a small
simulation with known truth, oracles for the closed forms."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from weightspace.compare import compare
from weightspace.compare._synthetic import SyntheticStudy, synthetic_tables
from weightspace.compare.calibrate import CalibrationConfig, calibrate, simulate_once
from weightspace.compare.multiplicity import benjamini_hochberg, holm
from weightspace.compare.stats import g_interval, hedges_g, permutation_diff, welch_t


def test_fingerprint_of_a_condition_without_effect_is_not_acts_like():
    """Defect: the old null (references interchangeable) called 80% of no-effect
    augmentations "acts like dropout / weight decay". Now the null is the baseline's own
    seed noise: no-effect conditions next to strong references are not "acts like"."""
    config = CalibrationConfig(scenario="div_null", n_layers=4, seeds=3, n_perm=50)
    rates = [simulate_once(config, np.random.default_rng(s)) for s in range(6)]
    frame = pd.DataFrame(rates)
    acts = (
        frame["div fingerprint 'acts like dropout'"]
        + frame["div fingerprint 'acts like weight decay'"]
    )
    assert acts.mean() <= 0.05  # 60 no-effect conditions


def test_fingerprint_has_power_and_an_explicit_neither():
    config = CalibrationConfig(scenario="div_dp", n_layers=4, seeds=3, n_perm=50)
    rates = pd.DataFrame([simulate_once(config, np.random.default_rng(s)) for s in range(3)])
    assert rates["div fingerprint 'acts like dropout'"].mean() >= 0.6
    assert rates["div fingerprint 'acts like weight decay'"].max() == 0
    # An effect orthogonal to both references is not declared like either.
    spec = SyntheticStudy(
        conditions={"dp0.1": 0.1, "dp0.3": 0.15, "dp0.5": 0.2, "wd0.001": 0.1,
                    "wd0.01": 0.15, "wd0.1": 0.2, "divO": 0.2},
        signature_of={"divO": "div"}, seeds=(0, 1, 2), noise=0.01,
    )  # fmt: skip
    layers, runs, _ = synthetic_tables(spec, rng=np.random.default_rng(3))
    fp = compare(layers, runs=runs, n_perm=50, n_boot=20).tables["fingerprint"]
    verdict = fp.set_index("condition").loc["divO", "verdict"]
    assert not verdict.startswith("acts like"), verdict


def test_welch_permutation_keeps_alpha_with_unequal_spreads():
    """Defect: the raw mean difference rejected 21% at α = 0.05 with equal means, 4 vs 10
    conditions and a 3:1 SD ratio. The Welch-studentized statistic keeps the level."""
    from weightspace.compare.stats import two_group_test

    rng = np.random.default_rng(0)
    reps, raw, welch, test = 300, 0, 0, 0
    for _ in range(reps):
        a, b = rng.normal(0, 3, 4), rng.normal(0, 1, 10)
        raw += permutation_diff(a, b, rng=rng, n_perm=1001, studentize=False)[0] < 0.05
        welch += permutation_diff(a, b, rng=rng, n_perm=1001)[0] < 0.05
        test += two_group_test(a, b, rng=rng, n_perm=1001).p < 0.05
    assert raw / reps > 0.15
    assert welch / reps < raw / reps  # studentizing helps, but alone is still ~13%
    assert test / reps <= 0.09  # max(permutation, Welch t): ~6% (Welch t's own size)


def test_permutation_p_equals_full_enumeration():
    """Exact p (C(9, 4) = 126 splits ≤ n_perm) equals a brute-force enumeration of Welch's
    t; with fewer permutations it is Monte-Carlo with the +1 correction (never 0)."""
    rng = np.random.default_rng(2)
    a, b = rng.normal(1, 1, 4), rng.normal(0, 2, 5)
    values = np.concatenate([a, b])
    observed = abs(welch_t(a, b))
    hits = 0
    splits = list(combinations(range(9), 4))
    for idx in splits:
        mask = np.zeros(9, bool)
        mask[list(idx)] = True
        hits += abs(welch_t(values[mask], values[~mask])) >= observed * (1 - 1e-12)
    p, exact = permutation_diff(a, b, rng=rng, n_perm=1000)
    assert exact and p == pytest.approx(hits / len(splits))
    p_mc, exact_mc = permutation_diff(a + 10, b, rng=rng, n_perm=99)
    assert not exact_mc and p_mc == pytest.approx(1 / 100)


@pytest.mark.parametrize(("n_a", "n_b"), [(4, 6), (4, 10)])
def test_hedges_g_interval_covers(n_a, n_b):
    """Defect: percentile-bootstrap d intervals excluded 0 in 10–13% of null cases at
    n = 4–10. The noncentral-t interval of Hedges' g keeps 95% coverage."""
    rng = np.random.default_rng(n_b)
    reps = 300
    for delta, lo_cov in ((0.0, 0.93), (1.0, 0.92)):
        covered = 0
        for _ in range(reps):
            a, b = rng.normal(delta, 1, n_a), rng.normal(0, 1, n_b)
            low, high = g_interval(hedges_g(a, b), n_a, n_b)
            covered += low <= delta <= high
        assert covered / reps >= lo_cov


def test_g_interval_matches_scipy_noncentral_t():
    from scipy import optimize

    g, n_a, n_b = 0.9, 5, 6
    df, scale = n_a + n_b - 2, np.sqrt(n_a * n_b / (n_a + n_b))
    j = 1 - 3 / (4 * df - 1)
    t = g / j * scale
    lo = optimize.brentq(lambda n: stats.nct.cdf(t, df, n) - 0.975, -20, 20)
    hi = optimize.brentq(lambda n: stats.nct.cdf(t, df, n) - 0.025, -20, 20)
    low, high = g_interval(g, n_a, n_b)
    assert low == pytest.approx(lo / scale * j, abs=1e-3)
    assert high == pytest.approx(hi / scale * j, abs=1e-3)


def test_holm_and_bh_match_statsmodels():
    from statsmodels.stats.multitest import multipletests

    p = np.array([0.001, 0.02, 0.04, 0.3, np.nan, 0.01])
    ok = np.isfinite(p)
    assert holm(p)[ok] == pytest.approx(multipletests(p[ok], method="holm")[1])
    assert benjamini_hochberg(p)[ok] == pytest.approx(multipletests(p[ok], method="fdr_bh")[1])
    assert np.isnan(holm(p)[4]) and np.isnan(benjamini_hochberg(p)[4])


def test_custom_baseline_name_does_not_crash():
    """Defect: default_tables(..., baseline="ctrl") raised KeyError 'dataset' (the noise
    floor hard-coded "bs")."""
    from weightspace.compare import default_tables

    spec = SyntheticStudy(conditions={"dp0.1": 0.1, "dp0.5": 0.2, "wd0.01": 0.1, "wd0.1": 0.2},
                          seeds=(0, 1))  # fmt: skip
    layers, runs, _ = synthetic_tables(spec, rng=np.random.default_rng(0))
    layers = layers.replace({"condition": {"bs": "ctrl"}, "category": {"bs": "ctrl"}})
    runs = runs.replace({"condition": {"bs": "ctrl"}, "category": {"bs": "ctrl"}})
    tables = default_tables(layers, runs=runs, n_perm=20, n_boot=20, baseline="ctrl")
    floor = tables["noise_floor"]
    assert (floor["n_baseline_seeds"] == 2).all() and floor["floor"].notna().all()
    assert "ctrl" not in set(tables["condition_scores"]["condition"])


def test_mixed_model_uses_t_with_condition_degrees_of_freedom():
    """Defect: a Wald z with ~20 condition clusters. Now Student's t, df = conditions −
    categories."""
    spec = SyntheticStudy(conditions={"dp0.1": 0.1, "dp0.5": 0.2, "dp0.7": 0.3, "wd0.01": 0.1,
                                      "wd0.1": 0.2, "wd0.5": 0.3}, seeds=(0, 1))  # fmt: skip
    layers, runs, _ = synthetic_tables(spec, rng=np.random.default_rng(0))
    mixed = compare(layers, runs=runs, n_perm=20, n_boot=20).tables["mixed_model"]
    ok = mixed.dropna(subset=["p"])
    assert len(ok) and (ok["df"] == 6 - 2).all()
    expected = 2 * stats.t.sf(ok["t"].abs(), 4)
    assert ok["p"].to_numpy() == pytest.approx(np.asarray(expected))


@pytest.mark.slow
def test_calibration_small_configuration():
    """The bench's simulation on a small configuration: false-positive rates ≤ 5% (+ Monte
    Carlo slack) for every printed verdict under a true null, power on planted effects."""
    null = calibrate(CalibrationConfig(scenario="null", n_layers=4, seeds=3, n_perm=200),
                     n_studies=30, seed=1)  # fmt: skip
    assert (null <= 0.1).all(), null
    planted = calibrate(CalibrationConfig(scenario="div_dp", n_layers=4, seeds=3, n_perm=200),
                        n_studies=10, seed=2)  # fmt: skip
    assert planted["div fingerprint 'acts like dropout'"] >= 0.6
    assert planted["div–wd test p < 0.05"] >= 0.5
    assert planted["div–dp test p < 0.05"] <= 0.15


def test_g_interval_never_contradicts_the_welch_test():
    """Defect: "not distinguishable … d = 1.31 (95% CI [0.63, 3.41]), p = 0.052". An
    interval of g that excludes 0 now implies that Welch's test rejects."""
    from weightspace.compare.stats import two_group_test

    rng = np.random.default_rng(7)
    for _ in range(200):
        a = rng.normal(rng.normal(), rng.uniform(0.05, 2), 10)
        b = rng.normal(0, rng.uniform(0.05, 2), 4)
        test = two_group_test(a, b, rng=rng, n_perm=200)
        if test.g_ci[0] > 0 or test.g_ci[1] < 0:
            assert test.p_welch < 0.05
