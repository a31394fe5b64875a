"""weightspace: how data diversity and explicit regularizers shape weight spectra.

The top-level names are imported lazily so that ``import weightspace`` stays cheap
(no torch import) until a function is used.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "analyze": "weightspace.spectral.analyze",
    "summarize": "weightspace.spectral.analyze",
    "plot_esd": "weightspace.report.esd",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'weightspace' has no attribute {name!r}")
