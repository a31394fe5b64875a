"""The layer-row building blocks shared by every source (modules, state dicts, files).

:func:`to_slices` is the one place a weight tensor becomes the ``(S, N, M)`` stack of
matrices that is fitted (and plotted; float32 for half and single precision weights, float64
for double — exact either way; the Gram product widens to float64 in blocks): S = 1 for a dense matrix, S = prod(kernel) for a
convolution (slice s is ``W[:, :, i, j]`` for kernel position s = i·kw + j, WeightWatcher's
order), each slice transposed so that N >= M. :func:`make_spec` / :func:`skipped_spec` build
the :class:`LayerSpec` rows; :func:`tensor_to_numpy` reads a torch tensor without a float64
intermediate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from weightspace.spectral.layers import LayerSpec

DEFAULT_MIN_EVALS = 8  # WeightWatcher 0.7.7 DEFAULT_MIN_EVALS
WW_MAX_EVALS = (
    15000  # WeightWatcher 0.7.7 DEFAULT_MAX_EVALS: bigger layers are skipped (compat only)
)
WW_MAX_N = 50000  # WeightWatcher 0.7.7 DEFAULT_MAX_N: taller layers are skipped (compat only)
COMPAT_MODES = ("ww",)
# Layer types WeightWatcher 0.7.7 does not analyse: with compat="ww" they are skipped rows,
# so that the successful rows are exactly WeightWatcher's (the default mode analyses them).
WW_NOT_ANALYSED = {
    "attention": "fused attention q/k/v projections",
    "rnn": "RNN/LSTM/GRU weight matrices",
    "conv3d": "Conv3d kernels",
    "conv_transpose1d": "transposed convolutions",
    "conv_transpose2d": "transposed convolutions",
    "conv_transpose3d": "transposed convolutions",
}

LSTM_GATES = ("i", "f", "g", "o")  # torch stacks LSTM gate rows in this order
GRU_GATES = ("r", "z", "n")
QKV = ("q", "k", "v")


def to_slices(w: np.ndarray, *, copy: bool = True) -> np.ndarray:
    """Weights ``(out, in)`` or ``(out, in, *kernel)`` -> ``(S, N, M)`` slices with N >= M.

    The values are exact: float64 stays float64, every narrower float (float16, and bf16
    already widened by the reader) becomes float32. Slices wider than tall are transposed
    views, so the result need not be C-contiguous; :func:`as_slices` gives the float64
    C-contiguous copy where one is needed. With ``copy`` (default) the result never shares
    memory with ``w`` (never a view of live weights); ``copy=False`` is for arrays the caller
    already owns (fresh or read-only reads of a file).

    >>> to_slices(np.zeros((2, 5))).shape
    (1, 5, 2)
    >>> to_slices(np.zeros((8, 3, 2, 2))).shape
    (4, 8, 3)
    >>> to_slices(np.zeros((2, 5), dtype=np.float16)).dtype
    dtype('float32')
    """
    a = np.asarray(w)
    if a.ndim < 2:
        raise ValueError(f"need at least 2 dimensions, got shape {a.shape}")
    if a.dtype not in (np.float32, np.float64):
        wide = np.float32 if a.dtype == np.float16 else np.float64
        a = a.astype(wide)  # a fresh array
    elif copy:
        a = np.array(a, copy=True, order="K")
    if a.ndim == 2:
        s = a[None]  # (1, out, in)
    else:
        flat = a.reshape(a.shape[0], a.shape[1], -1)  # (out, in, K) with K = prod(kernel)
        s = np.moveaxis(flat, -1, 0)  # (K, out, in); slice k = kernel position, row-major
    if s.shape[1] < s.shape[2]:
        s = s.transpose(0, 2, 1)  # (S, N, M) with N >= M, a view
    return s


def as_slices(w: np.ndarray, *, copy: bool = False) -> np.ndarray:
    """A 2-D ``(N, M)`` or 3-D ``(S, N, M)`` stack -> float64 C-contiguous ``(S, N, M)``, N >= M.

    Each slice is transposed when it is wider than tall. One pass: permute + up-cast; with
    ``copy`` the result is always a fresh array, else only when a conversion needs one.
    """
    a = np.asarray(w)
    if a.ndim == 2:
        a = a[None]  # (1, N, M)
    if a.ndim != 3:
        raise ValueError(f"weight slices must be 2-D or 3-D (S, N, M), got shape {a.shape}")
    if a.shape[1] < a.shape[2]:
        a = a.transpose(0, 2, 1)  # (S, N, M) with N >= M
    return np.array(a, dtype=np.float64, order="C", copy=True if copy else None)


def as_stack(w: np.ndarray) -> np.ndarray:
    """A 2-D ``(N, M)`` or 3-D ``(S, N, M)`` stack -> ``(S, N, M)``, N >= M, without copying.

    Like :func:`as_slices` but wide slices become transposed views and float32/float64 keep
    their dtype (anything else is widened to float64): what the blockwise Gram product reads.
    """
    a = np.asarray(w)
    if a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float64)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3:
        raise ValueError(f"weight slices must be 2-D or 3-D (S, N, M), got shape {a.shape}")
    return a.transpose(0, 2, 1) if a.shape[1] < a.shape[2] else a


def all_finite(slices: np.ndarray, *, block: int = 1 << 22) -> bool:
    """Whether every entry of ``(S, N, M)`` slices is finite, checked ~``block`` at a time."""
    s, n, m = slices.shape
    rows = max(1, block // max(m, 1))
    return all(
        bool(np.isfinite(slices[k, i : i + rows]).all())
        for k in range(s)
        for i in range(0, n, rows)
    )


def slice_dims(shape: Sequence[int]) -> tuple[int, int, int]:
    """(S, N, M) that :func:`to_slices` produces for a tensor of ``shape``."""
    out, inp = int(shape[0]), int(shape[1])
    s = int(np.prod(shape[2:], dtype=np.int64)) if len(shape) > 2 else 1
    return s, max(out, inp), min(out, inp)


def make_spec(
    *,
    layer_id: int,
    name: str,
    longname: str,
    layer_type: str,
    shape: Sequence[int],
    load: Callable[[], np.ndarray],
    conv_slices: bool = False,
    extra: dict[str, object] | None = None,
) -> LayerSpec:
    """A pending spec for a weight tensor of ``shape`` (rows already split if it is a part)."""
    s, n, m = slice_dims(shape)
    info: dict[str, object] = {
        "shape": tuple(int(d) for d in shape),
        "S": s,
        "N": n,
        "M": m,
        "num_evals": s * m,
        "rf": s,
    }
    info.update(extra or {})
    return LayerSpec(
        layer_id=layer_id,
        name=name,
        longname=longname,
        layer_type=layer_type,
        load=load,
        conv_slices=conv_slices,
        extra=info,
    )


def skipped_spec(
    *,
    layer_id: int,
    name: str,
    longname: str,
    layer_type: str,
    reason: str,
    extra: dict[str, object] | None = None,
) -> LayerSpec:
    return LayerSpec(
        layer_id=layer_id,
        name=name,
        longname=longname,
        layer_type=layer_type,
        load=None,
        status="skipped",
        reason=reason,
        extra=dict(extra or {}),
    )


def tensor_to_numpy(t: Any) -> np.ndarray:
    """A torch tensor as a float32/float64 numpy array (a view when it already is one on CPU).

    Half-precision types are widened to float32 exactly; no full-size float64 copy is made
    (the Gram product widens row blocks to float64).
    """
    import torch  # torch-free callers (.npz files) never reach here

    t = t.detach()
    if t.device.type != "cpu" or t.dtype not in (torch.float32, torch.float64):
        dtype = torch.float64 if t.dtype == torch.float64 else torch.float32
        t = t.to(device="cpu", dtype=dtype)
    return t.numpy()
