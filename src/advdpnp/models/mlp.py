"""Fully connected backbone: the cheapest model, for tiny data sets (sklearn digits) and smoke tests."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .base import MODELS, Backbone


class MLP(Backbone):
    """Flatten, then Linear-ReLU per hidden layer; the features are the last hidden activations."""

    def __init__(self, in_features: int, hidden: Sequence[int]) -> None:
        super().__init__()
        if not hidden:
            raise ValueError("mlp needs at least one hidden layer")
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(inplace=True)]
            width = h
        self.net = nn.Sequential(*layers)
        self.out_dim = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@MODELS.register("mlp", help="MLP on flattened pixels (kwarg hidden=(256, 256)); for tiny images")
def mlp(in_channels: int, image_size: int, hidden: Sequence[int] = (256, 256)) -> Backbone:
    return MLP(in_channels * image_size * image_size, tuple(hidden))
