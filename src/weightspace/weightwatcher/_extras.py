"""``SVDSmoothing``, ``SVDSharpness`` and ``distances`` as WeightWatcher methods (the maths
is in ``_transforms.py``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from weightspace.errors import ConfigError
from weightspace.spectral.analyze import analyze_specs
from weightspace.spectral.esd import as_slices, fitted_eigenvalues, shuffle_slices
from weightspace.weightwatcher import _layers, _transforms
from weightspace.weightwatcher._options import UnsupportedOption

DEFAULTS = {"min_evals": 8, "max_evals": 15000, "max_n": 50000, "conv2d_norm": True}


class TransformMethods:
    """Mixed into :class:`WeightWatcher` (which provides ``_rows``, ``_set_model``, ``model``)."""

    model: Any

    def _set_model(self, model: Any, base_model: Any = None) -> None:
        raise NotImplementedError  # provided by WeightWatcher

    def _layer_rows(self, layers: Any, start_ids: int, pool: bool = True) -> list[_layers.Row]:
        rows = self._rows(  # type: ignore[attr-defined]
            layers=layers, pool=pool, start_ids=start_ids, peft=False, **DEFAULTS
        )
        return [r for r in rows if not r.skip]

    def SVDSmoothing(
        self, model: Any = None, percent: float = 0.8, pool: bool = True, layers: Any = [],  # noqa: B006
        method: str = "detX", fit: str = "PL", plot: bool = False, start_ids: int = 0,
        svd_method: str = "fast",
    ) -> Any:  # fmt: skip
        """Keep each layer's top singular values (see ``_transforms``); returns the model,
        changed in place."""
        if not pool:
            raise ConfigError("SVDSmoothing supports pool=True only (as WeightWatcher)")
        if method not in _transforms.SMOOTHING_METHODS:
            raise UnsupportedOption(
                f"SVDSmoothing method={method!r} is not implemented by weightspace.weightwatcher"
                f"; use one of {_transforms.SMOOTHING_METHODS}"
            )
        if fit != "PL" or plot:
            raise UnsupportedOption("SVDSmoothing: only fit='PL' and plot=False are implemented")
        if svd_method not in ("fast", "accurate"):
            raise ConfigError(f"svd_method={svd_method!r}; use 'fast' or 'accurate'")
        self._set_model(model)
        for row in self._layer_rows(layers, start_ids):
            evals = _evals(row)
            spikes = None
            if method == "alpha_min":
                table = analyze_specs([row.spec], compat="ww")
                spikes = int(table.num_pl_spikes.iloc[0]) if table.alpha.notna().all() else None
            k = _transforms.smoothing_count(method, percent, row, evals, spikes)
            _transforms.apply_truncation(self.model, row, k)
        return self.model

    def SVDSharpness(
        self, model: Any = None, pool: bool = True, layers: Any = [], plot: bool = False,  # noqa: B006
        start_ids: int = 0,
    ) -> Any:  # fmt: skip
        """Drop each layer's top singular values that a shuffled copy of it does not have
        (k = MP spikes of the shuffled ESD); returns the model, changed in place."""
        if not pool:
            raise ConfigError("SVDSharpness supports pool=True only (as WeightWatcher)")
        if plot:
            raise UnsupportedOption("SVDSharpness: plot=True is not implemented")
        self._set_model(model)
        rng = np.random.default_rng(0)
        for row in self._layer_rows(layers, start_ids):
            assert row.spec.load is not None
            slices = shuffle_slices(as_slices(row.spec.load()), rng)
            n, m = int(row.spec.extra["N"]), int(row.spec.extra["M"])  # type: ignore[call-overload]
            k = _transforms.sharpness_count(fitted_eigenvalues(slices, ww=True), n, m)
            _transforms.apply_truncation(self.model, row, -k)
        return model

    def distances(
        self, model_1: Any, model_2: Any, method: str = "raw", layers: Any = [],  # noqa: B006
        start_ids: int = 0, pool: bool = True, channels: Any = None,
    ) -> tuple[float, float, Any]:  # fmt: skip
        """Per-layer distance between two models with the same layers: (mean ΔW, mean Δb,
        table). ``method``: 'raw' (‖W1 − W2‖ of the tensors, and of the biases),
        'euclidean' (of the weight matrices, averaged over kernel positions) or 'cka'."""
        if channels is not None:
            raise UnsupportedOption("distances: channels is not implemented; omit it")
        method = (method or "raw").lower()
        if method not in ("raw", "euclidean", "cka"):
            raise ConfigError(f"distances method={method!r}; use 'raw', 'euclidean' or 'cka'")
        per_model = []
        for m in (model_1, model_2):
            self._set_model(m)
            per_model.append((m, self._layer_rows(layers, start_ids, pool)))
        records = []
        for r1, r2 in zip(per_model[0][1], per_model[1][1], strict=False):
            rec: dict[str, Any] = {"layer_id": r1.layer_id, "name": r1.name}
            rec.update(longname=r1.longname, method=method)
            if not pool:
                rec["slice_id"] = r1.slice_id  # after longname, as WeightWatcher
            if method == "raw":
                w1, b1 = _raw(per_model[0][0], r1)
                w2, b2 = _raw(per_model[1][0], r2)
                rec.update(M=min(w1.shape), N=max(w1.shape),
                           delta_W=_transforms.distance(w1, w2, method))  # fmt: skip
                same_b = b1 is not None and b2 is not None and len(b1) == len(b2)
                rec["b_shape"] = len(b1) if same_b else "unknown"  # type: ignore[arg-type]
                rec["delta_b"] = (
                    _transforms.distance(b1, b2, method)  # type: ignore[arg-type]
                    if same_b
                    else 0
                )
            else:
                m1, m2 = _layers.ww_matrices(r1), _layers.ww_matrices(r2)
                d = [_transforms.distance(a, b, method) for a, b in zip(m1, m2, strict=True)]
                rec.update(M=min(m1[0].shape), N=max(m1[0].shape), delta_W=float(np.mean(d)),
                           b_shape="unknown", delta_b=0.0)  # fmt: skip
            records.append(rec)
        return _transforms.distance_table(records)


def _evals(row: _layers.Row) -> np.ndarray:
    assert row.spec.load is not None
    return np.sort(fitted_eigenvalues(as_slices(row.spec.load()), ww=True).ravel())


def _raw(model: Any, row: _layers.Row) -> tuple[np.ndarray, np.ndarray | None]:
    """The layer's weight tensor and bias (None without one), as numpy; a torch module's
    bias counts for dense layers only (as in WeightWatcher)."""
    w, _ = _transforms.weight_of(model, row)
    if hasattr(model, "named_modules"):
        module = dict(model.named_modules())[row.longname]
        bias = getattr(module, "bias", None) if row.layer_type == "dense" else None
    else:
        bias = model.get(f"{row.longname}.bias")
    if bias is not None and hasattr(bias, "detach"):
        bias = bias.detach().cpu().numpy()
    return w, None if bias is None else np.asarray(bias, dtype=np.float64)
