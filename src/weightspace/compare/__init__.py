"""Δ, ΔΔ, category aggregation, statistics (the paper's protocol and ours), fingerprints.

Entry point: :func:`compare` → :class:`CompareResult`. Building blocks: :func:`load_layers`,
:func:`delta_table`, :func:`delta_delta`, :func:`paper_tables`, :func:`default_tables`.
"""

from weightspace.compare.categories import DEFAULT_RULES, CategoryRules, parse_strength
from weightspace.compare.delta import baseline_pairs, delta_delta, delta_table
from weightspace.compare.load import load_layers, load_runs
from weightspace.compare.paper import paper_tables
from weightspace.compare.result import PROTOCOLS, CompareResult, compare


def __getattr__(name: str):
    if name == "default_tables":
        from weightspace.compare.default import default_tables

        return default_tables
    raise AttributeError(name)


__all__ = [
    "DEFAULT_RULES",
    "PROTOCOLS",
    "CategoryRules",
    "CompareResult",
    "baseline_pairs",
    "compare",
    "default_tables",
    "delta_delta",
    "delta_table",
    "load_layers",
    "load_runs",
    "paper_tables",
    "parse_strength",
]
