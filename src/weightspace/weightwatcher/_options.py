"""WeightWatcher 0.7.7's ``analyze``/``describe`` options: which are implemented, which refused.

Every option of WeightWatcher 0.7.7 is listed here. An implemented option is translated into
weightspace's settings; an option that is not implemented is accepted only at its
WeightWatcher default, and any other value raises :class:`UnsupportedOption` naming it, so
that no setting is ever silently ignored.
"""

from __future__ import annotations

from typing import Any

from weightspace.errors import ConfigError
from weightspace.spectral.fingers import TailOptions
from weightspace.spectral.tpl import PL, TPL

DEFAULT_MIN_EVALS = 8
DEFAULT_MAX_EVALS = 15000
DEFAULT_MAX_N = 50000
DEF_SAVE_DIR = "ww-img"
WEAK_RANK_LOSS_TOLERANCE = 0.000001
DEFAULT_MAX_FINGERS = 10
DEFAULT_FINGER_THRESH = 1.0

# option -> (its WeightWatcher default, what to use instead)
NOT_IMPLEMENTED: dict[str, tuple[Any, str]] = {
    "glorot_fix": (False, "rescale the weights yourself before the analysis"),
    "conv2d_fft": (False, "no replacement (deprecated in WeightWatcher)"),
    "fft": (False, "no replacement (experimental in WeightWatcher)"),
    "deltas": (False, "no replacement (it only changes plots)"),
    "intra": (False, "no replacement (experimental in WeightWatcher)"),
    "vectors": (False, "no replacement"),
    "channels": (None, "weightspace reads torch's (out, in, kh, kw) layout"),
    "stacked": (False, "no replacement (experimental in WeightWatcher)"),
    "detX": (False, "no replacement"),
    "ERG": (False, "no replacement"),
    "inverse": (False, "no replacement"),
    "min_size": (None, "use min_evals (WeightWatcher ignores min_size too)"),
    "max_size": (None, "use max_evals (WeightWatcher ignores max_size too)"),
    "tolerance": (WEAK_RANK_LOSS_TOLERANCE, "weak_rank_loss uses WeightWatcher's 1e-6"),
    "params": (None, "pass the options as keyword arguments"),
}


class UnsupportedOption(ConfigError):
    """A WeightWatcher option (or value of one) that weightspace does not implement."""


def refuse_unsupported(given: dict[str, Any]) -> None:
    for name, value in given.items():
        if name not in NOT_IMPLEMENTED:
            continue
        default, instead = NOT_IMPLEMENTED[name]
        if value is default or value == default:
            continue
        raise UnsupportedOption(
            f"WeightWatcher option {name}={value!r} is not implemented by "
            f"weightspace.weightwatcher (only {name}={default!r} is); {instead}. "
            "See docs/weightwatcher.md for the option-by-option mapping"
        )


def check_limits(min_evals: Any, max_evals: Any, max_n: Any) -> tuple[int, int, int]:
    for name, v in (("min_evals", min_evals), ("max_evals", max_evals), ("max_N", max_n)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ConfigError(f"{name} must be an integer >= 0, got {v!r}")
    if min_evals and max_evals and min_evals >= max_evals:
        raise ConfigError(f"min_evals {min_evals} must be < max_evals {max_evals}")
    if max_n < max_evals or max_n < min_evals:
        raise ConfigError(f"max_N {max_n} must be >= max_evals {max_evals} and min_evals")
    return int(min_evals), int(max_evals), int(max_n)


def tail_options(
    *,
    fit: Any,
    fix_fingers: Any,
    xmin_max: Any,
    max_fingers: Any,
    finger_thresh: Any,
    pl_package: Any,
    xmax: Any,
) -> TailOptions:
    """WeightWatcher's fit options as :class:`TailOptions`, with its validity rules."""
    fits = {"PL": PL, "power_law": PL, "TPL": TPL, "truncated_power_law": TPL, "E_TPL": TPL}
    if fit not in fits:
        raise ConfigError(f"fit={fit!r} is not one of {sorted(fits)}")
    if pl_package not in ("ww", "powerlaw"):
        raise ConfigError(f"pl_package={pl_package!r}; use 'ww' (default) or 'powerlaw'")
    if xmax == "force":
        raise UnsupportedOption(
            "WeightWatcher option xmax='force' (a power law bounded at lambda_max, fitted "
            "numerically by the powerlaw package) is not implemented by weightspace.weightwatcher; "
            "use xmax=None, an integer (drop that many top eigenvalues) or fix_fingers"
        )
    if xmax is False:
        xmax = None
    fingers = fix_fingers or None
    if fit == "E_TPL":
        if fingers == "clip_xmax":
            raise ConfigError("fit='E_TPL' and fix_fingers='clip_xmax' cannot both be set")
        fingers = "xmin_peak"
    if pl_package == "ww" and fits[fit] != PL:
        raise ConfigError(
            f"fit={fit!r} needs pl_package='powerlaw' (WeightWatcher 0.7.7 refuses it with "
            "its own 'ww' package too); pass pl_package='powerlaw'"
        )
    if fingers is not None and max_fingers is not None and max_fingers < 1:
        raise ConfigError(f"max_fingers must be >= 1, got {max_fingers!r}")
    return TailOptions(
        fit=fits[fit],
        fix_fingers=fingers,
        xmax=xmax,
        xmin_max=xmin_max,
        max_fingers=DEFAULT_MAX_FINGERS if max_fingers is None else int(max_fingers),
        finger_thresh=float(finger_thresh),
        package=pl_package,
    )
