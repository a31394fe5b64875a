"""The report's spectral sections: fingerprint, category means, layer profiles, dose–response.

Each is a function ``(tables) -> Section | None`` (None: nothing to show) over the stored
tables (:class:`weightspace.report._inputs.ReportTables`); none computes a statistic.
"""

from __future__ import annotations

import pandas as pd

from weightspace.compare.conclude import fingerprint_summary
from weightspace.report import figures_runs as fr
from weightspace.report import figures_spectral as fs
from weightspace.report._data import DELTA_METRICS, MAIN_METRICS, category_summary
from weightspace.report._inputs import ReportTables
from weightspace.report.figures_axis import fingerprint_map_figure
from weightspace.report.headline import by_dataset, usable_runs
from weightspace.report.html import Bullets, Paragraph, Plot, Section, TableBlock
from weightspace.vocabulary import BASELINE, Category

FLOOR_SCALES = {
    "mean": ("floor_mean", "noise_floor", "floor", "sd", "std", "spread", "half_width"),
    "layer": ("floor_layer_mean",),
}


def noise_floor_of(tables: ReportTables, *, scale: str = "mean") -> dict[str, float]:
    """``{metric: spread}`` from the stored default ``noise_floor`` table, if any.

    ``scale``: ``mean`` — the baseline seed-to-seed spread of a seed-averaged, layer-averaged
    score (``floor_mean``; the category-means bars); ``layer`` — that of one layer's point of
    a seed-averaged profile (``floor_layer_mean``; the layer profiles). Descriptive only.
    """
    table = tables.tables_of("default").get("noise_floor")
    if table is None or "metric" not in table.columns:
        return {}
    if "dataset" in table.columns and (table["dataset"] == "all").any():
        table = table[table["dataset"] == "all"]  # the pooled floor over datasets
    for col in FLOOR_SCALES[scale]:
        if col in table.columns:
            by_metric = table.groupby("metric")[col].mean()
            return {str(k): float(v) for k, v in by_metric.items() if pd.notna(v)}
    return {}


def fingerprint_section(tables: ReportTables) -> Section | None:
    default = tables.tables_of("default")
    fp = default.get("fingerprint")
    if fp is None or fp.empty:
        return None
    sec = Section("fingerprint", "Regularizer fingerprint")
    sec.add(Paragraph(
        "Where each condition's ΔΔ profile sits between dropout's (θ = 0) and weight "
        "decay's (θ = 1), and whether it moved the spectra at all (see docs/compare.md); the "
        "first figure of this report draws the same positions per metric."
    ))  # fmt: skip
    sec.add(Bullets(tuple(fingerprint_summary(fp))))
    sec.add(Plot("fingerprint_map", fingerprint_map_figure(fp),
                 "x: position θ with its 95% interval; y: how far the profile moved from the "
                 "baseline beyond its noise (symlog); filled: moved (adjusted p < 0.05)."))  # fmt: skip
    sec.add(TableBlock(fp, title="fingerprint: verdicts (adjusted p-values)"))
    for name, title in (("axis_positions", "axis positions: all metrics and each metric"),
                        ("fingerprint_by_dataset", "fingerprint within each dataset")):  # fmt: skip
        table = default.get(name)
        if table is not None and not table.empty:
            sec.add(TableBlock(table, title=title, collapsed=True, max_rows=200))
    return sec


def category_means_of(tables: ReportTables) -> tuple[pd.DataFrame, str]:
    """Category means with their interval: the stored default comparison's (condition, seed
    and shared-baseline variation); else the means of the ΔΔ table without an interval."""
    table = tables.tables_of("default").get("category_means")
    if table is not None and {"category", "metric", "mean", "ci_low", "ci_high"} <= set(table):
        if "dataset" in table.columns and (table["dataset"] == "all").any():
            table = table[table["dataset"] == "all"]
        return table, (
            "95% t-interval carrying condition, seed and shared-baseline variation "
            "(default protocol; none with one seed)"
        )
    metrics = [m for m in DELTA_METRICS if m in tables.dd.columns]
    if tables.dd.empty or not metrics:
        return pd.DataFrame(), ""
    return category_summary(tables.dd, metrics, level=None), (
        "none: the default comparison is not stored (" + tables.compare_command() + ")"
    )


