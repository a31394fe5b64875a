"""Empirical spectral densities: eigenvalues of WᵀW for every slice of a layer at once.

A layer arrives as slices ``(S, N, M)`` with N >= M (S = 1 for a dense matrix, S = number of
kernel positions for a convolution). The eigenvalues of the Gram matrices WᵀW (M×M) of all
slices come from a symmetric eigendecomposition — LAPACK on CPU, or batched on a CUDA device
when asked. Slices may be float32 (the exact widening of bf16/fp16/fp32 weights) or float64;
the Gram product is always float64, formed in row blocks (:func:`gram`) so that a large layer
never needs a float64 copy of all its weights. Only ``precision="float32"`` (opt-in)
down-casts, and only the Gram matrix handed to the eigensolver. The pooled ESD is the concatenation of the slice spectra.
:func:`fitted_eigenvalues` is the one place the eigenvalues a layer's fit uses are made (the
report plots the same ones).

Gram eigenvalues carry an absolute error of order M·eps·lambda_max; singular values of
nearly rank-deficient slices are therefore recomputed by SVD where a caller needs them
resolved below that level (:func:`resolve_small`).
"""

from __future__ import annotations

import numpy as np

from weightspace.spectral.eigensolver import eigvalsh
from weightspace.spectral.slices import as_slices

__all__ = [
    "PRECISIONS",
    "WW_CONV_SCALE",
    "as_slices",
    "fitted_eigenvalues",
    "gram",
    "resolve_small",
    "shuffle_slices",
    "slice_eigenvalues",
    "svd_eigenvalues",
]

EPS64 = float(np.finfo(np.float64).eps)
# Eigenvalues below lambda_max * M * GRAM_NOISE are numerical zeros of a Gram eigensolver.
GRAM_NOISE = 1e3 * EPS64
WW_CONV_SCALE = 0.5  # (sqrt(1/2))², WeightWatcher's conv2d_norm on eigenvalues

PRECISIONS = ("float64", "float32")
GRAM_BLOCK_BYTES = 32 * 2**20  # float64 row block of the blockwise Gram product
MIN_BLOCK_ROWS = 256


def fitted_eigenvalues(
    slices: np.ndarray,
    *,
    ww: bool = False,
    conv_slices: bool = False,
    device: str = "cpu",
    precision: str = "float64",
) -> np.ndarray:
    """Per-slice eigenvalues ``(S, M)`` exactly as a layer's fit uses them.

    ``ww`` (WeightWatcher compat): tiny eigenvalues recomputed by SVD (:func:`resolve_small`)
    and, for pooled convolution slices (``conv_slices``), every eigenvalue × ½
    (WeightWatcher's ``conv2d_norm``). The pooled ESD is ``np.sort(out.ravel())``.
    """
    slice_evals = slice_eigenvalues(slices, device=device, precision=precision)
    if ww:
        slice_evals = resolve_small(slices, slice_evals)
    return slice_evals * (WW_CONV_SCALE if (ww and conv_slices) else 1.0)


def slice_eigenvalues(
    slices: np.ndarray, *, device: str = "cpu", precision: str = "float64"
) -> np.ndarray:
    """Eigenvalues of WᵀW per slice, ascending, clipped at 0: float64 ``(S, M)``.

    ``slices``: ``(S, N, M)`` with N >= M in any float dtype and memory layout (float32
    widenings of half-precision weights, transposed or memory-mapped views); the Gram
    matrix is always formed in float64 by :func:`gram`. On CUDA both steps run batched in
    torch. ``precision="float32"`` (opt-in) runs only the eigensolver in float32 (2–4×
    faster; absolute error ≈ M·1e-7·lambda_max).
    """
    s, _, m = slices.shape
    if s == 0 or m == 0:
        return np.zeros((s, m))
    if str(device).startswith("cuda"):
        return _cuda_eigenvalues(slices, device, precision)
    out = np.empty((s, m))
    for k in range(s):
        g, lower = gram(slices[k])
        if precision == "float32":
            g = g.astype(np.float32)
        out[k] = eigvalsh(g, lower=lower)  # overwrites g
        del g
    return np.clip(out, 0.0, None)


