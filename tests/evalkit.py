"""Test helpers of the evaluation tests: a quickly trained digits model and gradient-masking wrappers."""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from advdpnp.data import build_data
from advdpnp.data.augment import to_float
from advdpnp.models.classifier import build_model


@functools.lru_cache(maxsize=None)
def digits() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(train_x, train_y, test_x, test_y) of digits, images float in [0,1]."""
    d = build_data("digits")
    return to_float(d.train_x), d.train_y, to_float(d.test_x), d.test_y


@functools.lru_cache(maxsize=None)
def trained(head: str = "prototype", epochs: int = 3) -> nn.Module:
    """A small CNN trained with plain CE on digits in a few seconds (~97 % clean, not robust)."""
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    x, y, _, _ = digits()
    model = build_model("small_cnn", 1, 8, 10, head=head)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(epochs):
        for idx in torch.randperm(len(y), generator=g).split(64):
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return model.eval()


class _ZeroGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        return torch.zeros_like(g)


class ZeroGradient(nn.Module):
    """Masked on purpose: same predictions, but every input gradient is zero."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(_ZeroGrad.apply(x))


class SaturatedSoftmax(nn.Module):
    """Masked on purpose: returns softmax(1000 * logits), whose gradients vanish numerically."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x):
        return F.softmax(1000 * self.model(x), dim=1)


class Crashing(nn.Module):
    """Raises after `limit` forward calls: simulates a kill in the middle of an evaluation."""

    def __init__(self, model: nn.Module, limit: int) -> None:
        super().__init__()
        self.model, self.limit, self.calls = model, limit, 0

    def forward(self, x):
        self.calls += 1
        if self.calls > self.limit:
            raise KeyboardInterrupt("simulated kill")
        return self.model(x)
