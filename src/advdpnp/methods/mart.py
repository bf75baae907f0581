"""MART (Wang et al. 2020), following the official `YisenWang/MART` code.

The attack is PGD on CE from x + 0.001 N(0, I) (model in eval mode); the loss is the boosted CE on
x' plus beta KL(p(x) || p(x')) weighted by 1 - p_y(x), the clean probability of the true class.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..config import opt
from ..losses.mart import mart_loss
from .base import METHODS, Method, accuracy


@dataclass
class MARTOptions:
    beta: float = opt(6.0, "weight of the weighted KL term (official: 6 for WRN, 5 for ResNet-18)", min=0.0)


@METHODS.register("mart", help="MART: boosted CE on x' + beta (1 - p_y(x)) KL(p(x)||p(x'))")
class MART(Method):
    Options = MARTOptions

    def craft(self, model, x, y, threat, generator=None):
        return super().craft(model, x, y, dataclasses.replace(threat, loss="ce", random_start="normal"),
                             generator)

    def loss(self, model, x, y, x_adv):
        logits, logits_adv = model(x), model(x_adv)
        loss, terms = mart_loss(logits, logits_adv, y, self.opt.beta)
        return loss, {"loss": loss.detach(), **terms, "acc": accuracy(logits, y),
                      "acc_adv": accuracy(logits_adv, y)}
