"""Training dynamics: per-category trajectories of spectral metrics and sharpness, and a test.

Input: the study's layer table with a ``step`` column (``layers.parquet``: ``before`` is step
0, ``after`` the last step, ``step<k>`` / ``epoch<k>`` snapshots in between) and, when
measured, the sharpness table (``run_id, condition, category, seed, step, trace``).

1. :func:`run_curves` — one value per run × step × metric: the mean over the run's layers
   (layers where the metric is not finite are left out) and the Hessian trace. Optionally
   smoothed per run with the exponential moving average the paper used for its sharpness
   curves (weight 0.98), debiased so that the first point is the first value.
2. :func:`category_trajectories` — per category × metric × step: the mean over conditions
   (each condition first averaged over its seeds) and a t-interval over conditions; a
   category with one condition (the baseline) gets its interval over seeds. The band
   describes spread between conditions; it is not a test.
3. :func:`trajectory_tests` — per category × metric, does the category's curve differ from
   the reference category's (default the baseline)? Summary: the area between the two mean
   curves (trapezoid over steps) divided by the span of steps, i.e. the mean gap over
   training, in the metric's units. Its two-sided p-value is a permutation test over
   conditions, stratified by seed: within each seed, the labels of the runs of the category
   and of the reference are shuffled (runs that share a seed share data subset and
   initialisation, so only they are exchangeable under "no effect"). Exact enumeration
   when there are at most ``n_permutations`` arrangements, otherwise Monte Carlo with the
   +1 correction. Holm's adjustment over the table's rows is the ``p_holm`` column.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import integrate

from weightspace.compare.categories import BASELINE
from weightspace.compare.multiplicity import holm
from weightspace.compare.stats import stratified_permutation_diff, t_interval
from weightspace.errors import ConfigError, DataError

METRICS = ("alpha", "log_norm", "log_spectral_norm", "stable_rank")
TRACE = "hessian_trace"
LOG_TRACE = "log10_hessian_trace"
EMA_PAPER = 0.98
RUN_KEYS = ["run_id", "condition", "category", "seed"]

__all__ = [
    "EMA_PAPER",
    "LOG_TRACE",
    "METRICS",
    "TRACE",
    "category_trajectories",
    "ema",
    "run_curves",
    "trajectory_tests",
]


def ema(values: np.ndarray, weight: float) -> np.ndarray:
    """Debiased exponential moving average: s_t = Σ w^(t−i)(1−w)x_i / (1 − w^(t+1))."""
    if not (isinstance(weight, (int, float)) and 0 <= weight < 1):
        raise ConfigError(f"ema weight must be in [0, 1); got {weight!r} (the paper used 0.98)")
    out = np.empty(len(values))
    acc = 0.0
    for t, x in enumerate(np.asarray(values, dtype=float)):
        acc = weight * acc + (1 - weight) * x
        out[t] = acc / (1 - weight ** (t + 1))
    return out


def _need(table: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataError(
            f"the {what} lacks columns {missing}; it needs {list(columns)} "
            "(a study run with snapshot_every_steps or hessian writes them)"
        )


def run_curves(
    layers: pd.DataFrame | None = None,
    *,
    sharpness: pd.DataFrame | None = None,
    metrics: Sequence[str] = METRICS,
    smoothing: float | None = None,
    log_trace: bool = False,
) -> pd.DataFrame:
    """Long table ``run_id, condition, category, seed, step, metric, value`` (see module doc).

    ``log_trace``: the trace enters as ``log10_hessian_trace`` (a non-positive estimate
    becomes NaN and its step is left out of the tests), which weighs proportional
    differences alike at every step; the raw trace grows by orders of magnitude during
    training, so its area is dominated by the last steps and by single large values."""
    frames = []
    if layers is not None and not layers.empty:
        present = [m for m in metrics if m in layers.columns]
        _need(layers, [*RUN_KEYS, "step", *present], "layer table")
        long = layers[[*RUN_KEYS, "step", *present]].melt(
            id_vars=[*RUN_KEYS, "step"], var_name="metric", value_name="value"
        )
        long = long[np.isfinite(long["value"].astype(float))]
        frames.append(
            long.groupby([*RUN_KEYS, "step", "metric"], as_index=False, sort=True)["value"].mean()
        )
    if sharpness is not None and not sharpness.empty:
        _need(sharpness, [*RUN_KEYS, "step", "trace"], "sharpness table")
        trace = sharpness[[*RUN_KEYS, "step", "trace"]].rename(columns={"trace": "value"})
        if log_trace:
            values = trace["value"].astype(float)
            trace = trace.assign(value=np.log10(values.where(values > 0)))
        frames.append(trace.assign(metric=LOG_TRACE if log_trace else TRACE))
    if not frames:
        return pd.DataFrame(columns=[*RUN_KEYS, "step", "metric", "value"])
    curves = pd.concat(frames, ignore_index=True)
    curves["step"] = curves["step"].astype("int64")
    curves = curves.sort_values([*RUN_KEYS, "metric", "step"], kind="stable", ignore_index=True)
    if smoothing is not None:
        curves["value"] = curves.groupby(["run_id", "metric"], sort=False)["value"].transform(
            lambda v: ema(v.to_numpy(), smoothing)
        )
    return curves[[*RUN_KEYS, "step", "metric", "value"]]


def category_trajectories(curves: pd.DataFrame, *, level: float = 0.95) -> pd.DataFrame:
    """``category, metric, step, mean, ci_low, ci_high, n_conditions, n_runs`` (module doc)."""
    rows = []
    for (cat, metric, step), g in curves.groupby(["category", "metric", "step"], sort=True):
        per_condition = g.groupby("condition")["value"].mean()
        units = per_condition if len(per_condition) > 1 else g["value"]
        mean, lo, hi = t_interval(units.to_numpy(dtype=float), level)
        rows.append(
            {
                "category": cat,
                "metric": metric,
                "step": int(step),
                "mean": mean,
                "ci_low": lo,
                "ci_high": hi,
                "n_conditions": len(per_condition),
                "n_runs": len(g),
            }
        )
    return pd.DataFrame(rows)


def _areas(curves: pd.DataFrame) -> pd.DataFrame | None:
    """Per run: the curve's time average over the steps every run shares (None if < 2)."""
    wide = curves.pivot_table(index=RUN_KEYS, columns="step", values="value", aggfunc="first")
    wide = wide.dropna(axis=1)
    if wide.shape[1] < 2:
        return None
    steps = wide.columns.to_numpy(dtype=float)
    area = integrate.trapezoid(wide.to_numpy(), steps, axis=1) / (steps[-1] - steps[0])
    return wide.index.to_frame(index=False).assign(area=area, n_steps=len(steps))


