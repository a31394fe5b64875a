"""The pretrained EfficientNet-Lite0 image encoder of the diversity metric."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from weightspace.diversity.encoders import ENCODERS, get_encoder
from weightspace.models import efficientnet as eff

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec(eff.WEIGHTS_PACKAGE) is None
    or importlib.util.find_spec("timm") is None,
    reason=f"needs timm and the weights package ({eff.PIP_HINT})",
)


def test_pooled_imagenet_features_of_grayscale_images() -> None:
    assert "efficientnet-lite0" in ENCODERS
    enc = get_encoder("efficientnet-lite0", in_channels=1)
    g = torch.Generator().manual_seed(0)
    images = torch.rand(6, 1, 28, 28, generator=g)
    z = enc(images)
    assert z.shape == (6, 1280) and z.dtype == np.float32
    assert enc.ident.startswith("efficientnet-lite0:") and enc.ident.endswith(":64")
    np.testing.assert_allclose(enc(images), z, rtol=1e-5, atol=1e-6)  # frozen, eval mode
    # the features are the ImageNet network's: a grayscale image equals its 3-channel copy
    np.testing.assert_allclose(enc(images.repeat(1, 3, 1, 1)), z, rtol=1e-5, atol=1e-6)
    assert (z >= 0).all() and np.linalg.matrix_rank(z) == 6  # pooled ReLU6 features, distinct


def test_image_size_changes_the_ident() -> None:
    small = get_encoder("efficientnet-lite0", in_channels=3, image_size=32)
    assert small.ident.endswith(":32") and small(torch.rand(2, 3, 20, 20)).shape == (2, 1280)


def test_cli_default_encoder_is_the_pretrained_one(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from typer.testing import CliRunner

    from weightspace.cli import app

    res = CliRunner().invoke(
        app, ["diversity", "--n", "40", "--draws", "1", "--json"],
        env={"WEIGHTSPACE_CACHE": str(tmp_path)},
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    s = json.loads(res.output)
    assert s["encoder"].startswith("efficientnet-lite0:") and s["n"] == 40
