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


def mp_density(x: np.ndarray, *, sigma: float, Q: float) -> np.ndarray:
    """Marchenko–Pastur density for eigenvalues of XᵀX/N, X N×M with entry variance σ², Q = N/M ≥ 1.

    ρ(λ) = Q √((λ+ − λ)(λ − λ−)) / (2π σ² λ) on [λ−, λ+], λ± = σ²(1 ± 1/√Q)², zero outside.
    """
    lo = sigma**2 * (1 - 1 / math.sqrt(Q)) ** 2
    hi = sigma**2 * (1 + 1 / math.sqrt(Q)) ** 2
    x = np.asarray(x, dtype=float)
    inside = (x > lo) & (x < hi)
    out = np.zeros_like(x)
    xi = x[inside]
    out[inside] = Q * np.sqrt((hi - xi) * (xi - lo)) / (2 * math.pi * sigma**2 * xi)
    return out


def mp_bulk_edge(*, sigma: float, Q: float) -> float:
    """λ+ = σ²(1 + 1/√Q)² on the mean-1 scale."""
    return sigma**2 * (1 + 1 / math.sqrt(Q)) ** 2


def eigenvalues_from_slices(slices: np.ndarray, *, halve: bool = False) -> np.ndarray:
    """Pooled eigenvalues of WᵀW over the slices of a layer, sorted ascending.

    ``slices`` is ``(S, N, M)`` with N ≥ M (one slice per conv kernel position); ``halve``
    applies WeightWatcher's ``conv2d_norm`` (slices × √½, i.e. eigenvalues × ½).
    """
    w = np.asarray(slices, dtype=np.float64)
    if w.ndim == 2:
        w = w[None]  # (1, N, M)
    gram = np.einsum("snm,snk->smk", w, w)  # (S, M, M)
    evals = np.linalg.eigvalsh(gram).ravel()  # (S*M,)
    evals = np.clip(evals, 0.0, None)
    if halve:
        evals = evals * 0.5
    return np.sort(evals)


def _local_slices(weights: Any, longname: str) -> tuple[np.ndarray, bool] | None:
    """``(slices (S, N, M), is_conv)`` for ``<longname>.weight`` read directly, or None."""
    if isinstance(weights, (str, Path)):
        from safetensors.numpy import load_file

        tensors: Mapping[str, Any] = load_file(str(weights))
    else:
        tensors = weights
    w = tensors.get(f"{longname}.weight", tensors.get(longname))
    if w is None:
        return None
    w = np.asarray(w.detach().cpu().numpy() if hasattr(w, "detach") else w, dtype=np.float64)
    if w.ndim == 2:
        mats = w[None]  # (1, out, in)
    elif w.ndim >= 3:
        out_c, in_c = w.shape[:2]
        mats = w.reshape(out_c, in_c, -1).transpose(2, 0, 1)  # (kh*kw, out, in)
    else:
        return None
    if mats.shape[1] < mats.shape[2]:
        mats = mats.transpose(0, 2, 1)  # (S, N, M) with N >= M
    return mats, w.ndim >= 3


def layer_eigenvalues(weights: Any, longname: str, *, compat: bool = True) -> np.ndarray:
    """Eigenvalues of one layer (by ``longname``) of a state dict or a safetensors file.

    Uses the spectral engine's extraction when it is available so that the eigenvalues are
    exactly those the fit saw (conv slices pooled, halved in compat mode); otherwise reads
    ``<longname>.weight`` directly and applies the same conventions.
    """
    try:
        specs = [
            s for s in extract.iter_layers(weights, layers=[longname]) if s.longname == longname
        ]
    except WeightspaceError:  # e.g. a name the layer filter rejects: read the tensor directly
        specs = []
    load = specs[0].load if specs else None
    if load is not None:
        return eigenvalues_from_slices(load(), halve=compat and specs[0].conv_slices)
    local = _local_slices(weights, longname)
    if local is None:
        where = weights if isinstance(weights, (str, Path)) else "the given state dict"
        raise DataError(
            f"layer {longname!r} has no weight matrix in {where}; "
            "pick a layer listed as 'success' in the analyze table"
        )
    mats, is_conv = local
    return eigenvalues_from_slices(mats, halve=compat and is_conv)


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

    sigma_v, q_v = _finite(sigma_mp), _finite(Q)
    scale = 1.0 / lam.mean()  # WeightWatcher's W_scale²: raw λ × scale has mean 1
    if sigma_v is not None and q_v is not None and q_v >= 1 and sigma_v > 0:
        x = np.geomspace(lam.min(), lam.max(), 400)
        y = scale * mp_density(x * scale, sigma=sigma_v, Q=q_v)
        keep = y > 0
        if keep.any():
            ax.plot(x[keep], y[keep], ":", color="black", lw=1.5, label=f"MP σ={sigma_v:.2f}")
        if _finite(bulk_max) is None:  # the fit's own edge wins when it was reported
            bulk_max = mp_bulk_edge(sigma=sigma_v, Q=q_v) / scale
    edge = _finite(bulk_max)
    if edge is not None and edge > 0:
        ax.axvline(edge, color="black", ls=":", lw=0.8)

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
    ax.set_xlabel("eigenvalue λ of WᵀW")
    ax.set_ylabel("density")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower left")
    return fig  # type: ignore[return-value]


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
