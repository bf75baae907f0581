"""scikit-learn's 8x8 handwritten digits (1797 images): tiny, always available, for tests and smoke runs."""

from __future__ import annotations

import numpy as np
import torch

from .base import DATASETS, RawDataset

TEST_FRACTION = 0.2
SPLIT_SEED = 0


@DATASETS.register("digits", help="sklearn 8x8 digits (1797 images, no download), fixed stratified 80/20 split")
def digits(root: str | None = None, download: bool = False) -> RawDataset:
    """sklearn.datasets.load_digits as uint8 (N,1,8,8); values 0..16 mapped to 0..255.

    There is no official split, so a fixed stratified 20% test split (random_state=0) is used:
    1437 train / 360 test. `root` and `download` are ignored (the data ships with scikit-learn).
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = np.rint(bunch.data.astype(np.float64) * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    x = x.reshape(-1, 1, 8, 8)
    y = bunch.target.astype(np.int64)
    train_x, test_x, train_y, test_y = train_test_split(
        x, y, test_size=TEST_FRACTION, random_state=SPLIT_SEED, stratify=y)
    return RawDataset(
        name="digits",
        train_x=torch.from_numpy(np.ascontiguousarray(train_x)), train_y=torch.from_numpy(train_y),
        test_x=torch.from_numpy(np.ascontiguousarray(test_x)), test_y=torch.from_numpy(test_y),
        num_classes=10, class_names=[str(d) for d in range(10)],
    ).validate()
