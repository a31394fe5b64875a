"""Empirical spectral density (ESD) panels: log-log histogram, power-law tail, MP bulk.

How to read a panel: the histogram is the density of the eigenvalues λ of WᵀW on log-log
axes. The straight dashed line starts at ``xmin`` with slope −α: a heavy tail that follows it
is the power law the fit found (small α = heavier tail = more "learned" structure). The dotted
curve is the Marchenko–Pastur density of a random matrix of the same shape with the fitted bulk
width ``sigma_mp``; its right edge (vertical dotted line) is the bulk edge λ+, and eigenvalues
beyond it are spikes that randomness does not explain.

The MP fit follows WeightWatcher's convention: eigenvalues are scaled so that their mean is 1,
the bulk is λ± = σ²(1 ± 1/√Q)² on that scale, and the density is mapped back to raw λ here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from weightspace.errors import DataError, WeightspaceError
from weightspace.report._style import empty_figure, new_figure
from weightspace.spectral import extract
from weightspace.spectral.esd import as_slices, fitted_eigenvalues
from weightspace.spectral.mp import mp_density, mp_edges

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def _finite(x: Any) -> float | None:
    """``x`` as a float when it is a finite number, else None (NaN = no fit)."""
    if x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def layer_eigenvalues(weights: Any, longname: str, *, compat: bool = True) -> np.ndarray:
    """The pooled eigenvalues (sorted) of one layer (by ``longname``) of a state dict or a
    weights file: exactly those the spectral fit used (``compat``: WeightWatcher mode, as
    ``analyze(..., compat="ww")``)."""
    try:
        specs = [
            s for s in extract.iter_layers(weights, layers=[longname]) if s.longname == longname
        ]
    except WeightspaceError:  # e.g. a name the layer filter rejects
        specs = []
    spec = specs[0] if specs else None
    if spec is None or spec.load is None:
        where = weights if isinstance(weights, (str, Path)) else "the given state dict"
        raise DataError(
            f"layer {longname!r} has no weight matrix in {where}; "
            "pick a layer listed as 'success' in the analyze table"
        )
    evals = fitted_eigenvalues(as_slices(spec.load()), ww=compat, conv_slices=spec.conv_slices)
    return np.sort(evals.ravel())


def plot_esd(
    evals: np.ndarray,
    *,
    alpha: float | None = None,
    xmin: float | None = None,
    sigma_mp: float | None = None,
    Q: float | None = None,
    bulk_max: float | None = None,
    title: str = "",
    label: str | None = None,
    color: str = "#1f77b4",
    bins: int | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Log-log ESD histogram with the power-law tail (from ``xmin``, slope −α) and the MP bulk.

    Draws into ``ax`` when given (and returns its figure), else into a new one-panel figure.
    Missing or NaN fit values simply leave their overlay out.
    """
    if ax is None:
        fig, axes = new_figure(1, 1, panel_size=(4.8, 3.6))
        ax = axes[0, 0]
    else:
        fig = ax.figure  # type: ignore[assignment]
    lam = np.asarray(evals, dtype=float).ravel()
    lam = lam[np.isfinite(lam)]
    top = lam.max() if lam.size else 0.0
    lam = lam[lam > max(top * 1e-12, 0.0)]  # numerical zeros would stretch the log axis
    if lam.size < 2 or top <= 0:
        ax.text(
            0.5, 0.5, "no positive eigenvalues", ha="center", va="center", transform=ax.transAxes
        )
        ax.set_title(title, fontsize=9)
        return fig  # type: ignore[return-value]
    n = lam.size
    if bins is None:  # about 2√n log-spaced bins: no gaps for small layers, detail for large
        bins = int(np.clip(2 * np.sqrt(n), 8, 60))
    edges = np.geomspace(lam.min(), lam.max() * (1 + 1e-9), bins + 1)
    # One filled step polygon instead of a rectangle per bin: much faster to draw.
    ax.hist(lam, bins=edges.tolist(), density=True, histtype="stepfilled", color=color, alpha=0.55,
            label=label or f"ESD (n={n})")  # fmt: skip

    alpha_v, xmin_v = _finite(alpha), _finite(xmin)
    if alpha_v is not None and xmin_v is not None and xmin_v > 0 and alpha_v > 1:
        tail = lam[lam >= xmin_v]
        if tail.size:
            # Tail density scaled to the whole sample: (n_tail/n) (α−1)/xmin (x/xmin)^−α.
            x = np.geomspace(xmin_v, lam.max(), 50)
            y = tail.size / n * (alpha_v - 1) / xmin_v * (x / xmin_v) ** (-alpha_v)
            ax.plot(x, y, "--", color="#d62728", lw=1.5, label=f"power law α={alpha_v:.2f}")
        ax.axvline(xmin_v, color="#d62728", lw=0.8, alpha=0.6)

    _mp_overlay(ax, lam, sigma_mp, Q, bulk_max)
    _log_axes(ax, lam)
    ax.set_xlabel("eigenvalue λ of WᵀW")
    ax.set_ylabel("density")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower left")
    return fig  # type: ignore[return-value]


