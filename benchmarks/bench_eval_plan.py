"""Wall time of several evaluations as one `advdpnp eval` call after another against one `eval --plan` call.

    python benchmarks/bench_eval_plan.py [--dataset fashion-mnist|digits] [--models 4] [--jobs N] [--reps 1]

`--models` Adv-DPNP runs (the dataset's preset, seeds 0, 1, ..., each trained for `--epochs` on `--subset`
images before the timing starts) are each evaluated with `--suite paper` on `--points` test points: clean, FGSM,
PGD-20, CW-inf, AutoAttack (APGD-CE + APGD-T), the adaptive prototype attacks and the masking checks
(`--check-points` points, Square with `--square-queries` queries, no transfer check), as the study scripts'
steps 5-5b evaluate trained runs again. First one call per model with torch's default threads (all cores; or
`--threads`), then one `advdpnp eval --plan FILE --jobs N` call whose N processes get 1/N of the cores each.
Each repetition evaluates into a fresh folder; the candidates alternate. A ratio above 1 means the plan
finished sooner.
"""

from __future__ import annotations

import os
import shlex
import tempfile
from pathlib import Path

import torch

from _common import interleaved, parser
from bench_sweep_jobs import add_run_arguments, run_argv, run_quietly

RESULTS = "[0-9]*.json"  # the timed evaluations' results files (0.json, 1.json, ...)


def eval_argv(args, run_dir: Path, out: str) -> list[str]:
    return [str(run_dir), "--suite", "paper", "--n", str(args.eval_points), "--check-points", str(args.check_points),
            "--square-queries", str(args.square_queries), "--transfer-epochs", "0", "--no-progress", "--out", out]


def one_call_each(args, runs: list[Path]) -> None:
    with tempfile.TemporaryDirectory(prefix="advdpnp-bench-eval-") as out:
        for i, run_dir in enumerate(runs):
            run_quietly(["eval", *eval_argv(args, run_dir, f"{out}/{i}.json")], out, i + 1, RESULTS)


def one_plan(args, runs: list[Path]) -> None:
    with tempfile.TemporaryDirectory(prefix="advdpnp-bench-eval-") as out:
        lines = [shlex.join(eval_argv(args, run_dir, f"{out}/{i}.json")) for i, run_dir in enumerate(runs)]
        Path(out, "plan.txt").write_text("\n".join(lines) + "\n")
        run_quietly(["eval", "--plan", f"{out}/plan.txt", "--jobs", str(args.jobs)], out, len(runs), RESULTS)


def main() -> None:
    p = parser(__doc__)
    p.set_defaults(reps=1, warmup=0, points=100)  # --points: the untimed quick check of each trained run
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="evaluations at a time (default: the cores)")
    p.add_argument("--models", type=int, default=4, help="trained runs, each evaluated once per candidate")
    p.add_argument("--eval-points", type=int, default=200, help="test points of each timed evaluation")
    p.add_argument("--check-points", type=int, default=50, help="points of the costly masking checks")
    p.add_argument("--square-queries", type=int, default=100, help="query budget of the Square check")
    add_run_arguments(p)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="advdpnp-bench-eval-runs-") as root:
        print(f"training {args.models} runs (not timed) ...", flush=True)
        seeds = ",".join(str(s) for s in range(args.models))
        run_quietly(["sweep", *run_argv(args), "--seeds", seeds, "-o", root, "--jobs", str(args.jobs)], root,
                    args.models)
        runs = sorted(Path(root).glob("base-s*"))
        if args.threads:  # the one-call-each candidate's threads (default: torch's, all cores)
            torch.set_num_threads(args.threads)
        med = interleaved({"calls": lambda: one_call_each(args, runs), "plan": lambda: one_plan(args, runs)},
                          args.reps, args.warmup)
    print(f"{args.dataset} {args.arch} adv_dpnp, {args.models} runs of {args.epochs} epochs on {args.subset} images, "
          f"each evaluated with --suite paper on {args.eval_points} points; {os.cpu_count()} cores")
    print(f"{args.models} eval calls ({torch.get_num_threads()} threads) / one --plan call, --jobs {args.jobs}: "
          f"{med['calls'] / med['plan']:.3g}   ({med['calls']:.1f} s / {med['plan']:.1f} s; above 1: the plan is "
          "faster)")


if __name__ == "__main__":
    main()
