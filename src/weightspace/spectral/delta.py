"""Fine-tuning deltas: ΔW = W − W_base per layer, and LoRA/PEFT adapter updates.

- :func:`delta_specs` pairs the layers of a model with those of its base (same ``longname``
  and shape) and yields specs whose ``load()`` returns W − W_base (slice by slice, float64).
- :func:`lora_specs` reads a PEFT adapter directory (``adapter_config.json`` +
  ``adapter_model.safetensors``). For every adapted Linear layer (A: (r, in), B: (out, r),
  scale = lora_alpha / r, or / sqrt(r) with ``use_rslora``) it yields

  * ``<path>.lora_BA``: the update ΔW = scale·B·A. Its nonzero eigenvalues are those of an
    r×r core: with B = Q_B R_B and Aᵀ = Q_A R_A (thin QR), ΔW = Q_B (scale·R_B R_Aᵀ) Q_Aᵀ,
    so the singular values of ΔW are those of the core, computed without any out×in product;
    the row's ESD holds these r eigenvalues (the other min(out, in) − r are exactly 0) and
    its ``N``/``M`` are the core's;
  * ``<path>.merged`` (when base weights are given): W_base + scale·B·A, a dense matrix
    (its spectrum has no smaller equivalent).
- :func:`weight_delta_table`: per layer of two checkpoints (e.g. a run's initial and final weights),
  the ESD metrics of ΔW, the relative change and the singular-subspace overlap.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from weightspace.errors import CheckpointError
from weightspace.spectral.analyze import analyze_specs
from weightspace.spectral.extract import iter_layers
from weightspace.spectral.layers import LayerSpec
from weightspace.spectral.overlap import overlap_table
from weightspace.spectral.slices import (
    as_slices,
    make_spec,
    skipped_spec,
    tensor_to_numpy,
    to_slices,
)

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"


def _difference(
    load: Callable[[], np.ndarray], base: Callable[[], np.ndarray]
) -> Callable[[], np.ndarray]:
    def delta() -> np.ndarray:
        w = as_slices(load(), copy=True)  # float64, C-contiguous, ours to write
        w -= base()  # (S, N, M) in the same orientation; float32 operands widen exactly
        return w

    return delta


def delta_specs(specs: Iterable[LayerSpec], base_specs: Iterable[LayerSpec]) -> Iterator[LayerSpec]:
    """Specs of ΔW = W − W_base; layers missing from the base (or reshaped) become skipped."""
    base = {s.longname: s for s in base_specs}
    for spec in specs:
        other = base.get(spec.longname)
        if spec.load is None or spec.status == "skipped":
            yield spec
            continue
        shape, base_shape = (
            spec.extra.get("shape"),
            None if other is None else other.extra.get("shape"),
        )
        if other is None or other.load is None or shape != base_shape:
            why = (
                f"no layer {spec.longname!r} in the base model"
                if other is None or other.load is None
                else f"shape {shape} differs from the base's {base_shape}"
            )
            yield replace(spec, load=None, status="skipped", reason=f"ΔW: {why}")
            continue
        yield replace(spec, load=_difference(spec.load, other.load))


def lora_scale(config: Mapping[str, Any], r: int) -> float:
    alpha = float(config.get("lora_alpha", r))
    return alpha / math.sqrt(r) if config.get("use_rslora") else alpha / r


def read_adapter(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(adapter config, tensors by name) of a PEFT adapter directory."""
    root = Path(path)
    cfg_path, w_path = root / ADAPTER_CONFIG, root / ADAPTER_WEIGHTS
    if not cfg_path.is_file() or not w_path.is_file():
        raise CheckpointError(
            f"{str(root)!r} is not a PEFT adapter directory: it needs {ADAPTER_CONFIG} and "
            f"{ADAPTER_WEIGHTS} (save it with peft's model.save_pretrained(dir))"
        )
    try:
        config = json.loads(cfg_path.read_text())
    except ValueError as err:
        raise CheckpointError(f"cannot read {str(cfg_path)!r} as JSON ({err})") from None
    for key in ("rank_pattern", "alpha_pattern"):
        if config.get(key):
            raise CheckpointError(
                f"{str(cfg_path)!r} sets {key}; per-module ranks/alphas are not supported yet. "
                "Merge the adapter (peft merge_and_unload) and analyse the merged weights"
            )
    from safetensors.numpy import load_file

    try:
        tensors = load_file(str(w_path))
    except Exception as err:  # any failure is the file's
        raise CheckpointError(f"cannot read {str(w_path)!r} ({err})") from None
    return config, dict(tensors)


def _module_path(key: str) -> str:
    path = key.split(".lora_", 1)[0]
    for prefix in ("base_model.model.",):
        if path.startswith(prefix):
            path = path[len(prefix) :]
    return path


