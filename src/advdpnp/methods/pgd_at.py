"""PGD-AT (Madry et al. 2018): cross-entropy on PGD examples only."""

from __future__ import annotations

import torch.nn.functional as F

from .base import METHODS, Method, accuracy


@METHODS.register("pgd_at", help="Madry PGD-AT: CE on L-inf PGD examples (any head)")
class PGDAT(Method):
    def loss(self, model, x, y, x_adv):
        logits_adv = model(x_adv)
        loss = F.cross_entropy(logits_adv, y)
        return loss, {"loss": loss.detach(), "ce_adv": loss.detach(), "acc_adv": accuracy(logits_adv, y)}
