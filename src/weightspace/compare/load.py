"""Read layer tables into one long format: a study directory or WeightWatcher CSV folders.

Long format (one row per dataset × run × snapshot × layer)::

    dataset, condition, category, seed, run_id, snapshot ("before" | "after"), position,
    layer_id, name, longname, <metric columns: alpha, entropy, log_norm, ...>

``position`` is the row's index inside its source table (the paper aligns before/after by
position). Inputs are auto-detected per path:

- a directory with ``layers.parquet`` (a weightspace study; ``runs.parquet`` beside it);
  its dataset key is the folder name;
- a folder of WeightWatcher CSVs paired either as ``<cond>.csv`` / ``ft_<cond>.csv`` or
  ``<cond>_<tag>.csv`` / ``<cond>_<tag>_ft.csv`` (dataset = the folder name);
- a folder whose sub-folders are such folders or studies. If every sub-folder holds a
  baseline each is its own dataset; if only one holds the baseline (the paper's BERT layout:
  ``regularizers/`` has ``bs``, ``eda/`` does not) they are one dataset named after the folder,
  and conditions from the other sub-folders are prefixed ``<subfolder>/``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from weightspace import store
from weightspace.compare.categories import BASELINE, DEFAULT_RULES, CategoryRules, parse_strength
from weightspace.errors import DataError

log = logging.getLogger(__name__)

ID_COLUMNS = ["dataset", "condition", "category", "seed", "run_id", "snapshot", "position"]
LAYER_COLUMNS = ["layer_id", "name", "longname"]
RUN_METRIC_FILES = {
    "acc": "test_acc",
    "ece": "test_ece",
    "loss": "test_loss",
    "embedding": "vendi_embedding",
    "pixel": "vendi_pixel",
}

PathLike = str | os.PathLike[str]


def _as_paths(paths: PathLike | Iterable[PathLike]) -> list[Path]:
    if isinstance(paths, (str, os.PathLike)):
        return [Path(paths)]
    return [Path(p) for p in paths]


def _csv_pairs(folder: Path) -> dict[str, tuple[Path, Path]]:
    """``{condition: (before.csv, after.csv)}`` for both naming conventions."""
    stems = {p.stem: p for p in folder.glob("*.csv")}
    pairs: dict[str, tuple[Path, Path]] = {}
    used: set[str] = set()
    for stem in sorted(stems):
        if stem.startswith("ft_") and stem[3:] in stems:  # <cond>.csv / ft_<cond>.csv
            pairs[stem[3:]] = (stems[stem[3:]], stems[stem])
            used |= {stem, stem[3:]}
        elif stem.endswith("_ft") and stem[:-3] in stems:  # <cond>_<tag>.csv / ..._ft.csv
            base = stem[:-3]
            condition = base.rsplit("_", 1)[0] if "_" in base else base
            pairs[condition] = (stems[base], stems[stem])
            used |= {stem, base}
    unpaired = sorted(set(stems) - used)
    if unpaired and pairs:
        log.warning("%s: ignoring CSV files without a before/after partner: %s", folder, unpaired)
    return pairs


def _read_csv_folder(folder: Path, dataset: str, prefix: str = "") -> pd.DataFrame:
    frames = []
    for condition, (before, after) in _csv_pairs(folder).items():
        for snapshot, path in (("before", before), ("after", after)):
            table = pd.read_csv(path)
            if "layer_id" not in table.columns:
                raise DataError(
                    f"{path} has no 'layer_id' column; expected a WeightWatcher analyze() "
                    "table (one row per layer)"
                )
            name = prefix + condition
            table.insert(0, "position", np.arange(len(table)))
            table.insert(0, "snapshot", snapshot)
            table.insert(0, "run_id", f"{dataset}/{name}/s0")
            table.insert(0, "seed", 0)
            table.insert(0, "bare_condition", condition)
            table.insert(0, "condition", name)
            table.insert(0, "dataset", dataset)
            frames.append(table)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _study_dataset(table: pd.DataFrame, study: Path) -> None:
    """A study's ``dataset`` key is its folder name (two studies of one dataset, e.g. two
    architectures, must not merge); the data set's own name is kept as ``data_name``."""
    if "dataset" in table.columns:
        table["data_name"] = table["dataset"]
    table["dataset"] = study.name


