"""`advdpnp corrupt RUN_DIR | --dataset NAME`: generate a corrupted test set offline (cached on disk).

The result is labelled "generated" wherever it is reported, never as the official CIFAR-10-C.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import add_points_argument

NAME = "corrupt"
HELP = "generate a corrupted copy of a dataset's test split (imagecorruptions), for `eval --corruptions`"
ORDER = 25


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", nargs="?", metavar="RUN_DIR", help="take the dataset (and its options) from a run")
    p.add_argument("--dataset", help="registered dataset name instead of a run")
    p.add_argument("--data-root", help="dataset folder")
    add_points_argument(p, "only the first n test images (generation costs ~0.1-7 ms per image per corruption "
                           "and severity)")
    p.add_argument("--severities", default="1,2,3,4,5", help="comma-separated severities (default 1..5)")
    p.add_argument("--corruptions", help="comma-separated names (default: the 15 standard corruptions)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the random corruptions (noise, snow, frost, fog, blurs, elastic); the same seed "
                        "and library versions give the same files (default 0)")
    p.add_argument("--out", help="output folder (default: ~/.cache/advdpnp/corruptions/DATASET[-nN])")
    p.add_argument("--no-progress", action="store_true")


def _parse(args: argparse.Namespace) -> tuple[list[int], list[str]]:
    from ..data.corruptions import STANDARD_CORRUPTIONS
    from ..errors import UserError

    try:
        sev = sorted({int(s) for s in args.severities.split(",")})
    except ValueError:
        raise UserError(f"--severities must be integers 1..5, got {args.severities!r}") from None
    if not sev or sev[0] < 1 or sev[-1] > 5:
        raise UserError(f"--severities must lie in 1..5, got {args.severities!r}")
    names = args.corruptions.split(",") if args.corruptions else list(STANDARD_CORRUPTIONS)
    from imagecorruptions import get_corruption_names

    unknown = sorted(set(names) - set(get_corruption_names("all")))
    if unknown:
        raise UserError(f"unknown corruption(s) {', '.join(unknown)}; choose from "
                        f"{', '.join(get_corruption_names('all'))}")
    if args.n is not None and args.n < 1:
        raise UserError(f"--n must be >= 1, got {args.n}")
    return sev, names


def run(args: argparse.Namespace) -> int:
    from ..data import build_data
    from ..data.corruptions import write_generated
    from ..errors import UserError

    if bool(args.target) == bool(args.dataset):
        raise UserError("give either RUN_DIR or --dataset NAME")
    severities, names = _parse(args)
    if args.target:
        from ..config import Config, build_dataclass
        from ..paths import find_checkpoint
        from ..train.checkpoint import safe_load

        d = build_dataclass(Config, safe_load(find_checkpoint(args.target, "last"))["config"]).data
        data = build_data(d.name, args.data_root or d.root, False, d.val_fraction, d.split_seed, d.train_subset,
                          d.test_subset)
    else:
        data = build_data(args.dataset, args.data_root)
    n = min(args.n or len(data.test_y), len(data.test_y))
    out = Path(args.out) if args.out else (Path.home() / ".cache" / "advdpnp" / "corruptions"
                                          / (data.name + (f"-n{n}" if n < len(data.test_y) else "")))
    write_generated(out, data.name, data.test_x[:n], data.test_y[:n], names, severities,
                    progress=not args.no_progress, seed=args.seed)
    print(f"generated corruptions of {data.name} (first {n} test images, severities {severities}, seed {args.seed})"
          f" in {out}")
    print(f"evaluate with: advdpnp eval RUN_DIR --corruptions {out}  (reported as 'generated', not CIFAR-10-C)")
    return 0
