"""A tiny real study with step snapshots and the Hessian trace: collected tables and report."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from image_fixtures import needs_fashion
from weightspace.compare import compare
from weightspace.compare.dynamics import dynamics_tables
from weightspace.compare.result import save_to_study
from weightspace.config import tomllib
from weightspace.report import build_report
from weightspace.report.dynamics import trajectories_figure
from weightspace.study import StudySpec, run_study

TINY = """
[study]
name = "tiny-dynamics"
seeds = [0, 1]

[data]
dataset = "fashion-mnist"
train_size = 200
test_size = 100
ood = false

[model]
name = "mlp"

[train]
epochs = 1
batch_size = 30            # 180 training images: 6 steps
snapshot_every_steps = 2
hessian_every_steps = 3
hessian_probes = 3
hessian_batches = 1

[conditions]
baseline = true
dropout = [0.5]
weight_decay = [5e-3, 5e-2]
"""

pytestmark = needs_fashion


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = StudySpec.from_dict(tomllib.loads(TINY))
    root = tmp_path_factory.mktemp("dyn") / "study"
    result = run_study(spec, root, workers=1, threads=1, progress=False, analyze=False)
    assert result.done == 8, result.runs.error.tolist()
    return root


def test_layers_and_sharpness_tables(study: Path) -> None:
    layers = pd.read_parquet(study / "layers.parquet")
    per_run = layers.groupby("run_id")["snapshot"].unique().map(sorted)
    assert all(s == ["after", "before", "step2", "step4"] for s in per_run)
    steps = layers.groupby("snapshot")["step"].unique().map(list).to_dict()
    assert steps == {"before": [0], "step2": [2], "step4": [4], "after": [6]}
    sharp = pd.read_parquet(study / "sharpness.parquet")
    assert len(sharp) == 8 * 3  # steps 0, 3 and 6 of every run
    assert sorted(sharp["step"].unique()) == [0, 3, 6]
    assert {"run_id", "condition", "category", "seed", "trace", "trace_se"} <= set(sharp)
    runs = pd.read_parquet(study / "runs.parquet")
    assert runs["hessian_trace"].notna().all()


def test_trajectories_tests_and_report(study: Path, tmp_path: Path) -> None:
    layers = pd.read_parquet(study / "layers.parquet")
    sharp = pd.read_parquet(study / "sharpness.parquet")
    traj, tests = dynamics_tables(layers, sharp, n_permutations=99)
    assert set(traj["metric"]) == {"alpha", "log_norm", "log_spectral_norm", "stable_rank",
                                   "log10_hessian_trace"}  # fmt: skip
    assert set(traj["step"]) == {0, 2, 3, 4, 6}
    assert set(tests["category"]) == {"dp", "wd"} and tests["p_value"].between(0, 1).all()
    trajectories_figure(traj)
    result = compare(study, n_perm=50, n_boot=50, n_sims=0)  # stores what the report shows
    pd.testing.assert_frame_equal(result.tables["trajectories"], traj)
    assert set(result.tables["trajectory_tests"]["category"]) == set(tests["category"])
    save_to_study(study, {"default": result})
    html = build_report(study, out=tmp_path / "report.html", formats=()).read_text()
    assert 'id="dynamics"' in html and "Hessian trace" in html


def test_report_tests_log_trace_and_diversity_against_dropout() -> None:
    """A planted sharpness table: dropout's trace is 10x lower than everyone else's at every
    step; the report's tests run on log10 and add data diversity against dropout."""
    import numpy as np

    rng = np.random.default_rng(0)
    rows = []
    for cat, k in {"bs": 1, "dp": 3, "div": 3}.items():
        for c in range(k):
            cond = "bs" if cat == "bs" else f"{cat}{c}"
            for seed in range(3):
                for step in (0, 10, 20):
                    base = 100.0 * (1 + step) * (0.1 if cat == "dp" and step else 1.0)
                    trace = base * 10 ** rng.normal(0, 0.05)
                    rows.append((f"{cond}_{seed}", cond, cat, seed, step, trace))
    sharp = pd.DataFrame(rows, columns=["run_id", "condition", "category", "seed", "step", "trace"])
    sharp.loc[0, "trace"] = -5.0  # a negative estimate: its step leaves the tests, not a crash
    traj, tests = dynamics_tables(None, sharp, n_permutations=99)
    assert set(traj["metric"]) == {"log10_hessian_trace"}
    rows_by = tests.set_index(["category", "reference"])
    assert set(rows_by.index) == {("dp", "bs"), ("div", "bs"), ("div", "dp")}
    # log10 gap 0, 1, 1 at steps 0, 10, 20: mean gap (0.5·10 + 1·10) / 20 = 0.75
    assert rows_by.loc[("div", "dp"), "area"] == pytest.approx(0.75, abs=0.05)
    assert int(rows_by.loc[("div", "dp"), "n_steps"]) == 3
    # the baseline's negative estimate at step 0 leaves that step out of its comparisons
    assert int(rows_by.loc[("dp", "bs"), "n_steps"]) == 2
    assert rows_by.loc[("dp", "bs"), "area"] == pytest.approx(-1.0, abs=0.05)
    from weightspace.stats.multiplicity import holm

    assert tests["p_holm"].tolist() == pytest.approx(
        list(holm(tests["p_value"].to_numpy())), nan_ok=True
    )
    # 3 vs 3 conditions: the smallest exact p is 0.1, so that row says so instead of testing
    row = rows_by.loc[("div", "dp")]
    assert np.isnan(row["p_value"]) and "no test can reach p < 0.05" in row["note"]


def test_sharpness_preset_plan() -> None:
    from weightspace.study import expand

    plans = expand(StudySpec.from_preset("sharpness"))
    assert len(plans) == 13 * 3
    cats = {p.category for p in plans}
    assert cats == {"bs", "dp", "wd", "div"}
    per_cat = {c: len({p.condition for p in plans if p.category == c}) for c in cats}
    assert per_cat == {"bs": 1, "dp": 4, "wd": 4, "div": 4}
    cfg = plans[0].config
    assert (cfg.model, cfg.pretrained, cfg.epochs, cfg.batch_size) == (
        "efficientnet-lite0",
        "imagenet",
        6,
        60,
    )
    assert (cfg.lr, cfg.schedule, cfg.train_size) == (2e-3, "cosine", 1000)
    assert cfg.hessian_every_steps == 30 and cfg.snapshot_every_steps == 6
