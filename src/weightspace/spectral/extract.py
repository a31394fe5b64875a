"""Turn a model or a weights file into a stream of :class:`LayerSpec` (one per table row).

``iter_layers(source)`` accepts a ``torch.nn.Module``, a state dict (``dict`` of tensors or
arrays) or a path (see :mod:`weightspace.spectral.load`). Every spec's ``load()`` returns
the layer's weight slices as a fresh (caller-owned) **float64**, C-contiguous array shaped
``(S, N, M)`` with ``N >= M``: S = 1 for a dense matrix, S = prod(kernel) for a convolution (slice s is
``W[:, :, i, j]`` for kernel position s = i·kw + j, WeightWatcher's order). Loading is
deferred so that a model larger than memory is read one layer at a time.

Row order: torch modules in ``named_modules()`` order (``layer_id`` = index in that
enumeration, 0 = the root, as WeightWatcher 0.7.7); parts of one module (q/k/v, RNN gates)
follow in a fixed order and share the module's ``layer_id``. Files: see ``load.py``.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from weightspace.errors import ConfigError, unknown_choice
from weightspace.spectral.layers import LayerSpec

log = logging.getLogger(__name__)

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

LayerFilter = Sequence[int | str] | int | str | None


def to_slices(w: np.ndarray) -> np.ndarray:
    """Weights ``(out, in)`` or ``(out, in, *kernel)`` -> float64 ``(S, N, M)`` with N >= M.

    >>> to_slices(np.zeros((2, 5))).shape
    (1, 5, 2)
    >>> to_slices(np.zeros((8, 3, 2, 2))).shape
    (4, 8, 3)
    """
    if w.ndim < 2:
        raise ValueError(f"need at least 2 dimensions, got shape {w.shape}")
    if w.ndim == 2:
        s = w[None]  # (1, out, in)
    else:
        flat = w.reshape(w.shape[0], w.shape[1], -1)  # (out, in, K) with K = prod(kernel)
        s = np.moveaxis(flat, -1, 0)  # (K, out, in); slice k = kernel position, row-major
    if s.shape[1] < s.shape[2]:
        s = s.transpose(0, 2, 1)  # (S, N, M) with N >= M
    # one pass: permute + up-cast; always a fresh array (never a view of live weights)
    return np.array(s, dtype=np.float64, order="C", copy=True)


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


def iter_layers(
    source: Any,
    *,
    layers: LayerFilter = None,
    min_evals: int = DEFAULT_MIN_EVALS,
    compat: str | None = None,
) -> Iterator[LayerSpec]:
    """One :class:`LayerSpec` per layer row of ``source``, in the documented order.

    ``layers`` keeps only the rows whose ``layer_id`` is one of the given ints, or whose
    ``longname`` (or its module/tensor path, without a ``.q``/gate suffix) matches one of
    the given strings (exact or glob, e.g. ``"layer1.*"``), or whose class ``name`` equals
    one. Rows with fewer than ``min_evals`` eigenvalues (S·M) come back ``status="skipped"``
    with a reason; ``compat="ww"`` also skips, as WeightWatcher 0.7.7 does, layers with more
    than 15000 eigenvalues or N > 50000 and the layer types it does not analyse
    (:data:`WW_NOT_ANALYSED`).

    Arguments and the source are checked when this is called (not on first ``next``): bad
    options raise :class:`ConfigError`, unreadable files :class:`CheckpointError`.
    """
    if compat is not None and compat not in COMPAT_MODES:
        raise unknown_choice(
            "compat mode", compat, COMPAT_MODES, "Use compat=None (default) or 'ww'."
        )
    if isinstance(min_evals, bool) or not isinstance(min_evals, int | np.integer) or min_evals < 0:
        raise ConfigError(f"min_evals must be an integer >= 0, got {min_evals!r}")
    specs = list(_raw_specs(source))  # cheap: shapes and closures, no weights read yet
    if layers is not None:
        specs = _select(specs, layers)
    return iter([_apply_limits(spec, int(min_evals), compat) for spec in specs])


def _raw_specs(source: Any) -> Iterable[LayerSpec]:
    import os

    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        torch = None  # type: ignore[assignment]
    if torch is not None and isinstance(source, torch.nn.Module):
        from weightspace.spectral.extract_module import module_specs

        return module_specs(source)
    if isinstance(source, str | os.PathLike):
        from weightspace.spectral.load import path_specs

        return path_specs(source)
    if isinstance(source, dict):
        from weightspace.spectral.load import state_dict_specs

        return state_dict_specs(source, origin="the state dict")
    raise ConfigError(
        f"cannot analyse an object of type {type(source).__name__}; give a torch.nn.Module, "
        "a state dict (dict of tensors/arrays), or a path to a .safetensors, .pt/.pth/.bin, "
        ".npz file or a directory of sharded .safetensors"
    )


def _base_name(spec: LayerSpec) -> str:
    part = spec.extra.get("part")
    if part and spec.longname.endswith(f".{part}"):
        return spec.longname[: -len(str(part)) - 1]
    return spec.longname


def _select(specs: list[LayerSpec], layers: LayerFilter) -> list[LayerSpec]:
    wanted = [layers] if isinstance(layers, int | str) else list(layers or [])
    if not wanted:
        raise ConfigError("layers=[] selects nothing; pass None for all layers")
    ids = {int(w) for w in wanted if isinstance(w, int | np.integer) and not isinstance(w, bool)}
    pats = [w for w in wanted if isinstance(w, str)]
    bad = [w for w in wanted if not isinstance(w, int | np.integer | str) or isinstance(w, bool)]
    if bad:
        raise ConfigError(f"layers must be layer_id ints or longname strings/globs, got {bad!r}")

    def keep(spec: LayerSpec) -> bool:
        if spec.layer_id in ids:
            return True
        names = (spec.longname, _base_name(spec))
        return any(p == spec.name or any(fnmatch.fnmatchcase(n, p) for n in names) for p in pats)

    kept = [s for s in specs if keep(s)]
    if not kept:
        sample = ", ".join(f"{s.layer_id}:{s.longname}" for s in specs[:12])
        raise ConfigError(
            f"layers={wanted!r} matches no layer; available (layer_id:longname): {sample}"
            + (" ..." if len(specs) > 12 else "")
            + ". Use layer_id integers, longnames or globs such as 'layer1.*'"
        )
    return kept


def _apply_limits(spec: LayerSpec, min_evals: int, compat: str | None) -> LayerSpec:
    if spec.status != "pending":
        return spec
    s, n, m = (int(spec.extra[k]) for k in ("S", "N", "M"))  # type: ignore[call-overload]
    num_evals = s * m
    reason = ""
    if compat == "ww" and spec.layer_type in WW_NOT_ANALYSED:
        what = WW_NOT_ANALYSED[spec.layer_type]
        reason = f"WeightWatcher 0.7.7 does not analyse {what}; the default mode (no compat) does"
    elif compat == "ww" and spec.layer_type == "conv1d" and _ww_conv1d_m(spec) < min_evals:
        # WeightWatcher takes a Conv1d kernel (out, in, k) as one "matrix" with M = min of all
        # three dims, so it skips kernels shorter than min_evals; we slice it properly otherwise
        reason = (
            f"WeightWatcher 0.7.7 counts min{spec.extra['shape']} = {_ww_conv1d_m(spec)} "
            f"eigenvalues for a Conv1d, < min_evals {min_evals}"
        )
    elif num_evals < min_evals:
        reason = f"num_evals {num_evals} < min_evals {min_evals}"
    elif compat == "ww" and num_evals > WW_MAX_EVALS:
        reason = f"num_evals {num_evals} > {WW_MAX_EVALS} (WeightWatcher 0.7.7 max_evals)"
    elif compat == "ww" and n > WW_MAX_N:
        reason = f"N {n} > {WW_MAX_N} (WeightWatcher 0.7.7 max_N)"
    if not reason:
        return spec
    return replace(spec, load=None, status="skipped", reason=reason)


def _ww_conv1d_m(spec: LayerSpec) -> int:
    shape = spec.extra.get("shape")
    return min(shape) if isinstance(shape, tuple) and len(shape) == 3 else int(1e9)
