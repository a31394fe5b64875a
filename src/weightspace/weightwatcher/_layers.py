"""WeightWatcher 0.7.7's layer rows on top of :func:`weightspace.spectral.extract.iter_layers`.

What differs from weightspace's own enumeration and is reproduced here:

- torch modules: ``name`` is the last component of the module path, ``layer_type`` is
  ``dense`` for Linear layers; ids are ``named_modules()`` indices plus ``start_ids``;
- state dicts and weight files: only tensors named ``*.weight`` count; ``layer_id`` is 1 + the
  index among them (1-D ones included; for a directory ``start_ids`` + the index, in the order
  of its ``*.layer_map``, else the index file's grouped by shard, else file by file),
  ``name = longname`` = the name without ``.weight``; WeightWatcher's flat-file directories
  keep their config's ids (+ ``start_ids``), names and types;
  2-D tensors are ``dense`` (embeddings included), 4-D ``conv2d``; others are not analysed;
- ``layers=``: ints keep those ids (all negative: drop them), strings equal to a layer type keep
  that type, other strings keep (or, all prefixed with ``-``, drop) that ``name``;
- ``pool=False``: one row per conv kernel position (``slice_id``), each scaled by
  sqrt(rf/2) as WeightWatcher's ``conv2d_norm`` does for slices;
- limits: ``min_evals`` <= M·rf <= ``max_evals`` (M per slice without pooling), N <= ``max_N``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from weightspace.checkpoint import unwrap_state_dict
from weightspace.errors import ConfigError
from weightspace.spectral.esd import as_slices
from weightspace.spectral.extract import iter_layers
from weightspace.spectral.layers import LayerSpec
from weightspace.spectral.load import open_store
from weightspace.spectral.load_flatfiles import FlatFileStore, layer_map

WW_TYPES = {"linear": "dense", "conv1d": "conv1d", "conv2d": "conv2d", "embedding": "embedding"}
TYPE_FILTERS = ("conv2d", "conv1d", "dense", "embedding", "norm")


@dataclass(frozen=True)
class Row:
    """A WeightWatcher row: the spec to analyse plus the identifiers WeightWatcher prints."""

    spec: LayerSpec
    layer_id: int
    name: str
    longname: str
    layer_type: str
    rf: int
    slice_id: int | None = None
    skip: str = ""  # why WeightWatcher would not analyse it ("" = analysed)
    peft: bool | None = None  # the ``peft`` column (peft mode only)
    full_shape: tuple[int, int] | None = None  # (N, M) of a LoRA update whose ESD is its top r


@dataclass(frozen=True)
class WWName:
    """How WeightWatcher 0.7.7 names one tensor of a state dict, file or directory."""

    layer_id: int
    name: str
    longname: str
    layer_type: str | None = None  # flat files: the type their config records


def _counted(names: Iterable[str], first: int) -> dict[str, WWName]:
    """WeightWatcher's state-dict ids: ``first`` + index among the tensors named ``*.weight``;
    ``name = longname`` = the name without ``.weight``."""
    keys = [n for n in names if n.endswith(".weight")]
    return {
        k: WWName(i + first, k[: -len(".weight")], k[: -len(".weight")]) for i, k in enumerate(keys)
    }


def _index_order(root: Path) -> list[str] | None:
    """The index's weight map grouped by shard file (files sorted by name), keys in
    weight-map order within a file: WeightWatcher's order for a sharded directory."""
    index = root / "model.safetensors.index.json"
    if not index.is_file():
        return None
    weight_map = json.loads(index.read_text()).get("weight_map", {})
    return [k for f in sorted(set(weight_map.values())) for k, v in weight_map.items() if v == f]


