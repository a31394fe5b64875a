"""The report's ESD section: which runs and layers get a panel, and their eigenvalues.

Columns: the baseline at initialisation, the baseline after training, and the strongest
condition of each other category after training, all from the lowest baseline seed. Rows:
layers (the first, a middle and the last fitted one unless named). The eigenvalues are
exactly those the spectral fit used, read from the run directories' weight files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from weightspace import store
from weightspace.errors import DataError
from weightspace.report._inputs import ReportTables, category_of
from weightspace.report._style import category_color
from weightspace.report.esd import EsdPanel, esd_grid_figure, layer_eigenvalues
from weightspace.report.html import Paragraph, Plot, Section
from weightspace.vocabulary import BASELINE, Category

_OK = {"ok", "success", "complete", "completed", "done"}
MAX_LAYERS = 3


@dataclass(frozen=True)
class Column:
    run_id: str
    snapshot: str  # the layer table's snapshot whose fit the panel shows
    weights: str  # the run directory's weight file
    title: str


def _run_dir(tables: ReportTables, run_id: str) -> Path | None:
    runs = tables.runs
    if runs is not None and "run_dir" in runs.columns:
        hit = runs.loc[runs["run_id"] == run_id, "run_dir"]
        if len(hit) and isinstance(hit.iloc[0], str):
            p = Path(hit.iloc[0])
            return p if p.is_absolute() else tables.root / p
    if runs is not None and {"condition", "seed"} <= set(runs.columns):
        hit = runs.loc[runs["run_id"] == run_id, ["condition", "seed"]]
        if len(hit):
            cand = tables.paths.run_dir(str(hit.iloc[0]["condition"]), int(hit.iloc[0]["seed"]),
                                        run_id)  # fmt: skip
            if cand.is_dir():
                return cand
    for run in store.iter_runs(tables.paths.runs_dir):
        if run.run_id == run_id:
            return run.path
    return None


def pick_layers(rows: pd.DataFrame, max_layers: int = MAX_LAYERS) -> list[str]:
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


def _strongest(sub: pd.DataFrame) -> pd.Series:
    if "strength" in sub.columns and pd.to_numeric(sub["strength"], errors="coerce").notna().any():
        sub = sub.assign(_s=pd.to_numeric(sub["strength"], errors="coerce"))
        sub = sub.sort_values("_s", ascending=False, na_position="last")
    return sub.iloc[0]


def esd_columns(tables: ReportTables) -> tuple[list[Column], str | None]:
    """The panels' columns and the baseline run whose layers choose the rows (or a note)."""
    table, runs = tables.layers, tables.runs
    assert table is not None
    if runs is None:
        runs = table.drop_duplicates("run_id")[["run_id", "condition", "category", "seed"]]
    if "status" in runs.columns:
        runs = runs[store.usable(runs)]
    base = runs[runs["condition"] == BASELINE]
    if base.empty:
        return [], None
    seed = base["seed"].min()
    base_id = str(base[base["seed"] == seed]["run_id"].iloc[0])
    columns = [Column(base_id, "before", store.INIT_WEIGHTS_FILE, f"{BASELINE} · init"),
               Column(base_id, "after", store.WEIGHTS_FILE, f"{BASELINE} · after")]  # fmt: skip
    same_seed = runs[runs["seed"] == seed]
    for cat in sorted(set(same_seed["category"]) - {Category.BS.value}):
        row = _strongest(same_seed[same_seed["category"] == cat])
        columns.append(Column(str(row["run_id"]), "after", store.WEIGHTS_FILE,
                              f"{row['condition']} · after"))  # fmt: skip
    return columns, base_id


def _panel(tables: ReportTables, column: Column, name: str, notes: list[str]) -> EsdPanel | None:
    run_dir = _run_dir(tables, column.run_id)
    path = run_dir / column.weights if run_dir is not None else None
    if path is None or not path.is_file():
        notes.append(f"{column.run_id}: no {column.weights}")
        return None
    table = tables.layers
    assert table is not None
    fit = table[(table["run_id"] == column.run_id) & (table["snapshot"] == column.snapshot)
                & (table["longname"].astype(str) == name)]  # fmt: skip
    fit_row: dict[str, Any] = fit.iloc[0].to_dict() if len(fit) else {}
    compat = str(fit_row.get("compat", "")).lower() == "ww"  # conv ESD halved
    try:
        evals = layer_eigenvalues(path, name, compat=compat)
    except DataError as err:
        notes.append(str(err))
        return None
    cat = str(fit_row.get("category", "")) or category_of(column.title.split(" ")[0])
    color = "#7f7f7f" if column.snapshot == "before" else category_color(cat)
    title = f"{name}\n{column.title}  α={_fmt(fit_row.get('alpha'))}"
    return EsdPanel(evals=evals, row=fit_row, color=color, title=title)


def esd_panels(tables: ReportTables) -> tuple[list[list[EsdPanel | None]], list[str]]:
    """``(grid, notes)``: one row of panels per layer; empty where no run holds weights."""
    table = tables.layers
    if tables.kind != "study" or table is None or table.empty or "longname" not in table:
        return [], []
    columns, base_id = esd_columns(tables)
    if base_id is None:
        return [], ["no baseline run: ESD panels need one"]
    names = list(tables.esd_layers) or pick_layers(
        table[(table["run_id"] == base_id) & (table["snapshot"] == "after")]
    )
    notes: list[str] = []
    grid = []
    for name in names:
        row = [_panel(tables, column, name, notes) for column in columns]
        if any(p is not None for p in row):
            grid.append(row)
    return grid, sorted(set(notes))


def esd_section(tables: ReportTables) -> Section | None:
    grid, notes = esd_panels(tables)
    if not grid:
        return None
    sec = Section("esd", "Eigenvalue spectra (ESD)")
    sec.add(Plot("esd_panels", esd_grid_figure(grid),
                 "Log-log ESD; dashed: power-law fit from xmin with slope −α; dotted: "
                 "Marchenko–Pastur bulk and its edge."))  # fmt: skip
    if notes:
        sec.add(Paragraph("; ".join(notes[:5]), note=True))
    return sec


def _fmt(x: Any) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "—"
    return "NaN" if v != v else f"{v:.2f}"
