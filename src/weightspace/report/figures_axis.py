"""Figures of the fingerprint: where each condition sits between dropout and weight decay.

Both read the default comparison's stored tables (:mod:`weightspace.compare.fingerprint`):
``axis_positions`` (θ with its interval per condition and category, for all metrics together
and for each metric) and ``fingerprint`` (the adjusted verdicts: did it move the spectra?).
θ = 0 is dropout's ΔΔ profile, θ = 1 weight decay's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from weightspace.compare.conclude import ALPHA, NAMES
from weightspace.compare.fingerprint import REFERENCES
from weightspace.report._style import category_color, empty_figure, order_categories

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

XLIM = (-0.75, 1.75)  # θ outside is drawn at the edge with an arrow
ROW_INCHES = 0.11
SHORT = {"alpha": "α", "entropy": "entropy", "log_norm": "log ‖W‖²", "log_spectral_norm":
         "log λ_max", "stable_rank": "stable rank"}  # fmt: skip


def _name(category: str) -> str:
    return NAMES.get(category, category)


def axis_rows(
    fingerprint: pd.DataFrame, strengths: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """The rows of the axis figure, top to bottom: per category (tested ones first, then the
    references) its own row, then its conditions by strength. Columns: ``level, name,
    category, label, p_moved_adj``."""
    if fingerprint.empty:
        return pd.DataFrame(columns=["level", "name", "category", "label", "p_moved_adj"])
    cats = order_categories(fingerprint["category"].astype(str))
    cats = [c for c in cats if c not in REFERENCES] + [c for c in REFERENCES if c in cats]
    strengths = strengths or {}
    rows = []
    for cat in cats:
        own = fingerprint[fingerprint["category"].astype(str) == cat]
        conditions = own[own["level"] == "condition"].copy()
        conditions["_s"] = conditions["name"].map(lambda n: strengths.get(str(n), math.nan))
        conditions = conditions.sort_values(["_s", "name"], na_position="last")
        for r in own[own["level"] == "category"].itertuples():
            rows.append(("category", cat, cat, f"{_name(cat)} ({len(conditions)})",
                         r.p_moved_adj))  # fmt: skip
        for r in conditions.itertuples():
            rows.append(("condition", str(r.name), cat, str(r.name), r.p_moved_adj))
    return pd.DataFrame(rows, columns=["level", "name", "category", "label", "p_moved_adj"])


def _moved_text(p: float) -> tuple[str, bool]:
    if not math.isfinite(p):
        return "not tested", False
    p_text = "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
    return (f"yes ({p_text})", True) if p < ALPHA else (f"no evidence ({p_text})", False)


def _draw_position(ax: Axes, y: float, row: pd.Series | None, color: str, *,
                   big: bool, moved: bool) -> bool:  # fmt: skip
    """One row's θ and interval; False when there is no θ to draw."""
    if row is None or not math.isfinite(float(row["theta"])):
        return False
    theta = float(row["theta"])
    lo, hi = float(row["ci_low"]), float(row["ci_high"])
    if math.isfinite(lo) and math.isfinite(hi):
        a, b = max(lo, XLIM[0]), min(hi, XLIM[1])
        ax.plot([a, b], [y, y], color=color, lw=2.6 if big else 1.2, solid_capstyle="butt")
        for end, edge, marker in ((lo, XLIM[0], "<"), (hi, XLIM[1], ">")):
            if (end < edge) if marker == "<" else (end > edge):
                ax.plot([edge], [y], marker=marker, color=color, ms=4, clip_on=False)
    x = min(max(theta, XLIM[0]), XLIM[1])
    ax.plot([x], [y], marker="D" if big else "o", ms=7 if big else 4.5, color=color,
            markerfacecolor=color if moved else "white", markeredgewidth=1.2,
            zorder=3, clip_on=False)  # fmt: skip
    return True


