"""DPNP: the clean branch of Adv-DPNP alone (CE + positive alignment + negative repulsion)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..config import opt
from ..errors import ConfigError
from ..losses.prototype import HINGE_FORMS, positive_alignment, prototype_repulsion, rival_hinge
from .base import METHODS, Method, accuracy


@dataclass
class DPNPOptions:
    lambda_pos: float = opt(0.1, "weight of positive alignment L_pos", min=0.0)
    lambda_neg: float = opt(1.0, "weight of negative repulsion L_neg", min=0.0)
    repulsion: str = opt("prototype", "prototype: rival prototypes repel; feature: plus a feature hinge "
                         "(with hinge=squared it diverged or collapsed at the quick presets' recipe: "
                         "docs/results.md)",
                         choices=("prototype", "feature"))
    margin: float = opt(1.0, "margin m of the feature hinge", min=0.0)
    hinge: str = opt("squared", "form of the feature hinge's gap: squared (SPEC section 2), scaled (squared "
                     "gap / 2r: its pull on z no longer grows with the radius), distance (gap of distances)",
                     choices=HINGE_FORMS)

    def __post_init__(self) -> None:
        if self.hinge != "squared" and self.repulsion != "feature":
            raise ConfigError("method.hinge", self.hinge, "only used with method.repulsion=feature")


def clean_branch(model: nn.Module, x: torch.Tensor, y: torch.Tensor, o: DPNPOptions
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """L_clean = CE(s, y) + lambda_pos L_pos + lambda_neg L_neg; gradients reach theta and V.

    Returns (loss, features z, prototypes P, logs) so the adversarial branch can reuse them.
    """
    head = model.head
    z = model.features(x)
    protos = head.prototypes()
    logits = head.logits(z, protos)
    ce = F.cross_entropy(logits, y)
    l_pos = positive_alignment(z, protos, y)
    l_neg = prototype_repulsion(protos)
    if o.repulsion == "feature":
        l_neg = l_neg + rival_hinge(z, protos, y, o.margin, o.hinge, head.radius)
    loss = ce + o.lambda_pos * l_pos + o.lambda_neg * l_neg
    logs = {"ce": ce.detach(), "pos": l_pos.detach(), "neg": l_neg.detach(), "acc": accuracy(logits, y)}
    return loss, z, protos, logs


@METHODS.register("dpnp", help="DPNP: CE + positive alignment + negative repulsion on clean data")
class DPNP(Method):
    Options = DPNPOptions
    heads = ("prototype",)
    adversarial = False

    def loss(self, model, x, y, x_adv):
        loss, _, _, logs = clean_branch(model, x, y, self.opt)
        return loss, {"loss": loss.detach(), **logs}
