"""Fashion-MNIST (Xiao et al. 2017) from the four official IDX files, plain or gzipped.

Searched, in order, when no root is given: $ADVDPNP_DATA/fashion-mnist, ~/.cache/advdpnp/fashion-mnist,
/usr/share/datasets/fashion-mnist (where Debian's `dataset-fashion-mnist` package installs them).
torchvision's layout (ROOT/FashionMNIST/raw/) is accepted as well.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .base import DATASETS, RawDataset
from .idx import cache_dir, download as fetch, read_idx, search_bases

NAME = "fashion-mnist"
FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}
CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
INSTALL = "install it with `apt-get install -y dataset-fashion-mnist`"
FILE_LIST = ", ".join(f"{f}.gz" for f in FILES.values())
PUT = f"or put {FILE_LIST} in a folder and pass data.root=DIR"


def _find(folder: Path, stem: str) -> Path | None:
    """`stem.gz` or `stem` inside folder (the gzipped one first)."""
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def candidate_dirs(root: str | None) -> list[Path]:
    """Folders that may hold the four files, in search order."""
    if root is not None:
        r = Path(root).expanduser()
        return [r, r / "FashionMNIST" / "raw", r / NAME]
    dirs: list[Path] = []
    for base in search_bases():
        dirs += [base / NAME, base / "FashionMNIST" / "raw"]
    dirs.append(DEBIAN_DIR)
    return dirs


def locate(root: str | None) -> dict[str, Path]:
    """The four files (key -> path) from the first folder that holds all of them; DataError otherwise."""
    if root is not None and not Path(root).expanduser().is_dir():
        raise DataError(f"{NAME}: data.root={root} is not a folder; {INSTALL} (then leave data.root unset), "
                        f"{PUT}, or pass data.download=true")
    partial: tuple[Path, list[str]] | None = None
    for folder in candidate_dirs(root):
        if not folder.is_dir():
            continue
        found = {k: _find(folder, stem) for k, stem in FILES.items()}
        if all(found.values()):
            return found  # type: ignore[return-value]
        missing = [FILES[k] + "(.gz)" for k, p in found.items() if p is None]
        if len(missing) < len(FILES) and partial is None:
            partial = (folder, missing)
    if partial is not None:
        folder, missing = partial
        raise DataError(f"{NAME}: {folder} lacks {', '.join(missing)}; copy the missing files there "
                        f"(all four of {FILE_LIST}), {INSTALL}, or pass data.download=true")
    where = ", ".join(str(d) for d in candidate_dirs(root))
    raise DataError(f"{NAME} not found (looked in {where}); {INSTALL}, {PUT}, or pass data.download=true")


def download_files(root: str | None) -> Path:
    """Fetch the four gzipped files from the official server into root (or the cache); returns the folder."""
    dest = Path(root).expanduser() if root is not None else cache_dir() / NAME
    hint = f"{INSTALL}, {PUT}"
    for stem in FILES.values():
        if _find(dest, stem) is None:
            fetch(URL + stem + ".gz", dest / (stem + ".gz"), hint=hint)
    return dest


@DATASETS.register(NAME, help="Fashion-MNIST 28x28 grey clothing, 10 classes, 60k/10k official split")
def fashion_mnist(root: str | None = None, download: bool = False) -> RawDataset:
    """Fashion-MNIST: 60000 train / 10000 test 28x28 grey images of 10 clothing classes."""
    try:
        paths = locate(root)
    except DataError:
        if not download:
            raise
        paths = locate(str(download_files(root)))
    hint = ("replace the file (e.g. `apt-get install --reinstall -y dataset-fashion-mnist`, or delete it "
            "and pass data.download=true)")
    arrays = {}
    for key, path in paths.items():
        arrays[key] = read_idx(path, hint=hint, ndim=3 if key.endswith("_x") else 1, dtype=np.uint8)
    for split in ("train", "test"):
        x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
        if len(x) != len(y):
            raise DataError(f"{NAME}: {paths[split + '_x']} holds {len(x)} images but {paths[split + '_y']} "
                            f"holds {len(y)} labels (mismatched or truncated files); {hint}")
        if len(y) and int(y.max()) >= len(CLASS_NAMES):
            raise DataError(f"{NAME}: {paths[split + '_y']} has label {int(y.max())}, expected 0..9 "
                            f"(not a Fashion-MNIST label file); {hint}")

    def images(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a).unsqueeze(1)  # (N,H,W) -> (N,1,H,W)

    def labels(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a.astype(np.int64))

    return RawDataset(
        name=NAME,
        train_x=images(arrays["train_x"]), train_y=labels(arrays["train_y"]),
        test_x=images(arrays["test_x"]), test_y=labels(arrays["test_y"]),
        num_classes=len(CLASS_NAMES), class_names=list(CLASS_NAMES),
    ).validate()
