"""MP fit internals: the one-off KDE and the vectorised brute-force search."""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize

from weightspace.spectral.mp import _brute_fmin, _Residual, linear_kde


def test_linear_kde_matches_direct_sum() -> None:
    rng = np.random.default_rng(0)
    x = rng.gamma(2.0, 0.5, 700)
    grid = np.linspace(0, x.max() + 0.5, 400)
    direct = np.array([np.sum(np.clip(1 - np.abs(g - x) / 0.1, 0, None)) for g in grid])
    np.testing.assert_allclose(linear_kde(x, grid, 0.1), direct / (x.size * 0.1), atol=1e-12)


def test_vectorised_search_equals_scipy_brute() -> None:
    rng = np.random.default_rng(1)
    for t in range(8):
        m = int(rng.integers(20, 200))
        n = m if t % 4 == 0 else m + int(rng.integers(1, 400))  # Q = 1 uses the quarter circle
        ev = np.linalg.svd(rng.standard_t(4.0, (n, m)), compute_uv=False) ** 2
        scaled = ev * (ev.size / ev.sum())
        q = n / m
        s0 = math.sqrt(scaled.max() / (1 + 1 / math.sqrt(q)) ** 2)
        residual = _Residual(np.sqrt(scaled) if q == 1 else scaled, q)
        sl = slice(0.05 * s0, 2.0 * s0, 0.01 * s0)
        grid = np.mgrid[sl]
        scalar = np.array([residual(np.array([s])) for s in grid])
        np.testing.assert_array_equal(residual.grid(grid), scalar)
        ref = float(np.ravel(optimize.brute(residual, (sl,), full_output=True)[0])[0])
        assert _brute_fmin(residual, sl) == ref
