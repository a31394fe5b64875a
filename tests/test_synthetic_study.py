"""A tiny study with one ``gen`` condition, end to end with the real training run."""

from __future__ import annotations

from pathlib import Path

import pytest

from weightspace.study import StudySpec, run_study


@pytest.mark.slow
def test_tiny_study_with_a_gen_condition(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEIGHTSPACE_CACHE", str(tmp_path / "cache"))
    spec = StudySpec(
        name="gen-tiny",
        seeds=(0,),
        data={
            "dataset": "fashion-mnist",
            "train_size": 400,
            "test_size": 200,
            "ood_severities": [1],
        },
        model={"name": "mlp"},
        train={"epochs": 1, "batch_size": 64},
        conditions={
            "baseline": True,
            "synthetic": {
                "mode": "replace",
                "fractions": [0.5],
                "source": "builtin",
                "generator": {"epochs": 2},
            },
        },
    )
    result = run_study(spec, tmp_path / "study", workers=0, progress=False)
    assert (result.total, result.done, result.failed) == (2, 2, 0)
    assert not result.notes, result.notes
    runs = result.runs.set_index("condition")
    assert runs.loc["gen0.5", "category"] == "gen"
    assert runs.loc["gen0.5", "strength"] == 0.5
    assert 0.0 < runs.loc["gen0.5", "test_acc"] <= 1.0
    cached = list((tmp_path / "cache" / "synthetic").glob("*/samples.npz"))
    assert len(cached) == 1  # generated once, for the one real subset
    # the generator's quality reaches the study directory and the report
    quality = tmp_path / "study" / "synthetic" / "s0"
    assert {p.name for p in quality.iterdir()} == {"grid.png", "quality.csv", "provenance.json"}
    html = result.report.read_text()
    assert "Synthetic vs traditional diversity" in html and "generator quality, seed 0" in html
