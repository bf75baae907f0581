"""Common corruptions: read the official CIFAR-10-C / CIFAR-100-C `.npy` files, or generate a
corrupted test set offline for any dataset (labelled "generated", never as the official benchmark).

Layout (both official and generated): `<corruption>.npy` is (S*N, H, W, C) uint8, severity-major
(rows s*N .. (s+1)*N-1 hold severity s+1 of the same N test images); `labels.npy` holds N or S*N
labels. Generated folders carry `meta.json` with `"source": "generated"` and their severities.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError

#: The 15 standard corruptions RobustBench averages over (Hendrycks & Dietterich 2019).
STANDARD_CORRUPTIONS = ("shot_noise", "motion_blur", "snow", "pixelate", "gaussian_noise", "defocus_blur",
                        "brightness", "fog", "zoom_blur", "frost", "glass_blur", "impulse_noise", "contrast",
                        "jpeg_compression", "elastic_transform")
OFFICIAL_NAMES = {"cifar10": "CIFAR-10-C", "cifar100": "CIFAR-100-C"}
MIN_SIZE = 32  # imagecorruptions' filters assume at least 32x32 images


def read_meta(folder: Path) -> dict:
    """`meta.json` of a generated folder, or the official layout's defaults (severities 1..5)."""
    meta_path = folder / "meta.json"
    if meta_path.is_file():
        return json.loads(meta_path.read_text())
    return {"source": "official", "severities": [1, 2, 3, 4, 5]}


def read_corruption(folder: Path, corruption: str, n: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (S, n, C, H, W) uint8 and labels (n,) of one corruption: the first n images per severity."""
    folder = Path(folder)
    path, labels_path = folder / f"{corruption}.npy", folder / "labels.npy"
    for f in (path, labels_path):
        if not f.is_file():
            raise DataError(f"corruption file {f} not found")
    severities = read_meta(folder)["severities"]
    arr = np.load(path, mmap_mode="r")
    labels = np.load(labels_path)
    if arr.dtype != np.uint8 or arr.ndim != 4 or len(arr) % len(severities):
        raise DataError(f"{path}: expected uint8 (S*N, H, W, C) with S={len(severities)}, got {arr.dtype} {arr.shape}")
    per = len(arr) // len(severities)
    if len(labels) not in (per, len(arr)):
        raise DataError(f"{labels_path}: {len(labels)} labels for {per} images per severity")
    n = per if n is None else min(n, per)
    x = np.stack([arr[s * per:s * per + n] for s in range(len(severities))])  # (S, n, H, W, C)
    return (torch.from_numpy(np.ascontiguousarray(x.transpose(0, 1, 4, 2, 3))),
            torch.from_numpy(labels[:n].astype(np.int64)))


def corrupt_images(x: torch.Tensor, corruption: str, severity: int) -> torch.Tensor:
    """Corrupt uint8 (N, C, H, W) images with `imagecorruptions`; pads to >= 32x32 and crops back.

    Grayscale images are replicated to RGB for the filters and averaged back to one channel.
    """
    from imagecorruptions import corrupt

    n, c, h, w = x.shape
    ph, pw = max(0, MIN_SIZE - h), max(0, MIN_SIZE - w)
    pad = ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0))
    out = np.empty((n, h, w, c), dtype=np.uint8)
    for i, img in enumerate(x.permute(0, 2, 3, 1).cpu().numpy()):
        rgb = np.repeat(img, 3, axis=2) if c == 1 else img
        big = np.pad(rgb, pad, mode="reflect")
        res = np.asarray(corrupt(big, corruption_name=corruption, severity=severity), dtype=np.float64)
        res = res[pad[0][0]:pad[0][0] + h, pad[1][0]:pad[1][0] + w]
        res = res.mean(axis=2, keepdims=True) if c == 1 else res
        out[i] = np.rint(res).clip(0, 255).astype(np.uint8)
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def write_generated(folder: Path, dataset: str, x: torch.Tensor, y: torch.Tensor, corruptions: list[str],
                    severities: list[int], progress: bool = True) -> Path:
    """Generate every (corruption, severity) of test images `x` into `folder` in the official layout.

    Corruptions already on disk with the same images and severities are kept (the folder is a cache).
    """
    from tqdm.auto import tqdm

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"source": "generated", "dataset": dataset, "n": int(len(y)), "severities": list(severities),
            "tool": "imagecorruptions-imaug", "padded_to": MIN_SIZE}
    old = read_meta(folder) if (folder / "meta.json").is_file() else None
    if old is not None and {k: old.get(k) for k in meta} != meta:
        raise DataError(f"{folder} holds another generated set ({old}); use another --out or delete it")
    np.save(folder / "labels.npy", y.cpu().numpy().astype(np.int64))
    (folder / "meta.json").write_text(json.dumps(meta, indent=2))
    for name in tqdm(corruptions, desc="corruptions", disable=not progress):
        target = folder / f"{name}.npy"
        if target.is_file():
            continue
        parts = [corrupt_images(x, name, s).permute(0, 2, 3, 1).numpy() for s in severities]
        tmp = folder / f".{name}.tmp.npy"
        np.save(tmp, np.concatenate(parts))
        tmp.replace(target)
    return folder
