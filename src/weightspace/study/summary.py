"""The study's overview (baseline accuracy, Δlog_norm and Δalpha per category) and time estimate.

Overview: Δm = m(after) − m(before) per run and layer, averaged over the layers of a run and
then over the runs of a category (layers whose fit failed are NaN and left out of the means).
The comparison package does the careful version (ΔΔ against the baseline, statistics, and
its one-sentence headline answer); this is the one-glance summary printed at the end of a
study.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from weightspace import store
from weightspace.compare.delta import delta_table
from weightspace.study.plan import RunPlan
from weightspace.vocabulary import Category

OVERVIEW_METRICS = ("log_norm", "alpha")


CONVERGED_TRAIN_ACC = 0.95  # the baseline "converged" (and has something to regularize)


@dataclass(frozen=True)
class Overview:
    baseline_acc_mean: float = math.nan
    baseline_acc_std: float = math.nan
    baseline_runs: int = 0
    # category -> {"log_norm": mean Δ, "alpha": mean Δ, "runs": n}
    deltas: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    baseline_train_acc: float = math.nan
    design: str = ""  # conditions, seeds per condition, baseline seeds, runs
    # condition -> (train accuracy, test accuracy) means over seeds
    accuracy: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [f"design: {self.design}"] if self.design else []
        if self.baseline_runs:
            std = "" if self.baseline_runs < 2 else f" ± {self.baseline_acc_std:.3f}"
            out.append(
                f"baseline test accuracy: {self.baseline_acc_mean:.3f}{std} "
                f"(mean{' ± std' if std else ''} over {_count(self.baseline_runs, 'seed')})"
            )
        if math.isfinite(self.baseline_train_acc):
            gap = self.baseline_train_acc - self.baseline_acc_mean
            done = self.baseline_train_acc >= CONVERGED_TRAIN_ACC
            out.append(
                f"baseline train accuracy: {self.baseline_train_acc:.3f} (last epoch, train mode; "
                f"gap to test {gap:+.3f}): "
                + ("converged" if done else f"did not reach {CONVERGED_TRAIN_ACC:.2f}: the "
                   "baseline is under-trained, so regularizers have little to act on")
            )  # fmt: skip
        if self.accuracy:
            cells = [f"{c} {tr:.2f}/{te:.2f}" for c, (tr, te) in self.accuracy.items()]
            out.append("train/test accuracy per condition: " + ", ".join(cells))
        if self.deltas:
            out.append("category   runs   Δlog_norm    Δalpha   (after − before, mean over layers)")
            for cat, d in self.deltas.items():
                out.append(
                    f"{cat:<9} {int(d['runs']):>5} {d['log_norm']:>+11.4f} {d['alpha']:>+9.4f}"
                )
        return out


def run_deltas(layers: pd.DataFrame, metrics: Sequence[str] = OVERVIEW_METRICS) -> pd.DataFrame:
    """One row per run: mean over layers of after − before, for each of ``metrics``."""
    cols = [m for m in metrics if m in layers]
    if layers.empty or "snapshot" not in layers or "layer_id" not in layers or not cols:
        return pd.DataFrame(columns=["run_id", "category", *metrics])
    missing = {c: "" for c in ("dataset", "name", "longname") if c not in layers}
    table = layers.assign(**missing) if missing else layers
    delta = delta_table(table, metrics=cols, align="layer_id", drop_frozen=False)
    delta[cols] = delta[cols].astype(float)
    out = delta.groupby(["run_id", "category"])[cols].mean().reset_index()
    for m in metrics:
        if m not in out:
            out[m] = np.nan
    return out


def overview(runs: pd.DataFrame, layers: pd.DataFrame) -> Overview:
    """Baseline test accuracy and the mean Δlog_norm and Δalpha of each category."""
    acc = pd.Series(dtype=float)
    if not runs.empty and "test_acc" in runs:
        done = runs[store.usable(runs) & (runs.category == Category.BS.value)]
        acc = pd.to_numeric(done["test_acc"], errors="coerce").dropna()
    per_run = run_deltas(layers)
    deltas: dict[str, dict[str, float]] = {}
    for cat, group in per_run.groupby("category", sort=False):
        deltas[str(cat)] = {
            "log_norm": float(group["log_norm"].mean()),
            "alpha": float(group["alpha"].mean()),
            "runs": float(len(group)),
        }
    usable = runs[store.usable(runs)] if not runs.empty and "status" in runs else runs
    return Overview(
        baseline_acc_mean=float(acc.mean()) if len(acc) else math.nan,
        baseline_acc_std=float(acc.std(ddof=1)) if len(acc) > 1 else math.nan,
        baseline_runs=len(acc),
        deltas=deltas,
        baseline_train_acc=_baseline_train_acc(usable),
        design=design_line(usable),
        accuracy=_accuracy(usable),
    )


def _baseline_train_acc(runs: pd.DataFrame) -> float:
    if runs.empty or "train_acc" not in runs:
        return math.nan
    base = runs[runs["category"] == Category.BS.value]
    values = pd.to_numeric(base["train_acc"], errors="coerce").dropna()
    return float(values.mean()) if len(values) else math.nan


def _accuracy(runs: pd.DataFrame) -> dict[str, tuple[float, float]]:
    if runs.empty or not {"train_acc", "test_acc"} <= set(runs):
        return {}
    means = runs.groupby("condition", sort=False)[["train_acc", "test_acc"]].mean()
    return {str(c): (float(r.train_acc), float(r.test_acc)) for c, r in means.iterrows()}


def design_line(runs: pd.DataFrame) -> str:
    """``21 conditions × 2 seeds (rotating over 6), baseline at 6 seeds: 46 runs``."""
    if runs.empty or not {"condition", "seed", "category"} <= set(runs):
        return ""
    base = runs[runs["category"] == Category.BS.value]
    others = runs[runs["category"] != Category.BS.value]
    per = others.groupby("condition")["seed"].nunique()
    seeds = sorted({int(s) for s in runs["seed"]})
    counts = sorted(set(per.tolist()))
    each = "/".join(str(c) for c in counts) if counts else "0"
    plural = "seed" if counts == [1] else "seeds"
    spread = f" (rotating over {len(seeds)})" if counts and max(counts) < len(seeds) else ""
    return (f"{_count(len(per), 'condition')} × {each} {plural}{spread}, baseline at "
            f"{_count(base['seed'].nunique(), 'seed')}: {_count(len(runs), 'run')}")  # fmt: skip


def _count(n: int, noun: str) -> str:
    """``1 seed``, ``3 seeds``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


