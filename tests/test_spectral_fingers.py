"""Tail-fit variants on synthetic spectra: fingers removed, TPL cut-off recovered, xmax clipping."""

from __future__ import annotations

import math

import numpy as np
import pytest

from weightspace.errors import ConfigError
from weightspace.spectral.fingers import TailOptions, fit_tail, peak_xmin
from weightspace.spectral.powerlaw import fit_power_law
from weightspace.spectral.tpl import PL, TPL, package_fit, upper_gamma


def _pareto(alpha: float, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sort(rng.pareto(alpha - 1.0, n) + 1.0)  # density ∝ x^-alpha on [1, ∞)


def test_upper_gamma_matches_its_defining_integral() -> None:
    from scipy.integrate import quad

    for s in (-2.5, -1.0, -0.3, 0.7):
        for y in (0.05, 0.8, 4.0):
            ref, _ = quad(lambda t, s=s: t ** (s - 1) * math.exp(-t), y, math.inf)
            assert upper_gamma(s, np.array([y]))[0] == pytest.approx(ref, rel=1e-8)


def test_clip_xmax_removes_a_planted_finger() -> None:
    # a narrow Marchenko-Pastur bulk (Q = 6) whose top eigenvalue sticks out by 30%: the
    # plain fit puts xmin inside the bulk's upper edge and reports a spuriously large alpha
    rng = np.random.default_rng(1)
    ev = np.sort(np.linalg.svd(rng.standard_normal((1152, 192)), compute_uv=False) ** 2)
    ev[-1] *= 1.3
    plain = fit_tail(ev, TailOptions(), floor=1e-5, small_n=True).fit
    fixed = fit_tail(ev, TailOptions(fix_fingers="clip_xmax"), floor=1e-5, small_n=True)
    assert fixed.extra["raw_alpha"] == pytest.approx(plain.alpha)
    assert fixed.extra["num_fingers"] == 1
    assert plain.alpha > 10.0 and fixed.fit.alpha < plain.alpha - 1.0


def test_xmax_drops_the_top_eigenvalues() -> None:
    x = _pareto(2.5, 500, 1)
    clipped = fit_tail(x, TailOptions(xmax=-5), floor=0.0, small_n=False).fit
    ref = fit_power_law(x[:-5], floor=0.0)
    assert clipped.alpha == ref.alpha and clipped.xmax == x[-6]
    failed = fit_tail(x, TailOptions(xmax=400), floor=0.0, small_n=False).fit
    assert not failed.ok and "more than half" in failed.reason
    with pytest.raises(ConfigError):
        TailOptions(xmax=-2, fix_fingers="clip_xmax")


def test_truncated_power_law_recovers_planted_cutoff() -> None:
    rng = np.random.default_rng(3)
    alpha, lam, xmin = 1.8, 0.02, 1.0
    # rejection sampling: Pareto(alpha) proposals kept with probability exp(-lam (x - xmin))
    prop = xmin * (1.0 - rng.random(200_000)) ** (-1.0 / (alpha - 1.0))
    x = prop[rng.random(prop.size) < np.exp(-lam * (prop - xmin))][:3000]
    fit = package_fit(x, distribution=TPL, xmin_range=(xmin, xmin * 1.05))
    assert fit.alpha == pytest.approx(alpha, abs=0.1)
    assert fit.Lambda == pytest.approx(lam, rel=0.3)
    pl = package_fit(x, distribution=PL, xmin_range=(xmin, xmin * 1.05))
    assert pl.alpha > fit.alpha  # a plain power law absorbs the cut-off into a steeper slope


def test_xmin_peak_restricts_xmin_near_the_esd_peak() -> None:
    rng = np.random.default_rng(4)
    w = rng.standard_t(3.0, (400, 200))
    ev = np.linalg.svd(w, compute_uv=False) ** 2
    peak = peak_xmin(ev)
    tf = fit_tail(ev, TailOptions(fix_fingers="xmin_peak"), floor=1e-5, small_n=True)
    assert tf.fit.ok
    # candidates run from log10(0.95 peak) (sic, WeightWatcher's bound) up to 1.5 peak
    assert math.log10(0.95 * peak) <= tf.fit.xmin <= 1.5 * peak
    assert tf.fit.xmin != fit_power_law(ev, floor=1e-5).xmin
