"""``analyze(plot=True)``: WeightWatcher 0.7.7's per-layer figures, as PNG files.

For each analysed row, the files WeightWatcher writes, with its names
``<savedir>/ww.layer<plot_id>.<figure>.png`` (``plot_id`` = the layer id, ``<id>:<slice>``
with ``pool=False``):

- ``esd``: the ESD as a log-log histogram with the fitted power law from ``xmin`` (slope −α);
- ``esd2`` / ``esd3``: the ESD on linear and on log10 axes, ``xmin`` (and ``xmax``) marked;
- ``esd4`` / ``esd5``: the KS distance D and α of every candidate xmin (WeightWatcher's
  default estimator), the chosen xmin marked;
- ``mpfit2`` (and ``mpfit1`` when Q = 1) with ``mp_fit=True`` or ``randomize=True``: the ESD
  scaled to mean 1 with the fitted Marchenko–Pastur density and its bulk edge (of the
  shuffled weights when ``randomize=True``: WeightWatcher overwrites the file with that one);
- ``randesd1`` / ``randesd2`` with ``randomize=True``: the ESD and the ESD of the shuffled
  weights, linear and log10.

``savefig=False`` shows the figures instead (``pyplot.show``). Every figure is closed after
use; matplotlib is imported only here, when a figure is drawn.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from weightspace.errors import ConfigError
from weightspace.spectral.mp import mp_density, mp_edges
from weightspace.spectral.powerlaw import WW_EVALS_THRESH, ks_distance, tail_alphas

BINS = 100


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ConfigError(
            f"plot=True needs matplotlib ({err}); install it (pip install 'weightspace[plot]') "
            "or pass plot=False"
        ) from None
    return plt


def _num(x: Any) -> float | None:
    """``x`` as a finite float, else None (a NaN column value = no fit)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


class FigureWriter:
    """Saves (or shows) and closes one figure per call."""

    def __init__(self, savedir: str | None, plot_id: str) -> None:
        self.plt = _pyplot()
        self.savedir = None if savedir is None else Path(savedir)
        self.plot_id = plot_id
        self.written: list[Path] = []

    def __call__(self, name: str, draw: Callable[[Any], None]) -> None:
        fig = self.plt.figure(figsize=(6.4, 4.8))
        try:
            draw(fig.add_subplot(1, 1, 1))
            fig.tight_layout()
            if self.savedir is None:
                self.plt.show()
            else:
                self.savedir.mkdir(parents=True, exist_ok=True)
                path = self.savedir / f"ww.layer{self.plot_id}.{name}.png"
                fig.savefig(path)
                self.written.append(path)
        finally:
            self.plt.close(fig)


def layer_figures(
    evals: np.ndarray,
    row: Mapping[str, Any],
    *,
    savedir: str | None,
    plot_id: str,
    mp_fit: bool,
    rand_evals: np.ndarray | None,
) -> list[Path]:
    """Draw one layer's figures (see the module docstring); returns the files written."""
    out = FigureWriter(savedir, plot_id)
    lam = np.sort(np.asarray(evals, dtype=np.float64))
    label = f"Layer {plot_id} {row.get('name', '')}".strip()
    fitted = row.get("status") == "success" and None not in (
        _num(row.get("alpha")),
        _num(row.get("xmin")),
    )
    out("esd", lambda ax: _loglog(ax, lam, row, label, fitted))
    shown = lam[lam > (float(row["xmin"]) / 100 if fitted else 0.004 * lam[-1])]
    out("esd2", lambda ax: _hist(ax, shown, row, f"Lin-Lin ESD for {label}", fitted, log=False))
    out("esd3", lambda ax: _hist(ax, shown, row, f"Log-Lin ESD for {label}", fitted, log=True))
    if fitted:
        xmins, ds, alphas = _candidates(lam)
        xmin = float(row["xmin"])
        out("esd4", lambda ax: _curve(ax, xmins, ds, xmin, r"$D_{KS}$"))
        out("esd5", lambda ax: _curve(ax, xmins, alphas, xmin, r"$\alpha$"))
    rand = None if rand_evals is None else np.sort(np.asarray(rand_evals, dtype=np.float64))
    if rand is not None:
        out("randesd1", lambda ax: _versus_random(ax, lam, rand, label, log=False))
        out("randesd2", lambda ax: _versus_random(ax, lam, rand, label, log=True))
    if rand is not None or mp_fit:
        prefix = "rand_" if rand is not None else ""
        values = rand if rand is not None else lam
        q = float(row["N"]) / float(row["M"])
        if q == 1.0:
            out("mpfit1", lambda ax: _mp(ax, values, row, prefix, q, label))
        out("mpfit2", lambda ax: _mp(ax, values, row, prefix, q, label))
    return out.written


