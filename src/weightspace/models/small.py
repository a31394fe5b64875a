"""Small models for CPU studies: ``cnn-small`` and ``mlp``.

Dropout placement (the same rule as the paper's ResNet-18): one ``nn.Dropout`` after every
block / hidden layer, and one right before the classifier (when the last hidden layer feeds
the classifier directly, its dropout is that one). The modules are present even at p = 0
(identity then), so submodule names never depend on the dropout rate.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def scaled(channels: int, width: float) -> int:
    return max(1, round(channels * width))


class SmallCNN(nn.Module):
    """conv3×3(16w) → ReLU → max-pool → dropout → conv3×3(32w) → ReLU → max-pool → dropout →
    fc(128w) → ReLU → dropout → classifier. Dropout modules: 3.

    The feature map is average-pooled to 7×7 before ``fc1`` (an identity for 28×28 inputs),
    so any input size works.
    """

    def __init__(self, *, num_classes: int, in_channels: int, dropout: float, width: float) -> None:
        super().__init__()
        c1, c2, hidden = scaled(16, width), scaled(32, width), scaled(128, width)
        self.conv1 = nn.Conv2d(in_channels, c1, 3, padding=1)
        self.drop1 = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.drop2 = nn.Dropout(dropout)
        self.fc1 = nn.Linear(c2 * 7 * 7, hidden)
        self.drop3 = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop1(F.max_pool2d(F.relu(self.conv1(x)), 2))  # (B, c1, H/2, W/2)
        x = self.drop2(F.max_pool2d(F.relu(self.conv2(x)), 2))  # (B, c2, H/4, W/4)
        if x.shape[-2:] != (7, 7):
            x = F.adaptive_avg_pool2d(x, 7)  # (B, c2, 7, 7)
        return F.relu(self.fc1(x.flatten(1)))  # (B, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.drop3(self.forward_features(x)))


class MLP(nn.Module):
    """flatten → fc(256w) → ReLU → dropout → fc(128w) → ReLU → dropout → classifier.

    Dropout modules: 2 (the second is also the one before the classifier). Needs the input
    size (``image_size``, default 28) to size ``fc1``.
    """

    def __init__(
        self, *, num_classes: int, in_channels: int, dropout: float, width: float, image_size: int
    ) -> None:
        super().__init__()
        self.input_shape = (in_channels, image_size, image_size)
        h1, h2 = scaled(256, width), scaled(128, width)
        self.fc1 = nn.Linear(in_channels * image_size * image_size, h1)
        self.drop1 = nn.Dropout(dropout)
        self.fc2 = nn.Linear(h1, h2)
        self.drop2 = nn.Dropout(dropout)
        self.classifier = nn.Linear(h2, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(
                f"mlp was built for inputs {self.input_shape}, got {tuple(x.shape[1:])}; "
                "create it with image_size matching the data"
            )
        x = self.drop1(F.relu(self.fc1(x.flatten(1))))  # (B, C*H*W) -> (B, h1)
        return F.relu(self.fc2(x))  # (B, h2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.drop2(self.forward_features(x)))
