"""``build_report``: one self-contained HTML file plus every figure as PNG/SVG.

Sections (each appears only when its data exists): headline, outcomes (accuracy, ECE, OOD),
statistics (paper protocol and default protocol, with their plain-language conclusions),
fingerprint, category means, layer profiles, ESD panels, dose–response, diversity, synthetic.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from weightspace.errors import ConfigError
from weightspace.report import figures_runs as fr
from weightspace.report import figures_spectral as fs
from weightspace.report._data import BASELINE, DELTA_METRICS, MAIN_METRICS, category_summary
from weightspace.report._inputs import (
    PROTOCOLS,
    ReportInputs,
    adopt_compare_deltas,
    esd_panels,
    load_inputs,
    run_compare,
)
from weightspace.report._style import figure_bytes
from weightspace.report.esd import esd_grid_figure
from weightspace.report.html import (
    Bullets,
    FigureBlock,
    Paragraph,
    Section,
    TableBlock,
    render_html,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

FORMATS = ("png", "svg")
# Known comparison tables in the order they are shown; any other table follows.
TABLE_ORDER = (
    "anova",
    "ttests",
    "omnibus",
    "category_tests",
    "mixed_model",
    "correlations",
    "classifier",
    "noise_floor",
    "category_means",
    "dose_response",
    "spectral_vs_accuracy",
)
# Shown as figures or in their own section; per-layer tables are too long for the page
# (``weightspace compare --out`` writes them in full).
_OPEN_TABLES = {"anova", "omnibus"}  # shown open; the rest fold into <details>
_NOT_TABLES = {"layer_profiles", "fingerprint", "delta_delta", "classifier_conditions"}


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


def _tables(result: Any) -> dict[str, pd.DataFrame]:
    tables = getattr(result, "tables", None) or {}
    return {k: v for k, v in tables.items() if isinstance(v, pd.DataFrame)}


def _noise_floor(results: dict[str, Any]) -> dict[str, float]:
    """``{metric: spread}`` from a default-protocol ``noise_floor`` table, if it has one."""
    table = _tables(results.get("default")).get("noise_floor")
    if table is None or "metric" not in table.columns:
        return {}
    if "dataset" in table.columns and (table["dataset"] == "all").any():
        table = table[table["dataset"] == "all"]  # the pooled floor over datasets
    for col in ("noise_floor", "floor", "sd", "std", "spread", "half_width"):
        if col in table.columns:
            by_metric = table.groupby("metric")[col].mean()
            return {str(k): float(v) for k, v in by_metric.items() if pd.notna(v)}
    return {}


def _category_summary(inputs: ReportInputs) -> tuple[pd.DataFrame, str]:
    """Category means with intervals: the default protocol's (bootstrap over conditions) when
    computed, else t-intervals over layers computed here."""
    table = _tables(inputs.results.get("default")).get("category_means")
    if table is not None and {"category", "metric", "mean", "ci_low", "ci_high"} <= set(table):
        if "dataset" in table.columns and (table["dataset"] == "all").any():
            table = table[table["dataset"] == "all"]
        return table, "95% bootstrap CI over conditions (default protocol)"
    metrics = [m for m in DELTA_METRICS if m in inputs.dd.columns]
    if inputs.dd.empty or not metrics:
        return pd.DataFrame(), ""
    return (
        category_summary(inputs.dd, metrics),
        "95% t-interval over layers (treats layers as independent, as the paper's tests do; "
        "neighbouring layers are correlated, so it is too narrow)",
    )


def _mean_sentences(summary: pd.DataFrame, ci_text: str) -> list[str]:
    """One sentence per main metric: category means with their intervals."""
    out = []
    for metric in [m for m in MAIN_METRICS if m in set(summary["metric"])]:
        parts = []
        for r in summary[summary["metric"] == metric].itertuples():
            if pd.isna(r.ci_low):
                parts.append(f"{r.category} {r.mean:+.3g} (no interval: one condition)")
                continue
            where = "excludes 0" if r.ci_low > 0 or r.ci_high < 0 else "includes 0"
            if str(getattr(r, "noise", "")) == "within":
                where += ", within the noise floor"
            parts.append(f"{r.category} {r.mean:+.3g} [{r.ci_low:+.3g}, {r.ci_high:+.3g}], {where}")
        out.append(f"Mean ΔΔ {metric}: " + "; ".join(parts) + ".")
    if out:
        out.append(f"Intervals: {ci_text}.")
    return out


def _lead_conclusions(results: dict[str, Any], limit: int = 10) -> list[str]:
    """The headline sentences: the paper protocol's ANOVA verdicts and the default
    protocol's fingerprint summaries; otherwise the first few of each protocol."""
    paper = [str(c) for c in getattr(results.get("paper"), "conclusions", [])]
    default = [str(c) for c in getattr(results.get("default"), "conclusions", [])]
    lead = [c for c in paper if "ANOVA" in c] + [c for c in default if c.startswith("Fingerprint")]
    if not lead:
        lead = default[:3] + paper[:3]
    return lead[:limit]


