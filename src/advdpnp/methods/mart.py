"""MART (Wang et al. 2020), following the official `YisenWang/MART` code.

The attack is PGD on CE from x + 0.001 N(0, I) (model in eval mode); the loss is the boosted CE on
x' plus beta KL(p(x) || p(x')) weighted by 1 - p_y(x), the clean probability of the true class.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import opt
from ..losses.mart import mart_loss
from .base import METHODS, CleanAdvPairMethod


@dataclass
class MARTOptions:
    beta: float = opt(6.0, "weight of the weighted KL term (official: 6 for WRN, 5 for ResNet-18)", min=0.0)


@METHODS.register("mart", help="MART: boosted CE on x' + beta (1 - p_y(x)) KL(p(x)||p(x'))")
class MART(CleanAdvPairMethod):
    Options = MARTOptions
    attack_loss = "ce"
    objective = staticmethod(mart_loss)
