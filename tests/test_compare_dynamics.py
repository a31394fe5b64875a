"""Trajectories per category and the stratified permutation test, on planted trajectories."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from weightspace.compare.dynamics import (
    TRACE,
    category_trajectories,
    ema,
    run_curves,
    trajectory_tests,
)
from weightspace.errors import ConfigError, DataError

STEPS = np.arange(0, 55, 5)


def _planted(
    rng: np.random.Generator,
    *,
    effects: dict[str, float],
    conditions: dict[str, int],
    seeds: int,
    noise: float = 0.3,
) -> pd.DataFrame:
    """Curves: base(t) + seed effect(t) + effect·(t / t_max) + noise, one row per run × step.

    A planted effect e grows linearly from 0 to e, so the mean gap over training is e / 2.
    """
    t = STEPS / STEPS[-1]
    base = 3.0 - 0.5 * t
    seed_effect = {s: rng.normal(0, 1.0) * t + rng.normal(0, 0.5) for s in range(seeds)}
    rows = []
    for cat, k in conditions.items():
        for c in range(k):
            cond = "bs" if cat == "bs" else f"{cat}{c}"
            for s in range(seeds):
                values = base + seed_effect[s] + effects.get(cat, 0.0) * t
                values = values + rng.normal(0, noise, len(t))
                for step, v in zip(STEPS, values, strict=True):
                    rows.append((f"{cond}_s{s}", cond, cat, s, int(step), "alpha", float(v)))
    return pd.DataFrame(
        rows, columns=["run_id", "condition", "category", "seed", "step", "metric", "value"]
    )


def test_ema_matches_its_definition() -> None:
    x = np.array([1.0, 3.0, 2.0, 5.0])
    w = 0.9
    want, acc = [], 0.0
    for i, v in enumerate(x):
        acc = w * acc + (1 - w) * v
        want.append(acc / (1 - w ** (i + 1)))
    np.testing.assert_allclose(ema(x, w), want)
    assert ema(x, 0.98)[0] == 1.0  # debiased: the first point is the first value
    np.testing.assert_allclose(ema(x, 0.0), x)
    with pytest.raises(ConfigError, match=r"0\.98"):
        ema(x, 1.0)


def test_run_curves_average_layers_and_add_the_trace() -> None:
    layers = pd.DataFrame(
        {
            "run_id": ["r"] * 4,
            "condition": ["bs"] * 4,
            "category": ["bs"] * 4,
            "seed": [0] * 4,
            "step": [0, 0, 10, 10],
            "alpha": [2.0, 4.0, 3.0, math.nan],  # a failed fit is left out
            "log_norm": [1.0, 1.0, 2.0, 2.0],
        }
    )
    sharp = pd.DataFrame(
        {"run_id": ["r", "r"], "condition": "bs", "category": "bs", "seed": 0,
         "step": [0, 10], "trace": [50.0, 20.0]}
    )  # fmt: skip
    curves = run_curves(layers, sharpness=sharp, metrics=("alpha", "log_norm", "stable_rank"))
    got = curves.set_index(["metric", "step"])["value"].to_dict()
    assert got == {
        ("alpha", 0): 3.0,
        ("alpha", 10): 3.0,
        ("log_norm", 0): 1.0,
        ("log_norm", 10): 2.0,
        (TRACE, 0): 50.0,
        (TRACE, 10): 20.0,
    }
    smooth = run_curves(layers, sharpness=sharp, metrics=("log_norm",), smoothing=0.5)
    trace = smooth[smooth["metric"] == TRACE]["value"].to_numpy()
    np.testing.assert_allclose(trace, ema(np.array([50.0, 20.0]), 0.5))
    with pytest.raises(DataError, match="step"):
        run_curves(layers.drop(columns="step"))


def test_category_trajectories_mean_over_conditions_then_t_interval() -> None:
    rng = np.random.default_rng(0)
    curves = _planted(rng, effects={}, conditions={"bs": 1, "dp": 4}, seeds=2)
    traj = category_trajectories(curves)
    row = traj[(traj["category"] == "dp") & (traj["step"] == 25)].iloc[0]
    sub = curves[(curves["category"] == "dp") & (curves["step"] == 25)]
    per_cond = sub.groupby("condition")["value"].mean().to_numpy()
    lo, hi = stats.t.interval(0.95, 3, loc=per_cond.mean(), scale=stats.sem(per_cond))
    assert row["mean"] == pytest.approx(per_cond.mean())
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((lo, hi))
    assert row["n_conditions"] == 4 and row["n_runs"] == 8
    base = traj[(traj["category"] == "bs") & (traj["step"] == 25)].iloc[0]
    assert base["n_conditions"] == 1 and base["ci_low"] < base["mean"] < base["ci_high"]


def test_planted_effect_is_recovered_and_detected() -> None:
    rng = np.random.default_rng(1)
    curves = _planted(
        rng, effects={"dp": 1.0, "div": 0.0}, conditions={"bs": 1, "dp": 4, "div": 6}, seeds=3
    )
    table = trajectory_tests(curves, n_permutations=999, seed=0).set_index("category")
    # planted: mean gap 0.5 over training; noise of one time-averaged run is ~0.1
    assert table.loc["dp", "area"] == pytest.approx(0.5, abs=0.2)
    # conditions are the units: the mean gap over the 4 dp conditions, with the baseline's
    # own noise (shared by every gap) in its SE
    assert table.loc["dp", "p_value"] < 0.05
    assert table.loc["dp", "ci_low"] < table.loc["dp", "area"] < table.loc["dp", "ci_high"]
    assert table.loc["div", "p_value"] > 0.01
    assert table.loc["dp", "p_holm"] >= table.loc["dp", "p_value"]
    assert table.loc["div", "n_conditions"] == 6 and table.loc["div", "n_runs"] == 18
    assert table.loc["div", "n_reference_runs"] == 3 and table.loc["div", "n_steps"] == 11


def test_two_categories_relabel_whole_conditions_or_say_the_design_cannot_reject() -> None:
    rng = np.random.default_rng(2)
    curves = _planted(rng, effects={"dp": 2.0}, conditions={"bs": 1, "dp": 4, "div": 4}, seeds=2)
    row = trajectory_tests(curves, reference="dp", categories=["div"], n_permutations=999).iloc[0]
    # 4 vs 4 conditions: 70 relabellings, enumerated; the observed one is the most extreme
    assert row["exact"] and row["min_p"] == pytest.approx(2 / 70)
    assert row["p_value"] < 0.05 and row["area"] == pytest.approx(-1.0, abs=0.3)
    small = _planted(rng, effects={"dp": 2.0}, conditions={"bs": 1, "dp": 2, "div": 2}, seeds=2)
    row = trajectory_tests(small, reference="dp", categories=["div"]).iloc[0]
    # 2 vs 2 conditions: the smallest possible p is 1/3 — no test, a note instead
    assert np.isnan(row["p_value"]) and row["min_p"] == pytest.approx(1 / 3)
    assert "no test can reach p < 0.05" in row["note"]


@pytest.mark.parametrize("seeds,n_perm", [(2, 999), (3, 99)])  # exact path, Monte Carlo path
def test_calibrated_under_no_effect(seeds: int, n_perm: int) -> None:
    """Planted no-effect data: the rejection rate at 5 % is at most 5 % (binomial slack)."""
    rng = np.random.default_rng(3)
    reps, p_values = 300, []
    for r in range(reps):
        curves = _planted(rng, effects={}, conditions={"bs": 1, "div": 6}, seeds=seeds)
        p_values.append(trajectory_tests(curves, n_permutations=n_perm, seed=r)["p_value"].iloc[0])
    rate = float(np.mean(np.asarray(p_values) <= 0.05))
    assert rate <= 0.05 + 2.5 * math.sqrt(0.05 * 0.95 / reps), rate
    assert rate > 0  # the test is not degenerate (it can reject)


def test_shared_seed_effects_do_not_fool_the_test() -> None:
    # huge seed-to-seed differences and an unbalanced number of seeds per category would
    # make an unmatched comparison reject; the seed-matched linear model removes them
    rng = np.random.default_rng(4)
    curves = _planted(rng, effects={}, conditions={"bs": 1, "div": 6}, seeds=3, noise=0.01)
    curves = curves[~((curves["category"] == "div") & (curves["seed"] == 0))]
    curves.loc[curves["seed"] == 0, "value"] += 10.0
    row = trajectory_tests(curves, n_permutations=999).iloc[0]
    naive = curves[curves["category"] == "div"]["value"].mean() - curves[
        curves["category"] == "bs"]["value"].mean()  # fmt: skip
    assert abs(naive) > 3  # the naive gap is large
    assert abs(row["area"]) < 0.2 and row["p_value"] > 0.05  # the seed-matched one is not


def test_errors() -> None:
    rng = np.random.default_rng(5)
    curves = _planted(rng, effects={}, conditions={"bs": 1, "dp": 2}, seeds=2)
    with pytest.raises(DataError, match="reference category 'nope'"):
        trajectory_tests(curves, reference="nope")
    with pytest.raises(ConfigError, match="n_permutations"):
        trajectory_tests(curves, n_permutations=0)
