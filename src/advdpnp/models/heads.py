"""Classification heads. `PrototypeHead` is Adv-DPNP's: fixed-norm prototypes ARE the classifier weights."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LOGIT_MODES = ("dot", "cosine", "neg_sqdist")


class PrototypeHead(nn.Module):
    """One learnable prototype per class, P = r * normalize_rows(V) (SPEC section 2).

    The norm r is fixed, so P stays on a sphere after every optimiser step by construction.
    With equal-norm prototypes the `dot` logits z.p_k differ from -1/2 ||z - p_k||^2 only by a
    per-sample constant, so the linear classifier and the nearest-prototype classifier coincide.
    """

    has_prototypes = True

    def __init__(self, in_dim: int, num_classes: int, radius: float = 4.0, logits: str = "dot",
                 tau: float = 10.0) -> None:
        super().__init__()
        if logits not in LOGIT_MODES:
            raise ValueError(f"logits must be one of {LOGIT_MODES}, got {logits!r}")
        self.radius, self.mode, self.tau = float(radius), logits, float(tau)
        self.weight = nn.Parameter(torch.randn(num_classes, in_dim) / math.sqrt(in_dim))

    def prototypes(self) -> torch.Tensor:
        """The (K, d) prototypes on the sphere of radius r (differentiable w.r.t. V)."""
        return self.radius * F.normalize(self.weight, dim=1)

    def logits(self, z: torch.Tensor, protos: torch.Tensor) -> torch.Tensor:
        """Logits of features `z` against given prototypes (pass `P.detach()` for stop-gradient)."""
        if self.mode == "dot":
            return z @ protos.t()
        if self.mode == "cosine":
            return self.tau * F.normalize(z, dim=1) @ F.normalize(protos, dim=1).t()
        return -0.5 * torch.cdist(z, protos).pow(2)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.logits(z, self.prototypes())


class LinearHead(nn.Module):
    """Plain linear classifier for the baselines (standard, PGD-AT, TRADES, MART)."""

    has_prototypes = False

    def __init__(self, in_dim: int, num_classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(in_dim, num_classes)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.fc(z)
