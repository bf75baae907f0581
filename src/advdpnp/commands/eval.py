"""`advdpnp eval RUN_DIR|CKPT`: clean and PGD-20 accuracy on the test split -> results.json."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import write_json

NAME = "eval"
HELP = "evaluate a trained run on the test split (clean, PGD) and write results.json"
ORDER = 20


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", metavar="RUN_DIR|CKPT")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best",
                   help="which checkpoint of a run directory (best = chosen on validation PGD)")
    p.add_argument("--n", type=int, help="number of test points (default: all)")
    p.add_argument("--eps", type=float, help="L-inf radius (default: the run's training eps)")
    p.add_argument("--device", default="auto")
    p.add_argument("--data-root", help="dataset folder if it moved since training")
    p.add_argument("--out", help="results file (default: RUN_DIR/results.json)")


def run(args: argparse.Namespace) -> int:
    from ..errors import UserError
    from ..evaluate.basic import evaluate_basic, format_table
    from ..evaluate.load import load_run
    from .train import run_metadata

    if args.n is not None and args.n < 1:
        raise UserError(f"--n must be >= 1, got {args.n}")
    if args.eps is not None and args.eps < 0:
        raise UserError(f"--eps must be >= 0, got {args.eps}")
    from ..train import distributed

    device = distributed.init_device(args.device)  # under torchrun the test set is sharded across ranks
    cfg, model, data, ckpt = load_run(args.target, args.checkpoint, str(device), args.data_root)
    if args.eps is not None:
        cfg.attack.eps = args.eps
    from ..train.checkpoint import safe_load

    results = evaluate_basic(model, data, cfg, args.n)
    results.update(run_metadata(cfg, args.checkpoint if Path(args.target).is_dir() else str(ckpt),
                                safe_load(ckpt)["epoch"]))
    out = Path(args.out) if args.out else (Path(args.target) if Path(args.target).is_dir()
                                           else ckpt.parent.parent) / "results.json"
    if not distributed.is_main():
        return 0
    write_json(results, out)
    print(format_table(results))
    print(f"written {out}")
    return 0
