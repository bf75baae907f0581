"""Attack-time model state: eval mode (BatchNorm statistics untouched) and no parameter gradients."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from torch import nn


@contextmanager
def attack_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and `requires_grad=False` on parameters while crafting; restores both afterwards.

    Turning parameter gradients off means the backward pass of an attack step computes input
    gradients only, never weight gradients.
    """
    was_training = model.training
    flags = [(p, p.requires_grad) for p in model.parameters()]
    model.eval()
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        model.train(was_training)