def _mp_overlay(ax: Axes, lam: np.ndarray, sigma_mp: float | None, Q: float | None,
                bulk_max: float | None) -> None:  # fmt: skip
    """The Marchenko–Pastur bulk density of the fit and its edge (dotted)."""
    sigma_v, q_v = _finite(sigma_mp), _finite(Q)
    scale = 1.0 / lam.mean()  # WeightWatcher's W_scale²: raw λ × scale has mean 1
    if sigma_v is not None and q_v is not None and q_v >= 1 and sigma_v > 0:
        x = np.geomspace(lam.min(), lam.max(), 400)
        lo, hi = mp_edges(sigma_v, q_v)
        xs = x * scale
        y = np.where((xs > lo) & (xs < hi), scale * mp_density(xs, q_v, sigma_v), 0.0)
        keep = y > 0
        if keep.any():
            ax.plot(x[keep], y[keep], ":", color="black", lw=1.5, label=f"MP σ={sigma_v:.2f}")
        if _finite(bulk_max) is None:  # the fit's own edge wins when it was reported
            bulk_max = hi / scale
    edge = _finite(bulk_max)
    if edge is not None and edge > 0:
        ax.axvline(edge, color="black", ls=":", lw=0.8)


def _log_axes(ax: Axes, lam: np.ndarray) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, NullLocator

    ax.set_xscale("log")
    ax.set_yscale("log")
    # Few minor ticks and no minor labels: labels overlap on narrow panels, and log-axis
    # minor ticks dominate drawing time in grids of panels.
    ax.xaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
    ax.yaxis.set_minor_locator(NullLocator())
    if np.log10(lam.max() / lam.min()) < 1.2:  # within about a decade: label 2× and 5× ticks
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:.2g}"))
    else:
        ax.xaxis.set_minor_formatter(NullFormatter())


def plot_esd_row(
    evals: np.ndarray,
    row: Mapping[str, Any],
    *,
    title: str | None = None,
    label: str | None = None,
    color: str = "#1f77b4",
    ax: Axes | None = None,
) -> Figure:
    """:func:`plot_esd` with the fit values taken from one row of an analyze table."""
    if title is None:
        name = row.get("longname") or row.get("name") or ""
        title = f"{name}  α={_fmt(row.get('alpha'))}"
    return plot_esd(
        evals,
        alpha=row.get("alpha"),
        xmin=row.get("xmin"),
        sigma_mp=row.get("sigma_mp"),
        Q=row.get("Q"),
        bulk_max=row.get("bulk_max"),
        title=title,
        label=label,
        color=color,
        ax=ax,
    )


def _fmt(x: Any) -> str:
    v = _finite(x)
    return "NaN" if v is None else f"{v:.2f}"


@dataclass(frozen=True)
class EsdPanel:
    """One panel of an ESD grid: eigenvalues plus the fit row they came with."""

    evals: np.ndarray
    row: Mapping[str, Any] = field(default_factory=dict)
    title: str = ""
    color: str = "#1f77b4"


def esd_grid_figure(panels: Sequence[Sequence[EsdPanel | None]]) -> Figure:
    """A grid of ESD panels: one row per layer, one column per snapshot/condition.

    ``None`` leaves a cell empty (e.g. a condition without that layer).
    """
    nrows = len(panels)
    ncols = max((len(r) for r in panels), default=0)
    if nrows == 0 or ncols == 0:
        return empty_figure("no ESD panels: no run with weights files")
    fig, axes = new_figure(nrows, ncols, panel_size=(3.4, 2.8))
    for i, row in enumerate(panels):
        for j in range(ncols):
            panel = row[j] if j < len(row) else None
            if panel is None:
                axes[i, j].set_visible(False)
                continue
            plot_esd_row(
                panel.evals, panel.row, title=panel.title, color=panel.color, ax=axes[i, j]
            )
    return fig
