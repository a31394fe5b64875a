"""The prediction check on a tiny study: one trained baseline run plus augmentation conditions.

Only the baseline is trained (it is the encoder and the affinity model); the other
conditions' run directories hold their config.json, and runs.parquet carries made-up
accuracies, which is all the check reads from them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from weightspace.study.predict import CONDITION_COLUMNS, check_columns, prediction_check

BASE = {
    "dataset": "fashion-mnist",
    "train_size": 300,
    "test_size": 100,
    "epochs": 1,
    "model": "mlp",
    "width": 0.25,
    "ood": False,
}
# condition -> (category, augment, dropout, test_acc, final_train_loss)
CONDITIONS = {
    "bs": ("bs", "none", 0.0, 0.70, 0.50),
    "divNoize10": ("div", "noise10", 0.0, 0.69, 0.52),
    "divNoize50": ("div", "noise50", 0.0, 0.66, 0.58),
    "divAuto": ("div", "auto", 0.0, 0.62, 0.90),
    "dp0.5": ("dp", "none", 0.5, 0.71, 0.60),
    "gen0.5_add": ("gen", "none", 0.0, 0.60, 1.00),
}


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from weightspace import store
    from weightspace.train import RunConfig, run

    root = tmp_path_factory.mktemp("study")
    rng = np.random.default_rng(0)
    synth = root / "synth.npz"  # 30 noise images per class
    np.savez(
        synth,
        image=rng.integers(0, 255, (300, 28, 28), dtype=np.uint8),
        label=np.repeat(np.arange(10), 30),
    )
    rows = []
    for cond, (cat, aug, dp, acc, loss) in CONDITIONS.items():
        extra = {}
        if cat == "gen":
            extra = {"synthetic": {"source": str(synth), "mode": "add", "fraction": 0.5}}
        cfg = RunConfig.from_dict(
            {**BASE, "augment": aug, "dropout": dp, "condition": cond, "category": cat, **extra}
        )
        run_dir = root / "runs" / f"{cond}__s0__{cfg.run_id()}"
        if cond == "bs":
            run(cfg, run_dir, progress=False)
        else:
            run_dir.mkdir(parents=True)
            store.write_json(run_dir / "config.json", {**cfg.to_dict(), "run_id": cfg.run_id()})
        rows.append(
            {
                "run_id": cfg.run_id(),
                "condition": cond,
                "category": cat,
                "seed": 0,
                "status": "done",
                "strength": np.nan,
                "run_dir": f"runs/{run_dir.name}",
                "augment": aug,
                "dropout": dp,
                "test_acc": acc,
                "ood_acc": acc - 0.2,
                "final_train_loss": loss,
            }
        )
    pd.DataFrame(rows).to_parquet(root / "runs.parquet")
    # layers.parquet: 3 layers whose log_norm grows by (layer + 1) · shift(condition)
    shift = {"bs": 0.0, "divNoize10": 0.1, "divNoize50": 0.2, "divAuto": 0.3, "dp0.5": -0.1,
             "gen0.5_add": 0.4}  # fmt: skip
    layer_rows = []
    for r in rows:
        for snap in ("before", "after"):
            for layer in range(3):
                grow = (layer + 1) * (1 + shift[r["condition"]]) if snap == "after" else 0.0
                layer_rows.append({
                    "run_id": r["run_id"], "condition": r["condition"], "category": r["category"],
                    "seed": 0, "snapshot": snap, "layer_id": layer, "name": f"l{layer}",
                    "longname": f"l{layer}", "alpha": 3.0 + grow, "entropy": 0.9 + grow,
                    "log_norm": 1.0 + grow, "log_spectral_norm": 0.5 + grow,
                })  # fmt: skip
    pd.DataFrame(layer_rows).to_parquet(root / "layers.parquet")
    return root


def test_prediction_check_table_and_correlations(study: Path, tmp_path: Path) -> None:
    res = prediction_check(study, draws=2, n=200, n_boot=100, cache=tmp_path, affinity_images=200)
    t = res.conditions.set_index("condition")
    check_columns(res.conditions)
    assert list(res.conditions.columns) == list(CONDITION_COLUMNS)
    assert set(t.index) == set(CONDITIONS)
    assert t.loc["bs", "acc_gain"] == 0 and t.loc["divAuto", "acc_gain"] == pytest.approx(-0.08)
    assert t.loc["bs", "rho"] == pytest.approx(1.0) and t.loc["bs", "affinity"] == 1.0
    assert t.loc["divAuto", "rho"] < t.loc["divNoize10", "rho"] <= 1.0
    assert t.loc["divAuto", "affinity"] < 1.0  # AutoAugment hurts the clean model
    assert t.loc["divNoize50", "gl_diversity"] == pytest.approx(0.58 / 0.50)
    assert t["encoder"].str.startswith("baseline:").all()
    # dropout leaves the data as is: same scores as the baseline, out of the correlations
    assert not t.loc["dp0.5", "data_condition"] and t.loc["divAuto", "data_condition"]
    assert t.loc["dp0.5", "vs_emb"] == pytest.approx(t.loc["bs", "vs_emb"])
    # ΔΔ log_norm = mean over layers of (layer + 1) · shift = 2 · shift
    assert t.loc["divAuto", "dd_log_norm"] == pytest.approx(0.6)
    assert t.loc["dp0.5", "dd_alpha"] == pytest.approx(-0.2)
    assert t.loc["bs", "dd_log_norm"] == 0.0
    # the synthetic "add" condition: its mixed set against its real part
    assert t.loc["gen0.5_add", "synthetic"] and t.loc["gen0.5_add", "data_condition"]
    assert np.isnan(t.loc["gen0.5_add", "affinity"])
    assert t.loc["gen0.5_add", "n"] > 200  # the appended rows paired with chosen real rows
    assert t.loc["gen0.5_add", "rho"] < t.loc["divNoize10", "rho"]  # noise images
    c = res.correlations.set_index(["stratum", "score", "target"])
    # augmentation and synthetic data apart, the baseline in both; below five conditions
    # there is no correlation to report (the smallest exact p of four points is 1/12)
    assert c.loc[("augmentation", "gl_diversity", "acc_gain"), "n"] == 4
    assert c.loc[("synthetic", "gl_diversity", "acc_gain"), "n"] == 2
    assert c["spearman"].isna().all() and c["p"].isna().all()
    written = pd.read_parquet(study / "diversity.parquet")
    assert list(written["condition"]) == list(res.conditions["condition"])
    assert (study / "diversity_correlations.parquet").is_file()


def test_prediction_check_needs_a_baseline(study: Path, tmp_path: Path) -> None:
    from weightspace.errors import DataError

    runs = pd.read_parquet(study / "runs.parquet")
    other = tmp_path / "nobs"
    other.mkdir()
    runs[runs["category"] != "bs"].to_parquet(other / "runs.parquet")
    with pytest.raises(DataError, match="baseline"):
        prediction_check(other, cache=False)
    with pytest.raises(DataError, match=r"runs\.parquet"):
        prediction_check(tmp_path / "empty", cache=False)


def test_baseline_encoder_from_run_dir(study: Path) -> None:
    from weightspace.diversity import get_encoder
    from weightspace.train import load_run

    run_dir = next((study / "runs").glob("bs__*"))
    enc = get_encoder("baseline", in_channels=1, run=load_run(run_dir))
    import torch

    x = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    a, b = enc(x), get_encoder("baseline", in_channels=1, run=load_run(run_dir))(x)
    assert a.ndim == 2 and a.shape[0] == 6
    np.testing.assert_array_equal(a, b)


def test_cli_study_prints_correlations(study: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from weightspace.cli import app

    res = CliRunner().invoke(
        app,
        ["diversity", "--study", str(study), "--draws", "1", "--n", "100"],
        env={"WEIGHTSPACE_CACHE": str(tmp_path)},
    )
    assert res.exit_code == 0, res.output
    assert "divAuto" in res.output and "spearman" in res.output
    assert "diversity.parquet" in res.output
