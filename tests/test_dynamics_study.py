"""A tiny real study with step snapshots and the Hessian trace: collected tables and report."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from weightspace.config import tomllib
from weightspace.report import build_report
from weightspace.report.dynamics import dynamics_tables, trajectories_figure
from weightspace.study import StudySpec, run_study

FMNIST = Path("/usr/share/datasets/fashion-mnist")
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

pytestmark = pytest.mark.skipif(
    not FMNIST.is_dir(), reason="needs the Fashion-MNIST IDX files (dataset-fashion-mnist)"
)


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
                                   "hessian_trace"}  # fmt: skip
    assert set(traj["step"]) == {0, 2, 3, 4, 6}
    assert set(tests["category"]) == {"dp", "wd"} and tests["p_value"].between(0, 1).all()
    trajectories_figure(traj)
    html = build_report(study, out=tmp_path / "report.html", formats=()).read_text()
    assert 'id="dynamics"' in html and "Hessian trace" in html


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
        2,
        64,
    )
    assert cfg.hessian_every_steps == 11 and cfg.snapshot_every_steps == 4
