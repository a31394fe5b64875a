"""``weightspace train`` through typer's CliRunner."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from weightspace import store
from weightspace.cli import app

runner = CliRunner()
SMALL = ["--train-size", "200", "--test-size", "100", "--no-ood", "--quiet", "--threads", "1"]


def test_train_with_config_file_and_overriding_flags(tmp_path: Path) -> None:
    toml = tmp_path / "run.toml"
    toml.write_text('model = "mlp"\nepochs = 3\ndropout = 0.5\naugment = [{op = "hflip"}]\n')
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        ["train", "--config", str(toml), "--epochs", "1", "--lr", "0.002", *SMALL, "-o", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "test_acc" in result.stdout and str(out) in result.stdout
    assert store.is_complete(out)
    cfg = store.read_json(out / "config.json")
    assert (cfg["model"], cfg["epochs"], cfg["lr"], cfg["dropout"]) == ("mlp", 1, 0.002, 0.5)
    assert cfg["augment"] == [{"op": "hflip"}] and cfg["ood"] is False
    metrics = store.read_json(out / "metrics.json")
    assert f"{metrics['test_acc']:.4f}" in result.stdout

    again = runner.invoke(app, ["train", "--config", str(toml), *SMALL, "-o", str(out)])
    assert again.exit_code == 2 and "--overwrite" in again.output


def test_unknown_model_exits_2_listing_models(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["train", "--model", "resnet-19", *SMALL, "-o", str(tmp_path / "r")]
    )
    assert result.exit_code == 2
    assert "unknown model 'resnet-19'" in result.output
    for name in ("cnn-small", "mlp", "resnet18"):
        assert name in result.output
    assert not (tmp_path / "r").exists()


def test_unknown_policy_and_dataset_exit_2(tmp_path: Path) -> None:
    bad_aug = runner.invoke(
        app, ["train", "--augment", "autoaug", *SMALL, "-o", str(tmp_path / "r")]
    )
    assert bad_aug.exit_code == 2 and "trivial" in bad_aug.output
    bad_ds = runner.invoke(app, ["train", "--dataset", "cifar", *SMALL, "-o", str(tmp_path / "r")])
    assert bad_ds.exit_code == 2 and "fashion-mnist" in bad_ds.output


def test_unknown_config_key_lists_valid_keys(tmp_path: Path) -> None:
    toml = tmp_path / "bad.toml"
    toml.write_text("epoch = 2\n")
    result = runner.invoke(app, ["train", "--config", str(toml), "-o", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert "did you mean 'epochs'" in result.output and "valid keys:" in result.output
