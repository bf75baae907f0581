"""TRADES (Zhang et al. 2019), as in the official `yaodongyu/TRADES:trades.py`.

`loss = CE(f(x), y) + beta * (1/B) * sum KL(softmax f(x) || softmax f(x'))`; the official code uses
`nn.KLDivLoss(size_average=False)` divided by the batch size, i.e. the per-sample KL summed over
classes and averaged over the batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def trades_kl(logits_clean: torch.Tensor, logits_adv: torch.Tensor) -> torch.Tensor:
    """(1/B) sum_i KL(softmax(clean_i) || softmax(adv_i)); gradients reach both arguments."""
    return F.kl_div(F.log_softmax(logits_adv, dim=1), F.log_softmax(logits_clean, dim=1),
                    reduction="sum", log_target=True) / logits_clean.shape[0]


def trades_loss(logits_clean: torch.Tensor, logits_adv: torch.Tensor, y: torch.Tensor, beta: float
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Natural CE plus beta times the robust KL term; returns (loss, detached terms)."""
    ce = F.cross_entropy(logits_clean, y)
    kl = trades_kl(logits_clean, logits_adv)
    loss = ce + beta * kl
    return loss, {"ce": ce.detach(), "kl": kl.detach()}
