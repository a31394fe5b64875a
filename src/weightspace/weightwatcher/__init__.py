"""WeightWatcher 0.7.7's interface on weightspace's engine: switch with one import line.

``import weightspace.weightwatcher as ww`` in place of ``import weightwatcher as ww``; then
``ww.WeightWatcher(model=...).analyze(...)`` returns the same columns with WeightWatcher's
numbers (compat="ww"). Options that are not implemented raise :class:`UnsupportedOption`
naming the option. The mapping, option by option, is in ``docs/weightwatcher.md``.
"""

from weightspace.weightwatcher._options import UnsupportedOption
from weightspace.weightwatcher._watcher import WeightWatcher

__version__ = "0.7.7"  # the WeightWatcher interface this module reproduces

__all__ = ["UnsupportedOption", "WeightWatcher"]
