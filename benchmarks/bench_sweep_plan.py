"""Wall time of several small sweeps as separate `--jobs N` calls against one `--plan` call, on the same CPU.

    python benchmarks/bench_sweep_plan.py [--dataset fashion-mnist|digits] [--jobs N] [--seeds 3] [--reps 1]

Two sweeps (the dataset's Adv-DPNP preset at `method.lambda_pos` 0.5 and at 1) of `--seeds` seeds each, as a
study script runs one method after another: first as two `advdpnp sweep --jobs N` calls, then as one
`advdpnp sweep --plan FILE --jobs N` call whose file holds the same two sweeps. With 3 seeds on 2 cores each
call's last run has a core to itself while the next call waits; the plan keeps both cores busy (6 runs in 3
rounds instead of 4). Each repetition sweeps into fresh folders; the candidates alternate. A ratio above 1
means the plan finished sooner.
"""

from __future__ import annotations

import os
import shlex
import tempfile
from pathlib import Path

from _common import interleaved, parser
from bench_sweep_jobs import add_run_arguments, run_argv, run_quietly

GRID = ("method.lambda_pos=0.5", "method.lambda_pos=1")


def separate_calls(args) -> None:
    with tempfile.TemporaryDirectory(prefix="advdpnp-bench-plan-") as out:
        for i, setting in enumerate(GRID):
            run_quietly(["sweep", *run_argv(args), setting, "--seeds", args.seed_list, "-o", f"{out}/{i}",
                         "--jobs", str(args.jobs)], f"{out}/{i}", args.seeds)


def one_plan(args) -> None:
    with tempfile.TemporaryDirectory(prefix="advdpnp-bench-plan-") as out:
        lines = [shlex.join([*run_argv(args), setting, "--seeds", args.seed_list, "-o", f"{out}/{i}"])
                 for i, setting in enumerate(GRID)]
        Path(out, "plan.txt").write_text("\n".join(lines) + "\n")
        run_quietly(["sweep", "--plan", f"{out}/plan.txt", "--jobs", str(args.jobs)], out, len(GRID) * args.seeds)


def main() -> None:
    p = parser(__doc__)
    p.set_defaults(reps=1, warmup=0)
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="runs at a time (default: the cores)")
    p.add_argument("--seeds", type=int, default=3, help="seeds of each sweep")
    add_run_arguments(p)
    args = p.parse_args()
    args.seed_list = ",".join(str(s) for s in range(args.seeds))
    med = interleaved({"calls": lambda: separate_calls(args), "plan": lambda: one_plan(args)}, args.reps,
                      args.warmup)
    print(f"{args.dataset} {args.arch} adv_dpnp PGD-{args.steps}, 2 sweeps x {args.seeds} seeds of {args.epochs} "
          f"epochs on {args.subset} images + quick suite on {args.points} points; {os.cpu_count()} cores")
    print(f"2 sweep calls / one --plan call, --jobs {args.jobs}: {med['calls'] / med['plan']:.3g}   "
          f"({med['calls']:.1f} s / {med['plan']:.1f} s; above 1: the plan is faster)")


if __name__ == "__main__":
    main()
