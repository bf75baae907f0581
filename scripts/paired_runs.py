"""Paired clean accuracy of two runs on the same points of the validation and test splits.

Why: the validation and test points are fixed sets (`data.split_seed`), shared by every training seed,
so a difference between two settings carries the sampling noise of those points however many seeds
average it. The points only one model classifies correctly measure that noise (an exact two-sided sign
test on them, McNemar's test), and reading the validation and test splits side by side shows whether a
lead that chose a setting on validation holds on the test points.

    python scripts/paired_runs.py RUN_A RUN_B [RUN_A RUN_B ...] [--n 1000] [--splits val,test]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

# the fields that fix which images the validation and test splits hold
SPLIT_FIELDS = ("name", "val_fraction", "split_seed", "test_subset")


def sign_test(only_a: int, only_b: int) -> float:
    """Exact two-sided binomial p-value of `only_a` against `only_b` discordant points (1.0 if none)."""
    m, k = only_a + only_b, min(only_a, only_b)
    if m == 0:
        return 1.0
    return min(1.0, 2 * sum(math.comb(m, i) for i in range(k + 1)) / 2 ** m)


def correct(run: str, splits: list[str], n: int, which: str) -> tuple[tuple, dict[str, torch.Tensor]]:
    """The run's split identity and its clean correctness flags on the first `n` points of each split."""
    from advdpnp.evaluate.accuracy import clean_correct
    from advdpnp.evaluate.load import load_run

    cfg, model, data, _ = load_run(run, which=which, device="cpu")
    flags = {}
    for split in splits:
        x, y = data.split(split)
        flags[split] = clean_correct(model, x[:n], y[:n])
    return tuple(getattr(cfg.data, f) for f in SPLIT_FIELDS), flags


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folders, in pairs: A B [A B ...]")
    p.add_argument("--n", type=int, default=1000,
                   help="first N points of each split (default 1000; more than a split holds: all of it)")
    p.add_argument("--splits", default="val,test", help="comma-separated, of val and test (default val,test)")
    p.add_argument("--which", default="best", help="checkpoint of each run (default best)")
    args = p.parse_args()
    splits = [s for s in args.splits.split(",") if s]
    if len(args.runs) % 2:
        p.error(f"runs come in pairs (A B); got {len(args.runs)}")
    if not splits or any(s not in ("val", "test") for s in splits):
        p.error(f"--splits takes val and/or test, got {args.splits!r}")
    if missing := [r for r in args.runs if not (Path(r) / "config.yaml").is_file()]:
        p.error(f"not a run folder (no config.yaml): {' '.join(missing)}")
    torch.set_num_threads(1)
    print("| A | B | split | n | A clean | B clean | only A | only B | A - B | sign test p |")
    print("|---" * 10 + "|")
    totals = {s: [0, 0, 0] for s in splits}  # only A, only B, points
    for a, b in zip(args.runs[::2], args.runs[1::2]):
        (ident_a, fa), (ident_b, fb) = correct(a, splits, args.n, args.which), correct(b, splits, args.n, args.which)
        if ident_a != ident_b:
            sys.exit(f"{a} and {b} split the data differently ({', '.join(SPLIT_FIELDS)}: {ident_a} vs {ident_b}); "
                     "their points are not paired")
        for s in splits:
            x, y = fa[s], fb[s]
            only_a, only_b = int((x & ~y).sum()), int((y & ~x).sum())
            totals[s] = [totals[s][0] + only_a, totals[s][1] + only_b, totals[s][2] + len(x)]
            print(f"| {Path(a).name} | {Path(b).name} | {s} | {len(x)} | {100 * x.float().mean():.1f} | "
                  f"{100 * y.float().mean():.1f} | {only_a} | {only_b} | {100 * (only_a - only_b) / len(x):+.1f} | "
                  f"{sign_test(only_a, only_b):.2g} |")
    if len(args.runs) > 2:
        for s, (only_a, only_b, points) in totals.items():
            diff = 100 * (only_a - only_b) / points
            print(f"| all pairs | | {s} | {points} | | | {only_a} | {only_b} | {diff:+.1f} | – |")
        print("\nNo p-value for the sum: the pairs reuse the same points, so pooling seeds averages training "
              "noise only.")


if __name__ == "__main__":
    main()
