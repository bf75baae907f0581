"""Standard training: cross-entropy on clean data."""

from __future__ import annotations

import torch.nn.functional as F

from .base import METHODS, Method, accuracy


@METHODS.register("standard", help="cross-entropy on clean data (no robustness)")
class Standard(Method):
    adversarial = False

    def loss(self, model, x, y, x_adv):
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        return loss, {"loss": loss.detach(), "ce": loss.detach(), "acc": accuracy(logits, y)}