def _read_study(study: Path) -> pd.DataFrame:
    paths = store.StudyPaths(study)
    table = store.read_study_table(paths.layers_table, required=store.REQUIRED_LAYERS)
    if table.empty:
        raise DataError(
            f"{paths.layers_table} holds no layer rows: no run of this study has "
            f"finished (see {store.RUNS_TABLE} for their status and errors)"
        )
    table = table[table["snapshot"].isin(["before", "after"])].copy()
    if paths.runs_table.is_file():
        runs = store.read_study_table(paths.runs_table)
        if "status" in runs.columns:
            bad = runs.loc[~store.usable(runs), "run_id"]
            if len(bad):
                log.warning("%s: leaving out %d failed runs", study, len(bad))
                table = table[~table["run_id"].isin(set(bad))]
    _study_dataset(table, study)
    if "seed" not in table.columns:
        table["seed"] = 0
    table["bare_condition"] = table["condition"].astype(str)
    table = table.sort_values(["run_id", "snapshot", "layer_id"], kind="stable")
    table["position"] = table.groupby(["run_id", "snapshot"]).cumcount()
    return table.reset_index(drop=True)


def _has_baseline(table: pd.DataFrame) -> bool:
    return bool((table["bare_condition"] == BASELINE).any())


def _read_path(path: Path) -> list[pd.DataFrame]:
    """One or more tables (one per dataset) found at ``path``."""
    if not path.exists():
        raise DataError(
            f"path {str(path)!r} does not exist; give a study directory (with layers.parquet) "
            "or a folder of WeightWatcher CSV tables"
        )
    if path.is_file():
        raise DataError(
            f"{path} is a file; give the study directory that holds layers.parquet or the "
            "folder that holds the <cond>.csv / ft_<cond>.csv tables"
        )
    if store.StudyPaths(path).layers_table.is_file():
        return [_read_study(path)]
    if _csv_pairs(path):
        return [_read_csv_folder(path, path.name)]
    subs = sorted(p for p in path.iterdir() if p.is_dir() and p.name != "run-metrics")
    found = [(sub, t) for sub in subs for t in _read_path_quiet(sub)]
    if not found:
        raise DataError(
            f"{path} holds no layers.parquet, no before/after CSV pairs (<cond>.csv + "
            "ft_<cond>.csv or <cond>_<tag>.csv + <cond>_<tag>_ft.csv) and no sub-folder "
            "with either"
        )
    with_bs = [sub for sub, t in found if _has_baseline(t)]
    if len(with_bs) == len(found) or not with_bs:
        return [t for _, t in found]
    if len(with_bs) > 1:
        raise DataError(
            f"{path}: sub-folders {[s.name for s in with_bs]} each hold a baseline but "
            f"{[s.name for s, t in found if not _has_baseline(t)]} do not, so it is unclear "
            "which baseline they belong to; pass the folders separately"
        )
    merged = []
    for sub, table in found:
        table = table.copy()
        table["dataset"] = path.name
        if sub not in with_bs:
            table["condition"] = sub.name + "/" + table["bare_condition"]
        table["run_id"] = path.name + "/" + table["condition"] + "/s" + table["seed"].astype(str)
        merged.append(table)
    return [pd.concat(merged, ignore_index=True)]


def _read_path_quiet(path: Path) -> list[pd.DataFrame]:
    try:
        return _read_path(path)
    except DataError as err:
        log.info("skipping sub-folder %s: %s", path, err)
        return []


def _layer_names(table: pd.DataFrame) -> pd.Series:
    """``longname`` where present; else ``name`` if it tells a run's layers apart; else the
    layer id as text — pooling datasets matches layers by this name, so it must not be ""."""
    longname = table["longname"] if "longname" in table.columns else pd.Series("", table.index)
    longname = longname.astype(object).where(longname.notna() & (longname != ""), None)
    if longname.isna().any():
        name = table["name"].astype(str)
        unique = not table.assign(_n=name).duplicated(["dataset", "run_id", "snapshot", "_n"]).any()
        fallback = name if unique else "layer" + table["layer_id"].astype(str)
        longname = longname.fillna(fallback)
    return longname.astype(str)


