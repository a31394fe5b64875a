"""Encoders, the feature cache and dataset scoring over augmentation draws."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
import torch

from weightspace.data import ImageSet
from weightspace.diversity import ENCODERS, get_encoder, score_dataset
from weightspace.diversity.cache import FeatureCache
from weightspace.diversity.dataset import _subset_indices
from weightspace.errors import CheckpointError, ConfigError


def toy_set(n: int = 120, *, channels: int = 1, size: int = 28, seed: int = 0) -> ImageSet:
    """Ten classes, each a bright square at its own position, plus pixel noise."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    images = torch.randint(0, 60, (n, channels, size, size), generator=g)
    for i, c in enumerate(labels.tolist()):
        r, s = 2 * c % (size - 8), (5 * c) % (size - 8)
        images[i, :, r : r + 8, s : s + 8] += 150
    return ImageSet(
        images=images.clamp(0, 255).to(torch.uint8),
        labels=labels.to(torch.int64),
        classes=tuple(str(c) for c in range(10)),
        name="toy",
    )


# ---- encoders ----------------------------------------------------------------------------


def test_registry_and_unknown_name() -> None:
    assert {"pixels", "baseline", "random-conv", "clip-rn50", "clip-vit-b32", "resnet50"} <= set(
        ENCODERS
    )
    with pytest.raises(ConfigError, match="did you mean 'random-conv'"):
        get_encoder("random_conv", in_channels=1)


def test_pixel_encoder_resizes_to_32_and_flattens() -> None:
    enc = get_encoder("pixels", in_channels=3)
    x = torch.rand(5, 3, 28, 28)
    assert enc(x).shape == (5, 3 * 32 * 32)
    y = torch.rand(4, 1, 32, 32)
    np.testing.assert_array_equal(get_encoder("pixels", in_channels=1)(y), y.reshape(4, -1).numpy())


@pytest.mark.parametrize("channels", [1, 3])
def test_random_conv_is_deterministic_and_seeded(channels: int) -> None:
    x = torch.rand(9, channels, 28, 28, generator=torch.Generator().manual_seed(1))
    a = get_encoder("random-conv", in_channels=channels, seed=3)
    b = get_encoder("random-conv", in_channels=channels, seed=3)
    fa = a(x)
    assert fa.shape == (9, 512) and fa.dtype == np.float32
    np.testing.assert_array_equal(fa, b(x))
    small_batches = type(a)(**{**a.__dict__, "batch_size": 2})
    np.testing.assert_allclose(small_batches(x), fa, rtol=1e-5, atol=1e-6)
    assert not np.allclose(get_encoder("random-conv", in_channels=channels, seed=4)(x), fa)
    assert a.ident != get_encoder("random-conv", in_channels=channels, seed=4).ident


def test_clip_without_open_clip_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "open_clip", None)  # import fails
    with pytest.raises(ConfigError, match="pip install open-clip-torch"):
        get_encoder("clip-rn50", in_channels=3)


def test_missing_local_weights_are_a_clear_error(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WEIGHTSPACE_WEIGHTS", str(tmp_path))
    with pytest.raises(CheckpointError, match="never downloads"):
        get_encoder("resnet50", in_channels=3)
    with pytest.raises(CheckpointError, match="not found"):
        get_encoder("resnet50", in_channels=3, weights=tmp_path / "nope.pth")
    with pytest.raises(ConfigError, match="--run-dir"):
        get_encoder("baseline", in_channels=1)


@pytest.mark.slow
def test_resnet50_from_a_local_file(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    torchvision = pytest.importorskip("torchvision")
    from safetensors.torch import save_file

    torch.manual_seed(0)
    net = torchvision.models.resnet50(weights=None)
    save_file(
        {k: v.contiguous() for k, v in net.state_dict().items()}, tmp_path / "resnet50.safetensors"
    )
    monkeypatch.setenv("WEIGHTSPACE_WEIGHTS", str(tmp_path))
    enc = get_encoder("resnet50", in_channels=1)
    out = enc(torch.rand(2, 1, 28, 28))
    assert out.shape == (2, 2048) and np.isfinite(out).all()


@pytest.mark.slow
@pytest.mark.parametrize("tower_only", [False, True])
def test_clip_rn50_from_a_local_state_dict(monkeypatch, tmp_path, tower_only) -> None:  # type: ignore[no-untyped-def]
    open_clip = pytest.importorskip("open_clip")
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = open_clip.create_model("RN50", pretrained=None)
    state = (model.visual if tower_only else model).state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, tmp_path / "clip-rn50.safetensors")
    monkeypatch.setenv("WEIGHTSPACE_WEIGHTS", str(tmp_path))
    x = torch.rand(2, 1, 28, 28)
    out = get_encoder("clip-rn50", in_channels=1)(x)
    with torch.no_grad():
        ref = model.eval().encode_image(_clip_input(x))
    np.testing.assert_allclose(out, ref.numpy(), rtol=1e-4, atol=1e-5)
    with pytest.raises(CheckpointError, match="ViT-B-32"):
        get_encoder("clip-vit-b32", in_channels=1, weights=tmp_path / "clip-rn50.safetensors")


def _clip_input(x: torch.Tensor) -> torch.Tensor:
    from weightspace.diversity.encoders import CLIP_MEAN, CLIP_STD, resize

    rgb = resize(x, 224).expand(-1, 3, -1, -1)
    return (rgb - torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)) / torch.tensor(CLIP_STD).view(
        1, 3, 1, 1
    )