def _headline(inputs: ReportInputs) -> Section:
    sec = Section("headline", "Headline")
    facts: dict[str, object] = {"input": str(inputs.root), "kind": inputs.kind}
    src = inputs.runs if inputs.runs is not None else inputs.layers
    if src is not None and "condition" in src.columns:
        facts["conditions"] = src["condition"].nunique()
        facts["categories"] = ", ".join(sorted(map(str, src["category"].dropna().unique())))
        if "seed" in src.columns:
            facts["seeds"] = src["seed"].nunique()
        if "run_id" in src.columns:
            facts["runs"] = src["run_id"].nunique()
    if inputs.runs is not None and "status" in inputs.runs.columns:
        failed = ~inputs.runs["status"].astype(str).str.lower().isin(
            ["ok", "success", "complete", "completed", "done"]
        )
        facts["failed runs"] = int(failed.sum())
    facts["layers with ΔΔ"] = inputs.dd["layer"].nunique() if not inputs.dd.empty else 0
    sec.add(TableBlock(pd.DataFrame({"": list(facts), "value": [str(v) for v in facts.values()]})))
    lead = _lead_conclusions(inputs.results)
    if lead:
        sec.add(Bullets(tuple(lead)))
    if inputs.problems:
        sec.add(Bullets(tuple(inputs.problems), css="warn"))
    return sec


def _statistics(inputs: ReportInputs) -> Section | None:
    if not inputs.results:
        return None
    sec = Section("statistics", "Statistics")
    labels = {
        "paper": "Paper protocol (layers as samples, one seed, ΔΔ against bs)",
        "default": "Default protocol (all seeds, noise floor, layer-aware tests)",
    }
    for protocol in sorted(
        inputs.results, key=lambda p: PROTOCOLS.index(p) if p in PROTOCOLS else 9
    ):
        result = inputs.results[protocol]
        sec.add(Paragraph(labels.get(protocol, protocol)))
        conclusions = [str(c) for c in getattr(result, "conclusions", [])]
        if conclusions:
            sec.add(Bullets(tuple(conclusions), fold_after=8))
        tables = _tables(result)
        names = [n for n in TABLE_ORDER if n in tables] + sorted(
            set(tables) - set(TABLE_ORDER) - _NOT_TABLES
        )
        for name in names:
            sec.add(TableBlock(tables[name], title=f"{protocol}: {name}",
                               collapsed=name not in _OPEN_TABLES))  # fmt: skip
    return sec


def _by_dataset(table: pd.DataFrame):  # type: ignore[no-untyped-def]
    """``(file tag, caption prefix, rows)`` per dataset when a table pools several."""
    names = table["dataset"].dropna().unique() if "dataset" in table.columns else []
    if len(names) <= 1:
        yield "", "", table
        return
    for name in sorted(map(str, names)):
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)
        yield f"_{safe}", f"{name}: ", table[table["dataset"].astype(str) == name]


def _with_run_deltas(runs: pd.DataFrame, dd: pd.DataFrame) -> pd.DataFrame:
    """``runs`` plus each run's mean ΔΔ over layers (``dd_<metric>``; 0 for the baseline)."""
    if dd.empty:
        return runs
    keys = (
        ["run_id"]
        if "run_id" in runs.columns and "run_id" in dd.columns
        else [k for k in ("dataset", "condition", "seed") if k in runs.columns and k in dd.columns]
    )
    metrics = [m for m in MAIN_METRICS if m in dd.columns]
    if not keys or not metrics:
        return runs
    if "dataset" in keys:
        dd = dd.assign(dataset=dd["dataset"].astype(str))
        runs = runs.assign(dataset=runs["dataset"].astype(str))
    per_run = dd.groupby(keys)[metrics].mean().add_prefix("dd_").reset_index()
    table = runs.merge(per_run, on=keys, how="left")
    for m in metrics:  # the baseline's ΔΔ against itself is 0 by definition
        table.loc[table["category"] == BASELINE, f"dd_{m}"] = 0.0
    return table


