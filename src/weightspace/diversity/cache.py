"""A disk cache of encoder features, keyed by everything the features depend on.

Key: SHA-256 of a JSON record (source-image digest, augmentation spec, draw seed, encoder
ident) plus :data:`CACHE_FORMAT` and the weightspace version, so an upgrade never reads
features computed by older code. Values are ``.npy`` files written atomically (temporary file + rename), so a run
killed mid-write never leaves a truncated entry. Location: ``$WEIGHTSPACE_CACHE/features``
or ``~/.cache/weightspace/features``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from weightspace import __version__

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    return (
        Path(os.environ.get("WEIGHTSPACE_CACHE", "~/.cache/weightspace")).expanduser() / "features"
    )


def tensor_digest(x: torch.Tensor, length: int = 16) -> str:
    """SHA-256 of a tensor's shape, dtype and bytes."""
    h = hashlib.sha256(f"{tuple(x.shape)}:{x.dtype}".encode())
    h.update(x.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:length]


# Bump when the features for an unchanged record would change (an encoder or an
# augmentation op computes differently); the package version is part of the key as well.
CACHE_FORMAT = 1


def cache_key(record: Mapping[str, Any]) -> str:
    full = {**record, "_format": CACHE_FORMAT, "_version": __version__}
    return hashlib.sha256(json.dumps(full, sort_keys=True, default=str).encode()).hexdigest()[:32]


class FeatureCache:
    """``get_or_compute(record, fn)``: load the array stored for ``record`` or compute and store it.

    ``directory=None`` disables caching. ``hits`` / ``misses`` count lookups.
    """

    def __init__(self, directory: str | os.PathLike[str] | None) -> None:
        self.directory = None if directory is None else Path(directory)
        self.hits = 0
        self.misses = 0

    def path(self, record: Mapping[str, Any]) -> Path | None:
        if self.directory is None:
            return None
        return self.directory / f"{cache_key(record)}.npy"

    def get_or_compute(self, record: Mapping[str, Any], fn: Callable[[], np.ndarray]) -> np.ndarray:
        path = self.path(record)
        if path is not None and path.is_file():
            try:
                arr = np.load(path, allow_pickle=False)
                self.hits += 1
                return arr
            except (OSError, ValueError) as err:
                log.warning("ignoring unreadable cache entry %s: %s", path, err)
        self.misses += 1
        arr = fn()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
            with open(tmp, "wb") as f:
                np.save(f, arr, allow_pickle=False)
            os.replace(tmp, path)
        return arr
