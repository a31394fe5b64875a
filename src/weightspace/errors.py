"""Exceptions with messages that say what was given, what is allowed and how to fix it.

The CLI turns every :class:`WeightspaceError` into a one-paragraph message on stderr and
exit code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Iterable


class WeightspaceError(Exception):
    """Base class for user-facing errors (bad input, missing data, bad config)."""


class ConfigError(WeightspaceError, ValueError):
    """A configuration value or key is invalid."""


class DataError(WeightspaceError):
    """A dataset is missing or malformed."""


class CheckpointError(WeightspaceError):
    """A model file cannot be read safely."""


def unknown_choice(what: str, given: object, valid: Iterable[str], hint: str = "") -> ConfigError:
    """Build the error for a name that is not in a registry.

    >>> str(unknown_choice("model", "resnt18", ["resnet18", "mlp"]))
    "unknown model 'resnt18'; valid: mlp, resnet18 (did you mean 'resnet18'?)"
    """
    import difflib

    names = sorted(valid)
    msg = f"unknown {what} {given!r}; valid: {', '.join(names)}"
    close = difflib.get_close_matches(str(given), names, n=1)
    if close:
        msg += f" (did you mean {close[0]!r}?)"
    if hint:
        msg += f". {hint}"
    return ConfigError(msg)
