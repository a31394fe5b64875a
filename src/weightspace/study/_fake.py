"""A stand-in for :func:`weightspace.train.run` that writes a plausible run directory fast.

It exists to exercise the study machinery (runners, resume, failure isolation, collection)
without training: on a laptop in tests, and on a Ray cluster to check that workers see the
shared storage path before spending GPU hours (``run_study(..., run_fn=FakeRun())``).
The tables it writes have the columns of the real ones, with made-up values in which weight
decay lowers ``log_norm`` and dropout raises ``alpha``, so summaries have something to show.
"""

from __future__ import annotations

import os
import signal
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from weightspace import store

LAYERS = ("conv1", "conv2", "fc1", "classifier")


@dataclass(frozen=True)
class FakeRun:
    """Callable like ``train.run``: ``FakeRun(seconds=0.5)(config, out_dir, progress=False)``.

    ``seconds`` is how long each run sleeps before writing; a run whose condition is in
    ``fail`` raises ``RuntimeError`` instead (to test failure isolation); a run whose
    condition is in ``crash`` kills its own process with SIGKILL the first time, leaving a
    marker in ``marker_dir`` so that the retry succeeds (to test worker deaths).
    """

    seconds: float = 0.0
    fail: tuple[str, ...] = ()
    crash: tuple[str, ...] = ()
    marker_dir: str = ""

    def __call__(
        self, config: Any, out_dir: str | os.PathLike[str], *, progress: bool = False
    ) -> dict[str, Any]:
        start = time.time()
        if config.condition in self.fail:
            raise RuntimeError(f"injected failure for condition {config.condition!r}")
        if config.condition in self.crash:
            marker = Path(self.marker_dir) / f"crashed-{config.condition}-s{config.seed}"
            if not marker.exists():
                marker.write_text(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGKILL)
        rng = np.random.default_rng([config.seed, zlib.crc32(config.condition.encode())])
        time.sleep(self.seconds)
        wd, dp = float(config.weight_decay or 0.0), float(config.dropout or 0.0)
        metrics: dict[str, Any] = {
            "test_acc": 0.85 - 0.05 * dp + 0.01 * rng.standard_normal(),
            "test_loss": 0.4 + 0.02 * rng.standard_normal(),
            "test_nll": 0.4,
            "test_ece": 0.03,
            "train_acc": 0.9,
            "train_loss": 0.3,
            "val_acc": 0.84,
            "gap": 0.05,
            "ood_acc": 0.6,
            "ood_ece": 0.1,
            "final_train_loss": 0.3,
            "images_per_s": 1000.0,
            "ood": {"gaussian_noise": {"1": 0.7, "3": 0.6, "5": 0.5}},
        }
        with store.atomic_dir(out_dir) as tmp:
            store.write_json(tmp / store.CONFIG_FILE, config.to_dict())
            before = _spectra(rng, 0.0, 0.0, 0.0)
            after = _spectra(rng, 1.0, wd, dp)
            store.write_table(tmp / store.snapshot_file("before"), before)
            store.write_table(tmp / store.snapshot_file("after"), after)
            store.write_table(
                tmp / store.HISTORY_FILE,
                pd.DataFrame({"epoch": [1], "train_loss": [0.3], "val_acc": [0.84]}),
            )
            metrics["wall_time_s"] = time.time() - start
            store.write_json(tmp / store.METRICS_FILE, metrics)
            store.write_json(
                tmp / store.PROVENANCE_FILE, {"pid": os.getpid(), "finished": time.time()}
            )
        return metrics


def _spectra(rng: np.random.Generator, trained: float, wd: float, dp: float) -> pd.DataFrame:
    n = len(LAYERS)
    log_norm = 1.0 + trained * (0.3 - 60.0 * wd) + 0.01 * rng.standard_normal(n)
    alpha = 4.0 - trained * (1.0 - dp) + 0.05 * rng.standard_normal(n)
    return pd.DataFrame(
        {
            "layer_id": np.arange(n),
            "name": list(LAYERS),
            "alpha": alpha,
            "log_norm": log_norm,
            "log_spectral_norm": log_norm - 0.5,
            "entropy": 0.9 - 0.05 * trained + np.zeros(n),
            "stable_rank": 10.0 ** (log_norm - (log_norm - 0.5)),
            "num_evals": np.full(n, 64),
            "status": ["success"] * n,
            "reason": [""] * n,
        }
    )
