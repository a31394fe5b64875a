"""How far a layer's dominant singular subspaces rotated between two checkpoints.

For a layer W_a (before) and W_b (after), take the top-k left singular vectors U_a, U_b
(N×k) and right ones V_a, V_b. The cosines of the principal angles between span(U_a) and
span(U_b) are the singular values of U_aᵀU_b. Reported per side:

- ``overlap_*`` = mean cos²θ = ‖U_aᵀU_b‖_F² / k, in [0, 1]: 1 when the top-k subspace is
  unchanged (whatever happened to the singular values — a pure rescaling keeps it at 1),
  k'/k when only k' of the k directions survived, about k/N for unrelated random subspaces;
- ``max_angle_*``: the largest principal angle in degrees (0 = no rotation, 90 = some
  direction left the subspace entirely).

Convolutions are unfolded to (N, S·M) (the slices side by side): "left" is the N side, the
larger of (out, in) as everywhere in weightspace.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from weightspace.errors import ConfigError
from weightspace.spectral.extract import iter_layers
from weightspace.spectral.layers import LayerSpec

OVERLAP_COLUMNS = [
    "layer_id", "longname", "N", "M", "k", "overlap_left", "overlap_right",
    "max_angle_left", "max_angle_right", "reason",
]  # fmt: skip


@dataclass(frozen=True)
class SubspaceOverlap:
    overlap_left: float
    overlap_right: float
    max_angle_left: float  # degrees
    max_angle_right: float


def unfold(slices: np.ndarray) -> np.ndarray:
    """``(S, N, M)`` slices -> ``(N, S·M)`` matrix (2-D input returned as is)."""
    a = np.asarray(slices, dtype=np.float64)
    if a.ndim == 2:
        return a
    s, n, m = a.shape
    return a.transpose(1, 0, 2).reshape(n, s * m)


def _top(w: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    u, _, vt = np.linalg.svd(w, full_matrices=False)
    return u[:, :k], vt[:k].T


def _side(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    cos = np.clip(np.linalg.svd(a.T @ b, compute_uv=False), 0.0, 1.0)  # (k,)
    return float(np.mean(cos**2)), math.degrees(math.acos(float(cos.min())))


def subspace_overlap(w_a: np.ndarray, w_b: np.ndarray, *, k: int) -> SubspaceOverlap:
    """Principal-angle overlap of the top-``k`` singular subspaces of two same-shape matrices."""
    a, b = unfold(w_a), unfold(w_b)
    if a.shape != b.shape:
        raise ConfigError(f"cannot compare shapes {a.shape} and {b.shape}; same layer needed")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= min(a.shape):
        raise ConfigError(f"k must be an integer in [1, {min(a.shape)}], got {k!r}")
    ua, va = _top(a, k)
    ub, vb = _top(b, k)
    left, left_angle = _side(ua, ub)
    right, right_angle = _side(va, vb)
    return SubspaceOverlap(left, right, left_angle, right_angle)


def overlap_table(before: Any, after: Any, *, k: int = 10, layers: Any = None) -> pd.DataFrame:
    """One row per layer present in both checkpoints (same longname and shape).

    ``before``/``after``: anything :func:`~weightspace.spectral.extract.iter_layers` takes.
    Layers with fewer than ``k`` singular values use all of them.
    """
    rows = _rows(
        iter_layers(before, layers=layers, min_evals=0), iter_layers(after, min_evals=0), k
    )
    return pd.DataFrame(rows, columns=OVERLAP_COLUMNS)


def _rows(before: Iterable[LayerSpec], after: Iterable[LayerSpec], k: int) -> list[dict[str, Any]]:
    other = {s.longname: s for s in after}
    out = []
    for spec in before:
        row: dict[str, Any] = dict.fromkeys(OVERLAP_COLUMNS, math.nan)
        row.update(layer_id=spec.layer_id, longname=spec.longname, reason="")
        twin = other.get(spec.longname)
        if spec.load is None or twin is None or twin.load is None:
            row["reason"] = spec.reason or "layer missing from the second checkpoint"
            out.append(row)
            continue
        a, b = unfold(spec.load()), unfold(twin.load())
        if a.shape != b.shape:
            row["reason"] = f"shape {a.shape} differs from {b.shape}"
            out.append(row)
            continue
        kk = min(k, *a.shape)
        ov = subspace_overlap(a, b, k=kk)
        row.update(N=a.shape[0], M=a.shape[1], k=kk, **ov.__dict__)
        out.append(row)
    return out
