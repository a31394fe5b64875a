"""The upper incomplete gamma function Γ(s, y) = ∫_y^∞ t^(s-1) e^(-t) dt to float64 precision.

The truncated power law needs Γ(1 - alpha, Lambda·x) for alpha > 1, i.e. s < 0, including
s within 1e-8 of 0 (the fit of a Gaussian layer drives alpha to 1) and s near negative
integers. scipy has Γ(s, y) only for s > 0; reaching s < 0 from there by the recurrence
Γ(s, y) = (Γ(s + 1, y) - y^s e^-y) / s cancels catastrophically near those points
(1e-8 relative error at s = -1e-8), which is enough to send a Nelder–Mead search elsewhere.
Here, for s <= 0:

- y >= 1: the continued fraction Γ(s, y) = y^s e^-y / (y + 1 - s - 1(1 - s)/(y + 3 - s - ...)),
  evaluated by the modified Lentz method (all its terms keep one sign for s < 0);
- y < 1: the series Γ(s, y) = Γ(s) - Σ_n (-1)^n y^(s+n) / (n! (s + n)), with the pole of
  Γ(s) at the nearest non-positive integer -m cancelled analytically against the n = m term:
  with s = -m + ε, Γ(s) - (-1)^m y^ε/(m! ε) = (-1)^m/m! · (expm1(L) - expm1(ε ln y))/ε, where
  L = ln Γ(1 + ε) - Σ_{j<=m} ln(1 - ε/j) is summed as ε times a series in ε.

Both agree with mpmath's ``gammainc`` (what the ``powerlaw`` package calls) to ~1e-14
relative over the range the fits use (``tests/test_spectral_fingers.py``).
"""

from __future__ import annotations

import functools
import math

import numpy as np

EULER_GAMMA = 0.5772156649015329
_CF_FROM = 1.0  # y at and above this: continued fraction; below: series
_CF_MAX_ITER = 2000
_CF_TINY = 1e-300
_CF_EPS = 3e-16  # |delta - 1| within about an ulp: converged
_SERIES_TERMS = 30  # 1/30! < 1e-32: enough for y < 1
_ZETA_TERMS = 60  # |ε| <= 0.5: 0.5^60 / 60 < 1e-19

# Each piece exists for arrays (the CDF at every bin) and for one value (the likelihood's
# normaliser, evaluated ~100 times per candidate xmin, where numpy's per-call overhead
# would be 5x the arithmetic); tests compare both to mpmath.


def upper_gamma(s: float, y: np.ndarray) -> np.ndarray:
    """Γ(s, y) for real ``s`` and ``y > 0``, elementwise (float64)."""
    from scipy import special

    y = np.asarray(y, dtype=np.float64)
    s = float(s)
    if s > 0:
        return np.asarray(special.gammaincc(s, y) * special.gamma(s), dtype=np.float64)
    if y.size == 1:
        return np.full(y.shape, upper_gamma_one(s, float(y.ravel()[0])))
    out = np.empty(y.shape, dtype=np.float64)
    big = y >= _CF_FROM
    out[big] = _continued_fraction(s, y[big])
    out[~big] = _series(s, y[~big])
    return out


def upper_gamma_one(s: float, y: float) -> float:
    """Γ(s, y) for one ``s <= 0`` and one ``y > 0``, in Python floats."""
    if y >= _CF_FROM:
        h = _lentz_one(s, y)
        log_prefactor = s * math.log(y) - y
        if log_prefactor > -700.0:
            return _pow(y, s) * math.exp(-y) * h  # two correctly rounded factors
        return math.exp(log_prefactor + math.log(h)) if h > 0 else 0.0
    m, eps, scale, a_part = _pole_parts(s)
    log_y = math.log(y)
    y_s = _pow(y, s)
    rest = 0.0
    term = 1.0  # y^n / n!
    for n in range(_SERIES_TERMS):
        if n:
            term *= y / n
        if n != m:
            rest += (term if n % 2 == 0 else -term) / (s + n)
    rest *= y_s
    if scale == 0.0:
        return -rest
    x = eps * log_y
    b_part = (math.expm1(x) / x if x else 1.0) * log_y
    return scale * (a_part - b_part) - rest


def _pow(y: float, s: float) -> float:
    try:
        return float(y**s)
    except OverflowError:
        return math.inf


def _continued_fraction(s: float, y: np.ndarray) -> np.ndarray:
    """Γ(s, y) for y >= 1 by the modified Lentz method (s <= 0)."""
    if y.size == 0:
        return y.copy()
    h = _lentz(s, y)
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        log_prefactor = s * np.log(y) - y
        direct = np.power(y, s) * np.exp(-y) * h
        via_log = np.exp(log_prefactor + np.log(h))
    return np.where(log_prefactor > -700.0, direct, via_log)