def normalize_layers(
    table: pd.DataFrame, *, category_rules: CategoryRules | None = None
) -> pd.DataFrame:
    """Bring a layer table (loaded, or built in memory) to the long format.

    Needs ``condition``, ``snapshot`` and ``layer_id``; fills ``dataset`` ("data"), ``seed``
    (0), ``run_id``, ``position`` (order by layer id) and ``name``/``longname`` when absent.
    Category: ``category_rules`` applied to the condition name (without a sub-folder prefix)
    when given; otherwise the table's own ``category`` where present, else the default rules.
    """
    missing = sorted({"condition", "snapshot", "layer_id"} - set(table.columns))
    if missing:
        raise DataError(
            f"layer table lacks columns {missing}; it needs condition, snapshot "
            "('before'/'after'), layer_id and metric columns (see docs/compare.md)"
        )
    table = table.copy()
    if "dataset" not in table.columns:
        table["dataset"] = "data"
    if "seed" not in table.columns:
        table["seed"] = 0
    table["dataset"] = table["dataset"].astype(str)
    table["condition"] = table["condition"].astype(str)
    table["seed"] = table["seed"].astype(int)
    if "bare_condition" not in table.columns:
        table["bare_condition"] = table["condition"]
    if "run_id" not in table.columns:
        table["run_id"] = (
            table["dataset"] + "/" + table["condition"] + "/s" + table["seed"].astype(str)
        )
    table = table[table["snapshot"].isin(["before", "after"])]
    if "position" not in table.columns:
        table = table.sort_values(["dataset", "run_id", "snapshot", "layer_id"], kind="stable")
        table["position"] = table.groupby(["dataset", "run_id", "snapshot"]).cumcount()
    split = table.duplicated(["dataset", "run_id", "snapshot", "layer_id"], keep=False)
    if split.any():
        # A module analysed in parts (attention q/k/v, RNN gates) gives several rows with one
        # layer id. Layer ids key the ΔΔ match, so such runs are renumbered by row position
        # (extraction order is stable, so positions agree across runs of one model); the
        # module's own id is kept as ``module_id``.
        runs = table.loc[split, "run_id"].unique()
        renumber = table["run_id"].isin(runs)
        log.info("%d run(s) hold split layers; their layer ids become row positions", len(runs))
        table["module_id"] = table["layer_id"]
        table.loc[renumber, "layer_id"] = table.loc[renumber, "position"] + 1
    rules = category_rules or DEFAULT_RULES
    derived = table["bare_condition"].map(rules.category)
    if category_rules is None and "category" in table.columns:
        table["category"] = table["category"].where(table["category"].notna(), derived)
    else:
        table["category"] = derived
    if "name" not in table.columns:
        table["name"] = ""
    table["longname"] = _layer_names(table)
    dup = table.duplicated(["dataset", "run_id", "snapshot", "position"])
    if dup.any():
        raise DataError(
            f"{int(dup.sum())} duplicate layer rows (same dataset, run, snapshot and "
            "position): two inputs hold the same dataset name, or one path was given twice; "
            "rename one folder or give each path once"
        )
    front = [*ID_COLUMNS, *LAYER_COLUMNS]
    rest = [c for c in table.columns if c not in front and c != "bare_condition"]
    return table[front + rest].reset_index(drop=True)


def load_layers(
    paths: PathLike | Sequence[PathLike], *, category_rules: CategoryRules | None = None
) -> pd.DataFrame:
    """Load and pool layer tables from studies and/or WeightWatcher CSV folders.

    Category: ``category_rules`` applied to the condition name (without a sub-folder
    prefix) when given; otherwise a study's own ``category`` column where present, else the
    default rules. Booleans stay booleans here (the Δ step turns them into integers).
    """
    frames = [t for p in _as_paths(paths) for t in _read_path(p)]
    return normalize_layers(pd.concat(frames, ignore_index=True), category_rules=category_rules)


def _run_metrics(folder: Path, dataset: str, conditions: set[str]) -> pd.DataFrame:
    """Per-condition outcomes from a CSV folder's ``run-metrics/`` (the paper's layout)."""
    rows: dict[str, dict[str, float]] = {}
    metrics_dir = folder / "run-metrics"
    for path in sorted(metrics_dir.glob("*.csv")) if metrics_dir.is_dir() else []:
        column = RUN_METRIC_FILES.get(path.stem.split("_")[0])
        if column is None:
            continue
        values = pd.read_csv(path).iloc[0]
        if column == "test_acc" and values.max() > 1.5:  # the paper stores percentages
            values = values / 100.0
        for key, value in values.items():
            key = str(key)
            match = [c for c in (key, f"dp{key}", f"wd{key}", f"div{key}") if c in conditions]
            if match:
                rows.setdefault(match[0], {})[column] = float(value)
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("condition").reset_index()
    if len(table):
        table.insert(0, "dataset", dataset)
        table["seed"] = 0
    return table


