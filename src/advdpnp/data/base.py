"""Dataset containers: whole datasets as uint8 tensors, so batching and augmentation stay on-device."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..errors import DataError
from ..registry import Registry


@dataclass
class RawDataset:
    """What a dataset reader returns: the official train and test splits as uint8 NCHW tensors."""

    name: str
    train_x: torch.Tensor  # uint8 (N, C, H, W), values 0..255
    train_y: torch.Tensor  # int64 (N,)
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    class_names: list[str] = field(default_factory=list)

    def validate(self) -> "RawDataset":
        """Fail with one line when a reader produced inconsistent tensors (corrupt or mixed files)."""
        for split, x, y in (("train", self.train_x, self.train_y), ("test", self.test_x, self.test_y)):
            if x.dtype != torch.uint8 or x.dim() != 4:
                raise DataError(f"{self.name} {split} images must be uint8 (N,C,H,W), got {x.dtype} {tuple(x.shape)}")
            if y.dtype != torch.int64 or y.dim() != 1 or len(y) != len(x):
                raise DataError(f"{self.name} {split}: {len(x)} images but labels of shape {tuple(y.shape)}")
            if len(y) and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
                raise DataError(f"{self.name} {split} labels must lie in [0, {self.num_classes}), "
                                f"got [{int(y.min())}, {int(y.max())}]")
        if self.train_x.shape[1:] != self.test_x.shape[1:]:
            raise DataError(f"{self.name}: train images {tuple(self.train_x.shape[1:])} differ from test "
                            f"images {tuple(self.test_x.shape[1:])}")
        return self

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])  # type: ignore[return-value]


#: name -> reader(root: str | None, download: bool) -> RawDataset
DATASETS: Registry = Registry("dataset")
