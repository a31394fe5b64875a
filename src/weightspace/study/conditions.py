"""Conditions: the paper's names, categories and doses, expanded from a study's ``[conditions]``.

A condition is one cell of the experiment grid: a name as the paper writes it (``bs``,
``dp0.3``, ``wd5e-05``, ``divAuto``), a category used by the comparison
(:class:`weightspace.vocabulary.Category`: ``bs``, ``dp``, ``wd``, ``div``, ``gen``,
``combo``), a numeric dose (``strength``: the dropout rate p, the weight decay λ, the noise
σ of a pure-noise policy (:func:`weightspace.data.policy_strength`), the EDA α, the
synthetic fraction; NaN when a condition has no single dose) and the
:class:`~weightspace.train.RunConfig` fields it sets (``overrides``).

Numbers in names use Python's ``str(float(x))`` so that they match the file names the paper
published: ``wd1e-05``, ``wd5e-05``, ``wd0.0001``, ``dp0.1``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from weightspace.config import check_keys
from weightspace.errors import ConfigError, unknown_choice
from weightspace.synthetic import expand_conditions as expand_synthetic
from weightspace.train.modality import Modality
from weightspace.vocabulary import BASELINE, Category

CONDITION_KEYS = ("baseline", "dropout", "weight_decay", "augment", "synthetic", "combinations")
COMBINATION_KEYS = ("augment", "dropout", "weight_decay", "name")
CUSTOM_AUGMENT_KEYS = ("name", "ops")


@dataclass(frozen=True)
class Condition:
    """One condition of a study: paper name, category, dose and the RunConfig fields it sets."""

    name: str
    category: Category
    strength: float = math.nan
    overrides: Mapping[str, Any] = field(default_factory=dict)
    # the magnitude level (0..10) of the augmentation it sets: the policy's ops' common level
    # (weightspace.data.magnitude.policy_level); NaN without one (no augmentation, ``auto``,
    # ``trivial``, flips, ops at different levels, texts)
    augment_level: float = math.nan

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise ConfigError(
                f"condition name {self.name!r} cannot be used as a directory name; "
                "use letters, digits, '.', '-', '+' or '_'"
            )
        if "__" in self.name:
            raise ConfigError(
                f"condition name {self.name!r} contains '__', which separates the parts of a "
                "run directory name; choose a name without it"
            )
        try:
            object.__setattr__(self, "category", Category(self.category))
        except ValueError:
            raise unknown_choice(
                "condition category", self.category, [c.value for c in Category]
            ) from None
        object.__setattr__(self, "strength", float(self.strength))
        object.__setattr__(self, "overrides", dict(self.overrides))
        object.__setattr__(self, "augment_level", float(self.augment_level))


def _number(x: Any, what: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise ConfigError(f"{what} must be a number, got {x!r}")
    return float(x)


def dropout_condition(p: Any) -> Condition:
    p = _number(p, "dropout rate")
    if not 0.0 < p < 1.0:
        raise ConfigError(f"dropout rate must be in (0, 1), got {p}; e.g. dropout = [0.1, 0.3]")
    return Condition(f"dp{p}", Category.DP, p, {"dropout": p})


def weight_decay_condition(lam: Any) -> Condition:
    lam = _number(lam, "weight decay")
    if not lam > 0.0:
        raise ConfigError(f"weight decay must be > 0, got {lam}; e.g. weight_decay = [1e-4]")
    return Condition(f"wd{lam}", Category.WD, lam, {"weight_decay": lam})


def augment_condition(spec: Any, modality: Modality) -> Condition:
    """``"auto"`` -> ``divAuto``, ``"sr0.3"`` -> ``div_sr_03`` (the modality names its
    policies); ``{name = "divMine", ops = [...]}`` -> a custom policy."""
    augment: str | tuple[dict[str, Any], ...]
    if isinstance(spec, str):
        name, augment = modality.augment_name(spec), spec
    elif isinstance(spec, Mapping):
        check_keys(spec, CUSTOM_AUGMENT_KEYS, "a custom augment condition")
        if "name" not in spec or "ops" not in spec:
            raise ConfigError(
                f"a custom augment condition needs 'name' and 'ops', got keys {sorted(spec)}"
            )
        name, augment = str(spec["name"]), tuple(dict(op) for op in spec["ops"])
    else:
        raise ConfigError(f"augment entries are policy names or {{name, ops}} tables, got {spec!r}")
    return Condition(
        name,
        Category.DIV,
        modality.augment_strength(augment),
        {"augment": augment},
        augment_level=modality.augment_level(augment),
    )


def combination_condition(spec: Mapping[str, Any], modality: Modality) -> Condition:
    """``{augment = "auto", dropout = 0.3}`` -> ``divAuto+dp0.3`` (category ``combo``)."""
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"each combination is a table such as {{augment = 'auto', dropout = 0.3}}, got {spec!r}"
        )
    check_keys(spec, COMBINATION_KEYS, "a combination")
    parts = [
        maker(spec[key])
        for key, maker in (
            ("augment", lambda a: augment_condition(a, modality)),
            ("dropout", dropout_condition),
            ("weight_decay", weight_decay_condition),
        )
        if key in spec
    ]
    if len(parts) < 2:
        raise ConfigError(
            f"a combination sets at least two of augment, dropout, weight_decay; got {dict(spec)}"
        )
    overrides: dict[str, Any] = {}
    for part in parts:
        overrides.update(part.overrides)
    name = str(spec.get("name") or "+".join(p.name for p in parts))
    level = parts[0].augment_level if "augment" in spec else math.nan
    return Condition(name, Category.COMBO, math.nan, overrides, augment_level=level)


def _as_list(value: Any, key: str) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return list(value)
    raise ConfigError(f"[conditions] {key} must be a list, got {value!r}")


def synthetic_conditions(spec: Mapping[str, Any]) -> list[Condition]:
    """The ``gen`` conditions of a ``synthetic = {...}`` table
    (:func:`weightspace.synthetic.expand_conditions`)."""
    return [Condition(**item) for item in expand_synthetic(dict(spec))]


def expand_conditions(table: Mapping[str, Any], *, modality: Modality) -> list[Condition]:
    """Expand a ``[conditions]`` table into conditions, in the paper's order (bs, dp, wd, div),
    for a study of ``modality``'s data (which names the augmentation policies)."""
    check_keys(table, CONDITION_KEYS, "[conditions]")
    out: list[Condition] = []
    baseline = table.get("baseline", True)
    if not isinstance(baseline, bool):
        raise ConfigError(f"[conditions] baseline must be true or false, got {baseline!r}")
    if baseline:
        out.append(Condition(BASELINE, Category.BS))
    out += [dropout_condition(p) for p in _as_list(table.get("dropout", []), "dropout")]
    out += [
        weight_decay_condition(w) for w in _as_list(table.get("weight_decay", []), "weight_decay")
    ]
    out += [augment_condition(a, modality) for a in _as_list(table.get("augment", []), "augment")]
    if table.get("synthetic"):
        if not isinstance(table["synthetic"], Mapping):
            raise ConfigError(f"[conditions] synthetic must be a table, got {table['synthetic']!r}")
        out += synthetic_conditions(table["synthetic"])
    out += [
        combination_condition(c, modality)
        for c in _as_list(table.get("combinations", []), "combinations")
    ]
    check_unique(out)
    if not out:
        raise ConfigError(
            "[conditions] expands to no condition; set baseline = true or list dropout, "
            "weight_decay or augment values"
        )
    return out


def check_unique(conditions: Iterable[Condition]) -> None:
    seen: set[str] = set()
    for c in conditions:
        if c.name in seen:
            raise ConfigError(f"condition {c.name!r} appears twice in [conditions]; list it once")
        seen.add(c.name)
