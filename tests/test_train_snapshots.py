"""Spectra every k optimizer steps and the Hessian trace during a run."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import torch

from weightspace import store
from weightspace.errors import ConfigError
from weightspace.train import RunConfig, run
from weightspace.train.snapshots import SHARPNESS_FILE, sharpness_batches, with_step

# 270 training images (10 % of 300 held out) in batches of 32: 9 steps per epoch, 18 in all
TINY = RunConfig(
    train_size=300, test_size=100, epochs=2, batch_size=32, model="cnn-small", ood=False
)
TOTAL_STEPS = 18


def _weights(out: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(out / "weights.safetensors"))


@pytest.fixture(scope="module")
def dyn_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, RunConfig]:
    cfg = TINY.replace(
        snapshot_every_steps=5, hessian_every_steps=10, hessian_probes=4, snapshot_every=1
    )
    out = tmp_path_factory.mktemp("dyn") / "run"
    return out, run(cfg, out, progress=False), cfg


def test_step_snapshots_steps_and_counts(dyn_run: tuple[Path, dict, RunConfig]) -> None:
    out, metrics, _ = dyn_run
    steps = sorted(
        int(p.stem.removeprefix("spectra_step")) for p in out.glob("spectra_step*.parquet")
    )
    assert steps == [5, 10, 15]  # multiples of 5 below the last step (18 = "after")
    assert metrics["step_snapshots"] == 3 and metrics["snapshot_seconds_mean"] > 0
    before = store.read_table(out / "spectra_before.parquet")
    after = store.read_table(out / "spectra_after.parquet")
    assert set(before["step"]) == {0} and set(after["step"]) == {TOTAL_STEPS}
    epoch1 = store.read_table(out / "spectra_epoch1.parquet")  # epoch snapshots carry it too
    assert set(epoch1["step"]) == {TOTAL_STEPS // 2}
    for k in steps:
        snap = store.read_table(out / f"spectra_step{k}.parquet")
        assert set(snap["step"]) == {k} and snap["step"].dtype == "int64"
        assert list(snap["longname"]) == list(after["longname"])
        assert "mp_softrank" not in snap.columns  # the cheap path: no MP fit
    # the weights move between snapshots, and so do the metrics
    s5 = store.read_table(out / "spectra_step5.parquet")
    assert not (s5["log_norm"].to_numpy() == after["log_norm"].to_numpy()).all()


def test_sharpness_table(dyn_run: tuple[Path, dict, RunConfig]) -> None:
    out, metrics, _ = dyn_run
    sharp = store.read_table(out / SHARPNESS_FILE)
    assert list(sharp["step"]) == [0, 10, TOTAL_STEPS]
    assert (sharp["n_probes"] == 4).all() and (sharp["n_batches"] == 2).all()
    assert sharp["trace"].map(math.isfinite).all() and (sharp["trace_se"] > 0).all()
    assert metrics["hessian_trace"] == sharp["trace"].iloc[-1]
    assert metrics["hessian_trace_before"] == sharp["trace"].iloc[0]
    assert store.read_json(out / "metrics.json")["hessian_trace_se"] == pytest.approx(
        sharp["trace_se"].iloc[-1]
    )


def test_dynamics_do_not_change_training(
    dyn_run: tuple[Path, dict, RunConfig], tmp_path: Path
) -> None:
    out, metrics, cfg = dyn_run
    plain = run(TINY, tmp_path / "plain", progress=False)
    w0, w1 = _weights(tmp_path / "plain"), _weights(out)
    assert all(torch.equal(w0[k], w1[k]) for k in w0)
    assert plain["test_acc"] == metrics["test_acc"]
    # ... and a rerun measures the same trajectory, bit for bit
    again = run(cfg, tmp_path / "again", progress=False)
    assert again["hessian_trace"] == metrics["hessian_trace"]
    pd.testing.assert_frame_equal(
        store.read_table(out / "spectra_step10.parquet"),
        store.read_table(tmp_path / "again" / "spectra_step10.parquet"),
    )


def test_hessian_true_measures_before_and_after_only(tmp_path: Path) -> None:
    cfg = TINY.replace(epochs=1, hessian=True, hessian_probes=2, hessian_batches=1)
    metrics = run(cfg, tmp_path / "r", progress=False)
    sharp = store.read_table(tmp_path / "r" / SHARPNESS_FILE)
    assert list(sharp["step"]) == [0, 9] and list(sharp["n_batches"]) == [1, 1]
    assert "step_snapshots" not in metrics
    assert not list((tmp_path / "r").glob("spectra_step*"))


def test_run_id_unchanged_by_default_dynamics_fields() -> None:
    # fields at their defaults stay out of the hash, so earlier run ids still hold
    base = RunConfig()
    assert base.replace(hessian_probes=16).run_id() == base.run_id()
    for change in ({"hessian": True}, {"snapshot_every_steps": 3}, {"hessian_probes": 8}):
        assert base.replace(**change).run_id() != base.run_id(), change


@pytest.mark.parametrize(
    "field,value",
    [("snapshot_every_steps", 0), ("hessian_every_steps", -1), ("hessian_probes", 0),
     ("hessian", "yes"), ("snapshot_mp_fit", 1)],
)  # fmt: skip
def test_invalid_settings(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=field):
        RunConfig(**{field: value})  # type: ignore[arg-type]


def test_sharpness_batches_are_seeded_and_clean() -> None:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (50, 1, 4, 4), generator=g, dtype=torch.uint8)
    labels = torch.arange(50) % 3
    mean, std = torch.tensor([0.5]), torch.tensor([0.25])
    cfg = RunConfig(batch_size=16, hessian_batches=4)
    a = sharpness_batches(images, labels, config=cfg, mean=mean, std=std)
    b = sharpness_batches(images, labels, config=cfg, mean=mean, std=std)
    c = sharpness_batches(images, labels, config=cfg.replace(seed=1), mean=mean, std=std)
    assert len(a) == 3  # only 3 full batches of 16 in 50 images
    assert all(torch.equal(x, y) for (x, _), (y, _) in zip(a, b, strict=True))
    assert not torch.equal(a[0][0], c[0][0])
    # each input is a clean, normalised training image, with its own label
    x, y = a[0]
    clean = ((images.float() / 255 - 0.5) / 0.25).flatten(1)
    nearest = torch.cdist(x.flatten(1), clean).argmin(1)
    assert torch.allclose(clean[nearest], x.flatten(1), atol=1e-5)
    assert torch.equal(labels[nearest], y)


def test_with_step_replaces_the_column() -> None:
    df = pd.DataFrame({"step": [1, 1], "alpha": [2.0, 3.0]})
    out = with_step(df, 7)
    assert list(out.columns) == ["step", "alpha"] and list(out["step"]) == [7, 7]


def test_hessian_on_a_text_run_is_refused(tmp_path: Path) -> None:
    """The text modality has no fixed clean batches to measure a Hessian trace on."""
    from types import SimpleNamespace

    from weightspace.train.modalities import MODALITIES
    from weightspace.train.snapshots import Dynamics

    texts = SimpleNamespace(texts=("a", "b"), labels=torch.tensor([0, 1]))
    data = SimpleNamespace(train=texts)
    config = RunConfig(hessian=True, batch_size=2)
    with pytest.raises(ConfigError, match="not measured on text runs"):
        MODALITIES["text"].sharpness_batches(data, config, torch.device("cpu"))
    with pytest.raises(ConfigError, match="no batches"):
        Dynamics.create(
            model=torch.nn.Linear(2, 2), config=config, n_train=2, out_dir=tmp_path,
            spectra=lambda m, c: pd.DataFrame(),
        )  # fmt: skip
    inactive = Dynamics.create(
        model=torch.nn.Linear(2, 2), config=RunConfig(batch_size=2), n_train=2,
        out_dir=tmp_path, spectra=lambda m, c: pd.DataFrame(),
    )  # fmt: skip
    assert not inactive.active and inactive.total_steps == 3  # 2 texts, batch 2, 3 epochs
