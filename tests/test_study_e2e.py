"""A tiny real study end to end on CPU: 3 conditions × 2 seeds through weightspace.train.run."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from image_fixtures import needs_fashion
from weightspace.study import StudySpec, run_study

TINY = """
[study]
name = "tiny"
seeds = [0, 1]

[data]
dataset = "fashion-mnist"
train_size = 200
test_size = 100
ood_severities = [3]

[model]
name = "mlp"

[train]
epochs = 1
batch_size = 32
lr = 1e-3

[conditions]
baseline = true
dropout = [0.5]
weight_decay = [5e-3]
"""

pytestmark = needs_fashion


def test_tiny_real_study(tmp_path):
    spec_path = tmp_path / "tiny.toml"
    spec_path.write_text(TINY)
    spec = StudySpec.from_toml(spec_path)
    study = tmp_path / "study"
    result = run_study(spec, study, workers=2, threads=1, progress=False, analyze=False)
    assert (result.total, result.done, result.failed) == (6, 6, 0), result.runs.error.tolist()

    runs = pd.read_parquet(study / "runs.parquet")
    assert sorted(runs.condition.unique()) == ["bs", "dp0.5", "wd0.005"]
    assert (runs.status == "done").all()
    assert runs.test_acc.between(0.2, 1.0).all()  # chance is 0.1
    assert runs.set_index("condition").loc["wd0.005", "weight_decay"].tolist() == [5e-3] * 2
    ood_cols = [c for c in runs.columns if c.startswith("ood_") and c.endswith("_3_acc")]
    assert "ood_gaussian_noise_3_acc" in ood_cols
    assert runs[ood_cols].notna().all().all()
    # two seeds of the same condition really differ
    bs = runs[runs.condition == "bs"].sort_values("seed")
    assert bs.run_id.nunique() == 2 and bs.test_loss.nunique() == 2

    layers = pd.read_parquet(study / "layers.parquet")
    assert set(layers.snapshot) == {"before", "after"}
    per_run = layers.groupby(["run_id", "snapshot"]).size()
    assert len(per_run) == 12 and per_run.nunique() == 1  # every run: same layers twice
    for col in ("alpha", "log_norm", "log_spectral_norm", "entropy", "stable_rank"):
        assert col in layers.columns
    moved = pd.read_parquet(study / "weight_delta.parquet")  # every run's ΔW and overlap
    assert moved.groupby("run_id").size().to_dict() == (
        layers[layers.snapshot == "after"].groupby("run_id").size().to_dict()
    )
    assert moved["overlap_left"].between(0, 1 + 1e-9).all() and moved["rel_change"].gt(0).all()
    h = result.overview
    assert h.baseline_runs == 2 and not math.isnan(h.baseline_acc_std)
    assert set(h.deltas) == {"bs", "dp", "wd"}

    # rerun: everything is finished, nothing is trained again
    again = run_study(spec, study, workers=2, threads=1, progress=False, analyze=False)
    assert (again.skipped, again.done) == (6, 6)
    assert pd.read_parquet(study / "runs.parquet").run_id.tolist() == runs.run_id.tolist()

    # a run finished before runs recorded weight_delta.parquet gets it when the study is
    # collected again, and stays verifiable (its manifest is refreshed)
    from weightspace import store
    from weightspace.study.collect import collect

    old = next((study / "runs").glob("dp0.5__s1__*"))
    (old / "weight_delta.parquet").unlink()
    store.write_manifest(old)
    collect(study)
    assert store.read_run(old, hashes=True).status is store.RunStatus.DONE
    again_moved = pd.read_parquet(study / "weight_delta.parquet")
    pd.testing.assert_frame_equal(again_moved, moved)
    # one whose weights cannot be read is left without it; collection still succeeds
    (old / "weight_delta.parquet").unlink()
    (old / "weights_init.safetensors").write_bytes(b"not a safetensors file")
    store.write_manifest(old)
    collect(study)
    assert not (old / "weight_delta.parquet").exists()
    left = set(pd.read_parquet(study / "weight_delta.parquet")["run_id"])
    assert old.name.split("__")[2] not in left and len(left) == 5


@pytest.mark.slow
def test_tiny_real_study_with_comparison_and_report(tmp_path):
    spec_path = tmp_path / "tiny.toml"
    spec_path.write_text(TINY)
    spec = StudySpec.from_toml(spec_path)
    result = run_study(spec, tmp_path / "s", workers=2, threads=1, progress=False)
    assert result.done == 6 and not result.notes, result.notes
    assert result.report is not None and result.report.is_file()
    assert (tmp_path / "s" / "compare" / "default" / "compare.json").is_file()
    assert (tmp_path / "s" / "compare" / "paper" / "compare.json").is_file()
    rotation = pd.read_csv(tmp_path / "s" / "compare" / "default" / "rotation.csv")
    assert set(rotation["category"]) == {"bs", "dp", "wd"}
    tests = pd.read_csv(tmp_path / "s" / "compare" / "default" / "rotation_tests.csv")
    assert set(tests["metric"]) == {"overlap", "rel_change"} and (tests["n_family"] == 2).all()
    html = result.report.read_text(encoding="utf-8")
    assert "Rotate or rescale?" in html and "Rotate or rescale — dropout" in html


@pytest.mark.slow
def test_tiny_study_with_the_diversity_check(tmp_path):
    spec = StudySpec.from_dict(
        {
            "study": {"name": "tiny-div", "seeds": [0]},
            "data": {"dataset": "fashion-mnist", "train_size": 200, "test_size": 100, "ood": False},
            "model": {"name": "mlp"},
            "train": {"epochs": 1, "batch_size": 32},
            "conditions": {"baseline": True, "augment": ["noise50", "auto", "trivial"]},
        }
    )
    result = run_study(spec, tmp_path / "s", workers=2, threads=1, progress=False, diversity=True)
    assert result.done == 4 and not result.notes, result.notes
    div = pd.read_parquet(tmp_path / "s" / "diversity.parquet").set_index("condition")
    assert set(div.index) == {"bs", "divNoize50", "divAuto", "divTrAu"}
    assert (div["vs_emb"] > 0).all() and div.loc["bs", "rho"] == pytest.approx(1.0)
    assert div.loc["divAuto", "rho"] < 1.0
    assert "diversity" in result.report.read_text().lower()
