"""weightspace.stats: closed forms against oracles, and calibration of each procedure on
simulations with known truth (the seed-matched linear model, the profile tests, Spearman)."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest
from scipy import stats

from weightspace.stats import (
    AxisPart,
    Design,
    NoiseModel,
    axis_position,
    benjamini_hochberg,
    fit,
    g_interval,
    hedges_g,
    holm,
    omnibus,
    permutation_diff,
    shared_reference_mean,
    smallest_p,
    spearman_test,
    two_group_test,
)
from weightspace.stats.linear import effective_dimension, satterthwaite
from weightspace.stats.permutation import welch_t


def test_welch_permutation_keeps_alpha_with_unequal_spreads():
    """Defect: the raw mean difference rejected 21% at α = 0.05 with equal means, 4 vs 10
    conditions and a 3:1 SD ratio. The Welch-studentized statistic keeps the level."""
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


def test_g_interval_never_contradicts_the_welch_test():
    """Defect: "not distinguishable … d = 1.31 (95% CI [0.63, 3.41]), p = 0.052". An
    interval of g that excludes 0 now implies that Welch's test rejects."""
    rng = np.random.default_rng(7)
    for _ in range(200):
        a = rng.normal(rng.normal(), rng.uniform(0.05, 2), 10)
        b = rng.normal(0, rng.uniform(0.05, 2), 4)
        test = two_group_test(a, b, rng=rng, n_perm=200)
        if test.g_ci[0] > 0 or test.g_ci[1] < 0:
            assert test.p_welch < 0.05


def test_the_test_rejects_exactly_when_the_difference_interval_excludes_zero():
    """Defect: "data diversity and dropout differ … (95% CI [-0.000124, 1.25e-05]) … p =
    0.030": Welch's p took the Welch–Satterthwaite df, the interval Hsu's. Both take Hsu's
    now, so "differ" never sits beside an interval that holds 0."""
    rng = np.random.default_rng(8)
    rejected = 0
    for _ in range(300):
        a = rng.normal(rng.normal(0, 0.6), rng.uniform(0.05, 2), 8)
        b = rng.normal(0, rng.uniform(0.05, 2), 4)
        test = two_group_test(a, b, rng=rng, n_perm=200, effect_size=False)
        excludes = test.diff_ci[0] > 0 or test.diff_ci[1] < 0
        assert excludes == (test.p_welch < 0.05)
        if test.p < 0.05:
            rejected += 1
            assert excludes
    assert 10 < rejected < 290  # both outcomes were exercised


def _correlated(rng: np.random.Generator, n: int, p: int, rho: float) -> np.ndarray:
    """(n, p) rows of AR(1)-correlated standard normal noise."""
    i = np.arange(p)
    chol = np.linalg.cholesky(rho ** np.abs(i[:, None] - i[None, :]))
    return rng.standard_normal((n, p)) @ chol.T


def _design(
    conditions: int, seeds: int, baseline_seeds: int
) -> tuple[list[str], list[int], list[str]]:
    labels, seed, group = [], [], []
    for c in range(conditions + 1):
        name = "bs" if c == 0 else f"c{c}"
        for s in range(baseline_seeds if c == 0 else seeds):
            labels.append(name)
            seed.append(s)
            group.append("bs" if c == 0 else ("a" if c % 2 else "b"))
    return labels, seed, group


