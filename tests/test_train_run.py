"""One run end to end: the run directory, every metric, determinism, atomicity."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch

import weightspace.data
import weightspace.train.data
import weightspace.train.image
from weightspace import store
from weightspace.errors import ConfigError
from weightspace.train import RunConfig, run

TINY = RunConfig(
    train_size=300, test_size=200, epochs=2, batch_size=32, model="cnn-small", ood=False
)
FILES = {
    "COMPLETE",
    "config.json",
    "metrics.json",
    "history.parquet",
    "spectra_before.parquet",
    "spectra_after.parquet",
    "weights.safetensors",
    "weights_init.safetensors",
    "weight_delta.parquet",
    "provenance.json",
    "MANIFEST.json",
}
TIMES = ("images_per_s", "wall_time_s")


def _fake_corrupt(images: torch.Tensor, kind: str, severity: int, *, seed: int) -> torch.Tensor:
    """A deterministic stand-in corruption: 'dark' scales pixels down, 'flip' mirrors."""
    if kind == "dark":
        return (images.float() * (1 - 0.15 * severity)).to(torch.uint8)
    return images.flip(-1)


@pytest.fixture
def fake_corruptions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(weightspace.data, "CORRUPTIONS", ("dark", "flip"), raising=False)
    monkeypatch.setattr(weightspace.train.image, "CORRUPTIONS", ("dark", "flip"))
    monkeypatch.setattr(weightspace.data, "corrupt", _fake_corrupt, raising=False)
    monkeypatch.setattr(weightspace.train.data, "corrupt", _fake_corrupt)


def _metrics_without_times(m: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in m.items() if k not in TIMES}


def test_run_directory_holds_every_file_and_metric(tmp_path: Path, fake_corruptions: None) -> None:
    from safetensors.torch import load_file

    from weightspace.models import create_model
    from weightspace.train import evaluate

    cfg = TINY.replace(ood=True, ood_severities=(1, 3), snapshot_every=1, dropout=0.1)
    out = tmp_path / "run"
    metrics = run(cfg, out, progress=False)
    assert {p.name for p in out.iterdir()} == FILES | {"spectra_epoch1.parquet"}
    assert store.read_json(out / "config.json") == {**cfg.to_dict(), "run_id": cfg.run_id()}
    assert RunConfig.from_dict(store.read_json(out / "config.json")) == cfg
    on_disk = store.read_json(out / "metrics.json")
    assert on_disk["ood"] == metrics["ood"]
    assert {k: v for k, v in on_disk.items() if k != "ood"} == pytest.approx(
        {k: v for k, v in metrics.items() if k != "ood"}
    )

    for key in ("test_acc", "train_acc", "val_acc", "ood_acc", "test_ece", "ood_ece"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert metrics["test_acc"] > 0.3  # 10 classes: well above chance after 2 epochs
    assert metrics["gap"] == pytest.approx(metrics["train_acc"] - metrics["test_acc"])
    assert metrics["test_nll"] == pytest.approx(metrics["test_loss"], rel=1e-4)
    assert metrics["epochs_run"] == 2 and metrics["images_per_s"] > 0
    assert metrics["wall_time_s"] > 0 and math.isfinite(metrics["final_train_loss"])
    # OOD: nested table, means over corruption x severity
    ood = metrics["ood"]
    assert set(ood) == {"dark", "flip"} and set(ood["dark"]) == {"1", "3"}
    accs = [ood[k][s]["acc"] for k in ood for s in ood[k]]
    assert metrics["ood_acc"] == pytest.approx(sum(accs) / 4)

    hist = pd.read_parquet(out / "history.parquet")
    assert list(hist.columns) == [
        "epoch", "train_loss", "train_acc", "val_acc", "val_loss", "lr", "seconds"
    ]  # fmt: skip
    assert hist["epoch"].tolist() == [1, 2]
    assert hist["train_loss"].iloc[-1] == pytest.approx(metrics["final_train_loss"])
    assert hist["val_acc"].iloc[-1] == pytest.approx(metrics["val_acc"])

    before = pd.read_parquet(out / "spectra_before.parquet")
    after = pd.read_parquet(out / "spectra_after.parquet")
    assert before["longname"].tolist() == after["longname"].tolist()
    assert {"alpha", "log_norm", "log_spectral_norm", "stable_rank", "entropy"} <= set(after)
    assert not before["log_norm"].equals(after["log_norm"])  # training changed the weights

    # the saved weights reproduce the test accuracy; the init weights are the seeded init
    data = _data(cfg)
    model = create_model("cnn-small", num_classes=10, in_channels=1, dropout=0.1, image_size=28)
    model.load_state_dict(load_file(out / "weights.safetensors"))
    test = evaluate(model, data.test.images, data.test.labels, mean=data.mean, std=data.std)
    assert test["acc"] == metrics["test_acc"]
    torch.manual_seed(cfg.seed)
    init = create_model("cnn-small", num_classes=10, in_channels=1, dropout=0.1, image_size=28)
    saved = load_file(out / "weights_init.safetensors")
    assert all(torch.equal(saved[k], v) for k, v in init.state_dict().items())

    # ΔW and subspace overlap against an explicit reference on the two saved files
    from weightspace.spectral.delta import weight_delta_table

    moved = pd.read_parquet(out / "weight_delta.parquet")
    assert moved[["layer_id", "longname"]].equals(after[["layer_id", "longname"]])  # as layers
    want = weight_delta_table(out / "weights_init.safetensors", out / "weights.safetensors", k=10)
    got = moved.set_index("longname").drop(columns="layer_id")
    pd.testing.assert_frame_equal(
        got, want.set_index("longname").drop(columns="layer_id").loc[got.index]
    )
    assert moved["rel_change"].gt(0).all() and moved["overlap_left"].between(0, 1 + 1e-9).all()

    prov = store.read_json(out / "provenance.json")
    assert prov["seed"] == 0 and prov["threads"] == 1 and prov["device"] == "cpu"
    assert prov["torch"] == torch.__version__ and prov["run_id"] == cfg.run_id()


def _data(cfg: RunConfig) -> Any:
    from weightspace.train.data import prepare_data

    return prepare_data(cfg)


def test_overlap_k_none_records_no_weight_delta(tmp_path: Path) -> None:
    cfg = TINY.replace(epochs=1, overlap_k=None, ood=False)
    run(cfg, tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "weight_delta.parquet").exists()
    assert cfg.run_id() != TINY.replace(epochs=1, ood=False).run_id()
    with pytest.raises(ConfigError, match="overlap_k"):
        TINY.replace(overlap_k=0)


def test_same_seed_same_metrics(tmp_path: Path) -> None:
    cfg = TINY.replace(epochs=1, augment="auto1", dropout=0.3, weight_decay=1e-4)
    m1 = run(cfg, tmp_path / "a", progress=False)
    m2 = run(cfg, tmp_path / "b", progress=False)
    assert _metrics_without_times(m1) == _metrics_without_times(m2)
    m3 = run(cfg.replace(seed=1), tmp_path / "c", progress=False)
    assert m3["final_train_loss"] != m1["final_train_loss"]


def test_failure_mid_run_leaves_no_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import weightspace.train.runner as runner

    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("killed during evaluation")

    monkeypatch.setattr(runner._Training, "final_metrics", boom)
    with pytest.raises(RuntimeError, match="killed"):
        run(TINY.replace(epochs=1), tmp_path / "run", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_existing_complete_run_needs_overwrite(tmp_path: Path) -> None:
    cfg = TINY.replace(epochs=0, train_size=100, test_size=50)
    m = run(cfg, tmp_path / "run", progress=False)
    assert m["epochs_run"] == 0 and math.isnan(m["final_train_loss"])
    with pytest.raises(FileExistsError, match="overwrite"):
        run(cfg, tmp_path / "run", progress=False)
    run(cfg, tmp_path / "run", progress=False, overwrite=True)
    assert store.is_complete(tmp_path / "run")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"model": "resnet-19"}, r"unknown model 'resnet-19'; valid: .*resnet18"),
        ({"dataset": "fashion"}, r"unknown dataset 'fashion'; valid: .*fashion-mnist"),
        ({"augment": "autoaugment"}, r"unknown augmentation 'autoaugment'; valid: .*auto"),
    ],
)
def test_unknown_names_list_the_valid_ones(
    tmp_path: Path, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        run(TINY.replace(**changes), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_requested_without_cuda_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="CUDA is not available"):
        run(TINY.replace(device="cuda"), tmp_path / "run", progress=False)


def test_ood_on_the_real_corruptions_is_cached(tmp_path: Path) -> None:
    from weightspace.data import CORRUPTIONS
    from weightspace.train import data as train_data

    cfg = TINY.replace(epochs=1, test_size=100, ood=True, ood_severities=(1, 5))
    m = run(cfg, tmp_path / "a", progress=False)
    assert set(m["ood"]) == set(CORRUPTIONS)
    assert all(set(v) == {"1", "5"} for v in m["ood"].values())
    cells = [c for v in m["ood"].values() for c in v.values()]
    assert m["ood_acc"] == pytest.approx(sum(c["acc"] for c in cells) / len(cells))
    assert m["ood_ece"] == pytest.approx(sum(c["ece"] for c in cells) / len(cells))
    # severity 5 hurts more than severity 1 on average
    assert sum(v["5"]["acc"] for v in m["ood"].values()) < sum(
        v["1"]["acc"] for v in m["ood"].values()
    )
    kind = next(iter(CORRUPTIONS))
    cached = train_data._OOD_CACHE[kind, 1]
    run(cfg.replace(seed=1), tmp_path / "b", progress=False)
    assert train_data._OOD_CACHE[kind, 1] is cached  # same test set: not recomputed


@pytest.mark.slow
def test_cnn_small_learns_fashion_mnist(tmp_path: Path) -> None:
    cfg = RunConfig(train_size=3000, test_size=1000, epochs=2, ood=False, seed=0)
    m = run(cfg, tmp_path / "run", progress=False)
    assert m["test_acc"] > 0.75
    assert m["test_ece"] < 0.1
    hist = pd.read_parquet(tmp_path / "run" / "history.parquet")
    assert hist["train_loss"].is_monotonic_decreasing


@pytest.mark.gpu
def test_cuda_run_matches_cpu_closely(tmp_path: Path) -> None:
    cfg = TINY.replace(epochs=1, augment="auto", ood=True, ood_severities=(3,))
    cpu = run(cfg, tmp_path / "cpu", progress=False)
    gpu = run(cfg.replace(device="cuda"), tmp_path / "gpu", progress=False)
    assert gpu["epochs_run"] == 1 and math.isfinite(gpu["test_loss"])
    # bf16 autocast: not identical, but the same model trained on the same batches
    assert abs(gpu["test_acc"] - cpu["test_acc"]) < 0.1
    assert store.read_json(tmp_path / "gpu" / "provenance.json")["cuda"] is not None
