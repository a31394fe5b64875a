"""WeightWatcher 0.7.7's interface on weightspace's engine: switch with one import line.

``import weightspace.weightwatcher as ww`` in place of ``import weightwatcher as ww``; then
``ww.WeightWatcher(model=...).analyze(...)`` returns the same columns with WeightWatcher's
numbers (compat="ww"). Options that are not implemented raise :class:`UnsupportedOption`
naming the option. WeightWatcher's module constants (``ww.LAYER_TYPE``, ``ww.DEFAULT_PARAMS``,
...) are here too, and in :mod:`weightspace.weightwatcher.constants`. The mapping, option by
option, is in ``docs/weightwatcher.md``.
"""

from typing import Any

from weightspace.weightwatcher import constants
from weightspace.weightwatcher._options import UnsupportedOption
from weightspace.weightwatcher._watcher import WeightWatcher

__version__ = "0.7.7"  # the WeightWatcher interface this module reproduces

__all__ = ["UnsupportedOption", "WeightWatcher", "constants"]


def __getattr__(name: str) -> Any:
    """``ww.LAYER_TYPE``, ``ww.DEFAULT_PARAMS``, ...: WeightWatcher's module constants."""
    if not name.startswith("_") and hasattr(constants, name):
        return getattr(constants, name)
    raise AttributeError(f"module 'weightspace.weightwatcher' has no attribute {name!r}")