def _draw_zero(ax: Axes, positions: pd.DataFrame) -> None:
    """Where no change at all would sit (θ₀ of the tested categories, with its 95%
    interval): a grey band, so that a position near it reads as "small", not as a shape."""
    if "theta_zero" not in positions.columns:
        return
    tested = positions[(positions["level"] == "category")
                       & ~positions["category"].isin(REFERENCES)]  # fmt: skip
    zero = tested[np.isfinite(tested["theta_zero"].to_numpy(float))]
    if zero.empty:
        return
    row = zero.iloc[0]
    lo, hi = float(row["theta_zero_low"]), float(row["theta_zero_high"])
    if math.isfinite(lo) and math.isfinite(hi):
        ax.axvspan(max(lo, XLIM[0]), min(hi, XLIM[1]), color="#d9d9d9", lw=0, zorder=-0.5)
    ax.axvline(float(row["theta_zero"]), color="#888888", lw=0.8, zorder=-0.4)


def _axis_panel(ax: Axes, rows: pd.DataFrame, positions: pd.DataFrame, title: str) -> None:
    ends = {cat: float(i) for i, cat in enumerate(REFERENCES)}
    for ref, x in ends.items():
        ax.axvline(x, color=category_color(ref), lw=1, ls="--", zorder=0)
    ax.axvline(0.5, color="#bbbbbb", lw=0.8, ls=":", zorder=0)
    _draw_zero(ax, positions)
    found = positions.set_index(["level", "name"])
    missing = 0
    for y, row in enumerate(rows.itertuples()):
        color = category_color(row.category)
        moved = _moved_text(float(row.p_moved_adj))[1]
        if row.level == "category" and row.category in ends:  # a reference defines an end
            ax.plot([ends[row.category]], [y], marker="D", ms=7, color=color, zorder=3,
                    markerfacecolor=color if moved else "white", markeredgewidth=1.2)  # fmt: skip
            continue
        key = (row.level, row.name)
        pos = found.loc[key] if key in found.index else None
        if isinstance(pos, pd.DataFrame):
            pos = pos.iloc[0]
        if not _draw_position(ax, y, pos, color, big=row.level == "category", moved=moved):
            missing += 1
    ax.set_xlim(*XLIM)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xticks([0, 0.5, 1], ["0\ndropout", "½", "1\nweight decay"], fontsize=7)
    ax.tick_params(axis="y", length=0)
    ax.set_title(title, fontsize=8.5)
    if missing:
        ax.text(0.99, 0.01, f"no θ: {missing} rows", transform=ax.transAxes, ha="right",
                va="bottom", fontsize=6, color="#777777")  # fmt: skip
    for y, row in enumerate(rows.itertuples()):  # band behind each category's rows
        if row.level == "category":
            ax.axhspan(y - 0.5, y + 0.5, color="#f0f0f0", zorder=-1, lw=0)


def _moved_panel(ax: Axes, rows: pd.DataFrame) -> None:
    for y, row in enumerate(rows.itertuples()):
        text, moved = _moved_text(float(row.p_moved_adj))
        ax.text(0.02, y, text, va="center", ha="left", fontsize=6.5,
                color=category_color(row.category) if moved else "#666666",
                fontweight="bold" if row.level == "category" else "normal")  # fmt: skip
    ax.set_xlim(0, 1)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_axis_off()
    ax.set_title("moved the spectra?\n(adjusted p)", fontsize=8)


