"""The ``synthetic`` table: study expansion into ``gen`` conditions and per-run settings.

In a study::

    [conditions]
    synthetic = { mode = "replace", fractions = [0.1, 0.3, 0.5, 0.7, 0.9, 1.0], source = "builtin" }

``mode`` is ``"replace"``, ``"add"`` or a list of both; ``filtered`` is ``false`` (default),
``true`` (filtered variants only) or ``"both"``; ``source`` is ``"builtin"`` or a path
(.npz / ImageFolder / PNGs + labels.csv). Names follow the paper: ``gen0.1`` (replace),
``gen0.1_add`` (add), ``gen0.1_vf`` (filtered replace), ``gen0.1_add_vf`` (filtered add).
Every such condition has category ``gen``; its strength is the fraction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from weightspace.config import check_keys
from weightspace.errors import ConfigError
from weightspace.synthetic.generator import GeneratorConfig
from weightspace.synthetic.mix import MODES
from weightspace.vocabulary import Category

#: the keys of a study's ``synthetic`` table and of one run's (``RunConfig.synthetic``)
SYNTHETIC_STUDY_KEYS = ("mode", "fractions", "source", "filtered", "tau", "oversample", "generator")
SYNTHETIC_RUN_KEYS = ("mode", "fraction", "source", "filtered", "tau", "oversample", "generator")
FILTERED_CHOICES = (False, True, "both")


@dataclass(frozen=True)
class SyntheticSettings:
    """One run's synthetic-data settings (``RunConfig.synthetic``)."""

    mode: str = "replace"
    fraction: float = 0.5
    source: str = "builtin"
    filtered: bool = False
    tau: float = 0.5  # filter: keep samples whose intended-class confidence is >= tau
    oversample: float = 3.0  # builtin: samples per class = oversample × the largest real class
    generator: Mapping[str, Any] = field(default_factory=dict)  # GeneratorConfig fields

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"unknown synthetic mode {self.mode!r}; valid: {', '.join(MODES)}")
        if isinstance(self.fraction, bool) or not isinstance(self.fraction, (int, float)):
            raise ConfigError(f"synthetic fraction must be a number, got {self.fraction!r}")
        hi = 1.0 if self.mode == "replace" else 10.0
        if not 0.0 < float(self.fraction) <= hi:
            raise ConfigError(f"{self.mode} fraction must be in (0, {hi}], got {self.fraction}")
        if not isinstance(self.filtered, bool):
            raise ConfigError(f"filtered must be true or false for one run, got {self.filtered!r}")
        if not 0.0 <= float(self.tau) <= 1.0:
            raise ConfigError(f"tau must be in [0, 1], got {self.tau}")
        if not float(self.oversample) >= 1.0:
            raise ConfigError(f"oversample must be >= 1, got {self.oversample}")
        check_keys(
            self.generator,
            [f.name for f in GeneratorConfig.__dataclass_fields__.values()],
            "synthetic.generator",
        )
        GeneratorConfig(**dict(self.generator))  # validate
        object.__setattr__(self, "fraction", float(self.fraction))
        object.__setattr__(self, "generator", dict(self.generator))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> SyntheticSettings:
        check_keys(data, SYNTHETIC_RUN_KEYS, "synthetic")
        return cls(**dict(data))

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in SYNTHETIC_RUN_KEYS}


def condition_name(mode: str, fraction: float, filtered: bool) -> str:
    return f"gen{float(fraction)}" + ("_add" if mode == "add" else "") + ("_vf" if filtered else "")


def expand_conditions(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Expand a study's ``synthetic`` table into condition mappings (name, category, strength, overrides)."""
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"synthetic must be a table such as {{mode = 'replace', fractions = [0.5]}}, got {spec!r}"
        )
    check_keys(spec, SYNTHETIC_STUDY_KEYS, "[conditions] synthetic")
    modes = spec.get("mode", "replace")
    modes = [modes] if isinstance(modes, str) else list(modes)
    fractions = spec.get("fractions", [0.1, 0.3, 0.5, 0.7, 0.9, 1.0])
    if not isinstance(fractions, (list, tuple)) or not fractions:
        raise ConfigError(f"synthetic fractions must be a non-empty list, got {fractions!r}")
    filtered = spec.get("filtered", False)
    if filtered not in FILTERED_CHOICES:
        raise ConfigError(f'synthetic filtered must be false, true or "both", got {filtered!r}')
    variants = [False, True] if filtered == "both" else [bool(filtered)]
    common = {k: spec[k] for k in ("source", "tau", "oversample", "generator") if k in spec}
    out = []
    for mode in modes:
        for vf in variants:
            for p in fractions:
                run = SyntheticSettings.from_mapping(
                    {"mode": mode, "fraction": p, "filtered": vf, **common}
                )
                out.append(
                    {
                        "name": condition_name(mode, run.fraction, vf),
                        "category": Category.GEN,
                        "strength": run.fraction,
                        "overrides": {"synthetic": run.to_dict()},
                    }
                )
    return out
