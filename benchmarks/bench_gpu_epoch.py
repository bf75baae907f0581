"""GPU cost of the paper presets: median `Trainer.train_step` time per method x arch x precision, projected
to an epoch and to each preset's whole training (what scripts/paper_tables.sh will cost).

    python scripts/make_synthetic_cifar.py /tmp/syn --train 2000 --test 100
    ADVDPNP_DATA=/tmp/syn python benchmarks/bench_gpu_epoch.py [--archs preact_resnet18 wrn34_10]
        [--methods standard pgd_at adv_dpnp ...] [--amps bf16 none] [--variants base channels_last cudnn_benchmark]

Every step is the real one of configs/paper/cifar10-ARCH-METHOD.yaml (batch 128, PGD-10 in fp32, the training
pass under `train.amp`), timed between `torch.cuda.synchronize()` calls after a warm-up; steps are only
3x32x32 shaped, so synthetic CIFAR-10 times the same as the real one. The projection multiplies by
ceil(train images x (1 - val_fraction) / batch) steps and by the preset's epochs; it leaves out the
per-epoch validation (1000 points, PGD-10) and the evaluation, so it is a lower bound on the wall time.
Prints ratios (adv_dpnp / pgd_at, each variant / base) as well, the way the CPU benchmarks do.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from pathlib import Path

import torch

from advdpnp.config import Config, load_config
from advdpnp.train.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]
TRAIN_IMAGES = {"cifar10": 50_000, "cifar100": 50_000, "svhn": 73_257}
VARIANTS = {"base": [], "channels_last": ["train.channels_last=true"], "cudnn_benchmark": []}


def preset_config(arch: str, method: str, amp: str, variant: str, device: str) -> Config:
    """The CIFAR-10 preset of (arch, method) with the measured setup's overrides (a bad name fails here)."""
    return load_config(ROOT / f"configs/paper/cifar10-{arch}-{method}.yaml",
                       [f"train.amp={amp}", f"train.device={device}", "train.progress=false", *VARIANTS[variant]])


def step_seconds(arch: str, method: str, amp: str, variant: str, warmup: int, reps: int,
                 device: str) -> tuple[float, float]:
    """Median seconds of one training step and the peak GPU memory (GiB) of that setup."""
    torch.backends.cudnn.benchmark = variant == "cudnn_benchmark"
    cfg = preset_config(arch, method, amp, variant, device)
    cuda = torch.device(device).type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    with tempfile.TemporaryDirectory(prefix="advdpnp-gpu-bench-") as tmp:
        t = Trainer(cfg, Path(tmp))
        idx = t.epoch_order(0)[:cfg.train.batch_size]
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        times = []
        for i in range(warmup + reps):
            sync()
            t0 = time.perf_counter()
            t.train_step(idx)
            sync()
            if i >= warmup:
                times.append(time.perf_counter() - t0)
        peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else float("nan")
        t.lock.release()
        del t
    if cuda:
        torch.cuda.empty_cache()
    return statistics.median(times), peak


def projection(arch: str, method: str, step_s: float) -> list[dict]:
    """Each dataset's preset of (arch, method): epochs, steps per epoch, minutes per epoch, training hours."""
    rows = []
    for ds, n in TRAIN_IMAGES.items():
        path = ROOT / f"configs/paper/{ds}-{arch}-{method}.yaml"
        if not path.exists():
            continue
        cfg = load_config(path, [])
        steps = math.ceil(n * (1 - cfg.data.val_fraction) / cfg.train.batch_size)
        rows.append({"preset": path.stem, "epochs": cfg.train.epochs, "steps_per_epoch": steps,
                     "epoch_min": steps * step_s / 60, "train_h": cfg.train.epochs * steps * step_s / 3600})
    return rows


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--archs", nargs="+", default=["preact_resnet18", "wrn34_10"])
    p.add_argument("--methods", nargs="+", default=["standard", "dpnp", "pgd_at", "trades", "mart", "adv_dpnp"])
    p.add_argument("--amps", nargs="+", default=["bf16"], choices=["none", "bf16", "fp16"])
    p.add_argument("--variants", nargs="+", default=["base"], choices=list(VARIANTS))
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--device", default="cuda", help="cuda or cuda:N (cpu only to check the script itself)")
    p.add_argument("--json", type=Path, help="also write every measurement here")
    return p


def main() -> None:
    args = build_parser().parse_args()
    if torch.device(args.device).type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: bench_gpu_epoch.py needs a CUDA device (--device cuda)")
    name = torch.cuda.get_device_name(args.device) if torch.device(args.device).type == "cuda" else "cpu"
    print(f"{name}, torch {torch.__version__}, batch from the presets, "
          f"median of {args.reps} steps after {args.warmup} warm-up steps")
    rows = []
    for arch in args.archs:
        for amp in args.amps:
            for variant in args.variants:
                for method in args.methods:
                    s, peak = step_seconds(arch, method, amp, variant, args.warmup, args.reps, args.device)
                    rows.append({"arch": arch, "method": method, "amp": amp, "variant": variant,
                                 "step_ms": s * 1e3, "peak_gib": peak, "presets": projection(arch, method, s)})
                    print(f"{arch:16s} {method:9s} amp={amp:4s} {variant:15s} {s * 1e3:8.1f} ms/step  "
                          f"peak {peak:5.1f} GiB", flush=True)
    step = {(r["arch"], r["method"], r["amp"], r["variant"]): r["step_ms"] for r in rows}
    print("\nratios (same process)")
    for (arch, method, amp, variant), ms in step.items():
        if method == "adv_dpnp" and (arch, "pgd_at", amp, variant) in step:
            print(f"  adv_dpnp / pgd_at  {arch} amp={amp} {variant}: {ms / step[(arch, 'pgd_at', amp, variant)]:.3f}")
        if variant != "base" and (arch, method, amp, "base") in step:
            print(f"  {variant} / base  {arch} {method} amp={amp}: {ms / step[(arch, method, amp, 'base')]:.3f}")
        if amp != "none" and (arch, method, "none", variant) in step:
            print(f"  amp={amp} / fp32  {arch} {method} {variant}: {ms / step[(arch, method, 'none', variant)]:.3f}")
    print("\nprojected training cost (steps only; no validation or evaluation)")
    print(f"  {'preset':38s} {'amp':4s} {'variant':15s} {'epochs':>6s} {'min/epoch':>9s} {'hours':>7s}")
    for r in rows:
        for q in r["presets"]:
            print(f"  {q['preset']:38s} {r['amp']:4s} {r['variant']:15s} {q['epochs']:6d} {q['epoch_min']:9.2f} "
                  f"{q['train_h']:7.1f}")
    if args.json:
        args.json.write_text(json.dumps({"device": name, "torch": torch.__version__,
                                         "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
