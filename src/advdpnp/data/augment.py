"""Batched on-device augmentation (random crop with zero padding, horizontal flip).

One gather per batch instead of a per-image PIL loop: the data pipeline must stay a few percent
of an adversarial-training epoch.
"""

from __future__ import annotations

import torch


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float32 in [0, 1]."""
    return x.float().div_(255.0)


def as_float(x: torch.Tensor) -> torch.Tensor:
    """Stored uint8 images -> [0, 1] floats; float images (e.g. attacked ones) pass through."""
    return to_float(x) if x.dtype == torch.uint8 else x


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Pad each image by `padding` zeros and crop back at an independent random offset per image."""
    if padding <= 0:
        return x
    n, c, h, w = x.shape
    padded = torch.nn.functional.pad(x, (padding, padding, padding, padding))
    dev = x.device
    oy = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device="cpu").to(dev)
    ox = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device="cpu").to(dev)
    rows = (oy[:, None] + torch.arange(h, device=dev)[None, :])  # (n, h)
    cols = (ox[:, None] + torch.arange(w, device=dev)[None, :])  # (n, w)
    idx_n = torch.arange(n, device=dev)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[idx_n, rows[:, :, None], cols[:, None, :]]  # (n, h, w, c)
    return out.permute(0, 3, 1, 2).contiguous()


def random_flip(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Mirror a random half of the batch horizontally."""
    flip = torch.rand(x.shape[0], generator=generator, device="cpu").to(x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def augment(x: torch.Tensor, crop_padding: int, flip: bool, generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply the configured augmentations to a float batch."""
    x = random_crop(x, crop_padding, generator)
    return random_flip(x, generator) if flip else x
