"""The result of a comparison, its writer, and the :func:`compare` entry point."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from weightspace.compare.categories import CategoryRules
from weightspace.compare.conclude import default_conclusions, paper_conclusions
from weightspace.compare.default import default_tables
from weightspace.compare.dynamics import dynamics_tables
from weightspace.compare.fingerprint import REFERENCES, check_references
from weightspace.compare.load import (
    load_dynamics,
    load_layers,
    load_runs,
    load_weight_deltas,
    normalize_layers,
)
from weightspace.compare.paper import paper_tables
from weightspace.errors import ConfigError, DataError
from weightspace.store import (
    COMPARE_FILE,
    COMPARE_TABLE_SUFFIX,
    StudyPaths,
    read_json,
    read_table,
    write_json,
    write_table,
)

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
        """Write ``<name>.csv`` per table plus ``compare.json`` (settings, conclusions, every
        table as records with its columns and dtypes, so that :meth:`from_dir` gives the
        same tables back). A path ending in ``.json`` writes only that one file."""
        path = Path(path)
        payload = {
            "protocol": self.protocol,
            "settings": self.settings,
            "conclusions": self.conclusions,
            "columns": {k: [str(c) for c in v.columns] for k, v in self.tables.items()},
            "dtypes": {k: _dtypes(v) for k, v in self.tables.items()},
            "tables": {k: _records(v) for k, v in self.tables.items()},
        }
        if path.suffix.lower() == ".json":
            path.parent.mkdir(parents=True, exist_ok=True)
            write_json(path, payload)
            return path
        path.mkdir(parents=True, exist_ok=True)
        _remove_tables(path, keep=set(self.tables))
        for name, table in self.tables.items():
            write_table(path / f"{name}{COMPARE_TABLE_SUFFIX}", table)
        write_json(path / COMPARE_FILE, payload)
        return path

    @classmethod
    def from_dir(cls, path: str | os.PathLike[str]) -> CompareResult:
        """Read a result written by :meth:`to_dir`: a folder holding ``compare.json`` (or
        that file itself). Tables come back with the columns and dtypes they were written
        with; a file written before dtypes were recorded gives pandas' inferred ones."""
        path = Path(path)
        file = path if path.suffix.lower() == ".json" else path / COMPARE_FILE
        if not file.is_file():
            raise DataError(
                f"{file} does not exist: no comparison is stored there; write one with "
                "`weightspace compare STUDY --save` (or run the study)"
            )
        try:
            payload = read_json(file)
            tables = {name: _table(name, records, payload, file.parent)
                      for name, records in payload["tables"].items()}  # fmt: skip
            return cls(tables, [str(c) for c in payload["conclusions"]],
                       str(payload["protocol"]), dict(payload.get("settings") or {}))  # fmt: skip
        except (ValueError, KeyError, TypeError) as err:
            raise DataError(
                f"{file} cannot be read as a stored comparison ({type(err).__name__}: {err}); "
                "write it again with `weightspace compare STUDY --save`"
            ) from None


def _dtypes(table: pd.DataFrame) -> dict[str, str]:
    return {str(c): str(t) for c, t in table.dtypes.items()}


def _records(table: pd.DataFrame) -> list[dict[str, object]]:
    return [
        {str(k): (None if _isna(v) else v) for k, v in row.items()}
        for row in table.to_dict(orient="records")
    ]


def _table(
    name: str, records: list[dict[str, object]], payload: dict, folder: Path
) -> pd.DataFrame:
    columns = (payload.get("columns") or {}).get(name)
    if columns is None and not records and (folder / f"{name}{COMPARE_TABLE_SUFFIX}").is_file():
        return read_table(folder / f"{name}{COMPARE_TABLE_SUFFIX}")  # an empty table's header
    table = pd.DataFrame.from_records(records, columns=columns)
    for column, dtype in ((payload.get("dtypes") or {}).get(name) or {}).items():
        if column in table.columns and dtype != "object" and str(table[column].dtype) != dtype:
            table[column] = table[column].astype(dtype)
    return table


def _remove_tables(folder: Path, *, keep: set[str]) -> None:
    """Remove the tables of an earlier comparison stored in ``folder`` that this one lacks."""
    if not (folder / COMPARE_FILE).is_file():
        return
    for old in folder.glob(f"*{COMPARE_TABLE_SUFFIX}"):
        if old.stem not in keep:
            old.unlink()


def _isna(value: object) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def discard_stored(path: str | os.PathLike[str]) -> None:
    """Remove a comparison stored by :meth:`CompareResult.to_dir` in ``path`` (its tables
    and ``compare.json``), so that nothing reads results older than the study's runs."""
    folder = Path(path)
    _remove_tables(folder, keep=set())
    (folder / COMPARE_FILE).unlink(missing_ok=True)


def save_to_study(
    study_dir: str | os.PathLike[str], results: Mapping[str, CompareResult]
) -> list[Path]:
    """Store ``results`` in the study: each in ``compare/<protocol>/``, and the ΔΔ table the
    report and the prediction check read as ``dd.parquet`` — the default protocol's, else
    the paper protocol's when no default comparison is stored. A folder of WeightWatcher
    CSV tables gets the comparisons only. Returns the folders."""
    paths = StudyPaths(study_dir)
    written = [result.to_dir(paths.compare_protocol_dir(protocol))
               for protocol, result in results.items()]  # fmt: skip
    if not paths.is_study():
        return written
    default_stored = (paths.compare_protocol_dir("default") / COMPARE_FILE).is_file()
    source = results.get("default") or (None if default_stored else results.get("paper"))
    dd = source.tables.get("delta_delta") if source is not None else None
    if isinstance(dd, pd.DataFrame):
        write_table(paths.dd_table, dd)
    elif not default_stored:
        paths.dd_table.unlink(missing_ok=True)  # never leave the ΔΔ of an older comparison
    return written


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
    simulated studies of the design behind the ``power`` table (0: none). The default
    protocol on studies that recorded spectra during training or the Hessian trace adds
    ``trajectories`` and ``trajectory_tests`` (:func:`~weightspace.compare.dynamics.dynamics_tables`).
    """
    if protocol not in PROTOCOLS:
        raise ConfigError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    references = check_references(references)
    if n_perm < 1 or n_boot < 1 or n_sims < 0 or n_sims == 1:
        raise ConfigError(
            f"n_perm and n_boot must be ≥ 1 and n_sims 0 or ≥ 2, got {n_perm}, {n_boot}, {n_sims}"
        )
    dynamics: tuple[pd.DataFrame | None, pd.DataFrame | None] = (None, None)
    if isinstance(paths_or_table, pd.DataFrame):
        layers = normalize_layers(paths_or_table, category_rules=category_rules)
    else:
        if protocol == "default":
            dynamics = load_dynamics(paths_or_table)
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
    if any(t is not None for t in dynamics):  # snapshots during training, Hessian traces
        trajectories, tests = dynamics_tables(*dynamics, seed=seed)
        if not trajectories.empty:
            tables |= {"trajectories": trajectories, "trajectory_tests": tests}
    return CompareResult(tables, default_conclusions(tables), protocol, settings)