def _loglog(ax: Any, lam: np.ndarray, row: Mapping[str, Any], label: str, fitted: bool) -> None:
    pos = lam[lam > 0]
    if pos.size >= 2:
        edges = np.geomspace(pos[0], pos[-1] * (1 + 1e-9), BINS + 1)
        ax.hist(pos, bins=edges, density=True, color="tab:blue", alpha=0.6, label="ESD")
    title = f"Log-Log ESD for {label}\n"
    if fitted:
        alpha, xmin = float(row["alpha"]), float(row["xmin"])
        tail = pos[pos >= xmin]
        if alpha > 1 and tail.size:
            x = np.geomspace(xmin, pos[-1], 50)
            y = tail.size / pos.size * (alpha - 1) / xmin * (x / xmin) ** (-alpha)
            ax.plot(x, y, "r--", lw=2, label="power-law fit")
        ax.axvline(xmin, color="r", lw=1, label=r"$\lambda_{min}$")
        title += rf"$\alpha$={alpha:.3f}; $D_{{KS}}$={float(row['D']):.3f}; "
        title += rf"$\lambda_{{min}}$={xmin:.3f}"
    else:
        title += "PL FIT FAILED"
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"eigenvalue $\lambda$")
    ax.set_title(title)
    ax.legend()


def _hist(ax: Any, lam: np.ndarray, row: Mapping[str, Any], title: str, fitted: bool,
          *, log: bool) -> None:  # fmt: skip
    pos = lam[lam > 0] if log else lam
    ax.hist(np.log10(pos) if log else pos, bins=BINS, density=True, color="tab:blue")
    if fitted:
        xmin = float(row["xmin"])
        ax.axvline(math.log10(xmin) if log else xmin, color="r", label=r"$\lambda_{xmin}$")
        xmax = _num(row.get("xmax"))
        if log and xmax is not None and xmax > 0:
            ax.axvline(math.log10(xmax), color="orange", label=r"$\lambda_{xmax}$")
        ax.legend()
    ax.set_xlabel(r"$\log_{10}\lambda$" if log else r"$\lambda$")
    ax.set_title(title)


def _candidates(lam: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every candidate xmin with its D and α (WeightWatcher's default estimator)."""
    x = lam[lam > WW_EVALS_THRESH]
    if x.size < 2:
        return x[:0], x[:0], x[:0]
    alphas = tail_alphas(x)
    ds = np.array([ks_distance(x, i, float(a)) for i, a in enumerate(alphas)])
    return x[:-1], ds, alphas


def _curve(ax: Any, xmins: np.ndarray, values: np.ndarray, xmin: float, what: str) -> None:
    ax.plot(xmins, values, label=what)
    ax.axvline(xmin, color="r", label=r"$\lambda_{xmin}$")
    ax.set_xlabel(r"$x_{min}$")
    ax.set_ylabel(what)
    ax.set_title(what + r" vs. $x_{min}$, $\lambda_{xmin}$=" + f"{xmin:.3g}")
    ax.legend()


def _versus_random(ax: Any, lam: np.ndarray, rand: np.ndarray, label: str, *, log: bool) -> None:
    a, b = lam[lam > 0], rand[rand > 0]
    f = np.log10 if log else (lambda v: v)
    ax.hist(f(a), bins=BINS, density=True, color="g", label="original")
    ax.hist(f(b), bins=BINS, density=True, color="r", alpha=0.5, label="random")
    ax.axvline(f(np.max(rand)), color="orange", label="max rand")
    ax.set_xlabel(r"$\log_{10}\lambda$" if log else r"$\lambda$")
    ax.set_title(f"{label}: {'Log10 ' if log else ''}ESD & Random ESD")
    ax.legend()


def _mp(ax: Any, lam: np.ndarray, row: Mapping[str, Any], prefix: str, q: float,
        label: str) -> None:  # fmt: skip
    sigma, scale = _num(row.get(f"{prefix}sigma_mp")), _num(row.get(f"{prefix}W_scale"))
    values = lam * (scale**2 if scale is not None else 1.0)
    ax.hist(values, bins=BINS, density=True, color="royalblue", alpha=0.6, label="ESD")
    title = f"MP fit for {label}{' (randomized)' if prefix else ''}\nQ={q:.3g}"
    if sigma is not None and sigma > 0:
        lo, hi = mp_edges(sigma, q)
        x = np.linspace(max(lo, 1e-12), hi, 400)
        ax.plot(x, mp_density(x, q, sigma), "r", label="MP fit")
        ax.axvline(hi, color="r", ls=":", label="bulk edge")
        title += rf" $\sigma_{{mp}}$={sigma:.3g}"
        spikes = _num(row.get(f"{prefix}num_spikes"))
        if spikes is not None:
            title += f" spikes={int(spikes)}"
    ax.set_xlabel(r"$\lambda$ (scaled to mean 1)")
    ax.set_title(title)
    ax.legend()
