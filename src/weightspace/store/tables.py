"""The study tables' schemas, reading them with clear errors, and reading run directories.

``runs.parquet`` holds one row per planned run, ``layers.parquet`` one row per run × layer ×
snapshot; both are rebuilt from the run directories by
:func:`weightspace.study.collect.collect` (``weightspace study --collect --out STUDY``). The
identifying columns below come from the study's ``Condition`` (through each run's
``config.json`` or its plan), never from parsing a name.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from weightspace.errors import DataError
from weightspace.store.files import read_json, read_table
from weightspace.store.layout import (
    CONFIG_FILE,
    DAMAGED_DIR,
    FAILED_SUFFIX,
    HISTORY_FILE,
    METRICS_FILE,
    SNAPSHOT_PREFIX,
    RunStatus,
    check_run,
    failed_path,
    parse_run_dir_name,
    run_status,
    snapshot_file,
)

log = logging.getLogger(__name__)

#: column -> dtype kind of ``runs.parquet``'s fixed columns (metrics follow, flattened)
RUNS_SCHEMA: dict[str, str] = {
    "run_id": "str",
    "condition": "str",
    "category": "str",
    "seed": "int",
    "status": "str",  # a RunStatus value
    "error": "str",
    "strength": "float",
    "dataset": "str",
    "modality": "str",  # weightspace.train.modality.Modality.name: image | text
    "model": "str",
    "run_dir": "str",  # relative to the study directory
    "augment": "str",
    "dropout": "float",
    "weight_decay": "float",
    "augment_level": "float",  # augmentation magnitude level 0..10 (NaN: none or no level)
}
#: column -> dtype kind of ``layers.parquet``'s identifying columns (spectral columns follow)
LAYERS_SCHEMA: dict[str, str] = {
    "run_id": "str",
    "condition": "str",
    "category": "str",
    "seed": "int",
    "snapshot": "str",  # before / after / epoch<k>
    "augment_level": "float",
}
#: the columns that identify a run in every study table (runs, layers, sharpness, ΔW)
RUN_ID_COLUMNS = ("run_id", "condition", "category", "seed")
#: the columns a table must have to be read as a study table
REQUIRED_RUNS = ("run_id", "condition", "category", "seed", "status")
REQUIRED_LAYERS = ("run_id", "condition", "snapshot", "layer_id")


def rebuild_hint(study_dir: str | os.PathLike[str]) -> str:
    return (
        "the study tables are rebuilt from the run directories with "
        f"`weightspace study --collect --out {study_dir}`"
    )


def read_study_table(
    path: str | os.PathLike[str], *, required: tuple[str, ...] = ()
) -> pd.DataFrame:
    """Read a study table; a damaged or incomplete file is a :class:`DataError` that names it
    and says how to rebuild it."""
    path = Path(path)
    try:
        table = read_table(path)
    except FileNotFoundError as err:
        raise DataError(
            f"{path} does not exist; {rebuild_hint(path.parent)} (or run the study first)"
        ) from err
    except Exception as err:  # pyarrow raises ArrowInvalid / OSError on a damaged file
        raise DataError(
            f"{path} cannot be read ({type(err).__name__}: {err}); it may be truncated or "
            f"damaged; {rebuild_hint(path.parent)}"
        ) from err
    missing = [c for c in required if c not in table.columns]
    if missing and not table.empty:
        raise DataError(
            f"{path} lacks columns {missing}; it is not a weightspace study table; "
            f"{rebuild_hint(path.parent)}"
        )
    return table


def usable(runs: pd.DataFrame) -> pd.Series:
    """Boolean mask of the rows of a runs table whose results may be used: every row except
    those whose status is a :class:`RunStatus` that is not usable (failed, pending, damaged).
    Tables from outside weightspace, without a ``status`` column or with their own status
    words, keep every row."""
    if "status" not in runs.columns:
        return pd.Series(True, index=runs.index)
    unusable = [s.value for s in RunStatus if not s.usable]
    return ~runs["status"].astype(str).str.lower().isin(unusable)


@dataclass(frozen=True)
class Run:
    """One run directory (or the failure record of a run) as the store sees it."""

    path: Path
    condition: str
    seed: int
    run_id: str
    status: RunStatus
    problems: tuple[str, ...] = field(default_factory=tuple)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def config(self) -> dict[str, Any]:
        path = self.path / CONFIG_FILE
        return read_json(path) if path.is_file() else {}

    @property
    def metrics(self) -> dict[str, Any]:
        return read_json(self.path / METRICS_FILE)

    @property
    def error(self) -> str:
        if self.status is RunStatus.FAILED:
            return str(read_json(failed_path(self.path)).get("error", "unknown error"))
        if self.status is RunStatus.DAMAGED:
            return "damaged: " + "; ".join(self.problems)
        return ""

    def snapshots(self) -> list[str]:
        """Snapshot names with a spectral table, sorted by file name (after, before, epoch<k>)."""
        n = len(SNAPSHOT_PREFIX)
        return [p.stem[n:] for p in sorted(self.path.glob(f"{SNAPSHOT_PREFIX}*.parquet"))]

    def spectra(self, snapshot: str = "after") -> pd.DataFrame:
        return self._read(snapshot_file(snapshot))

    def history(self) -> pd.DataFrame:
        return self._read(HISTORY_FILE)

    def _read(self, name: str) -> pd.DataFrame:
        path = self.path / name
        try:
            return read_table(path)
        except Exception as err:
            raise DataError(
                f"{path} cannot be read ({type(err).__name__}: {err}); rerun the study to "
                "move this run aside and train it again"
            ) from err


def read_run(run_dir: str | os.PathLike[str], *, hashes: bool = False) -> Run:
    """The run in ``run_dir`` with its status (``hashes``: check SHA-256s too, slower)."""
    run_dir = Path(run_dir)
    parsed = parse_run_dir_name(run_dir.name)
    if parsed is None:
        cfg = read_json(run_dir / CONFIG_FILE) if (run_dir / CONFIG_FILE).is_file() else {}
        parsed = (str(cfg.get("condition", "")), int(cfg.get("seed", 0)), run_dir.name)
    status = run_status(run_dir, hashes=hashes)
    problems = tuple(check_run(run_dir, hashes=hashes)) if status is RunStatus.DAMAGED else ()
    return Run(run_dir, parsed[0], parsed[1], parsed[2], status, problems)


def iter_runs(runs_dir: str | os.PathLike[str], *, hashes: bool = False) -> Iterator[Run]:
    """Every run found in ``runs_dir`` (finished, damaged or failed), sorted by name; the
    moved-aside and incomplete directories are not runs."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return
    names = set()
    for p in runs_dir.iterdir():
        if p.name.startswith(".") or p.name == DAMAGED_DIR:
            continue
        name = p.name.removesuffix(FAILED_SUFFIX) if p.is_file() else p.name
        if parse_run_dir_name(name):
            names.add(name)
    for name in sorted(names):
        yield read_run(runs_dir / name, hashes=hashes)


def config_of(run: Run, fallback: Mapping[str, Any]) -> Mapping[str, Any]:
    """The run's ``config.json`` when present, else ``fallback`` (its plan's config)."""
    return run.config or fallback
