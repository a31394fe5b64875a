"""Evaluation: accuracy, cross-entropy, negative log-likelihood and calibration error.

Definitions (also in ``docs/training.md``):

- ``acc``: fraction of samples whose arg-max logit is the label.
- ``loss``: mean cross-entropy of the logits, as the training loop computes it (float32;
  under bf16 autocast on CUDA).
- ``nll``: mean −log p(y|x) with p the softmax computed in float64 — the same quantity as
  ``loss`` but free of low-precision rounding, the number calibration papers report.
- ``ece``: expected calibration error with 15 equal-width confidence bins,
  Σ_b |B_b|/n · |acc(B_b) − conf(B_b)|, where the confidence is the largest softmax
  probability and bin b holds confidences in (b/15, (b+1)/15].
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from weightspace.train.inputs import normalizer, to_input


def expected_calibration_error(probs: Any, labels: Any, n_bins: int = 15) -> float:
    """ECE of class probabilities ``probs`` (N, K) against integer ``labels`` (N,).

    Equal-width bins on the confidence (max probability), right-closed: bin b holds
    confidences in (b/n_bins, (b+1)/n_bins]. Empty bins contribute nothing. NaN for N = 0.
    """
    probs = np.asarray(probs.detach().cpu() if isinstance(probs, torch.Tensor) else probs)
    labels = np.asarray(labels.detach().cpu() if isinstance(labels, torch.Tensor) else labels)
    if probs.ndim != 2 or labels.shape != (probs.shape[0],):
        raise ValueError(
            f"probs must be (N, K) and labels (N,); got {probs.shape} and {labels.shape}"
        )
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1; got {n_bins}")
    n = probs.shape[0]
    if n == 0:
        return float("nan")
    conf = probs.max(axis=1).astype(np.float64)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # searchsorted on the inner edges, side="left": conf == edge falls in the lower bin.
    bins = np.searchsorted(edges[1:-1], conf, side="left")
    sum_conf = np.bincount(bins, weights=conf, minlength=n_bins)
    sum_acc = np.bincount(bins, weights=correct, minlength=n_bins)
    # Σ_b |B_b|/n · |acc_b − conf_b| = Σ_b |Σ correct − Σ conf| / n
    return float(np.abs(sum_acc - sum_conf).sum() / n)


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    images: torch.Tensor,
    *,
    mean: torch.Tensor,
    std: torch.Tensor,
    batch_size: int = 512,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Logits (N, K) in float32 on the CPU for uint8 ``images`` (N, C, H, W), eval mode."""
    device = torch.device(device)
    scale, shift = normalizer(mean, std, max_value=255.0, device=device)
    was_training = model.training
    model.eval()
    cuda = device.type == "cuda"
    out = []
    try:
        for start in range(0, images.shape[0], batch_size):
            xb = images[start : start + batch_size].to(device, non_blocking=cuda)
            x = to_input(xb, scale, shift, channels_last=cuda)  # (B, C, H, W)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
                out.append(model(x).float())
        logits = torch.cat(out) if out else torch.empty(0, 0)
    finally:
        model.train(was_training)
    return logits.cpu()


def scores_from_logits(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """acc, loss, nll and ece of ``logits`` (N, K) against ``labels`` (N,)."""
    labels = labels.to(logits.device)
    n = labels.shape[0]
    if n == 0:
        nan = float("nan")
        return {"acc": nan, "loss": nan, "nll": nan, "ece": nan}
    loss = F.cross_entropy(logits, labels).item()
    logp = torch.log_softmax(logits.double(), dim=1)  # (N, K) float64
    nll = -logp.gather(1, labels[:, None]).mean().item()
    acc = (logits.argmax(1) == labels).double().mean().item()
    ece = expected_calibration_error(logp.exp().numpy(), labels.numpy())
    return {"acc": acc, "loss": loss, "nll": nll, "ece": ece}


def evaluate(
    model: nn.Module,
    images_uint8: torch.Tensor,
    labels: torch.Tensor,
    *,
    mean: torch.Tensor,
    std: torch.Tensor,
    batch_size: int = 512,
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """Accuracy, loss, NLL and ECE of ``model`` on uint8 ``images_uint8`` (N, C, H, W).

    The model runs in eval mode (restored afterwards); the images are normalised with
    the training set's per-channel ``mean`` and ``std`` (on the [0, 1] scale).
    """
    logits = predict_logits(
        model, images_uint8, mean=mean, std=std, batch_size=batch_size, device=device
    )
    return scores_from_logits(logits, labels.cpu())
