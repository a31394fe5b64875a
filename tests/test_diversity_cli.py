"""``weightspace diversity`` through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from weightspace.cli import app

runner = CliRunner()


def invoke(*args: str, cache: Path | None = None) -> object:
    env = {"WEIGHTSPACE_CACHE": str(cache)} if cache else None
    return runner.invoke(app, ["diversity", *args], env=env)


def test_scores_an_augmented_set_as_json(tmp_path: Path) -> None:
    res = invoke(
        "--augment", "noise50", "--encoder", "random-conv", "--n", "120", "--draws", "2",
        "--json", cache=tmp_path,
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    s = json.loads(res.output)
    assert s["draws"] == 2 and s["n"] == 120 and s["augment"] == "noise50"
    assert len(s["per_class_vs_emb"]) == 10
    assert s["encoder"].startswith("random-conv")
    assert 0.9 < s["rho"] < 1.0 and s["wvs"] == pytest.approx(s["vs_emb"] * s["rho"], rel=1e-3)
    assert list((tmp_path / "features").glob("*.npy"))  # the cache was used


def test_text_output_and_q_inf(tmp_path: Path) -> None:
    res = invoke("--encoder", "pixels", "--n", "100", "--q", "inf", "--per-class", cache=tmp_path)
    assert res.exit_code == 0, res.output
    assert "Ankle boot" in res.output  # per-class line with the class name
    assert "VS pixel" in res.output and "WVS" in res.output and "q=inf" in res.output
    assert "rho (paired)" in res.output and "rho (unpaired)" in res.output


def test_synthetic_add_mix(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "synth.npz"
    np.savez(
        path,
        image=rng.integers(0, 255, (200, 28, 28, 1), dtype=np.uint8),
        label=np.repeat(np.arange(10), 20),
    )
    res = invoke(
        "--synthetic", str(path), "--mode", "add", "--fraction", "0.5", "--n", "100",
        "--encoder", "pixels", "--json", "--no-cache",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    s = json.loads(res.output)
    assert s["n"] == 150  # 100 real + 50 appended synthetic rows
    assert s["rho"] < 0.95  # noise images paired with the first real rows


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--augment", "autoo"], "did you mean 'auto'"),
        (["--encoder", "baseline"], "--run-dir"),
        (["--encoder", "clip-rn50x"], "unknown encoder"),
        (["--q", "-1"], "q="),
        (["--q", "two"], "not a number"),
        (["--study", "/nonexistent/study"], "runs.parquet"),
        (["--dataset", "cifar-11"], "dataset"),
    ],
)
def test_user_errors_exit_2_with_a_message(args: list[str], message: str) -> None:
    res = invoke(*args, "--n", "50", "--no-cache")
    assert res.exit_code == 2, res.output
    assert message in res.output


def test_study_check_prints_strata_p_values_and_the_family(tmp_path: Path, monkeypatch) -> None:
    """The check's table on the terminal: one line per stratum and score with its p, the
    BH-adjusted p, and the family's size (the correlations are computed, not stubbed)."""
    import pandas as pd

    from weightspace.cli import diversity as cli_diversity
    from weightspace.compare.prediction import study_correlations
    from weightspace.study import predict

    rng = np.random.default_rng(0)
    n = 7
    table = pd.DataFrame({
        "condition": ["bs", *[f"div{i}" for i in range(n - 1)], "gen0.5"],
        "category": ["bs", *["div"] * (n - 1), "gen"],
        "synthetic": [False] * n + [True],
        "test_acc": np.linspace(0.6, 0.7, n + 1), "test_acc_std": 0.01, "n_seeds": 2,
    })  # fmt: skip
    table["acc_gain"] = table["test_acc"] - 0.6
    table["vs_emb"] = table["acc_gain"] + rng.normal(0, 0.01, len(table))
    for col in ("rho", "wvs", "affinity", "gl_diversity"):
        table[col] = np.nan
    corrs = study_correlations(table, ["vs_emb"], ["acc_gain"], rng=rng, n_boot=100, n_perm=200)
    check = predict.PredictionCheck(conditions=table, correlations=corrs, baseline_run="x")
    monkeypatch.setattr(cli_diversity, "prediction_check", lambda *a, **k: check)
    res = invoke("--study", str(tmp_path))
    assert res.exit_code == 0, res.output
    aug = corrs[corrs["stratum"] == "augmentation"].iloc[0]
    assert "augmentation" in res.output and "synthetic" in res.output
    assert f"p {aug['p']:.3g}" in res.output and f"p_adj {aug['p_adj']:.3g}" in res.output
    assert f"— {int(aug['n_family'])} tests" in res.output
