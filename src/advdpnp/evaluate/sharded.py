"""Evaluation split across processes: each rank evaluates a contiguous shard, flags are gathered.

Works around any function mapping `(x, y, indices) -> {name: per-sample tensor}`; `indices` are the
points' positions in the full split, which seed every random start (`sample_seeds`), so a sharded
run returns exactly the flags of a single-process one. Without torchrun it just calls the function.
"""

from __future__ import annotations

from typing import Callable

import torch

from ..train.distributed import gather_shards, rank, world_size

FlagsFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], dict[str, torch.Tensor]]


def run_sharded(fn: FlagsFn, x: torch.Tensor, y: torch.Tensor,
                indices: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """`fn` on this rank's shard of (x, y, indices); every rank gets the full, ordered result."""
    indices = torch.arange(len(y)) if indices is None else indices
    parts = torch.tensor_split(torch.arange(len(y)), world_size())
    sizes = [len(p) for p in parts]
    mine = parts[rank()]
    lo, hi = (int(mine[0]), int(mine[-1]) + 1) if len(mine) else (0, 0)
    local = fn(x[lo:hi], y[lo:hi], indices[lo:hi])
    return {k: gather_shards(v, sizes) for k, v in local.items()}
