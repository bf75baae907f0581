"""FGSM (Goodfellow et al. 2015): one signed-gradient step of size eps from the clean input."""

from __future__ import annotations

import torch
from torch import nn

from .pgd import pgd


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """x + eps * sign(grad CE), clipped to [0,1]: PGD with one step of size eps and no random start."""
    return pgd(model, x, y, eps, alpha=eps, steps=1, loss="ce", random_start="none")
