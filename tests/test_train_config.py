"""RunConfig: validation, strict keys, round trip and the run id."""

from __future__ import annotations

import json

import pytest

from weightspace.errors import ConfigError
from weightspace.train import RunConfig
from weightspace.train.config import NOT_IN_RUN_ID, field_names


def test_defaults_round_trip_through_json() -> None:
    cfg = RunConfig(augment=[{"op": "hflip", "p": 0.5}], ood_severities=[5, 1])
    d = json.loads(json.dumps(cfg.to_dict()))
    again = RunConfig.from_dict(d)
    assert again == cfg
    assert again.run_id() == cfg.run_id()
    assert cfg.ood_severities == (1, 5)
    assert cfg.augment == ({"op": "hflip", "p": 0.5},)
    assert isinstance(hash(cfg), int)


def test_from_dict_refuses_unknown_keys_and_lists_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"'weightdecay' \(did you mean 'weight_decay'\?\)"):
        RunConfig.from_dict({"weightdecay": 1e-4})
    with pytest.raises(ConfigError, match=r"valid keys: .*batch_size"):
        RunConfig.from_dict({"bogus": 1})


def test_from_dict_accepts_and_checks_run_id() -> None:
    cfg = RunConfig(dropout=0.3)
    assert RunConfig.from_dict({**cfg.to_dict(), "run_id": cfg.run_id()}) == cfg
    with pytest.raises(ConfigError, match="does not match"):
        RunConfig.from_dict({**cfg.to_dict(), "run_id": "0000000000"})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"optimizer": "adagrad"}, "unknown optimizer 'adagrad'; valid: adam, adamw, sgd"),
        ({"schedule": "linear"}, "unknown schedule"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
        ({"weight_decay": -1e-4}, "weight_decay must be >= 0"),
        ({"lr": 0}, "lr must be > 0"),
        ({"epochs": -1}, "epochs must be an integer >= 0"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1"),
        ({"train_size": 2.5}, "train_size must be an integer"),
        ({"device": "tpu"}, "device must be 'cpu', 'cuda'"),
        ({"ood_severities": [0, 6]}, "ood_severities"),
        ({"augment": 3}, "augment must be a policy name or a list of op dicts"),
        ({"augment": [{"p": 0.5}]}, "needs an 'op'"),
        ({"mp_fit": "yes"}, "mp_fit must be true or false"),
        ({"val_fraction": 1.0}, "val_fraction"),
    ],
)
def test_invalid_values_say_what_is_allowed(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RunConfig(**changes)  # type: ignore[arg-type]


def test_run_id_ignores_speed_only_fields_and_category() -> None:
    base = RunConfig()
    assert set(NOT_IN_RUN_ID) <= set(field_names())
    same = RunConfig(threads=2, num_workers=3, eval_batch_size=64, category="div")
    assert same.run_id() == base.run_id()
    for changes in (
        {"seed": 1},
        {"dropout": 0.1},
        {"augment": "auto"},
        {"device": "cuda"},
        {"condition": "dp0.1"},
        {"train_size": 100},
    ):
        assert RunConfig(**changes).run_id() != base.run_id(), changes  # type: ignore[arg-type]


def test_normalises_case_and_numbers() -> None:
    cfg = RunConfig(optimizer="AdamW", lr=1, device="CPU", model="CNN-small", augment="Auto")
    assert (cfg.optimizer, cfg.lr, cfg.device) == ("adamw", 1.0, "cpu")
    assert (cfg.model, cfg.augment) == ("cnn-small", "auto")
    assert cfg.run_id() == RunConfig(optimizer="adamw", lr=1.0, augment="auto").run_id()
    assert isinstance(cfg.lr, float)


def test_replace_validates() -> None:
    cfg = RunConfig()
    assert cfg.replace(dropout=0.5).dropout == 0.5
    with pytest.raises(ConfigError):
        cfg.replace(dropout=2.0)
    with pytest.raises(ConfigError, match="unknown key"):
        cfg.replace(dropuot=0.5)
