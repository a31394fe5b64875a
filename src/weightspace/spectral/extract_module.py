"""Layer specs from a live ``torch.nn.Module`` (WeightWatcher 0.7.7 enumeration).

``layer_id`` is the index in ``model.named_modules()`` (0 = the root) and ``longname`` the
module path, exactly as WeightWatcher 0.7.7 numbers them; ``name`` is the module's class
name (as in the paper's published tables; WeightWatcher 0.7.7 itself prints the last path
component there). Handling per module, in this order:

- ``Linear`` (and subclasses, and classes whose name contains "linear" with a 2-D weight),
  Hugging Face GPT-2 ``Conv1D`` (weight stored (in, out)): one dense matrix.
- ``Embedding`` / ``EmbeddingBag``: the (num, dim) table as a matrix.
- ``Conv1d/2d/3d`` and ``ConvTranspose*``: one slice per kernel position, pooled.
- ``MultiheadAttention``: fused ``in_proj_weight`` split into ``<path>.q/.k/.v`` (or the
  separate ``q/k/v_proj_weight``); its ``out_proj`` is an ordinary Linear row.
- ``RNN/LSTM/GRU`` (and their cells): each ``weight_ih_l{k}``/``weight_hh_l{k}`` (and
  ``_reverse``) split per gate, ``<path>.weight_hh_l0.f``; LSTM projections ``weight_hr``
  whole.
- normalisation layers (class name contains "norm"): no row, as WeightWatcher.
- any other module holding its own >= 2-D parameters: a skipped row per parameter.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from weightspace.spectral.layers import LayerSpec
from weightspace.spectral.slices import (
    GRU_GATES,
    LSTM_GATES,
    QKV,
    make_spec,
    skipped_spec,
    tensor_to_numpy,
    to_slices,
)

log = logging.getLogger(__name__)


def _loader(t: Any, rows: slice | None = None) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        w = t() if callable(t) else t  # a getter re-reads computed (parametrized) weights
        return to_slices(tensor_to_numpy(w if rows is None else w[rows]))

    return load


def _unusable(t: Any) -> str:
    """Why tensor ``t`` cannot be analysed ("" if it can)."""
    if t.is_meta:
        return "weights are on the meta device (not materialised)"
    if not t.is_floating_point():
        return f"non-float weights ({t.dtype}); dequantize the model first"
    return ""


def module_specs(model: Any) -> Iterator[LayerSpec]:
    for layer_id, (path, module) in enumerate(model.named_modules()):
        # the root module has an empty path; WeightWatcher then uses the class name
        yield from _one_module(layer_id, path or type(module).__name__, module)


def _weight(module: Any) -> Any:
    import torch

    w = getattr(module, "weight", None)
    return w if isinstance(w, torch.Tensor) else None


def _one_module(layer_id: int, path: str, module: Any) -> Iterator[LayerSpec]:
    import torch.nn as nn

    cls = type(module).__name__
    lname = cls.lower()
    w = _weight(module)

    if isinstance(module, nn.MultiheadAttention):
        yield from _attention(layer_id, path, module)
        return
    if isinstance(module, nn.RNNBase | nn.RNNCellBase):
        yield from _recurrent(layer_id, path, module)
        return
    kind = ""
    if w is not None:
        if isinstance(module, nn.Linear) or ("linear" in lname and w.ndim == 2):
            kind = "linear"
        elif cls == "Conv1D" and w.ndim == 2:  # Hugging Face GPT-2: weight (in, out)
            kind = "linear"
        elif isinstance(module, nn.Embedding | nn.EmbeddingBag) or (
            "embedding" in lname and w.ndim == 2
        ):
            kind = "embedding"
        elif isinstance(module, nn.modules.conv._ConvNd) and w.ndim >= 3:
            transposed = bool(getattr(module, "transposed", False))
            kind = f"conv{'_transpose' if transposed else ''}{w.ndim - 2}d"
    if kind:
        why = _unusable(w)
        if why:
            yield skipped_spec(
                layer_id=layer_id, name=cls, longname=path, layer_type=kind, reason=why
            )
            return
        kernel = tuple(int(k) for k in w.shape[2:])
        yield make_spec(
            layer_id=layer_id,
            name=cls,
            longname=path,
            layer_type=kind,
            shape=tuple(w.shape),
            load=_loader(lambda: _weight(module)),
            conv_slices=kind == "conv2d",
            extra={"kernel": kernel, "groups": int(getattr(module, "groups", 1))}
            if kernel
            else None,
        )
        return
    if "norm" in lname:
        return  # WeightWatcher lists no normalisation layers; neither do we
    if cls == "ParametrizationList":
        return  # the raw tensors behind torch parametrizations: the owner's weight is the row
    for pname, p in module.named_parameters(recurse=False):
        if p.ndim >= 2:
            yield skipped_spec(
                layer_id=layer_id,
                name=cls,
                longname=f"{path}.{pname}",
                layer_type="unsupported",
                reason=f"parameter {pname!r} {tuple(p.shape)} of unsupported module type {cls}",
                extra={"shape": tuple(p.shape)},
            )


def _attention(layer_id: int, path: str, module: Any) -> Iterator[LayerSpec]:
    cls = type(module).__name__
    fused = getattr(module, "in_proj_weight", None)
    e = int(module.embed_dim)
    for i, part in enumerate(QKV):
        if fused is not None:
            t, rows = fused, slice(i * e, (i + 1) * e)  # in_proj_weight (3E, E): q, k, v rows
            shape = (e, int(fused.shape[1]))
        else:
            t, rows = getattr(module, f"{part}_proj_weight"), None
            shape = tuple(t.shape)
        longname = f"{path}.{part}"
        why = _unusable(t)
        if why:
            yield skipped_spec(
                layer_id=layer_id, name=cls, longname=longname, layer_type="attention", reason=why
            )
            continue
        yield make_spec(
            layer_id=layer_id,
            name=cls,
            longname=longname,
            layer_type="attention",
            shape=shape,
            load=_loader(t, rows),
            extra={"part": part},
        )


def _gates(cls: str, mode: str) -> tuple[str, ...]:
    if "LSTM" in mode or cls.startswith("LSTM"):
        return LSTM_GATES
    if "GRU" in mode or cls.startswith("GRU"):
        return GRU_GATES
    return ("",)  # plain RNN: one matrix per weight


def _recurrent(layer_id: int, path: str, module: Any) -> Iterator[LayerSpec]:
    cls = type(module).__name__
    gates = _gates(cls, str(getattr(module, "mode", "")))
    for pname, p in module.named_parameters(recurse=False):
        if p.ndim != 2:
            continue  # biases
        base = f"{path}.{pname}"
        is_proj = pname.startswith("weight_hr")  # LSTM projection: not gate-stacked
        parts = ("",) if is_proj else gates
        g = int(p.shape[0]) // len(parts)
        for i, gate in enumerate(parts):
            longname = f"{base}.{gate}" if gate else base
            why = _unusable(p)
            if why:
                yield skipped_spec(
                    layer_id=layer_id, name=cls, longname=longname, layer_type="rnn", reason=why
                )
                continue
            rows = slice(i * g, (i + 1) * g) if gate else None
            extra: dict[str, object] = (
                {"tensor": pname, "part": gate} if gate else {"tensor": pname}
            )
            yield make_spec(
                layer_id=layer_id,
                name=cls,
                longname=longname,
                layer_type="rnn",
                shape=(g, int(p.shape[1])),
                load=_loader(p, rows),
                extra=extra,
            )
