"""Sharpness of the training loss: the Hessian trace and its top eigenvalue.

Both work on Hessian-vector products computed by double backward (Pearlmutter's trick: the
gradient of ``g·v`` where ``g`` is a gradient built with ``create_graph=True``), so the
Hessian itself is never formed. The loss is the mean over a fixed list of batches,

    L(θ) = (1/B) Σ_b loss_fn(model, batch_b),

evaluated with the model in evaluation mode (dropout off, batch-norm running statistics), as
PyHessian does; the model's mode is restored afterwards.

- :func:`hessian_trace` — Hutchinson's estimator tr(H) = E[vᵀHv] over Rademacher probes v
  (entries ±1), returned with its standard error (sample standard deviation / √n_probes).
  Probe i is drawn from a generator seeded by ``(seed, i)``, so the estimate depends only
  on ``seed`` and ``n_probes``, and is re-drawn per batch instead of being stored (memory stays
  at one probe whatever the model size).
- :func:`top_hessian_eigenvalue` — power iteration on H from a seeded random start; it
  converges to the eigenvalue of largest magnitude.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import nn

from weightspace.config import check_int
from weightspace.errors import ConfigError

log = logging.getLogger(__name__)

LossFn = Callable[[nn.Module, Any], torch.Tensor]

__all__ = ["LossFn", "hessian_trace", "hvp", "top_hessian_eigenvalue"]


def _params(model: nn.Module, params: Sequence[torch.Tensor] | None) -> list[torch.Tensor]:
    out = [p for p in (model.parameters() if params is None else params) if p.requires_grad]
    if not out:
        raise ConfigError("the model has no parameters that require gradients; nothing to measure")
    return out


def _check(batches: Sequence[Any], name: str, value: int) -> None:
    if len(batches) == 0:
        raise ConfigError("batches is empty; give at least one batch to evaluate the loss on")
    check_int(name, value, minimum=1)


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _rademacher(params: list[torch.Tensor], seed: int, index: int) -> list[torch.Tensor]:
    """Probe ``index`` of the seeded family: ±1 entries, one tensor per parameter."""
    state = int(np.random.SeedSequence([seed, index]).generate_state(1)[0])
    g = torch.Generator().manual_seed(state)
    return [
        (torch.randint(0, 2, p.shape, generator=g, dtype=torch.int8) * 2 - 1).to(
            device=p.device, dtype=p.dtype
        )
        for p in params
    ]


def _dot(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    return float(sum((x * y).sum() for x, y in zip(a, b, strict=True)))


def _grads(
    model: nn.Module, loss_fn: LossFn, batch: Any, params: list[torch.Tensor]
) -> tuple[torch.Tensor, ...]:
    loss = loss_fn(model, batch)
    if loss.ndim != 0:
        raise ConfigError(f"loss_fn must return a scalar tensor; got shape {tuple(loss.shape)}")
    return torch.autograd.grad(loss, params, create_graph=True)


def _hv(
    grads: tuple[torch.Tensor, ...],
    params: list[torch.Tensor],
    v: list[torch.Tensor],
    *,
    retain: bool,
) -> list[torch.Tensor]:
    # a gradient that does not depend on the parameters (loss linear in them) adds nothing
    live = [i for i, g in enumerate(grads) if g.requires_grad]
    out: list[torch.Tensor | None] = [None] * len(params)
    if live:
        hv = torch.autograd.grad(
            [grads[i] for i in live],
            params,
            grad_outputs=[v[i] for i in live],
            retain_graph=retain,
            allow_unused=True,
        )
        out = list(hv)
    return [
        torch.zeros_like(p) if h is None else h.detach() for h, p in zip(out, params, strict=True)
    ]


def hvp(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Sequence[Any],
    v: list[torch.Tensor],
    *,
    params: Sequence[torch.Tensor] | None = None,
) -> list[torch.Tensor]:
    """H·v for the mean loss over ``batches`` (one tensor per parameter, like ``v``)."""
    ps = _params(model, params)
    _check(batches, "batches", 1)
    total = [torch.zeros_like(p) for p in ps]
    with _eval_mode(model):
        for batch in batches:
            hv = _hv(_grads(model, loss_fn, batch, ps), ps, v, retain=False)
            for t, h in zip(total, hv, strict=True):
                t.add_(h, alpha=1.0 / len(batches))
    return total


def hessian_trace(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Sequence[Any],
    *,
    n_probes: int = 100,
    seed: int = 0,
    params: Sequence[torch.Tensor] | None = None,
) -> tuple[float, float]:
    """Hutchinson's estimate of tr(H) and its standard error.

    ``loss_fn(model, batch)`` returns the scalar loss of one batch; H is the Hessian of the
    mean of those losses over ``batches`` with respect to ``params`` (default: every
    parameter that requires gradients). Each batch's gradient graph is built once and every
    probe is pushed through it, so the cost is B forward/backward passes with graph plus
    B × ``n_probes`` double-backward passes. The standard error is NaN for one probe.
    """
    _check(batches, "n_probes", n_probes)
    ps = _params(model, params)
    quad = np.zeros(n_probes)  # vᵢᵀ H vᵢ, accumulated over batches
    with _eval_mode(model):
        for batch in batches:
            grads = _grads(model, loss_fn, batch, ps)
            for i in range(n_probes):
                v = _rademacher(ps, seed, i)
                hv = _hv(grads, ps, v, retain=i < n_probes - 1)
                quad[i] += _dot(v, hv) / len(batches)
            del grads
    estimate = float(quad.mean())
    se = float(quad.std(ddof=1) / math.sqrt(n_probes)) if n_probes > 1 else math.nan
    return estimate, se


def top_hessian_eigenvalue(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Sequence[Any],
    *,
    max_iter: int = 100,
    tol: float = 1e-4,
    seed: int = 0,
    params: Sequence[torch.Tensor] | None = None,
) -> float:
    """The eigenvalue of H of largest magnitude, by power iteration.

    Starts from a seeded Gaussian vector and stops when the Rayleigh quotient changes by
    less than ``tol`` relative to its size, or after ``max_iter`` iterations (then a warning
    is logged and the last estimate returned). Each iteration costs one H·v over every batch.
    """
    _check(batches, "max_iter", max_iter)
    if not (isinstance(tol, (int, float)) and tol > 0):
        raise ConfigError(f"tol must be a positive number; got {tol!r}")
    ps = _params(model, params)
    g = torch.Generator().manual_seed(int(np.random.SeedSequence([seed]).generate_state(1)[0]))
    v = [torch.randn(p.shape, generator=g, dtype=p.dtype).to(p.device) for p in ps]
    v = _normalised(v)
    value = math.nan
    for it in range(1, max_iter + 1):
        hv = hvp(model, loss_fn, batches, v, params=ps)
        new = _dot(v, hv)  # Rayleigh quotient of the unit vector v
        norm = math.sqrt(_dot(hv, hv))
        if norm == 0.0:
            return 0.0
        v = [h / norm for h in hv]
        if not math.isnan(value) and abs(new - value) <= tol * (abs(value) + 1e-12):
            log.debug("power iteration converged after %d iterations", it)
            return new
        value = new
    log.warning("power iteration did not converge in %d iterations (tol %g)", max_iter, tol)
    return value


def _normalised(v: list[torch.Tensor]) -> list[torch.Tensor]:
    norm = math.sqrt(_dot(v, v))
    return [x / norm for x in v]
