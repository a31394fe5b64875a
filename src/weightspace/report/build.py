"""``build_report``: one self-contained HTML file plus every figure as PNG/SVG.

Sections (each appears only when its data exists): headline, outcomes (accuracy, ECE, OOD),
statistics (paper protocol and default protocol, with their plain-language conclusions),
fingerprint, rotate or rescale, category means, layer profiles, ESD panels, dose–response, diversity, synthetic.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from weightspace.config import load_toml
from weightspace.errors import ConfigError
from weightspace.report import figures_runs as fr
from weightspace.report import figures_spectral as fs
from weightspace.report._data import BASELINE
from weightspace.report._inputs import (
    PROTOCOLS,
    ReportInputs,
    adopt_compare_deltas,
    esd_panels,
    load_inputs,
    run_compare,
)
from weightspace.report._style import figure_bytes
from weightspace.report.dynamics import dynamics_section
from weightspace.report.esd import esd_grid_figure
from weightspace.report.html import (
    Bullets,
    FigureBlock,
    Paragraph,
    Section,
    TableBlock,
    render_html,
)
from weightspace.report.rotation import rotation_section
from weightspace.report.sections import (
    by_dataset,
    category_summary_of,
    headline_section,
    mean_sentences,
    noise_floor_of,
    statistics_section,
    tables_of,
    with_run_deltas,
)
from weightspace.report.text import text_section
from weightspace.store import REPORT_FILE, SPEC_FILE, read_table

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

FORMATS = ("png", "svg")
# Known comparison tables in the order they are shown; any other table follows.


class _Writer:
    """Encodes each figure once: PNG for the HTML, and the requested files on disk."""

    def __init__(self, folder: Path, formats: Sequence[str]) -> None:
        self.folder, self.formats = folder, tuple(formats)
        self.files: list[Path] = []

    def __call__(self, name: str, fig: Figure, caption: str) -> FigureBlock:
        png = figure_bytes(fig, "png", dpi=100)
        if self.formats:
            self.folder.mkdir(parents=True, exist_ok=True)
        for fmt in self.formats:
            path = self.folder / f"{name}.{fmt}"
            path.write_bytes(png if fmt == "png" else figure_bytes(fig, fmt))
            self.files.append(path)
        return FigureBlock(name=name, png=png, caption=caption)


def _build_sections(
    inputs: ReportInputs, write: _Writer, esd_layers: list[str] | None
) -> list[Section]:
    sections = [headline_section(inputs)]
    runs, dd = inputs.runs, inputs.dd
    if runs is not None and any(c in runs.columns for c in fr.RUN_METRICS):
        sec = Section("outcomes", "Accuracy, calibration and OOD accuracy")
        for tag, label, sub in by_dataset(runs):
            sec.add(
                write(
                    f"outcomes{tag}",
                    fr.run_metrics_figure(sub),
                    f"{label}Bars: mean over seeds; lines: ±1 s.d. across seeds; dots: single seeds.",
                )
            )
        sections.append(sec)
    stats_sec = statistics_section(inputs)
    if stats_sec is not None:
        sections.append(stats_sec)
    fp = tables_of(inputs.results.get("default")).get("fingerprint")
    if fp is not None and not fp.empty:
        sec = Section("fingerprint", "Regularizer fingerprint")
        sec.add(
            Paragraph(
                "Which reference category each condition's ΔΔ profile is nearest to, and "
                "whether the projection tests support that it acts like it (see docs/report.md)."
            )
        )
        sec.add(write("fingerprint", fs.fingerprint_figure(fp), "Fingerprint table as a heatmap."))
        sec.add(TableBlock(fp))
        sections.append(sec)
    rot = rotation_section(inputs, write)
    if rot is not None:
        sections.append(rot)
    summary, ci_text = category_summary_of(inputs)
    floor = noise_floor_of(inputs.results)
    if not summary.empty:
        sec = Section("category-means", "Category means of ΔΔ")
        sec.add(Bullets(tuple(mean_sentences(summary, ci_text))))
        sec.add(
            write(
                "category_means",
                fs.category_means_figure(summary, noise_floor=floor),
                f"Mean ΔΔ per category over layers; lines: {ci_text}; grey band, when "
                "measured: ± the baseline seed-to-seed spread of a seed-averaged score "
                "(descriptive, not a test).",
            )
        )
        sections.append(sec)
    if not dd.empty:
        sec = Section("layer-profiles", "Layer-wise ΔΔ profiles")
        sec.add(
            write(
                "layer_profiles",
                fs.layer_profiles_figure(
                    dd, noise_floor=noise_floor_of(inputs.results, scale="layer")
                ),
                "Mean ΔΔ per layer and category. Grey band, when measured: ± the baseline "
                "seed-to-seed spread of one layer's seed-averaged ΔΔ (descriptive: a scale "
                "for the lines, not a test; the category tests say what differs).",
            )
        )
        sections.append(sec)
    grid, notes = esd_panels(inputs, layers=esd_layers)
    if grid:
        sec = Section("esd", "Eigenvalue spectra (ESD)")
        sec.add(
            write(
                "esd_panels",
                esd_grid_figure(grid),
                "Log-log ESD; dashed: power-law fit from xmin with slope −α; dotted: "
                "Marchenko–Pastur bulk and its edge.",
            )
        )
        if notes:
            sec.add(Paragraph("; ".join(notes[:5]), note=True))
        sections.append(sec)
    if runs is not None and "strength" in runs.columns:
        table = with_run_deltas(runs, dd)
        cols = [
            c
            for c in (*fr.RUN_METRICS, "dd_log_norm", "dd_log_spectral_norm", "dd_alpha")
            if c in table.columns
        ]
        sec = Section("dose-response", "Dose–response")
        for tag, label, sub in by_dataset(table):
            cats = [c for c in ("dp", "wd", "div") if c in set(sub["category"])]
            fig = fr.dose_response_figure(sub, metrics=cols, categories=cats or None)
            sec.add(
                write(
                    f"dose_response{tag}",
                    fig,
                    f"{label}Metric vs regularization strength (points: seed mean ± s.d.; "
                    "dashed: baseline).",
                )
            )
        sections.append(sec)
    div = inputs.diversity
    if div is not None and "data_condition" in div.columns:
        # Dropout and weight decay leave the data as the baseline's: same scores, no point.
        div = div[div["data_condition"].astype(bool) | (div["category"] == BASELINE)]
    if div is not None and not div.empty:
        sec = Section("diversity", "Diversity score vs accuracy")
        for tag, label, sub in by_dataset(div):
            sec.add(
                write(
                    f"diversity{tag}",
                    fr.diversity_figure(sub),
                    f"{label}Colour: category; marker size: strength; title: Spearman rank "
                    "correlation across the plotted conditions (descriptive; the table below "
                    "tests each stratum).",
                )
            )
        corr = inputs.diversity_correlations
        if corr is not None and not corr.empty:
            sec.add(Paragraph("Rank correlations of each score with the accuracy gain over the "
                              "baseline across data conditions, augmentation and synthetic "
                              "strata apart (the baseline in both): p exact or by permutation, "
                              "p_adj Benjamini–Hochberg over the family of n_family tests, 95% "
                              "interval (lo, hi) carrying each gain's standard error; none "
                              "below 5 conditions. An interval that includes 0 is no evidence "
                              "of a relation, not evidence that there is none."))  # fmt: skip
            sec.add(TableBlock(corr, title="diversity correlations"))
        sections.append(sec)
    if runs is not None and (runs["category"] == "gen").any():
        sec = Section("synthetic", "Synthetic vs traditional diversity")
        sec.add(
            write(
                "synthetic",
                fr.synthetic_figure(runs),
                "Outcome vs synthetic fraction per mode (replace, add, filtered); "
                "fraction 0 is the baseline.",
            )
        )
        for seed_dir in sorted((inputs.root / "synthetic").glob("s*")):
            grid_png, quality_csv = seed_dir / "grid.png", seed_dir / "quality.csv"
            if grid_png.is_file():
                sec.add(
                    FigureBlock(
                        f"synthetic_grid_{seed_dir.name}",
                        grid_png.read_bytes(),
                        f"Built-in generator samples, one row per class (seed {seed_dir.name[1:]}).",
                    )
                )
            if quality_csv.is_file():
                sec.add(
                    TableBlock(
                        read_table(quality_csv),
                        title=f"generator quality, seed {seed_dir.name[1:]}: fidelity "
                        "(precision, density), coverage (recall, coverage), Vendi scores",
                    )
                )
        if div is not None and {"gen", "div"} & set(div["category"]) and "wvs" in div.columns:
            sub = div[div["category"].isin(["gen", "div"])]
            sec.add(
                write(
                    "synthetic_wvs",
                    fr.diversity_figure(sub, scores=("wvs",)),
                    "Weighted Vendi score vs accuracy, synthetic (gen) and augmentation (div).",
                )
            )
        sections.append(sec)
    dyn = dynamics_section(inputs, write)
    if dyn is not None:
        sections.append(dyn)
    return sections


def _study_name(root: Path) -> str:
    """The ``[study] name`` of ``study.toml`` when there is one, else the folder name."""
    spec = root / SPEC_FILE
    if spec.is_file():
        try:
            section = load_toml(spec).get("study", {})
        except ConfigError:
            section = {}
        name = section.get("name") if isinstance(section, dict) else None
        if isinstance(name, str) and name:
            return name
    return root.name


def build_report(
    study_dir: str | Path,
    *,
    out: str | Path | None = None,
    formats: Sequence[str] = FORMATS,
    compare_result: Any = None,
    protocols: Sequence[str] = PROTOCOLS,
    esd_layers: Sequence[str] | None = None,
    bert_tables: str | Path | None = None,
) -> Path:
    """Write ``report.html`` (self-contained) and ``figures/*.{png,svg}`` beside it.

    ``study_dir``: a study directory or a folder of WeightWatcher CSV tables.
    ``out``: the HTML path (default ``<study_dir>/report.html``).
    ``compare_result``: a ``CompareResult`` or ``{protocol: CompareResult}`` to show instead
    of running :func:`weightspace.compare.compare` for each of ``protocols``.
    ``esd_layers``: layer longnames for the ESD panels (default: first, middle and last).
    ``bert_tables``: the published BERT tables shown beside a text study's statistics
    (default: see :func:`weightspace.report.text.bert_tables_dir`).
    Returns the HTML path.
    """
    bad = sorted(set(formats) - set(FORMATS))
    if bad:
        raise ConfigError(f"unknown figure formats {bad}; valid: {', '.join(FORMATS)}")
    bad = sorted(set(protocols) - set(PROTOCOLS))
    if bad:
        raise ConfigError(f"unknown protocols {bad}; valid: {', '.join(PROTOCOLS)}")
    inputs = load_inputs(study_dir)
    run_compare(inputs, tuple(protocols), compare_result)
    adopt_compare_deltas(inputs)
    out_path = Path(out) if out is not None else inputs.root / REPORT_FILE
    out_path.parent.mkdir(parents=True, exist_ok=True)
    write = _Writer(out_path.parent / "figures", formats)
    sections = _build_sections(inputs, write, list(esd_layers) if esd_layers else None)
    sections += [s for s in [text_section(inputs, write, bert_tables=bert_tables)] if s]
    page = render_html(
        f"weightspace report — {_study_name(inputs.root)}",
        "How data diversity and regularizers changed the weight spectra",
        sections,
    )
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out_path)
    log.info("wrote %s and %d figure files", out_path, len(write.files))
    return out_path
