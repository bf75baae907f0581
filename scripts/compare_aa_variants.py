"""Does the cheaper AutoAttack (APGD-CE + APGD-T) lose anything against the standard one?

Compares, point by point on the first n test points, the per-sample AutoAttack flags of a run's
`--suite paper` results.json with a `--suite full` results file of the same checkpoint.
Usage: python scripts/compare_aa_variants.py PAPER_RESULTS.json FULL_RESULTS.json [...pairs]
"""

from __future__ import annotations

import json
import sys


def compare(paper_path: str, full_path: str) -> str:
    paper, full = json.load(open(paper_path)), json.load(open(full_path))
    pf = full["per_sample"]["autoattack"]
    pc = paper["per_sample"]["autoattack"][:len(pf)]
    only_std = sum(1 for c, s in zip(pc, pf) if c and not s)
    return (f"| {full.get('method')} | {full.get('train_seed', '?')} | {len(pf)} | {100 * sum(pc) / len(pc):.2f} "
            f"| {100 * sum(pf) / len(pf):.2f} | {only_std} |")


if __name__ == "__main__":
    args = sys.argv[1:]
    if not args or len(args) % 2:
        sys.exit(__doc__)
    print("| method | seed | n | AA custom (APGD-CE + APGD-T) | AA standard | points broken only by standard |")
    print("|---|---|---|---|---|---|")
    for i in range(0, len(args), 2):
        print(compare(args[i], args[i + 1]))
