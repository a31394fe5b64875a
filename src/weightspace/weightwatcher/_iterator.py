"""``make_layer_iterator`` and the static ``infer_framework`` / ``infer_model_file_format``.

WeightWatcher 0.7.7's iterator yields its internal ``WWLayer`` objects. Here the iterator
yields :class:`IteratedLayer` views of the same rows ``describe`` lists (same filters, limits,
ids and names) with the public attributes WeightWatcher's users and tests read: ``layer_id``,
``name``, ``longname``, ``the_type`` (a ``LAYER_TYPE``), ``N``, ``M``, ``rf``,
``num_components``, ``Wmats`` (``get_Weights``' matrices), ``framework_layer`` (with ``name``,
``longname``, ``layer_id`` and ``layer``: the torch module, or the tensor name),
``get_weights_and_biases()`` and ``replace_layer_weights(W, B)`` (torch modules and state
dicts). WeightWatcher's per-layer analysis steps (``apply_esd``, ``Wmats`` permutations, ...)
are internals and not provided.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from weightspace.errors import ConfigError
from weightspace.spectral.load import open_store
from weightspace.spectral.load_flatfiles import FlatFileStore
from weightspace.weightwatcher import _layers
from weightspace.weightwatcher._options import UnsupportedOption
from weightspace.weightwatcher.constants import (
    DEFAULT_PARAMS,
    FRAMEWORK,
    LAYER_TYPE,
    MAX_EVALS,
    MAX_N,
    MIN_EVALS,
    MODEL_FILE_FORMATS,
    START_IDS,
    UNKNOWN,
)

DEFAULTS = {"min_evals": 8, "max_evals": 15000, "max_n": 50000, "conv2d_norm": True}
_LIMIT_KEYS = {MIN_EVALS: "min_evals", MAX_EVALS: "max_evals", MAX_N: "max_n"}


@dataclass
class FrameworkLayerView:
    """The framework side of a layer: the torch module (``layer``), or the tensor name."""

    layer: Any
    layer_id: int
    name: str
    longname: str


class IteratedLayer:
    """One layer row as ``make_layer_iterator`` yields it (see the module docstring)."""

    def __init__(self, model: Any, row: _layers.Row) -> None:
        self._model = model
        self._row = row
        self.layer_id = row.layer_id
        self.name = row.name
        self.longname = row.longname
        self.the_type = _layer_type(row.layer_type)
        self.N = int(row.spec.extra["N"])  # type: ignore[call-overload]
        self.M = int(row.spec.extra["M"])  # type: ignore[call-overload]
        self.rf = row.rf
        self.num_components = self.M * self.rf
        self.skipped = False
        self.has_weights = True
        module = _module(model, row) if _is_module(model) else None
        self.framework_layer = FrameworkLayerView(
            module if module is not None else row.longname, row.layer_id, row.name, row.longname
        )

    def __repr__(self) -> str:
        return f"IteratedLayer({self.layer_id}, {self.name!r}, {self.the_type}, N={self.N}, M={self.M})"

    @property
    def Wmats(self) -> list[np.ndarray]:
        """The weight matrices, as ``get_Weights`` returns them."""
        return _layers.ww_matrices(self._row)

    def get_weights_and_biases(self) -> tuple[bool, np.ndarray, bool, np.ndarray | None]:
        """(has_weights, weights, has_biases, biases): the stored tensors as numpy arrays."""
        weight, bias = _tensors(self._model, self._row)
        return True, weight, bias is not None, bias

    def has_biases(self) -> bool:
        return _tensors(self._model, self._row)[1] is not None

    def replace_layer_weights(self, W: np.ndarray, B: np.ndarray | None = None) -> None:
        """Write new weights (and biases, if the layer has them and ``B`` is given) back into
        the torch module or state dict."""
        _replace(self._model, self._row, np.asarray(W), None if B is None else np.asarray(B))


def _is_module(model: Any) -> bool:
    return hasattr(model, "named_modules")


def _module(model: Any, row: _layers.Row) -> Any:
    """The torch module of a row: its longname is the module path, except for a root module
    that is itself the layer (its longname is then its class name)."""
    try:
        return model.get_submodule(row.longname)
    except AttributeError:
        return model


def _layer_type(kind: str) -> Any:
    return getattr(LAYER_TYPE, kind.upper(), LAYER_TYPE.UNKNOWN)


def _to_numpy(t: Any) -> np.ndarray:
    if hasattr(t, "detach"):
        return np.asarray(t.detach().cpu().numpy())
    return np.asarray(t)


def _tensors(model: Any, row: _layers.Row) -> tuple[np.ndarray, np.ndarray | None]:
    """The layer's weight and bias tensors (None without a bias) as numpy arrays."""
    if _is_module(model):
        module = _module(model, row)
        bias = getattr(module, "bias", None)
        return _to_numpy(module.weight), None if bias is None else _to_numpy(bias)
    tensor = str(row.spec.extra.get("tensor", f"{row.longname}.weight"))
    assert row.spec.load is not None
    if isinstance(model, dict):
        bias_key = tensor[: -len("weight")] + "bias" if tensor.endswith("weight") else None
        bias = model.get(bias_key) if bias_key else None
        return _to_numpy(model[tensor]), None if bias is None else _to_numpy(bias)
    store = open_store(model)
    if isinstance(store, FlatFileStore):
        return np.asarray(store.read(tensor)), store.bias(tensor)
    bias_name = tensor[: -len("weight")] + "bias" if tensor.endswith("weight") else ""
    bias = store.read(bias_name) if bias_name in set(store.names()) else None
    return np.asarray(store.read(tensor)), bias


