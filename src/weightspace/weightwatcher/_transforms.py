"""WeightWatcher's weight transforms: ``SVDSmoothing``, ``SVDSharpness`` and ``distances``.

Both transforms change the model's weights in place (a torch module's parameters, or the
tensors of a state dict) and return the model, as WeightWatcher 0.7.7 does:

- ``SVDSmoothing``: keep the top k singular values of each layer (per kernel position for
  conv layers, k / rf of them), k = ``percent`` · M · rf (``method='svd'``), the number the
  det X = 1 constraint picks (``method='detX'``, the default) or the power-law tail's
  ``num_pl_spikes`` (``method='alpha_min'``); a negative k drops the top |k| instead. The
  truncated SVD is exact (WeightWatcher uses scikit-learn's randomized TruncatedSVD).
- ``SVDSharpness``: drop the top k singular values, k = the MP spikes of a shuffled copy
  of W (a seeded shuffle here; WeightWatcher's is unseeded).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from weightspace.errors import ConfigError
from weightspace.spectral.mp import fit_mp
from weightspace.weightwatcher import _layers
from weightspace.weightwatcher._options import UnsupportedOption

SMOOTHING_METHODS = ("svd", "detX", "alpha_min")


def detx_count(evals: np.ndarray) -> int:
    """How many top eigenvalues the det X = 1 constraint keeps (WeightWatcher's rule: on
    eigenvalues scaled to sum to their count, the smallest top set whose product is < 1)."""
    lam = np.sort(np.asarray(evals, dtype=float))
    if lam.size < 2 or not lam[0] < lam[-1]:
        return 0
    lam = lam * lam.size / lam.sum()
    for idx in range(lam.size - 1, 0, -1):
        if np.prod(lam[idx:]) < 1.0:
            return int(lam.size - idx)
    return int(lam.size)


def truncate(w: np.ndarray, k: int) -> np.ndarray:
    """W with only its top k singular values (k > 0), or without its top |k| (k < 0)."""
    if k == 0:
        return w
    u, s, vt = np.linalg.svd(w, full_matrices=False)
    s = s.copy()
    if k > 0:
        s[k:] = 0.0
    else:
        s[:-k] = 0.0
    return np.asarray((u * s) @ vt, dtype=w.dtype)


def weight_of(model: Any, row: _layers.Row) -> tuple[np.ndarray, Any]:
    """(the layer's weight tensor as float64 numpy, a setter writing a new one back)."""
    if hasattr(model, "named_modules"):
        module = dict(model.named_modules())[row.longname]
        param = module.weight

        def put(new: np.ndarray) -> None:
            import torch

            with torch.no_grad():
                param.copy_(torch.as_tensor(new, dtype=param.dtype))

        return param.detach().cpu().double().numpy(), put
    if isinstance(model, dict):
        key = f"{row.longname}.weight"
        old = model[key]

        def put_sd(new: np.ndarray) -> None:
            if hasattr(old, "copy_"):  # a torch tensor
                import torch

                model[key] = torch.as_tensor(new, dtype=old.dtype)
            else:
                model[key] = new.astype(np.asarray(old).dtype)

        data = old.detach().cpu().double().numpy() if hasattr(old, "detach") else old
        return np.asarray(data, dtype=np.float64), put_sd
    raise UnsupportedOption(
        "SVDSmoothing/SVDSharpness change weights in place: pass a torch module or a state "
        "dict (files and directories are read-only here)"
    )


def apply_truncation(model: Any, row: _layers.Row, k: int) -> None:
    """Truncate one layer in place: dense as is, conv per kernel position with k / rf."""
    w, put = weight_of(model, row)
    if w.ndim == 2:
        put(truncate(w, k))
        return
    if w.ndim != 4:
        return
    per = math.ceil(k / row.rf)
    new = np.empty_like(w)
    for i in range(w.shape[2]):
        for j in range(w.shape[3]):
            new[:, :, i, j] = truncate(w[:, :, i, j], per)
    put(new)


def smoothing_count(method: str, percent: float, row: _layers.Row, evals: np.ndarray,
                    alpha_spikes: int | None) -> int:  # fmt: skip
    if method == "svd":
        return int(percent * int(row.spec.extra["M"]) * row.rf)  # type: ignore[call-overload]
    if method == "detX":
        return detx_count(evals)
    if alpha_spikes is None:
        raise ConfigError("method='alpha_min' needs a successful power-law fit of the layer")
    return alpha_spikes


def sharpness_count(evals_shuffled: np.ndarray, n: int, m: int) -> int:
    """MP spikes of the shuffled layer's ESD (the k of SVDSharpness)."""
    fit = fit_mp(evals_shuffled, n=n, m=m)
    return int(fit.num_spikes) if np.isfinite(fit.num_spikes) else 0


def distance(w1: np.ndarray, w2: np.ndarray, method: str) -> float:
    """WeightWatcher's matrix distance: Frobenius ‖W1 − W2‖ or its (uncentred) CKA."""
    if method in ("raw", "euclidean"):
        return float(np.linalg.norm(w1 - w2))
    cross = np.linalg.norm(w1.T @ w2)
    norm = math.sqrt(np.linalg.norm(w1.T @ w1) * np.linalg.norm(w2 @ w2.T))
    return float(cross / (norm + 1e-6 if norm < 1e-6 else norm))


def distance_table(records: list[dict[str, Any]]) -> tuple[float, float, pd.DataFrame]:
    lead = ["method", "layer_id", "name", "delta_W", "delta_b", "M", "N", "b_shape"]
    frame = pd.DataFrame.from_records(records)
    frame = frame[lead + [c for c in frame.columns if c not in lead]].set_index("layer_id")
    return float(frame.delta_W.mean()), float(frame.delta_b.mean()), frame
