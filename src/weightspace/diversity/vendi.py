"""The Vendi score (Friedman & Dieng 2023) of order q, on features or on a kernel matrix.

VS_q = exp(H_q(λ)), where λ are the eigenvalues of K/n, K the n×n similarity matrix with
k(x, x) = 1, and H_q the Rényi entropy of order q:

    H_1 = −Σ λ ln λ            (Shannon; the default)
    H_q = ln(Σ λ^q) / (1 − q)  (q ∉ {0, 1, ∞})
    H_∞ = −ln λ_max
    H_0 = ln rank(K)

On L2-normalised feature rows X (n, d) the cosine kernel is K = X Xᵀ, and K/n = X Xᵀ/n
has the same nonzero eigenvalues as the d×d dual Xᵀ X/n. :func:`vendi_score` therefore
works with whichever of the two is smaller and never forms the n×n matrix when n > d; the
dual is accumulated over row chunks, so memory is O(chunk·d + d²) beyond the input.

Numerics (where this differs from ``vendi-score`` 0.0.3, see ``docs/diversity.md``):
everything is float64; eigenvalues at or below ``size · eps · λ_max`` are round-off and
treated as exactly zero (they matter for q < 1 and for the rank at q = 0); the surviving
eigenvalues are renormalised to sum to one.
"""

from __future__ import annotations

import logging
import math
from typing import Literal

import numpy as np
import numpy.typing as npt

from weightspace.errors import ConfigError

log = logging.getLogger(__name__)

ArrayLike = npt.ArrayLike
ZeroRows = Literal["drop", "error"]

_CHUNK_ROWS = 8192


def check_q(q: float | str) -> float:
    """Validate an entropy order: a number in [0, ∞] (``"inf"`` accepted)."""
    try:
        qf = float(q)  # also parses "2", "inf", "Infinity"
    except (TypeError, ValueError):
        raise ConfigError(
            f"Vendi order q={q!r} is not a number; use e.g. 0.5, 1, 2 or inf"
        ) from None
    if math.isnan(qf) or qf < 0:
        raise ConfigError(f"Vendi order q={q!r} is invalid; allowed: 0 <= q <= inf (1 = Shannon)")
    return qf


def renyi_entropy(p: ArrayLike, q: float | str = 1.0) -> float:
    """Rényi entropy of order ``q`` (natural log) of a probability vector ``p``.

    Zeros are ignored (0·ln 0 = 0). ``q = 0`` gives ln of the support size.
    """
    q = check_q(q)
    p = np.asarray(p, dtype=np.float64)
    p = p[p > 0]
    if p.size == 0:
        return math.nan
    if q == 0:
        return math.log(p.size)
    if q == 1:
        return float(-(p * np.log(p)).sum())
    if math.isinf(q):
        return float(-math.log(p.max()))
    # ln Σ p^q / (1 − q), computed as a log-sum-exp so that large q stays finite.
    logs = q * np.log(p)
    top = logs.max()
    return float((top + math.log(np.exp(logs - top).sum())) / (1.0 - q))


def spectrum_vendi(
    eigenvalues: ArrayLike, q: float | str = 1.0, *, size: int | None = None
) -> float:
    """Vendi score of order ``q`` from the eigenvalues of K/n (or of the dual XᵀX/n).

    Negative and round-off eigenvalues (≤ ``size · eps · λ_max``; ``size`` defaults to the
    number of eigenvalues) are set to zero, and the rest renormalised to sum to one.
    """
    w = np.asarray(eigenvalues, dtype=np.float64).ravel()
    if w.size == 0:
        return math.nan
    top = float(w.max())
    if not math.isfinite(top) or top <= 0:
        return math.nan
    tol = (size or w.size) * np.finfo(np.float64).eps * top
    w = w[w > tol]
    return float(math.exp(renyi_entropy(w / w.sum(), q)))


def normalize_rows(
    features: ArrayLike, *, zero_rows: ZeroRows = "drop", where: str = "features"
) -> np.ndarray:
    """L2-normalise the rows of a (n, d) array in float64.

    A zero row has no direction, so its cosine similarity is undefined: ``zero_rows="drop"``
    removes such rows (logging how many), ``"error"`` raises :class:`ConfigError`.
    """
    x = _as_matrix(features, where)
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))  # (n,)
    bad = ~(norms > 0)
    if not np.all(np.isfinite(norms)):
        raise ConfigError(f"{where} contain NaN or inf values; clean them before scoring")
    if bad.any():
        if zero_rows == "error":
            raise ConfigError(
                f"{where} have {int(bad.sum())} all-zero rows of {len(x)}; cosine similarity "
                "is undefined for them; remove them or pass zero_rows='drop'"
            )
        if zero_rows != "drop":
            raise ConfigError(f"zero_rows={zero_rows!r} is invalid; use 'drop' or 'error'")
        log.warning("dropping %d all-zero rows of %d from %s", int(bad.sum()), len(x), where)
        x, norms = x[~bad], norms[~bad]
    return x / norms[:, None]


