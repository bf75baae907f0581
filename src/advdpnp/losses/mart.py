"""MART (Wang et al. 2020), as in the official `YisenWang/MART:mart.py`.

`loss = BCE(p(x'), y) + lambda * mean_i [ sum_k KL_k(p(x_i) || p(x'_i)) * (1 - p_{y_i}(x_i)) ]` with the
boosted CE `BCE = CE(f(x'), y) + NLL(log(1.0001 - p(x')), y_hat)`, where `y_hat` is the most
probable class of x' other than y (the official code's `argsort(...)[:, -2:]` trick).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def rival_class(probs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The most probable class other than the true one (official: top-2, skipping y)."""
    top2 = probs.topk(2, dim=1).indices
    return torch.where(top2[:, 0] == y, top2[:, 1], top2[:, 0])


def boosted_ce(logits_adv: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(CE(f(x'), y), NLL(log(1.0001 - p(x')), y_hat)): misclassification-aware CE, both batch means."""
    probs = F.softmax(logits_adv, dim=1)
    ce = F.cross_entropy(logits_adv, y)
    margin = F.nll_loss(torch.log(1.0001 - probs + 1e-12), rival_class(probs, y))
    return ce, margin


def weighted_kl(logits_clean: torch.Tensor, logits_adv: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(1/B) sum_i KL(p(x_i) || p(x'_i)) * (1 - p_{y_i}(x_i)).

    As officially: the weight is not detached and is `1.0000001 - p_y` (never exactly zero).
    """
    p_clean = F.softmax(logits_clean, dim=1)
    kl = F.kl_div(F.log_softmax(logits_adv, dim=1), F.log_softmax(logits_clean, dim=1),
                  reduction="none", log_target=True).sum(dim=1)
    weight = 1.0000001 - p_clean.gather(1, y[:, None]).squeeze(1)
    return (kl * weight).mean()


def mart_loss(logits_clean: torch.Tensor, logits_adv: torch.Tensor, y: torch.Tensor, beta: float
              ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """BCE + beta * weighted KL; returns (loss, detached terms)."""
    ce_adv, margin = boosted_ce(logits_adv, y)
    kl = weighted_kl(logits_clean, logits_adv, y)
    loss = ce_adv + margin + beta * kl
    return loss, {"ce_adv": ce_adv.detach(), "bce_margin": margin.detach(), "kl_weighted": kl.detach()}
