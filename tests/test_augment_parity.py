"""The batched policy engine against torchvision, op by op and policy by policy."""

from __future__ import annotations

import pytest
import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms import autoaugment as aa

from weightspace.data.augment import OPS
from weightspace.data.batch_ops import apply_ops
from weightspace.data.policies import make_policy

NAMES = ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color",
         "Contrast", "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize", "Invert",
         "Identity")  # fmt: skip
MAGS = {
    "ShearX": (-0.99, 0.99), "ShearY": (-0.99, 0.99), "TranslateX": (-14.0, 14.0),
    "TranslateY": (-14.0, 14.0), "Rotate": (-135.0, 135.0), "Brightness": (-0.99, 0.99),
    "Color": (-0.99, 0.99), "Contrast": (-0.99, 0.99), "Sharpness": (-0.99, 0.99),
    "Posterize": (0, 8), "Solarize": (0.0, 255.0),
}  # fmt: skip


def _images(n: int, c: int, size: int = 28, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, c, size, size), generator=g, dtype=torch.uint8)
    x[: n // 2] //= 3  # low-contrast half: exercises autocontrast/equalize scaling
    x[0] = 77  # a flat image: autocontrast/equalize edge cases
    return x


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", NAMES)
def test_op_matches_torchvision(name: str, channels: int) -> None:
    n = 12
    x = _images(n, channels)
    g = torch.Generator().manual_seed(1)
    lo, hi = MAGS.get(name, (0.0, 0.0))
    if name == "Posterize":
        mags = torch.randint(int(lo), int(hi) + 1, (n,), generator=g).to(torch.float64)
    else:
        mags = lo + (hi - lo) * torch.rand(n, generator=g, dtype=torch.float64)
    mags = mags.to(torch.float32).to(torch.float64)  # the tables hold float32 values
    ours = apply_ops(x, NAMES, torch.full((n,), NAMES.index(name)), mags)
    ref = torch.stack(
        [
            aa._apply_op(x[i], name, float(mags[i]), InterpolationMode.NEAREST, None)
            for i in range(n)
        ]
    )
    assert ours.dtype == torch.uint8 and ours.shape == x.shape
    mismatch = (ours != ref).float().mean().item()
    # geometric ops may differ at a handful of pixels sitting exactly on a nearest-neighbour
    # boundary (float32 grid arithmetic batched vs single); everything else is exact
    assert mismatch <= (0.002 if name in ("ShearX", "ShearY", "Rotate") else 0.0), mismatch


def test_apply_ops_skips_negative_indices() -> None:
    x = _images(4, 1)
    out = apply_ops(x, NAMES, torch.tensor([-1, NAMES.index("Invert"), -1, -1]), torch.zeros(4))
    assert torch.equal(out[0], x[0]) and torch.equal(out[1], 255 - x[1])


def _op_histogram(policy: str, engine: str, n: int = 400) -> torch.Tensor:
    """Fraction of pixels changed per image: a distributional fingerprint of a policy."""
    x = _images(n, 1, seed=3)
    torch.manual_seed(0)
    y = make_policy(policy, OPS[policy], in_channels=1, engine=engine)(x, None)
    changed = (y != x).float().mean(dim=(1, 2, 3))
    return torch.histc(changed, bins=5, min=0.0, max=1.0) / n


@pytest.mark.parametrize("policy", ["auto", "rand", "trivial", "augmix"])
def test_policy_distribution_matches_torchvision(policy: str) -> None:
    ours, ref = _op_histogram(policy, "batched"), _op_histogram(policy, "torchvision")
    assert (ours - ref).abs().max().item() < 0.08, (ours, ref)


def test_blur_and_elastic_warp_match_torchvision() -> None:
    from torchvision.transforms import functional as TF

    from weightspace.data import geometry

    g = torch.Generator().manual_seed(0)
    field = torch.rand(3, 2, 28, 28, generator=g)
    ref = TF.gaussian_blur(field, [49, 49], [6.0, 6.0])  # ElasticTransform's kernel for σ=6
    assert torch.allclose(geometry.gaussian_blur(field, 6.0), ref, atol=1e-5)
    x = _images(3, 1)
    disp = geometry.elastic_displacement(3, 28, 28, alpha=40.0, sigma=6.0, generator=g)
    ours = geometry.warp(x.float(), disp).round().to(torch.uint8)  # what the elastic op does
    for i in range(3):
        theirs = TF.elastic_transform(x[i], disp[i : i + 1])
        assert (ours[i].int() - theirs.int()).abs().max() <= 1
        assert (ours[i] != theirs).float().mean() < 0.002