def _lentz(s: float, y: np.ndarray) -> np.ndarray:
    """The continued fraction's value h (Γ(s, y) = y^s e^-y h), elementwise."""
    b = y + 1.0 - s
    c = np.full(y.shape, 1.0 / _CF_TINY)
    d = 1.0 / b
    h = d.copy()
    for i in range(1, _CF_MAX_ITER):
        an = -i * (i - s)
        b = b + 2.0
        d = an * d + b
        d[np.abs(d) < _CF_TINY] = _CF_TINY
        c = b + an / c
        c[np.abs(c) < _CF_TINY] = _CF_TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if np.max(np.abs(delta - 1.0)) <= _CF_EPS:
            break
    return h


def _lentz_one(s: float, y: float) -> float:
    """:func:`_lentz` for one value."""
    b = y + 1.0 - s
    c = 1.0 / _CF_TINY
    d = 1.0 / b
    h = d
    for i in range(1, _CF_MAX_ITER):
        an = -i * (i - s)
        b += 2.0
        d = an * d + b
        d = d if abs(d) >= _CF_TINY else _CF_TINY
        c = b + an / c
        c = c if abs(c) >= _CF_TINY else _CF_TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) <= _CF_EPS:
            break
    return h


def _series(s: float, y: np.ndarray) -> np.ndarray:
    """Γ(s, y) for 0 < y < 1 by the series, with the pole at s = -m cancelled (s <= 0)."""
    if y.size == 0:
        return y.copy()
    m, eps, scale, a_part = _pole_parts(s)
    log_y = np.log(y)
    n, log_fact, sign = (a[np.arange(_SERIES_TERMS) != m] for a in _series_tables())
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        # t_n = (-1)^n y^(s+n) / (n! (s+n)) for n != m, (len(y), terms)
        mag = np.exp(n[None, :] * log_y[:, None] - log_fact[None, :])
        rest = np.power(y, s) * (mag * (sign / (s + n))[None, :]).sum(axis=1)
        if scale == 0.0:
            return -rest
        x = eps * log_y
        safe = np.where(x == 0.0, 1.0, x)
        b_part = np.where(x == 0.0, 1.0, np.expm1(x) / safe) * log_y
        return scale * (a_part - b_part) - rest


@functools.cache
def _pole_parts(s: float) -> tuple[int, float, float, float]:
    """(m, ε, (-1)^m/m!, expm1(L)/ε) for s = -m + ε, |ε| <= 1/2.

    Γ(s) - (-1)^m y^ε/(m! ε) = (-1)^m/m! · (expm1(L)/ε - expm1(ε ln y)/ε) with
    L = ln Γ(1+ε) - Σ_{j<=m} ln(1 - ε/j), L/ε summed as a series in ε. For m >= 30 both
    Γ(s) and the n = m term are below 1/30! of the series and dropped (scale 0).
    """
    m = round(-s)
    eps = s + m  # exact (Sterbenz)
    if m >= _SERIES_TERMS:
        return m, eps, 0.0, 0.0
    coef = _lgamma1p_coefficients()
    lg_over = -EULER_GAMMA  # ln Γ(1+ε)/ε = -γ + Σ_{k>=2} (-1)^k ζ(k)/k ε^(k-1)
    power = 1.0
    for c in coef:
        power *= eps
        lg_over += c * power
    l_over = lg_over
    for j in range(1, m + 1):  # -ln(1 - ε/j)/ε = log1p(u)/(u j), u = -ε/j
        u = -eps / j
        l_over += (math.log1p(u) / u if u else 1.0) / j
    big_l = eps * l_over
    a_part = (math.expm1(big_l) / big_l if big_l else 1.0) * l_over
    scale = (-1.0 if m % 2 else 1.0) * math.exp(-math.lgamma(m + 1.0))
    return m, eps, scale, a_part


@functools.cache
def _series_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n, ln n! and (-1)^n for the series' terms."""
    n = np.arange(_SERIES_TERMS, dtype=np.float64)
    log_fact = np.array([math.lgamma(k + 1.0) for k in n])
    return n, log_fact, np.where(n % 2 == 0, 1.0, -1.0)


@functools.cache
def _lgamma1p_coefficients() -> tuple[float, ...]:
    """(-1)^k ζ(k)/k for k = 2 .. _ZETA_TERMS + 1."""
    from scipy import special

    k = np.arange(2, _ZETA_TERMS + 2, dtype=np.float64)
    return tuple(float(c) for c in special.zeta(k) / k * (-1.0) ** k)
