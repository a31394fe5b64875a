"""Everything the report reads, and only reads: the study's tables and its stored comparisons.

Two inputs are accepted: a weightspace study directory, or a folder of WeightWatcher
per-layer CSV tables (read through :mod:`weightspace.compare.load`). The statistics are never
computed here: they are the comparisons stored in ``<input>/compare/<protocol>/`` (written by
``weightspace study`` and by ``weightspace compare PATH --save``), or in another folder of
such results (``results_dir``). What is not stored is listed in :attr:`ReportTables.missing`
with the command that writes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from weightspace import store
from weightspace.compare.categories import DEFAULT_RULES
from weightspace.compare.delta import study_delta_delta, with_layer_labels
from weightspace.compare.load import load_layers, load_runs, normalize_layers
from weightspace.compare.result import PROTOCOLS, CompareResult
from weightspace.errors import DataError


@dataclass
class ReportTables:
    """What a report is rendered from (each section function takes this and nothing else)."""

    root: Path
    kind: str  # "study" | "tables"
    runs: pd.DataFrame | None = None
    layers: pd.DataFrame | None = None
    diversity: pd.DataFrame | None = None
    correlations: pd.DataFrame | None = None  # the prediction check's rank correlations
    dd: pd.DataFrame = field(default_factory=pd.DataFrame)
    results: dict[str, CompareResult] = field(default_factory=dict)  # protocol -> stored result
    published: CompareResult | None = None  # the published tables' paper protocol (text)
    missing: list[str] = field(default_factory=list)  # what is not stored, and its command
    problems: list[str] = field(default_factory=list)  # shown in the headline
    esd_layers: tuple[str, ...] = ()  # layer names of the ESD panels (empty: picked)
    protocols: tuple[str, ...] = PROTOCOLS  # the protocols to show

    @property
    def paths(self) -> store.StudyPaths:
        return store.StudyPaths(self.root)

    def tables_of(self, protocol: str) -> dict[str, pd.DataFrame]:
        """The stored tables of ``protocol`` (empty when it is not stored)."""
        result = self.results.get(protocol)
        return dict(result.tables) if result is not None else {}

    def compare_command(self) -> str:
        """The command that stores this input's comparisons where the report reads them."""
        return f"weightspace compare {self.root} --save"


def _read_optional(path: Path) -> pd.DataFrame | None:
    return store.read_study_table(path) if path.is_file() else None


def category_of(condition: object) -> str:
    """The category of a condition name without one of its own (compare's naming rules)."""
    return DEFAULT_RULES.category(str(condition).split("/")[-1])


def _with_category(table: pd.DataFrame | None) -> pd.DataFrame | None:
    if table is None or "condition" not in table.columns:
        return table
    table = table.copy()
    derived = table["condition"].map(category_of)
    table["category"] = table["category"].fillna(derived) if "category" in table else derived
    return table


def _read_input(root: Path) -> ReportTables:
    paths = store.StudyPaths(root)
    if paths.is_study():
        return ReportTables(
            root=root,
            kind="study",
            runs=_with_category(_read_optional(paths.runs_table)),
            layers=_with_category(_read_optional(paths.layers_table)),
            diversity=_with_category(_read_optional(paths.diversity_table)),
            correlations=_read_optional(paths.correlations_table),
        )
    if any(root.glob("*.csv")) or any(root.glob("*/*.csv")):
        tables = ReportTables(root=root, kind="tables", layers=load_layers(root))
        tables.runs, tables.diversity = _table_outcomes(root)
        return tables
    raise DataError(
        f"{root} holds neither runs.parquet/layers.parquet (a study directory) nor "
        "WeightWatcher CSV tables (<cond>.csv + ft_<cond>.csv); run `weightspace study` "
        "first or point at the folder with the CSV tables"
    )


def _table_outcomes(root: Path) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Outcomes and Vendi scores from the paper's ``run-metrics/`` folders, when present."""
    runs = load_runs(root)
    if runs is None or runs.empty:
        return None, None
    renames = {"vendi_embedding": "vs_emb", "vendi_pixel": "vs_pixel"}
    scores = [c for c in renames if c in runs.columns]
    diversity = None
    if scores and "test_acc" in runs.columns:
        diversity = runs.rename(columns=renames)
    return runs, diversity


def _read_results(tables: ReportTables, results_dir: Path) -> None:
    for protocol in tables.protocols:
        folder = results_dir / protocol
        if (folder / store.COMPARE_FILE).is_file():
            tables.results[protocol] = CompareResult.from_dir(folder)
        else:
            tables.missing.append(
                f"no stored {protocol}-protocol comparison in {folder}: `"
                f"{tables.compare_command()}` writes it"
                + (" (so does `weightspace study`)" if tables.kind == "study" else "")
            )
    published = tables.paths.published_compare_dir
    if tables.kind == "study" and (published / store.COMPARE_FILE).is_file():
        tables.published = CompareResult.from_dir(published)


def _delta_delta(tables: ReportTables) -> pd.DataFrame:
    """ΔΔ per condition × layer: the study's ``dd.parquet``, else the stored comparisons'
    own table, else the same difference computed from the layer table (no statistics)."""
    if tables.kind == "study" and tables.paths.dd_table.is_file():
        return with_layer_labels(store.read_study_table(tables.paths.dd_table))
    for protocol in PROTOCOLS:
        dd = tables.tables_of(protocol).get("delta_delta")
        if dd is not None and not dd.empty and {"category", "layer_id"} <= set(dd.columns):
            return with_layer_labels(dd)
    layers = tables.layers
    if layers is None or layers.empty:
        return pd.DataFrame()
    if tables.runs is not None and "status" in tables.runs.columns:
        bad = tables.runs.loc[~store.usable(tables.runs), "run_id"]
        layers = layers[~layers["run_id"].isin(set(bad))]
    try:
        return study_delta_delta(normalize_layers(layers))
    except DataError as err:  # no baseline, no before/after pair: figures without ΔΔ
        tables.problems.append(f"no ΔΔ: {err}")
        return pd.DataFrame()


def load_tables(
    path: str | Path,
    *,
    results_dir: str | Path | None = None,
    protocols: Sequence[str] = PROTOCOLS,
    esd_layers: Sequence[str] = (),
) -> ReportTables:
    """Read a study directory or a WeightWatcher CSV folder and its stored comparisons
    (``results_dir``: a folder of ``<protocol>/compare.json``; default ``<path>/compare``)."""
    root = Path(path)
    if not root.is_dir():
        raise DataError(
            f"report input {str(root)!r} is not a directory; give a study directory (with "
            "runs.parquet / layers.parquet) or a folder of WeightWatcher CSV tables"
        )
    tables = _read_input(root)
    tables.protocols = tuple(p for p in PROTOCOLS if p in protocols)
    tables.esd_layers = tuple(esd_layers)
    _read_results(tables, Path(results_dir) if results_dir else tables.paths.compare_dir)
    tables.dd = _delta_delta(tables)
    return tables
