"""Tail-fit variants on synthetic spectra: fingers removed, TPL cut-off recovered, xmax clipping."""

from __future__ import annotations

import contextlib
import io
import math
import warnings

import numpy as np
import pytest

from weightspace.errors import ConfigError
from weightspace.spectral.fingers import TailOptions, fit_tail, peak_xmin
from weightspace.spectral.incgamma import upper_gamma
from weightspace.spectral.powerlaw import fit_power_law
from weightspace.spectral.tpl import PL, TPL, package_fit


def _pareto(alpha: float, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sort(rng.pareto(alpha - 1.0, n) + 1.0)  # density ∝ x^-alpha on [1, ∞)


def test_upper_gamma_matches_its_defining_integral() -> None:
    from scipy.integrate import quad

    for s in (-2.5, -1.0, -0.3, 0.7):
        for y in (0.05, 0.8, 4.0):
            ref, _ = quad(lambda t, s=s: t ** (s - 1) * math.exp(-t), y, math.inf)
            assert upper_gamma(s, np.array([y]))[0] == pytest.approx(ref, rel=1e-8)


# s near 0 (the TPL fit of a Gaussian layer drives alpha to 1), near negative integers,
# large |s|; y on both sides of the series / continued-fraction switch at 1
GAMMA_S = [-1e-12, -1e-8, -1e-3, -0.3, -0.5, -0.7, -0.999999, -1.0, -1.0000001, -2.5, -9.5,
           -29.6, -30.2, -57.6]  # fmt: skip
GAMMA_Y = [1e-6, 1e-3, 0.1, 0.56, 0.9, 0.99, 1.0, 1.01, 3.0, 30.0, 300.0]


def test_upper_gamma_matches_mpmath_near_poles_and_zero() -> None:
    mpmath = pytest.importorskip("mpmath")
    y = np.array(GAMMA_Y)
    for s in GAMMA_S:
        ref = np.array([float(mpmath.gammainc(s, v)) for v in GAMMA_Y])
        ok = (ref > 1e-300) & (ref < 1e300)  # compare where float64 holds the value
        vector = upper_gamma(s, y)
        one = np.array([upper_gamma(s, np.array([v]))[0] for v in GAMMA_Y])  # scalar path
        np.testing.assert_allclose(vector[ok], ref[ok], rtol=2e-14, err_msg=f"s={s}")
        np.testing.assert_allclose(one[ok], ref[ok], rtol=2e-14, err_msg=f"s={s} (scalar)")


def test_upper_gamma_is_accurate_where_mpmath_default_precision_is_not() -> None:
    """At s = -110.44, y = 29.54 mpmath's 15-digit gammainc is 6 % off (its 40-digit value
    agrees with the continued fraction here): the one place the two may differ."""
    mpmath = pytest.importorskip("mpmath")
    s, y = -110.44371167517706, 29.53668718542591
    with mpmath.workdps(40):
        exact = float(mpmath.gammainc(s, y))
    assert upper_gamma(s, np.array([y]))[0] / exact == pytest.approx(1.0, rel=1e-13)
    assert abs(float(mpmath.gammainc(s, y)) / exact - 1.0) > 0.01


def _esd(kind: str, shape: tuple[int, int]) -> np.ndarray:
    rng = np.random.default_rng(0)
    w = rng.standard_normal(shape) if kind == "gauss" else rng.standard_t(3.0, shape)
    ev = np.linalg.svd(w / math.sqrt(shape[0]), compute_uv=False) ** 2
    return np.sort(ev[ev > 1e-5])


@pytest.mark.oracle
@pytest.mark.parametrize("kind", ["gauss", "student_t"])
def test_truncated_power_law_equals_powerlaw_package(kind: str) -> None:
    """TPL (Gaussian ESD: alpha runs to the boundary 1) and E_TPL (heavy-tailed ESD, xmin
    range around the peak) give powerlaw 1.5's alpha, Lambda, xmin and D."""
    powerlaw = pytest.importorskip("powerlaw")
    x = _esd(kind, (300, 120))
    xmin_range = None
    if kind == "student_t":
        peak = peak_xmin(x)
        xmin_range = (math.log10(0.95 * peak), 1.5 * peak)
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        ref = powerlaw.Fit(x, xmin=xmin_range, distribution=TPL, xmin_distribution=TPL,
                           verbose=False)  # fmt: skip
        ref_alpha, ref_lambda = ref.truncated_power_law.alpha, ref.truncated_power_law.Lambda
    ours = package_fit(x, distribution=TPL, xmin_range=xmin_range)
    assert ours.xmin == ref.xmin
    assert ours.alpha == pytest.approx(ref_alpha, rel=1e-9)
    assert ours.Lambda == pytest.approx(ref_lambda, rel=1e-9)
    assert ours.D == pytest.approx(ref.D, rel=1e-9)


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
