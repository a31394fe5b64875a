"""Eigenvalues of a large symmetric float64 matrix (a layer's Gram matrix), fast.

Only eigenvalues are needed, and for those the one-stage ``dsyevd`` of the OpenBLAS that
NumPy and SciPy ship (:func:`scipy.linalg.eigh`) is slow: its Householder tridiagonalisation
is half matrix–vector products, bound by memory bandwidth. For M ≥ :data:`MIN_FAST` the
first of these that is available runs instead (same LAPACK contract, eigenvalues agreeing
to ~1e-14 relative; timings for M = 4096, one thread, in docs/benchmarks.md):

1. ``mkl`` — Intel MKL's ``LAPACKE_dsyevd`` (the optional ``mkl`` wheel, installed by the
   set-up on x86-64: extra ``weightspace[fast]``), sequential: each call uses one core, and
   weightspace runs layers in parallel instead. 3.1 s against 5.4 s and 9–10 s below.
2. ``openblas-2stage`` — LAPACK's two-stage ``dsyevd_2stage`` (dense → band with BLAS-3,
   band → tridiagonal by bulge chasing), which SciPy does not wrap but the loaded OpenBLAS
   exports through LAPACKE (found with ctypes in the library threadpoolctl reports).
3. ``scipy`` — :func:`scipy.linalg.eigh` (``driver="evd"``), also for every M below
   :data:`MIN_FAST`, where it is as fast.

``WEIGHTSPACE_EIGENSOLVER`` = ``scipy``, ``openblas-2stage`` or ``mkl`` picks one (a
requested solver that is not available is an error); :func:`solver` says which one runs.
"""

from __future__ import annotations

import ctypes
import functools
import os
from collections.abc import Callable
from importlib import metadata

import numpy as np
from scipy.linalg import eigh

from weightspace.errors import ConfigError

MIN_FAST = 1024  # below this the one-stage solver is as fast or faster (measured)
SOLVERS = ("mkl", "openblas-2stage", "scipy")
_COL_MAJOR = 102
_MKL_SEQUENTIAL, _MKL_LP64 = 1, 0  # MKL_THREADING_SEQUENTIAL, MKL_INTERFACE_LP64
_OPENBLAS_NAMES = (  # (symbol, 64-bit integers?)
    ("scipy_LAPACKE_dsyevd_2stage", False),
    ("LAPACKE_dsyevd_2stage", False),
    ("scipy_LAPACKE_dsyevd_2stage64_", True),
    ("LAPACKE_dsyevd_2stage64_", True),
)

Routine = tuple[Callable[..., int], type]


def _bind(func: Callable[..., int], integer: type) -> Routine:
    func.restype = integer  # type: ignore[attr-defined]
    func.argtypes = [ctypes.c_int, ctypes.c_char, ctypes.c_char, integer,  # type: ignore[attr-defined]
                     ctypes.c_void_p, integer, ctypes.c_void_p]  # fmt: skip
    return func, integer


def _mkl() -> Routine | None:
    """``LAPACKE_dsyevd`` of the ``mkl`` wheel's runtime library, sequential and LP64."""
    try:
        files = metadata.files("mkl") or []
    except metadata.PackageNotFoundError:
        return None
    paths = [f.locate() for f in files if f.name.startswith("libmkl_rt.so")]
    for path in sorted(paths, key=str):
        try:
            lib = ctypes.CDLL(str(path))
        except OSError:
            continue
        lib.MKL_Set_Threading_Layer(_MKL_SEQUENTIAL)  # before any computation
        lib.MKL_Set_Interface_Layer(_MKL_LP64)
        return _bind(lib.LAPACKE_dsyevd, ctypes.c_int32)
    return None


def _openblas_two_stage() -> Routine | None:
    from threadpoolctl import threadpool_info

    for info in threadpool_info():
        if info.get("internal_api") != "openblas" or not info.get("filepath"):
            continue
        try:
            lib = ctypes.CDLL(info["filepath"])
        except OSError:
            continue
        for name, wide in _OPENBLAS_NAMES:
            func = getattr(lib, name, None)
            if func is not None:
                return _bind(func, ctypes.c_int64 if wide else ctypes.c_int32)
    return None


@functools.cache
def _routine() -> tuple[str, Routine | None]:
    wanted = os.environ.get("WEIGHTSPACE_EIGENSOLVER", "").strip().lower()
    if wanted and wanted not in SOLVERS:
        raise ConfigError(
            f"WEIGHTSPACE_EIGENSOLVER={wanted!r} is not a solver; use one of {', '.join(SOLVERS)}"
        )
    finders = {"mkl": _mkl, "openblas-2stage": _openblas_two_stage}
    for name in [wanted] if wanted else list(SOLVERS):
        if name == "scipy":
            return name, None
        found = finders[name]()
        if found is not None:
            return name, found
    raise ConfigError(
        f"WEIGHTSPACE_EIGENSOLVER={wanted!r} is not available here"
        + (" (install it: pip install mkl)" if wanted == "mkl" else "")
    )


def solver() -> str:
    """The solver used for matrices of M ≥ :data:`MIN_FAST`: one of :data:`SOLVERS`."""
    return _routine()[0]


def eigvalsh(g: np.ndarray, *, lower: bool = True) -> np.ndarray:
    """Ascending eigenvalues of the symmetric matrix ``g`` (float32 or float64), of which only
    the ``lower`` (else upper) triangle is read. ``g`` is overwritten."""
    name, routine = _routine()
    m = g.shape[0]
    if routine is None or g.dtype != np.float64 or m < MIN_FAST:
        return eigh(g, lower=lower, eigvals_only=True, driver="evd", overwrite_a=True,
                    check_finite=False)  # fmt: skip
    func, integer = routine
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
            f"the {name} eigensolver failed (LAPACK info = {info}) on a {m}×{m} Gram matrix; "
            "rerun with WEIGHTSPACE_EIGENSOLVER=scipy"
        )
    return w
