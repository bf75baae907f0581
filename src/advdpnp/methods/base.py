"""A training method = how to craft adversarial inputs for a batch + the loss on that batch.

The trainer knows nothing about prototypes; it calls `craft` (outside any DDP wrapper, on the
plain model) and then `loss` (inside the wrapper, so gradients are all-reduced).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

import torch
from torch import nn

from ..attacks import pgd
from ..registry import Registry


@dataclass
class Threat:
    """The training attack at the current step (eps/alpha may be ramped by the trainer)."""

    eps: float
    alpha: float
    steps: int
    loss: str = "ce"
    random_start: str = "uniform"


@dataclass
class NoOptions:
    """This method has no options."""


class Method:
    """Base class. Subclasses set `Options` (a dataclass) and override `loss` (and `craft`)."""

    Options: ClassVar[type] = NoOptions
    #: heads this method can train; the first one is what presets use by default
    heads: ClassVar[tuple[str, ...]] = ("linear", "prototype")
    adversarial: ClassVar[bool] = True

    def __init__(self, options: Any) -> None:
        self.opt = options

    def craft(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, threat: Threat,
              generator: torch.Generator | None = None) -> torch.Tensor | None:
        """Adversarial inputs for the trainer's batch (None for methods trained on clean data only). The batch is
        not checked again: the trainer's images and labels are valid by construction."""
        if not self.adversarial:
            return None
        return pgd(model, x, y, threat.eps, threat.alpha, threat.steps, loss=threat.loss,
                   random_start=threat.random_start, generator=generator, checked_batch=True)

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
             x_adv: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Return the scalar loss and detached per-term logs (must include `loss`)."""
        raise NotImplementedError


class CleanAdvPairMethod(Method):
    """TRADES/MART shape: an official attack, then a loss of the clean and adversarial logits.

    Subclasses set `attack_loss` and `objective(logits, logits_adv, y, beta) -> (loss, terms)`; the
    attack always starts at x + 0.001 N(0, I) as in the official code, whatever `attack.*` says.
    """

    attack_loss: ClassVar[str] = "ce"

    @staticmethod
    def objective(logits: torch.Tensor, logits_adv: torch.Tensor, y: torch.Tensor, beta: float
                  ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError

    def craft(self, model, x, y, threat, generator=None):
        return super().craft(model, x, y, replace(threat, loss=self.attack_loss, random_start="normal"), generator)

    def loss(self, model, x, y, x_adv):
        logits, logits_adv = model(x), model(x_adv)
        loss, terms = self.objective(logits, logits_adv, y, self.opt.beta)
        return loss, {"loss": loss.detach(), **terms, "acc": accuracy(logits, y),
                      "acc_adv": accuracy(logits_adv, y)}


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (logits.argmax(1) == y).float().mean()


#: name -> Method subclass
METHODS: Registry = Registry("method")
