"""Shared benchmark helpers: same-process, interleaved, median timings and the benchmark setups.

Absolute times on a shared CPU vary by +-15-25 % between runs, so every benchmark reports a ratio of
two candidates timed in the same process, alternating A, B, A, B... after a warm-up, and takes the
median of each candidate's repetitions.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch

from advdpnp.config import load_config
from advdpnp.train.trainer import Trainer

#: dataset name -> overrides for the benchmark setups (small_cnn, PGD-10, crop + flip augmentation)
SETUPS = {
    "fashion-mnist": ["data.name=fashion-mnist", "attack.eps=0.1", "attack.alpha=0.02"],
    "digits": ["data.name=digits", "attack.eps=0.2", "attack.alpha=0.05"],
}


def parser(doc: str, datasets: tuple[str, ...] = tuple(SETUPS)) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", choices=datasets, default="fashion-mnist")
    p.add_argument("--arch", default="small_cnn")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=10, help="PGD steps k")
    p.add_argument("--reps", type=int, default=7, help="timed repetitions per candidate (median)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    return p


def interleaved(cands: dict[str, Callable[[], object]], reps: int, warmup: int) -> dict[str, float]:
    """Median seconds per call of each candidate, timed alternately in this process."""
    for _ in range(warmup):
        for fn in cands.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in cands}
    for _ in range(reps):
        for k, fn in cands.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def report(name: str, num: float, den: float, target: str) -> None:
    print(f"{name}: {num / den:.4g}   ({num * 1e3:.4g} ms / {den * 1e3:.1f} ms; target {target})")


def trainer(args: argparse.Namespace, method: str, *extra: str) -> Trainer:
    """A Trainer for the benchmark setup (its run directory is a throw-away temp folder)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    head = "prototype" if method in ("adv_dpnp", "dpnp") else "linear"
    overrides = [*SETUPS[args.dataset], f"model.arch={args.arch}", f"model.head={head}",
                 f"method.name={method}", f"train.batch_size={args.batch_size}", f"attack.steps={args.steps}",
                 "data.crop_padding=2", "data.flip=true", "train.progress=false", "train.seed=0", *extra]
    return Trainer(load_config(None, overrides), Path(tempfile.mkdtemp(prefix="advdpnp-bench-")))


def batch_indices(t: Trainer, batch_size: int) -> torch.Tensor:
    return t.epoch_order(0)[:batch_size]
