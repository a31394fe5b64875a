"""Figures of run outcomes: accuracy/ECE/OOD, dose–response, diversity, synthetic data.

Each function takes a table and returns a :class:`matplotlib.figure.Figure` (no pyplot).
``runs`` follows ``<study>/runs.parquet`` (one row per run: condition, category, seed,
strength, test_acc, test_ece, ood_acc, ...); ``diversity`` follows
``<study>/diversity.parquet`` (one row per condition: condition, category, strength,
vs_pixel, vs_emb, rho, wvs, test_acc, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from weightspace import store
from weightspace.compare.categories import parse_strength, synthetic_mode
from weightspace.report._style import (
    category_palette,
    empty_figure,
    metric_label,
    new_figure,
    order_categories,
)
from weightspace.vocabulary import Category

if TYPE_CHECKING:
    from matplotlib.figure import Figure

RUN_METRICS = ("test_acc", "test_ece", "ood_acc")
_MODE_COLORS = {
    "replace": "#9467bd",
    "add": "#17becf",
    "replace filtered": "#bcbd22",
    "add filtered": "#e377c2",
}
DIVERSITY_SCORES = ("vs_pixel", "vs_emb", "wvs")


def _present(table: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    return [c for c in columns if c in table.columns and table[c].notna().any()]


def _condition_order(table: pd.DataFrame) -> list[str]:
    """Baseline first, then by category (canonical order) and strength, then name."""
    first = table.drop_duplicates("condition").copy()
    cats = order_categories(first["category"])
    first["_c"] = first["category"].map({c: i for i, c in enumerate(cats)})
    first["_s"] = (
        pd.to_numeric(first.get("strength"), errors="coerce") if "strength" in first else 0.0
    )
    first = first.sort_values(["_c", "_s", "condition"], na_position="last")
    return list(first["condition"])


def run_metrics_figure(runs: pd.DataFrame, *, metrics: Sequence[str] = RUN_METRICS) -> Figure:
    """One bar per condition (mean over seeds), ±1 s.d. error bars and one dot per seed."""
    ok = runs
    if "status" in runs.columns:
        ok = runs[store.usable(runs)]
        ok = ok if not ok.empty else runs
    metrics = _present(ok, metrics)
    if not metrics:
        return empty_figure("no accuracy/ECE/OOD columns in runs.parquet")
    conds = _condition_order(ok)
    palette = category_palette(order_categories(ok["category"]))
    cat_of = ok.drop_duplicates("condition").set_index("condition")["category"]
    fig, axes = new_figure(len(metrics), 1, panel_size=(max(6.0, 0.42 * len(conds)), 2.5))
    x = np.arange(len(conds))
    colors = [palette[cat_of[c]] for c in conds]
    for ax, metric in zip(axes[:, 0], metrics, strict=False):
        grouped = ok.groupby("condition")[metric]
        mean = grouped.mean().reindex(conds).to_numpy(dtype=float)
        sd = grouped.std(ddof=1).reindex(conds).to_numpy(dtype=float)
        ax.bar(x, mean, color=colors, alpha=0.8)
        has_sd = np.isfinite(sd)
        ax.errorbar(
            x[has_sd], mean[has_sd], yerr=sd[has_sd], fmt="none", ecolor="black", capsize=2, lw=0.8
        )
        pos = {c: i for i, c in enumerate(conds)}
        ax.scatter(ok["condition"].map(pos), ok[metric], s=7, color="black", zorder=3)
        finite = mean[np.isfinite(mean)]
        if finite.size:
            lo = np.nanmin(ok[metric])
            hi = np.nanmax(ok[metric])
            pad = 0.15 * (hi - lo) if hi > lo else 0.05 * abs(hi) + 1e-3
            ax.set_ylim(max(0.0, lo - pad) if lo >= 0 else lo - pad, hi + pad)
        ax.set_ylabel(metric_label(metric), fontsize=8)
        ax.set_xticks(x, conds, rotation=60, ha="right", fontsize=7)
    fig.suptitle(
        "Outcome per condition (bar = mean over seeds, line = ±1 s.d., dot = seed)", fontsize=10
    )
    return fig


def dose_response_figure(
    table: pd.DataFrame,
    *,
    metrics: Sequence[str],
    categories: Sequence[str] | None = None,
) -> Figure:
    """Metric vs strength, one column per regularizer category, one row per metric.

    ``table`` has one row per run (or condition) with ``category, strength`` and the metric
    columns; points are seed means with ±1 s.d.; the dashed line is the baseline mean.
    Weight-decay strengths are drawn on a log axis.
    """
    metrics = _present(table, metrics)
    if "strength" not in table.columns or not metrics:
        return empty_figure("no strength column or no metric for dose–response")
    strength = pd.to_numeric(table["strength"], errors="coerce")
    data = table.assign(strength=strength)
    cats = categories or [c for c in order_categories(data["category"]) if c != Category.BS.value]
    cats = [c for c in cats if data.loc[data["category"] == c, "strength"].dropna().nunique() >= 2]
    if not cats:
        return empty_figure("no category with two or more strengths")
    palette = category_palette(order_categories(data["category"]))
    base = data[data["category"] == Category.BS.value]
    fig, axes = new_figure(len(metrics), len(cats), panel_size=(3.2, 2.4))
    for i, metric in enumerate(metrics):
        for j, cat in enumerate(cats):
            ax = axes[i, j]
            sub = data[data["category"] == cat].dropna(subset=["strength"])
            g = sub.groupby("strength")[metric]
            mean, sd = g.mean(), g.std(ddof=1)
            ax.errorbar(
                mean.index,
                mean.to_numpy(),
                yerr=sd.reindex(mean.index).to_numpy(),
                fmt="-o",
                ms=4,
                color=palette[cat],
                capsize=2,
                lw=1.2,
            )
            if not base.empty and base[metric].notna().any():
                ax.axhline(
                    float(base[metric].mean()), color="#7f7f7f", ls="--", lw=0.8, label="baseline"
                )
            if cat == Category.WD.value and (mean.index > 0).all():
                ax.set_xscale("log")
            if i == 0:
                ax.set_title(cat, fontsize=10)
            if i == len(metrics) - 1:
                ax.set_xlabel("strength", fontsize=8)
            if j == 0:
                ax.set_ylabel(metric_label(metric), fontsize=8)
    return fig


def _rank_correlation(x: pd.Series, y: pd.Series) -> float:
    """Spearman's ρ as a description (the Pearson correlation of the ranks; no test)."""
    rx, ry = x.rank().to_numpy(dtype=float), y.rank().to_numpy(dtype=float)
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def diversity_figure(
    diversity: pd.DataFrame,
    *,
    scores: Sequence[str] = DIVERSITY_SCORES,
    y: str = "test_acc",
) -> Figure:
    """Diversity score vs accuracy: colour = category, marker size = strength.

    Each panel's title carries Spearman's rank correlation across conditions (n small:
    read it as a direction, not a precise value).
    """
    scores = _present(diversity, scores)
    if not scores or y not in diversity.columns:
        return empty_figure(f"diversity table lacks scores {list(DIVERSITY_SCORES)} or {y!r}")
    cats = order_categories(diversity["category"])
    palette = category_palette(cats)
    strength = (
        pd.to_numeric(diversity.get("strength"), errors="coerce")
        if "strength" in diversity
        else None
    )
    if strength is not None and strength.notna().any() and strength.max() > 0:
        size = 20 + 120 * (strength.fillna(0) / strength.max())
    else:
        size = pd.Series(40.0, index=diversity.index)
    fig, axes = new_figure(1, len(scores), panel_size=(3.8, 3.2))
    for ax, score in zip(axes[0], scores, strict=False):
        for cat in cats:
            sel = (diversity["category"] == cat) & diversity[score].notna() & diversity[y].notna()
            if not sel.any():
                continue
            ax.scatter(
                diversity.loc[sel, score],
                diversity.loc[sel, y],
                s=size[sel],
                color=palette[cat],
                alpha=0.8,
                edgecolor="black",
                lw=0.4,
                label=cat,
            )
        for _, row in diversity.iterrows():
            ax.annotate(
                str(row["condition"]),
                (row[score], row[y]),
                fontsize=6,
                xytext=(3, 3),
                textcoords="offset points",
            )
        pair = diversity[[score, y]].dropna()
        rho = _rank_correlation(pair[score], pair[y]) if len(pair) >= 3 else np.nan
        ax.set_title(f"{metric_label(score)}  (Spearman {rho:+.2f}, n={len(pair)})", fontsize=9)
        ax.set_xlabel(metric_label(score), fontsize=8)
        ax.set_ylabel(metric_label(y), fontsize=8)
    legend = axes[0, 0].legend(fontsize=7)
    for handle in legend.legend_handles:  # one marker size in the legend, whatever the strength
        handle.set_sizes([30])  # type: ignore[union-attr]
    return fig