def test_linear_fit_equals_seed_matched_means_and_recovers_group_variances():
    """Balanced seeds: a condition's ΔΔ is the seed-matched ΔΔ averaged over seeds; the
    group variances of heteroscedastic noise are recovered without bias, seed shifts of
    any size notwithstanding."""
    rng = np.random.default_rng(0)
    labels, seed, group = _design(12, 4, 4)
    sd = {"bs": 1.0, "a": 2.0, "b": 0.5}
    est = []
    for _ in range(200):
        shift = 50.0 * rng.standard_normal(4)
        y = np.array(
            [shift[s] + sd[g] * rng.standard_normal() for s, g in zip(seed, group, strict=True)]
        )
        model = fit(y, Design.from_labels(labels, seed, group))
        if not est:  # the contrast c1 − bs is the seed-matched ΔΔ averaged over seeds
            yy = y.reshape(13, 4)
            assert model.means[1, 0] - model.means[0, 0] == pytest.approx(np.mean(yy[1] - yy[0]))
        est.append(model.cell_variance()[:, 0])
    got = np.mean(est, axis=0)
    assert got == pytest.approx([sd[g] ** 2 for g in ("bs", "a", "b")], rel=0.12)


def test_groups_without_enough_residual_information_borrow_the_best_estimated_level():
    labels, seed, group = _design(6, 3, 2)  # the baseline: two runs, < 2 residual df
    model = fit(np.random.default_rng(1).standard_normal(len(labels)),
                Design.from_labels(labels, seed, group))  # fmt: skip
    base = model.group_of_run[np.array(labels) == "bs"]
    assert len(set(base)) == 1 and model.n_groups == 2
    assert (model.group_df >= 2).all()


@pytest.mark.parametrize(("seeds", "baseline_seeds"), [(3, 3), (2, 6)])
def test_omnibus_moved_test_keeps_its_level_with_correlated_heteroscedastic_noise(
    seeds, baseline_seeds
):
    """A condition without effect against the baseline: 170 AR(1)-correlated cells (h ≈ 26),
    noisier conditions than baseline, large seed shifts — rejects ≤ 5% (+ MC error), and
    the shape's effective dimension is estimated close to the truth."""
    rng = np.random.default_rng(seeds)
    labels, seed, group = _design(12, seeds, baseline_seeds)
    design = Design.from_labels(labels, seed, group)
    sd = np.array([{"bs": 1.0, "a": 1.5, "b": 1.2}[g] for g in group])
    p_cells, reps, rejected, hs = 170, 200, 0, []
    i = np.arange(p_cells)
    true_c = 0.8 ** np.abs(i[:, None] - i[None, :])
    true_h = np.trace(true_c) ** 2 / np.trace(true_c @ true_c)
    for _ in range(reps):
        shifts = 5.0 * _correlated(rng, max(seeds, baseline_seeds), p_cells, 0.8)
        y = shifts[seed] + sd[:, None] * _correlated(rng, len(labels), p_cells, 0.8)
        model = NoiseModel.of(fit(y, design))
        hs.append(model.h)
        contrast = np.zeros(len(design.conditions))
        contrast[design.index("c1")], contrast[design.index("bs")] = 1.0, -1.0
        rejected += omnibus([(model, contrast)]).p < 0.05
    rate = rejected / reps
    assert rate <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / reps), rate
    assert np.mean(hs) == pytest.approx(true_h, rel=0.2)


def test_omnibus_detects_a_change_of_the_whole_profile():
    rng = np.random.default_rng(3)
    labels, seed, group = _design(6, 3, 3)
    design = Design.from_labels(labels, seed, group)
    y = _correlated(rng, len(labels), 100, 0.5)
    y[np.array(labels) == "c1"] += 0.6  # every cell moved by 0.6 noise SDs
    model = NoiseModel.of(fit(y, design))
    contrast = np.zeros(len(design.conditions))
    contrast[design.index("c1")], contrast[design.index("bs")] = 1.0, -1.0
    test = omnibus([(model, contrast)])
    assert test.p < 1e-3 and test.signal > 0.5


