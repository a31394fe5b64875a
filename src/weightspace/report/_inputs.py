"""Everything the report reads: study tables, comparison results, ESD eigenvalues.

Two inputs are accepted: a weightspace study directory (``runs.parquet``, ``layers.parquet``,
optional ``diversity.parquet`` and run directories with weights), or a folder of
WeightWatcher per-layer CSV tables (read through :mod:`weightspace.compare`), for which
only the sections that apply are written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from weightspace import store
from weightspace.compare import compare
from weightspace.compare.categories import DEFAULT_RULES
from weightspace.compare.delta import study_delta_delta, with_layer_labels
from weightspace.compare.load import load_layers, load_runs, normalize_layers
from weightspace.errors import DataError
from weightspace.report._data import BASELINE
from weightspace.report._style import category_color
from weightspace.report.esd import EsdPanel, layer_eigenvalues

log = logging.getLogger(__name__)

PROTOCOLS = ("paper", "default")
_OK = {"ok", "success", "complete", "completed", "done"}


@dataclass
class ReportInputs:
    root: Path
    kind: str  # "study" | "tables"
    runs: pd.DataFrame | None = None
    layers: pd.DataFrame | None = None
    diversity: pd.DataFrame | None = None
    dd: pd.DataFrame = field(default_factory=pd.DataFrame)
    results: dict[str, Any] = field(default_factory=dict)  # protocol -> CompareResult
    problems: list[str] = field(default_factory=list)  # shown in the report
    dd_source: str = "layers"  # where the ΔΔ of the figures comes from: study, layers, protocol
    diversity_correlations: pd.DataFrame | None = None


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


def load_inputs(path: str | Path) -> ReportInputs:
    """Detect and read a study directory or a WeightWatcher CSV folder."""
    root = Path(path)
    if not root.is_dir():
        raise DataError(
            f"report input {str(root)!r} is not a directory; give a study directory (with "
            "runs.parquet / layers.parquet) or a folder of WeightWatcher CSV tables"
        )
    paths = store.StudyPaths(root)
    if paths.is_study():
        inputs = ReportInputs(
            root=root,
            kind="study",
            runs=_with_category(_read_optional(paths.runs_table)),
            layers=_with_category(_read_optional(paths.layers_table)),
            diversity=_with_category(_read_optional(paths.diversity_table)),
            diversity_correlations=_read_optional(paths.correlations_table),
        )
    elif any(root.glob("*.csv")) or any(root.glob("*/*.csv")):
        inputs = ReportInputs(root=root, kind="tables", layers=load_layers(root))
        inputs.runs, inputs.diversity = _table_outcomes(root)
    else:
        raise DataError(
            f"{root} holds neither runs.parquet/layers.parquet (a study directory) nor "
            "WeightWatcher CSV tables (<cond>.csv + ft_<cond>.csv); run `weightspace study` "
            "first or point at the folder with the CSV tables"
        )
    if inputs.kind == "study" and paths.dd_table.is_file():
        inputs.dd = with_layer_labels(store.read_study_table(paths.dd_table))
        inputs.dd_source = "study"
    elif inputs.layers is not None and not inputs.layers.empty:
        layers = inputs.layers
        if inputs.runs is not None and "status" in inputs.runs.columns:
            bad = inputs.runs.loc[~store.usable(inputs.runs)]
            layers = layers[~layers["run_id"].isin(set(bad["run_id"]))]
        try:
            inputs.dd = study_delta_delta(normalize_layers(layers))
        except DataError as err:  # no baseline, no before/after pair: figures without ΔΔ
            inputs.problems.append(f"no ΔΔ: {err}")
    return inputs


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


def run_compare(inputs: ReportInputs, protocols: tuple[str, ...], given: Any = None) -> None:
    """Fill ``inputs.results`` from ``given`` or by running :func:`weightspace.compare.compare`.

    A comparison that fails does not stop the report: the failure is logged and listed in
    the report's headline so the rest (figures, run outcomes) is still written.
    """
    if given is not None:
        if isinstance(given, dict):
            inputs.results.update(given)
        else:
            inputs.results[str(getattr(given, "protocol", "default"))] = given
        return
    for protocol in protocols:
        try:
            inputs.results[protocol] = compare(inputs.root, protocol=protocol)
        except Exception as err:  # the report must still show figures and outcomes
            log.warning("compare(protocol=%r) failed on %s", protocol, inputs.root, exc_info=True)
            inputs.problems.append(
                f"{protocol} protocol statistics failed: {type(err).__name__}: {err}"
            )


def adopt_compare_deltas(inputs: ReportInputs) -> None:
    """Use the comparison's own per-layer ΔΔ table (default protocol first) for the figures,
    so that figures and statistics rest on exactly the same numbers."""
    for protocol in ("default", "paper"):
        tables = getattr(inputs.results.get(protocol), "tables", None) or {}
        dd = tables.get("delta_delta")
        if not isinstance(dd, pd.DataFrame) or dd.empty or "category" not in dd.columns:
            continue
        if "longname" not in dd.columns and "layer_id" not in dd.columns:
            continue
        inputs.dd = with_layer_labels(dd)
        inputs.dd_source = protocol
        return


def _run_dir(root: Path, runs: pd.DataFrame | None, run_id: str) -> Path | None:
    if runs is not None and "run_dir" in runs.columns:
        hit = runs.loc[runs["run_id"] == run_id, "run_dir"]
        if len(hit) and isinstance(hit.iloc[0], str):
            p = Path(hit.iloc[0])
            return p if p.is_absolute() else root / p
    if runs is not None and {"condition", "seed"} <= set(runs.columns):
        hit = runs.loc[runs["run_id"] == run_id, ["condition", "seed"]]
        if len(hit):
            cand = store.StudyPaths(root).run_dir(
                str(hit.iloc[0]["condition"]), int(hit.iloc[0]["seed"]), run_id
            )
            if cand.is_dir():
                return cand
    for run in store.iter_runs(store.StudyPaths(root).runs_dir):
        if run.run_id == run_id:
            return run.path
    return None


def _pick_layers(rows: pd.DataFrame, max_layers: int) -> list[str]:
    """First, middle and last successfully fitted layer, in network order."""
    ok = rows
    if "status" in rows.columns:
        ok = rows[rows["status"].astype(str).str.lower().isin(_OK)]
    if "layer_id" in ok.columns:
        ok = ok.sort_values("layer_id")
    names = list(dict.fromkeys(ok["longname"].astype(str)))
    if len(names) <= max_layers:
        return names
    idx = sorted({round(i * (len(names) - 1) / (max_layers - 1)) for i in range(max_layers)})
    return [names[i] for i in idx]


def esd_panels(
    inputs: ReportInputs, *, layers: list[str] | None = None, max_layers: int = 3
) -> tuple[list[list[EsdPanel | None]], list[str]]:
    """ESD panels: one row per layer; columns = baseline at init, baseline after training, and
    the strongest condition of each other category after training (all from one seed).

    Returns ``(grid, notes)``; the grid is empty where no run directory holds weights.
    """
    notes: list[str] = []
    table, runs = inputs.layers, inputs.runs
    if inputs.kind != "study" or table is None or table.empty or "longname" not in table:
        return [], notes
    if runs is None:
        runs = table.drop_duplicates("run_id")[["run_id", "condition", "category", "seed"]]
    if "status" in runs.columns:
        runs = runs[store.usable(runs)]
    base = runs[runs["condition"] == BASELINE]
    if base.empty:
        return [], ["no baseline run: ESD panels need one"]
    seed = base["seed"].min() if "seed" in base else 0
    base_id = (
        str(base[base["seed"] == seed]["run_id"].iloc[0])
        if "seed" in base
        else str(base["run_id"].iloc[0])
    )
    columns: list[tuple[str, str, str, str]] = [  # (run_id, snapshot, file, title)
        (base_id, "before", store.INIT_WEIGHTS_FILE, "bs · init"),
        (base_id, "after", store.WEIGHTS_FILE, "bs · after"),
    ]
    same_seed = runs[runs["seed"] == seed] if "seed" in runs else runs
    for cat in sorted(set(same_seed["category"]) - {BASELINE}):
        sub = same_seed[same_seed["category"] == cat]
        if (
            "strength" in sub.columns
            and pd.to_numeric(sub["strength"], errors="coerce").notna().any()
        ):
            sub = sub.assign(_s=pd.to_numeric(sub["strength"], errors="coerce"))
            sub = sub.sort_values("_s", ascending=False, na_position="last")
        row = sub.iloc[0]
        columns.append(
            (str(row["run_id"]), "after", store.WEIGHTS_FILE, f"{row['condition']} · after")
        )
    names = layers or _pick_layers(
        table[(table["run_id"] == base_id) & (table["snapshot"] == "after")], max_layers
    )
    grid: list[list[EsdPanel | None]] = []
    for name in names:
        row_panels: list[EsdPanel | None] = []
        for run_id, snapshot, fname, title in columns:
            run_dir = _run_dir(inputs.root, inputs.runs, run_id)
            path = run_dir / fname if run_dir is not None else None
            if path is None or not path.is_file():
                notes.append(f"{run_id}: no {fname}")
                row_panels.append(None)
                continue
            fit = table[
                (table["run_id"] == run_id)
                & (table["snapshot"] == snapshot)
                & (table["longname"].astype(str) == name)
            ]
            fit_row: dict[str, Any] = fit.iloc[0].to_dict() if len(fit) else {}
            compat = str(fit_row.get("compat", "")).lower() == "ww"  # conv ESD halved
            try:
                evals = layer_eigenvalues(path, name, compat=compat)
            except DataError as err:
                notes.append(str(err))
                row_panels.append(None)
                continue
            cat = str(fit_row.get("category", "")) or category_of(title.split(" ")[0])
            color = "#7f7f7f" if snapshot == "before" else category_color(cat)
            row_panels.append(
                EsdPanel(
                    evals=evals,
                    row=fit_row,
                    color=color,
                    title=f"{name}\n{title}  α={_fmt(fit_row.get('alpha'))}",
                )
            )
        if any(p is not None for p in row_panels):
            grid.append(row_panels)
    return grid, sorted(set(notes))


def _fmt(x: Any) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "—"
    return "NaN" if v != v else f"{v:.2f}"