def _directory_names(root: Path, store: Any, start_ids: int) -> dict[str, WWName]:
    """WeightWatcher's names for a directory of safetensors or torch shards: in the order of a
    ``model*.layer_map`` file, else of the index file (safetensors only), else file by file
    (safetensors keys sorted by name, as ``safe_open`` lists them; torch files in dict order)."""
    safetensors = any(root.glob("*.safetensors"))
    order = (layer_map(root) or _index_order(root)) if safetensors else None
    if order is not None:
        return _counted(order, start_ids)
    out: dict[str, WWName] = {}
    first, done = start_ids, 0
    for shard, names in store.shard_names().items():
        # (sic) WeightWatcher adds the running total of layers to each file's first id, so
        # from the third file on its ids skip ahead; reproduced for the same ids
        first += done
        part = _counted(sorted(names) if shard.endswith(".safetensors") else names, first)
        out.update(part)
        done += len(part)
    return out


def _ww_names(source: Any, start_ids: int) -> dict[str, WWName] | None:
    """WeightWatcher's names of the tensors of a state dict, file or directory (None for torch
    modules). State dicts and single files count from ``start_ids`` (from 1 when it is 0, as
    WeightWatcher), directories from ``start_ids``; flat files use their config's ids."""
    if isinstance(source, dict):
        return _counted(unwrap_state_dict(source, origin="the state dict"), start_ids or 1)
    if isinstance(source, str | os.PathLike):
        store = open_store(source)
        if isinstance(store, FlatFileStore):
            return {
                f.key: WWName(f.layer_id + start_ids, f.name, f.longname, f.layer_type)
                for f in store.layers
            }
        if Path(source).is_dir():
            return _directory_names(Path(source), store, start_ids)
        return _counted(store.names(), start_ids or 1)
    return None


def base_rows(source: Any, *, start_ids: int = 0, conv2d_norm: bool = True) -> list[Row]:
    """Every layer row WeightWatcher 0.7.7 would list for ``source`` (before limits/filters)."""
    specs = list(iter_layers(source, min_evals=0))
    named = _ww_names(source, start_ids)
    rows: list[Row] = []
    if named is None:  # a torch module
        for spec in specs:
            kind = WW_TYPES.get(spec.layer_type)
            skip = "" if kind else f"WeightWatcher 0.7.7 does not analyse {spec.layer_type} layers"
            rows.append(
                _row(spec, spec.layer_id + start_ids, spec.longname.split(".")[-1], kind, skip)
            )
    else:
        for spec in specs:
            ww = named.get(str(spec.extra.get("tensor", "")))
            if ww is None:
                continue  # WeightWatcher lists only *.weight tensors
            ndim = len(spec.extra.get("shape", ()))  # type: ignore[arg-type]
            kind = {2: "dense", 4: "conv2d"}.get(ndim)
            skip = "" if kind else f"WeightWatcher 0.7.7 does not analyse {ndim}-D tensors"
            if ww.layer_type is not None and ww.layer_type not in ("dense", "conv2d"):
                kind, skip = None, f"WeightWatcher 0.7.7 does not analyse {ww.layer_type} layers"
            spec = replace(spec, longname=ww.longname)
            rows.append(_row(spec, ww.layer_id, ww.name, kind, skip))
        rows.sort(key=lambda r: r.layer_id)  # WeightWatcher's order (stable for q/k/v parts)
    if not conv2d_norm:
        rows = [replace(r, spec=replace(r.spec, conv_slices=False)) for r in rows]
    return rows


def _row(spec: LayerSpec, layer_id: int, name: str, kind: str | None, skip: str) -> Row:
    if spec.status == "skipped":
        skip = skip or spec.reason
    rf = int(spec.extra.get("S", 1))  # type: ignore[call-overload]
    return Row(spec, layer_id, name, spec.longname, kind or spec.layer_type, rf, None, skip)