def load_runs(
    paths: PathLike | Sequence[PathLike], *, category_rules: CategoryRules | None = None
) -> pd.DataFrame | None:
    """Per-run outcomes (``runs.parquet`` or the paper's ``run-metrics/``), or None.

    Columns: dataset, condition, category, seed, strength and whatever outcomes exist
    (test_acc, test_ece, ood_acc, test_loss, ...).
    """
    frames = []
    for path in _as_paths(paths):
        study = store.StudyPaths(path)
        if study.runs_table.is_file():
            runs = store.read_study_table(study.runs_table)
            _study_dataset(runs, path)
            runs = runs[store.usable(runs)]
            frames.append(runs)
            continue
        folders = [path, *sorted(p for p in path.iterdir() if p.is_dir())] if path.is_dir() else []
        for folder in folders:
            pairs = _csv_pairs(folder)
            if pairs:
                table = _run_metrics(folder, folder.name, set(pairs))
                if len(table):
                    frames.append(table)
    if not frames:
        return None
    runs = pd.concat(frames, ignore_index=True)
    rules = category_rules or DEFAULT_RULES
    derived = runs["condition"].astype(str).map(rules.category)
    if category_rules is None and "category" in runs.columns:
        runs["category"] = runs["category"].where(runs["category"].notna(), derived)
    else:
        runs["category"] = derived
    if "strength" not in runs.columns:
        runs["strength"] = np.nan
    parsed = runs["condition"].astype(str).map(parse_strength)
    runs["strength"] = pd.to_numeric(runs["strength"], errors="coerce").fillna(parsed)
    runs["seed"] = runs["seed"].fillna(0).astype(int) if "seed" in runs.columns else 0
    return runs.reset_index(drop=True)


def load_weight_deltas(
    paths: PathLike | Sequence[PathLike], *, category_rules: CategoryRules | None = None
) -> pd.DataFrame | None:
    """The studies' ``weight_delta.parquet`` (ΔW metrics and subspace overlap per run ×
    layer; usable runs only), or None when no study recorded them."""
    frames = []
    for path in _as_paths(paths):
        study = store.StudyPaths(path)
        table_path = study.root / store.WEIGHT_DELTA_TABLE
        if not table_path.is_file():
            continue
        table = store.read_study_table(table_path, required=("run_id", "condition", "longname"))
        if study.runs_table.is_file():
            runs = store.read_study_table(study.runs_table)
            if "status" in runs.columns:
                table = table[table["run_id"].isin(set(runs.loc[store.usable(runs), "run_id"]))]
        table = table.copy()
        _study_dataset(table, path)
        frames.append(table)
    if not frames:
        return None
    table = pd.concat(frames, ignore_index=True)
    if category_rules is not None or "category" not in table.columns:
        table["category"] = (
            table["condition"].astype(str).map((category_rules or DEFAULT_RULES).category)
        )
    return table.reset_index(drop=True)


def load_dynamics(
    paths: PathLike | Sequence[PathLike],
) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """The studies' layer tables with every snapshot (``step``) and their sharpness tables
    (usable runs only), for :func:`weightspace.compare.dynamics.dynamics_tables`; ``None``
    where no study holds one."""
    layers, sharpness = [], []
    for path in _as_paths(paths):
        study = store.StudyPaths(path)
        if not study.layers_table.is_file():
            continue
        done = None
        if study.runs_table.is_file():
            runs = store.read_study_table(study.runs_table)
            if "status" in runs.columns:
                done = set(runs.loc[store.usable(runs), "run_id"])
        table = store.read_study_table(study.layers_table)
        if "step" in table.columns and table["step"].nunique() > 2:
            layers.append(table if done is None else table[table["run_id"].isin(done)])
        trace_path = study.root / store.SHARPNESS_TABLE
        if trace_path.is_file():
            trace = store.read_study_table(trace_path, required=("run_id", "step", "trace"))
            sharpness.append(trace if done is None else trace[trace["run_id"].isin(done)])
    return (pd.concat(layers, ignore_index=True) if layers else None,
            pd.concat(sharpness, ignore_index=True) if sharpness else None)  # fmt: skip


#: where the paper's published bert-base tables are looked for unless a path is given
BERT_TABLES_ENV = "WEIGHTSPACE_BERT_TABLES"
DEFAULT_BERT_TABLES = Path("../shared/reference/paper-tables/bert-complaints")


def published_bert_dir(given: PathLike | None = None) -> Path:
    """The published bert-base tables' folder (a text study is set beside them): ``given``,
    else ``$WEIGHTSPACE_BERT_TABLES``, else ``../shared/reference/paper-tables/bert-complaints``
    (from the working directory)."""
    if given is not None:
        return Path(given)
    env = os.environ.get(BERT_TABLES_ENV)
    return Path(env) if env else DEFAULT_BERT_TABLES
