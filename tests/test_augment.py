"""Augmentation ladder: every policy on a batch (shape, range, per-sample variation)."""

from __future__ import annotations

import pytest
import torch

from weightspace.data import AUGMENTATIONS, make_augment, policy_strength
from weightspace.errors import ConfigError
from weightspace.vocabulary import AUGMENT_CONDITIONS


def _batch(channels: int, n: int = 16, size: int = 28) -> torch.Tensor:
    # a structured image (gradient + square), identical for every sample, so that any
    # difference between outputs comes from per-sample randomness
    g = torch.Generator().manual_seed(0)
    img = torch.randint(0, 256, (channels, size, size), generator=g, dtype=torch.uint8)
    img[:, 6:20, 8:14] = 230
    return img.expand(n, -1, -1, -1).contiguous()


@pytest.mark.parametrize("name", sorted(AUGMENTATIONS))
@pytest.mark.parametrize("channels", [1, 3])
def test_policy_shape_range_and_per_sample_variation(name: str, channels: int) -> None:
    torch.manual_seed(0)
    x = _batch(channels, n=32)
    y = make_augment(name, in_channels=channels)(x)
    assert y.dtype == torch.float32 and y.shape == x.shape
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    distinct = len({tuple(s.flatten().tolist()) for s in y})
    if name == "none":
        assert torch.equal(y, x.float() / 255)
    else:
        assert distinct >= 8, f"{name}: only {distinct} distinct outputs for 32 equal inputs"


def test_seeded_global_rng_reproduces() -> None:
    x = _batch(1)
    aug = make_augment("auto3", in_channels=1)
    torch.manual_seed(3)
    a = aug(x)
    torch.manual_seed(3)
    b = aug(x)
    assert torch.equal(a, b)


def test_generator_reproduces_and_leaves_global_rng() -> None:
    x = _batch(3)
    aug = make_augment("auto2", in_channels=3)
    torch.manual_seed(0)
    state = torch.get_rng_state()
    a = aug(x, generator=torch.Generator().manual_seed(5))
    assert torch.equal(torch.get_rng_state(), state)
    b = aug(x, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


@pytest.mark.parametrize("sigma,name", [(0.01, "noise10"), (0.03, "noise30"), (0.05, "noise50")])
def test_noise_std(sigma: float, name: str) -> None:
    torch.manual_seed(0)
    x = torch.full((64, 1, 28, 28), 128, dtype=torch.uint8)  # mid-grey: no clamping
    y = make_augment(name, in_channels=1)(x)
    assert float((y - 128 / 255).std()) == pytest.approx(sigma, rel=0.03)
    assert policy_strength(name) == sigma  # the condition's dose is the policy's own sigma


def test_condition_names_are_the_papers() -> None:
    assert AUGMENT_CONDITIONS["noise30"] == "divNoize30"
    assert set(AUGMENT_CONDITIONS) <= set(AUGMENTATIONS)
    # the paper's names are accepted as policy names
    assert make_augment("divAuto2", in_channels=1).spec == make_augment("auto2", in_channels=1).spec


def test_composed_policy() -> None:
    aug = make_augment(
        [{"op": "auto"}, {"op": "hflip", "p": 1.0}, {"op": "noise", "sigma": 0.0}], in_channels=1
    )
    assert [s["op"] for s in aug.spec] == ["auto", "hflip", "noise"]
    x = _batch(1, n=4)
    only_flip = make_augment([{"op": "hflip", "p": 1.0}], in_channels=1)(x)
    assert torch.equal(only_flip, x.flip(-1).float() / 255)


@pytest.mark.parametrize(
    "spec,match",
    [
        ("autoo", "valid: .*auto.*"),
        ([{"op": "blur"}], "valid: .*hflip"),
        ([{"op": "hflip", "prob": 0.5}], "valid keys: p"),
        ([{"op": "noise"}], "sigma"),
        ([{"op": "hflip", "p": 2}], r"\[0, 1\]"),
        ([{"op": "noise", "sigma": 0.1}, {"op": "auto"}], "before"),
        ([{"op": "rand", "magnitude": 40}], "magnitude"),
        ([{"op": "auto", "policy": "mnist"}], "valid: cifar10, imagenet, svhn"),
    ],
)
def test_invalid_specs(spec: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make_augment(spec, in_channels=1)  # type: ignore[arg-type]


def test_wrong_input_rejected() -> None:
    aug = make_augment("auto", in_channels=1)
    with pytest.raises(ValueError, match="uint8"):
        aug(torch.rand(2, 1, 28, 28))
    with pytest.raises(ValueError, match="uint8"):
        aug(torch.zeros(2, 3, 28, 28, dtype=torch.uint8))


@pytest.mark.gpu
@pytest.mark.parametrize("name", sorted(AUGMENTATIONS))
def test_policies_run_on_cuda(name: str) -> None:
    x = _batch(3, n=16).cuda()
    torch.manual_seed(0)
    y = make_augment(name, in_channels=3)(x)
    assert y.device == x.device and y.dtype == torch.float32 and y.shape == x.shape
    # the per-sample choices are drawn on the CPU: with a CPU generator, CUDA and CPU agree
    # for the pixel-exact ops
    if name in ("trivial", "auto", "none"):
        a = make_augment(name, in_channels=3)(x, generator=torch.Generator().manual_seed(1))
        b = make_augment(name, in_channels=3)(x.cpu(), generator=torch.Generator().manual_seed(1))
        assert (a.cpu() != b).float().mean() < 0.01


@pytest.mark.parametrize("name", sorted(AUGMENTATIONS))
def test_resolved_spec_is_a_fixed_point(name: str) -> None:
    """A run stores the resolved op list; building from it gives the same policy."""
    spec = make_augment(name, in_channels=1).spec
    assert make_augment(spec, in_channels=1).spec == spec


def test_elastic_is_bit_identical_whatever_the_memory_layout() -> None:
    """auto3's elastic warp rounds warped pixels to uint8: its blur must not depend on
    BLAS blocking (alignment, threads), or runs with one seed drift apart."""
    from weightspace.data import geometry

    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (16, 1, 28, 28), generator=g, dtype=torch.uint8)
    shifted = torch.empty(x.numel() + 7, dtype=torch.uint8)[7:].view_as(x)  # other alignment
    shifted.copy_(x)
    aug = make_augment("auto3", in_channels=1)
    a = aug(x, generator=torch.Generator().manual_seed(5))
    b = aug(shifted, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    # the blur agrees with a float64 reference built from the same kernel
    d = torch.rand((3, 2, 28, 28), generator=g)
    ref = geometry.gaussian_blur(d.double(), 6.0)
    assert torch.allclose(geometry.gaussian_blur(d, 6.0).double(), ref, atol=1e-6)
