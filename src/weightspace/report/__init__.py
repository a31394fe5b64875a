"""Figures (data in, :class:`matplotlib.figure.Figure` out) and the self-contained HTML report.

Nothing here touches pyplot's global state; matplotlib is imported only when a figure is drawn.
"""

from __future__ import annotations

from weightspace.report.build import build_report
from weightspace.report.esd import plot_esd, plot_esd_row
from weightspace.report.figures_axis import axis_figure, fingerprint_map_figure
from weightspace.report.figures_runs import (
    diversity_figure,
    dose_response_figure,
    run_metrics_figure,
    synthetic_figure,
)
from weightspace.report.figures_spectral import category_means_figure, layer_profiles_figure

__all__ = [
    "axis_figure",
    "build_report",
    "category_means_figure",
    "diversity_figure",
    "dose_response_figure",
    "fingerprint_map_figure",
    "layer_profiles_figure",
    "plot_esd",
    "plot_esd_row",
    "run_metrics_figure",
    "synthetic_figure",
]
