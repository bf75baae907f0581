"""Adv-DPNP loss terms (SPEC section 2; our formulation of what the paper states in words)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def positive_alignment(z: torch.Tensor, protos: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """L_pos = 1/2 mean_i ||z_i - p_{y_i}||^2: pull each feature to its own class prototype."""
    return 0.5 * (z - protos[y]).pow(2).sum(dim=1).mean()


def prototype_repulsion(protos: torch.Tensor) -> torch.Tensor:
    """L_neg = mean_k max_{j != k} cos(p_k, p_j): push each prototype from its nearest rival (DPNP)."""
    p = F.normalize(protos, dim=1)
    cos = p @ p.t()
    eye = torch.eye(len(p), dtype=torch.bool, device=p.device)
    return cos.masked_fill(eye, float("-inf")).max(dim=1).values.mean()


HINGE_FORMS = ("squared", "scaled", "distance")


def rival_gap(z: torch.Tensor, protos: torch.Tensor, y: torch.Tensor, form: str = "squared",
              radius: float = 1.0) -> torch.Tensor:
    """Per-sample distance gap to the nearest rival prototype j* (positive: classified right by distance).

    squared: ||z - p_j*||^2 - ||z - p_y||^2 (SPEC section 2). With prototypes of norm r it equals
    2 z.(p_y - p_j*), so its pull on z grows with r and with ||z||: the cause of the feature hinge's
    divergence (docs/results.md, Stability). scaled: that gap / 2r, the same geometry with a pull that
    no longer grows with r. distance: ||z - p_j*|| - ||z - p_y||, bounded by the prototypes' distance.
    """
    if form not in HINGE_FORMS:
        raise ValueError(f"hinge form must be one of {HINGE_FORMS}, got {form!r}")
    d = torch.cdist(z, protos)
    if form != "distance":
        d = d.pow(2)
    own = d.gather(1, y[:, None]).squeeze(1)
    rival = d.scatter(1, y[:, None], float("inf")).min(dim=1).values
    gap = rival - own
    return gap / (2 * radius) if form == "scaled" else gap


def rival_hinge(z: torch.Tensor, protos: torch.Tensor, y: torch.Tensor, margin: float,
                form: str = "squared", radius: float = 1.0) -> torch.Tensor:
    """mean_i relu(m - gap_i), gap from `rival_gap`: push each feature from its nearest rival prototype.

    Also the objective of the adaptive attack, which maximises it to cross the decision boundary.
    """
    return F.relu(margin - rival_gap(z, protos, y, form, radius)).mean()


def kl_consistency(logits_clean: torch.Tensor, logits_adv: torch.Tensor) -> torch.Tensor:
    """KL(softmax(clean) || softmax(adv)), batch mean."""
    return F.kl_div(F.log_softmax(logits_adv, dim=1), F.log_softmax(logits_clean, dim=1),
                    reduction="batchmean", log_target=True)


def feature_consistency(z: torch.Tensor, z_adv: torch.Tensor) -> torch.Tensor:
    """mean_i ||z_i - z_adv_i||^2."""
    return (z - z_adv).pow(2).sum(dim=1).mean()