def lora_core(a: np.ndarray, b: np.ndarray, scale: float) -> np.ndarray:
    """r×r matrix with the singular values of scale·B·A (A: (r, in), B: (out, r))."""
    _, r_b = np.linalg.qr(np.asarray(b, dtype=np.float64))  # (r, r)
    _, r_a = np.linalg.qr(np.asarray(a, dtype=np.float64).T)  # (r, r)
    return scale * (r_b @ r_a.T)


def lora_specs(
    path: str | os.PathLike[str], *, base: Mapping[str, Any] | None = None
) -> Iterator[LayerSpec]:
    """Rows of a PEFT LoRA adapter: each update (``.lora_BA``) and, with ``base``, the merged
    weight (``.merged``). ``base``: the base model's state dict (``<path>.weight`` tensors)."""
    config, tensors = read_adapter(path)
    pairs: dict[str, dict[str, np.ndarray]] = {}
    for key, t in tensors.items():
        if ".lora_A." in key or ".lora_B." in key:
            part = "A" if ".lora_A." in key else "B"
            pairs.setdefault(_module_path(key), {})[part] = t
    for layer_id, (mod, ab) in enumerate(pairs.items()):
        a, b = ab.get("A"), ab.get("B")
        if a is None or b is None or a.ndim != 2 or b.ndim != 2 or b.shape[1] != a.shape[0]:
            yield skipped_spec(
                layer_id=layer_id,
                name="LoRA",
                longname=f"{mod}.lora_BA",
                layer_type="lora",
                reason="LoRA factors missing, not 2-D (conv adapters) or not aligned",
            )
            continue
        r = int(a.shape[0])
        scale = lora_scale(config, r)
        core = lora_core(a, b, scale)
        out_in = (int(b.shape[0]), int(a.shape[1]))
        yield make_spec(
            layer_id=layer_id,
            name="LoRA",
            longname=f"{mod}.lora_BA",
            layer_type="lora",
            shape=core.shape,
            load=_const(core),
            extra={"rank": r, "scale": scale, "update_shape": out_in},
        )
        if base is None:
            continue
        w0 = base.get(f"{mod}.weight")
        if w0 is None or tuple(w0.shape) != out_in:
            yield skipped_spec(
                layer_id=layer_id,
                name="LoRA",
                longname=f"{mod}.merged",
                layer_type="lora",
                reason=f"base weight {mod}.weight missing or not of shape {out_in}",
            )
            continue
        yield make_spec(
            layer_id=layer_id,
            name="LoRA",
            longname=f"{mod}.merged",
            layer_type="lora",
            shape=out_in,
            load=_merged(w0, a, b, scale),
            extra={"rank": r, "scale": scale},
        )


def _const(arr: np.ndarray) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        return to_slices(arr)

    return load


def _merged(w0: Any, a: np.ndarray, b: np.ndarray, scale: float) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        w = np.asarray(w0, dtype=np.float64) if isinstance(w0, np.ndarray) else tensor_to_numpy(w0)
        w = np.array(w, dtype=np.float64)  # (out, in) fresh copy
        w += scale * (b.astype(np.float64) @ a.astype(np.float64))
        return to_slices(w)

    return load


WEIGHT_DELTA_METRICS = ("alpha", "log_norm", "log_spectral_norm", "stable_rank", "lambda_max")


def weight_delta_table(
    before: Any, after: Any, *, k: int = 10, compat: str | None = None
) -> pd.DataFrame:
    """Per layer, how training changed it: ΔW = W_after − W_before and the subspace rotation.

    ``before``/``after``: anything :func:`iter_layers` takes (e.g. a run's initial and final
    weights files). Columns: ``layer_id, longname``, ``delta_<metric>`` for the ESD metrics of
    ΔW (:data:`WEIGHT_DELTA_METRICS`), ``rel_change`` = ‖ΔW‖_F / ‖W_before‖_F, and the top-``k``
    singular-subspace overlaps of :func:`~weightspace.spectral.overlap.overlap_table`
    (1 = not rotated, only rescaled). Layers missing from either side are left out.
    """
    first = [s for s in iter_layers(before, min_evals=0) if s.load is not None]
    second = list(iter_layers(after, min_evals=0))
    deltas = list(delta_specs(second, first))
    delta_rows = analyze_specs(deltas, compat=compat).set_index("longname")
    overlaps = overlap_table(before, after, k=k).set_index("longname")
    base = {s.longname: s for s in first}
    out = []
    for spec in second:
        if spec.longname not in base or spec.load is None:
            continue
        row: dict[str, Any] = {"layer_id": spec.layer_id, "longname": spec.longname}
        d = delta_rows.loc[spec.longname]
        row.update({f"delta_{m}": float(d[m]) for m in WEIGHT_DELTA_METRICS})
        w0 = float(np.linalg.norm(as_slices(base[spec.longname].load())))  # type: ignore[misc]
        row["rel_change"] = math.sqrt(float(d["norm"])) / w0 if w0 > 0 else math.nan
        o = overlaps.loc[spec.longname]
        for col in ("overlap_left", "overlap_right", "max_angle_left", "max_angle_right"):
            row[col] = float(o[col])
        out.append(row)
    return pd.DataFrame(out)
