"""Safetensors files and sharded model directories, read lazily.

The header is parsed here (8-byte little-endian length, then JSON) so that tensors can be
listed in their physical file order; the ``safetensors`` library then validates the whole
layout (truncation). Tensors are read on demand by memory-mapping their bytes: float32/64
come back as read-only maps (pages are read as the analysis touches them), bf16 and fp16 as
float32 arrays widened exactly from the mapped rows (bf16 → float32 is a 16-bit shift), so a
read holds at most the mapped bytes plus one float32 copy. Other dtypes (float8) are read
through the ``safetensors`` library.
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
# safetensors dtype -> little-endian numpy dtype of the stored bytes (BF16 as raw 16 bits)
_MAPPED = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2"}


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
        with safe_open(str(path), framework="numpy"):  # validates only; torch stays unloaded
            pass
    except Exception as err:
        raise CheckpointError(
            f"cannot read {str(path)!r} as safetensors ({str(err).splitlines()[0]}); the file "
            "may be truncated or corrupt. Re-download or re-export it with safetensors"
        ) from None


def map_safetensors(
    path: Path, entry: dict[str, Any], data_start: int, rows: slice | None = None
) -> np.ndarray:
    """One tensor (or ``rows`` of it) of a float type in :data:`_MAPPED`, exactly as float32/64.

    float32/float64: a read-only memory map (no copy). fp16: widened to float32. bf16: its
    16 bits are the top half of the float32 with the same value, so the mapped rows are
    widened with one shift into a fresh float32 array.
    """
    dtype = np.dtype(_MAPPED[str(entry["dtype"])])
    shape = tuple(int(d) for d in entry["shape"])
    begin, end = (int(x) for x in entry["data_offsets"])
    count = int(np.prod(shape, dtype=np.int64))
    if end - begin != count * dtype.itemsize:
        raise CheckpointError(
            f"cannot read {str(path)!r}: tensor of shape {shape} and dtype {entry['dtype']} "
            f"spans {end - begin} bytes, not {count * dtype.itemsize}; the file is corrupt. "
            "Re-export it with safetensors"
        )
    if count == 0:
        return np.zeros(shape, dtype=np.float32 if dtype.itemsize < 8 else np.float64)
    mapped = np.memmap(path, dtype=dtype, mode="r", offset=data_start + begin, shape=shape)
    part = mapped if rows is None else mapped[rows]
    if str(entry["dtype"]) == "BF16":
        wide = part.astype(np.uint32)  # fresh, C order
        np.left_shift(wide, np.uint32(16), out=wide)
        return wide.view(np.float32)
    if dtype.itemsize == 2:
        return part.astype(np.float32)
    return part


def read_safetensors(path: Path, name: str, rows: slice | None = None) -> np.ndarray:
    """One tensor (or a block of its rows) as float32/64 through the ``safetensors`` library."""
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
        with path.open("rb") as f:
            self._data_start = 8 + int(struct.unpack("<Q", f.read(8))[0])

    def names(self) -> list[str]:
        return list(self._header)

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(int(d) for d in self._header[name]["shape"])

    def is_float(self, name: str) -> bool:
        return str(self._header[name].get("dtype")) in _ST_FLOATS

    def read(self, name: str, rows: slice | None = None) -> np.ndarray:
        entry = self._header[name]
        if str(entry.get("dtype")) in _MAPPED:
            return map_safetensors(self.path, entry, self._data_start, rows)
        return read_safetensors(self.path, name, rows)


class ShardedStore:
    """Shards of one model (Hugging Face layout), in the index file's ``weight_map`` order.

    ``stores`` maps shard file names to their stores; without an index, tensors come shard
    by shard in the order of ``stores`` (the first shard holding a name wins).
    """

    def __init__(self, origin: str, stores: dict[str, TensorStore], index: Path | None) -> None:
        self.origin = origin
        self._stores = stores
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

    def reorder(self, order: list[str]) -> None:
        """Put the tensors named in ``order`` first, in that order (a ``*.layer_map``)."""
        missing = [n for n in order if n not in self._where]
        if missing:
            raise CheckpointError(
                f"{self.origin!r}: the layer_map lists {len(missing)} tensor(s) that no shard "
                f"holds (first: {missing[0]!r}); fix or remove the layer_map file"
            )
        listed = set(order)
        rest = [n for n in self._where if n not in listed]
        self._where = {n: self._where[n] for n in [*order, *rest]}

    def shard_names(self) -> dict[str, list[str]]:
        """Each shard's tensor names, shards in the order given (sorted file names)."""
        return {shard: store.names() for shard, store in self._stores.items()}

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
