"""Power-law and truncated power-law tail fits with the ``powerlaw`` 1.5 package's semantics.

WeightWatcher 0.7.7 calls the ``powerlaw`` package (``pl_package="powerlaw"``) for its
truncated power law (``fit="TPL"``/``"E_TPL"``) and for ``fix_fingers="xmin_peak"``. Its
estimator differs from the default one in :mod:`weightspace.spectral.powerlaw`:

- candidate xmins are the *unique* values (optionally restricted to a range), except the
  largest candidate;
- the empirical CDF is that of all data, renormalised above xmin, evaluated at unique values;
  D = max |F_model - F_emp| over those values;
- a power law (no xmax) has the closed-form MLE alpha = 1 + n / Σ ln(x/xmin);
- a truncated power law p(x) ∝ x^-alpha · exp(-Lambda x) on [xmin, ∞) is fitted per candidate
  by Nelder–Mead (``scipy.optimize.fmin``) on the negative log-likelihood from the starting
  point (1 + n / Σ ln(x/xmin), 1/mean(x)); out-of-range parameters (alpha <= 1 or
  Lambda <= 0) score every point at 1e-307, as ``powerlaw`` does;
- the chosen xmin is the first minimal D among in-range fits.

The likelihood and the model CDF are computed with ``powerlaw``'s order of operations; the
upper incomplete gamma function Γ(s, y), s = 1 - alpha < 0, comes from
:mod:`weightspace.spectral.incgamma` (float64, within ~1e-14 of mpmath, which ``powerlaw``
calls) instead of mpmath, ~10x faster.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from weightspace.spectral.incgamma import upper_gamma

_TINY = 1e-307  # powerlaw's 10**sys.float_info.min_10_exp: the likelihood of a misfit point
PL, TPL = "power_law", "truncated_power_law"


@dataclass(frozen=True)
class PackageFit:
    """Result of a ``powerlaw``-package style fit (NaN fields and a reason when it failed)."""

    alpha: float
    Lambda: float  # WeightWatcher's column name
    xmin: float
    D: float
    sigma: float
    reason: str = ""


def _tpl_nll(params: np.ndarray, x: np.ndarray, xmin: float) -> float:
    """-Σ ln p(x) as ``powerlaw`` computes it, operation for operation: p = x^-α e^-Λx C with
    C = Λ^(1-α) / Γ(1-α, Λ xmin), zeros scored 1e-307, out-of-range (α, Λ) scoring every point
    1e-307, summed left to right (Python's ``sum``). The Nelder–Mead path depends on the
    last bits of this value, so the order of operations is kept."""
    alpha, lam = params[0], params[1]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        if not (lam > 0 and alpha > 1):
            lik = np.full(x.size, _TINY)
        else:
            c = lam ** (1 - alpha) / float(upper_gamma(1 - alpha, np.array([lam * xmin]))[0])
            lik = x ** (-alpha) * np.exp(-lam * x) * c
            lik[lik == 0] = _TINY
        return -float(np.cumsum(np.log(lik))[-1])


def fit_tpl_at(x_tail: np.ndarray, xmin: float) -> tuple[float, float, bool]:
    """Nelder–Mead TPL fit of the tail ``x_tail`` (>= xmin): (alpha, Lambda, in_range)."""
    from scipy.optimize import fmin

    alpha0 = 1.0 + x_tail.size / np.sum(np.log(x_tail / xmin))
    start = np.array([alpha0, 1.0 / np.mean(x_tail)])
    with np.errstate(invalid="ignore"):  # fmin's convergence test on inf - inf
        params = fmin(_tpl_nll, start, args=(x_tail, xmin), full_output=False, disp=False)
    alpha, lam = float(params[0]), float(params[1])
    return alpha, lam, bool(lam > 0 and alpha > 1)


def _tpl_cdf(bins: np.ndarray, xmin: float, alpha: float, lam: float) -> np.ndarray:
    """The model CDF at ``bins`` (>= xmin) as ``powerlaw`` computes it: F(x) = 1 - Γ(1-α, Λx)
    / Λ^(1-α), then (F(x) - F(xmin)) / (1 - F(xmin)), all ones when F(xmin) rounds to 1."""
    s = 1.0 - np.float64(alpha)  # numpy scalars: overflow gives inf, as in powerlaw
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        scale = np.float64(lam) ** s
        f_min = 1.0 - float(upper_gamma(s, np.array([lam * xmin]))[0]) / scale
        if f_min == 1.0:
            return np.ones(bins.size)
        return (1.0 - upper_gamma(s, lam * bins) / scale - f_min) / (1.0 - f_min)


def _emp_cdf(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """powerlaw's empirical CDF of sorted ``x``: unique values and the fraction below each."""
    n = float(x.size)
    cdf = np.searchsorted(x, x, side="left") / n
    uniq, idx = np.unique(x, return_index=True)
    return uniq, cdf[idx]


def package_fit(
    data: np.ndarray,
    *,
    distribution: str = PL,
    xmin_range: tuple[float, float] | None = None,
) -> PackageFit:
    """``powerlaw.Fit(data, xmin=xmin_range, xmin_distribution=distribution)`` (continuous).

    ``data``: positive values (zeros and negatives are dropped, as ``powerlaw`` does).
    Returns the fit at the chosen xmin; for a TPL, ``sigma`` is NaN (``powerlaw`` has none).
    """
    x = np.sort(np.asarray(data, dtype=np.float64).ravel())
    x = x[x > 0]
    bins, emp = _emp_cdf(x)
    cand = x
    if xmin_range is not None:
        lo, hi = min(xmin_range), max(xmin_range)
        cand = x[(x >= lo) & (x <= hi)]
    xmins = np.unique(cand)[:-1]
    nan = math.nan
    if xmins.size == 0:
        return PackageFit(nan, nan, nan, nan, nan, "fewer than 2 unique values to fit")
    ds = np.empty(xmins.size)
    alphas = np.empty(xmins.size)
    lams = np.full(xmins.size, nan)
    sigmas = np.full(xmins.size, nan)
    good = np.empty(xmins.size, dtype=bool)
    for j, xmin in enumerate(xmins):
        i0 = int(np.searchsorted(x, xmin, side="left"))
        tail = x[i0:]
        keep = bins >= xmin
        b = bins[keep]
        e = emp[keep]
        e = (e - e[0]) / (1.0 - e[0])
        if distribution == PL:
            alpha = 1.0 + tail.size / float(np.sum(np.log(tail / xmin)))
            ok = alpha > 1
            model = 1.0 - (b / xmin) ** (1.0 - alpha) if ok else np.full(b.size, _TINY)
            sigmas[j] = (alpha - 1.0) / math.sqrt(tail.size)
        else:
            alpha, lam, ok = fit_tpl_at(tail, float(xmin))
            lams[j] = lam
            model = _tpl_cdf(b, float(xmin), alpha, lam) if ok else np.full(b.size, _TINY)
        diff = model - e
        ds[j] = max(float(diff.max()), float(-diff.min()))
        alphas[j] = alpha
        good[j] = ok
    if good.any() and not good.all():
        j = int(np.ma.masked_array(ds, mask=~good).argmin())
    else:
        j = int(np.argmin(ds))
    reason = "" if good[j] else "no in-range fit (alpha <= 1 or Lambda <= 0 everywhere)"
    return PackageFit(
        alpha=float(alphas[j]),
        Lambda=float(lams[j]),
        xmin=float(xmins[j]),
        D=float(ds[j]),
        sigma=float(sigmas[j]),
        reason=reason,
    )
