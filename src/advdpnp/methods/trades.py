"""TRADES (Zhang et al. 2019), following the official `yaodongyu/TRADES` code.

The attack maximises KL(f(x) || f(x')) from x + 0.001 N(0, I) (model in eval mode); the loss is
CE(f(x), y) + beta KL(f(x) || f(x')) with both forward passes in train mode.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import opt
from ..losses.trades import trades_loss
from .base import METHODS, CleanAdvPairMethod


@dataclass
class TRADESOptions:
    beta: float = opt(6.0, "weight of the robust KL term (official CIFAR-10 setting: 6)", min=0.0)


@METHODS.register("trades", help="TRADES: CE(f(x)) + beta KL(f(x)||f(x')), x' maximises the KL")
class TRADES(CleanAdvPairMethod):
    Options = TRADESOptions
    attack_loss = "kl"
    objective = staticmethod(trades_loss)