def synthetic_figure(runs: pd.DataFrame, *, metrics: Sequence[str] = RUN_METRICS) -> Figure:
    """Accuracy/ECE/OOD vs synthetic fraction, one line per mode (replace, add, ± filtered).

    The baseline (no synthetic data) is drawn at fraction 0 on every line.
    """
    gen = runs[runs["category"] == Category.GEN.value].copy()
    metrics = _present(gen, metrics)
    if gen.empty or not metrics:
        return empty_figure("no synthetic-data (gen) runs")
    fraction = gen["condition"].astype(str).map(parse_strength)
    for col in ("strength", "synthetic_fraction"):  # the study's own columns win over the name
        if col in gen.columns:
            fraction = pd.to_numeric(gen[col], errors="coerce").fillna(fraction)
    gen["fraction"] = fraction
    gen["mode"] = gen["condition"].map(synthetic_mode)
    if "synthetic_mode" in gen.columns and gen["synthetic_mode"].notna().all():
        filtered = gen.get("synthetic_filtered", pd.Series(False, index=gen.index))
        gen["mode"] = gen["synthetic_mode"].astype(str) + np.where(
            filtered.fillna(False).astype(bool), " filtered", ""
        )
    base = runs[runs["category"] == Category.BS.value]
    modes = sorted(set(gen["mode"]), key=lambda m: (m not in _MODE_COLORS, m))
    colors = {m: _MODE_COLORS.get(m, "#7f7f7f") for m in modes}
    fig, axes = new_figure(1, len(metrics), panel_size=(3.6, 2.9))
    for ax, metric in zip(axes[0], metrics, strict=False):
        for mode in modes:
            sub = gen[gen["mode"] == mode]
            g = sub.groupby("fraction")[metric]
            mean, sd = g.mean(), g.std(ddof=1)
            if not base.empty and base[metric].notna().any():
                mean = pd.concat([pd.Series({0.0: base[metric].mean()}), mean]).sort_index()
                sd = sd.reindex(mean.index)
                sd.loc[0.0] = base[metric].std(ddof=1)  # the baseline's own seed spread
            ax.errorbar(
                mean.index,
                mean.to_numpy(),
                yerr=sd.to_numpy(),
                fmt="-o",
                ms=4,
                capsize=2,
                color=colors[mode],
                label=mode,
            )
        ax.set_xlabel("synthetic fraction", fontsize=8)
        ax.set_ylabel(metric_label(metric), fontsize=8)
        ax.set_title(metric_label(metric), fontsize=9)
    axes[0, 0].legend(fontsize=7)
    return fig
