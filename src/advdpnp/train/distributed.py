"""Multi-process training and evaluation under `torchrun`: process group, rank helpers, sharding.

`torchrun --nproc_per_node=N -m advdpnp train ...` sets RANK/WORLD_SIZE/LOCAL_RANK/MASTER_ADDR;
`init_from_env` turns them into a process group (gloo on CPU, nccl on CUDA). Without those variables
every helper degrades to the single-process case, so callers never branch on "is distributed".
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from ..errors import ConfigError


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    """Only the main process writes run directories, checkpoints, metrics and results."""
    return rank() == 0


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def init_from_env(device: torch.device | None = None) -> bool:
    """Join the process group torchrun describes (idempotent); True when running distributed.

    On CUDA each process takes the GPU `LOCAL_RANK` and nccl; on CPU gloo.
    """
    if is_distributed():
        return True
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    cuda = device is not None and device.type == "cuda"
    if cuda:
        local, gpus = int(os.environ.get("LOCAL_RANK", "0")), torch.cuda.device_count()
        if local >= gpus:
            raise ConfigError("train.device", str(device), f"torchrun started local rank {local} but this machine "
                              f"shows {gpus} GPU(s): use --nproc_per_node={gpus} (one process per GPU)")
        torch.cuda.set_device(local)
    dist.init_process_group("nccl" if cuda else "gloo")
    return True


def shutdown() -> None:
    """Leave the process group once a command has succeeded. torch asks for it: a process that exits still in
    its group gets a warning from nccl, and gloo's threads can abort it during interpreter shutdown, which
    torchrun reports as a failed rank after the work is done. Not after an error: a rank that leaves while
    others wait in a collective can hang them."""
    if is_distributed():
        dist.destroy_process_group()


def local_device(device: torch.device) -> torch.device:
    """Under torchrun a CUDA device becomes this process's GPU (`cuda:LOCAL_RANK`)."""
    if device.type == "cuda" and is_distributed():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def init_device(name: str) -> torch.device:
    """Resolve a `train.device`-style name, join torchrun's process group, return this process's device."""
    from .setup import resolve_device

    device = resolve_device(name)
    init_from_env(device)
    return local_device(device)


def setup(name: str, batch_size: int) -> torch.device:
    """`init_device` for the trainer, which also checks that the global batch splits evenly."""
    device = init_device(name)
    check_batch_size(batch_size)
    return device


def check_batch_size(batch_size: int) -> None:
    """The global batch is split evenly, so every rank's gradient has the same weight in the mean."""
    w = world_size()
    if batch_size % w:
        raise ConfigError("train.batch_size", batch_size, f"must be divisible by the {w} processes "
                          "(it is the global batch, split evenly across ranks)")


def shard(batch: torch.Tensor) -> torch.Tensor:
    """This rank's contiguous part of a global batch of indices (the union over ranks is the batch)."""
    return torch.tensor_split(batch, world_size())[rank()]


def wrap_ddp(module: nn.Module, device: torch.device, sync_bn: bool = False) -> nn.Module:
    """DDP around the loss module when distributed (optionally converting BatchNorm to SyncBatchNorm).

    The conversion keeps parameter objects (the optimiser's references stay valid) and state-dict
    keys, so checkpoints stay interchangeable with single-process ones.
    """
    if not is_distributed():
        return module
    if sync_bn:
        if device.type != "cuda":
            raise ConfigError("train.sync_bn", sync_bn, "needs CUDA devices (torch's SyncBatchNorm has no CPU "
                              "kernel); on CPU each rank keeps its own BatchNorm statistics")
        nn.SyncBatchNorm.convert_sync_batchnorm(module)
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids)


def broadcast_buffers(module: nn.Module) -> None:
    """Copy rank 0's buffers (BatchNorm statistics) to all ranks, so every rank holds the saved model."""
    if is_distributed():
        for b in module.buffers():
            dist.broadcast(b, src=0)


def mean_logs(logs: dict[str, torch.Tensor]) -> dict[str, float]:
    """Per-step log values averaged over ranks, so metrics describe the global batch, read to the host at once.
    Why at once: each read of a device value waits for the device, so one read (and one collective) per step
    instead of one per value. A NaN or inf on any rank makes the mean non-finite on every rank, so all ranks see
    a divergence together and none waits forever in the next collective."""
    keys = sorted(logs)  # the same order on every rank
    flat = torch.stack([logs[k].detach().float().reshape(()) for k in keys])
    if is_distributed():
        dist.all_reduce(flat)
        flat /= world_size()
    values = dict(zip(keys, flat.tolist()))
    return {k: values[k] for k in logs}  # the method's order (its metric columns and error messages use it)


def broadcast_object(obj: Any) -> Any:
    """Rank 0's value of a picklable object on every rank (e.g. the run directory it chose)."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_shards(local: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    """Concatenate every rank's 1-D-leading tensor in rank order; `sizes` are the known shard lengths."""
    if not is_distributed():
        return local
    dtype = local.dtype
    send = local.to(torch.uint8) if dtype == torch.bool else local  # gloo has no bool collectives
    pad = max(sizes) - len(send)
    if pad:
        send = torch.cat([send, send.new_zeros((pad, *send.shape[1:]))])
    bufs = [torch.empty_like(send) for _ in sizes]
    dist.all_gather(bufs, send.contiguous())
    return torch.cat([b[:n] for b, n in zip(bufs, sizes)]).to(dtype)
