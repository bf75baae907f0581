"""Train / validation / test splits held as tensors; validation is carved from the training data.

Checkpoint selection looks at the validation split only, never at the test split.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import ConfigError
from .base import DATASETS, RawDataset


@dataclass
class DataSplits:
    """Images are uint8 (N,C,H,W) on `device`; `data.augment.to_float` converts a batch to [0, 1]."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    class_names: list[str]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])  # type: ignore[return-value]

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        if name not in ("train", "val", "test"):
            raise ValueError(f"unknown split {name!r}")
        return getattr(self, f"{name}_x"), getattr(self, f"{name}_y")


def stratified_holdout(y: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (keep, held) with `fraction` of every class held out; deterministic in `seed`."""
    g = torch.Generator().manual_seed(seed)
    keep, held = [], []
    for c in torch.unique(y).tolist():
        idx = torch.nonzero(y == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        n_held = int(round(fraction * len(idx)))
        held.append(idx[:n_held])
        keep.append(idx[n_held:])
    return torch.sort(torch.cat(keep)).values, torch.sort(torch.cat(held)).values


def _subset(x: torch.Tensor, y: torch.Tensor, n: int | None, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    if n is None or n >= len(y):
        return x, y
    keep, _ = stratified_holdout(y, 1.0 - n / len(y), seed)
    return x[keep], y[keep]


def build_data(name: str, root: str | None = None, download: bool = False, val_fraction: float = 0.1,
               split_seed: int = 0, train_subset: int | None = None, test_subset: int | None = None,
               device: str | torch.device = "cpu") -> DataSplits:
    """Read a registered dataset and return train/val/test tensors on `device`.

    The validation split is a stratified `val_fraction` of the official training set, fixed by
    `split_seed` (independent of the training seed so runs with different seeds share it).
    """
    if not 0.0 < val_fraction < 1.0:
        raise ConfigError("data.val_fraction", val_fraction, "must lie strictly between 0 and 1")
    raw: RawDataset = DATASETS.get(name)(root, download).validate()
    keep, held = stratified_holdout(raw.train_y, val_fraction, split_seed)
    train_x, train_y = _subset(raw.train_x[keep], raw.train_y[keep], train_subset, split_seed)
    test_x, test_y = _subset(raw.test_x, raw.test_y, test_subset, split_seed)
    dev = torch.device(device)
    return DataSplits(
        name=raw.name, num_classes=raw.num_classes, class_names=list(raw.class_names),
        train_x=train_x.to(dev), train_y=train_y.to(dev),
        val_x=raw.train_x[held].to(dev), val_y=raw.train_y[held].to(dev),
        test_x=test_x.to(dev), test_y=test_y.to(dev),
    )
