"""Eigenvalues of a symmetric float64 matrix: LAPACK's two-stage ``dsyevd`` when available.

Only eigenvalues are needed, and for those the two-stage reduction (dense → band with BLAS-3,
band → tridiagonal by bulge chasing; LAPACK ≥ 3.7) does the work that dominates the
one-stage ``dsyevd`` of :func:`scipy.linalg.eigh` — a Householder tridiagonalisation that
is half matrix–vector products, bound by memory bandwidth — with matrix–matrix products
instead: 1.6–1.9× faster single-threaded for M = 2048–4096 (docs/benchmarks.md), with the
same backward stability (eigenvalues agree to ~1e-14 relative).

SciPy does not wrap the two-stage routines, but the OpenBLAS that NumPy and SciPy load
exports them through LAPACKE; :func:`eigvalsh` finds ``LAPACKE_dsyevd_2stage`` there with
ctypes (the library located by threadpoolctl, as the thread limits are) and otherwise uses
SciPy's one-stage ``dsyevd``. ``WEIGHTSPACE_EIGENSOLVER=evd`` forces the latter;
:func:`solver` says which one runs.
"""

from __future__ import annotations

import ctypes
import functools
import os
from collections.abc import Callable

import numpy as np
from scipy.linalg import eigh

MIN_TWO_STAGE = 1024  # below this the one-stage solver is as fast or faster (measured)
_COL_MAJOR = 102
_NAMES = (  # (symbol, 64-bit integers?)
    ("scipy_LAPACKE_dsyevd_2stage", False),
    ("LAPACKE_dsyevd_2stage", False),
    ("scipy_LAPACKE_dsyevd_2stage64_", True),
    ("LAPACKE_dsyevd_2stage64_", True),
)


@functools.cache
def _two_stage() -> tuple[Callable[..., int], type] | None:
    if os.environ.get("WEIGHTSPACE_EIGENSOLVER", "").strip().lower() == "evd":
        return None
    from threadpoolctl import threadpool_info

    for info in threadpool_info():
        if info.get("internal_api") != "openblas" or not info.get("filepath"):
            continue
        try:
            lib = ctypes.CDLL(info["filepath"])
        except OSError:
            continue
        for name, wide in _NAMES:
            func = getattr(lib, name, None)
            if func is None:
                continue
            integer = ctypes.c_int64 if wide else ctypes.c_int32
            func.restype = integer
            func.argtypes = [ctypes.c_int, ctypes.c_char, ctypes.c_char, integer,
                             ctypes.c_void_p, integer, ctypes.c_void_p]  # fmt: skip
            return func, integer
    return None


def solver() -> str:
    """``"dsyevd_2stage"`` when the two-stage routine was found, else ``"dsyevd"``."""
    return "dsyevd_2stage" if _two_stage() is not None else "dsyevd"


def eigvalsh(g: np.ndarray, *, lower: bool = True) -> np.ndarray:
    """Ascending eigenvalues of the symmetric matrix ``g`` (float32 or float64), of which only
    the ``lower`` (else upper) triangle is read. ``g`` is overwritten."""
    two_stage = _two_stage()
    m = g.shape[0]
    if two_stage is None or g.dtype != np.float64 or m < MIN_TWO_STAGE:
        return eigh(g, lower=lower, eigvals_only=True, driver="evd", overwrite_a=True,
                    check_finite=False)  # fmt: skip
    func, integer = two_stage
    if g.flags.f_contiguous:
        a, uplo = g, (b"L" if lower else b"U")
    elif g.flags.c_contiguous:  # the transpose, column-major: the other triangle
        a, uplo = g, (b"U" if lower else b"L")
    else:
        a, uplo = np.asfortranarray(g), (b"L" if lower else b"U")
    w = np.empty(m)
    info = func(_COL_MAJOR, b"N", uplo, integer(m), a.ctypes.data, integer(m), w.ctypes.data)
    if info != 0:  # the input is partly overwritten by now: no retry on it
        raise np.linalg.LinAlgError(
            f"LAPACK dsyevd_2stage failed (info = {info}) on a {m}×{m} Gram matrix; rerun "
            "with WEIGHTSPACE_EIGENSOLVER=evd to use the one-stage solver"
        )
    return w