# -- time estimate --------------------------------------------------------------------------
# Single-thread CPU training throughput (images/s, forward + backward, 28×28 inputs) measured
# on this project's reference 2-core machine; evaluation runs ~3× faster (forward only).
# Unknown models fall back to DEFAULT_IPS; CUDA devices are assumed CUDA_SPEEDUP× faster.
TRAIN_IPS = {"mlp": 6000.0, "cnn-small": 1500.0, "resnet18-cifar": 40.0, "resnet18": 40.0,
             "efficientnet-lite0": 550.0}  # at 32x32, channels-last (docs/study.md)  # fmt: skip
DEFAULT_IPS = 100.0
CUDA_SPEEDUP = 30.0
RUN_OVERHEAD_S = 4.0  # process start, imports, data loading, spectral snapshots
DATASET_SIZES = {"fashion-mnist": (60000, 10000), "mnist": (5000, 0), "cifar10": (50000, 10000)}
OOD_KINDS = 7  # corruptions evaluated per severity (weightspace.data.CORRUPTIONS)


def model_run_seconds(config: Any) -> float:
    """A model-based estimate of one run's wall time in seconds (see the module comment)."""
    n_train_full, n_test_full = DATASET_SIZES.get(config.dataset, (50000, 10000))
    n_train = (config.train_size or n_train_full) * (1.0 - config.val_fraction)
    n_test = config.test_size or n_test_full
    ips = TRAIN_IPS.get(config.model, DEFAULT_IPS) * max(1, config.threads) ** 0.7
    if str(config.device).startswith("cuda"):
        ips *= CUDA_SPEEDUP
    evals = n_test * (1 + (OOD_KINDS * len(config.ood_severities) if config.ood else 0))
    evals += n_train * 0.1 / (1.0 - config.val_fraction)  # validation split
    return RUN_OVERHEAD_S + config.epochs * n_train / ips + evals / (3.0 * ips)


def estimate_seconds(
    plans: Sequence[RunPlan], *, workers: int, measured: Mapping[str, float] | None = None
) -> float:
    """Wall time of running ``plans`` on ``workers`` parallel slots.

    ``measured`` maps run_id -> measured wall time of finished runs of this study; when
    given, the model estimate is rescaled by their median ratio (measured / model), which
    absorbs the speed of the actual machine.
    """
    if not plans:
        return 0.0
    model = {p.run_id: model_run_seconds(p.config) for p in plans}
    scale = 1.0
    if measured:
        ratios = [measured[r] / model[r] for r in measured if r in model and model[r] > 0]
        if ratios:
            scale = float(np.median(ratios))
    times = sorted((model[p.run_id] * scale for p in plans), reverse=True)
    slots = [0.0] * max(1, workers)
    for t in times:  # longest first onto the least-loaded slot
        slots[slots.index(min(slots))] += t
    return max(slots)


def format_seconds(s: float) -> str:
    s = round(s)
    return f"{s // 3600}h{(s % 3600) // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def measured_times(runs: pd.DataFrame) -> dict[str, Any]:
    if runs.empty or "wall_time_s" not in runs:
        return {}
    done = runs[store.usable(runs)]
    return {
        r: float(t)
        for r, t in zip(done.run_id, pd.to_numeric(done.wall_time_s, errors="coerce"), strict=True)
        if not math.isnan(t)
    }
