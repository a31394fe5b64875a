"""``peft=True`` / ``peft="with_base"``: WeightWatcher 0.7.7's LoRA rows, for any input.

WeightWatcher walks the ordinary layer rows (a ``PeftModel``'s modules, an adapter file's
``lora_A``/``lora_B`` tensors, a state dict) after its ``layers=`` filter and size limits,
and replaces each LoRA pair:

- a ``lora_A`` row is held; at the next ``lora_B`` row the pair becomes one row for the
  update B·A (float32 product of the stored factors, *without* the LoRA scale
  ``lora_alpha / r``), keeping the ``lora_A`` row's id, ``lora_A`` → ``lora_BA`` in its names;
  its ESD is the top r = rank eigenvalues only (``num_evals = r``), ``N``/``M`` those of B·A;
- with ``peft="with_base"`` the ``lora_B`` row becomes W + B·A (W: the last non-LoRA row
  before it, i.e. the adapted layer's base weight), also its top r eigenvalues, named
  ``lora_W_plus_AB``, listed before the ``lora_BA`` row; the other rows stay;
- with ``peft=True`` the non-LoRA rows are dropped;
- every row gets a boolean ``peft`` column (True for the two LoRA kinds).

The top r singular values are computed as WeightWatcher does (ARPACK ``svds``, k = r, on the
float32 product widened to float64), so the rows carry the same numbers. The update the
model actually applies is scale·B·A: :func:`weightspace.spectral.delta.lora_specs` analyses
that (from the r×r core of the factors) in the engine API.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from weightspace.spectral.esd import as_slices
from weightspace.spectral.slices import make_spec
from weightspace.weightwatcher._layers import Row

WITH_BASE = "with_base"


def _shape(row: Row) -> tuple[int, ...]:
    """The stored tensor's shape."""
    shape: Any = row.spec.extra.get("shape", ())
    return tuple(int(d) for d in shape)


def _matrix(row: Row) -> Callable[[], np.ndarray]:
    """The row's weight matrix as stored, (out, in) (its first slice for convolutions)."""
    assert row.spec.load is not None
    load = row.spec.load
    shape = _shape(row)

    def matrix() -> np.ndarray:
        w = np.asarray(load()[0])  # (N, M), N >= M
        wide = len(shape) >= 2 and int(shape[0]) < int(shape[1])
        return np.ascontiguousarray(w.T if wide else w)  # back to (out, in), as stored

    return matrix


def _top_r(matrix: Callable[[], np.ndarray], rank: int) -> Callable[[], np.ndarray]:
    """A loader of diag(σ_1..σ_r): the top ``rank`` singular values of the matrix (WeightWatcher's
    ``svds`` call), so that the ESD is exactly their squares."""

    def load() -> np.ndarray:
        from scipy.sparse.linalg import svds

        w = np.asarray(matrix(), dtype=np.float64)
        if rank < min(w.shape):
            sv = svds(w, k=rank, return_singular_vectors=False, solver="arpack")
        else:
            sv = np.linalg.svd(w, compute_uv=False)[-rank:]
        return as_slices(np.diag(np.sort(sv))[None])  # (1, r, r)

    return load


def _update_row(row: Row, load: Callable[[], np.ndarray], rank: int, shape: tuple[int, int],
                old: str, new: str) -> Row:  # fmt: skip
    n, m = max(shape), min(shape)
    spec = make_spec(
        layer_id=row.spec.layer_id, name=row.spec.name, longname=row.longname.replace(old, new),
        layer_type=row.spec.layer_type, shape=(rank, rank), load=load,
        extra={"N": n, "M": m, "num_evals": m, "rf": 1, "S": 1},
    )  # fmt: skip
    return replace(
        row, spec=spec, name=row.name.replace(old, new), longname=row.longname.replace(old, new),
        peft=True, full_shape=(n, m),
    )  # fmt: skip


Product = tuple[Callable[[], np.ndarray], int, tuple[int, int], bool]


def _product(a_row: Row, b_row: Row) -> Product:
    """B·A as WeightWatcher forms it: the loader, the rank, the shape, whether A was stored
    (in, r) and transposed."""
    a_shape, b_shape = _shape(a_row), _shape(b_row)
    rank = min(a_shape)
    a_t = a_shape[0] > a_shape[1]
    a_out = (a_shape[1], a_shape[0]) if a_t else a_shape
    b_t = b_shape[1] != a_out[0]
    shape = ((b_shape[1] if b_t else b_shape[0]), a_out[1])
    get_a, get_b = _matrix(a_row), _matrix(b_row)

    def product() -> np.ndarray:
        a = np.ascontiguousarray(get_a().T) if a_t else get_a()
        b = np.ascontiguousarray(get_b().T) if b_t else get_b()
        return np.dot(b, a)  # in the stored precision, as WeightWatcher

    return product, rank, shape, a_t


def peft_rows(rows: list[Row], peft: object) -> list[Row]:
    """WeightWatcher's LoRA rows from the (filtered, size-checked) rows, in its order."""
    with_base = peft == WITH_BASE
    out: list[Row] = []
    last: Row | None = None  # the last non-LoRA row (the base weight of the next update)
    held: Row | None = None  # a lora_A row waiting for its lora_B
    for row in rows:
        if row.skip:
            out.append(replace(row, peft=False))
        elif row.layer_type != "dense" or "lora_" not in row.longname:
            last = row
            if with_base:
                out.append(replace(row, peft=False))
        elif "lora_A" in row.longname:
            held = row
        elif "lora_B" in row.longname and held is not None:
            product = _product(held, row)
            if with_base and last is not None:
                out.append(_with_base(row, last, product))
            load = _top_r(product[0], product[1])
            out.append(_update_row(held, load, product[1], product[2], "lora_A", "lora_BA"))
            held = None
            last = last if with_base else None
        else:
            why = "a LoRA tensor that is neither lora_A nor a lora_B after one"
            out.append(replace(row, skip=why, peft=False))
    return out


def _with_base(b_row: Row, base: Row, product: Product) -> Row:
    """W + B·A (B·A transposed back when A was), W the base row's matrix."""
    get_w, (get_ba, rank, shape, a_t) = _matrix(base), product

    def merged() -> np.ndarray:
        ba = get_ba()
        return get_w() + (ba.T if a_t else ba)

    return _update_row(b_row, _top_r(merged, rank), rank, shape, "lora_B", "lora_W_plus_AB")
