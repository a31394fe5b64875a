"""Read weight files safely and lazily into :class:`~weightspace.spectral.infer.TensorStore`.

Accepted (see ``docs/inputs.md``):

- ``.safetensors``: tensors in file order (their data offsets), read one at a time;
- a directory of sharded ``*.safetensors`` in Hugging Face layout: tensors in the order of
  a ``model*.layer_map`` file (WeightWatcher's: one tensor name per line), else of
  ``model.safetensors.index.json``'s ``weight_map``, else file by file, sorted by name;
  each ``LayerSpec.load()`` opens only the shard and the rows it needs (a directory of
  torch shards with ``pytorch_model.bin.index.json`` is read the same way, memory-mapped);
- ``.pt`` / ``.pth`` / ``.bin`` / ``.ckpt``: a state dict read with
  ``torch.load(weights_only=True, mmap=True)`` (a checkpoint dict with a nested
  ``state_dict`` / ``model`` / ``module`` key is unwrapped). A pickle that needs code to run
  is refused with :class:`CheckpointError`, never executed;
- ``.npz``: named arrays, ``allow_pickle=False``, shapes read from the member headers;
- a WeightWatcher flat-file directory (``ww_config.json`` + ``.npy`` files,
  :mod:`weightspace.spectral.load_flatfiles`): the original tensor names in the config's order.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from weightspace.checkpoint import torch_load, unwrap_state_dict
from weightspace.errors import CheckpointError
from weightspace.spectral.infer import TensorStore, store_specs
from weightspace.spectral.layers import LayerSpec
from weightspace.spectral.load_flatfiles import FlatFileStore, is_flatfile_dir, layer_map
from weightspace.spectral.load_onnx import OnnxStore
from weightspace.spectral.load_safetensors import SafetensorsStore, ShardedStore
from weightspace.spectral.slices import tensor_to_numpy

log = logging.getLogger(__name__)

TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")
SUFFIXES = (".safetensors", *TORCH_SUFFIXES, ".npz")
ST_INDEX = "model.safetensors.index.json"
TORCH_INDEX = "pytorch_model.bin.index.json"
_ACCEPTED = (
    "a .safetensors, .pt/.pth/.bin/.ckpt (state dict), .npz or .onnx file, "
    "or a directory of sharded *.safetensors (or WeightWatcher's flat files)"
)


def path_specs(path: str | os.PathLike[str]) -> Iterator[LayerSpec]:
    """Specs for the weights at ``path`` (file or sharded directory)."""
    store = open_store(path)
    specs = list(store_specs(store))
    if not specs:
        raise CheckpointError(
            f"{store.origin} holds no weight tensor with 2 or more dimensions; "
            "nothing to analyse. Check that it is a model's weights (not optimizer state)."
        )
    return iter(specs)


def state_dict_specs(sd: Mapping[str, Any], *, origin: str) -> Iterator[LayerSpec]:
    store = DictStore(unwrap_state_dict(sd, origin=origin), origin=origin)
    return store_specs(store)


def open_store(path: str | os.PathLike[str]) -> TensorStore:
    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"no such file or directory: {str(p)!r}; give {_ACCEPTED}")
    if p.is_dir():
        return _directory_store(p)
    suffix = p.suffix.lower()
    if suffix == ".safetensors":
        return SafetensorsStore(p)
    if suffix in TORCH_SUFFIXES:
        return _torch_store(p)
    if suffix == ".npz":
        return NpzStore(p)
    if suffix == ".onnx":
        return OnnxStore(p)
    raise CheckpointError(
        f"cannot read {str(p)!r}: unknown file type {suffix or '(no suffix)'!r}; give {_ACCEPTED}"
    )


def _directory_store(root: Path) -> TensorStore:
    """Sharded ``*.safetensors`` (preferred) or sharded torch files in Hugging Face layout,
    or a WeightWatcher flat-file directory."""
    if is_flatfile_dir(root):
        return FlatFileStore(root)
    shards = sorted(root.glob("*.safetensors"))
    if shards:
        index = root / ST_INDEX
        stores: dict[str, TensorStore] = {q.name: SafetensorsStore(q) for q in shards}
        sharded = ShardedStore(str(root), stores, index if index.exists() else None)
        order = layer_map(root)
        if order is not None:
            sharded.reorder(order)
        return sharded
    shards = sorted(q for q in root.iterdir() if q.is_file() and q.suffix in TORCH_SUFFIXES)
    if shards:
        index = root / TORCH_INDEX
        stores = {q.name: _torch_store(q) for q in shards}
        return ShardedStore(str(root), stores, index if index.exists() else None)
    found = ", ".join(sorted(q.name for q in root.iterdir())[:10]) or "nothing"
    raise CheckpointError(
        f"directory {str(root)!r} holds no *.safetensors files (found: {found}); give {_ACCEPTED}"
    )


def _torch_store(path: Path) -> TensorStore:
    return DictStore(unwrap_state_dict(torch_load(path), origin=str(path)), origin=str(path))


# --- in-memory state dicts and torch files -------------------------------------------------


class DictStore:
    """Tensors (torch or numpy) already in memory (possibly memory-mapped)."""

    def __init__(self, tensors: Mapping[str, Any], *, origin: str) -> None:
        self._t = dict(tensors)
        self.origin = origin

    def names(self) -> list[str]:
        return list(self._t)

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(int(d) for d in self._t[name].shape)

    def is_float(self, name: str) -> bool:
        v = self._t[name]
        if isinstance(v, np.ndarray):
            return bool(np.issubdtype(v.dtype, np.floating))
        return bool(v.is_floating_point())

    def read(self, name: str, rows: slice | None = None) -> np.ndarray:
        """A fresh array (never a view of the caller's tensors)."""
        v = self._t[name]
        v = v if rows is None else v[rows]
        if isinstance(v, np.ndarray):
            return np.array(v, copy=True)
        a = tensor_to_numpy(v)  # a view when v is a float32/64 CPU tensor
        same = v.device.type == "cpu" and str(v.dtype) in ("torch.float32", "torch.float64")
        return a.copy() if same else a


# --- npz -----------------------------------------------------------------------------------


class NpzStore:
    """Named arrays in a ``.npz``; shapes from member headers, arrays read on demand."""

    def __init__(self, path: Path) -> None:
        import zipfile

        self.path = path
        self.origin = str(path)
        self._info: dict[str, tuple[tuple[int, ...], np.dtype[Any]]] = {}
        try:
            with zipfile.ZipFile(path) as zf:
                for member in zf.infolist():
                    if not member.filename.endswith(".npy"):
                        continue
                    with zf.open(member) as f:
                        version = np.lib.format.read_magic(f)
                        if version == (1, 0):
                            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
                        else:
                            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
                    self._info[member.filename[: -len(".npy")]] = (tuple(shape), dtype)
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
            raise CheckpointError(
                f"cannot read {str(path)!r} as .npz ({type(err).__name__}: {err}); save named "
                "matrices with numpy.savez(path, name=array, ...)"
            ) from None

    def names(self) -> list[str]:
        return list(self._info)

    def shape(self, name: str) -> tuple[int, ...]:
        return self._info[name][0]

    def is_float(self, name: str) -> bool:
        return bool(np.issubdtype(self._info[name][1], np.floating))

    def read(self, name: str, rows: slice | None = None) -> np.ndarray:
        with np.load(self.path, allow_pickle=False) as z:
            a = z[name]
        return np.asarray(a if rows is None else a[rows])