def gram_rows(m: int, *, block_bytes: int | None = None) -> int:
    """Rows per float64 block of an ``(N, m)`` matrix in :func:`gram`."""
    size = GRAM_BLOCK_BYTES if block_bytes is None else int(block_bytes)
    return max(MIN_BLOCK_ROWS, size // (8 * max(m, 1)))


def gram(w: np.ndarray, *, block_bytes: int | None = None) -> tuple[np.ndarray, bool]:
    """The float64 Gram matrix WᵀW (M×M) of an ``(N, M)`` matrix, and which triangle is set.

    ``w`` may be of any float dtype and layout (a transposed or memory-mapped view included);
    it is widened to float64 in blocks of rows of at most ``block_bytes`` (default
    :data:`GRAM_BLOCK_BYTES`, at least :data:`MIN_BLOCK_ROWS` rows), so the memory
    needed is M²·8 bytes plus one block, never a float64 copy of all of W. A matrix that fits
    in one block takes exactly the full product (numpy's ``Wᵀ @ W``, both triangles set:
    returns ``(G, True)``); a taller one is accumulated block by block in place with BLAS
    ``dsyrk`` into the upper triangle of a Fortran-ordered G (returns ``(G, False)``), which
    agrees with the full product to rounding (~1e-15 relative).
    """
    n, m = w.shape
    rows = gram_rows(m, block_bytes=block_bytes)
    if rows >= n:
        full = np.ascontiguousarray(w, dtype=np.float64)  # (N, M)
        return full.T @ full, True
    from scipy.linalg.blas import dsyrk

    g = np.zeros((m, m), order="F")
    for i in range(0, n, rows):
        blk = np.ascontiguousarray(w[i : i + rows], dtype=np.float64)  # (b, M), C order
        # blk.T is Fortran-ordered (M, b): G += blk.T @ blk without copies
        out = dsyrk(1.0, blk.T, beta=1.0, c=g, trans=0, lower=0, overwrite_c=1)
        if out is not g:  # never expected: scipy copied G
            g = out
    return g, False


def _cuda_eigenvalues(slices: np.ndarray, device: str, precision: str) -> np.ndarray:
    import torch

    host = np.array(slices, order="C")  # its own dtype (float32 widenings stay float32)
    w = torch.from_numpy(host).to(device=device, dtype=torch.float64)  # float64 on device
    gram = w.transpose(-1, -2) @ w  # (S, M, M), float64
    if precision == "float32":  # the opt-in down-cast, of the Gram matrix only
        gram = gram.to(torch.float32)
    evals = torch.linalg.eigvalsh(gram)  # (S, M), ascending
    return np.clip(evals.to(torch.float64).cpu().numpy(), 0.0, None)


def svd_eigenvalues(slices: np.ndarray) -> np.ndarray:
    """Squared singular values per slice, ascending: float64 ``(S, M)`` (LAPACK gesdd)."""
    sv = np.linalg.svd(np.asarray(slices, dtype=np.float64), compute_uv=False)  # descending
    return np.sort(sv * sv, axis=1)


def resolve_small(slices: np.ndarray, evals: np.ndarray, *, rel: float = 1e-9) -> np.ndarray:
    """Recompute by SVD the slices whose smallest eigenvalue is below ``rel``·their largest.

    Gram eigenvalues that small are dominated by rounding; singular values from an SVD are
    accurate to eps·sigma_max, which is what rank thresholds on singular values need.
    """
    top = evals[:, -1:]
    bad = np.flatnonzero(evals[:, 0] < rel * top[:, 0])
    if bad.size == 0:
        return evals
    out = evals.copy()
    out[bad] = svd_eigenvalues(slices[bad])
    return out


def shuffle_slices(slices: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each slice's elements permuted at random (the randomized control), same shape."""
    s, n, m = slices.shape
    flat = slices.reshape(s, n * m)  # (S, N·M)
    return rng.permuted(flat, axis=1).reshape(s, n, m)
