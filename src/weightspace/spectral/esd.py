"""Empirical spectral densities: eigenvalues of WᵀW for every slice of a layer at once.

A layer arrives as slices ``(S, N, M)`` with N >= M (S = 1 for a dense matrix, S = number of
kernel positions for a convolution). The eigenvalues of the Gram matrices WᵀW (M×M) of all
slices come from a symmetric eigendecomposition — LAPACK on CPU, or batched on a CUDA device
when asked. By default everything is float64 on either device; only ``precision="float32"``
(opt-in) down-casts, and only the Gram matrix handed to the eigensolver (the weights and the
Gram product stay float64). The pooled ESD is the concatenation of the slice spectra.
:func:`fitted_eigenvalues` is the one place the eigenvalues a layer's fit uses are made (the
report plots the same ones).

Gram eigenvalues carry an absolute error of order M·eps·lambda_max; singular values of
nearly rank-deficient slices are therefore recomputed by SVD where a caller needs them
resolved below that level (:func:`resolve_small`).
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import eigvalsh

from weightspace.spectral.slices import as_slices

__all__ = [
    "PRECISIONS",
    "WW_CONV_SCALE",
    "as_slices",
    "fitted_eigenvalues",
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

    ``slices``: ``(S, N, M)`` with N >= M (see :func:`as_slices`). On CPU the Gram matrix
    comes from numpy (``W.T @ W`` is a symmetric rank-k update there, half a GEMM) and the
    eigenvalues from LAPACK ``syevd`` through scipy; on CUDA both run batched in torch.
    ``precision="float32"`` (opt-in) forms the Gram matrix in float64 and runs only the
    eigensolver in float32 (2–4× faster; absolute error ≈ M·1e-7·lambda_max).
    """
    s, _, m = slices.shape
    if s == 0 or m == 0:
        return np.zeros((s, m))
    if str(device).startswith("cuda"):
        return _cuda_eigenvalues(slices, device, precision)
    w = np.asarray(slices, dtype=np.float64)  # up-cast only
    solve_dtype = np.float32 if precision == "float32" else np.float64
    out = np.empty((s, m))
    for k in range(s):
        gram = (w[k].T @ w[k]).astype(solve_dtype, copy=False)  # (M, M)
        out[k] = eigvalsh(gram, driver="evd", overwrite_a=True, check_finite=False)
    return np.clip(out, 0.0, None)


def _cuda_eigenvalues(slices: np.ndarray, device: str, precision: str) -> np.ndarray:
    import torch

    w = torch.as_tensor(np.asarray(slices, dtype=np.float64)).to(device)  # float64 on device
    gram = w.transpose(-1, -2) @ w  # (S, M, M), float64
    if precision == "float32":  # the opt-in down-cast, of the Gram matrix only
        gram = gram.to(torch.float32)
    evals = torch.linalg.eigvalsh(gram)  # (S, M), ascending
    return np.clip(evals.to(torch.float64).cpu().numpy(), 0.0, None)


def svd_eigenvalues(slices: np.ndarray) -> np.ndarray:
    """Squared singular values per slice, ascending: float64 ``(S, M)`` (LAPACK gesdd)."""
    sv = np.linalg.svd(slices, compute_uv=False)  # (S, M), descending
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
