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
   the reference category's (default the baseline)? Summary: the mean gap over training
   (trapezoid area between the curves over the span of steps), in the metric's units,
   tested with **conditions** as the units, each condition's area estimated by the
   seed-matched linear model of :mod:`weightspace.stats.linear` (see the function). Holm's adjustment over the
   table's rows is the ``p_holm`` column.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import integrate

from weightspace.compare.categories import BASELINE
from weightspace.errors import ConfigError, DataError
from weightspace.stats.groups import (
    shared_reference_mean,
    t_interval,
    t_p,
    t_quantile,
    two_group_test,
)
from weightspace.stats.linear import Design, LinearFit, fit
from weightspace.stats.multiplicity import holm
from weightspace.store import RUN_ID_COLUMNS
from weightspace.vocabulary import Category

METRICS = ("alpha", "log_norm", "log_spectral_norm", "stable_rank")
TRACE = "hessian_trace"
LOG_TRACE = "log10_hessian_trace"
EMA_PAPER = 0.98
RUN_KEYS = list(RUN_ID_COLUMNS)

__all__ = [
    "DYNAMICS_PERMUTATIONS",
    "EMA_PAPER",
    "LOG_TRACE",
    "METRICS",
    "TRACE",
    "category_trajectories",
    "dynamics_tables",
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


@dataclass(frozen=True)
class _AreaModel:
    """The seed-matched linear model of the runs' areas (one metric): each condition's
    estimate (seed effects removed) and what the reference's own noise adds to a mean."""

    estimates: pd.DataFrame  # condition, category, estimate, runs
    fit: LinearFit
    conditions: list[str]

    @classmethod
    def of(cls, areas: pd.DataFrame) -> _AreaModel:
        design = Design.from_labels(areas["condition"].astype(str), areas["seed"],
                                    areas["category"].astype(str))  # fmt: skip
        lin = fit(areas["area"].to_numpy(float), design)
        names = [str(c) for c in design.conditions]
        cats = areas.drop_duplicates("condition").set_index("condition")["category"]
        runs = areas.groupby("condition").size()
        est = pd.DataFrame({"condition": names, "category": [cats[c] for c in names],
                            "estimate": lin.means[:, 0], "runs": [int(runs[c]) for c in names]})  # fmt: skip
        return cls(est, lin, names)

    def gaps(self, reference: str) -> pd.DataFrame:
        """Each condition's estimate minus the single reference condition's."""
        ref = self.estimates[self.estimates["condition"] == reference]["estimate"].iloc[0]
        return self.estimates.assign(gap=self.estimates["estimate"] - ref)

    def noise(
        self, members: list[str], reference: str, *, only_reference: bool
    ) -> tuple[float, float]:
        """(variance, df) of the noise in the mean of ``members`` minus the reference: of
        the reference runs' part only (what the spread between members does not see), or
        of every run's (a single condition tested as itself)."""
        contrast = np.zeros(len(self.conditions))
        for c in members:
            contrast[self.conditions.index(c)] += 1.0 / len(members)
        contrast[self.conditions.index(reference)] -= 1.0
        b = self.fit.weights(contrast)
        keep = (self.fit.design.condition == self.conditions.index(reference)) if only_reference \
            else np.ones(len(b), dtype=bool)  # fmt: skip
        var_g = self.fit.cell_variance()[:, 0]
        weights = np.bincount(self.fit.group_of_run[keep], weights=b[keep] ** 2,
                              minlength=self.fit.n_groups).astype(float)  # fmt: skip
        return float(weights @ var_g), self.fit.combination_df(weights, var_g)


def trajectory_tests(
    curves: pd.DataFrame,
    *,
    reference: str = BASELINE,
    categories: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    n_permutations: int = 9999,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per category × metric: does its curve differ from the reference's?

    Summary per run: the curve's mean over training (trapezoid area / span of steps); per
    condition: the mean over seeds of its gap to the same seed's reference run. The unit of
    inference is the **condition** (with runs as units the test rejected 23% when the
    baseline's runs were twice as noisy). Against a reference *category* with several
    conditions (e.g. data diversity against dropout): Welch's t and the exact permutation of
    whole conditions (:func:`weightspace.stats.groups.two_group_test`, ``p`` the larger);
    against a single reference condition (the baseline): the mean gap over the category's
    conditions with the reference's own noise, shared by every gap, added to its SE
    (:func:`weightspace.stats.groups.shared_reference_mean`). ``min_p``: the smallest p the
    design can reach; where it is ≥ 0.05 the row has ``note`` and no p-value. ``p_holm``:
    Holm over the table's rows."""
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
            areas = _areas(sub)  # over the steps these runs share
            if areas is None or cat not in set(areas["category"]):
                continue
            model = _AreaModel.of(areas)
            rows.append(_test_row(model, areas, cat, reference, metric, rng, n_permutations))
    table = pd.DataFrame(rows, columns=TRAJECTORY_COLUMNS)
    if not table.empty:
        table["p_holm"] = holm(table["p_value"].to_numpy(dtype=float))
    return table


TRAJECTORY_COLUMNS = ["category", "metric", "reference", "area", "ci_low", "ci_high", "p_value",
                      "p_holm", "exact", "min_p", "n_conditions", "n_reference_conditions",
                      "n_runs", "n_reference_runs", "n_steps", "note"]  # fmt: skip


def _test_row(model: _AreaModel, areas: pd.DataFrame, cat: str, reference: str, metric: str,
              rng: np.random.Generator, n_permutations: int) -> dict[str, object]:  # fmt: skip
    est = model.estimates
    own, ref = est[est["category"] == cat], est[est["category"] == reference]
    row: dict[str, object] = {
        "category": cat, "metric": metric, "reference": reference,
        "n_conditions": len(own), "n_reference_conditions": len(ref),
        "n_runs": int(own["runs"].sum()), "n_reference_runs": int(ref["runs"].sum()),
        "n_steps": int(areas["n_steps"].iloc[0]), "note": "", "exact": False,
    }  # fmt: skip
    if len(ref) > 1:  # two categories of conditions: what the runs share cancels
        test = two_group_test(own["estimate"], ref["estimate"], rng=rng, n_perm=n_permutations)
        row |= {"area": test.diff, "ci_low": test.diff_ci[0], "ci_high": test.diff_ci[1],
                "p_value": test.p, "exact": test.exact, "min_p": test.min_p}  # fmt: skip
        if not test.min_p < 0.05:
            row |= {"p_value": math.nan, "note": f"{len(own)} vs {len(ref)} conditions: the "
                    f"smallest possible p is {test.min_p:.3f}; no test can reach p < 0.05"}  # fmt: skip
        return row
    reference_condition = str(ref["condition"].iloc[0])
    gaps = model.gaps(reference_condition)
    members = list(own["condition"])
    if len(members) == 1:  # one condition: a test of that condition, not of its category
        var, df = model.noise(members, reference_condition, only_reference=False)
        gap = float(gaps.loc[own.index, "gap"].iloc[0])
        se = math.sqrt(var) if var > 0 else math.nan
        half = t_quantile(df) * se
        row |= {"area": gap, "ci_low": gap - half, "ci_high": gap + half,
                "p_value": t_p(gap / se, df), "min_p": 0.0,
                "note": "one condition: tested as itself, not as a sample of its category"}  # fmt: skip
        return row
    share, share_df = model.noise(members, reference_condition, only_reference=True)
    mean = shared_reference_mean(gaps.loc[own.index, "gap"], share, share_df)
    row |= {"area": mean.mean, "ci_low": mean.ci[0], "ci_high": mean.ci[1], "p_value": mean.p,
            "min_p": 0.0 if math.isfinite(mean.p) else math.nan}  # fmt: skip
    if not math.isfinite(mean.p):
        row["note"] = mean.reason
    return row


DYNAMICS_PERMUTATIONS = 9999


def dynamics_tables(
    layers: pd.DataFrame | None,
    sharpness: pd.DataFrame | None,
    *,
    smoothing: float | None = None,
    n_permutations: int = DYNAMICS_PERMUTATIONS,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(trajectories, trajectory_tests)`` of a study: a layer table with ``step`` and an
    optional sharpness table (the default comparison stores both; the report shows them).

    Layer tables with only the two end points give no trajectory (their tests would repeat
    the before/after comparison), so they are left out. The trace is shown and tested on a
    log10 scale (:func:`run_curves`). Tests: every category against the baseline and, when
    both are present, data diversity against dropout (the paper's sharpness question);
    ``p_holm`` is Holm over all rows."""
    if layers is not None and ("step" not in layers.columns or layers["step"].nunique() < 3):
        layers = None
    curves = run_curves(layers, sharpness=sharpness, smoothing=smoothing, log_trace=True)
    if curves.empty:
        return pd.DataFrame(), pd.DataFrame()
    traj = category_trajectories(curves)
    tests = pd.DataFrame(columns=TRAJECTORY_COLUMNS)
    cats = set(curves["category"])
    if BASELINE in cats and len(cats) > 1:
        tests = trajectory_tests(curves, n_permutations=n_permutations, seed=seed)
        if {Category.DIV.value, Category.DP.value} <= cats:
            extra = trajectory_tests(curves, reference=Category.DP.value,
                                     categories=[Category.DIV.value],
                                     n_permutations=n_permutations, seed=seed)  # fmt: skip
            tests = pd.concat([tests, extra], ignore_index=True)
            tests["p_holm"] = holm(tests["p_value"].to_numpy(dtype=float))
    return traj, tests