def select(rows: list[Row], layers: Any) -> list[Row]:
    """WeightWatcher's ``layers=`` filter (ids, layer types, names; negatives drop)."""
    wanted = layers if isinstance(layers, list | tuple) else [layers]
    wanted = [w.item() if isinstance(w, np.generic) else w for w in wanted]
    if not wanted:
        return rows
    ids = [int(w) for w in wanted if isinstance(w, int) and not isinstance(w, bool)]
    types = [w for w in wanted if isinstance(w, str) and w in TYPE_FILTERS]
    names = [w for w in wanted if isinstance(w, str) and w not in TYPE_FILTERS]
    bad = [w for w in wanted if not isinstance(w, int | str) or isinstance(w, bool)]
    if bad:
        raise ConfigError(f"layers must hold layer ids (int) or names/types (str), got {bad!r}")
    if ids and min(ids) < 0 < max(ids):
        raise ConfigError(
            f"layers={ids!r} mixes ids to keep (>= 0) and ids to drop (< 0); use one kind"
        )
    dashed = [n.startswith("-") for n in names]
    if names and any(dashed) and not all(dashed):
        raise ConfigError(
            f"layers={names!r} mixes names to keep and names to drop ('-name'); use one kind"
        )

    def keep(r: Row) -> bool:
        ok = True
        if types:
            ok = r.layer_type in types
        if ids:
            ok = (r.layer_id in ids) if min(ids) >= 0 else (-r.layer_id not in ids)
        if names:
            ok = (f"-{r.name}" not in names) if all(dashed) else (r.name in names)
        return ok

    return [r for r in rows if keep(r)]


def _slice_loader(load: Callable[[], np.ndarray], k: int, scale: float) -> Callable[[], np.ndarray]:
    def sliced() -> np.ndarray:
        return as_slices(load()[k : k + 1]) * scale  # (1, N, M), float64

    return sliced


def unpool(rows: list[Row]) -> list[Row]:
    """``pool=False``: conv2d rows become one row per kernel position (``slice_id``)."""
    out: list[Row] = []
    for r in rows:
        if r.layer_type != "conv2d" or r.skip or r.spec.load is None:
            out.append(replace(r, slice_id=0))
            continue
        s = r.rf
        # WeightWatcher multiplies each slice by sqrt(conv2d_count / 2) with conv2d_norm
        scale = math.sqrt(s) if r.spec.conv_slices else 1.0
        cached = _cache(r.spec.load)
        for k in range(s):
            extra = dict(r.spec.extra, S=1, num_evals=r.spec.extra.get("M"))
            spec = replace(r.spec, load=_slice_loader(cached, k, scale), extra=extra)
            out.append(replace(r, spec=spec, slice_id=k))
    return out


def _cache(load: Callable[[], np.ndarray]) -> Callable[[], np.ndarray]:
    """Read a layer once for all its slices (released after the last one)."""
    memo: dict[str, Any] = {}

    def cached() -> np.ndarray:
        if "w" not in memo:
            memo["w"] = load()
        return memo["w"]

    return cached


def apply_limits(
    rows: list[Row], *, min_evals: int, max_evals: int, max_n: int, pool: bool
) -> list[Row]:
    """Mark the rows WeightWatcher 0.7.7 skips for their size."""
    out = []
    for r in rows:
        if r.skip or r.spec.load is None:
            out.append(r if r.skip else replace(r, skip=r.spec.reason or "no weights"))
            continue
        n, m = int(r.spec.extra["N"]), int(r.spec.extra["M"])  # type: ignore[call-overload]
        evals = m if not pool else m * r.rf
        why = ""
        if min_evals and evals < min_evals:
            why = f"num_evals {evals} < min_evals {min_evals}"
        elif max_evals and evals > max_evals:
            why = f"num_evals {evals} > max_evals {max_evals}"
        elif n > max_n:
            why = f"N {n} > max_N {max_n}"
        out.append(replace(r, skip=why) if why else r)
    return out


def ww_matrices(row: Row) -> list[np.ndarray]:
    """The layer's matrices as WeightWatcher's ``Wmats`` (and ``get_Weights``): a dense
    layer's weight as stored (out, in); conv kernel slices with N >= M (float64 copies)."""
    assert row.spec.load is not None
    slices = as_slices(row.spec.load())  # (S, N, M), N >= M
    shape: Any = row.spec.extra.get("shape", ())
    flip = len(shape) == 2 and int(shape[0]) < int(shape[1])
    return [s.T.copy() if flip else s.copy() for s in slices]
