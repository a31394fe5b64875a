"""Power-law fit: exact pruned search, parameter recovery, parity with powerlaw 1.5 / WWFit."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from weightspace.spectral.powerlaw import (
    fit_power_law,
    search_xmin,
    search_xmin_brute,
    tail_alphas,
)


def _spectrum(rng: np.random.Generator, kind: int, n: int) -> np.ndarray:
    if kind == 0:  # Pareto tail
        return rng.pareto(rng.uniform(0.5, 4.0), n) + 1.0
    if kind == 1:  # Marchenko–Pastur bulk
        w = rng.standard_normal((n + int(rng.integers(0, 200)), n))
        return np.linalg.svd(w, compute_uv=False) ** 2
    if kind == 2:  # many ties
        return np.round(rng.pareto(2.0, n) + 1.0, 1)
    if kind == 3:  # all equal but a few
        x = np.ones(n)
        x[-3:] = [2.0, 2.0, 5.0]
        return x
    return rng.lognormal(0.0, 2.0, n)


def test_pruned_search_equals_brute_force_on_many_spectra() -> None:
    rng = np.random.default_rng(0)
    for t in range(150):
        n = int(rng.integers(2, 400))
        x = np.sort(_spectrum(rng, t % 5, n))
        alphas = tail_alphas(x)
        i_fast, d_fast, _ = search_xmin(x, alphas)
        i_brute, d_brute = search_xmin_brute(x, alphas)
        assert (i_fast, d_fast) == (i_brute, d_brute), (t, n)


def test_pruned_search_evaluates_few_candidates() -> None:
    rng = np.random.default_rng(1)
    x = np.sort(rng.pareto(1.5, 5000) + 1.0)
    _, _, evaluated = search_xmin(x, tail_alphas(x))
    assert evaluated < 100  # brute force evaluates 4999


@pytest.mark.parametrize("alpha", [2.0, 2.5, 3.5, 5.0])
def test_recovers_pareto_exponent(alpha: float) -> None:
    rng = np.random.default_rng(int(alpha * 10))
    x = 3.0 * (rng.pareto(alpha - 1.0, 20000) + 1.0)  # density ∝ x^-alpha for x >= 3
    fit = fit_power_law(x, floor=0.0)
    assert fit.ok
    assert abs(fit.alpha - alpha) < 0.1 * alpha
    assert fit.xmin >= 3.0
    assert fit.sigma == pytest.approx((fit.alpha - 1) / math.sqrt(fit.num_pl_spikes))


def test_pareto_body_below_xmin_is_cut_off() -> None:
    rng = np.random.default_rng(5)
    tail = 10.0 * (rng.pareto(2.0, 5000) + 1.0)  # alpha = 3 above 10
    body = rng.uniform(0.1, 10.0, 5000)
    fit = fit_power_law(np.concatenate([body, tail]), floor=0.0)
    assert 8.0 < fit.xmin < 20.0
    assert abs(fit.alpha - 3.0) < 0.3


def test_failures_are_nan_with_reason() -> None:
    for evals in (np.array([]), np.array([1.0]), np.zeros(10), np.array([1.0, np.nan])):
        fit = fit_power_law(evals, floor=1e-5)
        assert not fit.ok and fit.reason
        assert math.isnan(fit.alpha) and math.isnan(fit.D)
    flat = fit_power_law(np.ones(50), floor=1e-5)  # every tail degenerate
    assert not flat.ok and "degenerate" in flat.reason


def test_floor_drops_small_eigenvalues() -> None:
    rng = np.random.default_rng(2)
    x = rng.pareto(2.0, 300) + 1.0
    with_zeros = np.concatenate([x, np.zeros(50), np.full(20, 1e-7)])
    a, b = fit_power_law(x, floor=1e-5), fit_power_law(with_zeros, floor=1e-5)
    assert (a.alpha, a.xmin, a.D) == (b.alpha, b.xmin, b.D)
    assert a.num_fit_evals == b.num_fit_evals == 300


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    log_c=st.floats(-8, 8),
)
def test_fit_is_scale_invariant_with_relative_floor(seed: int, log_c: float) -> None:
    rng = np.random.default_rng(seed)
    x = rng.pareto(rng.uniform(1.0, 3.0), 200) + 1.0
    c = 10.0**log_c
    a = fit_power_law(x, floor=1e-9 * x.max())
    b = fit_power_law(c * x, floor=1e-9 * (c * x).max())
    assert b.alpha == pytest.approx(a.alpha, rel=1e-9)
    assert b.D == pytest.approx(a.D, rel=1e-9, abs=1e-12)
    assert b.xmin == pytest.approx(c * a.xmin, rel=1e-9)


@pytest.mark.oracle
def test_matches_powerlaw_1_5_on_random_spectra() -> None:
    powerlaw = pytest.importorskip("powerlaw")
    assert powerlaw.__version__ == "1.5"
    rng = np.random.default_rng(3)
    for t in range(24):
        x = _spectrum(rng, [0, 1, 4][t % 3], int(rng.integers(25, 120)))
        assert np.unique(x).size == x.size  # powerlaw 1.5 de-duplicates candidates
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = powerlaw.Fit(x, verbose=False)
        fit = fit_power_law(x, floor=0.0)
        assert fit.alpha == pytest.approx(ref.alpha, rel=1e-9, abs=1e-12), t
        assert fit.xmin == pytest.approx(ref.xmin, rel=1e-12), t
        assert fit.D == pytest.approx(ref.D, rel=1e-9, abs=1e-12), t
        assert fit.sigma == pytest.approx(ref.sigma, rel=1e-9), t


@pytest.mark.oracle
def test_matches_weightwatcher_wwfit_including_ties_and_small_n() -> None:
    pytest.importorskip("weightwatcher")
    from weightwatcher.WW_powerlaw import WWFit

    rng = np.random.default_rng(4)
    for t in range(60):
        n = int(rng.integers(8, 300)) if t % 3 else int(rng.integers(8, 20))  # small-N path too
        x = _spectrum(rng, t % 5, n)
        x = np.concatenate([x, np.zeros(3)])  # dropped by the 1e-5 floor on both sides
        ref = WWFit(x[x > 1e-5])
        fit = fit_power_law(x, floor=1e-5, small_n=True)
        if not (np.isfinite(ref.alpha) and ref.alpha > 1):
            assert not fit.ok  # WeightWatcher reports inf/0/1; we report NaN + reason
            continue
        assert fit.alpha == pytest.approx(ref.alpha, rel=1e-9), t
        assert fit.xmin == ref.xmin, t
        assert fit.D == pytest.approx(ref.D, rel=1e-9, abs=1e-12), t
        assert fit.sigma == pytest.approx(ref.sigma, rel=1e-9), t
