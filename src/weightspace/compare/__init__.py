"""Δ, ΔΔ, category aggregation, statistics (the paper's protocol and ours), fingerprints.

Entry point: :func:`compare` → :class:`CompareResult`. Building blocks: :func:`load_layers`,
:func:`delta_table`, :func:`delta_delta`, :func:`paper_tables`, :func:`default_tables`.
"""

from weightspace.compare.categories import DEFAULT_RULES, CategoryRules, parse_strength
from weightspace.compare.default import default_tables
from weightspace.compare.delta import baseline_pairs, delta_delta, delta_table
from weightspace.compare.fingerprint import fingerprint_tables
from weightspace.compare.load import load_layers, load_runs, normalize_layers
from weightspace.compare.paper import paper_tables
from weightspace.compare.result import PROTOCOLS, CompareResult, compare

# The names docs/architecture.md gives the two protocols (tables only, no conclusions).
paper_protocol = paper_tables
default_protocol = default_tables

__all__ = [
    "DEFAULT_RULES",
    "PROTOCOLS",
    "CategoryRules",
    "CompareResult",
    "baseline_pairs",
    "compare",
    "default_protocol",
    "default_tables",
    "delta_delta",
    "delta_table",
    "fingerprint_tables",
    "load_layers",
    "load_runs",
    "normalize_layers",
    "paper_protocol",
    "paper_tables",
    "parse_strength",
]
