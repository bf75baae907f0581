"""L-inf PGD with cross-entropy, KL (TRADES) or C&W-margin objectives; input gradients only."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..validate import check_batch, check_budget
from .base import attack_mode

LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]


def _ce(logits: torch.Tensor, y: torch.Tensor, _: torch.Tensor | None) -> torch.Tensor:
    return F.cross_entropy(logits, y, reduction="sum")


def _kl(logits: torch.Tensor, _: torch.Tensor, clean_logp: torch.Tensor | None) -> torch.Tensor:
    assert clean_logp is not None
    return F.kl_div(F.log_softmax(logits, dim=1), clean_logp, reduction="sum", log_target=True)


def margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample C&W margin max_{j != y} z_j - z_y (positive means misclassified)."""
    own = logits.gather(1, y[:, None]).squeeze(1)
    rival = logits.scatter(1, y[:, None], float("-inf")).max(dim=1).values
    return rival - own


def _margin(logits: torch.Tensor, y: torch.Tensor, _: torch.Tensor | None) -> torch.Tensor:
    return margin(logits, y).sum()


#: Summed (not averaged) objectives, so a sample's step never depends on its batch mates.
LOSSES: dict[str, LossFn] = {"ce": _ce, "kl": _kl, "margin": _margin}


def _noise(sampler: Callable, x: torch.Tensor, generator: torch.Generator | None,
           sample_seeds: torch.Tensor | None = None) -> torch.Tensor:
    """Noise shaped like x.

    With `sample_seeds` (one int per sample) each sample's noise depends only on its own seed, so a
    sharded evaluation draws exactly the noise of a single-process one. Otherwise the noise comes
    from `generator` (on its own device: CPU generators keep runs reproducible across devices).
    """
    if sample_seeds is not None:
        g = torch.Generator()
        rows = [sampler(x.shape[1:], generator=g.manual_seed(int(s))) for s in sample_seeds.tolist()]
        return torch.stack(rows).to(x.device) if rows else torch.zeros_like(x)
    if generator is None or generator.device == x.device:
        return sampler(x.shape, generator=generator, device=x.device)
    return sampler(x.shape, generator=generator, device=generator.device).to(x.device)


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float, steps: int,
        loss: str = "ce", random_start: str = "uniform", init_std: float = 0.001,
        generator: torch.Generator | None = None, sample_seeds: torch.Tensor | None = None,
        checked_batch: bool = False) -> torch.Tensor:
    """Return x_adv with ||x_adv - x||_inf <= eps in [0,1], maximising `loss` by signed-gradient ascent.

    `random_start`: "uniform" (Madry: U(-eps, eps)), "normal" (TRADES/MART: x + init_std * N(0, I))
    or "none"; `sample_seeds` makes the start of each sample depend on its seed only (see `_noise`).
    The model runs in eval mode with parameter gradients off (see `attack_mode`).
    `checked_batch=True` skips the checks of x and y, for a caller whose batch is valid by construction (the
    trainer: uint8 images scaled to [0, 1], labels checked at load). Why: they read the batch back to the host,
    which on a GPU waits for the device three times per training step.
    """
    if not checked_batch:
        check_batch(model, x, y)
    check_budget(eps, alpha, steps)
    if loss not in LOSSES:
        raise ValueError(f"unknown attack loss {loss!r}; choose one of {sorted(LOSSES)}")
    objective = LOSSES[loss]
    x = x.detach()
    with attack_mode(model):
        clean_logp = None
        if loss == "kl":
            with torch.no_grad():
                clean_logp = F.log_softmax(model(x), dim=1)
        if random_start == "uniform":
            delta = (2 * _noise(torch.rand, x, generator, sample_seeds) - 1) * eps
        elif random_start == "normal":
            delta = init_std * _noise(torch.randn, x, generator, sample_seeds)
        elif random_start == "none":
            delta = torch.zeros_like(x)
        else:
            raise ValueError(f"random_start must be uniform, normal or none, got {random_start!r}")
        x_adv = (x + delta).clamp_(0.0, 1.0)
        lo, hi = x - eps, x + eps  # the L-inf ball, computed once
        for _ in range(steps):
            x_adv.requires_grad_(True)
            grad, = torch.autograd.grad(objective(model(x_adv), y, clean_logp), x_adv)
            # In place: the step's graph is freed, so x_adv and grad can be reused as buffers.
            x_adv = x_adv.detach_().add_(grad.sign_(), alpha=alpha)
            x_adv = torch.clamp(x_adv, lo, hi, out=x_adv).clamp_(0.0, 1.0)
    return x_adv
