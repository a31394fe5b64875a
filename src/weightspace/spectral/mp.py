"""Marchenko–Pastur fit of the ESD bulk (WeightWatcher 0.7.7's procedure, density fitted once).

Procedure (``mp_fit``): scale the eigenvalues so their mean is 1 (``W_scale`` =
sqrt(n / Σλ)); estimate the density with a linear-kernel KDE (bandwidth 0.1) on 1000 grid
points over [0, λmax + 0.5], dropping grid points with density below 0.01; choose the MP
width sigma by least squares between the MP density and the KDE — a brute-force grid over
sigma in [0.05 s0, 2 s0) in steps of 0.01 s0 (s0 = the sigma whose bulk edge is λmax),
polished by Nelder–Mead, exactly as ``scipy.optimize.brute`` does it. For Q = N/M = 1 the
singular values are fitted to the quarter-circle law instead.

WeightWatcher refits the KDE for every sigma it tries (about 250 times per layer); it does
not depend on sigma, so here it is computed once (by prefix sums, O(grid · log n)).

Bulk edge lambda+ = sigma²(1 + 1/√Q)², lower edge sigma²(1 − 1/√Q)²; ``num_spikes``
counts scaled eigenvalues above lambda+ + sqrt(TW) with the Tracy–Widom width
TW = Q^(-1/2) · lambda+^(2/3) · M^(-2/3); ``mp_softrank`` = lambda+/lambda_max; bulk edges
are reported on the original scale, ``sigma_mp`` on the scaled one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

KDE_BANDWIDTH = 0.1
KDE_GRID = 1000
DENSITY_THRESH = 0.01
PENALTY = 1000.0  # residual WeightWatcher assigns when the MP support misses the density


@dataclass(frozen=True)
class MPFit:
    num_spikes: float
    sigma_mp: float
    mp_softrank: float
    bulk_min: float
    bulk_max: float
    W_scale: float
    reason: str = ""

    def columns(self, prefix: str = "") -> dict[str, float]:
        return {
            f"{prefix}num_spikes": self.num_spikes,
            f"{prefix}sigma_mp": self.sigma_mp,
            f"{prefix}mp_softrank": self.mp_softrank,
            f"{prefix}W_scale": self.W_scale,
            f"{prefix}bulk_max": self.bulk_max,
            f"{prefix}bulk_min": self.bulk_min,
        }


def failed_mp(reason: str) -> MPFit:
    nan = math.nan
    return MPFit(nan, nan, nan, nan, nan, nan, reason)


def linear_kde(data: np.ndarray, grid: np.ndarray, bandwidth: float) -> np.ndarray:
    """Density of a linear (triangular) kernel KDE: mean of (1 − |x − x_i|/h)₊ / h."""
    x = np.sort(data)
    n = x.size
    csum = np.concatenate([[0.0], np.cumsum(x)])
    lo = np.searchsorted(x, grid - bandwidth, side="right")  # first x_i > g - h
    mid = np.searchsorted(x, grid, side="right")  # first x_i > g
    hi = np.searchsorted(x, grid + bandwidth, side="left")  # first x_i >= g + h
    n_left, s_left = mid - lo, csum[mid] - csum[lo]  # points in (g - h, g]
    n_right, s_right = hi - mid, csum[hi] - csum[mid]  # points in (g, g + h)
    dist = (grid * n_left - s_left) + (s_right - grid * n_right)  # Σ |g - x_i| in window
    total = (n_left + n_right) - dist / bandwidth
    return np.maximum(total, 0.0) / (n * bandwidth)


def mp_edges(sigma: float, q: float) -> tuple[float, float]:
    """The MP bulk (λ−, λ+) = (σ(1 ∓ 1/√Q))² on the mean-1 scale, Q = N/M >= 1."""
    return (sigma * (1 - 1 / math.sqrt(q))) ** 2, (sigma * (1 + 1 / math.sqrt(q))) ** 2


def mp_density(x: np.ndarray, q: float, sigma: float | np.ndarray) -> np.ndarray:
    """Marchenko–Pastur density with aspect ratio Q and variance sigma² (0 outside).

    ρ(λ) = Q √((λ+ − λ)(λ − λ−)) / (2π σ² λ) on [λ−, λ+] for the eigenvalues of XᵀX/N,
    X N×M with entry variance σ²; ``x`` must be > 0.
    """
    y = 1.0 / q
    b = (sigma * (1 + np.sqrt(y))) ** 2
    a = (sigma * (1 - np.sqrt(y))) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        val = (1 / (2 * np.pi * sigma * sigma * x * y)) * np.sqrt((b - x) * (x - a))
    return np.nan_to_num(val)


def quarter_circle_density(x: np.ndarray, sigma: float | np.ndarray) -> np.ndarray:
    """Quarter-circle density of singular values (Q = 1), as WeightWatcher evaluates it."""
    with np.errstate(invalid="ignore"):
        return np.nan_to_num((1 / (np.pi * sigma * sigma)) * np.sqrt(4 - x**2))


class _Residual:
    """Sum of squared differences between the MP (or quarter-circle) density and the KDE.

    The KDE is computed once. ``__call__`` is WeightWatcher's ``resid_mp`` objective for one
    sigma; :meth:`grid` evaluates many sigmas at once with the same floating-point
    operations, element for element, so both give identical values.
    """

    def __init__(self, to_fit: np.ndarray, q: float) -> None:
        grid = np.linspace(0, np.max(to_fit) + 0.5, KDE_GRID)
        dens = linear_kde(to_fit, grid, KDE_BANDWIDTH)
        good = dens > DENSITY_THRESH
        self.q = q
        self.zeros = np.zeros(int(np.count_nonzero(dens < DENSITY_THRESH)))
        self.x, self.y = grid[good], dens[good]
        if self.x.size == 0:
            raise ValueError("the density estimate is below 0.01 everywhere")
        self.x_peak = self.x[np.argmax(self.y)]
        self.x_top = np.max(self.x)
        penalty = np.concatenate([np.full(self.x.size, PENALTY), self.zeros])
        self.penalty = float(np.sum(penalty**2))

    def _edges(self, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        b = (sigma * (1 + np.sqrt(1 / self.q))) ** 2
        a = (sigma * (1 - np.sqrt(1 / self.q))) ** 2
        return a, b

    def __call__(self, p: np.ndarray) -> float:
        return float(self.grid(np.asarray(p, dtype=np.float64).ravel()[:1])[0])

    def grid(self, sigmas: np.ndarray) -> np.ndarray:
        """Objective for every sigma in ``sigmas`` (1-D): shape ``(len(sigmas),)``."""
        sig = sigmas[:, None]  # (G, 1)
        x = self.x[None, :]  # (1, L)
        if self.q == 1:
            r = quarter_circle_density(x, sig) - self.y  # (G, L)
            bad = np.zeros(sigmas.size, dtype=bool)
        else:
            r = mp_density(x, self.q, sig) - self.y  # (G, L)
            a, b = self._edges(sigmas)
            bad = (b < self.x_peak) | (b > self.x_top) | (a > self.x_peak)
        full = np.concatenate([r, np.broadcast_to(self.zeros, (sigmas.size, self.zeros.size))], 1)
        out = np.sum(full**2, axis=1)
        out[bad] = self.penalty
        return out


def _brute_fmin(residual: _Residual, sigma_range: slice) -> float:
    """``scipy.optimize.brute(residual, (sigma_range,))`` with its default Nelder–Mead finish.

    The grid is evaluated in one vectorised call; the first minimum starts ``fmin`` exactly
    as ``brute`` does.
    """
    from scipy import optimize

    grid = np.mgrid[sigma_range]  # the grid brute builds for one slice
    start = grid[int(np.argmin(residual.grid(grid)))]
    xopt = optimize.fmin(residual, start, full_output=True, disp=False)[0]
    return float(np.ravel(xopt)[0])


def fit_mp(evals: np.ndarray, *, n: int, m: int) -> MPFit:
    """MP fit of the eigenvalues of an N×M layer (pooled slices); NaN + reason on failure."""
    ev = np.asarray(evals, dtype=np.float64).ravel()
    total = float(np.sum(ev))
    if ev.size == 0 or not math.isfinite(total) or total <= 0.0:
        return failed_mp("no positive eigenvalues to fit")
    q = n / m
    w_scale = math.sqrt(ev.size) / math.sqrt(total)
    scaled = (w_scale * w_scale) * ev  # mean 1
    lmax = float(np.max(scaled))
    s0 = math.sqrt(lmax / (1.0 + 1.0 / math.sqrt(q)) ** 2)
    to_fit = np.sqrt(scaled) if q == 1 else scaled
    try:
        residual = _Residual(to_fit, q)
        sigma = _brute_fmin(residual, slice(0.05 * s0, 2.0 * s0, 0.01 * s0))
    except (ValueError, FloatingPointError) as err:
        return failed_mp(f"MP fit failed: {err}")
    bulk_min, bulk_max = mp_edges(sigma, q)
    tw = 1 / math.sqrt(q) * bulk_max ** (2 / 3) * m ** (-2 / 3)
    num_spikes = int(np.count_nonzero(scaled > bulk_max + math.sqrt(tw)))
    scale2 = w_scale * w_scale
    return MPFit(
        num_spikes=num_spikes,
        sigma_mp=sigma,
        mp_softrank=bulk_max / lmax,
        bulk_min=bulk_min / scale2,
        bulk_max=bulk_max / scale2,
        W_scale=w_scale,
    )
