"""Checks on what callers hand the attacks and evaluation API: one-line errors instead of tracebacks.

Images must be (N, C, H, W) floats in [0, 1] (or uint8 0..255 where the API converts them), labels
int64 class indices, budgets non-negative. `InputError` is a `UserError` (the CLI prints one line and
exits 2) and a `ValueError` (what Python callers expect from a bad argument).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .errors import UserError


class InputError(UserError, ValueError):
    """An argument of the attacks/evaluation API is malformed."""


def check_images(x: object, name: str = "images", allow_uint8: bool = False) -> None:
    """(N, C, H, W) floating tensor with every value in [0, 1] (NaN and inf refused)."""
    if not isinstance(x, torch.Tensor):
        raise InputError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4:
        raise InputError(f"{name} must have shape (N, C, H, W), got {tuple(x.shape)}")
    if allow_uint8 and x.dtype == torch.uint8:
        return
    if not x.is_floating_point():
        kinds = "floating point in [0, 1] or uint8" if allow_uint8 else "floating point in [0, 1]"
        raise InputError(f"{name} must be {kinds}, got dtype {x.dtype}")
    if x.numel() and not bool(((x >= 0) & (x <= 1)).all()):  # NaN fails both comparisons
        finite = x[torch.isfinite(x)]
        lo = f"{finite.min().item():.4g}" if finite.numel() else "nan"
        hi = f"{finite.max().item():.4g}" if finite.numel() else "nan"
        extra = " and NaN/inf values" if finite.numel() < x.numel() else ""
        raise InputError(f"{name} must lie in [0, 1] (normalisation happens inside the model), got values in "
                         f"[{lo}, {hi}]{extra}")


def check_labels(y: object, n: int, num_classes: int | None = None, name: str = "labels") -> None:
    """(N,) int64 class indices in [0, num_classes)."""
    if not isinstance(y, torch.Tensor):
        raise InputError(f"{name} must be a torch.Tensor, got {type(y).__name__}")
    if y.dtype != torch.int64:
        raise InputError(f"{name} must be int64 class indices, got dtype {y.dtype}")
    if y.dim() != 1 or len(y) != n:
        raise InputError(f"{name} must have shape ({n},) to match the images, got {tuple(y.shape)}")
    if not len(y):
        return
    lo, hi = int(y.min()), int(y.max())
    if lo < 0 or (num_classes is not None and hi >= num_classes):
        bound = f"[0, {num_classes})" if num_classes is not None else ">= 0"
        raise InputError(f"{name} must lie in {bound}, got values in [{lo}, {hi}]")


def check_budget(eps: float, alpha: float | None = None, steps: int | None = None) -> None:
    """eps and alpha finite and >= 0 (a ramped budget starts at 0), steps a positive integer."""
    if not isinstance(eps, (int, float)) or not math.isfinite(eps) or eps < 0:
        raise InputError(f"eps must be a finite number >= 0, got {eps!r}")
    if alpha is not None and (not isinstance(alpha, (int, float)) or not math.isfinite(alpha) or alpha < 0):
        raise InputError(f"alpha (step size) must be a finite number >= 0, got {alpha!r}")
    if steps is not None and (not isinstance(steps, int) or isinstance(steps, bool) or steps < 1):
        raise InputError(f"steps must be an integer >= 1, got {steps!r}")


def num_classes_of(model: nn.Module) -> int | None:
    """The number of classes of an advdpnp classifier (None for a foreign model: range unchecked)."""
    k = getattr(model, "num_classes", None)
    if isinstance(k, int):
        return k
    head = getattr(model, "head", None)
    weight = getattr(head, "weight", None)
    if weight is None:
        weight = getattr(getattr(head, "fc", None), "weight", None)
    return int(weight.shape[0]) if isinstance(weight, torch.Tensor) else None


def check_batch(model: nn.Module, x: object, y: object, allow_uint8: bool = False) -> None:
    """Images and labels of one call to an attack or an accuracy function."""
    check_images(x, allow_uint8=allow_uint8)
    check_labels(y, len(x), num_classes_of(model))  # type: ignore[arg-type]
