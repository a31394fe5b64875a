"""Shared figure helpers: pyplot-free figures, category colours, encoding to PNG/SVG.

Every figure in :mod:`weightspace.report` is a :class:`matplotlib.figure.Figure` built
directly (never through ``pyplot``), so nothing is registered with pyplot's global figure
manager and nothing needs closing: a figure is freed when its last reference goes.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from weightspace.vocabulary import Category

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# One colour per category, fixed so that a category looks the same in every figure.
CATEGORY_COLORS: dict[str, str] = {
    Category.BS.value: "#7f7f7f",
    Category.DIV.value: "#1f77b4",
    Category.DP.value: "#ff7f0e",
    Category.WD.value: "#2ca02c",
    Category.GEN.value: "#9467bd",
    Category.COMBO.value: "#8c564b",
}
_EXTRA_COLORS = ("#d62728", "#e377c2", "#bcbd22", "#17becf", "#393b79", "#637939")
CATEGORY_ORDER = tuple(c.value for c in (Category.BS, Category.DIV, Category.GEN, Category.DP,
                                         Category.WD, Category.COMBO))  # fmt: skip

# Plot labels use the metric's column name and say what the number is.
METRIC_LABELS: dict[str, str] = {
    "alpha": "α (power-law exponent)",
    "entropy": "spectral entropy",
    "log_norm": "log10 ‖W‖²_F",
    "log_spectral_norm": "log10 λ_max",
    "stable_rank": "stable rank",
    "alpha_weighted": "α·log10 λ_max",
    "log_alpha_norm": "log10 Σλ^α",
    "test_acc": "test accuracy",
    "train_acc": "train accuracy",
    "test_ece": "test ECE",
    "ood_acc": "OOD accuracy",
    "ood_ece": "OOD ECE",
    "vs_pixel": "pixel Vendi score",
    "vs_emb": "embedding Vendi score",
    "wvs": "weighted Vendi score",
    "rho": "ρ (similarity to real)",
}


def metric_label(name: str) -> str:
    """Plot label of a column; ``dd_<metric>`` is the run's mean ΔΔ over layers."""
    if name.startswith("dd_"):
        return "mean ΔΔ " + METRIC_LABELS.get(name[3:], name[3:])
    return METRIC_LABELS.get(name, name)


def category_color(category: str, *, index: int = 0) -> str:
    """The fixed colour of a known category, else a stable colour from a spare palette."""
    if category in CATEGORY_COLORS:
        return CATEGORY_COLORS[category]
    return _EXTRA_COLORS[index % len(_EXTRA_COLORS)]


def category_palette(categories: Iterable[str]) -> dict[str, str]:
    unknown = 0
    palette: dict[str, str] = {}
    for cat in categories:
        if cat in palette:
            continue
        if cat not in CATEGORY_COLORS:
            unknown += 1
        palette[cat] = category_color(cat, index=unknown - 1)
    return palette


def order_categories(categories: Iterable[str]) -> list[str]:
    """Known categories in the canonical order, then the rest alphabetically."""
    cats = {str(c) for c in categories}
    known = [c for c in CATEGORY_ORDER if c in cats]
    return known + sorted(cats - set(known))


def new_figure(
    nrows: int = 1,
    ncols: int = 1,
    *,
    panel_size: tuple[float, float] = (4.0, 3.0),
    squeeze: bool = False,
    **subplot_kw: Any,
) -> tuple[Figure, Any]:
    """A figure with an ``nrows × ncols`` grid of axes, sized per panel, not known to pyplot."""
    from matplotlib.figure import Figure

    fig = Figure(
        figsize=(panel_size[0] * ncols, panel_size[1] * nrows),
        layout="constrained",
    )
    axes = fig.subplots(nrows, ncols, squeeze=squeeze, subplot_kw=subplot_kw or None)
    return fig, axes


def empty_figure(message: str) -> Figure:
    """A one-panel figure that states why there is nothing to plot."""
    fig, axes = new_figure(1, 1, panel_size=(5.0, 1.6))
    ax: Axes = axes[0, 0]
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    ax.set_axis_off()
    return fig


def hide_unused(axes: Sequence[Axes], used: int) -> None:
    for ax in list(axes)[used:]:
        ax.set_visible(False)


def figure_bytes(fig: Figure, fmt: str, *, dpi: int = 100) -> bytes:
    """Encode a figure as ``png`` or ``svg`` bytes (SVG with embedded fonts as paths)."""
    buf = io.BytesIO()
    metadata: dict[str, Any] = {"Date": None} if fmt == "svg" else {}
    fig.savefig(buf, format=fmt, dpi=dpi, metadata=metadata)
    return buf.getvalue()


def png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
