"""SVHN cropped digits (Netzer et al. 2011) from the official train_32x32.mat / test_32x32.mat.

Searched in ROOT (data.root) and ROOT/svhn, or, when unset, in $ADVDPNP_DATA/svhn and
~/.cache/advdpnp/svhn. The `extra` split is not used. Label 10 stands for digit 0 and is mapped to 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .base import DATASETS, RawDataset
from .idx import cache_dir, download as fetch, one_line, search_bases

NAME = "svhn"
FILES = {"train": "train_32x32.mat", "test": "test_32x32.mat"}
URL = "http://ufldl.stanford.edu/housenumbers/"
FIX = (f"download {FILES['train']} and {FILES['test']} from {URL} into a folder and pass data.root=DIR, "
       f"or pass data.download=true")


def candidate_dirs(root: str | None) -> list[Path]:
    if root is not None:
        r = Path(root).expanduser()
        return [r, r / NAME]
    return [base / NAME for base in search_bases()]


def locate(root: str | None) -> dict[str, Path]:
    if root is not None and not Path(root).expanduser().is_dir():
        raise DataError(f"{NAME}: data.root={root} is not a folder; {FIX}")
    partial = None
    for folder in candidate_dirs(root):
        found = {k: folder / f for k, f in FILES.items() if (folder / f).is_file()}
        if len(found) == len(FILES):
            return found
        if found and partial is None:
            partial = (folder, [f for k, f in FILES.items() if k not in found])
    if partial is not None:
        raise DataError(f"{NAME}: {partial[0]} lacks {', '.join(partial[1])}; {FIX}")
    looked = ", ".join(str(d) for d in candidate_dirs(root))
    raise DataError(f"{NAME} not found (looked in {looked}); {FIX}")


def read_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(N,3,32,32) uint8 images and int64 labels 0..9 from one official .mat file."""
    import scipy.io

    fix = f"replace the file: {FIX}"
    try:
        mat = scipy.io.loadmat(str(path), variable_names=["X", "y"])
    except NotImplementedError as exc:  # MATLAB v7.3 (HDF5) files
        raise DataError(f"{path} is a MATLAB v7.3 (HDF5) file ({one_line(exc)}); the official SVHN files are "
                        f"MATLAB v5: {fix}") from None
    except Exception as exc:  # scipy raises ValueError, MatReadError, OSError, TypeError... on bad files
        raise DataError(f"{path} is not a readable MATLAB file ({one_line(exc)}); {fix}") from None
    x, y = mat.get("X"), mat.get("y")
    if not isinstance(x, np.ndarray) or not isinstance(y, np.ndarray):
        raise DataError(f"{path} lacks the variables X and y (not an SVHN cropped-digits file); {fix}")
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3):
        raise DataError(f"{path}: X has shape {x.shape}, expected (32, 32, 3, N); {fix}")
    if x.dtype != np.uint8:
        if not np.issubdtype(x.dtype, np.number) or x.size and (x.min() < 0 or x.max() > 255):
            raise DataError(f"{path}: X is {x.dtype} and not within 0..255; {fix}")
        x = x.astype(np.uint8)
    y = y.reshape(-1)
    if len(y) != x.shape[3]:
        raise DataError(f"{path} holds {x.shape[3]} images but {len(y)} labels (truncated or mixed file); {fix}")
    if not np.issubdtype(y.dtype, np.number) or (len(y) and (
            y.min() < 0 or y.max() > 10 or not np.array_equal(y, np.round(y)))):
        raise DataError(f"{path}: labels must be integers 1..10 (10 = digit 0); {fix}")
    y = y.astype(np.int64)
    y[y == 10] = 0
    return np.ascontiguousarray(x.transpose(3, 2, 0, 1)), y  # (H,W,C,N) -> (N,C,H,W)


@DATASETS.register(NAME, help="SVHN cropped digits 32x32 colour, 10 classes, 73k/26k official split")
def svhn(root: str | None = None, download: bool = False) -> RawDataset:
    """SVHN: 73257 train / 26032 test 32x32 RGB house-number digits (extra split unused)."""
    try:
        paths = locate(root)
    except DataError:
        if not download:
            raise
        dest = Path(root).expanduser() if root is not None else cache_dir() / NAME
        for f in FILES.values():
            if not (dest / f).is_file():
                fetch(URL + f, dest / f, hint="download it yourself into a folder and pass data.root=DIR")
        paths = locate(str(dest))
    train_x, train_y = read_mat(paths["train"])
    test_x, test_y = read_mat(paths["test"])
    return RawDataset(
        name=NAME,
        train_x=torch.from_numpy(train_x), train_y=torch.from_numpy(train_y),
        test_x=torch.from_numpy(test_x), test_y=torch.from_numpy(test_y),
        num_classes=10, class_names=[str(d) for d in range(10)],
    ).validate()
