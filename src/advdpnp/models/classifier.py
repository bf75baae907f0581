"""The full model: normalisation inside, so attacks and AutoAttack see inputs in [0, 1]."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .base import MODELS, Backbone
from .heads import LinearHead, PrototypeHead


class Classifier(nn.Module):
    """`model(x in [0,1]) -> logits (N, K)`; `model.features(x) -> (N, d)` for the latent analysis."""

    def __init__(self, backbone: Backbone, head: nn.Module, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.backbone, self.head = backbone, head
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone((x - self.mean) / self.std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    @property
    def has_prototypes(self) -> bool:
        return bool(getattr(self.head, "has_prototypes", False))


def build_model(arch: str, in_channels: int, image_size: int, num_classes: int, head: str = "prototype",
                mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                radius: float = 4.0, logits: str = "dot", tau: float = 10.0, **arch_kwargs) -> Classifier:
    """Backbone from the registry plus a `prototype` or `linear` head."""
    backbone = MODELS.get(arch)(in_channels=in_channels, image_size=image_size, **arch_kwargs)
    if head == "prototype":
        h: nn.Module = PrototypeHead(backbone.out_dim, num_classes, radius=radius, logits=logits, tau=tau)
    elif head == "linear":
        h = LinearHead(backbone.out_dim, num_classes)
    else:
        raise ValueError(f"head must be 'prototype' or 'linear', got {head!r}")
    mean = list(mean) if mean is not None else [0.0] * in_channels
    std = list(std) if std is not None else [1.0] * in_channels
    return Classifier(backbone, h, mean, std)
