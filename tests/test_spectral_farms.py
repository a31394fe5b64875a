"""FARMS: alpha of planted heavy-tailed matrices no longer drifts with the aspect ratio Q."""

from __future__ import annotations

import numpy as np
import pytest

from weightspace.errors import ConfigError
from weightspace.spectral import analyze_matrices
from weightspace.spectral.farms import FarmsOptions, submatrices, window_shape


def test_windows_cover_the_matrix_with_one_aspect_ratio() -> None:
    w = np.arange(10 * 4, dtype=float).reshape(1, 10, 4)
    sub = submatrices(w, FarmsOptions(ratio=1.0, overlap=0.5))
    assert sub.shape == (4, 4, 4)  # rows 0, 2, 4, 6 (the last flush with the end)
    covered = {float(v) for v in sub.ravel()}
    assert covered == {float(v) for v in w.ravel()}
    assert window_shape(100, 40, 2.0) == (80, 40)
    assert window_shape(50, 40, 2.0) == (50, 25)
    with pytest.raises(ConfigError):
        FarmsOptions(ratio=0.5)


def _alpha(q: int, *, farms: FarmsOptions | None, reps: int = 6) -> float:
    """Median alpha over ``reps`` Student-t(3) matrices of shape (q·128, 128)."""
    rng = np.random.default_rng(100 + q)
    m = 128
    mats = {f"r{i}": rng.standard_t(3.0, (q * m, m)) for i in range(reps)}  # heavy-tailed entries
    return float(analyze_matrices(mats, farms=farms).alpha.median())


def test_farms_removes_the_aspect_ratio_drift_of_alpha() -> None:
    qs = (1, 2, 4, 8, 16)
    plain = [_alpha(q, farms=None) for q in qs]
    farms = [_alpha(q, farms=FarmsOptions()) for q in qs]
    spread_plain = max(plain) - min(plain)
    spread_farms = max(farms) - min(farms)
    assert plain[-1] - plain[0] > 3.0, plain  # the bias: taller matrices look "under-trained"
    assert spread_farms < 1.2, farms
    assert spread_plain > 3.0 * spread_farms, (plain, farms)
    assert plain[0] == pytest.approx(farms[0])  # Q = 1: the window is the matrix


def test_farms_through_the_weightwatcher_interface() -> None:
    torch = pytest.importorskip("torch")
    import weightspace.weightwatcher as wsw

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 512), torch.nn.Linear(512, 64))
    plain = wsw.WeightWatcher(model=model).analyze()
    farms = wsw.WeightWatcher(model=model).analyze(farms=True)
    assert list(farms.columns) == list(plain.columns)
    assert (farms.num_evals == 64 * 15).all()  # 15 overlapping 64x64 windows of 512x64
    assert not np.allclose(farms.alpha, plain.alpha)
