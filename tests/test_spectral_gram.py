"""Blockwise float64 Gram product and exact reads of half-precision safetensors."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.linalg import eigvalsh

from weightspace.spectral import analyze, esd
from weightspace.spectral.analyze import analyze_matrices
from weightspace.spectral.esd import gram, slice_eigenvalues
from weightspace.spectral.load import open_store
from weightspace.spectral.slices import as_stack, to_slices


def _full_evals(w: np.ndarray) -> np.ndarray:
    """The reference: one float64 C-contiguous copy, full Wᵀ W, LAPACK evd."""
    full = np.array(w, dtype=np.float64, order="C")
    return np.clip(eigvalsh(full.T @ full, driver="evd"), 0.0, None)


def _heavy(n: int, m: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_t(3.0, size=(n, m)) / np.sqrt(m)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("transposed", [False, True])
def test_blockwise_gram_matches_full_gram(dtype: type, transposed: bool) -> None:
    w = _heavy(3000, 160, seed=1).astype(dtype)  # (N, M)
    src = np.ascontiguousarray(w.T).T if transposed else w  # same values, column-major view
    g, lower = gram(src, block_bytes=8 * 160 * 300)  # 300-row blocks: 10 of them
    assert not lower and g.flags.f_contiguous
    full = np.asarray(w, dtype=np.float64)
    ref = full.T @ full
    upper = np.triu_indices(160)
    np.testing.assert_allclose(g[upper], ref[upper], rtol=1e-12, atol=1e-12 * ref.max())
    evals = np.clip(eigvalsh(g, lower=False), 0.0, None)
    ref_evals = _full_evals(w)
    assert np.max(np.abs(evals - ref_evals)) <= 1e-12 * ref_evals[-1]


def test_single_block_is_the_full_product_bit_for_bit() -> None:
    w = _heavy(400, 90, seed=2)
    got = slice_eigenvalues(w[None])
    np.testing.assert_array_equal(got[0], _full_evals(w))
    # float32 weights: the same eigenvalues as their exact float64 widening
    w32 = w.astype(np.float32)
    np.testing.assert_array_equal(
        slice_eigenvalues(to_slices(w32)), slice_eigenvalues(w32.astype(np.float64)[None])
    )


def test_gram_never_copies_the_whole_matrix_to_float64(monkeypatch: pytest.MonkeyPatch) -> None:
    n, m = 6000, 200
    w = _heavy(n, m, seed=3).astype(np.float32)
    block = 8 * m * 256
    monkeypatch.setattr(esd, "GRAM_BLOCK_BYTES", block)
    wide = np.ascontiguousarray(w.T)  # (M, N) as stored; as_stack makes it a (1, N, M) view
    tracemalloc.start()
    try:
        slice_eigenvalues(as_stack(wide), precision="float64")
        gram(w, block_bytes=block)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert n * m * 8 > 9_000_000  # a float64 copy would be 9.6 MB
    assert peak < 3 * (m * m * 8 + block) + 1_000_000, peak


def _write(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    from safetensors.torch import save_file

    save_file(tensors, str(path))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32, torch.float64])
def test_safetensors_reads_are_exact(tmp_path: Path, dtype: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(0)
    w = (torch.randn(70, 30, generator=gen) * 3).to(dtype)
    extra = torch.randn(5, 4, generator=gen).to(dtype)
    _write(tmp_path / "w.safetensors", {"a.weight": w, "b.weight": extra})
    store = open_store(tmp_path / "w.safetensors")
    exact = w.to(torch.float64).numpy()
    got = store.read("a.weight")
    assert got.dtype == (np.float64 if dtype == torch.float64 else np.float32)
    np.testing.assert_array_equal(got.astype(np.float64), exact)
    rows = store.read("a.weight", slice(10, 25))
    np.testing.assert_array_equal(rows.astype(np.float64), exact[10:25])
    np.testing.assert_array_equal(
        store.read("b.weight").astype(np.float64), extra.to(torch.float64).numpy()
    )
    if dtype in (torch.float32, torch.float64):
        assert not got.flags.writeable  # a read-only map of the file, not a copy


def test_bf16_extremes_widen_exactly(tmp_path: Path) -> None:
    vals = torch.tensor(
        [[0.0, -0.0, 1.0, -2.5], [1e-40, -3e38, 3e38, 7.0], [float("inf"), 1.5, -1.5, 0.25]]
    ).to(torch.bfloat16)
    _write(tmp_path / "x.safetensors", {"w": vals})
    got = open_store(tmp_path / "x.safetensors").read("w")
    np.testing.assert_array_equal(got, vals.to(torch.float32).numpy())


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32, torch.float64])
def test_alpha_identical_to_the_float64_path(tmp_path: Path, dtype: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(7)
    tensors = {
        "tall.weight": torch.distributions.StudentT(3.0).sample((300, 80)) / 9,
        "wide.weight": torch.randn(60, 250, generator=gen) / 16,
        "conv.weight": torch.randn(40, 24, 3, 3, generator=gen) / 8,
    }
    tensors = {k: v.to(dtype) for k, v in tensors.items()}
    _write(tmp_path / "m.safetensors", tensors)
    for compat in (None, "ww"):
        got = analyze(tmp_path / "m.safetensors", compat=compat, threads=1, min_evals=0)
        ref = analyze_matrices(
            {  # the old path: one float64 C-contiguous copy per layer (conv: its 9 slices)
                k.removesuffix(".weight"): np.ascontiguousarray(
                    to_slices(v.to(torch.float64).numpy()) if v.ndim == 4 else v.double().numpy()
                )
                for k, v in tensors.items()
            },
            conv_slices=True,
            compat=compat,
        )
        cols = ["alpha", "xmin", "D", "lambda_max", "stable_rank", "entropy", "log_norm"]
        assert sorted(got.longname) == sorted(ref.longname)
        pd.testing.assert_frame_equal(
            got.set_index("longname").loc[ref.longname, cols],
            ref.set_index("longname")[cols],
            check_exact=True,
        )


def test_parallel_workers_give_the_same_rows(tmp_path: Path) -> None:
    gen = torch.Generator().manual_seed(3)
    tensors = {f"l{i}.weight": torch.randn(90, 40 + i, generator=gen) for i in range(5)}
    _write(tmp_path / "p.safetensors", {k: v.to(torch.bfloat16) for k, v in tensors.items()})
    one = analyze(tmp_path / "p.safetensors", threads=1)
    two = analyze(tmp_path / "p.safetensors", threads=2)
    pd.testing.assert_frame_equal(one, two, check_exact=True)


def test_analysing_safetensors_never_imports_torch(tmp_path: Path) -> None:
    import subprocess
    import sys

    w = torch.randn(64, 40, generator=torch.Generator().manual_seed(5)).to(torch.bfloat16)
    _write(tmp_path / "w.safetensors", {"fc.weight": w})
    code = (
        "import sys; from weightspace.spectral import analyze; "
        f"df = analyze({str(tmp_path / 'w.safetensors')!r}, threads=1); "
        "assert df.status.iloc[0] == 'success', df; "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"  # torch alone would add ~0.7 GB of resident memory


@pytest.fixture
def solver_env(monkeypatch: pytest.MonkeyPatch):
    """Set WEIGHTSPACE_EIGENSOLVER for one test (the solver is chosen once per process)."""
    from weightspace.spectral import eigensolver

    def use(name: str) -> None:
        monkeypatch.setenv("WEIGHTSPACE_EIGENSOLVER", name)
        eigensolver._routine.cache_clear()

    yield use
    monkeypatch.delenv("WEIGHTSPACE_EIGENSOLVER", raising=False)
    eigensolver._routine.cache_clear()


def test_the_set_up_provides_the_fastest_eigensolver() -> None:
    from weightspace.spectral import eigensolver

    assert eigensolver.solver() == "mkl"  # the `fast` extra, installed by scripts/bootstrap.sh


@pytest.mark.parametrize("name", ["mkl", "openblas-2stage", "scipy"])
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("lower", [True, False])
def test_every_eigensolver_matches_scipy_reading_one_triangle(
    solver_env, name: str, order: str, lower: bool
) -> None:
    from scipy.linalg import eigh

    from weightspace.spectral import eigensolver

    solver_env(name)
    assert eigensolver.solver() == name
    m = eigensolver.MIN_FAST + 37
    x = np.random.default_rng(0).standard_normal((m, m + 50))
    g = x @ x.T
    want = eigh(g, eigvals_only=True)
    a = np.array(g, order=order)
    a[np.triu_indices(m, 1) if lower else np.tril_indices(m, -1)] = np.nan  # never read
    got = eigensolver.eigvalsh(a, lower=lower)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * want[-1])


def test_an_unknown_eigensolver_is_a_config_error(solver_env) -> None:
    from weightspace.errors import ConfigError
    from weightspace.spectral import eigensolver

    solver_env("lapack")
    with pytest.raises(ConfigError, match="mkl, openblas-2stage, scipy"):
        eigensolver.solver()
