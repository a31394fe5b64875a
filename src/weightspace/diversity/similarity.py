"""How close an augmented or synthetic feature set stays to the real one.

Two families, which answer different questions (see ``docs/diversity.md``):

* :func:`paired_similarity` — the paper's ρ, the cosine between the two feature *matrices*
  with rows paired by index. It measures per-sample fidelity (how far each augmented copy
  moved from its own source image) and depends on the row order.
* :func:`mean_embedding_similarity` and :func:`mmd_similarity` — unpaired, invariant to
  the order of either set's rows: they compare the two *distributions* of features.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from weightspace.diversity.vendi import ArrayLike, ZeroRows, _as_matrix, normalize_rows
from weightspace.errors import ConfigError

MMDKernel = Literal["cosine", "rbf"]


def pair_rows(n_real: int, n_other: int) -> np.ndarray:
    """Index of the real row paired with each ``other`` row: ``arange(n_other) % n_real``.

    Row i of ``other`` is paired with row i of ``real``. When ``other`` is longer (an "add"
    mix: the real rows followed by appended synthetic rows), the appended row ``n_real + j``
    is paired with real row ``j`` — the first real rows — wrapping round again if more than
    ``n_real`` rows were appended. When ``other`` is shorter, only the first ``n_other``
    real rows take part.
    """
    if n_real < 1 or n_other < 1:
        raise ConfigError(f"cannot pair {n_other} rows with {n_real} real rows; both must be >= 1")
    return np.arange(n_other) % n_real


def paired_similarity(real: ArrayLike, other: ArrayLike, *, normalize: bool = True) -> float:
    """The paper's ρ = ⟨X_real, X_other⟩_F / (‖X_real‖_F ‖X_other‖_F), rows paired by index.

    ``normalize=True`` (default) L2-normalises every row first, so that ρ is the mean of the
    per-pair cosine similarities and no single large-norm row dominates; a pair with an
    all-zero row (say an augmentation that blacked out an image) has no direction and counts
    as cosine 0. ``normalize=False`` applies the formula to the raw matrices. Rows are paired
    by :func:`pair_rows` (the "add" rule).
    """
    r = _as_matrix(real, "real features")
    o = _as_matrix(other, "other features")
    if r.shape[1] != o.shape[1]:
        raise ConfigError(
            f"real and other features have different widths ({r.shape[1]} vs {o.shape[1]}); "
            "compute both with the same encoder"
        )
    for x, where in ((r, "real"), (o, "other")):
        if not np.all(np.isfinite(x)):
            raise ConfigError(f"{where} features contain NaN or inf values")
    r = r[pair_rows(len(r), len(o))]  # (n_other, d): the real row paired with each other row
    if normalize:
        nr = np.sqrt(np.einsum("ij,ij->i", r, r))  # (n_other,)
        no = np.sqrt(np.einsum("ij,ij->i", o, o))
        ok = (nr > 0) & (no > 0)
        cos = np.einsum("ij,ij->i", r[ok], o[ok]) / (nr[ok] * no[ok])
        return float(cos.sum() / len(o))
    denom = math.sqrt(float(np.einsum("ij,ij->", r, r)) * float(np.einsum("ij,ij->", o, o)))
    if denom == 0:
        return math.nan
    return float(np.einsum("ij,ij->", r, o)) / denom


def mean_embedding_similarity(
    real: ArrayLike, other: ArrayLike, *, zero_rows: ZeroRows = "drop"
) -> float:
    """Cosine similarity of the means of the L2-normalised rows of the two sets.

    Unpaired and invariant to row order; 1 when the two sets have the same mean direction.
    """
    r = normalize_rows(real, zero_rows=zero_rows, where="real features")
    o = normalize_rows(other, zero_rows=zero_rows, where="other features")
    if r.shape[1] != o.shape[1]:
        raise ConfigError(f"feature widths differ ({r.shape[1]} vs {o.shape[1]})")
    mr, mo = r.mean(axis=0), o.mean(axis=0)  # (d,), (d,)
    denom = float(np.linalg.norm(mr) * np.linalg.norm(mo))
    return float(mr @ mo) / denom if denom > 0 else math.nan


def mmd2(
    real: ArrayLike,
    other: ArrayLike,
    *,
    kernel: MMDKernel = "cosine",
    max_rows: int = 2000,
    seed: int | np.random.Generator = 0,
) -> float:
    """Unbiased squared maximum mean discrepancy between two feature sets (rows L2-normalised).

    ``kernel="cosine"``: k(x, y) = ⟨x, y⟩ on unit rows, computed exactly from sums in O(n d).
    ``kernel="rbf"``: k(x, y) = exp(−‖x − y‖² / (2 s²)) with s² half the median squared
    distance of the pooled rows (median heuristic); each set is subsampled (with ``seed``) to
    at most ``max_rows`` rows since this is O(n²). The unbiased estimate can be slightly
    negative when the sets come from the same distribution.
    """
    r = normalize_rows(real, where="real features")
    o = normalize_rows(other, where="other features")
    if r.shape[1] != o.shape[1]:
        raise ConfigError(f"feature widths differ ({r.shape[1]} vs {o.shape[1]})")
    if len(r) < 2 or len(o) < 2:
        raise ConfigError("MMD needs at least 2 rows in each set")
    if kernel == "cosine":
        return _mmd2_linear(r, o)
    if kernel != "rbf":
        raise ConfigError(f"unknown MMD kernel {kernel!r}; valid: cosine, rbf")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if len(r) > max_rows:
        r = r[np.sort(rng.choice(len(r), max_rows, replace=False))]
    if len(o) > max_rows:
        o = o[np.sort(rng.choice(len(o), max_rows, replace=False))]
    return _mmd2_rbf(r, o)


def _mmd2_linear(r: np.ndarray, o: np.ndarray) -> float:
    n, m = len(r), len(o)
    sr, so = r.sum(axis=0), o.sum(axis=0)  # (d,)
    # Σ_{i≠j} k(r_i, r_j) = ‖Σ r‖² − Σ ‖r_i‖²  (rows are unit, so Σ ‖r_i‖² = n)
    krr = (sr @ sr - n) / (n * (n - 1))
    koo = (so @ so - m) / (m * (m - 1))
    kro = (sr @ so) / (n * m)
    return float(krr + koo - 2 * kro)


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # unit rows: ‖a − b‖² = 2 − 2⟨a, b⟩
    return np.maximum(2.0 - 2.0 * (a @ b.T), 0.0)


def _mmd2_rbf(r: np.ndarray, o: np.ndarray) -> float:
    n, m = len(r), len(o)
    drr, doo, dro = _sq_dists(r, r), _sq_dists(o, o), _sq_dists(r, o)
    pooled = np.concatenate([drr[np.triu_indices(n, 1)], doo[np.triu_indices(m, 1)], dro.ravel()])
    med = float(np.median(pooled))
    gamma = 1.0 / med if med > 0 else 1.0  # exp(−d² / (2 s²)) with 2 s² = median
    krr, koo, kro = np.exp(-gamma * drr), np.exp(-gamma * doo), np.exp(-gamma * dro)
    krr_off = (krr.sum() - n) / (n * (n - 1))  # diagonal entries are exp(0) = 1
    koo_off = (koo.sum() - m) / (m * (m - 1))
    return float(krr_off + koo_off - 2 * kro.mean())


def mmd_similarity(
    real: ArrayLike,
    other: ArrayLike,
    *,
    kernel: MMDKernel = "cosine",
    max_rows: int = 2000,
    seed: int | np.random.Generator = 0,
) -> float:
    """exp(−max(MMD², 0)) ∈ (0, 1]: 1 when the two feature distributions match."""
    return math.exp(-max(mmd2(real, other, kernel=kernel, max_rows=max_rows, seed=seed), 0.0))
