"""One row per layer: ESD, power-law fit, norm/rank metrics, optional MP fit and randomized control.

:func:`analyze` takes a model or a weights file (through ``extract.iter_layers``);
:func:`analyze_specs` takes :class:`LayerSpec` objects; :func:`analyze_matrices` takes plain
arrays. Rows keep the order of their input (extraction order for models and files).

Modes (column ``compat``):

- ``"ww"``: WeightWatcher 0.7.7's numbers — conv slices scaled by sqrt(1/2) (eigenvalues
  halved), eigenvalues <= 1e-5 dropped before the fit, its small-N estimator below 20
  eigenvalues, its rank/entropy definitions.
- default (``""``): the same estimator, scale-invariant — a floor relative to lambda_max, no
  hidden rescaling, rank and entropy thresholds relative to lambda_max.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from weightspace.config import check_int
from weightspace.spectral.extract import iter_layers
from weightspace.spectral.farms import FarmsOptions
from weightspace.spectral.fingers import TailOptions
from weightspace.spectral.layers import LayerSpec
from weightspace.spectral.row import (
    COMPAT_MODES,
    DEFAULT_MIN_EVALS,
    Options,
    Progress,
    analyze_layer,
    columns,
)
from weightspace.spectral.summary import summarize
from weightspace.threads import current_threads

log = logging.getLogger(__name__)

__all__ = [
    "COMPAT_MODES",
    "DEFAULT_MIN_EVALS",
    "analyze",
    "analyze_matrices",
    "analyze_specs",
    "columns",
    "summarize",
]


def analyze_specs(
    specs: Iterable[LayerSpec],
    *,
    compat: str | None = None,
    mp_fit: bool = False,
    randomize: bool = False,
    device: str = "cpu",
    seed: int = 0,
    progress: Progress | None = None,
    workers: int = 1,
    precision: str = "float64",
    tail: TailOptions | None = None,
    farms: FarmsOptions | None = None,
) -> pd.DataFrame:
    """Analyse :class:`LayerSpec` objects, one row each, in their order.

    ``workers`` > 1 analyses that many layers at once in threads (LAPACK and numpy release
    the GIL), each with single-threaded BLAS: a symmetric eigensolver scales poorly with BLAS
    threads, independent layers scale well. Each worker loads its own layer, so at most
    ``workers`` layers are in memory at once (one layer's weights plus its M×M Gram matrix
    each).
    """
    opts = Options(
        compat=compat,
        mp_fit=mp_fit,
        randomize=randomize,
        device=device,
        seed=seed,
        precision=precision,
        tail=tail or TailOptions(),
        farms=farms,
    )
    check_int("workers", workers, minimum=1)
    spec_list = list(specs)
    total = len(spec_list)
    rows: list[dict[str, Any]] = []

    def record(row: dict[str, Any]) -> None:
        rows.append(row)
        if progress is not None:
            progress(len(rows), total, str(row["longname"]))

    with _single_threaded_blas():
        if workers == 1 or str(device).startswith("cuda") or total < 2:
            for spec in spec_list:
                record(analyze_layer(spec, opts))
        else:
            _analyze_parallel(spec_list, opts, workers, record)
    frame = pd.DataFrame(rows, columns=opts.columns())
    return _tidy(frame)


def _single_threaded_blas() -> contextlib.AbstractContextManager[object]:
    """BLAS/LAPACK pools limited to one thread for the block (parallelism is per layer).

    A multi-threaded symmetric eigensolver gains little, and on a machine shared with other
    work its spinning threads can make it ten times slower.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: then BLAS keeps its own setting
        return contextlib.nullcontext()
    return threadpool_limits(limits=1)


def _analyze_parallel(
    spec_list: list[LayerSpec],
    opts: Options,
    workers: int,
    record: Callable[[dict[str, Any]], None],
) -> None:
    from collections import deque
    from concurrent.futures import Future, ThreadPoolExecutor

    pending: deque[Future[dict[str, Any]]] = deque()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for spec in spec_list:
            pending.append(pool.submit(analyze_layer, spec, opts))  # loads in the worker
            while len(pending) > workers:
                record(pending.popleft().result())
        while pending:
            record(pending.popleft().result())


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """Numeric columns as floats (NaN for missing), text columns as strings."""
    text = {"name", "longname", "layer_type", "status", "warning", "reason", "compat"}
    for col in frame.columns:
        if col in text:
            frame[col] = frame[col].fillna("").astype(str)
        elif col == "has_esd":
            frame[col] = frame[col].fillna(False).astype(bool)
        elif col != "layer_id":
            frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    frame["layer_id"] = frame["layer_id"].astype(int)
    return frame