def _as_matrix(features: ArrayLike, where: str, *, cast: bool = True) -> np.ndarray:
    """A 2-D numpy view of ``features``; float64 when ``cast``, else any float dtype."""
    if hasattr(features, "detach"):  # torch tensor
        features = features.detach().cpu().numpy()  # type: ignore[union-attr]
    x = np.asarray(features)
    if x.ndim != 2:
        raise ConfigError(f"{where} must be a 2-D array (n, d); got shape {x.shape}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ConfigError(f"{where} are empty (shape {x.shape}); need at least one row")
    if cast or not np.issubdtype(x.dtype, np.floating):
        return x.astype(np.float64, copy=False)
    return x


def dual_gram(features: ArrayLike, *, zero_rows: ZeroRows = "drop") -> tuple[np.ndarray, int]:
    """Return (XᵀX/n, n) for the L2-normalised rows of ``features``, built in row chunks."""
    x = _as_matrix(features, "features", cast=False)  # chunks are cast to float64 one by one
    d = x.shape[1]
    gram = np.zeros((d, d), dtype=np.float64)  # (d, d)
    n = 0
    for start in range(0, x.shape[0], _CHUNK_ROWS):
        chunk = normalize_rows(x[start : start + _CHUNK_ROWS], zero_rows=zero_rows)  # (c, d)
        gram += chunk.T @ chunk
        n += chunk.shape[0]
    if n == 0:
        raise ConfigError("features have no nonzero rows; nothing to score")
    return gram / n, n


def vendi_score(
    features: ArrayLike, *, q: float | str = 1.0, zero_rows: ZeroRows = "drop"
) -> float:
    """Vendi score of order ``q`` of the rows of ``features`` (n, d) under the cosine kernel.

    Rows are L2-normalised (zero rows dropped or refused, see :func:`normalize_rows`). Uses
    the d×d dual XᵀX/n when n > d and the n×n kernel XXᵀ/n otherwise; both have the same
    nonzero eigenvalues. Ranges from 1 (all rows parallel) to min(n, d) (orthogonal rows).
    """
    q = check_q(q)
    x = _as_matrix(features, "features", cast=False)
    n, d = x.shape
    if n > d:
        gram, n_used = dual_gram(x, zero_rows=zero_rows)  # (d, d)
        size = max(n_used, d)
    else:
        xn = normalize_rows(x, zero_rows=zero_rows)  # (n', d)
        gram = (xn @ xn.T) / xn.shape[0]  # (n', n')
        size = max(xn.shape[0], d)
    w = np.linalg.eigvalsh(gram)
    return spectrum_vendi(w, q, size=size)


def vendi_score_kernel(
    kernel: ArrayLike, *, q: float | str = 1.0, normalize: bool = False
) -> float:
    """Vendi score of order ``q`` from an n×n positive semi-definite similarity matrix.

    The Vendi score assumes k(x, x) = 1. With ``normalize=True`` the kernel is rescaled to
    K_ij / √(K_ii K_jj) first; otherwise a diagonal that is not 1 (to 1e-6) is an error.
    """
    q = check_q(q)
    k = _as_matrix(kernel, "kernel")
    n = k.shape[0]
    if k.shape != (n, n):
        raise ConfigError(f"kernel must be square (n, n); got shape {k.shape}")
    if not np.allclose(k, k.T, rtol=1e-10, atol=1e-10):
        raise ConfigError("kernel is not symmetric; pass a symmetric similarity matrix")
    diag = np.diag(k).copy()
    if normalize:
        if np.any(diag <= 0):
            raise ConfigError("kernel has a non-positive diagonal entry; cannot normalise it")
        s = 1.0 / np.sqrt(diag)
        k = k * s[:, None] * s[None, :]
    elif not np.allclose(diag, 1.0, rtol=0, atol=1e-6):
        raise ConfigError(
            f"kernel diagonal must be 1 (k(x, x) = 1); found values in [{diag.min():.4g}, "
            f"{diag.max():.4g}]; pass normalize=True to rescale it"
        )
    w = np.linalg.eigvalsh(k / n)
    return spectrum_vendi(w, q, size=n)


def per_class_vendi(
    features: ArrayLike, labels: ArrayLike, *, q: float | str = 1.0, zero_rows: ZeroRows = "drop"
) -> dict[int, float]:
    """Vendi score of each class's rows: ``{label: VS}`` in increasing label order."""
    x = _as_matrix(features, "features")
    y = np.asarray(labels.detach().cpu() if hasattr(labels, "detach") else labels).ravel()  # type: ignore[union-attr]
    if len(y) != len(x):
        raise ConfigError(f"labels have {len(y)} entries but features have {len(x)} rows")
    return {int(c): vendi_score(x[y == c], q=q, zero_rows=zero_rows) for c in np.unique(y).tolist()}
