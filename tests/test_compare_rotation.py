"""Rotate or rescale: per-category summaries and tests of the ΔW / subspace-overlap table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from weightspace.compare import rotation
from weightspace.compare.conclude import rotation_sentences
from weightspace.compare.default import category_tests
from weightspace.compare.multiplicity import adjust_tables
from weightspace.errors import DataError

CONDITIONS = {"bs": 1, "dp": 4, "wd": 4, "div": 6}
LAYERS = 5


def _planted(
    rng: np.random.Generator,
    *,
    overlap_shift: dict[str, float],
    seeds: int = 2,
    condition_sd: float = 0.01,
) -> pd.DataFrame:
    """A weight-delta table: overlap = 0.95 + layer effect + seed effect + condition effect
    + category shift + noise (the same for both sides), rel_change unrelated to category."""
    layer_effect = rng.normal(0, 0.02, LAYERS)
    seed_effect = rng.normal(0, 0.01, seeds)
    rows = []
    for cat, k in CONDITIONS.items():
        for c in range(k):
            cond = "bs" if cat == "bs" else f"{cat}{c}"
            cond_effect = rng.normal(0, condition_sd)
            for s in range(seeds):
                for layer in range(LAYERS):
                    ov = 0.95 + layer_effect[layer] + seed_effect[s] + cond_effect
                    ov += overlap_shift.get(cat, 0.0) + rng.normal(0, 0.005)
                    rows.append(
                        {
                            "run_id": f"{cond}_s{s}",
                            "condition": cond,
                            "category": cat,
                            "seed": s,
                            "layer_id": layer,
                            "longname": f"layer{layer}",
                            "overlap_left": ov,
                            "overlap_right": ov,
                            "max_angle_left": 90 * (1 - ov),
                            "max_angle_right": 90 * (1 - ov),
                            "rel_change": 0.05 + rng.normal(0, 0.005),
                            "delta_stable_rank": np.nan if layer == 0 else 5.0,
                        }
                    )
    return pd.DataFrame(rows)


def _tables(deltas: pd.DataFrame, seed: int = 0, n_perm: int = 499) -> dict[str, pd.DataFrame]:
    per_run = rotation.run_rotation(deltas)
    tests = category_tests(
        rotation.tested_scores(per_run),
        rotation.TESTED,
        rng=np.random.default_rng(seed),
        n_perm=n_perm,
    )
    return adjust_tables({"rotation": rotation.rotation_summary(per_run), "rotation_tests": tests})


def test_run_rotation_averages_layers_and_sides_leaving_out_nan() -> None:
    deltas = _planted(np.random.default_rng(0), overlap_shift={})
    deltas.loc[0, "overlap_right"] = np.nan  # one side missing: the other side counts
    per_run = rotation.run_rotation(deltas)
    assert len(per_run) == sum(CONDITIONS.values()) * 2
    run0 = deltas[deltas["run_id"] == deltas.loc[0, "run_id"]]
    want = np.mean([run0["overlap_left"].iloc[0], *run0["overlap_left"].iloc[1:]])
    got = per_run.set_index("run_id").loc[deltas.loc[0, "run_id"], "overlap"]
    assert got == pytest.approx(want)
    assert per_run["delta_stable_rank"].eq(5.0).all()  # the NaN layer left out, not a 0


def test_summary_intervals_over_conditions_and_baseline_over_seeds() -> None:
    deltas = _planted(np.random.default_rng(1), overlap_shift={"dp": -0.05})
    summary = rotation.rotation_summary(rotation.run_rotation(deltas)).set_index(
        ["category", "metric"]
    )
    dp = summary.loc[("dp", "overlap")]
    assert dp["n_conditions"] == 4 and dp["n_runs"] == 8
    assert dp["ci_low"] < dp["mean"] < dp["ci_high"]
    assert dp["diff_from_baseline"] == pytest.approx(dp["mean"] - dp["baseline_mean"])
    assert dp["diff_from_baseline"] == pytest.approx(-0.05, abs=0.03)
    bs = summary.loc[("bs", "overlap")]
    assert bs["n_conditions"] == 1 and bs["n_runs"] == 2 and np.isfinite(bs["ci_low"])


def test_a_planted_rotation_is_detected_and_worded() -> None:
    deltas = _planted(np.random.default_rng(2), overlap_shift={"dp": -0.08})
    tables = _tables(deltas)
    tests = tables["rotation_tests"].set_index(["a", "b", "metric"])
    assert set(tests.index.get_level_values("metric")) == set(rotation.TESTED)
    assert tests.loc[("div", "dp", "overlap"), "p_adj"] < 0.05
    assert tests.loc[("div", "wd", "overlap"), "p_adj"] > 0.05
    assert (tests["family"] == "rotation (exploratory)").all()
    assert (tests["n_family"] == len(tests)).all()
    text = " ".join(rotation_sentences(tables))
    assert "Data diversity and dropout differ on the overlap" in text
    assert "No evidence that data diversity and weight decay differ on the overlap" in text
    assert "Rotate or rescale — dropout: top-k subspace overlap" in text
    assert "similar" not in text


@pytest.mark.slow
def test_no_effect_false_positive_rate_at_most_nominal() -> None:
    """Simulated studies with no category effect (but real condition-to-condition spread):
    how often does any rotation test reject at BH 5%? Must stay at or below 5% (+2 s.e.)."""
    rng = np.random.default_rng(3)
    n = 200
    any_hit = 0
    row_hits = 0
    rows = 0
    for i in range(n):
        tables = _tables(_planted(rng, overlap_shift={}, condition_sd=0.02), seed=i, n_perm=199)
        adj = tables["rotation_tests"]["p_adj"].to_numpy(dtype=float)
        raw = tables["rotation_tests"]["p"].to_numpy(dtype=float)
        any_hit += bool((adj < 0.05).any())
        row_hits += int((raw < 0.05).sum())
        rows += len(raw)
    bound = 0.05 + 2 * np.sqrt(0.05 * 0.95 / n)
    assert any_hit / n <= bound, any_hit / n
    assert row_hits / rows <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / rows), row_hits / rows


def test_missing_columns_name_the_fix() -> None:
    with pytest.raises(DataError, match="--collect"):
        rotation.run_rotation(pd.DataFrame({"run_id": ["a"], "condition": ["bs"]}))


def test_layer_rotation_keeps_network_order() -> None:
    deltas = _planted(np.random.default_rng(4), overlap_shift={})
    per_layer = rotation.layer_rotation(deltas, categories=["dp"])
    assert set(per_layer["category"]) == {"dp"}
    assert per_layer["longname"].astype(str).tolist() == [f"layer{i}" for i in range(LAYERS)]
