"""Evaluation metrics: ECE against a hand-computed example, NLL, accuracy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from weightspace.train import evaluate, expected_calibration_error
from weightspace.train.inputs import channel_stats, normalizer, to_input
from weightspace.train.metrics import scores_from_logits


def _rows(spec: list[tuple[float, bool]], k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Probability rows whose max is ``conf`` at class 0; label 0 if correct else 1."""
    probs, labels = [], []
    for conf, correct in spec:
        rest = (1 - conf) / (k - 1)
        probs.append([conf] + [rest] * (k - 1))
        labels.append(0 if correct else 1)
    return np.array(probs), np.array(labels)


def test_ece_hand_computed() -> None:
    # 15 bins of width 1/15. Confidences and bins:
    #   0.95 (correct) -> bin 14: |1 - 0.95|               = 0.05
    #   0.87 (wrong), 0.90 (correct) -> bin 13 (0.8667, 0.9333]:
    #        |Σacc − Σconf| = |1 − 1.77|                    = 0.77
    #   0.55 (correct) -> bin 8 (0.5333, 0.6]: |1 − 0.55|  = 0.45
    #   0.52 (wrong)   -> bin 7 (0.4667, 0.5333]: |0 − 0.52| = 0.52
    # ECE = (0.05 + 0.77 + 0.45 + 0.52) / 5 = 0.358
    probs, labels = _rows([(0.95, True), (0.87, False), (0.90, True), (0.55, True), (0.52, False)])
    assert expected_calibration_error(probs, labels) == pytest.approx(0.358, abs=1e-12)
    # one bin: |acc − conf| of the whole set = |3/5 − 3.79/5|
    assert expected_calibration_error(probs, labels, n_bins=1) == pytest.approx(0.158, abs=1e-12)


def test_ece_bins_are_right_closed() -> None:
    # confidence exactly 0.6 = 9/15 belongs to bin 8 (0.5333, 0.6], with 0.55; a right-open
    # rule would put it alone in bin 9 and give (0.45 + 0.4) / 2 instead.
    probs, labels = _rows([(0.6, True), (0.55, True)])
    edge = np.linspace(0, 1, 16)[9]
    probs[0, 0] = edge
    assert expected_calibration_error(probs, labels) == pytest.approx(1 - (edge + 0.55) / 2)
    # confidence 1.0 lands in the last bin, not past it
    assert expected_calibration_error(np.array([[1.0, 0.0]]), np.array([0])) == 0.0


def test_ece_matches_brute_force_loop() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(500, 10)) * 3
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = rng.integers(0, 10, 500)
    conf, pred = probs.max(1), probs.argmax(1)
    expected = 0.0
    for lo, hi in zip(np.linspace(0, 1, 16)[:-1], np.linspace(0, 1, 16)[1:], strict=True):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            expected += m.mean() * abs((pred[m] == labels[m]).mean() - conf[m].mean())
    assert expected_calibration_error(probs, labels) == pytest.approx(expected, abs=1e-12)
    assert expected_calibration_error(torch.tensor(probs), torch.tensor(labels)) == pytest.approx(
        expected, abs=1e-12
    )


def test_ece_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(N, K\)"):
        expected_calibration_error(np.zeros(3), np.zeros(3))
    assert math.isnan(expected_calibration_error(np.zeros((0, 2)), np.zeros(0)))


def test_scores_from_logits_closed_form() -> None:
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0]])
    labels = torch.tensor([0, 1, 1])
    s = scores_from_logits(logits, labels)
    p = torch.softmax(logits.double(), 1)
    nll = -(p[0, 0].log() + p[1, 1].log() + p[2, 1].log()).item() / 3
    assert s["acc"] == pytest.approx(2 / 3)
    assert s["nll"] == pytest.approx(nll, rel=1e-12)
    assert s["loss"] == pytest.approx(nll, rel=1e-6)


def test_evaluate_normalises_and_restores_mode() -> None:
    torch.manual_seed(0)
    images = torch.randint(0, 256, (40, 1, 4, 4), dtype=torch.uint8)
    labels = torch.randint(0, 3, (40,))
    mean, std = channel_stats(images)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Dropout(0.5), torch.nn.Linear(16, 3))
    model.train()
    res = evaluate(model, images, labels, mean=mean, std=std, batch_size=7, device="cpu")
    assert model.training
    model.eval()
    with torch.no_grad():
        x = (images.float() / 255 - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)
        ref = scores_from_logits(model(x), labels)
    assert res["acc"] == ref["acc"]
    assert res["nll"] == pytest.approx(ref["nll"], rel=1e-5)


def test_channel_stats_and_normalizer() -> None:
    images = torch.randint(0, 256, (10, 3, 5, 5), dtype=torch.uint8)
    mean, std = channel_stats(images)
    x = images.double() / 255
    assert torch.allclose(mean.double(), x.mean(dim=(0, 2, 3)), atol=1e-6)
    assert torch.allclose(std.double(), x.std(dim=(0, 2, 3), unbiased=False), atol=1e-6)
    scale, shift = normalizer(mean, std)
    z = to_input(images, scale, shift)
    assert z.dtype == torch.float32
    assert torch.allclose(z.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(z.std(dim=(0, 2, 3), unbiased=False), torch.ones(3), atol=1e-4)