def mean_sentences(summary: pd.DataFrame, ci_text: str) -> list[str]:
    """One sentence per main metric: category means with their intervals."""
    out = []
    for metric in [m for m in MAIN_METRICS if m in set(summary["metric"])]:
        parts = []
        for r in summary[summary["metric"] == metric].itertuples():
            if pd.isna(r.ci_low):
                why = str(getattr(r, "ci_reason", "") or "no interval")
                parts.append(f"{r.category} {r.mean:+.3g} ({why})")
                continue
            where = (
                "excludes 0"
                if r.ci_low > 0 or r.ci_high < 0
                else "includes 0: no evidence of a change"
            )
            parts.append(f"{r.category} {r.mean:+.3g} [{r.ci_low:+.3g}, {r.ci_high:+.3g}], {where}")
        out.append(f"Mean ΔΔ {metric}: " + "; ".join(parts) + ".")
    if out:
        out.append(f"Intervals: {ci_text}.")
    return out


def category_means_section(tables: ReportTables) -> Section | None:
    summary, ci_text = category_means_of(tables)
    if summary.empty:
        return None
    sec = Section("category-means", "Category means of ΔΔ")
    sec.add(Bullets(tuple(mean_sentences(summary, ci_text))))
    sec.add(Plot("category_means", fs.category_means_figure(summary,
                                                            noise_floor=noise_floor_of(tables)),
                 f"Mean ΔΔ per category over layers; lines: {ci_text}; grey band, when "
                 "measured: ± the baseline seed-to-seed spread of a seed-averaged score "
                 "(descriptive, not a test)."))  # fmt: skip
    if "ci_low" in summary.columns and summary["ci_low"].notna().any():
        sec.add(TableBlock(summary, title="category means (default protocol)", collapsed=True))
    return sec


def layer_profiles_section(tables: ReportTables) -> Section | None:
    if tables.dd.empty:
        return None
    sec = Section("layer-profiles", "Layer-wise ΔΔ profiles")
    figure = fs.layer_profiles_figure(tables.dd, noise_floor=noise_floor_of(tables, scale="layer"))
    sec.add(Plot("layer_profiles", figure,
                 "Mean ΔΔ per layer and category. Grey band, when measured: ± the baseline "
                 "seed-to-seed spread of one layer's seed-averaged ΔΔ (descriptive: a scale "
                 "for the lines, not a test; the category tests say what differs)."))  # fmt: skip
    return sec


def with_run_deltas(runs: pd.DataFrame, dd: pd.DataFrame) -> pd.DataFrame:
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
        table.loc[table["condition"] == BASELINE, f"dd_{m}"] = 0.0
    return table


def dose_response_section(tables: ReportTables) -> Section | None:
    runs = usable_runs(tables)
    if runs is None or "strength" not in runs.columns:
        return None
    table = with_run_deltas(runs, tables.dd)
    cols = [c for c in (*fr.RUN_METRICS, "dd_log_norm", "dd_log_spectral_norm", "dd_alpha")
            if c in table.columns]  # fmt: skip
    sec = Section("dose-response", "Dose–response")
    refs = (Category.DP.value, Category.WD.value, Category.DIV.value)
    for tag, label, sub in by_dataset(table):
        cats = [c for c in refs if c in set(sub["category"])]
        sec.add(Plot(f"dose_response{tag}",
                     fr.dose_response_figure(sub, metrics=cols, categories=cats or None),
                     f"{label}Metric vs regularization strength (points: seed mean ± s.d.; "
                     "dashed: baseline)."))  # fmt: skip
    tested = tables.tables_of("default").get("dose_response")
    if tested is not None and not tested.empty:
        sec.add(TableBlock(tested, title="dose–response: rank correlations (default protocol; "
                                         "BH over the family)", collapsed=True))  # fmt: skip
    return sec
