"""Attacks. Contract (torchattacks'): inputs in [0,1], `model(x) -> logits`, eval mode while attacking."""

from .base import attack_mode
from .pgd import LOSSES, pgd

__all__ = ["attack_mode", "pgd", "LOSSES"]
