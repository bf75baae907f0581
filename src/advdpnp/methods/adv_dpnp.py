"""Adv-DPNP (arXiv 2504.03782), in our formulation (SPEC section 2).

Paper: prototypes are the classifier weights; they learn from clean data only; the feature
extractor learns from clean and adversarial data; the loss combines positive alignment, negative
repulsion and clean/adversarial consistency. Ours: the exact formulas and weights below.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F

from ..config import opt
from ..losses.prototype import feature_consistency, kl_consistency, positive_alignment
from .base import METHODS, Method, accuracy
from .dpnp import DPNPOptions, clean_branch


@dataclass
class AdvDPNPOptions(DPNPOptions):
    lambda_cons: float = opt(1.0, "weight of the clean/adversarial consistency L_cons", min=0.0)
    beta_adv: float = opt(1.0, "weight of the adversarial branch", min=0.0)
    consistency: str = opt("kl", "consistency term", choices=("kl", "feature_l2", "none"))
    single_branch: bool = opt(False, "ablation: prototypes also learn from adversarial data")


@METHODS.register("adv_dpnp", help="Adv-DPNP: clean prototype branch + adversarial feature branch")
class AdvDPNP(Method):
    Options = AdvDPNPOptions
    heads = ("prototype",)

    def loss(self, model, x, y, x_adv):
        o: AdvDPNPOptions = self.opt
        l_clean, z, protos, logs = clean_branch(model, x, y, o)
        # Adversarial branch: stop-gradient on P, so V learns from clean data only.
        p_bar = protos if o.single_branch else protos.detach()
        z_adv = model.features(x_adv)
        logits_adv = model.head.logits(z_adv, p_bar)
        ce_adv = F.cross_entropy(logits_adv, y)
        pos_adv = positive_alignment(z_adv, p_bar, y)
        if o.consistency == "kl":
            cons = kl_consistency(model.head.logits(z, p_bar), logits_adv)
        elif o.consistency == "feature_l2":
            cons = feature_consistency(z, z_adv)
        else:
            cons = ce_adv.new_zeros(())
        l_adv = ce_adv + o.lambda_pos * pos_adv + o.lambda_cons * cons
        loss = l_clean + o.beta_adv * l_adv
        return loss, {"loss": loss.detach(), **logs, "ce_adv": ce_adv.detach(), "pos_adv": pos_adv.detach(),
                      "cons": cons.detach(), "acc_adv": accuracy(logits_adv, y)}
