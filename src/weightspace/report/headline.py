"""The report's first screen: the axis figure, the three answers, the design; then accuracy.

The answers are the study's three questions, each with its interval and power, from stored
tables only: where data diversity sits between dropout and weight decay and whether each
moved the spectra (the default comparison's fingerprint, worded by
:func:`weightspace.compare.conclude.axis_sentence`); whether training rotated the weights'
dominant directions or only rescaled them (:func:`~weightspace.compare.conclude.rotation_headline`);
and whether the diversity score predicts the accuracy gain
(:func:`~weightspace.compare.conclude.prediction_sentence`, the check's Holm family).
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from weightspace import store
from weightspace.compare.conclude import (
    NAMES,
    axis_sentence,
    prediction_sentence,
    rotation_headline,
)
from weightspace.report import figures_runs as fr
from weightspace.report._inputs import ReportTables
from weightspace.report.figures_axis import axis_figure
from weightspace.report.html import Answers, Bullets, Paragraph, Plot, Section
from weightspace.vocabulary import BASELINE

ACCURACY = ("train_acc", "test_acc")
NOT_MEASURED = "Not measured: the runs recorded no weight_delta.parquet (overlap_k = None)."


def usable_runs(tables: ReportTables) -> pd.DataFrame | None:
    runs = tables.runs
    if runs is not None and "status" in runs.columns:
        runs = runs[store.usable(runs)]
    return runs


def strengths(tables: ReportTables) -> dict[str, float]:
    """condition → its dose, from ``runs.parquet`` (to order conditions in figures)."""
    runs = tables.runs
    if runs is None or "strength" not in runs.columns:
        return {}
    first = runs.groupby("condition")["strength"].first()
    return {str(k): float(v) for k, v in pd.to_numeric(first, errors="coerce").items()}


def _seeds(counts: pd.Series) -> str:
    low, high = int(counts.min()), int(counts.max())
    return f"{low} seed{'s' * (low != 1)}" if low == high else f"{low}–{high} seeds"


def design_line(tables: ReportTables) -> str:
    """One line: conditions per category, seeds per condition, baseline seeds, runs."""
    runs = tables.runs if tables.runs is not None else tables.layers
    if runs is None or "condition" not in runs.columns:
        return "Design: no runs table."
    per_run = runs.drop_duplicates("run_id") if "run_id" in runs.columns else runs
    conds = per_run.drop_duplicates("condition")
    others = conds[conds["condition"] != BASELINE]
    by_cat = others["category"].astype(str).value_counts()
    parts = ", ".join(f"{n} {NAMES.get(c, c)}" for c, n in by_cat.items())
    seeds = per_run.groupby("condition").size() if "seed" in per_run.columns else None
    text = f"Design: {len(others)} conditions ({parts})"
    if seeds is not None and len(seeds):
        cond_seeds = seeds.drop(BASELINE, errors="ignore")
        if len(cond_seeds):
            text += f" × {_seeds(cond_seeds)}"
        if BASELINE in seeds.index:
            text += f"; baseline {_seeds(seeds[[BASELINE]])}"
    text += f"; {len(per_run)} runs"
    if tables.runs is not None and "status" in tables.runs.columns:
        bad = int((~store.usable(tables.runs)).sum())
        text += f" ({bad} failed, pending or damaged)" if bad else ""
    if not tables.dd.empty and "layer" in tables.dd.columns:
        text += f"; {tables.dd['layer'].nunique()} layers with ΔΔ"
    for column in ("dataset", "model"):
        if tables.runs is not None and column in tables.runs.columns:
            values = sorted(map(str, tables.runs[column].dropna().unique()))
            if len(values) == 1:
                text += f"; {column} {values[0]}"
    return text + "."


def answers(tables: ReportTables) -> Answers:
    """The three questions and their answers (sentences from stored tables only)."""
    default = tables.tables_of("default")
    why = next((m for m in tables.missing if "default" in m), "the default protocol was not "
               "selected (--protocol)")  # fmt: skip
    axis = axis_sentence(default) if default else f"Not computed: {why}."
    rotation = (rotation_headline(default) or [NOT_MEASURED])[0] if default else axis
    rotation = rotation.removeprefix("Rotate or rescale: ")  # the question says it
    return Answers((
        ("axis", "Data diversity between dropout and weight decay:", axis),
        ("rotation", "Rotate or rescale?", rotation),
        ("prediction", "Does the diversity score predict the accuracy gain?",
         prediction_sentence(tables.correlations)),
    ))  # fmt: skip


def answer_section(tables: ReportTables) -> Section:
    """The first screen: the axis figure, the three answers under it, the design line."""
    sec = Section("answer", "The answer", folded=False)
    default = tables.tables_of("default")
    positions, fingerprint = default.get("axis_positions"), default.get("fingerprint")
    if positions is not None and fingerprint is not None and not fingerprint.empty:
        sec.add(Plot("axis", axis_figure(positions, fingerprint, strengths=strengths(tables)),
                     "● condition, ◆ category, 95% intervals; filled: moved the spectra (adjusted "
                     "p < 0.05), hollow: no evidence that it did; grey: where no change at all "
                     "would sit (θ₀). Power: simulated studies of this design at its own effect "
                     "sizes."))  # fmt: skip
    sec.add(answers(tables))
    sec.add(Paragraph(design_line(tables), note=True))
    notes = [*tables.problems, *tables.missing]
    if notes:
        sec.add(Bullets(tuple(notes), css="warn"))
    return sec


def accuracy_section(tables: ReportTables) -> Section | None:
    """Train and test accuracy per condition (the other outcomes are in a fold below)."""
    runs = usable_runs(tables)
    if runs is None or not any(c in runs.columns for c in ACCURACY):
        return None
    sec = Section("accuracy", "Accuracy per condition", folded=False)
    for tag, label, sub in by_dataset(runs):
        sec.add(Plot(f"accuracy{tag}", fr.run_metrics_figure(sub, metrics=ACCURACY),
                     f"{label}Bars: mean over seeds; lines: ±1 s.d. across seeds; dots: "
                     "single seeds."))  # fmt: skip
    return sec


def by_dataset(table: pd.DataFrame) -> Iterator[tuple[str, str, pd.DataFrame]]:
    """``(file tag, caption prefix, rows)`` per dataset when a table pools several."""
    names = table["dataset"].dropna().unique() if "dataset" in table.columns else []
    if len(names) <= 1:
        yield "", "", table
        return
    for name in sorted(map(str, names)):
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)
        yield f"_{safe}", f"{name}: ", table[table["dataset"].astype(str) == name]
