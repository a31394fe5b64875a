"""The one augmentation magnitude knob: level -> each op's parameters, and back."""

from __future__ import annotations

import math

import pytest
import torch

from weightspace.data.augment import AUGMENTATIONS, OPS, make_augment, normalize_spec
from weightspace.data.magnitude import LEVEL_OPS, level_params, params_level, policy_level
from weightspace.errors import ConfigError


@pytest.mark.parametrize("name", sorted(AUGMENTATIONS))
def test_named_policies_keep_their_exact_parameters_at_their_level(name: str) -> None:
    for item in normalize_spec(name):
        if item["op"] not in LEVEL_OPS:
            assert math.isnan(params_level(item["op"], item))
            continue
        level = params_level(item["op"], item)
        derived = level_params(item["op"], level, item)
        assert derived == {k: item[k] for k in derived}  # exact, not approximately
        # and through the op-dict spelling
        via_level = normalize_spec([{"op": item["op"], "level": level}])[0]
        assert via_level == item


def test_levels_of_the_ladder() -> None:
    assert [policy_level(normalize_spec(f"noise{k}")) for k in (10, 30, 50)] == [1, 3, 5]
    assert policy_level(normalize_spec("auto1")) == 5  # auto has no level; its noise is 5
    assert policy_level(normalize_spec("rand")) == 3  # magnitude 9 of 31 bins
    assert policy_level(normalize_spec("augmix")) == 3  # severity 3
    assert math.isnan(policy_level(normalize_spec("auto")))
    assert math.isnan(policy_level(normalize_spec("none")))
    mixed = normalize_spec([{"op": "noise", "level": 2}, {"op": "elastic", "level": 5}])
    assert math.isnan(policy_level(mixed))  # ops at different levels: no single dose


def test_level_spelling_gives_the_same_pixels() -> None:
    x = torch.randint(0, 256, (6, 3, 12, 12), dtype=torch.uint8)
    pairs = [
        ({"op": "noise", "level": 3}, {"op": "noise", "sigma": 0.03}),
        ({"op": "elastic", "level": 2}, {"op": "elastic", "alpha": 16.0}),
        ({"op": "rand", "level": 5}, {"op": "rand", "magnitude": 15}),
        ({"op": "augmix", "level": 7}, {"op": "augmix", "severity": 7}),
    ]
    for by_level, by_param in pairs:
        a = make_augment([by_level], in_channels=3)(x, torch.Generator().manual_seed(1))
        b = make_augment([by_param], in_channels=3)(x, torch.Generator().manual_seed(1))
        assert torch.equal(a, b), by_level


def test_level_moves_the_strength() -> None:
    x = torch.full((64, 1, 16, 16), 128, dtype=torch.uint8)
    spread = []
    for level in (0, 2, 4, 8):
        y = make_augment([{"op": "noise", "level": level}], in_channels=1)(
            x, torch.Generator().manual_seed(0)
        )
        spread.append(float(y.std()))
    assert spread[0] == 0.0
    assert spread == sorted(spread) and spread[-1] == pytest.approx(0.08, rel=0.05)


@pytest.mark.parametrize(
    ("op", "match"),
    [
        ({"op": "hflip", "level": 3}, "'level'; valid keys: p"),
        ({"op": "auto", "level": 3}, "'level'; valid keys: policy"),
        ({"op": "noise", "level": 3, "sigma": 0.1}, "either level or sigma"),
        ({"op": "noise", "level": 11}, r"level must be in \[0, 10\]"),
        ({"op": "noise", "level": True}, "level must be a number"),
        ({"op": "augmix", "level": 2.5}, "integer 1..10"),
        ({"op": "rand", "level": 0.5}, "between magnitude bins"),
    ],
)
def test_bad_levels_are_config_errors(op: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        normalize_spec([op])


def test_every_level_op_is_an_op() -> None:
    assert set(LEVEL_OPS) <= set(OPS)
    with pytest.raises(ConfigError, match="has no magnitude level"):
        level_params("trivial", 3, OPS["trivial"])
