"""The report's outcome sections: calibration and OOD, diversity vs accuracy, synthetic data.

Each is a function ``(tables) -> Section | None`` over stored tables (runs, the prediction
check's tables, the generator's quality and samples); none computes a statistic.
"""

from __future__ import annotations

import pandas as pd

from weightspace import store
from weightspace.report import figures_runs as fr
from weightspace.report._inputs import ReportTables
from weightspace.report.headline import by_dataset, usable_runs
from weightspace.report.html import FigureBlock, Paragraph, Plot, Section, TableBlock
from weightspace.vocabulary import BASELINE, Category

CALIBRATION = ("test_ece", "ood_acc", "ood_ece")
CORRELATIONS_NOTE = (
    "Rank correlations of each score with the accuracy gain over the baseline across data "
    "conditions, augmentation and synthetic strata apart (the baseline in both): p exact or "
    "by permutation, p_adj Benjamini–Hochberg over the family of n_family tests, 95% "
    "interval (lo, hi) carrying each gain's standard error; none below 5 conditions. An "
    "interval that includes 0 is no evidence of a relation, not evidence that there is none."
)


def outcomes_section(tables: ReportTables) -> Section | None:
    """Calibration (ECE) and OOD accuracy per condition (accuracy is on the first screen)."""
    runs = usable_runs(tables)
    metrics = [c for c in CALIBRATION if runs is not None and c in runs.columns
               and runs[c].notna().any()]  # fmt: skip
    if runs is None or not metrics:
        return None
    sec = Section("outcomes", "Calibration and OOD accuracy")
    for tag, label, sub in by_dataset(runs):
        sec.add(Plot(f"outcomes{tag}", fr.run_metrics_figure(sub, metrics=metrics),
                     f"{label}Bars: mean over seeds; lines: ±1 s.d. across seeds; dots: "
                     "single seeds."))  # fmt: skip
    return sec


def data_conditions(tables: ReportTables) -> pd.DataFrame | None:
    """The prediction check's rows of conditions that change the data (and the baseline):
    dropout and weight decay train on the baseline's data, so their scores are its own."""
    div = tables.diversity
    if div is not None and "data_condition" in div.columns:
        div = div[div["data_condition"].astype(bool) | (div["condition"] == BASELINE)]
    return div if div is not None and not div.empty else None


def diversity_section(tables: ReportTables) -> Section | None:
    div = data_conditions(tables)
    if div is None:
        return None
    sec = Section("diversity", "Diversity score vs accuracy")
    for tag, label, sub in by_dataset(div):
        sec.add(Plot(f"diversity{tag}", fr.diversity_figure(sub),
                     f"{label}Colour: category; marker size: strength; title: Spearman rank "
                     "correlation across the plotted conditions (descriptive; the table below "
                     "tests each stratum)."))  # fmt: skip
    corr = tables.correlations
    if corr is not None and not corr.empty:
        sec.add(Paragraph(CORRELATIONS_NOTE))
        sec.add(TableBlock(corr, title="diversity correlations"))
    return sec


def _generator_blocks(tables: ReportTables) -> list[FigureBlock | TableBlock]:
    """The built-in generator's sample grid and quality table of every seed."""
    blocks: list[FigureBlock | TableBlock] = []
    for seed, folder in tables.paths.synthetic_seed_dirs():
        grid, quality = folder / store.SAMPLE_GRID_FILE, folder / store.QUALITY_TABLE
        if grid.is_file():
            blocks.append(FigureBlock(f"synthetic_grid_s{seed}", grid.read_bytes(),
                                      f"Built-in generator samples, one row per class (seed "
                                      f"{seed})."))  # fmt: skip
        if quality.is_file():
            blocks.append(TableBlock(store.read_table(quality),
                                     title=f"generator quality, seed {seed}: fidelity (precision, "
                                     "density), coverage (recall, coverage), Vendi scores"))  # fmt: skip
    return blocks


def synthetic_section(tables: ReportTables) -> Section | None:
    runs = usable_runs(tables)
    gen, div = Category.GEN.value, Category.DIV.value
    if runs is None or not (runs["category"] == gen).any():
        return None
    sec = Section("synthetic", "Synthetic vs traditional diversity")
    sec.add(Plot("synthetic", fr.synthetic_figure(runs),
                 "Outcome vs synthetic fraction per mode (replace, add, filtered); fraction 0 "
                 "is the baseline."))  # fmt: skip
    for block in _generator_blocks(tables):
        sec.add(block)
    scores = data_conditions(tables)
    if scores is not None and {gen, div} & set(scores["category"]) and "wvs" in scores.columns:
        sub = scores[scores["category"].isin([gen, div])]
        sec.add(Plot("synthetic_wvs", fr.diversity_figure(sub, scores=("wvs",)),
                     "Weighted Vendi score vs accuracy, synthetic (gen) and augmentation "
                     "(div)."))  # fmt: skip
    return sec
