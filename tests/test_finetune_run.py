"""The fine-tuning main job: the `finetune` preset, the `quick` alias, a tiny run end to end,
model-declared input statistics and the cache of "before" spectra."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import pandas as pd
import pytest
import torch

from weightspace.models import create_model
from weightspace.models import efficientnet as eff
from weightspace.study import StudySpec, expand
from weightspace.train import RunConfig, finetune, run

needs_weights = pytest.mark.skipif(
    importlib.util.find_spec(eff.WEIGHTS_PACKAGE) is None
    or importlib.util.find_spec("timm") is None,
    reason=f"needs timm and the weights package ({eff.PIP_HINT})",
)


def test_finetune_preset_is_the_paper_grid_on_pretrained_efficientnet() -> None:
    plans = expand(StudySpec.from_preset("finetune"))
    assert len(plans) == 9 + 20 * 3  # the baseline at nine seeds, the rest at three in rotation
    assert sorted({p.seed for p in plans}) == list(range(9))
    assert sorted(p.seed for p in plans if p.condition == "bs") == list(range(9))
    cfgs = {p.config for p in plans}
    for cfg in cfgs:
        assert (cfg.dataset, cfg.model, cfg.pretrained, cfg.device) == (
            "fashion-mnist",
            "efficientnet-lite0",
            "imagenet",
            "cpu",
        )
        assert cfg.image_size == 32 and cfg.epochs == 6 and cfg.batch_size == 60
        assert (cfg.lr, cfg.schedule, cfg.train_size) == (2e-3, "cosine", 1000)
    assert {p.config.dropout for p in plans} == {0.0, 0.1, 0.3, 0.5, 0.7}


def test_quick_is_a_deprecated_alias_of_scratch(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="weightspace.study.spec"):
        quick = StudySpec.from_preset("quick")
    assert "now called 'scratch'" in caplog.text
    assert quick == StudySpec.from_preset("scratch")
    assert quick.name == "scratch" and quick.model["name"] == "cnn-small"


def test_image_size_is_left_out_of_old_run_ids() -> None:
    cfg = RunConfig()
    assert "image_size" not in cfg.to_dict() or cfg.image_size is None
    assert cfg.replace(image_size=32).run_id() != cfg.run_id()
    # an unset image_size hashes as the configs written before the field existed
    from weightspace.config import config_hash
    from weightspace.train.config import NEW_FIELD_DEFAULTS, NOT_IN_RUN_ID, TEXT_FIELD_DEFAULTS

    assert NEW_FIELD_DEFAULTS["image_size"] is None
    legacy = {k: v for k, v in cfg.to_dict().items()
              if k not in (*NOT_IN_RUN_ID, *NEW_FIELD_DEFAULTS, *TEXT_FIELD_DEFAULTS)}  # fmt: skip
    assert config_hash(legacy) == cfg.run_id()


def test_model_statistics_replace_the_data_statistics() -> None:
    from weightspace.train.data import RunData

    data = RunData(train=None, train_real=None, val=None, test=None,
                   mean=torch.tensor([0.3]), std=torch.tensor([0.2]))  # fmt: skip
    plain = create_model("cnn-small", num_classes=10, in_channels=1)
    assert finetune.with_model_stats(plain, data) is data
    net = create_model("efficientnet-lite0", num_classes=10, in_channels=1, image_size=16)
    data = RunData(train=type("S", (), {"images": torch.zeros(1, 1, 8, 8)})(), train_real=None,
                   val=None, test=None, mean=torch.tensor([0.3]), std=torch.tensor([0.2]))  # fmt: skip
    out = finetune.with_model_stats(net, data)
    assert out.mean.tolist() == [0.5] and out.std.tolist() == [0.5]


@needs_weights
def test_before_spectra_cache_matches_a_fresh_analysis() -> None:
    from weightspace.spectral.analyze import analyze

    finetune.clear_cache()
    cfg = RunConfig(model="efficientnet-lite0", pretrained="imagenet")
    torch.manual_seed(0)
    first = create_model("efficientnet-lite0", num_classes=10, in_channels=1,
                         pretrained="imagenet", image_size=32)  # fmt: skip
    torch.manual_seed(1)
    second = create_model("efficientnet-lite0", num_classes=10, in_channels=1,
                          pretrained="imagenet", image_size=32)  # fmt: skip
    a = finetune.spectra_before(first, cfg)
    b = finetune.spectra_before(second, cfg)  # backbone rows from the cache, head analysed
    pd.testing.assert_frame_equal(a, analyze(first))
    pd.testing.assert_frame_equal(b, analyze(second))
    head = b.longname == "classifier"
    assert a.loc[head, "alpha"].item() != b.loc[head, "alpha"].item()  # heads differ by seed
    with torch.no_grad():  # a changed weight is analysed again, never served from the cache
        second.backbone.conv_head.weight.mul_(2.0)
    c = finetune.spectra_before(second, cfg)
    pd.testing.assert_frame_equal(c, analyze(second))
    finetune.clear_cache()


@needs_weights
def test_tiny_finetuning_run_end_to_end(tmp_path: Path) -> None:
    cfg = RunConfig(
        model="efficientnet-lite0", pretrained="imagenet", image_size=16, train_size=64,
        test_size=40, val_fraction=0.0, epochs=1, batch_size=32, ood=False, dropout=0.3,
    )  # fmt: skip
    metrics = run(cfg, tmp_path / "r", progress=False)
    assert 0.0 <= metrics["test_acc"] <= 1.0 and metrics["epochs_run"] == 1
    before = pd.read_parquet(tmp_path / "r" / "spectra_before.parquet")
    after = pd.read_parquet(tmp_path / "r" / "spectra_after.parquet")
    assert (before.status == "success").sum() == 34 == (after.status == "success").sum()
    assert (before.status == "skipped").sum() == 16
    ok = before.status == "success"
    moved = (before.loc[ok, "norm"].to_numpy() != after.loc[ok, "norm"].to_numpy()).sum()
    assert moved == 34  # every analysed layer was trained
    # the run's weights reload into the same architecture and give the same predictions
    model = create_model("efficientnet-lite0", num_classes=10, in_channels=1, image_size=16,
                         pretrained=tmp_path / "r" / "weights.safetensors")  # fmt: skip
    init = create_model("efficientnet-lite0", num_classes=10, in_channels=1, image_size=16,
                        pretrained=tmp_path / "r" / "weights_init.safetensors")  # fmt: skip
    ref = create_model("efficientnet-lite0", num_classes=10, in_channels=1, image_size=16,
                       pretrained="imagenet")  # fmt: skip
    torch.testing.assert_close(init.backbone.conv_stem.weight, ref.backbone.conv_stem.weight)
    assert not torch.equal(model.backbone.conv_stem.weight, ref.backbone.conv_stem.weight)
    # the diversity check's baseline encoder rebuilds the run as it was trained and scored
    from weightspace.train.restore import load_run

    loaded = load_run(tmp_path / "r")
    assert loaded.data.mean.tolist() == [0.5] and loaded.data.std.tolist() == [0.5]
    assert loaded.model.image_size == 16
    test = loaded.data.test
    acc = (loaded.predict(test.images.float() / 255.0) == test.labels.numpy()).mean()
    assert acc == pytest.approx(metrics["test_acc"], abs=1.5 / len(test.labels))
