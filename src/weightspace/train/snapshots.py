"""Training dynamics of one run: spectra every k optimizer steps and the Hessian trace.

The run calls :meth:`Dynamics.on_step` after every optimizer step (its time is left out of
the epoch timings) and :meth:`Dynamics.finish` once training is over. What it writes into
the run directory:

- ``spectra_step<k>.parquet``: every layer's spectral metrics after optimizer step k, for
  k = s, 2s, … below the last step (``snapshot_every_steps = s``; step 0 is ``before`` and
  the last step is ``after``). The cheap path is the default: one eigen-decomposition per
  layer feeds every metric, without the Marchenko–Pastur fit or the randomized control
  (``snapshot_mp_fit = true`` adds the MP fit). Every snapshot file, ``before`` and
  ``after`` included, carries a ``step`` column, so ``layers.parquet`` has it too.
- ``sharpness.parquet``: one row per Hessian measurement — ``step, trace, trace_se,
  n_probes, n_batches, seconds`` — at step 0, every ``hessian_every_steps`` steps and after
  the last step. The loss is cross-entropy on a fixed set of ``hessian_batches`` clean
  (un-augmented) training batches drawn with the run's seed, so every run of a study that
  shares a seed is measured on the same images, with the same probes.

Neither consumes torch's global random stream (spectra draw nothing; the sharpness probes
and batches use their own generators; the model is put in eval mode and back), so a run's
training is the same with or without them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from weightspace import store
from weightspace.errors import ConfigError
from weightspace.train.config import RunConfig
from weightspace.train.inputs import normalizer, to_input
from weightspace.train.sharpness import hessian_trace

log = logging.getLogger(__name__)

SHARPNESS_FILE = store.SHARPNESS_TABLE
STEP_SNAPSHOT = "step{step}"  # snapshot name of spectra_step<k>.parquet
SHARPNESS_COLUMNS = ("step", "trace", "trace_se", "n_probes", "n_batches", "seconds")
_BATCH_STREAM = 0x5A  # keeps the sharpness batches' stream apart from other uses of the seed

Spectra = Callable[..., pd.DataFrame]


def with_step(frame: pd.DataFrame, step: int) -> pd.DataFrame:
    """``frame`` with an int64 ``step`` column in front (replacing any existing one)."""
    out = frame.drop(columns=["step"], errors="ignore")
    out.insert(0, "step", np.int64(step))
    return out.astype({"step": "int64"})


def sharpness_batches(
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    config: RunConfig,
    mean: torch.Tensor,
    std: torch.Tensor,
    device: torch.device | str = "cpu",
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``hessian_batches`` clean training batches of ``batch_size`` (fewer if the set is small).

    Drawn without replacement by a generator seeded from the run's seed; normalised float32
    inputs on ``device``.
    """
    n = int(images.shape[0])
    bs = min(config.batch_size, n)
    count = max(1, min(config.hessian_batches, n // bs))
    state = int(np.random.SeedSequence([config.seed, _BATCH_STREAM]).generate_state(1)[0])
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(state))[: count * bs]
    scale, shift = normalizer(mean, std, max_value=255.0, device=device)
    out = []
    for idx in perm.split(bs):
        x = to_input(images[idx].to(device), scale, shift)
        out.append((x, labels[idx].to(device)))
    return out


def cross_entropy_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """The training loss of one (inputs, labels) batch, in float32."""
    x, y = batch
    return F.cross_entropy(model(x).float(), y)


class Dynamics:
    """Step snapshots and sharpness of one run (see the module docstring)."""

    def __init__(
        self,
        *,
        model: nn.Module,
        config: RunConfig,
        out_dir: Path,
        total_steps: int,
        spectra: Spectra,
        batches: list[Any] | None,
    ) -> None:
        self.model = model
        self.config = config
        self.out_dir = Path(out_dir)
        self.total_steps = total_steps
        self.spectra = spectra
        self.batches = batches
        self.rows: list[dict[str, Any]] = []
        self.snapshot_seconds: list[float] = []

    @classmethod
    def create(
        cls,
        *,
        model: nn.Module,
        config: RunConfig,
        n_train: int,
        out_dir: Path,
        spectra: Spectra,
        batches: list[Any] | None = None,
    ) -> Dynamics:
        """The hooks of a run training on ``n_train`` examples; ``batches``: the fixed
        batches of the Hessian trace (the modality's ``sharpness_batches``) when the config
        asks for it (:func:`wants_sharpness`)."""
        if wants_sharpness(config) and batches is None:
            raise ConfigError("hessian is set, but no batches to measure the trace on were given")
        return cls(
            model=model,
            config=config,
            out_dir=out_dir,
            total_steps=config.epochs * -(-n_train // config.batch_size),
            spectra=spectra,
            batches=batches if wants_sharpness(config) else None,
        )

    @property
    def active(self) -> bool:
        return self.config.snapshot_every_steps is not None or self.batches is not None

    def start(self) -> None:
        """Before the first step: the step-0 Hessian trace."""
        if self.batches is not None:
            self._sharpness(0)

    def on_step(self, step: int) -> None:
        """After optimizer step ``step`` (1-based); the last step is left to :meth:`finish`."""
        if step >= self.total_steps:
            return
        k = self.config.snapshot_every_steps
        if k is not None and step % k == 0:
            t0 = time.perf_counter()
            frame = self.spectra(self.model, self.config, mp_fit=self.config.snapshot_mp_fit)
            name = STEP_SNAPSHOT.format(step=step)
            store.write_table(self.out_dir / store.snapshot_file(name), with_step(frame, step))
            self.snapshot_seconds.append(time.perf_counter() - t0)
        h = self.config.hessian_every_steps
        if self.batches is not None and h is not None and step % h == 0:
            self._sharpness(step)

    def finish(self, metrics: dict[str, Any]) -> None:
        """After training: the final trace, ``sharpness.parquet`` and summary metrics."""
        if self.batches is not None:
            last = self._sharpness(self.total_steps)
            first = self.rows[0]
            metrics["hessian_trace"] = last["trace"]
            metrics["hessian_trace_se"] = last["trace_se"]
            metrics["hessian_trace_before"] = first["trace"]
            frame = pd.DataFrame(self.rows, columns=list(SHARPNESS_COLUMNS))
            store.write_table(self.out_dir / SHARPNESS_FILE, frame.astype(_SHARPNESS_DTYPES))
        if self.snapshot_seconds:
            metrics["snapshot_seconds_mean"] = float(np.mean(self.snapshot_seconds))
            metrics["step_snapshots"] = len(self.snapshot_seconds)

    def _sharpness(self, step: int) -> dict[str, Any]:
        assert self.batches is not None
        cfg = self.config
        t0 = time.perf_counter()
        trace, se = hessian_trace(
            self.model,
            cross_entropy_loss,
            self.batches,
            n_probes=cfg.hessian_probes,
            seed=cfg.seed,
        )
        row = {
            "step": step,
            "trace": trace,
            "trace_se": se,
            "n_probes": cfg.hessian_probes,
            "n_batches": len(self.batches),
            "seconds": time.perf_counter() - t0,
        }
        log.info("step %d: Hessian trace %.4g ± %.2g (%.1f s)", step, trace, se, row["seconds"])
        self.rows.append(row)
        return row


_SHARPNESS_DTYPES = {
    "step": "int64",
    "trace": "float64",
    "trace_se": "float64",
    "n_probes": "int64",
    "n_batches": "int64",
    "seconds": "float64",
}


def wants_sharpness(config: RunConfig) -> bool:
    return config.hessian or config.hessian_every_steps is not None
