"""Wall time of a small sweep one run at a time against `--jobs N` runs at a time, on the same CPU.

    python benchmarks/bench_sweep_jobs.py [--dataset fashion-mnist|digits] [--jobs N] [--reps 3]

The grid is the dataset's Adv-DPNP preset at two values of `method.lambda_pos` x two seeds (4 runs:
PGD-10 training for `--epochs` on `--subset` images, the quick suite on `--points` test points). One
at a time, each run gets torch's default threads (all cores); with `--jobs N` each of N processes
gets an even share, and pays a process start (importing torch) per worker. Each repetition sweeps
into a fresh folder; the two candidates alternate. A ratio above 1 means `--jobs N` finished sooner.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from pathlib import Path

import torch

from _common import interleaved, parser
from advdpnp.cli import main as advdpnp


PRESETS = {"fashion-mnist": "quick/fmnist-adv_dpnp", "digits": "quick/digits-adv_dpnp"}


def run_argv(args) -> list[str]:
    """A small sweep's preset, overrides and evaluation, without its grid, seeds or output folder."""
    return [PRESETS[args.dataset], f"model.arch={args.arch}", f"train.epochs={args.epochs}",
            f"data.train_subset={args.subset}", f"train.batch_size={args.batch_size}", f"attack.steps={args.steps}",
            "train.progress=false", "--n", str(args.points), "--eval-arg=--no-progress"]


def run_quietly(argv: list[str], out: str, runs: int, results: str = "**/results.json") -> None:
    """`advdpnp ARGV` with its output swallowed; void unless `out` holds `runs` results files (glob `results`)."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert advdpnp(argv) == 0
    evaluated = len(list(Path(out).glob(results)))
    if evaluated != runs:  # a diverged run stops after a few steps, so the sweep's time would mean nothing
        raise SystemExit(f"only {evaluated} of the {runs} runs were evaluated (see {out}); the timing is void")


def sweep(args, jobs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="advdpnp-bench-sweep-") as out:
        run_quietly(["sweep", *run_argv(args), "--set", "method.lambda_pos=0.5,1", "--seeds", "0,1", "-o", out,
                     "--jobs", str(jobs)], out, 4)


def add_run_arguments(p) -> None:
    """The size of each run, shared with bench_sweep_plan.py."""
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--subset", type=int, default=2000, help="training images")
    p.add_argument("--points", type=int, default=500, help="test points of each run's evaluation")


def main() -> None:
    p = parser(__doc__)
    p.set_defaults(reps=3, warmup=0)
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="runs at a time (default: the cores)")
    add_run_arguments(p)
    args = p.parse_args()
    if args.threads:  # the one-at-a-time candidate's threads (default: torch's, all cores)
        torch.set_num_threads(args.threads)
    med = interleaved({"one": lambda: sweep(args, 1), "jobs": lambda: sweep(args, args.jobs)}, args.reps, args.warmup)
    print(f"{args.dataset} {args.arch} adv_dpnp PGD-{args.steps}, 4 runs of {args.epochs} epochs on {args.subset} "
          f"images + quick suite on {args.points} points; {os.cpu_count()} cores")
    print(f"sweep one run at a time / --jobs {args.jobs}: {med['one'] / med['jobs']:.3g}   "
          f"({med['one']:.1f} s / {med['jobs']:.1f} s; above 1: --jobs {args.jobs} is faster)")


if __name__ == "__main__":
    main()
