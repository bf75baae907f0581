"""Common corruptions: read the official CIFAR-10-C / CIFAR-100-C `.npy` files, or generate a
corrupted test set offline for any dataset (labelled "generated", never as the official benchmark).

Layout (both official and generated): `<corruption>.npy` is (S*N, H, W, C) uint8, severity-major
(rows s*N .. (s+1)*N-1 hold severity s+1 of the same N test images); `labels.npy` holds N or S*N
labels. Generated folders carry `meta.json` with `"source": "generated"`, their severities, the seed and
the versions of the libraries that drew them.

Nine of the 15 corruptions are random draws (noise, snow, frost, fog, glass blur, motion blur, elastic
transform). Each (corruption, severity, image) draws from its own stream, seeded from the set's seed and
the image's index, so a set repeats exactly with the same seed and library versions, and the first k
images of a set do not depend on how many were generated.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from importlib import metadata
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
#: the libraries whose versions decide the pixels of a generated set (recorded in meta.json)
GENERATION_LIBRARIES = ("imagecorruptions-imaug", "numpy", "scipy", "scikit-image", "opencv-python", "numba")


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


def image_seed(seed: int, corruption: str, severity: int, index: int) -> int:
    """The seed of one image's draw: a stable hash (not Python's per-process salted one), < 2**32 for
    numpy's legacy global generator."""
    digest = hashlib.sha256(f"{seed}/{corruption}/{severity}/{index}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def corrupt_images(x: torch.Tensor, corruption: str, severity: int, seed: int = 0) -> torch.Tensor:
    """Corrupt uint8 (N, C, H, W) images with `imagecorruptions`; pads to >= 32x32 and crops back.

    Grayscale images are replicated to RGB for the filters and averaged back to one channel. Image i
    draws with `image_seed(seed, corruption, severity, i)`: imagecorruptions draws from numpy's
    global generator, seeded here and restored afterwards, except where a corruption takes a `seed`
    argument of its own (impulse noise, glass blur), which gets the same seed.
    """
    import imagecorruptions
    from imagecorruptions import corrupt

    takes_seed = "seed" in inspect.signature(imagecorruptions.corruption_dict[corruption]).parameters
    n, c, h, w = x.shape
    ph, pw = max(0, MIN_SIZE - h), max(0, MIN_SIZE - w)
    pad = ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0))
    out = np.empty((n, h, w, c), dtype=np.uint8)
    state = np.random.get_state()
    try:
        for i, img in enumerate(x.permute(0, 2, 3, 1).cpu().numpy()):
            rgb = np.repeat(img, 3, axis=2) if c == 1 else img
            big = np.pad(rgb, pad, mode="reflect")
            draw = image_seed(seed, corruption, severity, i)
            np.random.seed(draw)
            kwargs = {"seed": draw} if takes_seed else {}
            res = np.asarray(corrupt(big, corruption_name=corruption, severity=severity, **kwargs), dtype=np.float64)
            res = res[pad[0][0]:pad[0][0] + h, pad[1][0]:pad[1][0] + w]
            res = res.mean(axis=2, keepdims=True) if c == 1 else res
            out[i] = np.rint(res).clip(0, 255).astype(np.uint8)
    finally:
        np.random.set_state(state)
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def library_versions() -> dict[str, str]:
    """Installed versions of GENERATION_LIBRARIES (absent ones left out)."""
    versions = {}
    for name in GENERATION_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def write_generated(folder: Path, dataset: str, x: torch.Tensor, y: torch.Tensor, corruptions: list[str],
                    severities: list[int], progress: bool = True, seed: int = 0) -> Path:
    """Generate every (corruption, severity) of test images `x` into `folder` in the official layout.

    Corruptions already on disk with the same images, severities and seed are kept (the folder is a
    cache). meta.json records the library versions that drew the files; a folder drawn under other
    versions is still read, but not extended, since its files would come from two sets of versions.
    """
    from tqdm.auto import tqdm

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"source": "generated", "dataset": dataset, "n": int(len(y)), "severities": list(severities),
            "tool": "imagecorruptions-imaug", "padded_to": MIN_SIZE, "seed": seed}
    old = read_meta(folder) if (folder / "meta.json").is_file() else None
    if old is not None and {k: old.get(k) for k in meta} != meta:
        raise DataError(f"{folder} holds another generated set ({old}); use another --out or delete it")
    versions = library_versions()
    todo = [name for name in corruptions if not (folder / f"{name}.npy").is_file()]
    if old is not None and todo and old.get("versions") != versions:
        raise DataError(f"{folder} was drawn with other library versions ({old.get('versions')}); adding "
                        f"{', '.join(todo)} would mix them: use another --out or delete it")
    np.save(folder / "labels.npy", y.cpu().numpy().astype(np.int64))
    if old is None:
        (folder / "meta.json").write_text(json.dumps(meta | {"versions": versions}, indent=2))
    for name in tqdm(todo, desc="corruptions", disable=not progress):
        target = folder / f"{name}.npy"
        parts = [corrupt_images(x, name, s, seed).permute(0, 2, 3, 1).numpy() for s in severities]
        tmp = folder / f".{name}.tmp.npy"
        np.save(tmp, np.concatenate(parts))
        tmp.replace(target)
    return folder
