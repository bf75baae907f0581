"""Per-sample correctness on clean and PGD inputs, batched, always in eval mode."""

from __future__ import annotations

import torch
from torch import nn

from ..attacks import pgd
from ..data.augment import as_float
from ..validate import check_batch, check_budget


@torch.no_grad()
def clean_correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Bool flags: is each uint8 or float image classified correctly (model in eval mode)?"""
    check_batch(model, x, y, allow_uint8=True)
    was = model.training
    model.eval()
    out = []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        xb = as_float(xb)
        out.append(model(xb).argmax(1) == y[i:i + batch_size])
    model.train(was)
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.bool, device=y.device)


def sample_seeds(indices: torch.Tensor, seed: int, restart: int = 0) -> torch.Tensor:
    """Per-sample random-start seeds from the sample's index in the split, the seed and the restart."""
    return indices.cpu().long() + seed * 1_000_003 + restart * 7_919_000_011


def pgd_correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float, steps: int,
                restarts: int = 1, loss: str = "ce", batch_size: int = 256, seed: int = 0,
                indices: torch.Tensor | None = None) -> torch.Tensor:
    """Bool flags: robust to every restart of L-inf PGD (random start), evaluated in eval mode.

    `indices` are the points' positions in the full split (default 0..N-1); random starts depend on
    them and `seed` only, so any sharding or batching of the split gives the same flags.
    """
    check_batch(model, x, y, allow_uint8=True)
    check_budget(eps, alpha, steps)
    indices = torch.arange(len(y)) if indices is None else indices
    out = []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        xb = as_float(xb)
        yb = y[i:i + batch_size]
        ok = torch.ones(len(yb), dtype=torch.bool, device=y.device)
        for r in range(restarts):
            x_adv = pgd(model, xb, yb, eps, alpha, steps, loss=loss,
                        sample_seeds=sample_seeds(indices[i:i + batch_size], seed, r))
            ok &= clean_correct(model, x_adv, yb, batch_size)
        out.append(ok)
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.bool, device=y.device)
