"""One table row per layer: ESD, power-law fit, metrics, optional MP fit and randomized control.

:func:`analyze_layer` is the whole per-layer computation (pure apart from loading the
weights); :func:`columns` gives the table's column order. The modes are described in
``analyze.py`` and ``docs/spectral.md``.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from numbers import Integral
from typing import Any

import numpy as np

from weightspace.errors import ConfigError, unknown_choice
from weightspace.spectral import esd as esd_mod
from weightspace.spectral import metrics as met
from weightspace.spectral import randomize as rnd
from weightspace.spectral.farms import FarmsOptions, submatrices
from weightspace.spectral.fingers import TailOptions, fit_tail
from weightspace.spectral.layers import LayerSpec
from weightspace.spectral.mp import MPFit, failed_mp, fit_mp
from weightspace.spectral.powerlaw import WW_EVALS_THRESH, PowerLawFit, failed_fit, fit_power_law
from weightspace.spectral.slices import all_finite, as_stack

COMPAT_MODES = ("ww",)
DEFAULT_MIN_EVALS = 8  # WeightWatcher 0.7.7's default
SUCCESS, FAILED, SKIPPED = "success", "failed", "skipped"
UNDER_TRAINED, OVER_TRAINED = "under-trained", "over-trained"
ALPHA_UNDER, ALPHA_OVER = 6.0, 2.0

Progress = Callable[[int, int, str], None]  # (layers done, layers total, longname)

BASE_COLUMNS = [
    "layer_id", "name", "longname", "layer_type", "N", "M", "rf", "Q", "num_evals",
    "has_esd", "sv_max", "sv_min", "rank_loss", "weak_rank_loss", "lambda_max",
    "alpha", "xmin", "xmax", "D", "sigma", "num_pl_spikes", "status", "warning",
]  # fmt: skip
MP_COLUMNS = ["num_spikes", "sigma_mp", "mp_softrank", "W_scale", "bulk_max", "bulk_min"]
RAND_COLUMNS = [
    "max_rand_eval", "rand_distance", "rand_ks", "rand_alpha", "ww_softrank", "ww_maxdist",
    "rand_num_spikes", "num_traps", "rand_sigma_mp", "rand_mp_softrank", "rand_W_scale",
    "rand_bulk_max", "rand_bulk_min",
]  # fmt: skip
NORM_COLUMNS = [
    "norm", "log_norm", "spectral_norm", "log_spectral_norm", "alpha_weighted",
    "log_alpha_norm", "stable_rank", "matrix_rank", "entropy",
]  # fmt: skip
TAIL_COLUMNS = ["reason", "compat"]


def columns(
    *, mp_fit: bool = False, randomize: bool = False, extra: tuple[str, ...] = ()
) -> list[str]:
    """The result table's columns, in order (``extra``: tail-fit columns after the fit's)."""
    cols = list(BASE_COLUMNS) + list(extra)
    if mp_fit:
        cols += MP_COLUMNS
    if randomize:
        cols += RAND_COLUMNS
    return cols + NORM_COLUMNS + TAIL_COLUMNS


@dataclass(frozen=True)
class Options:
    """Validated options of one analysis."""

    compat: str | None = None
    mp_fit: bool = False
    randomize: bool = False
    device: str = "cpu"
    seed: int = 0
    precision: str = "float64"
    tail: TailOptions = field(default_factory=TailOptions)
    farms: FarmsOptions | None = None  # ESD of fixed-aspect-ratio submatrices (farms.py)

    def __post_init__(self) -> None:
        if self.precision not in esd_mod.PRECISIONS:
            raise unknown_choice("precision", self.precision, esd_mod.PRECISIONS)
        if self.compat is not None and self.compat not in COMPAT_MODES:
            raise unknown_choice("compat mode", self.compat, COMPAT_MODES, "Use None or 'ww'.")
        if not str(self.device).startswith(("cpu", "cuda")):
            raise ConfigError(
                f"device must be 'cpu' or 'cuda[:k]', got {self.device!r}; "
                "pass device='cpu' or a CUDA device that torch can see"
            )
        if str(self.device).startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise ConfigError(
                    f"device={self.device!r} but torch sees no CUDA device; use device='cpu'"
                )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int | np.integer):
            raise ConfigError(f"seed must be an integer, got {self.seed!r}")

    @property
    def ww(self) -> bool:
        return self.compat == "ww"

    def columns(self) -> list[str]:
        extra = tuple(self.tail.columns())
        return columns(mp_fit=self.mp_fit, randomize=self.randomize, extra=extra)


def _empty_row(spec: LayerSpec, opts: Options) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(opts.columns())
    extra = spec.extra
    n, m, s = extra.get("N"), extra.get("M"), extra.get("S", extra.get("rf"))
    row.update(
        layer_id=spec.layer_id,
        name=spec.name,
        longname=spec.longname,
        layer_type=spec.layer_type,
        N=n,
        M=m,
        rf=s,
        Q=_ratio(n, m),
        num_evals=extra.get("num_evals"),
        has_esd=False,
        status=spec.status if spec.status != "pending" else FAILED,
        warning="",
        reason=spec.reason,
        compat=opts.compat or "",
    )
    return row


def _ratio(n: object, m: object) -> float:
    if isinstance(n, Integral) and isinstance(m, Integral) and int(m) > 0:
        return int(n) / int(m)
    return math.nan


def _label(alpha: float) -> str:
    if alpha > ALPHA_UNDER:
        return UNDER_TRAINED
    if alpha < ALPHA_OVER:
        return OVER_TRAINED
    return ""


def _layer_rng(seed: int, spec: LayerSpec) -> np.random.Generator:
    """A generator per layer, so a row does not depend on which other layers are analysed."""
    key = zlib.crc32(spec.longname.encode())
    return np.random.default_rng(
        np.random.SeedSequence([int(seed), spec.layer_id & 0xFFFFFFFF, key])
    )


def is_skipped(spec: LayerSpec) -> bool:
    return spec.status == SKIPPED or spec.load is None


def analyze_layer(
    spec: LayerSpec, opts: Options, weights: np.ndarray | None = None
) -> dict[str, Any]:
    """The table row of one layer (never raises for bad weights: failed rows carry a reason).

    ``weights``: the already loaded ``spec.load()`` (loaded here when None).
    """
    row = _empty_row(spec, opts)
    if is_skipped(spec):
        row["status"] = SKIPPED
        row["reason"] = spec.reason or "no weights to analyse"
        return row
    assert spec.load is not None
    # (S, N, M) in the loaded dtype (float32 for half/single precision weights, a memory map
    # or a transposed view possibly): the Gram product widens it to float64 in row blocks
    slices = as_stack(spec.load() if weights is None else weights)
    s, n, m = slices.shape
    row.update(N=n, M=m, rf=s, Q=n / m if m else math.nan, num_evals=s * m)
    if slices.size == 0:
        row["reason"] = f"empty weight matrix of shape {slices.shape}"
        return row
    if not all_finite(slices):
        row["reason"] = "weights contain NaN/Inf"
        return row

    scale = esd_mod.WW_CONV_SCALE if (opts.ww and spec.conv_slices) else 1.0
    if opts.farms is not None:
        slices = submatrices(slices, opts.farms)  # (K, n, m) windows of one aspect ratio
        row.update(num_evals=slices.shape[0] * slices.shape[2])
    slice_evals = esd_mod.fitted_eigenvalues(
        slices,
        ww=opts.ww,
        conv_slices=spec.conv_slices,
        device=opts.device,
        precision=opts.precision,
    )  # (S, M)
    evals = np.sort(slice_evals.ravel())
    lmax = float(evals[-1])
    row.update(has_esd=True, lambda_max=lmax)
    row.update(met.ww_rank_metrics(slice_evals, n) if opts.ww else met.rank_metrics(evals, m))

    if lmax <= 0.0:
        fit: PowerLawFit = failed_fit("zero matrix: all eigenvalues are 0")
    elif not opts.tail.is_default:
        floor = WW_EVALS_THRESH if opts.ww else met.zero_floor(lmax, m)
        tail = fit_tail(evals, opts.tail, floor=floor, small_n=opts.ww)
        fit = tail.fit
        row.update(tail.extra)
    elif opts.ww:
        fit = fit_power_law(evals, floor=WW_EVALS_THRESH, small_n=True)
    else:
        fit = fit_power_law(evals, floor=met.zero_floor(lmax, m))
    row.update(
        alpha=fit.alpha,
        xmin=fit.xmin,
        xmax=fit.xmax,
        D=fit.D,
        sigma=fit.sigma,
        num_pl_spikes=fit.num_pl_spikes if fit.ok else math.nan,
        status=SUCCESS if fit.ok else FAILED,
        warning=_label(fit.alpha) if fit.ok else "",
        reason=fit.reason,
    )
    row.update(met.norm_metrics(evals, fit.alpha))

    if opts.mp_fit:
        mp = fit_mp(evals, n=n, m=m) if lmax > 0 else failed_mp("zero matrix")
        row.update(mp.columns())
        _note(row, mp.reason)
    if opts.randomize:
        full = esd_mod.as_slices(slices)  # float64 C-contiguous, shuffled in place of the weights
        row.update(_randomized(full, evals, scale, n, m, spec, opts))
    return row


def _note(row: dict[str, Any], reason: str) -> None:
    """Append a secondary reason (MP/randomize trouble) without failing the layer."""
    if reason:
        row["reason"] = f"{row['reason']}; {reason}" if row["reason"] else reason


def _randomized(
    slices: np.ndarray,
    evals: np.ndarray,
    scale: float,
    n: int,
    m: int,
    spec: LayerSpec,
    opts: Options,
) -> dict[str, Any]:
    rng = _layer_rng(opts.seed, spec)
    s = slices.shape[0]
    n_comp = m * s
    kw: dict[str, Any] = {"scale": scale, "rng": rng, "device": opts.device}
    kw.update(precision=opts.precision)
    rand = rnd.randomized_evals(slices, replicas=rnd.replicas_for(n_comp), **kw)
    single = rnd.randomized_evals(slices, replicas=1, **kw)
    lmax, rmax = float(evals[-1]), float(rand[-1])
    if rmax > 0:
        floor = WW_EVALS_THRESH if opts.ww else met.zero_floor(rmax, m)
        rfit = fit_power_law(rand, floor=floor, small_n=opts.ww)
        mp: MPFit = fit_mp(rand, n=n, m=m)
    else:
        rfit, mp = failed_fit("zero matrix"), failed_mp("zero matrix")
    out: dict[str, Any] = {
        "max_rand_eval": rmax,
        "rand_distance": rnd.js_rank_distance(evals, single) if lmax > 0 else math.nan,
        "rand_ks": rnd.ks_two_sample(evals, rand),
        "rand_alpha": rfit.alpha,
        "ww_softrank": float(single[-1]) / lmax if lmax > 0 else math.nan,
        "ww_maxdist": lmax - float(single[-1]),
    }
    out.update(mp.columns("rand_"))
    out["num_traps"] = out["rand_num_spikes"]
    return out
