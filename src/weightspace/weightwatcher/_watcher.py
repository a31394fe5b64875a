"""``WeightWatcher``: WeightWatcher 0.7.7's interface on weightspace's engine (compat="ww")."""

from __future__ import annotations

import logging
import numbers
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from weightspace.errors import ConfigError
from weightspace.spectral.analyze import analyze_specs
from weightspace.spectral.delta import delta_specs
from weightspace.spectral.esd import as_slices, fitted_eigenvalues, shuffle_slices
from weightspace.spectral.farms import FarmsOptions
from weightspace.spectral.load_flatfiles import is_flatfile_dir, read_ww_config
from weightspace.spectral.load_onnx import OnnxStore
from weightspace.threads import current_threads
from weightspace.weightwatcher import _layers, _params
from weightspace.weightwatcher._extras import TransformMethods
from weightspace.weightwatcher._iterator import IteratorMethods
from weightspace.weightwatcher._options import (
    DEF_SAVE_DIR,
    DEFAULT_FINGER_THRESH,
    DEFAULT_MAX_EVALS,
    DEFAULT_MAX_FINGERS,
    DEFAULT_MAX_N,
    DEFAULT_MIN_EVALS,
    WEAK_RANK_LOSS_TOLERANCE,
    UnsupportedOption,
    check_limits,
    refuse_unsupported,
    tail_options,
)
from weightspace.weightwatcher._peft import peft_rows
from weightspace.weightwatcher._plots import layer_figures
from weightspace.weightwatcher.constants import DEFAULT_PARAMS

log = logging.getLogger(__name__)

BASE_COLUMNS = [
    "D", "M", "N", "Q", "alpha", "alpha_weighted", "entropy", "has_esd", "lambda_max",
    "layer_type", "log_alpha_norm", "log_norm", "log_spectral_norm", "longname", "matrix_rank",
    "norm", "num_evals", "num_pl_spikes", "rank_loss", "rf", "sigma", "spectral_norm",
    "stable_rank", "status", "sv_max", "sv_min", "warning", "weak_rank_loss", "xmax", "xmin",
]  # fmt: skip
MP_COLUMNS = ["W_scale", "bulk_max", "bulk_min", "mp_softrank", "num_spikes", "sigma_mp"]
RAND_COLUMNS = [
    "max_rand_eval", "num_traps", "rand_W_scale", "rand_bulk_max", "rand_bulk_min",
    "rand_distance", "rand_mp_softrank", "rand_num_spikes", "rand_sigma_mp", "ww_maxdist",
    "ww_softrank",
]  # fmt: skip
DESCRIBE_COLUMNS = ["M", "N", "Q", "layer_type", "longname", "num_evals", "rf"]
INT_COLUMNS = {
    "layer_id", "M", "N", "num_evals", "rf", "matrix_rank", "num_pl_spikes", "rank_loss",
    "weak_rank_loss", "slice_id", "num_fingers", "num_spikes", "rand_num_spikes", "num_traps",
}  # fmt: skip
SUMMARY_METRICS = [
    "log_norm", "alpha", "alpha_weighted", "log_alpha_norm", "log_spectral_norm",
    "stable_rank", "mp_softrank",
]  # fmt: skip


def _is_int(x: Any) -> bool:
    """An integer id (numpy integers included, bools not)."""
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


# params= keys of get_ESD/get_Weights that change nothing there (or are checked elsewhere)
_INERT_PARAMS = {"svd_method", "savefig", "savedir", "plot", "randomize", "mp_fit"}


def _check_params(params: Any) -> None:
    """``params=`` of get_ESD/get_Weights: accepted while it only repeats defaults."""
    if params is None:
        return
    changed = [
        k
        for k, v in params.items()
        if k not in _INERT_PARAMS and (k not in DEFAULT_PARAMS or DEFAULT_PARAMS[k] != v)
    ]
    if changed:
        raise UnsupportedOption(
            f"params= with {sorted(changed)} changed is not implemented by "
            "weightspace.weightwatcher; pass the defaults or omit params"
        )


