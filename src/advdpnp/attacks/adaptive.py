"""Adaptive attacks on the prototype geometry (SPEC section 4).

Prototype defences have looked robust under CE-PGD and collapsed under attacks that target their
geometry (PCL, ClusTR), so we attack the feature space directly: pull the feature towards the
nearest rival prototype and push it away from its own, by maximising the rival hinge with a
margin so large that it never saturates (the hinge is then the distance gap itself).
"""

from __future__ import annotations

import torch
from torch import nn

from ..data.augment import as_float
from ..losses.prototype import rival_hinge
from .base import attack_mode
from .pgd import _noise

#: Margin of the attack's hinge: far above any squared-distance gap, so relu never switches off.
ATTACK_MARGIN = 1e6


def model_prototypes(model: nn.Module) -> torch.Tensor | None:
    """The model's own (K, d) prototypes, or None for a head without prototypes."""
    if getattr(model, "has_prototypes", False):
        return model.head.prototypes().detach()
    return None


@torch.no_grad()
def class_centroids(model: nn.Module, x: torch.Tensor, y: torch.Tensor, num_classes: int,
                    batch_size: int = 256) -> torch.Tensor:
    """Mean clean feature per class: stand-in prototypes for models with a linear head."""
    was = model.training
    model.eval()
    feats = []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        feats.append(model.features(as_float(xb)))
    model.train(was)
    z = torch.cat(feats)
    sums = torch.zeros(num_classes, z.shape[1], device=z.device).index_add_(0, y, z)
    counts = torch.bincount(y, minlength=num_classes).clamp_min(1).to(z)
    return sums / counts[:, None]


def prototype_pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, protos: torch.Tensor, eps: float,
                  alpha: float, steps: int, sample_seeds: torch.Tensor | None = None) -> torch.Tensor:
    """L-inf PGD (uniform random start) maximising ||z - p_y||^2 - ||z - p_j*||^2 in feature space.

    `sample_seeds` (one per sample) make each random start independent of batching and sharding.
    """
    x = x.detach()
    protos = protos.detach()
    with attack_mode(model):
        x_adv = (x + (2 * _noise(torch.rand, x, None, sample_seeds) - 1) * eps).clamp_(0.0, 1.0)
        for _ in range(steps):
            x_adv.requires_grad_(True)
            loss = rival_hinge(model.features(x_adv), protos, y, ATTACK_MARGIN)
            grad, = torch.autograd.grad(loss, x_adv)
            with torch.no_grad():
                x_adv = x_adv + alpha * grad.sign()
                x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp_(0.0, 1.0)
    return x_adv.detach()
