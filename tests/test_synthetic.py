"""Synthetic data: imports (good and malformed), mixing, the filter, the built-in generator."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from weightspace.data import ImageSet
from weightspace.errors import ConfigError, DataError
from weightspace.synthetic import (
    GeneratorConfig,
    SyntheticSettings,
    build_mix,
    expand_conditions,
    filter_by_confidence,
    load_synthetic,
    mix_add,
    mix_replace,
    prepare_builtin,
)
from weightspace.synthetic.generator import sample, train_generator
from weightspace.synthetic.quality import fidelity_coverage


def _real(n_per_class: int = 20, k: int = 3, c: int = 1, hw: int = 8, seed: int = 0) -> ImageSet:
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(k).repeat_interleave(n_per_class)
    # class c is a bright horizontal band at rows 2c..2c+1 plus noise
    images = torch.randint(0, 40, (len(labels), c, hw, hw), generator=g, dtype=torch.uint8)
    for i, y in enumerate(labels.tolist()):
        images[i, :, 2 * y : 2 * y + 2, :] = 220
    return ImageSet(images=images, labels=labels, classes=tuple("abc"[:k]), name="real")


def _synth(n_per_class: int, k: int = 3, c: int = 1, hw: int = 8, value: int = 255) -> ImageSet:
    labels = torch.arange(k).repeat_interleave(n_per_class)
    images = torch.full((len(labels), c, hw, hw), value, dtype=torch.uint8)
    return ImageSet(images=images, labels=labels, classes=tuple("abc"[:k]), name="synth")


# -- imports -------------------------------------------------------------------------------


def test_npz_import_round_trip_and_channel_conversion(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (12, 8, 8, 3), dtype=np.uint8)  # N×H×W×C, EDM layout
    np.savez(tmp_path / "s.npz", image=img, label=np.arange(12) % 3)
    ds = load_synthetic(tmp_path / "s.npz")
    assert ds.images.shape == (12, 3, 8, 8)
    assert torch.equal(ds.images[5], torch.from_numpy(img[5].transpose(2, 0, 1)))
    gray = load_synthetic(tmp_path / "s.npz", like=_real())
    assert gray.images.shape == (12, 1, 8, 8) and gray.classes == ("a", "b", "c")


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"image": np.zeros((4, 8, 8, 1), np.float32), "label": np.zeros(4, int)}, "dtype float32"),
        (
            {"images": np.zeros((4, 8, 8, 1), np.uint8), "label": np.zeros(4, int)},
            "expected arrays",
        ),
        ({"image": np.zeros((4, 8, 8, 1), np.uint8), "label": np.zeros(3, int)}, "4 images but 3"),
        ({"image": np.zeros((4, 8, 8, 5), np.uint8), "label": np.zeros(4, int)}, "C = 1 or 3"),
        ({"image": np.zeros((4, 8, 8, 1), np.uint8), "label": np.full(4, 0.5)}, "integer class"),
    ],
)
def test_malformed_npz_is_refused(tmp_path: Path, arrays: dict, message: str) -> None:
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=message):
        load_synthetic(tmp_path / "bad.npz")


def test_garbage_and_missing_sources(tmp_path: Path) -> None:
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match=r"not a readable \.npz"):
        load_synthetic(tmp_path / "junk.npz")
    with pytest.raises(DataError, match="does not exist"):
        load_synthetic(tmp_path / "nope.npz")


def test_label_range_size_and_balance_checks(tmp_path: Path) -> None:
    np.savez(tmp_path / "big.npz", image=np.zeros((6, 8, 8, 1), np.uint8), label=np.arange(6))
    with pytest.raises(DataError, match="out of range"):
        load_synthetic(tmp_path / "big.npz", like=_real())
    np.savez(tmp_path / "size.npz", image=np.zeros((3, 10, 10, 1), np.uint8), label=np.arange(3))
    with pytest.raises(DataError, match="resize"):
        load_synthetic(tmp_path / "size.npz", like=_real())
    np.savez(
        tmp_path / "miss.npz", image=np.zeros((4, 8, 8, 1), np.uint8), label=np.array([0, 0, 2, 2])
    )
    with pytest.raises(DataError, match="no samples for class"):
        load_synthetic(tmp_path / "miss.npz", like=_real())


def _write_png(path: Path, value: int) -> None:
    from PIL import Image

    Image.fromarray(np.full((8, 8), value, np.uint8), mode="L").save(path)


def test_png_dir_with_labels_csv(tmp_path: Path) -> None:
    rows = [("x0.png", "a"), ("x1.png", "1"), ("x2.png", "c")]
    for i, (f, _) in enumerate(rows):
        _write_png(tmp_path / f, 10 * i)
    with (tmp_path / "labels.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows([("filename", "label"), *rows])
    ds = load_synthetic(tmp_path, like=_real())
    assert ds.labels.tolist() == [0, 1, 2]
    assert ds.images[2].max().item() == 20
    (tmp_path / "labels.csv").write_text("filename,label\nx0.png,zebra\n")
    with pytest.raises(DataError, match="neither a class index nor a class name"):
        load_synthetic(tmp_path, like=_real())
    (tmp_path / "labels.csv").write_text("filename,label\nmissing.png,0\n")
    with pytest.raises(DataError, match="not found"):
        load_synthetic(tmp_path, like=_real())


def test_image_folder_import(tmp_path: Path) -> None:
    for k, cls in enumerate("abc"):
        (tmp_path / cls).mkdir()
        for j in range(2):
            _write_png(tmp_path / cls / f"{j}.png", 50 * k)
    ds = load_synthetic(tmp_path, like=_real())
    assert len(ds) == 6 and sorted(ds.labels.tolist()) == [0, 0, 1, 1, 2, 2]


# -- mixing --------------------------------------------------------------------------------


@pytest.mark.parametrize("fraction", [0.1, 0.5, 1.0])
def test_replace_keeps_size_balance_and_positions(fraction: float) -> None:
    real, synth = _real(), _synth(40)
    m = mix_replace(real, synth, fraction, seed=1)
    assert len(m.data) == len(real)
    assert torch.equal(m.data.labels, real.labels)  # same positions, same classes
    per_class = [int(m.synthetic[real.labels.numpy() == c].sum()) for c in range(3)]
    assert per_class == [round(fraction * 20)] * 3
    # rows marked real are untouched; rows marked synthetic come from the synthetic set
    keep = torch.from_numpy(~m.synthetic)
    assert torch.equal(m.data.images[keep], real.images[keep])
    assert (m.data.images[torch.from_numpy(m.synthetic)] == 255).all()


def test_add_appends_class_balanced() -> None:
    real, synth = _real(), _synth(40)
    m = mix_add(real, synth, 0.5, seed=0)
    assert len(m.data) == 90 and m.n_synthetic == 30
    assert not m.synthetic[:60].any() and m.synthetic[60:].all()
    assert np.bincount(m.data.labels[60:].numpy()).tolist() == [10, 10, 10]
    assert torch.equal(m.data.images[:60], real.images)


def test_mix_errors_and_shortfall() -> None:
    real, synth = _real(), _synth(5)
    with pytest.raises(DataError, match="needs 10 synthetic samples"):
        mix_replace(real, synth, 0.5, seed=0)
    m = mix_replace(real, synth, 0.5, seed=0, shortfall=True)
    assert m.n_synthetic == 15  # every class capped at its 5 samples
    with pytest.raises(ConfigError):
        mix_replace(real, synth, 1.5, seed=0)


def test_filter_keeps_confident_samples_only() -> None:
    synth = _synth(4)
    conf = np.array([0.95, 0.2, 0.6, 0.0] * 3)
    kept = filter_by_confidence(synth, conf, 0.5)
    assert len(kept) == 6
    assert len(filter_by_confidence(synth, conf, 0.9)) == 3
    with pytest.raises(DataError):
        filter_by_confidence(synth, conf[:5], 0.5)


def test_expand_conditions_names_and_strength() -> None:
    conds = expand_conditions(
        {"mode": ["replace", "add"], "fractions": [0.1, 1.0], "filtered": "both"}
    )
    names = [c["name"] for c in conds]
    assert names == [
        "gen0.1", "gen1.0", "gen0.1_vf", "gen1.0_vf",
        "gen0.1_add", "gen1.0_add", "gen0.1_add_vf", "gen1.0_add_vf",
    ]  # fmt: skip
    assert {c["category"] for c in conds} == {"gen"}
    assert conds[1]["strength"] == 1.0 and conds[1]["overrides"]["synthetic"]["mode"] == "replace"
    with pytest.raises(ConfigError, match="did you mean 'fractions'"):
        expand_conditions({"fraction": [0.1]})
    with pytest.raises(ConfigError, match="replace fraction"):
        expand_conditions({"fractions": [1.5]})


# -- quality and the built-in generator ----------------------------------------------------


def test_fidelity_coverage_extremes() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4))
    same = fidelity_coverage(x, x.copy(), k=3)
    assert same["precision"] == 1.0 and same["recall"] == 1.0 and same["coverage"] == 1.0
    far = fidelity_coverage(x, x + 100.0, k=3)
    assert far["precision"] == 0.0 and far["coverage"] == 0.0 and far["density"] == 0.0


def test_generator_trains_and_samples_each_class() -> None:
    real = _real(n_per_class=30)
    model, losses = train_generator(real, GeneratorConfig(epochs=6, latent_dim=4, batch_size=30))
    assert losses[-1] < losses[0]
    out = sample(model, 25, temperature=1.0, seed=0, classes=real.classes)
    assert out.images.shape == (75, 1, 8, 8) and out.images.dtype == torch.uint8
    # class-conditional: each class's samples are brightest on its own band (rows 2c, 2c+1)
    for c in range(3):
        rows = out.images[out.labels == c].float().mean(dim=(0, 1, 3))  # (H,)
        band = rows[2 * c : 2 * c + 2].mean()
        assert band > rows.mean() + 20, (c, rows)
    again = sample(model, 25, temperature=1.0, seed=0, classes=real.classes)
    assert torch.equal(out.images, again.images)


def test_builtin_is_cached_with_provenance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = _real(n_per_class=24, hw=8)
    cfg = GeneratorConfig(epochs=2, latent_dim=4)
    path = prepare_builtin(real, config=cfg, oversample=1.5, root=tmp_path)
    for name in ("samples.npz", "confidence.npy", "quality.csv", "grid.png", "provenance.json"):
        assert (path / name).is_file(), name
    with np.load(path / "samples.npz") as z:
        assert z["image"].shape == (108, 8, 8, 1) and z["label"].shape == (108,)
    import weightspace.synthetic.builtin as builtin

    monkeypatch.setattr(builtin, "_build", lambda *a, **k: pytest.fail("rebuilt a cached set"))
    assert prepare_builtin(real, config=cfg, oversample=1.5, root=tmp_path) == path
    other = _real(n_per_class=24, hw=8, seed=1)  # other data -> other key
    assert builtin.cache_key(other, cfg, 1.5) != builtin.cache_key(real, cfg, 1.5)


def test_build_mix_from_imported_file_with_filter(tmp_path: Path) -> None:
    real = _real(n_per_class=20)
    img = np.concatenate([real.images.numpy()] * 2).transpose(0, 2, 3, 1)  # plausible samples
    np.savez(tmp_path / "s.npz", image=img, label=np.concatenate([real.labels.numpy()] * 2))
    s = SyntheticSettings(mode="add", fraction=0.5, source=str(tmp_path / "s.npz"))
    m = build_mix(s, real, seed=0)
    assert len(m.data) == 90 and m.n_synthetic == 30
    assert not math.isnan(float(m.data.images.float().mean()))


def test_cli_validates_an_import(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from weightspace.cli import app

    img = np.zeros((30, 28, 28), np.uint8)
    np.savez(tmp_path / "s.npz", image=img, label=np.arange(30) % 10)
    runner = CliRunner()
    res = runner.invoke(
        app, ["synthetic", "--train-size", "200", "--source", str(tmp_path / "s.npz")]
    )
    assert res.exit_code == 0, res.output
    assert "30 images" in res.output and "Ankle boot" in res.output
    np.savez(tmp_path / "bad.npz", image=img.astype(np.float32), label=np.arange(30) % 10)
    res = runner.invoke(
        app, ["synthetic", "--train-size", "200", "--source", str(tmp_path / "bad.npz")]
    )
    assert res.exit_code == 2 and "uint8" in res.output
