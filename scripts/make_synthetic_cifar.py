"""Write a synthetic CIFAR-10 in the official "python version" layout, to smoke-test GPU runs offline.

    python scripts/make_synthetic_cifar.py OUT [--train 5000] [--test 1000] [--seed 0]
    ADVDPNP_DATA=OUT advdpnp train configs/paper/cifar10-preact_resnet18-adv_dpnp.yaml train.epochs=1 ...

Why: the paper script (scripts/paper_tables.sh) needs CIFAR, and a lent GPU machine may have no internet.
These files go through the real reader (`advdpnp.data.cifar`), so a smoke run exercises everything but the
pixels. Each class is a fixed random, blocky 3x32x32 pattern plus per-image noise and a random brightness shift, so a
network learns it within an epoch (a training run that does not reach high accuracy here is broken);
the numbers mean nothing about CIFAR.
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import numpy as np

NAMES = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]


def images(rng: np.random.Generator, patterns: np.ndarray, n: int) -> tuple[np.ndarray, list[int]]:
    """n rows of 3072 uint8 (R, G, B planes, row-major, as in the official files) and their labels."""
    y = rng.integers(0, len(patterns), n)
    x = patterns[y] + rng.normal(0, 30, (n, 3072)) + rng.uniform(-30, 30, (n, 1))
    return np.clip(x, 0, 255).astype(np.uint8), [int(v) for v in y]


def write(out: Path, n_train: int, n_test: int, seed: int) -> Path:
    if n_train < 5 or n_test < 1:
        raise SystemExit(f"error: need --train >= 5 (5 batches) and --test >= 1, got {n_train} and {n_test}")
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(30, 225, (len(NAMES), 3, 4, 4))   # 4x4 blocks of 8x8 pixels: easy for a conv net
    patterns = coarse.repeat(8, axis=2).repeat(8, axis=3).reshape(len(NAMES), 3072)
    folder = out / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    sizes = [n_train // 5 + (b < n_train % 5) for b in range(5)]
    for b, n in enumerate(sizes, 1):
        x, y = images(rng, patterns, n)
        batch = {b"batch_label": b"synthetic training batch %d of 5" % b, b"labels": y, b"data": x}
        (folder / f"data_batch_{b}").write_bytes(pickle.dumps(batch, protocol=2))
    x, y = images(rng, patterns, n_test)
    (folder / "test_batch").write_bytes(pickle.dumps({b"batch_label": b"synthetic test batch", b"labels": y,
                                                      b"data": x}, protocol=2))
    meta = {b"num_cases_per_batch": sizes[0], b"label_names": NAMES, b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return folder


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path, help="folder to write cifar-10-batches-py/ into (use it as ADVDPNP_DATA)")
    p.add_argument("--train", type=int, default=5000, help="training images (split over the 5 batches)")
    p.add_argument("--test", type=int, default=1000, help="test images")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    print(f"wrote {write(a.out, a.train, a.test, a.seed)} ({a.train} train, {a.test} test images)")


if __name__ == "__main__":
    main()