def trajectory_tests(
    curves: pd.DataFrame,
    *,
    reference: str = BASELINE,
    categories: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    n_permutations: int = 9999,
    seed: int = 0,
) -> pd.DataFrame:
    """``category, metric, reference, area, p_value, p_holm, exact, n_conditions, n_runs,
    n_reference_runs, n_steps`` — one row per category × metric (see the module doc)."""
    if (
        isinstance(n_permutations, bool)
        or not isinstance(n_permutations, int)
        or n_permutations < 1
    ):
        raise ConfigError(f"n_permutations must be an integer >= 1; got {n_permutations!r}")
    present = set(curves["category"]) if not curves.empty else set()
    if reference not in present:
        raise DataError(
            f"reference category {reference!r} has no trajectories; categories present: "
            f"{sorted(present)}"
        )
    cats = [c for c in (categories or sorted(present)) if c != reference]
    rng = np.random.default_rng(seed)
    rows = []
    for metric in metrics or sorted(set(curves["metric"])):
        for cat in cats:
            sub = curves[(curves["metric"] == metric) & curves["category"].isin([cat, reference])]
            areas = _areas(sub)
            if areas is None or cat not in set(areas["category"]):
                continue
            is_cat = (areas["category"] == cat).to_numpy()
            a = areas["area"].to_numpy(dtype=float)
            diff, p, exact = stratified_permutation_diff(
                a, is_cat, areas["seed"].to_numpy(), n_permutations, rng
            )
            rows.append(
                {
                    "category": cat,
                    "metric": metric,
                    "reference": reference,
                    "area": diff,
                    "p_value": p,
                    "exact": exact,
                    "n_conditions": areas.loc[is_cat, "condition"].nunique(),
                    "n_runs": int(is_cat.sum()),
                    "n_reference_runs": int((~is_cat).sum()),
                    "n_steps": int(areas["n_steps"].iloc[0]),
                }
            )
    table = pd.DataFrame(rows)
    if not table.empty:
        table.insert(table.columns.get_loc("p_value") + 1, "p_holm", holm(table["p_value"]))
    return table
