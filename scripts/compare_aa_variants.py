"""Does the cheaper AutoAttack (APGD-CE + APGD-T) lose anything against the standard one?

Compares, point by point on the first n test points, the per-sample AutoAttack flags of a run's
`--suite paper` results.json with a `--suite full` results file of the same checkpoint, and says
which of the standard variant's extra attacks (FAB-T, Square) broke the points its two APGD attacks
left robust: that tells a weak gradient attack (FAB-T wins) from gradient masking (Square wins).
The method column adds the full file's name (less `-sN`) where it differs from the method.
Usage: python scripts/compare_aa_variants.py PAPER_RESULTS.json FULL_RESULTS.json [...pairs]
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

EXTRA = ("fab-t", "square")  # the standard variant's attacks after APGD-CE and APGD-T, in its order


def broken_by(full_aa: dict, n: int) -> list[str]:
    """Points each extra attack broke: the fall of the cumulative robust accuracy it caused."""
    after = full_aa.get("accuracy_after", {})
    previous = after.get("apgd-t")
    cells = []
    for name in EXTRA:
        if previous is None or name not in after:
            cells.append("–")
            continue
        cells.append(str(round((previous - after[name]) * n)))
        previous = after[name]
    return cells


def label(method: str, full_path: str) -> str:
    """The method, plus the full file's name when it says more: results.json records only the method
    name, so an ablation (`ablation-no_cons-s0.json`) would otherwise read as plain `adv_dpnp`."""
    name = re.sub(r"-s\d+$", "", Path(full_path).stem)
    return method if name == method else f"{method} ({name})"


def compare(paper_path: str, full_path: str) -> str:
    paper, full = json.load(open(paper_path)), json.load(open(full_path))
    pf = full["per_sample"]["autoattack"]
    pc = paper["per_sample"]["autoattack"][:len(pf)]
    only_std = sum(1 for c, s in zip(pc, pf) if c and not s)
    cells = [label(str(full.get("method")), full_path), str(full.get("train_seed", "?")), str(len(pf)),
             f"{100 * sum(pc) / len(pc):.2f}", f"{100 * sum(pf) / len(pf):.2f}", str(only_std),
             *broken_by(full["attacks"]["autoattack"], len(pf))]
    return "| " + " | ".join(cells) + " |"


if __name__ == "__main__":
    args = sys.argv[1:]
    if not args or len(args) % 2:
        sys.exit(__doc__)
    print("| method | seed | n | AA custom (APGD-CE + APGD-T) | AA standard | points broken only by standard "
          "| broken by FAB-T | broken by Square |")
    print("|---|---|---|---|---|---|---|---|")
    for i in range(0, len(args), 2):
        print(compare(args[i], args[i + 1]))
