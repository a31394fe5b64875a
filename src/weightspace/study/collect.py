"""Collect a study's run directories into two flat tables anyone can read.

The file names and column schemas are the store's (:mod:`weightspace.store`).
``runs.parquet``: one row per planned run — ``run_id, condition, category, seed, status``
(``done`` / ``failed`` / ``pending`` / ``damaged``), ``error, strength, dataset, modality`` (the
:class:`~weightspace.train.modality.Modality` of the dataset: ``image`` or ``text``), ``model, run_dir`` (relative
to the study), ``augment, dropout, weight_decay, augment_level`` (the augmentation's magnitude
level 0..10 from the condition, NaN without one), ``synthetic_*``, then every metric of ``metrics.json`` flattened (nested tables become
``<key>_<subkey>`` columns, e.g. ``ood_gaussian_noise_3``).

``layers.parquet``: one row per run × layer × snapshot — ``run_id, condition, category, seed,
snapshot`` (``before`` / ``after`` / ``epoch<k>``, from ``spectra_<snapshot>.parquet``),
``augment_level`` and every spectral column.

Plain Parquet: pandas, polars, duckdb or pyarrow read them without weightspace.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from weightspace import store
from weightspace.errors import WeightspaceError
from weightspace.store import (
    LAYERS_TABLE,
    RUN_ID_COLUMNS,
    RUNS_DIR,
    RUNS_TABLE,
    SPEC_FILE,
    RunStatus,
)
from weightspace.study.plan import RunPlan, expand
from weightspace.study.spec import StudySpec
from weightspace.train.config import RunConfig
from weightspace.train.modalities import modality_of
from weightspace.train.runner import run_weight_delta

log = logging.getLogger(__name__)

__all__ = ["LAYERS_TABLE", "RUNS_DIR", "RUNS_TABLE", "SPEC_FILE", "collect", "flatten"]


@dataclass(frozen=True)
class _Entry:
    run_id: str
    condition: str
    category: str
    seed: int
    strength: float
    path: Path
    config: Mapping[str, Any]
    augment_level: float


def _entries_from_plans(plans: list[RunPlan], runs_dir: Path) -> list[_Entry]:
    return [
        _Entry(
            p.run_id,
            p.condition,
            p.category,
            p.seed,
            p.strength,
            runs_dir / p.dir_name,
            p.config.to_dict(),
            p.augment_level,
        )
        for p in plans
    ]


def _entries_from_dirs(runs_dir: Path) -> list[_Entry]:
    """Every run directory (complete or failed) found on disk, without a spec: its labels
    come from its ``config.json`` (a run written before configs held ``strength`` has none)."""
    out = []
    for run in store.iter_runs(runs_dir):
        cfg = run.config
        strength = cfg.get("strength")
        modality = modality_of(str(cfg.get("dataset", RunConfig.dataset)))
        out.append(
            _Entry(
                run.run_id,
                run.condition,
                cfg.get("category") or "",
                run.seed,
                math.nan if strength is None else float(strength),
                run.path,
                cfg,
                modality.augment_level(cfg.get("augment", "none")),
            )
        )
    return out


def _scalar(v: Any) -> Any:
    """Parquet-friendly cell: None -> NaN, "inf" strings -> inf, lists/dicts -> JSON text."""
    if v is None:
        return math.nan
    if v in ("inf", "-inf"):
        return float(v)
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(v, sort_keys=True)
    return v


def flatten(data: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``{"ood": {"blur": {"3": 0.5}}}`` -> ``("ood_blur_3", 0.5)``."""
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from flatten(value, name + "_")
        elif isinstance(value, list) and value and all(isinstance(r, Mapping) for r in value):
            yield from _flatten_records(value, name)
        else:
            yield name, _scalar(value)


def _flatten_records(records: list[Any], name: str) -> Iterator[tuple[str, Any]]:
    """Records like ``{"kind": "blur", "severity": 3, "acc": 0.5}`` -> ``<name>_blur_3_acc``."""
    for rec in records:
        keys = [str(rec[k]) for k in ("kind", "corruption", "severity") if k in rec]
        if not keys:
            yield name, json.dumps(records, sort_keys=True, default=str)
            return
        label = "_".join([name, *keys])
        for k, v in rec.items():
            if k not in ("kind", "corruption", "severity"):
                yield f"{label}_{k}", _scalar(v)


