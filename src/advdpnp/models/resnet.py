"""CIFAR-style ResNet-18 (3x3 stem, no max-pool), a common adversarial-training backbone."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import MODELS, Backbone


class BasicBlock(nn.Module):
    """conv-BN-ReLU-conv-BN plus identity, or a 1x1 conv-BN projection when the shape changes."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(Backbone):
    """3x3 stride-1 stem, four stages of BasicBlocks, global average pool."""

    def __init__(self, in_channels: int, num_blocks: tuple[int, int, int, int]) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        layers: list[nn.Module] = []
        in_planes = 64
        for i, (planes, n) in enumerate(zip((64, 128, 256, 512), num_blocks)):
            for j in range(n):
                stride = 2 if i > 0 and j == 0 else 1
                layers.append(BasicBlock(in_planes, planes, stride))
                in_planes = planes
        self.layers = nn.Sequential(*layers)
        # Adaptive pooling so non-32x32 inputs (28x28, 8x8) also work.
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.out_dim = in_planes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layers(out)
        return torch.flatten(self.pool(out), 1)


@MODELS.register("resnet18", help="CIFAR-style ResNet-18 (3x3 stem, no max-pool); out_dim 512")
def resnet18(in_channels: int, image_size: int) -> Backbone:
    return ResNet(in_channels, (2, 2, 2, 2))
