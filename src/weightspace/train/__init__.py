"""One training run: :class:`RunConfig`, the loop, evaluation and the run directory.

``import weightspace.train`` stays cheap: only the config is imported eagerly; the names
that need torch load on first use.
"""

from __future__ import annotations

from typing import Any

from weightspace.train.config import RunConfig

_LAZY = {
    "run": "weightspace.train.runner",
    "evaluate": "weightspace.train.metrics",
    "expected_calibration_error": "weightspace.train.metrics",
    "fit": "weightspace.train.loop",
    "EpochStats": "weightspace.train.loop",
    "LoadedRun": "weightspace.train.restore",
    "load_run": "weightspace.train.restore",
}

__all__ = ["RunConfig", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'weightspace.train' has no attribute {name!r}")
