"""Accelerator options: mixed-precision autocast of the training loss (CUDA only) and channels_last.

Attacks and evaluation always run in fp32: they happen outside the autocast region. The CPU path never
autocasts, because bf16 on CPUs without AVX-512-BF16 is 10-20x slower (docs/performance.md).
"""

from __future__ import annotations

import contextlib
import os

import torch

from ..errors import ConfigError

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def check_amp(amp: str, device: torch.device) -> None:
    if amp != "none" and device.type != "cuda":
        raise ConfigError("train.amp", amp, f"needs a CUDA device, training runs on {device.type} "
                          "(use train.amp=none: CPU training is fp32)")


def autocast(amp: str, device: torch.device) -> contextlib.AbstractContextManager:
    """Autocast context for the training forward (a no-op for amp='none')."""
    if amp == "none":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=_DTYPES[amp])


def grad_scaler(amp: str, device: torch.device) -> torch.amp.GradScaler:
    """Loss scaling for fp16 (bf16 and fp32 need none: the scaler is then a pass-through)."""
    return torch.amp.GradScaler(device.type, enabled=amp == "fp16")


def make_deterministic(enabled: bool, device: torch.device) -> None:
    """Deterministic CUDA kernels (process-wide). cuDNN's fastest convolution backward passes add in a
    varying order, so without this a CUDA run and its resumed copy drift apart in the last bits."""
    if not enabled or device.type != "cuda":
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # read when cuBLAS creates its handle
    torch.use_deterministic_algorithms(True, warn_only=True)       # warn, never fail, on ops without one
    torch.backends.cudnn.benchmark = False


def memory_format(channels_last: bool) -> torch.memory_format:
    return torch.channels_last if channels_last else torch.contiguous_format
