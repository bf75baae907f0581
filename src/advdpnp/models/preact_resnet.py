"""PreAct ResNet-18 as used by Rice et al. (2020) and the AWP code: the standard robust-overfitting baseline."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import MODELS, Backbone


class PreActBlock(nn.Module):
    """BN-ReLU-conv twice; a 1x1 conv shortcut on the activated input when the shape changes."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.shortcut: nn.Module | None = None
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


class PreActResNet(Backbone):
    """CIFAR stem (3x3 conv, stride 1), four stages, final BN-ReLU, global average pool."""

    def __init__(self, in_channels: int, num_blocks: tuple[int, int, int, int]) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        layers: list[nn.Module] = []
        in_planes = 64
        for i, (planes, n) in enumerate(zip((64, 128, 256, 512), num_blocks)):
            for j in range(n):
                stride = 2 if i > 0 and j == 0 else 1
                layers.append(PreActBlock(in_planes, planes, stride))
                in_planes = planes
        self.layers = nn.Sequential(*layers)
        self.bn = nn.BatchNorm2d(in_planes)
        # Adaptive pooling (the original uses avg_pool2d(4)) so 28x28 or 8x8 inputs also work.
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.out_dim = in_planes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layers(self.conv1(x))
        out = F.relu(self.bn(out))
        return torch.flatten(self.pool(out), 1)


@MODELS.register("preact_resnet18", help="PreAct ResNet-18 (Rice et al. / AWP), CIFAR stem; out_dim 512")
def preact_resnet18(in_channels: int, image_size: int) -> Backbone:
    return PreActResNet(in_channels, (2, 2, 2, 2))
