"""Tail-fit variants: truncated power law, "finger" fixes and a clipped top (``xmax``).

A "finger" is a handful of outlying top eigenvalues (finite-size effects) that drag the
power-law fit to a spuriously large alpha. :class:`TailOptions` selects how the tail is fitted;
:func:`fit_tail` applies it to one pooled ESD, following WeightWatcher 0.7.7's
``fit_powerlaw`` step by step:

- ``xmax=k`` (int): drop the top ``|k|`` eigenvalues before fitting (fails when ``|k|`` is more
  than half of them);
- ``fix_fingers="xmin_peak"``: restrict xmin to the candidates between the lower bound
  ``log10(0.95·peak)`` (sic, WeightWatcher's bound) and ``xmin_max`` (default 1.5·peak), where
  peak is the left edge of the fullest bin of a 100-bin histogram of log10 λ; fitted with the
  ``powerlaw`` package's estimator (:mod:`weightspace.spectral.tpl`; WeightWatcher's own
  estimator fails on every layer with this option);
- ``fix_fingers="clip_xmax"``: refit with the top 2, 3, … eigenvalues removed and keep the
  first fit whose alpha is more than ``finger_thresh`` below the unclipped alpha, stopping at
  alpha <= 2 or after ``max_fingers`` tries (``num_fingers``, ``raw_alpha`` report it);
- ``fit="truncated_power_law"``: a TPL x^-alpha·exp(-Lambda x) fitted per candidate xmin
  (``Lambda`` column); with ``fix_fingers="xmin_peak"`` this is WeightWatcher's ``E_TPL``.

``package="ww"`` uses the default estimator (:func:`fit_power_law`, WeightWatcher's ``WWFit``)
for power laws, ``"powerlaw"`` the ``powerlaw`` 1.5 package's (unique xmins, its KS).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from weightspace.errors import ConfigError, unknown_choice
from weightspace.spectral.powerlaw import PowerLawFit, failed_fit, fit_power_law
from weightspace.spectral.tpl import PL, TPL, PackageFit, fit_tpl_at, package_fit

FITS = (PL, TPL)
FINGER_FIXES = ("xmin_peak", "clip_xmax")
PACKAGES = ("ww", "powerlaw")
MIN_ALPHA = 2.0  # clip_xmax stops once alpha falls to this
DEFAULT_MAX_FINGERS = 10
PEAK_BINS = 100


@dataclass(frozen=True)
class TailOptions:
    """How the ESD tail is fitted (the default is the plain power law of every other mode)."""

    fit: str = PL
    fix_fingers: str | None = None
    xmax: int | None = None  # drop the top |xmax| eigenvalues
    xmin_max: float | None = None
    max_fingers: int = DEFAULT_MAX_FINGERS
    finger_thresh: float = 1.0
    package: str = "ww"

    def __post_init__(self) -> None:
        if self.fit not in FITS:
            raise unknown_choice("tail fit", self.fit, FITS)
        if self.fix_fingers is not None and self.fix_fingers not in FINGER_FIXES:
            raise unknown_choice("fix_fingers", self.fix_fingers, FINGER_FIXES, "Or None.")
        if self.package not in PACKAGES:
            raise unknown_choice("power-law package", self.package, PACKAGES)
        if self.xmax is not None and (
            isinstance(self.xmax, bool) or not isinstance(self.xmax, int) or self.xmax == 0
        ):
            raise ConfigError(
                f"xmax must be None or a non-zero integer (drop that many top eigenvalues), "
                f"got {self.xmax!r}"
            )
        if self.xmax is not None and self.fix_fingers is not None:
            raise ConfigError(
                f"xmax={self.xmax} and fix_fingers={self.fix_fingers!r} cannot be combined "
                "(WeightWatcher 0.7.7 refuses it too); use one of them"
            )

    @property
    def is_default(self) -> bool:
        return self == TailOptions()

    def columns(self) -> list[str]:
        """Extra table columns these options add."""
        cols = ["Lambda"] if self.fit == TPL else []
        if self.fix_fingers == "clip_xmax":
            cols += ["num_fingers", "raw_alpha"]
        return cols


@dataclass(frozen=True)
class TailFit:
    fit: PowerLawFit
    extra: dict[str, Any]


def _from_package(x: np.ndarray, evals: np.ndarray, *, dist: str, xmin_range: Any) -> PowerLawFit:
    return _as_fit(package_fit(x, distribution=dist, xmin_range=xmin_range), x, evals)


def _as_fit(r: PackageFit, x: np.ndarray, evals: np.ndarray) -> PowerLawFit:
    if r.reason or not math.isfinite(r.alpha):
        return failed_fit(r.reason or "fit failed", num_fit_evals=int(x.size))
    return PowerLawFit(
        alpha=r.alpha,
        xmin=r.xmin,
        xmax=math.nan,  # the powerlaw package reports no xmax when none was given
        D=r.D,
        sigma=r.sigma,
        num_pl_spikes=int(np.count_nonzero(evals >= r.xmin)),
        num_fit_evals=int(x.size),
    )


def _pl(x: np.ndarray, evals: np.ndarray, opts: TailOptions, small_n: bool) -> PowerLawFit:
    """Plain power-law fit of the floored eigenvalues ``x``; spikes counted in ``evals``."""
    if opts.package == "powerlaw":
        return _from_package(x, evals, dist=PL, xmin_range=None)
    fit = fit_power_law(x, floor=-math.inf, small_n=small_n)
    if not fit.ok:
        return fit
    spikes = int(np.count_nonzero(evals >= fit.xmin))
    return PowerLawFit(fit.alpha, fit.xmin, fit.xmax, fit.D, fit.sigma, spikes, fit.num_fit_evals)


def peak_xmin(x: np.ndarray) -> float:
    """Left edge of the fullest of 100 log10 bins of ``x`` (WeightWatcher's ESD peak)."""
    counts, edges = np.histogram(np.log10(x), bins=PEAK_BINS)
    return float(10.0 ** edges[int(np.argmax(counts))])


def fit_tail(evals: np.ndarray, opts: TailOptions, *, floor: float, small_n: bool) -> TailFit:
    """Fit the tail of ``evals`` (the pooled ESD, any order) as ``opts`` says.

    ``floor``: eigenvalues ``<= floor`` are dropped before fitting; ``small_n``: the small-N
    estimator of :func:`fit_power_law` (compat mode, ``package="ww"``).
    """
    ev = np.sort(np.asarray(evals, dtype=np.float64).ravel())
    extra: dict[str, Any] = {c: math.nan for c in opts.columns()}
    if opts.fix_fingers == "clip_xmax":
        extra["num_fingers"] = 0
    if opts.xmax is not None:
        k = abs(opts.xmax)
        if k > ev.size / 2:
            why = f"xmax={opts.xmax} drops more than half of the {ev.size} eigenvalues"
            return TailFit(failed_fit(why), extra)
        ev = ev[:-k]
    x = ev[ev > floor]
    if x.size < 2:
        return TailFit(failed_fit(f"{x.size} eigenvalue(s) above the floor {floor:.3g}"), extra)

    if opts.fix_fingers == "xmin_peak":
        peak = peak_xmin(x)
        xmin_max = 1.5 * peak if opts.xmin_max is None else float(opts.xmin_max)
        xmin_range = (math.log10(0.95 * peak), xmin_max)
        r = package_fit(x, distribution=opts.fit, xmin_range=xmin_range)
        fit = _as_fit(r, x, ev)
        if opts.fit == TPL and fit.ok:
            extra["Lambda"] = r.Lambda
        return TailFit(fit, extra)
    if opts.fix_fingers == "clip_xmax":
        fit, n_fingers, raw = _clip_xmax(x, ev, opts, small_n)
        extra.update(num_fingers=n_fingers, raw_alpha=raw)
    elif opts.fit == TPL:
        r = package_fit(x, distribution=TPL)
        if r.reason:
            return TailFit(failed_fit(r.reason, num_fit_evals=int(x.size)), extra)
        spikes = int(np.count_nonzero(ev >= r.xmin))
        fit = PowerLawFit(r.alpha, r.xmin, math.nan, r.D, r.sigma, spikes, int(x.size))
        extra["Lambda"] = r.Lambda
        return TailFit(fit, extra)
    else:
        fit = _pl(x, ev, opts, small_n)
    if opts.fit == TPL and fit.ok:  # clip_xmax chose the tail; report its TPL exponent
        n = int(extra["num_fingers"])
        kept = x[: x.size - n - 1] if n else x  # clip_xmax removed n + 1 eigenvalues
        alpha, lam, _ = fit_tpl_at(kept[kept >= fit.xmin], fit.xmin)
        fit = PowerLawFit(
            alpha, fit.xmin, fit.xmax, fit.D, fit.sigma, fit.num_pl_spikes, fit.num_fit_evals
        )
        extra["Lambda"] = lam
    return TailFit(fit, extra)


def _clip_xmax(
    x: np.ndarray, ev: np.ndarray, opts: TailOptions, small_n: bool
) -> tuple[PowerLawFit, int, float]:
    """WeightWatcher's ``fit_clipped_powerlaw``: (chosen fit, fingers removed, unclipped alpha)."""
    max_fingers = opts.max_fingers
    if max_fingers is None or max_fingers < 0 or max_fingers < x.size / 2:
        max_fingers = DEFAULT_MAX_FINGERS  # (sic) WeightWatcher resets smaller values
    first = _pl(x, ev, opts, small_n)
    if not first.ok:
        return first, 0, math.nan
    best, n_fingers = first, 0
    for idx in range(2, max_fingers):
        if x.size - idx < 2:
            break
        fit = _pl(x[:-idx], ev, opts, small_n)
        if not fit.ok:
            break
        if fit.alpha + opts.finger_thresh < first.alpha:
            best, n_fingers = fit, idx - 1
            break
        if fit.alpha <= MIN_ALPHA:
            break
    return best, n_fingers, first.alpha
