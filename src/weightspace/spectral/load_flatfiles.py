"""WeightWatcher's flat-file directories and ``*.layer_map`` files.

WeightWatcher 0.7.7 can extract a model into a directory of ``.npy`` files (its
``extract_pytorch_bins``): ``ww_config.json`` lists, per layer id, the original tensor name
(``key``), a ``name`` (``<model>.<id>``), a ``longname`` (the key without ``.weight``), the
``weightfile``/``biasfile`` and the ``type`` (``dense``, ``conv2d``, ``norm``, ...).
:class:`FlatFileStore` reads such a directory as a :class:`TensorStore` whose names are the
original tensor names, in the config's id order; each weight file is memory-mapped with
``allow_pickle=False`` when a layer is analysed.

A safetensors directory may carry one ``model*.layer_map`` file: one tensor name per line, the
order of the layers (safetensors files keep their names sorted, not in model order).
:func:`layer_map` reads it; WeightWatcher gives it precedence over the index file's order.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from weightspace.errors import CheckpointError

log = logging.getLogger(__name__)

WW_CONFIG = "ww_config.json"
LAYER_MAP_GLOB = "model*layer_map"  # WeightWatcher's glob (next to model*safetensors)


@dataclass(frozen=True)
class FlatLayer:
    """One entry of ``ww_config.json``."""

    layer_id: int
    key: str  # the original tensor name, e.g. "features.0.weight"
    name: str  # "<model_name>.<id>"
    longname: str
    layer_type: str  # WeightWatcher's type string
    path: Path  # the .npy weight file
    bias_path: Path | None  # the .npy bias file, if any
    entry: dict[str, Any]  # the config entry as written


def is_flatfile_dir(root: Path) -> bool:
    return (root / WW_CONFIG).is_file()


def read_ww_config(root: Path) -> list[FlatLayer]:
    """The layers of a flat-file directory in id order."""
    path = root / WW_CONFIG
    fix = "it must be the ww_config.json that WeightWatcher's extract_pytorch_bins writes"
    try:
        config = json.loads(path.read_text())
        entries = config["layers"]
        layers = [_flat_layer(root, int(k), v) for k, v in entries.items()]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise CheckpointError(
            f"cannot read {str(path)!r} ({type(err).__name__}: {err}); {fix}"
        ) from None
    return sorted(layers, key=lambda layer: layer.layer_id)


def _flat_layer(root: Path, layer_id: int, entry: dict[str, Any]) -> FlatLayer:
    weightfile = Path(str(entry["weightfile"]))
    if weightfile.suffix != ".npy":
        raise CheckpointError(
            f"layer {layer_id} of {str(root / WW_CONFIG)!r} points to {str(weightfile)!r}, not "
            "a .npy flat file (WeightWatcher writes those only with save=True); extract the "
            "model with save=True or analyse the safetensors files directly"
        )
    # the file next to the config (WeightWatcher records the absolute directory it wrote)
    path = root / weightfile.name
    biasfile = entry.get("biasfile")
    longname = str(entry["longname"])
    return FlatLayer(
        layer_id=layer_id,
        key=str(entry.get("key", f"{longname}.weight")),
        name=str(entry["name"]),
        longname=longname,
        layer_type=str(entry.get("type", "unknown")),
        path=path,
        bias_path=root / Path(str(biasfile)).name if biasfile else None,
        entry=dict(entry),
    )


class FlatFileStore:
    """The weight files of a flat-file directory, by their original tensor names."""

    def __init__(self, root: Path) -> None:
        self.origin = str(root)
        self.layers = read_ww_config(root)
        self._by_key = {layer.key: layer for layer in self.layers}
        missing = [str(layer.path) for layer in self.layers if not layer.path.is_file()]
        if missing:
            raise CheckpointError(
                f"{self.origin!r}: {len(missing)} weight file(s) listed in {WW_CONFIG} are "
                f"missing (first: {missing[0]!r}); extract the model again"
            )
        self._meta: dict[str, tuple[tuple[int, ...], np.dtype[Any]]] = {}

    def names(self) -> list[str]:
        return list(self._by_key)

    def _header(self, name: str) -> tuple[tuple[int, ...], np.dtype[Any]]:
        if name not in self._meta:
            arr = self._map(name)
            self._meta[name] = (tuple(int(d) for d in arr.shape), arr.dtype)
        return self._meta[name]

    def _map(self, name: str) -> np.ndarray:
        path = self._by_key[name].path
        try:
            return np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as err:
            raise CheckpointError(
                f"cannot read {str(path)!r} as a .npy array ({err}); extract the model again"
            ) from None

    def shape(self, name: str) -> tuple[int, ...]:
        return self._header(name)[0]

    def is_float(self, name: str) -> bool:
        return bool(np.issubdtype(self._header(name)[1], np.floating))

    def read(self, name: str, rows: slice | None = None) -> np.ndarray:
        arr = self._map(name)
        return arr if rows is None else arr[rows]

    def bias(self, name: str) -> np.ndarray | None:
        """The bias of the layer whose weight is ``name`` (None without one)."""
        path = self._by_key[name].bias_path
        return None if path is None else np.load(path, allow_pickle=False)


def layer_map(root: Path) -> list[str] | None:
    """The tensor order of a ``model*.layer_map`` file in ``root`` (None without one).

    As WeightWatcher: lines stripped; if no line ends with ``.weight``, ``.weight`` is added to
    each (the file may list layer names instead of tensor names); with more than one such
    file none is used (logged).
    """
    found = sorted(root.glob(LAYER_MAP_GLOB))
    if len(found) > 1:
        log.warning("%s: %d layer_map files (%s); ignoring them", root, len(found), found[:3])
        return None
    if not found:
        return None
    lines = [line.strip() for line in found[0].read_text().splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        log.warning("%s lists no layers; ignoring it", found[0])
        return None
    if not any(line.endswith(".weight") for line in lines):
        lines = [f"{line}.weight" for line in lines]
    return lines