def _build_sections(
    inputs: ReportInputs, write: _Writer, esd_layers: list[str] | None
) -> list[Section]:
    sections = [_headline(inputs)]
    runs, dd = inputs.runs, inputs.dd
    if runs is not None and any(c in runs.columns for c in fr.RUN_METRICS):
        sec = Section("outcomes", "Accuracy, calibration and OOD accuracy")
        for tag, label, sub in _by_dataset(runs):
            sec.add(
                write(
                    f"outcomes{tag}",
                    fr.run_metrics_figure(sub),
                    f"{label}Bars: mean over seeds; lines: ±1 s.d. across seeds; dots: single seeds.",
                )
            )
        sections.append(sec)
    stats_sec = _statistics(inputs)
    if stats_sec is not None:
        sections.append(stats_sec)
    fp = _tables(inputs.results.get("default")).get("fingerprint")
    if fp is not None and not fp.empty:
        sec = Section("fingerprint", "Regularizer fingerprint")
        sec.add(
            Paragraph(
                "Which reference category each condition's ΔΔ profile resembles, "
                "and how confidently (see docs/report.md)."
            )
        )
        sec.add(write("fingerprint", fs.fingerprint_figure(fp), "Fingerprint table as a heatmap."))
        sec.add(TableBlock(fp))
        sections.append(sec)
    summary, ci_text = _category_summary(inputs)
    floor = _noise_floor(inputs.results)
    if not summary.empty:
        sec = Section("category-means", "Category means of ΔΔ")
        sec.add(Bullets(tuple(_mean_sentences(summary, ci_text))))
        sec.add(
            write(
                "category_means",
                fs.category_means_figure(summary, noise_floor=floor),
                f"Mean ΔΔ per category over layers; lines: {ci_text}; grey band: noise floor "
                "(baseline seed-to-seed ΔΔ), when measured.",
            )
        )
        sections.append(sec)
    if not dd.empty:
        sec = Section("layer-profiles", "Layer-wise ΔΔ profiles")
        sec.add(
            write(
                "layer_profiles",
                fs.layer_profiles_figure(dd, noise_floor=floor),
                "Mean ΔΔ per layer and category (grey band: baseline seed-to-seed noise, "
                "when measured).",
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
        table = _with_run_deltas(runs, dd)
        cols = [
            c
            for c in (*fr.RUN_METRICS, "dd_log_norm", "dd_log_spectral_norm", "dd_alpha")
            if c in table.columns
        ]
        sec = Section("dose-response", "Dose–response")
        for tag, label, sub in _by_dataset(table):
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
        for tag, label, sub in _by_dataset(div):
            sec.add(
                write(
                    f"diversity{tag}",
                    fr.diversity_figure(sub),
                    f"{label}Colour: category; marker size: strength; title: Spearman rank "
                    "correlation across conditions.",
                )
            )
        corr = inputs.diversity_correlations
        if corr is not None and not corr.empty:
            sec.add(Paragraph("Rank correlations of each score with the accuracy gain over the "
                              "baseline across data conditions, with 95% bootstrap intervals "
                              "(lo, hi); an interval that includes 0 means the score's ranking "
                              "of conditions is not established."))  # fmt: skip
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
    return sections


def _study_name(root: Path) -> str:
    """The ``[study] name`` of ``study.toml`` when there is one, else the folder name."""
    spec = root / "study.toml"
    if spec.is_file():
        from weightspace.config import load_toml

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
) -> Path:
    """Write ``report.html`` (self-contained) and ``figures/*.{png,svg}`` beside it.

    ``study_dir``: a study directory or a folder of WeightWatcher CSV tables.
    ``out``: the HTML path (default ``<study_dir>/report.html``).
    ``compare_result``: a ``CompareResult`` or ``{protocol: CompareResult}`` to show instead
    of running :func:`weightspace.compare.compare` for each of ``protocols``.
    ``esd_layers``: layer longnames for the ESD panels (default: first, middle and last).
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
    out_path = Path(out) if out is not None else inputs.root / "report.html"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    write = _Writer(out_path.parent / "figures", formats)
    sections = _build_sections(inputs, write, list(esd_layers) if esd_layers else None)
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
