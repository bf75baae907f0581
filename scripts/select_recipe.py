"""Pick each method's training recipe on the validation split, then print the test tables.

Two (or more) study folders hold the same methods trained with different recipes (e.g. learning
rate and eps ramp). For every method this prints the mean over seeds of the validation metric that
picked its `best` checkpoint (PGD accuracy for adversarial methods, clean accuracy for standard and
DPNP; read from each run's metrics.jsonl), selects the recipe with the higher mean, and only then
prints the test accuracies of the selected runs. The test split plays no part in the choice.

    python scripts/select_recipe.py runs/study-lr0.1 runs/study --names "lr 0.1" "lr 0.05 + ramp"
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from study_tables import accuracy_table, latent_table, masking_table, per_seed_table

from advdpnp.report.runs import validation_at_best


def validation_score(run: Path) -> float | None:
    """Best value over epochs of the run's selection metric (the one that chose checkpoints/best.pt)."""
    row = validation_at_best(run)
    return None if row is None else row[row["selected_on"]]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("roots", type=Path, nargs="+", help="study folders, one per recipe")
    p.add_argument("--names", nargs="+", help="a short name per recipe (default: folder names)")
    p.add_argument("--prefix", default="digits")
    p.add_argument("--seeds", default="0,1,2")
    args = p.parse_args()
    names = args.names or [r.name for r in args.roots]
    if len(names) != len(args.roots):
        p.error("--names needs one name per folder")
    seeds = [int(s) for s in args.seeds.split(",")]
    methods = sorted({f.name for root in args.roots for f in root.glob(f"{args.prefix}-*") if f.is_dir()})

    print("| method | " + " | ".join(f"validation ({n})" for n in names) + " | selected |")
    print("|---" * (len(names) + 2) + "|")
    chosen: list[Path] = []
    for method in methods:
        means = []
        for root in args.roots:
            scores = [s for seed in seeds if (s := validation_score(root / method / f"base-s{seed}")) is not None]
            means.append(statistics.mean(scores) if len(scores) == len(seeds) else None)
        complete = [i for i, m in enumerate(means) if m is not None]
        if not complete:
            continue
        best = max(complete, key=lambda i: means[i])
        chosen.append(args.roots[best] / method)
        cells = [f"{100 * m:.1f}" if m is not None else "incomplete" for m in means]
        print(f"| {method} | " + " | ".join(cells) + f" | {names[best]} |")
    print("\nTest accuracy of the selected recipe per method:\n")
    print(accuracy_table(chosen, seeds))
    print("\n" + per_seed_table(chosen, seeds))
    print(f"\nMasking checks of the selected runs (seed {seeds[0]}):\n\n" + masking_table(chosen, seeds[0]))
    print(f"\nLatent space of the selected runs (seed {seeds[0]}, `advdpnp analyze`):\n\n"
          + latent_table(chosen, seeds[0]))


if __name__ == "__main__":
    main()
