"""``build_report``: one self-contained HTML file plus every figure as PNG/SVG.

The report is a reader: it renders the study's tables and the comparisons the study stored
(:mod:`weightspace.report._inputs`), and computes no statistic. It is the list
:data:`SECTIONS` of small functions ``(tables) -> Section | None``, in reading order: the
first screen answers (the axis figure, the three answers, the design), accuracy next, and
everything else below, each behind a fold, the paper protocol in its own section.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from weightspace.compare.result import PROTOCOLS
from weightspace.config import load_toml
from weightspace.errors import ConfigError
from weightspace.report._inputs import ReportTables, load_tables
from weightspace.report._style import figure_bytes
from weightspace.report.dynamics import dynamics_section
from weightspace.report.esd_panels import esd_section
from weightspace.report.headline import accuracy_section, answer_section
from weightspace.report.html import FigureBlock, Plot, Section, render_html
from weightspace.report.rotation import rotation_section
from weightspace.report.sections import (
    category_means_section,
    dose_response_section,
    fingerprint_section,
    layer_profiles_section,
)
from weightspace.report.sections_runs import (
    diversity_section,
    outcomes_section,
    synthetic_section,
)
from weightspace.report.statistics import paper_section, statistics_section
from weightspace.report.text import text_section
from weightspace.store import FIGURES_DIR, REPORT_FILE, SPEC_FILE

log = logging.getLogger(__name__)

FORMATS = ("png", "svg")

#: the report, in reading order; a function returns None when its data is absent
SECTIONS: tuple[Callable[[ReportTables], Section | None], ...] = (
    answer_section,
    accuracy_section,
    fingerprint_section,
    rotation_section,
    category_means_section,
    layer_profiles_section,
    esd_section,
    dose_response_section,
    outcomes_section,
    diversity_section,
    synthetic_section,
    dynamics_section,
    text_section,
    statistics_section,
    paper_section,
)


class _Writer:
    """Encodes each figure once: PNG for the HTML, and the requested files on disk."""

    def __init__(self, folder: Path, formats: Sequence[str]) -> None:
        self.folder, self.formats = folder, tuple(formats)
        self.files: list[Path] = []

    def __call__(self, plot: Plot) -> FigureBlock:
        png = figure_bytes(plot.figure, "png", dpi=100)
        if self.formats:
            self.folder.mkdir(parents=True, exist_ok=True)
        for fmt in self.formats:
            path = self.folder / f"{plot.name}.{fmt}"
            path.write_bytes(png if fmt == "png" else figure_bytes(plot.figure, fmt))
            self.files.append(path)
        return FigureBlock(name=plot.name, png=png, caption=plot.caption)

    def encode(self, section: Section) -> Section:
        section.blocks = [self(b) if isinstance(b, Plot) else b for b in section.blocks]
        return section


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


def _check(formats: Sequence[str], protocols: Sequence[str]) -> None:
    bad = sorted(set(formats) - set(FORMATS))
    if bad:
        raise ConfigError(f"unknown figure formats {bad}; valid: {', '.join(FORMATS)}")
    bad = sorted(set(protocols) - set(PROTOCOLS))
    if bad:
        raise ConfigError(f"unknown protocols {bad}; valid: {', '.join(PROTOCOLS)}")


def build_report(
    study_dir: str | Path,
    *,
    out: str | Path | None = None,
    formats: Sequence[str] = FORMATS,
    protocols: Sequence[str] = PROTOCOLS,
    results_dir: str | Path | None = None,
    esd_layers: Sequence[str] | None = None,
) -> Path:
    """Write ``report.html`` (self-contained) and ``figures/*.{png,svg}`` beside it.

    ``study_dir``: a study directory or a folder of WeightWatcher CSV tables.
    ``out``: the HTML path (default ``<study_dir>/report.html``).
    ``protocols``: the stored comparisons to show (``default``, ``paper``).
    ``results_dir``: where they are stored, as ``<protocol>/compare.json`` (default
    ``<study_dir>/compare``, where ``weightspace study`` and ``weightspace compare PATH
    --save`` write them); without them the statistics sections name that command.
    ``esd_layers``: layer longnames for the ESD panels (default: first, middle and last).
    Returns the HTML path.
    """
    _check(formats, protocols)
    tables = load_tables(study_dir, results_dir=results_dir, protocols=protocols,
                         esd_layers=esd_layers or ())  # fmt: skip
    out_path = Path(out) if out is not None else tables.root / REPORT_FILE
    out_path.parent.mkdir(parents=True, exist_ok=True)
    write = _Writer(out_path.parent / FIGURES_DIR, formats)
    sections = [write.encode(s) for s in (f(tables) for f in SECTIONS) if s is not None]
    page = render_html(
        f"weightspace report — {_study_name(tables.root)}",
        "How data diversity and regularizers changed the weight spectra",
        sections,
    )
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out_path)
    log.info("wrote %s and %d figure files", out_path, len(write.files))
    return out_path
