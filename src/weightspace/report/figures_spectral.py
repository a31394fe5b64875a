"""Figures of the spectral changes: category means and layer profiles (the fingerprint's
figures are :mod:`weightspace.report.figures_axis`).

Each function takes a table and returns a :class:`matplotlib.figure.Figure` (no pyplot).
The ΔΔ input is the long per-layer table of :func:`weightspace.compare.delta.study_delta_delta`
(columns ``category, layer, layer_order`` and one column per metric).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from weightspace.report._data import DELTA_METRICS, category_summary
from weightspace.report._style import (
    category_palette,
    empty_figure,
    metric_label,
    new_figure,
    order_categories,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _metrics_in(table: pd.DataFrame, metrics: Sequence[str] | None) -> list[str]:
    wanted = list(metrics) if metrics is not None else list(DELTA_METRICS)
    return [m for m in wanted if m in table.columns and table[m].notna().any()]


def _grid(n: int, max_cols: int = 3) -> tuple[int, int]:
    ncols = min(n, max_cols)
    return (int(np.ceil(n / ncols)), ncols)


def category_means_figure(
    dd: pd.DataFrame,
    *,
    metrics: Sequence[str] | None = None,
    level: float = 0.95,
    noise_floor: Mapping[str, float] | None = None,
) -> Figure:
    """Bar chart of the mean ΔΔ per category, one panel per metric, with t-intervals.

    ``dd`` is either the long per-layer ΔΔ table (averaged per layer and category, then over
    layers, as the paper does) or an already summarised table with columns ``category, metric,
    mean`` and optionally ``ci_low, ci_high``. The interval treats layers as samples.
    """
    if {"category", "metric", "mean"} <= set(dd.columns):
        summary = dd
        metrics = [m for m in (metrics or dict.fromkeys(dd["metric"])) if m in set(dd["metric"])]
    else:
        metrics = _metrics_in(dd, metrics)
        summary = category_summary(dd, metrics, level) if metrics and not dd.empty else dd
    if not metrics or summary.empty:
        return empty_figure("no ΔΔ values to summarise (needs a baseline and before/after tables)")
    cats = order_categories(summary["category"])
    palette = category_palette(cats)
    nrows, ncols = _grid(len(metrics))
    fig, axes = new_figure(nrows, ncols, panel_size=(3.6, 2.9))
    flat = axes.ravel()
    for ax, metric in zip(flat, metrics, strict=False):
        sub = summary[summary["metric"] == metric].set_index("category").reindex(cats)
        means = sub["mean"].to_numpy(dtype=float)
        x = np.arange(len(cats))
        ax.bar(x, means, color=[palette[c] for c in cats], alpha=0.85)
        if {"ci_low", "ci_high"} <= set(sub.columns):
            lo = means - sub["ci_low"].to_numpy(dtype=float)
            hi = sub["ci_high"].to_numpy(dtype=float) - means
            ok = np.isfinite(lo) & np.isfinite(hi)
            ax.errorbar(
                x[ok], means[ok], yerr=[lo[ok], hi[ok]], fmt="none", ecolor="black", capsize=3, lw=1
            )
        band = (noise_floor or {}).get(metric)
        if band is not None and np.isfinite(band) and band > 0:
            ax.axhspan(-band, band, color="#cccccc", alpha=0.6, lw=0, zorder=0)
        ax.axhline(0, color="black", lw=0.6)
        ax.set_xticks(x, cats)
        ax.set_title(f"ΔΔ {metric_label(metric)}", fontsize=9)
    for ax in flat[len(metrics) :]:
        ax.set_visible(False)
    fig.suptitle("Mean ΔΔ per category", fontsize=10)
    return fig


def layer_profiles_figure(
    dd: pd.DataFrame,
    *,
    metrics: Sequence[str] | None = None,
    noise_floor: Mapping[str, float] | None = None,
) -> Figure:
    """ΔΔ per layer (x = layer in network order), one line per category, one panel per metric.

    ``noise_floor`` maps a metric to the spread of baseline-vs-baseline ΔΔ on the scale of
    one layer's point (``floor_layer_mean``); it is drawn as a grey band ±that value around
    zero — a descriptive scale, not a test: a line inside it is not shown to be no effect.
    """
    metrics = _metrics_in(dd, metrics)
    if not metrics or dd.empty:
        return empty_figure("no ΔΔ values for layer profiles")
    cats = order_categories(dd["category"])
    palette = category_palette(cats)
    prof = dd.groupby(["category", "layer"])[metrics].mean()
    order = dd.groupby("layer")["layer_order"].min().sort_values()
    names = list(order.index)
    prefix = _common_prefix([str(n) for n in names])
    short = [str(n)[len(prefix) :] or str(n) for n in names]
    nrows, ncols = _grid(len(metrics), max_cols=2)
    fig, axes = new_figure(nrows, ncols, panel_size=(5.2, 2.9))
    flat = axes.ravel()
    x = np.arange(len(names))
    for ax, metric in zip(flat, metrics, strict=False):
        band = (noise_floor or {}).get(metric)
        if band is not None and np.isfinite(band) and band > 0:
            ax.axhspan(-band, band, color="#cccccc", alpha=0.6, lw=0, label="baseline seed spread")
        for cat in cats:
            if cat not in prof.index.get_level_values("category"):
                continue
            y = prof.loc[cat][metric].reindex(names).to_numpy(dtype=float)
            ax.plot(x, y, "-o", ms=3, lw=1, color=palette[cat], label=cat)
        ax.axhline(0, color="black", lw=0.6)
        ax.set_title(f"ΔΔ {metric_label(metric)} per layer", fontsize=9)
        ax.set_xlabel("layer (network order)" + (f", names after {prefix!r}" if prefix else ""))
        step = max(1, len(names) // 12)
        ax.set_xticks(x[::step], short[::step], rotation=60, fontsize=6, ha="right")
    flat[0].legend(fontsize=7, ncols=2)
    for ax in flat[len(metrics) :]:
        ax.set_visible(False)
    return fig


def _common_prefix(names: list[str]) -> str:
    """The dotted prefix shared by every layer name (e.g. ``clip_model.visual.``)."""
    if len(names) < 2:
        return ""
    parts = [n.split(".") for n in names]
    shared = []
    for group in zip(*parts, strict=False):
        if len(set(group)) != 1:
            break
        shared.append(group[0])
    shared = shared[: min(len(p) for p in parts) - 1]  # keep at least the last part
    return ".".join(shared) + "." if shared else ""
