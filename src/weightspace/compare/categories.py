"""Condition names → categories, and numeric strengths parsed from condition names.

The paper's rule (as in the authors' published analysis): a condition whose name contains ``"div"`` is ``div``;
otherwise its prefix decides (``dp`` dropout, ``wd`` weight decay, ``bs`` baseline). We add
``gen`` (our synthetic-data conditions, e.g. ``gen0.5_add``) and ``combo`` (combinations,
named with ``+`` as in ``divAuto+dp0.3``, or ``combo...``). The rules are an ordered list of
(kind, pattern, category): the first that matches wins.

This is the only place a category is derived from a name: a weightspace study's tables carry
the category its ``Condition`` set, and these rules serve tables from elsewhere (WeightWatcher
CSV folders, tables built in memory) that have none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from weightspace.errors import ConfigError
from weightspace.vocabulary import BASELINE

__all__ = ["BASELINE", "DEFAULT_RULES", "CategoryRules", "parse_strength", "synthetic_mode"]

_KINDS = ("contains", "prefix", "regex")
_DEFAULT_RULES: tuple[tuple[str, str, str], ...] = (
    ("prefix", "bs", "bs"),
    ("contains", "+", "combo"),
    ("contains", "div", "div"),
    ("prefix", "combo", "combo"),
    ("prefix", "gen", "gen"),
    ("prefix", "dp", "dp"),
    ("prefix", "wd", "wd"),
)


@dataclass(frozen=True)
class CategoryRules:
    """Ordered rules mapping a condition name to its category.

    ``rules``: tuples ``(kind, pattern, category)`` with kind ``contains``, ``prefix`` or
    ``regex`` (``re.search``), tried in order. ``default``: the category of a name that no
    rule matches (``None`` → such a name is an error that lists the rules).
    """

    rules: tuple[tuple[str, str, str], ...] = field(default=_DEFAULT_RULES)
    default: str | None = "other"

    def __post_init__(self) -> None:
        for rule in self.rules:
            if len(rule) != 3 or rule[0] not in _KINDS:
                raise ConfigError(
                    f"category rule {rule!r} is invalid; each rule is (kind, pattern, "
                    f"category) with kind one of {', '.join(_KINDS)}"
                )
            if rule[0] == "regex":
                try:
                    re.compile(rule[1])
                except re.error as err:
                    raise ConfigError(
                        f"category rule regex {rule[1]!r} does not compile: {err}"
                    ) from None

    @classmethod
    def from_mapping(cls, mapping: dict[str, str], *, default: str | None = "other"):
        """Build prefix rules from ``{prefix: category}`` placed before the default rules."""
        extra = tuple(("prefix", str(k), str(v)) for k, v in mapping.items())
        return cls(rules=extra + _DEFAULT_RULES, default=default)

    def category(self, condition: str) -> str:
        """The category of ``condition`` (a bare condition name, e.g. ``dp0.1``)."""
        for kind, pattern, category in self.rules:
            if (
                (kind == "contains" and pattern in condition)
                or (kind == "prefix" and condition.startswith(pattern))
                or (kind == "regex" and re.search(pattern, condition))
            ):
                return category
        if self.default is None:
            listed = "; ".join(f"{k} {p!r} → {c}" for k, p, c in self.rules)
            raise ConfigError(
                f"condition {condition!r} matches no category rule ({listed}); add a rule "
                "or give CategoryRules(default=...)"
            )
        return self.default


DEFAULT_RULES = CategoryRules()

_STRENGTH = re.compile(r"^(?:dp|wd|gen|combo)_?([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)")


def parse_strength(condition: str) -> float:
    """The numeric strength in a condition name (``dp0.3`` → 0.3, ``wd1e-05`` → 1e-5,
    ``gen0.5_add`` → 0.5); NaN when the name carries none (``divAuto``)."""
    match = _STRENGTH.match(condition)
    return float(match.group(1)) if match else float("nan")


def synthetic_mode(condition: str) -> str:
    """How a synthetic-data condition mixes its samples, from its name (``gen<p>[_add][_vf]``;
    for tables without the study's ``synthetic_mode`` column): ``replace`` or ``add``, plus
    `` filtered`` for ``_vf``."""
    name = str(condition)
    mode = "add" if "_add" in name else "replace"
    return mode + (" filtered" if name.endswith("_vf") else "")
