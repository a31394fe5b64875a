"""The report's "rotate or rescale?" section: how far training rotated each layer's dominant
singular subspaces, and how large the update was, per category.

Shown when the study's runs recorded ``weight_delta.parquet`` (the default; ``overlap_k``);
the tables are the default protocol's ``rotation`` and ``rotation_tests``
(:mod:`weightspace.compare.rotation`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from weightspace.compare.conclude import rotation_sentences
from weightspace.compare.load import load_weight_deltas
from weightspace.compare.rotation import METRICS, layer_rotation
from weightspace.report._inputs import ReportTables
from weightspace.report._style import (
    category_palette,
    empty_figure,
    hide_unused,
    new_figure,
    order_categories,
)
from weightspace.report.html import Bullets, Paragraph, Plot, Section, TableBlock
from weightspace.vocabulary import BASELINE

if TYPE_CHECKING:
    from matplotlib.figure import Figure

LABELS = {
    "overlap": "top-k subspace overlap (1 = not rotated)",
    "max_angle": "largest principal angle (°)",
    "rel_change": "‖ΔW‖ / ‖W_init‖",
    "delta_stable_rank": "stable rank of ΔW",
}


def rotation_figure(summary: pd.DataFrame, per_layer: pd.DataFrame | None = None) -> Figure:
    """Bars: each category's mean of every rotation metric with its interval, the baseline as
    a dashed line; last panel (with ``per_layer``): overlap per layer and category."""
    if summary.empty:
        return empty_figure("no weight-delta table (runs recorded with overlap_k = None?)")
    metrics = [m for m in METRICS if m in set(summary["metric"])]
    cats = order_categories(summary["category"])
    palette = category_palette(cats)
    panels = len(metrics) + (per_layer is not None and not per_layer.empty)
    ncols = min(3, panels)
    fig, axes = new_figure(-(-panels // ncols), ncols, panel_size=(3.6, 2.9))
    flat = list(axes.ravel())
    for ax, metric in zip(flat, metrics, strict=False):
        sub = summary[summary["metric"] == metric].set_index("category").reindex(cats)
        means = sub["mean"].to_numpy(dtype=float)
        x = np.arange(len(cats))
        ax.bar(x, means, color=[palette[c] for c in cats], alpha=0.85)
        lo = means - sub["ci_low"].to_numpy(dtype=float)
        hi = sub["ci_high"].to_numpy(dtype=float) - means
        ok = np.isfinite(lo) & np.isfinite(hi)
        ax.errorbar(x[ok], means[ok], yerr=[lo[ok], hi[ok]], fmt="none", ecolor="black",
                    capsize=3, lw=1)  # fmt: skip
        base = sub["baseline_mean"].dropna()
        if len(base):
            ax.axhline(float(base.iloc[0]), color="black", lw=0.8, ls="--")
        finite = means[np.isfinite(means)]
        if metric == "overlap" and len(finite):  # zoom: overlaps sit close to 1
            ax.set_ylim(max(0.0, float(np.nanmin(means - np.where(ok, lo, 0))) - 0.02), 1.0)
        ax.set_xticks(x, cats)
        ax.set_title(LABELS.get(metric, metric), fontsize=9)
    if per_layer is not None and not per_layer.empty:
        ax = flat[len(metrics)]
        for cat in cats:
            rows = per_layer[per_layer["category"] == cat].sort_values("longname")
            if len(rows):
                ax.plot(np.arange(len(rows)), rows["overlap"].to_numpy(dtype=float),
                        color=palette[cat], lw=1.2, label=cat)  # fmt: skip
        ax.set_title("overlap per layer (network order)", fontsize=9)
        ax.set_xlabel("layer", fontsize=8)
        ax.legend(fontsize=7, frameon=False)
    hide_unused(flat, panels)
    fig.suptitle("Rotate or rescale? Per category (dashed: baseline)", fontsize=10)
    return fig


def rotation_section(tables: ReportTables) -> Section | None:
    """The section from the stored default comparison, or None without its table."""
    default = tables.tables_of("default")
    summary = default.get("rotation")
    if summary is None or summary.empty:
        return None
    deltas = load_weight_deltas(tables.root) if tables.kind == "study" else None  # usable runs
    per_layer = None if deltas is None else layer_rotation(deltas)
    sec = Section("rotation", "Rotate or rescale?")
    sec.add(
        Paragraph(
            "Per run and layer, the top-k left and right singular subspaces of the initial and "
            "the final weights are compared (overlap = mean cos² of the principal angles: 1 = "
            "the dominant directions stayed, whatever happened to the singular values), and "
            "the update ΔW = W_final − W_init is measured (relative size, stable rank). A "
            "regularizer that only rescales keeps the overlap at the baseline's while the "
            "update size moves; one that rotates lowers it. Bars: mean over conditions with "
            "a 95% t-interval over conditions (over seeds for the baseline). "
            f"The {BASELINE} category is one condition, so it is a reference line, not a "
            "tested group. See docs/weightwatcher.md."
        )
    )
    sentences = rotation_sentences(default)
    if sentences:
        sec.add(Bullets(tuple(sentences)))
    sec.add(
        Plot(
            "rotation",
            rotation_figure(summary, per_layer),
            "Rotation metrics per category (bars, 95% t-interval over conditions; dashed: "
            "baseline) and the overlap per layer.",
        )
    )
    tests = default.get("rotation_tests")
    if tests is not None and not tests.empty:
        sec.add(
            TableBlock(
                tests,
                title="Category pairs on the condition scores (whole conditions relabelled; "
                "p: larger of permutation and Welch t; p_adj: BH over the rotation family)",
            )
        )
    return sec
