"""Layer specs from named tensors without a module tree (state dicts and weight files).

A :class:`TensorStore` lists tensor names in a stable order with their shapes and reads one
tensor (or a block of its rows) on demand, so specs stay lazy. The layer type is inferred
from the tensor's name and shape:

====================================  ======================  ===========================
tensor                                 rows                   ``name`` / ``layer_type``
====================================  ======================  ===========================
``*in_proj_weight`` (3E, E)            ``<prefix>.q/.k/.v``    MultiheadAttention/attention
``*weight_ih_l0`` ``*weight_hh_l0``…   one row per gate        LSTM / GRU / RNN (rnn)
2-D, name contains "embed"             one row                 Embedding / embedding
2-D                                    one row                 Linear / linear
3-D / 4-D / 5-D                        kernel slices pooled    Conv1d/2d/3d / conv{1,2,3}d
>= 3-D named like a token/pos. embed.  skipped row             Parameter / unsupported
> 5-D                                  skipped row             Parameter / unsupported
0-D / 1-D, non-float (buffers)         no row (counted, logged)
====================================  ======================  ===========================

``layer_id`` is the tensor's index in the store's order (all tensors counted, 0-based) and
``longname`` the tensor name without a trailing ``.weight``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

import numpy as np

from weightspace.spectral.layers import LayerSpec
from weightspace.spectral.slices import (
    GRU_GATES,
    LSTM_GATES,
    QKV,
    make_spec,
    skipped_spec,
    to_slices,
)

log = logging.getLogger(__name__)

_RNN = re.compile(r"(?:^|\.)weight_(ih|hh|hr)(_l\d+)?(_reverse)?$")
_TOKENLIKE = re.compile(r"emb|token|pos_|position", re.IGNORECASE)
# a dotted component that contains "emb" (embed, embedding, tok_emb) or is GPT-2's wte/wpe
_EMBEDDING = re.compile(r"(?:^|\.)(?:[^.]*emb[^.]*|wte|wpe)(?:\.|$)", re.IGNORECASE)


class TensorStore(Protocol):
    """Named tensors read on demand."""

    origin: str  # for messages, e.g. the file path

    def names(self) -> list[str]: ...
    def shape(self, name: str) -> tuple[int, ...]: ...
    def is_float(self, name: str) -> bool: ...
    def read(self, name: str, rows: slice | None = None) -> np.ndarray:
        """The tensor (or ``rows`` of its first axis) as a float numpy array that the caller
        owns: fresh, or a read-only memory map of a file — never a view of live weights."""
        ...


def _loader(store: TensorStore, name: str, rows: slice | None = None) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        return to_slices(store.read(name, rows), copy=False)  # reads are the caller's

    return load


def _strip(name: str) -> str:
    return name[: -len(".weight")] if name.endswith(".weight") else name


def _rnn_gates(name: str, shapes: dict[str, tuple[int, ...]]) -> int:
    """Number of gates stacked in RNN weight ``name`` (4 LSTM, 3 GRU, 1 RNN)."""
    m = _RNN.search(name)
    assert m is not None
    prefix = name[: m.start()] + ("." if m.group(0).startswith(".") else "")
    suffix = (m.group(2) or "") + (m.group(3) or "")
    hh = shapes.get(f"{prefix}weight_hh{suffix}")
    hr = shapes.get(f"{prefix}weight_hr{suffix}")
    if hh is None or len(hh) != 2:
        return 1
    hidden = hr[1] if hr is not None and len(hr) == 2 else hh[1]  # with projections hh is (G·H, P)
    if hidden and hh[0] % hidden == 0 and hh[0] // hidden in (1, 3, 4):
        return hh[0] // hidden
    return 1


def store_specs(store: TensorStore) -> Iterator[LayerSpec]:
    names = store.names()
    shapes = {n: store.shape(n) for n in names}
    ignored = 0
    for layer_id, name in enumerate(names):
        shape = shapes[name]
        if len(shape) < 2 or not store.is_float(name):
            ignored += 1
            continue
        yield from _tensor_specs(store, layer_id, name, shape, shapes)
    if ignored:
        log.info(
            "%s: %d 0-/1-D or non-float tensors (biases, norms, buffers) have no row",
            store.origin,
            ignored,
        )


def _tensor_specs(
    store: TensorStore,
    layer_id: int,
    name: str,
    shape: tuple[int, ...],
    shapes: dict[str, tuple[int, ...]],
) -> Iterator[LayerSpec]:
    longname = _strip(name)
    ndim = len(shape)
    if name.endswith("in_proj_weight") and ndim == 2 and shape[0] == 3 * shape[1]:
        prefix = name[: -len("in_proj_weight")].rstrip(".").rstrip("_")
        e = shape[1]
        for i, part in enumerate(QKV):
            yield make_spec(
                layer_id=layer_id,
                name="MultiheadAttention",
                longname=f"{prefix}.{part}" if prefix else part,
                layer_type="attention",
                shape=(e, e),
                load=_loader(store, name, slice(i * e, (i + 1) * e)),
                extra={"part": part, "tensor": name},
            )
        return
    if ndim == 2 and _RNN.search(name):
        yield from _rnn_specs(store, layer_id, name, shape, shapes)
        return
    if ndim == 2:
        is_embed = bool(_EMBEDDING.search(name))
        yield make_spec(
            layer_id=layer_id,
            name="Embedding" if is_embed else "Linear",
            longname=longname,
            layer_type="embedding" if is_embed else "linear",
            shape=shape,
            load=_loader(store, name),
            extra={"tensor": name},
        )
        return
    if ndim > 5 or _TOKENLIKE.search(name):
        why = "more than 5 dimensions" if ndim > 5 else "a token/position embedding, not a kernel"
        yield skipped_spec(
            layer_id=layer_id,
            name="Parameter",
            longname=longname,
            layer_type="unsupported",
            reason=f"tensor {name!r} {shape}: {why}",
            extra={"shape": shape, "tensor": name},
        )
        return
    d = ndim - 2
    yield make_spec(
        layer_id=layer_id,
        name=f"Conv{d}d",
        longname=longname,
        layer_type=f"conv{d}d",
        shape=shape,
        load=_loader(store, name),
        conv_slices=d == 2,
        extra={"kernel": tuple(shape[2:]), "tensor": name},
    )


def _rnn_specs(
    store: TensorStore,
    layer_id: int,
    name: str,
    shape: tuple[int, ...],
    shapes: dict[str, tuple[int, ...]],
) -> Iterator[LayerSpec]:
    is_proj = ".weight_hr" in f".{name}"  # LSTM projection: one matrix, not gate-stacked
    n_gates = 1 if is_proj else _rnn_gates(name, shapes)
    gates: Sequence[str] = {4: LSTM_GATES, 3: GRU_GATES}.get(n_gates, ("",))
    cls = "LSTM" if is_proj else {4: "LSTM", 3: "GRU"}.get(n_gates, "RNN")
    g = shape[0] // len(gates)
    for i, gate in enumerate(gates):
        extra: dict[str, object] = {"part": gate, "tensor": name} if gate else {"tensor": name}
        yield make_spec(
            layer_id=layer_id,
            name=cls,
            longname=f"{name}.{gate}" if gate else name,
            layer_type="rnn",
            shape=(g, shape[1]),
            load=_loader(store, name, slice(i * g, (i + 1) * g) if gate else None),
            extra=extra,
        )
