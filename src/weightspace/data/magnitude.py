"""One augmentation magnitude knob: a level in [0, 10] mapped onto each op's own parameters.

As timm's ``level_to_arg``: one number places every op on a common strength axis, and each op
maps it onto its own parameter range. ``LEVEL_MAX = 10`` is the strongest level:

=========  ==============================================  ==================  ==============
op         parameter at level L                            range (L = 0..10)   default level
=========  ==============================================  ==================  ==============
noise      ``sigma = L / 100`` (std on [0, 1] pixels)       0 .. 0.1            5 (0.05)
elastic    ``alpha = 8 L`` (``sigma`` stays: smoothness)   0 .. 80             5 (40)
rand       ``magnitude = L (bins − 1) / 10`` (a bin index)  0 .. bins − 1       3 (9 of 31)
augmix     ``severity = L``                                1 .. 10             3
=========  ==============================================  ==================  ==============

``noise10`` / ``noise30`` / ``noise50`` sit at levels 1 / 3 / 5. Every named policy keeps its
exact parameters: :func:`params_level` is the inverse of :func:`level_params`, and
``level_params(op, params_level(op, p), p) == p`` for each of its ops. Ops without a strength
(``hflip``/``vflip``: a probability; ``auto``: AutoAugment's magnitudes belong to its searched
policy; ``trivial``: TrivialAugment draws its magnitude uniformly) have no level.

In an op dict, ``level = L`` sets the op's strength parameter(s) from L
(``{op = "noise", level = 3}`` is ``{op = "noise", sigma = 0.03}``); :func:`policy_level`
gives the level of a whole policy (its ops' levels agree, or it is NaN) for dose–response.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from weightspace.errors import ConfigError

LEVEL_MAX = 10
LEVEL_OPS = ("noise", "elastic", "rand", "augmix")


def check_level(op: str, level: Any) -> float:
    """``level`` as a float in [0, LEVEL_MAX] (integer for the ops whose parameter is one)."""
    if isinstance(level, bool) or not isinstance(level, (int, float)) or math.isnan(level):
        raise ConfigError(f"op {op!r}: level must be a number in [0, {LEVEL_MAX}], got {level!r}")
    if not 0 <= level <= LEVEL_MAX:
        raise ConfigError(f"op {op!r}: level must be in [0, {LEVEL_MAX}], got {level!r}")
    if op == "augmix" and (level < 1 or level != int(level)):
        raise ConfigError(f"op 'augmix': level is its severity, an integer 1..10; got {level!r}")
    return float(level)


def level_params(op: str, level: float, params: Mapping[str, Any]) -> dict[str, Any]:
    """The strength parameter(s) of ``op`` at ``level`` (``params``: its other settings)."""
    if op not in LEVEL_OPS:
        raise ConfigError(
            f"op {op!r} has no magnitude level (only {', '.join(LEVEL_OPS)} do); "
            "remove 'level' or set the op's own parameters"
        )
    level = check_level(op, level)
    if op == "noise":
        return {"sigma": level / 100}
    if op == "elastic":
        return {"alpha": 8 * level}
    if op == "augmix":
        return {"severity": int(level)}
    bins = int(params["num_magnitude_bins"])
    mag = level * (bins - 1) / LEVEL_MAX
    if mag != int(mag):
        raise ConfigError(
            f"op 'rand': level {level:g} falls between magnitude bins of "
            f"num_magnitude_bins={bins}; use a level that is a multiple of "
            f"{LEVEL_MAX / (bins - 1):g}"
        )
    return {"magnitude": int(mag)}


def params_level(op: str, params: Mapping[str, Any]) -> float:
    """The level of an op with these parameters (NaN for an op without one)."""
    if op == "noise":
        return float(params["sigma"]) * 100
    if op == "elastic":
        return float(params["alpha"]) / 8
    if op == "augmix":
        return float(params["severity"])
    if op == "rand":
        return float(params["magnitude"]) * LEVEL_MAX / (int(params["num_magnitude_bins"]) - 1)
    return math.nan


def policy_level(spec: Sequence[Mapping[str, Any]]) -> float:
    """The level of a normalised policy: its ops' common level (NaN when none or they differ)."""
    levels = {round(params_level(item["op"], item), 9) for item in spec}
    levels = {v for v in levels if not math.isnan(v)}
    return levels.pop() if len(levels) == 1 else math.nan