def axis_figure(
    positions: pd.DataFrame,
    fingerprint: pd.DataFrame,
    *,
    metrics: Sequence[str] | None = None,
    strengths: Mapping[str, float] | None = None,
) -> Figure:
    """Every condition and category on the dropout (0) → weight decay (1) axis with its 95%
    interval: one panel for all metrics together (the tested position), one per metric
    (exploratory), and beside them whether each moved the spectra at all (adjusted p).

    ``positions``/``fingerprint``: the default comparison's ``axis_positions`` and
    ``fingerprint`` tables; ``strengths``: condition → dose, to order the conditions.
    Markers: ◆ a category (its mean profile), ● a condition; filled = it moved the spectra
    (adjusted p < 0.05), hollow = no evidence that it did. A reference category defines its
    end of the axis and is drawn there."""
    rows = axis_rows(fingerprint, strengths)
    if rows.empty or positions.empty:
        return empty_figure("no fingerprint (needs dropout and weight-decay conditions and a "
                            "stored default comparison)")  # fmt: skip
    present = list(dict.fromkeys(positions["metric"].astype(str)))
    views = ["all"] + [m for m in (metrics or present) if m in present and m != "all"]
    from matplotlib.figure import Figure

    height = max(2.4, ROW_INCHES * len(rows) + 1.0)
    fig = Figure(figsize=(13.4, height), layout="constrained")
    grid = fig.add_gridspec(
        1, len(views) + 1, width_ratios=[1.7] + [1.0] * (len(views) - 1) + [1.0]
    )
    axes = [fig.add_subplot(grid[0, i]) for i in range(len(views) + 1)]
    for i, (ax, view) in enumerate(zip(axes, views, strict=False)):
        title = "all metrics: tested" if view == "all" else f"{SHORT.get(view, view)}: exploratory"
        _axis_panel(ax, rows, positions[positions["metric"].astype(str) == view], title)
        labels = [("" if r.level == "category" else "  ") + r.label for r in rows.itertuples()]
        ax.set_yticks(range(len(rows)), labels if i == 0 else [""] * len(rows), fontsize=6.5)
        if i == 0:
            for tick, row in zip(ax.get_yticklabels(), rows.itertuples(), strict=True):
                if row.level == "category":
                    tick.set_fontweight("bold")
    _moved_panel(axes[-1], rows)
    return fig


def fingerprint_map_figure(fingerprint: pd.DataFrame) -> Figure:
    """The fingerprint as a map: x = position θ on the dropout → weight-decay axis with its
    95% interval, y = how far the profile moved from the baseline beyond its noise (the
    moved test's signal-to-noise (T − E)/E; 0 = no more than noise), one point per
    condition, ◆ per category; filled = moved the spectra (adjusted p < 0.05)."""
    if fingerprint.empty or fingerprint["signal"].isna().all():
        return empty_figure("no fingerprint to map (one seed: no noise estimate, or no "
                            "stored default comparison)")  # fmt: skip
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.0, 4.6), layout="constrained")
    ax = fig.add_subplot()
    for ref, x in zip(REFERENCES, (0.0, 1.0), strict=False):
        ax.axvline(x, color=category_color(ref), lw=1, ls="--", zorder=0)
    ax.axhline(0, color="#999999", lw=0.8)
    for row in fingerprint.itertuples():
        theta, signal = float(row.theta), float(row.signal)
        if not (math.isfinite(theta) and math.isfinite(signal)):
            continue
        color = category_color(str(row.category))
        big = row.level == "category"
        moved = _moved_text(float(row.p_moved_adj))[1]
        lo, hi = float(row.ci_low), float(row.ci_high)
        if math.isfinite(lo):
            ax.plot([max(lo, XLIM[0]), min(hi, XLIM[1])], [signal, signal], color=color,
                    lw=2.2 if big else 0.9, alpha=0.8)  # fmt: skip
        x = min(max(theta, XLIM[0]), XLIM[1])
        ax.plot([x], [signal], marker="D" if big else "o", ms=8 if big else 5, color=color,
                markerfacecolor=color if moved else "white", markeredgewidth=1.2, zorder=3)  # fmt: skip
        ax.annotate(_name(str(row.name)) if big else str(row.name), (x, signal), fontsize=6,
                    xytext=(3, 3), textcoords="offset points")  # fmt: skip
    ax.set_xlim(*XLIM)
    ax.set_yscale("symlog", linthresh=1.0)
    low, high = ax.get_ylim()
    ax.set_ylim(low - 0.5, high * 2.5 if high > 1 else high + 0.5)  # room for the labels
    ax.set_xticks([0, 0.5, 1], ["0 = dropout", "½", "1 = weight decay"])
    ax.set_xlabel("position θ between the dropout and weight-decay ΔΔ profiles (95% interval)")
    ax.set_ylabel("moved: signal-to-noise (T − E)/E")
    ax.set_title("Fingerprint map (filled: moved the spectra, adjusted p < 0.05)", fontsize=9)
    return fig
