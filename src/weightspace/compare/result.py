"""The result of a comparison, its writer, and the :func:`compare` entry point."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from weightspace.compare.categories import CategoryRules
from weightspace.compare.conclude import default_conclusions, paper_conclusions
from weightspace.compare.default import default_tables
from weightspace.compare.fingerprint import REFERENCES
from weightspace.compare.load import (
    load_layers,
    load_runs,
    load_weight_deltas,
    normalize_layers,
)
from weightspace.compare.paper import paper_tables
from weightspace.errors import ConfigError
from weightspace.store import COMPARE_FILE, write_json, write_table

log = logging.getLogger(__name__)

PROTOCOLS = ("default", "paper")


@dataclass
class CompareResult:
    """Tables (long format, one DataFrame per name), plain-language conclusions, protocol."""

    tables: dict[str, pd.DataFrame]
    conclusions: list[str]
    protocol: str
    settings: dict[str, object] = field(default_factory=dict)

    def to_dir(self, path: str | os.PathLike[str]) -> Path:
        """Write ``<name>.csv`` per table plus ``compare.json`` (settings, conclusions and
        every table as records). A path ending in ``.json`` writes only that one file."""
        path = Path(path)
        payload = {
            "protocol": self.protocol,
            "settings": self.settings,
            "conclusions": self.conclusions,
            "tables": {k: _records(v) for k, v in self.tables.items()},
        }
        if path.suffix.lower() == ".json":
            path.parent.mkdir(parents=True, exist_ok=True)
            write_json(path, payload)
            return path
        path.mkdir(parents=True, exist_ok=True)
        for name, table in self.tables.items():
            write_table(path / f"{name}.csv", table)
        write_json(path / COMPARE_FILE, payload)
        return path


def _records(table: pd.DataFrame) -> list[dict[str, object]]:
    return [
        {str(k): (None if _isna(v) else v) for k, v in row.items()}
        for row in table.to_dict(orient="records")
    ]


def _isna(value: object) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def compare(
    paths_or_table: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | pd.DataFrame,
    *,
    protocol: str = "default",
    metrics: Sequence[str] | None = None,
    seed: int = 0,
    n_perm: int = 2000,
    n_boot: int = 1000,
    runs: pd.DataFrame | None = None,
    category_rules: CategoryRules | None = None,
    references: Sequence[str] = REFERENCES,
    weight_deltas: pd.DataFrame | None = None,
    n_sims: int = 100,
) -> CompareResult:
    """Compare conditions' ΔΔ spectra: the paper's protocol or our default one.

    ``paths_or_table``: study directories and/or WeightWatcher CSV folders (see
    :func:`load_layers`), or an already loaded long layer table. ``runs``: per-run outcomes
    for a table input (loaded from the paths otherwise). ``seed`` seeds every permutation and
    bootstrap; ``n_perm``/``n_boot`` their sizes. ``references``: the categories a condition's
    fingerprint is compared with. ``weight_deltas``: the ΔW / subspace-overlap table for a
    table input (read from the studies' ``weight_delta.parquet`` otherwise). ``n_sims``:
    simulated studies of the design behind the ``power`` table (0: none).
    """
    if protocol not in PROTOCOLS:
        raise ConfigError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    if not list(references):
        raise ConfigError("references must name at least one category, e.g. ('dp', 'wd')")
    if n_perm < 1 or n_boot < 1 or n_sims < 0 or n_sims == 1:
        raise ConfigError(
            f"n_perm and n_boot must be ≥ 1 and n_sims 0 or ≥ 2, got {n_perm}, {n_boot}, {n_sims}"
        )
    if isinstance(paths_or_table, pd.DataFrame):
        layers = normalize_layers(paths_or_table, category_rules=category_rules)
    else:
        layers = load_layers(paths_or_table, category_rules=category_rules)
        if runs is None:
            runs = load_runs(paths_or_table, category_rules=category_rules)
        if weight_deltas is None:
            weight_deltas = load_weight_deltas(paths_or_table, category_rules=category_rules)
    settings: dict[str, object] = {
        "protocol": protocol,
        "metrics": list(metrics) if metrics else None,
        "seed": seed,
        "n_perm": n_perm,
        "n_boot": n_boot,
        "n_sims": n_sims,
        "references": list(references),
        "datasets": sorted(layers["dataset"].astype(str).unique()),
    }
    if protocol == "paper":
        tables = paper_tables(layers, metrics=metrics)
        return CompareResult(tables, paper_conclusions(tables), protocol, settings)
    tables = default_tables(
        layers,
        runs=runs,
        metrics=metrics,
        seed=seed,
        n_perm=n_perm,
        n_boot=n_boot,
        references=tuple(references),
        weight_deltas=weight_deltas,
        n_sims=n_sims,
    )
    return CompareResult(tables, default_conclusions(tables), protocol, settings)
