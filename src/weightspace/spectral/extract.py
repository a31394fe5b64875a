"""Turn a model or a weights file into a stream of :class:`LayerSpec` (one per table row).

``iter_layers(source)`` accepts a ``torch.nn.Module``, a state dict (``dict`` of tensors or
arrays) or a path (see :mod:`weightspace.spectral.load`). Every spec's ``load()`` returns
the layer's weight slices as an array shaped ``(S, N, M)`` with ``N >= M`` that no one else
writes to (fresh, or a read-only memory map of a file), in the exact widening of the stored
dtype — float64 for float64 weights, float32 for float32/fp16/bf16 — and possibly a
transposed view (``as_slices`` gives a float64 C-contiguous copy): S = 1 for a dense matrix, S = prod(kernel) for a convolution (slice s is
``W[:, :, i, j]`` for kernel position s = i·kw + j, WeightWatcher's order). Loading is
deferred so that a model larger than memory is read one layer at a time.

Row order: torch modules in ``named_modules()`` order (``layer_id`` = index in that
enumeration, 0 = the root, as WeightWatcher 0.7.7); parts of one module (q/k/v, RNN gates)
follow in a fixed order and share the module's ``layer_id``. Files: see ``load.py``.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from weightspace.errors import ConfigError, unknown_choice
from weightspace.spectral.extract_module import module_specs
from weightspace.spectral.layers import LayerSpec
from weightspace.spectral.load import path_specs, state_dict_specs
from weightspace.spectral.slices import (
    COMPAT_MODES,
    DEFAULT_MIN_EVALS,
    GRU_GATES,
    LSTM_GATES,
    QKV,
    WW_MAX_EVALS,
    WW_MAX_N,
    WW_NOT_ANALYSED,
    make_spec,
    skipped_spec,
    slice_dims,
    tensor_to_numpy,
    to_slices,
)

__all__ = [
    "COMPAT_MODES",
    "DEFAULT_MIN_EVALS",
    "GRU_GATES",
    "LSTM_GATES",
    "QKV",
    "WW_MAX_EVALS",
    "WW_MAX_N",
    "WW_NOT_ANALYSED",
    "LayerFilter",
    "iter_layers",
    "make_spec",
    "skipped_spec",
    "slice_dims",
    "tensor_to_numpy",
    "to_slices",
]

log = logging.getLogger(__name__)

LayerFilter = Sequence[int | str] | int | str | None


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
    torch = sys.modules.get("torch")  # not loaded: source cannot be a torch module
    if torch is not None and isinstance(source, torch.nn.Module):
        return module_specs(source)
    if isinstance(source, str | os.PathLike):
        return path_specs(source)
    if isinstance(source, dict):
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
    elif compat != "ww" and m == 1 and int(spec.extra.get("groups", 1)) > 1:  # type: ignore[call-overload]
        reason = (  # WeightWatcher pools these S one-eigenvalue slices; we do not
            f"depthwise convolution (groups={spec.extra['groups']}): each of its {s} kernel "
            f"slices is a {n}x1 vector with a single eigenvalue, so it has no matrix spectrum"
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
