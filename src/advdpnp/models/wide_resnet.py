"""WideResNet as in the TRADES / MART code: the standard robust-CIFAR benchmark model."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .base import MODELS, Backbone


class WideBlock(nn.Module):
    """Pre-activation block; when the shape changes the 1x1 shortcut sees the activated input (as in TRADES)."""

    def __init__(self, in_planes: int, out_planes: int, stride: int, drop_rate: float) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_planes)
        self.conv2 = nn.Conv2d(out_planes, out_planes, 3, stride=1, padding=1, bias=False)
        self.drop_rate = drop_rate
        self.shortcut: nn.Module | None = None
        if in_planes != out_planes:
            self.shortcut = nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = F.relu(self.bn1(x))
        out = F.relu(self.bn2(self.conv1(act)))
        if self.drop_rate > 0:
            out = F.dropout(out, p=self.drop_rate, training=self.training)
        out = self.conv2(out)
        return out + (self.shortcut(act) if self.shortcut is not None else x)


class WideResNet(Backbone):
    """3x3 stem (16 channels), three stages of width 16k/32k/64k, final BN-ReLU, global average pool."""

    def __init__(self, in_channels: int, depth: int, widen_factor: int, drop_rate: float) -> None:
        super().__init__()
        if (depth - 4) % 6 != 0:
            raise ValueError(f"wide_resnet: depth must be 6n+4, got {depth}")
        n = (depth - 4) // 6
        widths = (16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor)
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, stride=1, padding=1, bias=False)
        blocks: list[nn.Module] = []
        in_planes = widths[0]
        for stage, planes in enumerate(widths[1:]):
            for j in range(n):
                stride = 2 if stage > 0 and j == 0 else 1
                blocks.append(WideBlock(in_planes, planes, stride, drop_rate))
                in_planes = planes
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(in_planes)
        # Adaptive pooling (the original uses avg_pool2d(8)) so non-32x32 inputs also work.
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.out_dim = in_planes
        self._init_weights()

    def _init_weights(self) -> None:
        """The TRADES/MART initialisation (He normal, fan-out), kept so results match the reference code."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                m.weight.data.normal_(0, math.sqrt(2.0 / fan_out))
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.data.fill_(1)
                m.bias.data.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.blocks(self.conv1(x))
        out = F.relu(self.bn(out))
        return torch.flatten(self.pool(out), 1)


def wide_resnet(
    in_channels: int, image_size: int, depth: int = 34, widen_factor: int = 10, drop_rate: float = 0.0
) -> Backbone:
    """Generic builder: depth 6n+4, widths 16k/32k/64k; the registered names only change the defaults."""
    return WideResNet(in_channels, depth, widen_factor, drop_rate)


@MODELS.register("wrn34_10", help="WideResNet-34-10 (TRADES/MART); kwargs depth, widen_factor, drop_rate")
def wrn34_10(
    in_channels: int, image_size: int, depth: int = 34, widen_factor: int = 10, drop_rate: float = 0.0
) -> Backbone:
    return wide_resnet(in_channels, image_size, depth, widen_factor, drop_rate)


@MODELS.register("wrn28_10", help="WideResNet-28-10; kwargs depth, widen_factor, drop_rate")
def wrn28_10(
    in_channels: int, image_size: int, depth: int = 28, widen_factor: int = 10, drop_rate: float = 0.0
) -> Backbone:
    return wide_resnet(in_channels, image_size, depth, widen_factor, drop_rate)