def _run_row(entry: _Entry) -> dict[str, Any]:
    row: dict[str, Any] = {
        "run_id": entry.run_id,
        "condition": entry.condition,
        "category": entry.category,
        "seed": entry.seed,
        "status": "pending",
        "error": "",
        "strength": entry.strength,
    }
    run = store.read_run(entry.path)
    cfg = store.tables.config_of(run, entry.config)
    row["dataset"] = cfg.get("dataset", "")
    row["modality"] = modality_of(row["dataset"]).name if row["dataset"] else ""
    row["model"] = cfg.get("model", "")
    row["run_dir"] = f"{RUNS_DIR}/{entry.path.name}"
    row["augment"] = _scalar(cfg.get("augment", ""))
    row["dropout"] = _scalar(cfg.get("dropout", math.nan))
    row["weight_decay"] = _scalar(cfg.get("weight_decay", math.nan))
    row["augment_level"] = entry.augment_level
    if isinstance(cfg.get("synthetic"), Mapping):
        row.update(flatten(cfg["synthetic"], "synthetic_"))
    row["status"] = run.status.value
    row["error"] = run.error
    if run.status is RunStatus.DONE:
        for key, value in flatten(run.metrics):
            row.setdefault(key, value)
    elif run.status is RunStatus.DAMAGED:
        log.warning("run %s is damaged (%s); left out of the tables", run.name, run.error)
    return row


def _layer_rows(entry: _Entry) -> list[pd.DataFrame]:
    run = store.read_run(entry.path)
    if run.status is not RunStatus.DONE:
        return []
    frames = []
    for snapshot in run.snapshots():
        df = run.spectra(snapshot)
        ids = {
            "run_id": entry.run_id,
            "condition": entry.condition,
            "category": entry.category,
            "seed": entry.seed,
            "snapshot": snapshot,
            "augment_level": entry.augment_level,
        }
        df = df.drop(columns=[c for c in ids if c in df.columns])
        for i, (col, value) in enumerate(ids.items()):
            df.insert(i, col, value)
        frames.append(df)
    return frames


def _backfill_weight_delta(entry: _Entry) -> None:
    """A finished run written before runs recorded ``weight_delta.parquet`` gets it now, from
    its initial and final weights (unless its config turned it off with ``overlap_k``)."""
    run_dir = entry.path
    if not run_dir.is_dir() or (run_dir / store.WEIGHT_DELTA_TABLE).is_file():
        return
    run = store.read_run(run_dir)
    if run.status is not RunStatus.DONE:
        return
    k = run.config.get("overlap_k", 10)
    init, final = run_dir / store.INIT_WEIGHTS_FILE, run_dir / store.WEIGHTS_FILE
    if k is None or not init.is_file() or not final.is_file():
        return
    try:
        table = run_weight_delta(
            run_dir, run.spectra("after"), k=int(k), compat=run.config.get("compat")
        )
    except (WeightspaceError, OSError, ValueError) as err:  # the run's other results stand
        log.warning("run %s: cannot add %s (%s)", run.name, store.WEIGHT_DELTA_TABLE, err)
        return
    store.add_run_table(run_dir, store.WEIGHT_DELTA_TABLE, table)
    log.info("run %s: added %s (ΔW and subspace overlap)", run.name, store.WEIGHT_DELTA_TABLE)


def _run_table_rows(entry: _Entry, name: str) -> list[pd.DataFrame]:
    """The run's table ``name`` (Hessian traces, docs/dynamics.md; ΔW and subspace overlap,
    docs/weightwatcher.md) with its ids in front, if it has one."""
    path = entry.path / name
    if store.read_run(entry.path).status is not RunStatus.DONE or not path.is_file():
        return []
    df = store.read_table(path)
    for i, col in enumerate(RUN_ID_COLUMNS):
        df.insert(i, col, getattr(entry, col))
    return [df]


def collect(
    study_dir: str | os.PathLike[str], *, plans: list[RunPlan] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rebuild ``runs.parquet`` and ``layers.parquet`` from the run directories.

    The runs listed are those of ``plans`` if given, else of the study's ``study.toml``,
    else every run directory found. Returns ``(runs, layers)``.
    """
    study_dir = Path(study_dir)
    runs_dir = study_dir / RUNS_DIR
    if plans is None and (study_dir / SPEC_FILE).is_file():
        plans = expand(StudySpec.from_toml(study_dir / SPEC_FILE))
    entries = (
        _entries_from_plans(plans, runs_dir) if plans is not None else _entries_from_dirs(runs_dir)
    )
    runs = pd.DataFrame([_run_row(e) for e in entries])
    if runs.empty:
        runs = pd.DataFrame(columns=[*RUN_ID_COLUMNS, "status", "error", "strength"])
    frames = [f for e in entries for f in _layer_rows(e)]
    layers = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=[*RUN_ID_COLUMNS, "snapshot"])
    )
    study_dir.mkdir(parents=True, exist_ok=True)
    store.write_table(study_dir / RUNS_TABLE, runs)
    store.write_table(study_dir / LAYERS_TABLE, layers)
    for entry in entries:
        _backfill_weight_delta(entry)
    for name in (store.SHARPNESS_TABLE, store.WEIGHT_DELTA_TABLE):
        frames = [f for e in entries for f in _run_table_rows(e, name)]
        if frames:
            store.write_table(study_dir / name, pd.concat(frames, ignore_index=True))
        else:
            (study_dir / name).unlink(missing_ok=True)  # no stale table from earlier runs
    log.info("collected %d runs, %d layer rows into %s", len(runs), len(layers), study_dir)
    return runs, layers
