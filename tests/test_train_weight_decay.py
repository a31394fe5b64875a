"""Which tensors weight decay applies to: every parameter (the paper) or only matrices."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from weightspace.config import config_hash
from weightspace.errors import ConfigError
from weightspace.train import RunConfig
from weightspace.train.config import NEW_FIELD_DEFAULTS, NOT_IN_RUN_ID, TEXT_FIELD_DEFAULTS
from weightspace.train.loop import build_optimizer, param_groups


def _step(cfg: RunConfig) -> tuple[nn.Module, dict[str, torch.Tensor]]:
    """One optimizer step with zero loss gradient: only weight decay moves the parameters."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.LazyLinear(3))
    model(torch.zeros(1, 1, 5, 5))
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    opt = build_optimizer(cfg, param_groups(cfg, model))
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    return model, before


@pytest.mark.parametrize("mode", ["all", "matrices"])
def test_sgd_step_decays_exactly_the_chosen_tensors(mode: str) -> None:
    lr, wd = 0.1, 0.5
    cfg = RunConfig(optimizer="sgd", momentum=0.0, lr=lr, weight_decay=wd, weight_decay_params=mode)
    model, before = _step(cfg)
    for name, p in model.named_parameters():
        decayed = mode == "all" or p.dim() >= 2
        expect = before[name] * (1 - lr * wd) if decayed else before[name]
        torch.testing.assert_close(p.detach(), expect, rtol=0, atol=1e-7)
    assert any(p.dim() < 2 for p in model.parameters())  # biases/BN scales were exercised


def test_adam_default_keeps_the_paper_behaviour() -> None:
    cfg = RunConfig(weight_decay=1e-2)
    assert cfg.weight_decay_params == "all"
    model, before = _step(cfg)
    for name, p in model.named_parameters():  # Adam's coupled L2: every tensor moves
        nonzero = before[name] != 0  # a zero stays zero under L2 decay
        if nonzero.any():
            assert not torch.equal(p.detach()[nonzero], before[name][nonzero]), name


def test_validation_and_run_id() -> None:
    with pytest.raises(ConfigError, match=r"weight_decay_params.*valid: all, matrices"):
        RunConfig(weight_decay_params="biases")
    assert RunConfig(weight_decay_params=" Matrices ").weight_decay_params == "matrices"
    base = RunConfig(weight_decay=1e-3)
    d = base.to_dict()
    for name in (*NOT_IN_RUN_ID, *NEW_FIELD_DEFAULTS, *TEXT_FIELD_DEFAULTS):
        d.pop(name)
    assert base.run_id() == config_hash(d)  # ids of runs made before the setting stay valid
    assert base.replace(weight_decay_params="matrices").run_id() != base.run_id()