def _check_savefig(savefig: Any) -> None:
    if not isinstance(savefig, str | bool):
        raise ConfigError(f"savefig must be True/False or a directory name, got {savefig!r}")


def _frame(records: list[dict[str, Any]], cols: list[str]) -> pd.DataFrame:
    """WeightWatcher's layout: layer_id, name, then the other columns sorted by name."""
    order = ["layer_id", "name", *sorted(c for c in cols if c not in ("layer_id", "name"))]
    frame = pd.DataFrame.from_records(records, columns=order)
    for col in order:
        if col in INT_COLUMNS and len(frame) and frame[col].notna().all():
            frame[col] = frame[col].astype(np.int64)
    return frame


def _onnx_as_dict(model: Any) -> Any:
    """An in-memory ``onnx.ModelProto`` as a state dict of its weight tensors."""
    if type(model).__name__ != "ModelProto":
        return model
    store = OnnxStore(model)
    return {name: store.read(name) for name in store.names()}


class WeightWatcher(TransformMethods, IteratorMethods):
    """Drop-in for ``weightwatcher.WeightWatcher`` (0.7.7): same methods, arguments, defaults
    and result columns; implemented options give WeightWatcher's numbers, the others raise
    :class:`UnsupportedOption`. See ``docs/weightwatcher.md``.

    ``model``: a ``torch.nn.Module`` (a ``PeftModel`` included), a state dict, or a path
    (weights file, sharded or flat-file directory, ONNX file, PEFT adapter directory).
    """

    def __init__(
        self,
        model: Any = None,
        framework: Any = None,
        base_model: Any = None,
        log_level: Any = None,
    ) -> None:
        if framework is not None:
            raise UnsupportedOption(
                f"WeightWatcher option framework={framework!r} is not implemented: weightspace "
                "infers the input kind (torch module, state dict, file or directory); omit it"
            )
        if log_level is not None:
            log.setLevel(log_level)  # this module's logger only
        self.model = _onnx_as_dict(model)
        self.base_model = _onnx_as_dict(base_model)
        self.details: pd.DataFrame | None = None
        self.skipped: pd.DataFrame | None = None  # rows WeightWatcher leaves out, with reasons
        self.results: Any = None  # as WeightWatcher 0.7.7 (which never fills it)

    def __repr__(self) -> str:
        return f"\nAnalysis done: {self.details is not None}"

    # WeightWatcher's static helpers on option dictionaries
    valid_params = staticmethod(_params.valid_params)
    layer_type_from_str = staticmethod(_params.layer_type_from_str)

    def normalize_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """WeightWatcher's option aliases resolved in place (PL -> power_law, ...)."""
        return _params.normalize_params(params)

    def _set_model(self, model: Any, base_model: Any = None) -> None:
        if model is not None:
            self.model = _onnx_as_dict(model)
        if base_model is not None:
            self.base_model = _onnx_as_dict(base_model)
        if self.model is None:
            raise ConfigError("no model: pass model= to WeightWatcher(...) or to this method")

    # -- layer rows -------------------------------------------------------------------------

    def _rows(
        self,
        *,
        layers: Any,
        min_evals: int,
        max_evals: int,
        max_n: int,
        pool: bool,
        conv2d_norm: bool,
        start_ids: int,
        peft: Any,
    ) -> list[_layers.Row]:
        if peft and self.base_model is not None:
            raise UnsupportedOption(
                "peft with a base_model: WeightWatcher 0.7.7 then ignores peft and differences "
                "the layers; use peft='with_base' (W + B·A rows) on the PeftModel, or "
                "weightspace.spectral.delta.lora_specs(adapter_dir, base=state_dict)"
            )
        rows = _layers.base_rows(self.model, start_ids=int(start_ids), conv2d_norm=conv2d_norm)
        if self.base_model is not None:
            base = _layers.base_rows(self.base_model, conv2d_norm=conv2d_norm)
            specs = delta_specs([r.spec for r in rows], [r.spec for r in base])
            rows = [replace(r, spec=s) for r, s in zip(rows, specs, strict=True)]
            rows = [r if r.spec.load else replace(r, skip=r.spec.reason) for r in rows]
        rows = _layers.select(rows, layers)
        rows = _layers.apply_limits(
            rows, min_evals=min_evals, max_evals=max_evals, max_n=max_n, pool=pool
        )
        if peft:  # WeightWatcher's LoRA iterator replaces pooling options
            return peft_rows(rows, peft)
        return rows if pool else _layers.unpool(rows)

    # -- public API ---------------------------------------------------------------------------

    def describe(
        self,
        model: Any = None,
        layers: Any = [],  # noqa: B006 - WeightWatcher's signature
        min_evals: int = DEFAULT_MIN_EVALS,
        max_evals: int = DEFAULT_MAX_EVALS,
        min_size: Any = None,
        max_size: Any = None,
        max_N: int = DEFAULT_MAX_N,
        glorot_fix: bool = False,
        savefig: Any = DEF_SAVE_DIR,
        ww2x: bool = False,
        pool: bool = True,
        conv2d_fft: bool = False,
        fft: bool = False,
        conv2d_norm: bool = True,
        intra: bool = False,
        channels: Any = None,
        stacked: bool = False,
        start_ids: int = 0,
        base_model: Any = None,
        peft: Any = False,
    ) -> pd.DataFrame:
        """The layers ``analyze`` would analyse, with their shapes (no eigenvalues computed)."""
        refuse_unsupported(
            {"min_size": min_size, "max_size": max_size, "glorot_fix": glorot_fix,
             "conv2d_fft": conv2d_fft, "fft": fft, "intra": intra, "channels": channels,
             "stacked": stacked}
        )  # fmt: skip
        _check_savefig(savefig)
        self._set_model(model, base_model)
        pool = pool and not ww2x
        lim = check_limits(min_evals, max_evals, max_N)
        rows = self._rows(
            layers=layers, min_evals=lim[0], max_evals=lim[1], max_n=lim[2], pool=pool,
            conv2d_norm=conv2d_norm, start_ids=start_ids, peft=peft,
        )  # fmt: skip
        records = []
        for r in rows:
            if r.skip:
                continue
            n, m = int(r.spec.extra["N"]), int(r.spec.extra["M"])  # type: ignore[call-overload]
            rec = {
                "layer_id": r.layer_id, "name": r.name, "longname": r.longname,
                "layer_type": r.layer_type, "N": n, "M": m, "rf": r.rf, "Q": n / m,
                "num_evals": m * r.rf if pool else m,
            }  # fmt: skip
            if peft:
                rec["peft"] = bool(r.peft)
            elif not pool:
                rec["slice_id"] = r.slice_id
            records.append(rec)
        cols = DESCRIBE_COLUMNS + (["peft"] if peft else [] if pool else ["slice_id"])
        return _frame(records, ["layer_id", "name", *cols])

    # over 80 lines only by WeightWatcher's signature (40 keyword arguments) and its docs
    def analyze(
        self,
        model: Any = None,
        layers: Any = [],  # noqa: B006 - WeightWatcher's signature
        min_evals: int = DEFAULT_MIN_EVALS,
        max_evals: int = DEFAULT_MAX_EVALS,
        min_size: Any = None,
        max_size: Any = None,
        max_N: int = DEFAULT_MAX_N,
        glorot_fix: bool = False,
        plot: bool = False,
        randomize: bool = False,
        savefig: Any = DEF_SAVE_DIR,
        mp_fit: bool = False,
        conv2d_norm: bool = True,
        ww2x: bool = False,
        pool: bool = True,
        conv2d_fft: bool = False,
        fft: bool = False,
        deltas: bool = False,
        intra: bool = False,
        vectors: bool = False,
        channels: Any = None,
        stacked: bool = False,
        fix_fingers: Any = False,
        xmin_max: Any = None,
        max_fingers: Any = DEFAULT_MAX_FINGERS,
        finger_thresh: float = DEFAULT_FINGER_THRESH,
        fit: str = "PL",
        sparsify: bool = True,
        detX: bool = False,
        ERG: bool = False,
        svd_method: str = "fast",
        tolerance: float = WEAK_RANK_LOSS_TOLERANCE,
        start_ids: int = 0,
        pl_package: str = "ww",
        xmax: Any = None,
        base_model: Any = None,
        peft: Any = False,
        inverse: bool = False,
        *,
        farms: Any = False,
    ) -> pd.DataFrame:
        """Per-layer ESD metrics with WeightWatcher 0.7.7's columns (see the module docs).

        ``farms`` (weightspace only): True or a :class:`FarmsOptions` to fit the pooled ESD of
        fixed-aspect-ratio submatrices instead (removes the aspect-ratio bias of alpha).
        """
        refuse_unsupported(
            {"min_size": min_size, "max_size": max_size, "glorot_fix": glorot_fix,
             "conv2d_fft": conv2d_fft, "fft": fft, "deltas": deltas, "intra": intra,
             "vectors": vectors, "channels": channels, "stacked": stacked, "detX": detX,
             "ERG": ERG, "tolerance": tolerance, "inverse": inverse}
        )  # fmt: skip
        if svd_method not in ("fast", "accurate"):
            raise ConfigError(f"svd_method={svd_method!r}; use 'fast' or 'accurate'")
        if not _is_int(start_ids) or start_ids < 0:
            raise ConfigError(f"start_ids must be an integer >= 0, got {start_ids!r}")
        tail = tail_options(
            fit=fit, fix_fingers=fix_fingers, xmin_max=xmin_max, max_fingers=max_fingers,
            finger_thresh=finger_thresh, pl_package=pl_package, xmax=xmax,
        )  # fmt: skip
        _check_savefig(savefig)
        self._set_model(model, base_model)
        pool = pool and not ww2x
        lim = check_limits(min_evals, max_evals, max_N)
        rows = self._rows(
            layers=layers, min_evals=lim[0], max_evals=lim[1], max_n=lim[2], pool=pool,
            conv2d_norm=conv2d_norm, start_ids=start_ids, peft=peft,
        )  # fmt: skip
        todo = [r for r in rows if not r.skip]
        self._note_skipped(rows)
        table = analyze_specs(
            [r.spec for r in todo], compat="ww", mp_fit=mp_fit, randomize=randomize,
            workers=max(1, current_threads()), tail=tail,
            farms=FarmsOptions() if farms is True else (farms or None),
        )  # fmt: skip
        cols = list(BASE_COLUMNS) + tail.columns()
        cols += MP_COLUMNS if mp_fit else []
        cols += RAND_COLUMNS if randomize else []
        cols += ["peft"] if peft else [] if pool else ["slice_id"]
        records = []
        for r, (_, eng) in zip(todo, table.iterrows(), strict=True):
            rec = {c: eng[c] for c in cols if c in eng.index}
            rec.update(layer_id=r.layer_id, name=r.name, longname=r.longname)
            rec.update(layer_type=r.layer_type, rf=r.rf)
            if peft:
                rec["peft"] = bool(r.peft)
                if r.full_shape is not None:  # a LoRA update: its top r eigenvalues
                    rec.update(N=r.full_shape[0], M=r.full_shape[1])
                    rec["Q"] = r.full_shape[0] / r.full_shape[1]
            elif not pool:
                rec.update(slice_id=r.slice_id, num_evals=eng["M"])
            records.append(rec)
        self.engine_details = table  # weightspace's own columns (reason, compat, ...)
        self.details = _frame(records, ["layer_id", "name", *cols])
        if plot:
            savedir = DEF_SAVE_DIR if savefig is True else (savefig or None)
            self._plot(todo, records, savedir=savedir, mp_fit=mp_fit, randomize=randomize)
        return self.details

    def _plot(self, rows: list[_layers.Row], records: list[dict[str, Any]], *,
              savedir: str | None, mp_fit: bool, randomize: bool) -> None:  # fmt: skip
        """WeightWatcher's figures of each analysed layer (see ``_plots``)."""
        for r, rec in zip(rows, records, strict=True):
            if not rec.get("has_esd") or r.spec.load is None:
                continue
            slices = as_slices(r.spec.load())
            evals = fitted_eigenvalues(slices, ww=True, conv_slices=r.spec.conv_slices).ravel()
            rand = None
            if randomize:
                shuffled = shuffle_slices(slices, np.random.default_rng(0))
                rand = fitted_eigenvalues(shuffled, ww=True, conv_slices=r.spec.conv_slices)
            plot_id = f"{r.layer_id}" if r.slice_id is None else f"{r.layer_id}:{r.slice_id}"
            layer_figures(evals, rec, savedir=savedir, plot_id=plot_id, mp_fit=mp_fit,
                          rand_evals=None if rand is None else rand.ravel())  # fmt: skip

    def _note_skipped(self, rows: list[_layers.Row]) -> None:
        skipped = [
            {"layer_id": r.layer_id, "name": r.name, "longname": r.longname, "reason": r.skip}
            for r in rows
            if r.skip
        ]
        self.skipped = pd.DataFrame(skipped, columns=["layer_id", "name", "longname", "reason"])
        if skipped:
            log.warning(
                "%d layer(s) not analysed (see .skipped for the reasons): %s",
                len(skipped),
                ", ".join(f"{s['longname']} ({s['reason']})" for s in skipped[:5])
                + (" ..." if len(skipped) > 5 else ""),
            )

    def get_details(self) -> pd.DataFrame | None:
        """The table of the last ``analyze``."""
        return self.details

    def get_summary(self, details: pd.DataFrame | None = None) -> dict[str, float]:
        """Means of the summary metrics present in ``details`` (default: the last analysis)."""
        frame = self.details if details is None else details
        if frame is None:
            return {}
        return {m: float(frame[m].mean()) for m in SUMMARY_METRICS if m in frame.columns}

    def _one_row(self, model: Any, layer: Any, params: Any) -> _layers.Row:
        _check_params(params)
        self._set_model(model)
        rows = [r for r in self._rows(
            layers=[], min_evals=DEFAULT_MIN_EVALS, max_evals=DEFAULT_MAX_EVALS,
            max_n=DEFAULT_MAX_N, pool=True, conv2d_norm=True, start_ids=0, peft=False,
        ) if not r.skip]  # fmt: skip
        hit = [r for r in rows if (r.layer_id == layer if _is_int(layer) else r.name == layer)]
        if not hit:
            ids = ", ".join(f"{r.layer_id}:{r.name}" for r in rows[:20])
            raise ConfigError(f"layer={layer!r} is not an analysed layer; have (id:name) {ids}")
        return hit[0]

    def get_ESD(
        self, model: Any = None, layer: Any = None, random: bool = False, params: Any = None
    ) -> np.ndarray:
        """Sorted eigenvalues of WᵀW pooled over the layer's slices.

        As in WeightWatcher 0.7.7, no conv2d_norm scaling is applied here (``analyze`` halves
        conv eigenvalues); ``random=True``: of the weights shuffled (seed 0).
        """
        row = self._one_row(model, layer, params)
        assert row.spec.load is not None
        slices = as_slices(row.spec.load())
        if random:
            slices = shuffle_slices(slices, np.random.default_rng(0))
        evals = fitted_eigenvalues(slices, ww=True)  # no conv2d_norm here, as WeightWatcher
        return np.sort(evals.ravel())

    def get_Weights(
        self, model: Any = None, layer: Any = None, params: Any = None
    ) -> list[np.ndarray]:
        """The layer's weight matrices: a dense layer's as stored (out, in), a conv layer's
        kernel slices with N >= M (as WeightWatcher)."""
        return _layers.ww_matrices(self._one_row(model, layer, params))

    def get_framework_layer(self, model: Any = None, layer: Any = None, params: Any = None) -> Any:
        """The framework's own layer object: the ``torch.nn.Module`` of a torch model, a flat-file
        directory's config entry (a dict), else the layer's name (as WeightWatcher)."""
        row = self._one_row(model, layer, params)
        if hasattr(self.model, "named_modules"):
            return dict(self.model.named_modules())[row.longname]
        if isinstance(self.model, str | os.PathLike) and is_flatfile_dir(Path(self.model)):
            key = str(row.spec.extra.get("tensor", ""))
            return next(f.entry for f in read_ww_config(Path(self.model)) if f.key == key)
        return row.longname
