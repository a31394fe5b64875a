"""Safetensors files and sharded model directories, read lazily.

The header is parsed here (8-byte little-endian length, then JSON) so that tensors can be
listed in their physical file order; the ``safetensors`` library then validates the whole
layout (truncation) and reads each tensor, or the block of rows a layer needs, on demand.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np

from weightspace.errors import CheckpointError
from weightspace.spectral.infer import TensorStore
from weightspace.spectral.slices import tensor_to_numpy

_ST_FLOATS = {"F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2"}


def read_safetensors_header(path: Path) -> dict[str, dict[str, Any]]:
    """Tensor entries of a safetensors header, in data-offset order (file order)."""
    size = path.stat().st_size
    fix = "the file may be truncated or not a safetensors file; re-export it with safetensors"
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise CheckpointError(f"cannot read {str(path)!r}: {size} bytes is too short; {fix}")
        (n,) = struct.unpack("<Q", head)
        if n > size - 8 or n > 100_000_000:
            raise CheckpointError(f"cannot read {str(path)!r}: bad header length {n}; {fix}")
        raw = f.read(n)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(
            f"cannot read {str(path)!r}: header is not JSON ({err}); {fix}"
        ) from None
    if not isinstance(header, dict):
        raise CheckpointError(f"cannot read {str(path)!r}: header is not a JSON object; {fix}")
    entries = {k: v for k, v in header.items() if k != "__metadata__"}
    try:
        order = sorted(entries, key=lambda k: (int(entries[k]["data_offsets"][0]), k))
        for k in order:
            [int(d) for d in entries[k]["shape"]]
    except (KeyError, TypeError, ValueError, IndexError):
        raise CheckpointError(
            f"cannot read {str(path)!r}: malformed tensor entries; {fix}"
        ) from None
    return {k: entries[k] for k in order}


def _check_safetensors(path: Path) -> None:
    """Let the safetensors library validate the whole file layout (catches truncation)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt"):
            pass
    except Exception as err:
        raise CheckpointError(
            f"cannot read {str(path)!r} as safetensors ({str(err).splitlines()[0]}); the file "
            "may be truncated or corrupt. Re-download or re-export it with safetensors"
        ) from None


def read_safetensors(path: Path, name: str, rows: slice | None = None) -> np.ndarray:
    """One tensor (or a block of its rows) as float32/64; opens the file for this read only."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        t = f.get_tensor(name) if rows is None else f.get_slice(name)[rows]
    return tensor_to_numpy(t)


class SafetensorsStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.origin = str(path)
        self._header = read_safetensors_header(path)
        _check_safetensors(path)

    def names(self) -> list[str]:
        return list(self._header)

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(int(d) for d in self._header[name]["shape"])

    def is_float(self, name: str) -> bool:
        return str(self._header[name].get("dtype")) in _ST_FLOATS

    def read(self, name: str, rows: slice | None = None) -> np.ndarray:
        return read_safetensors(self.path, name, rows)


class ShardedStore:
    """Shards of one model (Hugging Face layout), in the index file's ``weight_map`` order.

    ``stores`` maps shard file names to their stores; without an index, tensors come shard
    by shard in the order of ``stores`` (the first shard holding a name wins).
    """

    def __init__(self, origin: str, stores: dict[str, TensorStore], index: Path | None) -> None:
        self.origin = origin
        self._where: dict[str, TensorStore] = {}
        if index is not None:
            for name, shard in read_index(index).items():
                store = stores.get(shard)
                if store is None or name not in set(store.names()):
                    missing = "shard missing" if store is None else "tensor missing from shard"
                    raise CheckpointError(
                        f"{str(index)!r} maps {name!r} to {shard!r} but that is not there "
                        f"({missing}); the download is incomplete. Fetch all shards again"
                    )
                self._where[name] = store
        else:
            for store in stores.values():
                for name in store.names():
                    self._where.setdefault(name, store)

    def names(self) -> list[str]:
        return list(self._where)

    def shape(self, name: str) -> tuple[int, ...]:
        return self._where[name].shape(name)

    def is_float(self, name: str) -> bool:
        return self._where[name].is_float(name)

    def read(self, name: str, rows: slice | None = None) -> np.ndarray:
        return self._where[name].read(name, rows)


def read_index(index: Path) -> dict[str, str]:
    try:
        data = json.loads(index.read_text())
        weight_map = data["weight_map"]
        if not isinstance(weight_map, dict):
            raise TypeError("weight_map is not an object")
        return {str(k): str(v) for k, v in weight_map.items()}
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CheckpointError(
            f"cannot read the shard index {str(index)!r} ({err}); it must be JSON with a "
            "'weight_map' object mapping tensor names to shard files"
        ) from None
