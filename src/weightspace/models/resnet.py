"""CIFAR-style ResNets: the paper's ResNet-18 and a narrow member for CPU studies.

Architecture (the variant used in the paper's released code): a 3×3 stride-1 stem conv +
BN + ReLU, then a 3×3 stride-2 **max-pool** (kept, unlike the usual CIFAR ResNet that drops
it), four stages of BasicBlocks ([2, 2, 2, 2], widths 64w, 128w, 256w, 512w; strides 1, 2, 2,
2), global average pooling and a linear classifier.

Dropout: one ``nn.Dropout`` at the end of every residual block (after the residual sum and
ReLU) and one before the classifier — 9 modules for ResNet-18. They exist even at p = 0.

Submodule names *and registration order* reproduce the network of the paper's published
WeightWatcher tables: ``conv1``, ``bn1``, ``relu``, ``maxpool``, ``layer1.0.{conv1, bn1, relu,
conv2, bn2, dropout, shortcut}`` …, ``dropout``, ``fc``, so that WeightWatcher-style
``layer_id`` values (module enumeration indices) and layer names line up with those tables
(conv1 = 1, layer1.0.conv1 = 7, layer2.0.shortcut.0 = 31, …, fc = 80). ``model.classifier``
is the ``fc`` layer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from weightspace.models.small import scaled


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, dropout: float) -> None:
        super().__init__()
        # registration order matters: it fixes the layer ids (see the module docstring)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.dropout = nn.Dropout(dropout)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.dropout(self.relu(out + self.shortcut(x)))


class CifarResNet(nn.Module):
    def __init__(
        self,
        *,
        blocks: tuple[int, ...],
        widths: tuple[int, ...],
        num_classes: int,
        in_channels: int,
        dropout: float,
        width: float,
    ) -> None:
        super().__init__()
        chans = [scaled(c, width) for c in widths]
        self.conv1 = nn.Conv2d(in_channels, chans[0], 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(chans[0])
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        c_in = chans[0]
        for i, (n, c) in enumerate(zip(blocks, chans, strict=True)):
            stride = 1 if i == 0 else 2
            layer = [
                BasicBlock(c_in if j == 0 else c, c, stride if j == 0 else 1, dropout)
                for j in range(n)
            ]
            self.add_module(f"layer{i + 1}", nn.Sequential(*layer))
            c_in = c
        self.num_stages = len(blocks)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(c_in, num_classes)

    @property
    def classifier(self) -> nn.Linear:
        """The final linear layer (registered as ``fc``, the paper's name)."""
        return self.fc

    @classifier.setter
    def classifier(self, layer: nn.Linear) -> None:
        self.fc = layer

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (B, c0, H/2, W/2)
        for i in range(self.num_stages):
            x = getattr(self, f"layer{i + 1}")(x)
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)  # (B, c_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.forward_features(x)))


def resnet18(*, num_classes: int, in_channels: int, dropout: float, width: float) -> CifarResNet:
    return CifarResNet(blocks=(2, 2, 2, 2), widths=(64, 128, 256, 512), num_classes=num_classes,
                       in_channels=in_channels, dropout=dropout, width=width)  # fmt: skip


def resnet_narrow(
    *, num_classes: int, in_channels: int, dropout: float, width: float
) -> CifarResNet:
    """One BasicBlock per stage, widths 16w, 32w, 64w, 128w (5 dropout modules)."""
    return CifarResNet(blocks=(1, 1, 1, 1), widths=(16, 32, 64, 128), num_classes=num_classes,
                       in_channels=in_channels, dropout=dropout, width=width)  # fmt: skip
