"""What a run of a pretrained model needs besides the plain loop.

- :func:`with_model_stats`: a model whose weights expect their own input statistics declares
  them (``model.input_stats(in_channels) -> (mean, std)``, e.g. 0.5 / 0.5 for the ImageNet
  EfficientNet-Lite0); the run then normalises with them instead of the training set's.
- :func:`spectra_before`: the "before" spectra of a pretrained backbone are the same in every
  run of a study (only the new head differs), so each layer's row is computed once per
  process and reused. A row is keyed by the layer (id, name), a hash of its weight tensor
  and the analysis options, so a changed weight, layer set or option is never served a
  stale row; layers not in the cache (the freshly initialised head) are analysed as usual.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from typing import Any

import pandas as pd
import torch
from torch import nn

from weightspace.spectral.analyze import analyze
from weightspace.train.config import RunConfig

log = logging.getLogger(__name__)

MAX_ROWS = 4096  # cached layer rows per process (a few models' worth)
_ROWS: dict[tuple[Any, ...], pd.DataFrame] = {}


def with_model_stats(model: nn.Module, data: Any) -> Any:
    """``data`` with the model's declared input statistics, if it declares any."""
    stats = getattr(model, "input_stats", None)
    if not callable(stats):
        return data
    mean, std = stats(data.in_channels)
    log.info("normalising with the model's statistics mean=%s std=%s", mean.tolist(), std.tolist())
    return dataclasses.replace(data, mean=mean, std=std)


def weight_hash(t: torch.Tensor) -> str:
    """A content hash of a tensor (dtype, shape and bytes)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{t.dtype}{tuple(t.shape)}".encode())
    h.update(t.detach().cpu().reshape(-1).contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _layer_keys(model: nn.Module, config: RunConfig) -> dict[str, tuple[Any, ...]]:
    """longname -> cache key for every module that owns a ``weight`` tensor."""
    keys = {}
    for layer_id, (path, module) in enumerate(model.named_modules()):
        w = getattr(module, "weight", None)
        if isinstance(w, torch.Tensor) and w.ndim >= 2:
            keys[path] = (layer_id, path, weight_hash(w), config.compat, config.mp_fit)
    return keys


def spectra_before(model: nn.Module, config: RunConfig) -> pd.DataFrame:
    """The spectra of ``model`` as it starts training, reusing cached rows of known weights.

    Randomly initialised models (``config.pretrained`` unset) are analysed directly: no two
    runs share their weights, so caching would only cost memory.
    """
    if config.pretrained in (None, ""):
        return _analyze(model, config, None)
    keys = _layer_keys(model, config)
    cached = [_ROWS[key] for key in keys.values() if key in _ROWS]
    if not cached:  # nothing known: one ordinary pass, then remember its rows
        frame = _analyze(model, config, None)
        _remember(frame, keys)
        return frame
    missing = [name for name, key in keys.items() if key not in _ROWS]
    parts = list(cached)
    if missing:
        fresh = _analyze(model, config, missing)
        _remember(fresh, keys)
        parts.append(fresh)
    log.info("spectra before: %d layers from the cache, %d analysed", len(keys) - len(missing),
             len(missing))  # fmt: skip
    frame = pd.concat(parts, ignore_index=True).sort_values("layer_id", kind="stable")
    return frame.reset_index(drop=True)


def _analyze(model: nn.Module, config: RunConfig, layers: list[str] | None) -> pd.DataFrame:
    was_training = model.training
    try:
        return analyze(model, compat=config.compat, mp_fit=config.mp_fit, layers=layers)
    finally:
        model.train(was_training)


def _remember(frame: pd.DataFrame, keys: dict[str, tuple[Any, ...]]) -> None:
    if len(_ROWS) + len(frame) > MAX_ROWS:
        _ROWS.clear()
    for longname, rows in frame.groupby("longname", sort=False):
        key = keys.get(str(longname))
        if key is not None:
            _ROWS[key] = rows.reset_index(drop=True)


def clear_cache() -> None:
    """Forget every cached row (tests; a process that analyses many models)."""
    _ROWS.clear()