def _constant(arr: np.ndarray) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        return arr

    return load


def analyze_matrices(
    matrices: Mapping[str, np.ndarray] | Sequence[np.ndarray],
    *,
    conv_slices: bool = False,
    compat: str | None = None,
    mp_fit: bool = False,
    randomize: bool = False,
    device: str = "cpu",
    seed: int = 0,
    precision: str = "float64",
    farms: FarmsOptions | None = None,
) -> pd.DataFrame:
    """Analyse plain arrays: each ``(N, M)`` or ``(S, N, M)`` (slices of one layer).

    Names are the mapping's keys (or ``matrix<i>``); ``layer_id`` is the position.
    ``conv_slices`` marks every 3-D entry as conv slices (halved in compat mode).
    """
    items = list(matrices.items()) if isinstance(matrices, Mapping) else [
        (f"matrix{i}", w) for i, w in enumerate(matrices)
    ]  # fmt: skip
    specs = []
    for i, (key, w) in enumerate(items):
        arr = np.asarray(w)
        is3d = arr.ndim == 3
        specs.append(
            LayerSpec(
                layer_id=i,
                name="Slices" if is3d else "Matrix",
                longname=str(key),
                layer_type="conv2d" if (is3d and conv_slices) else "linear",
                load=_constant(arr),
                conv_slices=bool(is3d and conv_slices),
            )
        )
    return analyze_specs(
        specs,
        compat=compat,
        mp_fit=mp_fit,
        randomize=randomize,
        device=device,
        seed=seed,
        precision=precision,
        farms=farms,
    )


def analyze(
    model_or_path: Any,
    *,
    compat: str | None = None,
    mp_fit: bool = False,
    randomize: bool = False,
    layers: Any = None,
    min_evals: int = DEFAULT_MIN_EVALS,
    device: str = "cpu",
    seed: int = 0,
    progress: Progress | None = None,
    threads: int | None = None,
    precision: str = "float64",
    tail: TailOptions | None = None,
    farms: FarmsOptions | None = None,
) -> pd.DataFrame:
    """Per-layer spectral analysis of a ``torch.nn.Module`` or a weights file/directory.

    One row per layer (skipped layers included, with ``status="skipped"`` and a reason) in
    extraction order; columns as :func:`columns`. ``compat="ww"`` reproduces WeightWatcher
    0.7.7; ``mp_fit`` adds the Marchenko–Pastur columns, ``randomize`` the shuffled-weights
    control (seeded by ``seed``). ``progress(done, total, longname)`` is called after each
    layer. ``threads``: how many layers to analyse at once, each with single-threaded BLAS
    (so threads × BLAS threads never exceeds it); default ``threads.current_threads()``: the
    count given to ``set_threads`` (``--threads`` / ``$WEIGHTSPACE_THREADS``), else the usable
    cores.
    ``precision="float32"`` runs the eigensolver in float32 (opt-in, faster; see
    ``docs/spectral.md`` for its measured error); the default and compat parity are float64.
    ``tail``: truncated power law, finger fixes or a clipped top (:mod:`.fingers`);
    ``farms``: the ESD of fixed-aspect-ratio submatrices (:mod:`.farms`).
    """
    # Validate every option before any weights are read, so that a typo fails at once rather
    # than after a large model's first layers (analyze_specs builds the same Options again).
    opts = Options(
        compat=compat,
        mp_fit=mp_fit,
        randomize=randomize,
        device=device,
        seed=seed,
        precision=precision,
    )
    if threads is None:
        workers = current_threads()
    else:
        check_int("threads", threads, minimum=1)
        workers = threads
    specs = iter_layers(model_or_path, layers=layers, min_evals=min_evals, compat=opts.compat)
    return analyze_specs(
        specs,
        compat=opts.compat,
        mp_fit=mp_fit,
        randomize=randomize,
        device=device,
        seed=seed,
        progress=progress,
        workers=workers,
        precision=precision,
        tail=tail,
        farms=farms,
    )
