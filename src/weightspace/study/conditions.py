"""Conditions: the paper's names, categories and doses, expanded from a study's ``[conditions]``.

A condition is one cell of the experiment grid: a name as the paper writes it (``bs``,
``dp0.3``, ``wd5e-05``, ``divAuto``), a category used by the comparison (``bs``, ``dp``,
``wd``, ``div``, ``gen``, ``combo``), a numeric dose (``strength``: the dropout rate p, the
weight decay λ, the noise σ; NaN when a condition has no single dose) and the
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
from weightspace.data.augment import normalize_spec
from weightspace.data.eda import eda_strength, is_eda_policy, make_text_augment
from weightspace.data.magnitude import policy_level
from weightspace.errors import ConfigError, unknown_choice
from weightspace.synthetic import expand_conditions as expand_synthetic

CATEGORIES = ("bs", "div", "dp", "wd", "gen", "combo")

# Augmentation policy name (weightspace.data) -> the paper's condition suffix ("div" + suffix).
# The paper spells the noise conditions "Noize"; we keep its spelling so tables line up.
AUGMENT_SUFFIX: dict[str, str] = {
    "auto": "Auto",
    "rand": "Rand",
    "augmix": "AugM",
    "trivial": "TrAu",
    "noise10": "Noize10",
    "noise30": "Noize30",
    "noise50": "Noize50",
    "auto1": "Auto1",
    "auto2": "Auto2",
    "auto3": "Auto3",
}

# The dose of the pure-noise policies: Gaussian σ on [0, 1] pixels. Composite policies
# (auto1..3 add noise on top of AutoAugment) have no single dose and get NaN.
AUGMENT_STRENGTH: dict[str, float] = {"noise10": 0.01, "noise30": 0.03, "noise50": 0.05}

CONDITION_KEYS = ("baseline", "dropout", "weight_decay", "augment", "synthetic", "combinations")
COMBINATION_KEYS = ("augment", "dropout", "weight_decay", "name")
CUSTOM_AUGMENT_KEYS = ("name", "ops")


@dataclass(frozen=True)
class Condition:
    """One condition of a study: paper name, category, dose and the RunConfig fields it sets."""

    name: str
    category: str
    strength: float = math.nan
    overrides: Mapping[str, Any] = field(default_factory=dict)

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
        if self.category not in CATEGORIES:
            raise unknown_choice("condition category", self.category, CATEGORIES)
        object.__setattr__(self, "strength", float(self.strength))
        object.__setattr__(self, "overrides", dict(self.overrides))

    @property
    def augment_level(self) -> float:
        """The magnitude level of the augmentation this condition sets (NaN without one)."""
        return augment_level(self.overrides.get("augment"))


def augment_level(augment: Any) -> float:
    """The magnitude level (0..10) of an image augmentation policy: its ops' common level,
    :func:`weightspace.data.magnitude.policy_level`. NaN for no augmentation, for policies
    without a level (``auto``, ``trivial``, flips) or whose ops differ, and for text policies."""
    if augment is None or is_eda_policy(augment):
        return math.nan
    return policy_level(normalize_spec(augment))


def _number(x: Any, what: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise ConfigError(f"{what} must be a number, got {x!r}")
    return float(x)


def dropout_condition(p: Any) -> Condition:
    p = _number(p, "dropout rate")
    if not 0.0 < p < 1.0:
        raise ConfigError(f"dropout rate must be in (0, 1), got {p}; e.g. dropout = [0.1, 0.3]")
    return Condition(f"dp{p}", "dp", p, {"dropout": p})


def weight_decay_condition(lam: Any) -> Condition:
    lam = _number(lam, "weight decay")
    if not lam > 0.0:
        raise ConfigError(f"weight decay must be > 0, got {lam}; e.g. weight_decay = [1e-4]")
    return Condition(f"wd{lam}", "wd", lam, {"weight_decay": lam})


def augment_condition(spec: Any) -> Condition:
    """``"auto"`` -> ``divAuto``; ``{name = "divMine", ops = [...]}`` -> a custom policy."""
    if isinstance(spec, str) and is_eda_policy(spec):  # text: "sr0.3" -> div_sr_03
        return Condition(make_text_augment(spec).name, "div", eda_strength(spec), {"augment": spec})
    if isinstance(spec, str):
        if spec not in AUGMENT_SUFFIX:
            raise unknown_choice(
                "augmentation policy",
                spec,
                AUGMENT_SUFFIX,
                hint="Or give a custom policy as {name = 'divMine', ops = [{op = ..., ...}]}; "
                "for text, an EDA policy such as 'sr0.3' or 'sr0.1+rd0.1'",
            )
        return Condition(
            "div" + AUGMENT_SUFFIX[spec],
            "div",
            AUGMENT_STRENGTH.get(spec, math.nan),
            {"augment": spec},
        )
    if isinstance(spec, Mapping):
        check_keys(spec, CUSTOM_AUGMENT_KEYS, "a custom augment condition")
        if "name" not in spec or "ops" not in spec:
            raise ConfigError(
                f"a custom augment condition needs 'name' and 'ops', got keys {sorted(spec)}"
            )
        ops = tuple(dict(op) for op in spec["ops"])
        return Condition(str(spec["name"]), "div", math.nan, {"augment": ops})
    raise ConfigError(
        f"augment entries are policy names or {{name, ops}} tables, got {spec!r}; "
        f"valid names: {', '.join(AUGMENT_SUFFIX)}"
    )


def combination_condition(spec: Mapping[str, Any]) -> Condition:
    """``{augment = "auto", dropout = 0.3}`` -> ``divAuto+dp0.3`` (category ``combo``)."""
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"each combination is a table such as {{augment = 'auto', dropout = 0.3}}, got {spec!r}"
        )
    check_keys(spec, COMBINATION_KEYS, "a combination")
    parts = [
        maker(spec[key])
        for key, maker in (
            ("augment", augment_condition),
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
    return Condition(name, "combo", math.nan, overrides)


def _as_list(value: Any, key: str) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return list(value)
    raise ConfigError(f"[conditions] {key} must be a list, got {value!r}")


def synthetic_conditions(spec: Mapping[str, Any]) -> list[Condition]:
    """The ``gen`` conditions of a ``synthetic = {...}`` table
    (:func:`weightspace.synthetic.expand_conditions`)."""
    return [Condition(**item) for item in expand_synthetic(dict(spec))]


def expand_conditions(table: Mapping[str, Any]) -> list[Condition]:
    """Expand a ``[conditions]`` table into conditions, in the paper's order (bs, dp, wd, div)."""
    check_keys(table, CONDITION_KEYS, "[conditions]")
    out: list[Condition] = []
    baseline = table.get("baseline", True)
    if not isinstance(baseline, bool):
        raise ConfigError(f"[conditions] baseline must be true or false, got {baseline!r}")
    if baseline:
        out.append(Condition("bs", "bs"))
    out += [dropout_condition(p) for p in _as_list(table.get("dropout", []), "dropout")]
    out += [
        weight_decay_condition(w) for w in _as_list(table.get("weight_decay", []), "weight_decay")
    ]
    out += [augment_condition(a) for a in _as_list(table.get("augment", []), "augment")]
    if table.get("synthetic"):
        if not isinstance(table["synthetic"], Mapping):
            raise ConfigError(f"[conditions] synthetic must be a table, got {table['synthetic']!r}")
        out += synthetic_conditions(table["synthetic"])
    out += [
        combination_condition(c) for c in _as_list(table.get("combinations", []), "combinations")
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