# ---- cache -------------------------------------------------------------------------------


def test_feature_cache_hits_and_is_keyed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cache = FeatureCache(tmp_path)
    calls = []

    def compute() -> np.ndarray:
        calls.append(1)
        return np.arange(6.0).reshape(2, 3)

    a = cache.get_or_compute({"k": 1}, compute)
    b = cache.get_or_compute({"k": 1}, compute)
    cache.get_or_compute({"k": 2}, compute)
    np.testing.assert_array_equal(a, b)
    assert (cache.hits, cache.misses, len(calls)) == (1, 2, 2)
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary files left behind
    off = FeatureCache(None)
    off.get_or_compute({"k": 1}, compute)
    off.get_or_compute({"k": 1}, compute)
    assert off.misses == 2


# ---- score_dataset -----------------------------------------------------------------------


def test_subset_indices_match_stratified_subset() -> None:
    from weightspace.data import stratified_subset

    ds = toy_set(97)
    idx = _subset_indices(ds, 40, seed=5)
    assert torch.equal(ds.images[idx], stratified_subset(ds, 40, seed=5).images)
    assert _subset_indices(ds, None, seed=0).tolist() == list(range(97))


def test_clean_set_scores_one_draw_with_rho_one(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ds = toy_set()
    res = score_dataset(ds, encoder="random-conv", draws=4, n=60, cache=tmp_path)
    assert res.draws == 1 and res.n == 60
    s = res.summary()
    assert s["rho"] == pytest.approx(1.0) and s["rho_unpaired"] == pytest.approx(1.0)
    assert s["wvs"] == pytest.approx(s["vs_emb"]) == pytest.approx(s["vs_emb_real"])
    assert 1.0 < s["vs_pixel"] < 60 and 1.0 < s["vs_emb"] < 60
    assert set(res.per_class_vs_emb) == set(range(10))


def test_augmented_draws_vary_are_seeded_and_cached(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ds = toy_set()
    kw = {"encoder": "random-conv", "augment": "noise50", "draws": 3, "n": 50, "seed": 2}
    first = score_dataset(ds, cache=tmp_path, **kw)
    assert first.draws == 3
    assert first.std("vs_emb") > 0 and first.std("rho") > 0  # independent draws differ
    assert first.mean("rho") < 1.0 and first.mean("wvs") == pytest.approx(
        first.mean("vs_emb") * first.mean("rho"), rel=0.01
    )
    n_files = len(list(tmp_path.glob("*.npy")))
    assert n_files == 2 + 2 * 3  # real (pixels, encoder) + per draw (pixels, encoder)
    again = score_dataset(ds, cache=tmp_path, **kw)
    assert again.per_draw == first.per_draw  # cache hit, same numbers
    nocache = score_dataset(ds, cache=False, **kw)
    for a, b in zip(nocache.per_draw, first.per_draw, strict=True):
        assert a == pytest.approx(b, rel=1e-6)  # the draws are reproducible from the seed
    assert len(list(tmp_path.glob("*.npy"))) == n_files
    frame = first.to_frame()
    assert list(frame["draw"]) == [0, 1, 2] and "wvs" in frame


def test_add_mix_pairs_appended_rows_with_first_real_rows(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ds = toy_set(60)
    # "add" mix whose appended rows are exact copies of the first real rows -> rho = 1
    mixed = ImageSet(
        images=torch.cat([ds.images, ds.images[:20]]),
        labels=torch.cat([ds.labels, ds.labels[:20]]),
        classes=ds.classes,
        name="toy-add",
    )
    res = score_dataset(ds, other=mixed, encoder="pixels", n=None, cache=tmp_path)
    assert res.n == 80 and res.mean("rho") == pytest.approx(1.0)
    # appended rows from other real rows -> rho < 1, and n follows the real subset
    shifted = ImageSet(
        images=torch.cat([ds.images, ds.images[30:50]]),
        labels=torch.cat([ds.labels, ds.labels[30:50]]),
        classes=ds.classes,
        name="toy-add2",
    )
    res2 = score_dataset(ds, other=shifted, encoder="pixels", n=None, cache=False)
    assert res2.mean("rho") < 0.999
    sub = score_dataset(ds, other=mixed, encoder="pixels", n=30, cache=False)
    assert 30 <= sub.n <= 50 and sub.mean("rho") == pytest.approx(1.0)


def test_bad_arguments() -> None:
    ds = toy_set(30)
    with pytest.raises(ConfigError, match="draws"):
        score_dataset(ds, draws=0, cache=False)
    with pytest.raises(ConfigError, match="augmentation"):
        score_dataset(ds, augment="autoo", cache=False)
    assert not math.isnan(score_dataset(ds, n=None, cache=False).mean("vs_pixel"))
