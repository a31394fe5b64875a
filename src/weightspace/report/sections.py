"""Text sections of the report and the tables behind its figures.

Headline, statistics, category-mean sentences, and the small adapters that read the
comparison's tables (noise floor, category means) and split a table per dataset.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd

from weightspace import store
from weightspace.report._data import BASELINE, DELTA_METRICS, MAIN_METRICS, category_summary
from weightspace.report._inputs import PROTOCOLS, ReportInputs
from weightspace.report.html import Bullets, Paragraph, Section, TableBlock

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


def tables_of(result: Any) -> dict[str, pd.DataFrame]:
    tables = getattr(result, "tables", None) or {}
    return {k: v for k, v in tables.items() if isinstance(v, pd.DataFrame)}


FLOOR_SCALES = {
    "mean": ("floor_mean", "noise_floor", "floor", "sd", "std", "spread", "half_width"),
    "layer": ("floor_layer_mean",),
}


def noise_floor_of(results: dict[str, Any], *, scale: str = "mean") -> dict[str, float]:
    """``{metric: spread}`` from a default-protocol ``noise_floor`` table, if it has one.

    ``scale``: ``mean`` — the baseline seed-to-seed spread of a seed-averaged, layer-averaged
    score (``floor_mean``; the category-means bars); ``layer`` — that of one layer's point of
    a seed-averaged profile (``floor_layer_mean``; the layer profiles). Descriptive only.
    """
    table = tables_of(results.get("default")).get("noise_floor")
    if table is None or "metric" not in table.columns:
        return {}
    if "dataset" in table.columns and (table["dataset"] == "all").any():
        table = table[table["dataset"] == "all"]  # the pooled floor over datasets
    for col in FLOOR_SCALES[scale]:
        if col in table.columns:
            by_metric = table.groupby("metric")[col].mean()
            return {str(k): float(v) for k, v in by_metric.items() if pd.notna(v)}
    return {}


def category_summary_of(inputs: ReportInputs) -> tuple[pd.DataFrame, str]:
    """Category means with intervals: the default protocol's (bootstrap over conditions) when
    computed, else t-intervals over layers computed here."""
    table = tables_of(inputs.results.get("default")).get("category_means")
    if table is not None and {"category", "metric", "mean", "ci_low", "ci_high"} <= set(table):
        if "dataset" in table.columns and (table["dataset"] == "all").any():
            table = table[table["dataset"] == "all"]
        return table, (
            "95% t-interval carrying condition, seed and shared-baseline variation "
            "(default protocol; none with one seed)"
        )
    metrics = [m for m in DELTA_METRICS if m in inputs.dd.columns]
    if inputs.dd.empty or not metrics:
        return pd.DataFrame(), ""
    return (
        category_summary(inputs.dd, metrics),
        "95% t-interval over layers (treats layers as independent, as the paper's tests do; "
        "neighbouring layers are correlated, so it is too narrow)",
    )


def mean_sentences(summary: pd.DataFrame, ci_text: str) -> list[str]:
    """One sentence per main metric: category means with their intervals."""
    out = []
    for metric in [m for m in MAIN_METRICS if m in set(summary["metric"])]:
        parts = []
        for r in summary[summary["metric"] == metric].itertuples():
            if pd.isna(r.ci_low):
                why = str(getattr(r, "ci_reason", "") or "one condition")
                parts.append(f"{r.category} {r.mean:+.3g} (no interval: {why})")
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


def _lead_conclusions(results: dict[str, Any], limit: int = 10) -> list[str]:
    """The headline sentences: the default protocol's one-sentence answer to the paper's
    question (with its uncertainty) first, its fingerprint summaries, then the paper
    protocol's verdicts — each labelled as the paper protocol's — and their caveat."""
    paper = [str(c) for c in getattr(results.get("paper"), "conclusions", [])]
    default = [str(c) for c in getattr(results.get("default"), "conclusions", [])]
    lead = default[:1] + [c for c in default[1:] if c.startswith(("Fingerprint", "Reference"))]
    if paper:  # verdicts, then the caveat (always kept)
        room = max(limit - len(lead) - 1, 0)
        lead += paper[:-1][:room] + paper[-1:]
    return lead


def headline_section(inputs: ReportInputs) -> Section:
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
        failed = ~store.usable(inputs.runs)
        facts["failed runs"] = int(failed.sum())
    facts["layers with ΔΔ"] = inputs.dd["layer"].nunique() if not inputs.dd.empty else 0
    sec.add(TableBlock(pd.DataFrame({"": list(facts), "value": [str(v) for v in facts.values()]})))
    lead = _lead_conclusions(inputs.results)
    if lead:
        sec.add(Bullets(tuple(lead)))
    if inputs.problems:
        sec.add(Bullets(tuple(inputs.problems), css="warn"))
    return sec


def statistics_section(inputs: ReportInputs) -> Section | None:
    if not inputs.results:
        return None
    sec = Section("statistics", "Statistics")
    labels = {
        "paper": "Paper protocol (the authors' analysis: layers as samples, ΔΔ against bs)",
        "default": "Default protocol (conditions as samples, every seed, adjusted p-values)",
    }
    for protocol in sorted(
        inputs.results, key=lambda p: PROTOCOLS.index(p) if p in PROTOCOLS else 9
    ):
        result = inputs.results[protocol]
        sec.add(Paragraph(labels.get(protocol, protocol)))
        conclusions = [str(c) for c in getattr(result, "conclusions", [])]
        if conclusions:
            sec.add(Bullets(tuple(conclusions), fold_after=8))
        tables = tables_of(result)
        names = [n for n in TABLE_ORDER if n in tables] + sorted(
            set(tables) - set(TABLE_ORDER) - _NOT_TABLES
        )
        for name in names:
            sec.add(TableBlock(tables[name], title=f"{protocol}: {name}",
                               collapsed=name not in _OPEN_TABLES))  # fmt: skip
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
        table.loc[table["category"] == BASELINE, f"dd_{m}"] = 0.0
    return table
