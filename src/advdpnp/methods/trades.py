"""TRADES (Zhang et al. 2019), following the official `yaodongyu/TRADES` code.

The attack maximises KL(f(x) || f(x')) from x + 0.001 N(0, I) (model in eval mode); the loss is
CE(f(x), y) + beta KL(f(x) || f(x')) with both forward passes in train mode.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..config import opt
from ..losses.trades import trades_loss
from .base import METHODS, Method, accuracy


@dataclass
class TRADESOptions:
    beta: float = opt(6.0, "weight of the robust KL term (official CIFAR-10 setting: 6)", min=0.0)


@METHODS.register("trades", help="TRADES: CE(f(x)) + beta KL(f(x)||f(x')), x' maximises the KL")
class TRADES(Method):
    Options = TRADESOptions

    def craft(self, model, x, y, threat, generator=None):
        return super().craft(model, x, y, dataclasses.replace(threat, loss="kl", random_start="normal"),
                             generator)

    def loss(self, model, x, y, x_adv):
        logits, logits_adv = model(x), model(x_adv)
        loss, terms = trades_loss(logits, logits_adv, y, self.opt.beta)
        return loss, {"loss": loss.detach(), **terms, "acc": accuracy(logits, y),
                      "acc_adv": accuracy(logits_adv, y)}