def test_axis_position_fieller_interval_covers_and_the_midpoint_test_keeps_its_level():
    """A profile half-way between two references (θ = ½) plus an orthogonal part: the
    Fieller interval covers ½ and the test of θ = ½ rejects ≤ 5% (+ MC error)."""
    rng = np.random.default_rng(4)
    labels, seed, group = _design(9, 3, 3)
    design = Design.from_labels(labels, seed, group)
    p_cells, reps = 80, 200
    covered = rejected = 0
    for _ in range(reps):
        ref_a, ref_b = 1.0 * rng.standard_normal(p_cells), 1.0 * rng.standard_normal(p_cells)
        axis = ref_b - ref_a
        other = rng.standard_normal(p_cells)
        other -= (other @ axis) / (axis @ axis) * axis
        truth = {"c1": 0.5 * (ref_a + ref_b) + 0.5 * other}
        truth |= {f"c{i}": ref_a for i in (2, 3, 4)} | {f"c{i}": ref_b for i in (5, 6, 7)}
        y = np.array([truth.get(c, np.zeros(p_cells)) for c in labels])
        y = y + _correlated(rng, len(labels), p_cells, 0.5)
        model = NoiseModel.of(fit(y, design))

        def centroid(names):
            out = np.zeros(len(design.conditions))
            for n in names:
                out[design.index(n)] += 1 / len(names)
            return out

        c_a = centroid(["c2", "c3", "c4"])
        a = centroid(["c1"]) - c_a
        v = centroid(["c5", "c6", "c7"]) - c_a
        pos = axis_position([AxisPart(model, a, v)])
        covered += pos.ci_low <= 0.5 <= pos.ci_high
        rejected += pos.p_mid < 0.05
    assert covered / reps >= 0.95 - 2 * math.sqrt(0.05 * 0.95 / reps)
    assert rejected / reps <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / reps)


def test_shared_reference_mean_carries_the_reference_noise():
    """Means of units that all subtract one noisy reference: ignoring the reference's noise
    rejects far too often; carrying it keeps the level."""
    rng = np.random.default_rng(5)
    reps, naive, ours = 400, 0, 0
    for _ in range(reps):
        ref = rng.standard_normal(3)  # the reference's three runs
        units = rng.standard_normal((8, 3)) - ref  # eight units, each against the same runs
        values = units.mean(1)
        shared_var = np.var(ref, ddof=1) / 3
        ours += shared_reference_mean(values, shared_var, 2).p < 0.05
        naive += stats.ttest_1samp(values, 0).pvalue < 0.05
    assert naive / reps > 0.2 and ours / reps <= 0.06


def test_smallest_p_of_small_designs():
    assert smallest_p(2, 2) == pytest.approx(1 / 3)
    assert smallest_p(4, 4) == pytest.approx(2 / 70)
    assert smallest_p(4, 10) == pytest.approx(1 / math.comb(14, 4))
    assert two_group_test(
        [1, 2], [3, 4], rng=np.random.default_rng(0), n_perm=100
    ).min_p == pytest.approx(1 / 3)


def test_satterthwaite_known_parts_and_spearman_reachability():
    assert satterthwaite([1.0, 1.0], [10.0, 10.0]) == pytest.approx(20.0)
    assert satterthwaite([1.0, 0.0], [5.0, 1.0]) == pytest.approx(5.0)
    four = spearman_test(np.arange(4.0), np.arange(4.0), rng=np.random.default_rng(0))
    assert four.min_p == pytest.approx(1 / 12) and not four.reachable
    five = spearman_test(np.arange(5.0), np.arange(5.0), rng=np.random.default_rng(0))
    assert five.min_p == pytest.approx(2 / 120) and five.reachable


def test_effective_dimension_limits():
    rng = np.random.default_rng(6)
    labels, seed, group = _design(10, 4, 4)
    design = Design.from_labels(labels, seed, group)
    independent = fit(rng.standard_normal((len(labels), 30)), design)
    same = fit(np.repeat(rng.standard_normal((len(labels), 1)), 30, axis=1), design)
    assert effective_dimension(independent) == pytest.approx(30, rel=0.25)
    assert effective_dimension(same) == pytest.approx(1.0, abs=0.2)