def _replace(model: Any, row: _layers.Row, w: np.ndarray, b: np.ndarray | None) -> None:
    import torch

    if _is_module(model):
        module = _module(model, row)
        with torch.no_grad():
            module.weight.data = torch.from_numpy(w)
            if b is not None and getattr(module, "bias", None) is not None:
                module.bias.data = torch.from_numpy(b)
        return
    if isinstance(model, dict):
        tensor = str(row.spec.extra.get("tensor", f"{row.longname}.weight"))
        model[tensor] = torch.from_numpy(w)
        bias_key = tensor[: -len("weight")] + "bias"
        if b is not None and bias_key in model:
            model[bias_key] = torch.from_numpy(b)
        return
    raise UnsupportedOption(
        "replace_layer_weights writes into a torch module or a state dict; files and "
        "directories are read-only here"
    )


class IteratorMethods:
    """Mixed into :class:`WeightWatcher` (which provides ``_rows`` and ``_set_model``)."""

    model: Any

    def _set_model(self, model: Any, base_model: Any = None) -> None:
        raise NotImplementedError  # provided by WeightWatcher

    def make_layer_iterator(
        self,
        model: Any = None,
        layers: Any = [],  # noqa: B006 - WeightWatcher's signature
        params: Any = None,
        base_model: Any = None,
    ) -> Iterator[IteratedLayer]:
        """The layers ``describe`` lists (after the ``layers=`` filter), one view each; with
        ``base_model`` the views hold W − W_base."""
        limits = dict(DEFAULTS)
        start_ids = 0
        for key, value in (params or {}).items():
            if key in _LIMIT_KEYS:
                limits[_LIMIT_KEYS[key]] = int(value)
            elif key == START_IDS:
                start_ids = int(value)
            elif key not in DEFAULT_PARAMS or DEFAULT_PARAMS[key] != value:
                raise UnsupportedOption(
                    f"make_layer_iterator: params {key}={value!r} is not implemented (only the "
                    "size limits and start ids may differ from DEFAULT_PARAMS)"
                )
        self._set_model(model, base_model)
        rows = self._rows(  # type: ignore[attr-defined]
            layers=layers, pool=True, start_ids=start_ids, peft=False, **limits
        )
        target = self.model
        return iter([IteratedLayer(target, r) for r in rows if not r.skip])

    def make_delta_layer_iterator(
        self,
        base_model: Any,
        model: Any = None,
        filters: Any = [],  # noqa: B006 - WeightWatcher's signature
        params: Any = None,
        Iterator_Class: Any = None,
    ) -> Iterator[IteratedLayer]:
        """The layers of ``model`` holding W − W_base (WeightWatcher's delta iterator)."""
        if base_model is None:
            raise ConfigError("make_delta_layer_iterator needs a base_model")
        return self.make_layer_iterator(model, layers=filters, params=params, base_model=base_model)

    @staticmethod
    def valid_vectors(vectors: Any) -> bool:
        """True for a numpy array or a list of numpy arrays (WeightWatcher's vector inputs)."""
        if isinstance(vectors, list):
            return all(isinstance(v, np.ndarray) for v in vectors)
        return isinstance(vectors, np.ndarray)

    def iterate_vectors(self, vectors: Any) -> Iterator[Any]:
        """The vectors of a 2-D array (its rows), of a list (its items), else the one given."""
        if isinstance(vectors, np.ndarray) and vectors.ndim > 1:
            yield from vectors
        elif isinstance(vectors, list):
            yield from vectors
        else:
            yield vectors

    @staticmethod
    def infer_model_file_format(model_dir: Any) -> tuple[str, str]:
        """(format, file glob) of a model directory, WeightWatcher's precedence: safetensors,
        adapter safetensors, torch ``.bin``, adapter ``.bin``, flat ``.npy`` files, Keras h5."""
        for pattern, fmt in (
            ("model*safetensors", MODEL_FILE_FORMATS.SAFETENSORS),
            ("adapter_model*safetensors", MODEL_FILE_FORMATS.SAFETENSORS),
            ("pytorch_model*bin", MODEL_FILE_FORMATS.PYTORCH),
            ("adapter_model*bin", MODEL_FILE_FORMATS.PYTORCH),
            ("*weight*npy", MODEL_FILE_FORMATS.WW_FLATFILES),
            ("*h5", MODEL_FILE_FORMATS.KERAS_H5_FILE),
        ):
            fileglob = f"{model_dir}/{pattern}"
            if glob.glob(fileglob):
                return fmt, fileglob
        return UNKNOWN, UNKNOWN

    @staticmethod
    def infer_framework(model: Any) -> Any:
        """WeightWatcher's ``FRAMEWORK`` of a model object or directory."""
        mro = " ".join(str(c) for c in type(model).__mro__)
        if model is None:
            return FRAMEWORK.UNKNOWN
        if "torch" in mro:
            return FRAMEWORK.PYTORCH
        if "keras" in mro:
            return FRAMEWORK.KERAS
        if "onnx" in mro:
            return FRAMEWORK.ONNX
        if isinstance(model, dict):
            return FRAMEWORK.PYSTATEDICT
        if isinstance(model, str | os.PathLike) and os.path.isdir(model):
            fmt, _ = IteratorMethods.infer_model_file_format(model)
            if fmt in (MODEL_FILE_FORMATS.PYTORCH, MODEL_FILE_FORMATS.SAFETENSORS):
                return FRAMEWORK.PYSTATEDICT_DIR
            if fmt == MODEL_FILE_FORMATS.WW_FLATFILES:
                return FRAMEWORK.WW_FLATFILES
            if fmt == MODEL_FILE_FORMATS.KERAS_H5_FILE:
                return FRAMEWORK.KERAS_H5_FILE
        return FRAMEWORK.UNKNOWN
