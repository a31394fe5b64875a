"""The report's "dynamics" section: trajectories of spectral metrics and sharpness.

Shown when the study recorded more than the two end points (``snapshot_every_steps`` or
``snapshot_every``) or measured the Hessian trace (``hessian``); the tables are the stored
default comparison's (:func:`weightspace.compare.dynamics.dynamics_tables`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from weightspace.compare.dynamics import LOG_TRACE, METRICS, TRACE
from weightspace.report._inputs import ReportTables
from weightspace.report._style import (
    category_palette,
    empty_figure,
    hide_unused,
    metric_label,
    new_figure,
    order_categories,
)
from weightspace.report.html import Paragraph, Plot, Section, TableBlock

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_LABELS = {TRACE: "Hessian trace", LOG_TRACE: "log10 Hessian trace"}


def trajectories_figure(traj: pd.DataFrame, *, metrics: Sequence[str] | None = None) -> Figure:
    """One panel per metric: the mean curve of each category against steps, with its band.

    ``traj`` is :func:`weightspace.compare.dynamics.category_trajectories`'s table.
    """
    if traj.empty:
        return empty_figure("no trajectories (the runs recorded no intermediate snapshots)")
    present = list(dict.fromkeys(traj["metric"]))
    wanted = [m for m in (metrics or [*METRICS, LOG_TRACE, TRACE]) if m in present]
    if not wanted:
        return empty_figure("none of the requested metrics has a trajectory")
    cats = order_categories(traj["category"])
    palette = category_palette(cats)
    ncols = min(3, len(wanted))
    nrows = -(-len(wanted) // ncols)
    fig, axes = new_figure(nrows, ncols, panel_size=(3.8, 2.9))
    flat = list(axes.ravel())
    for ax, metric in zip(flat, wanted, strict=False):
        for cat in cats:
            sub = traj[(traj["metric"] == metric) & (traj["category"] == cat)].sort_values("step")
            if sub.empty:
                continue
            x = sub["step"].to_numpy(dtype=float)
            ax.plot(x, sub["mean"].to_numpy(dtype=float), color=palette[cat], lw=1.4, label=cat)
            lo, hi = sub["ci_low"].to_numpy(dtype=float), sub["ci_high"].to_numpy(dtype=float)
            ok = np.isfinite(lo) & np.isfinite(hi)
            if ok.any():
                ax.fill_between(x[ok], lo[ok], hi[ok], color=palette[cat], alpha=0.15, lw=0)
        ax.set_title(_LABELS.get(metric, metric_label(metric)), fontsize=9)
        ax.set_xlabel("optimizer step", fontsize=8)
    hide_unused(flat, len(wanted))
    flat[0].legend(fontsize=7, frameon=False)
    fig.suptitle("Trajectories per category (mean over conditions, 95% t-band)", fontsize=10)
    return fig


def dynamics_section(tables: ReportTables) -> Section | None:
    """The section from the stored default comparison's ``trajectories`` and
    ``trajectory_tests``, or None when the study recorded no trajectories."""
    default = tables.tables_of("default")
    traj, tests = default.get("trajectories"), default.get("trajectory_tests")
    if traj is None or traj.empty:
        return None
    sec = Section("dynamics", "Training dynamics and sharpness")
    sec.add(
        Paragraph(
            "Mean over each run's layers of every spectral metric, and the Hessian trace (log10) "
            "of the training loss (Hutchinson, on fixed clean training batches), against the "
            "optimizer step; per category the mean over conditions with a 95% t-band over "
            "conditions (over seeds for the baseline). See docs/dynamics.md."
        )
    )
    sec.add(
        Plot(
            "dynamics",
            trajectories_figure(traj),
            "Trajectories per category; band: 95% t-interval over conditions.",
        )
    )
    if tests is not None and not tests.empty:
        sec.add(
            TableBlock(
                tests,
                title="Trajectory vs the reference (the baseline; dropout for data diversity): "
                "area = mean gap between the category's and the reference's curves over "
                "training (metric units; the trace in log10); p: permutation of condition "
                "labels within each seed (two-sided); p_holm: Holm over this table",
            )
        )
    return sec
