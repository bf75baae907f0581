"""`advdpnp train [PRESET] [overrides] [--resume RUN_DIR]`."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..config import Config, build_dataclass
from ..errors import UserError
from ..paths import new_run_dir
from ._common import config_from_args, write_json

NAME = "train"
HELP = "train a model (default: Adv-DPNP on digits); prints clean and PGD test accuracy at the end"
ORDER = 10


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("items", nargs="*", metavar="PRESET|FIELD=VALUE",
                   help="a YAML preset (path or name like quick/fmnist-adv_dpnp) and dotted overrides "
                        "such as train.epochs=3")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run from its last checkpoint")
    p.add_argument("--run-dir", metavar="DIR", help="run directory (default: OUT_DIR/NAME, never overwritten)")
    p.add_argument("--no-eval", action="store_true", help="skip the final test evaluation")


def run(args: argparse.Namespace) -> int:
    from ..data.augment import to_float  # noqa: F401  (keeps import errors inside the command)
    from ..evaluate.basic import evaluate_basic, format_table
    from ..train.checkpoint import safe_load
    from ..train.trainer import Trainer

    if args.resume:
        run_dir = Path(args.resume)
        last = run_dir / "checkpoints" / "last.pt"
        if not last.is_file():
            raise UserError(f"cannot resume: {last} does not exist")
        cfg = _resumed_config(last, args.items)
        trainer = Trainer(cfg, run_dir, resume=True)
    else:
        cfg = config_from_args(args.items)
        run_dir = Path(args.run_dir) if args.run_dir else new_run_dir(cfg.out_dir, cfg.name)
        trainer = Trainer(cfg, run_dir)
    print(f"run directory: {run_dir}")
    summary = trainer.fit()
    print(f"best validation PGD accuracy {summary['best_val_pgd']:.4f} at epoch {summary['best_epoch']}")
    if args.no_eval:
        return 0
    best = safe_load(run_dir / "checkpoints" / "best.pt", trainer.device)
    trainer.model.load_state_dict(best["model"])
    results = evaluate_basic(trainer.model, trainer.data, cfg)
    results.update(run_metadata(cfg, "best", best["epoch"]))
    write_json(results, run_dir / "results.json")
    print(f"test accuracy of the best checkpoint (epoch {best['epoch']}, chosen on validation):")
    print(format_table(results))
    return 0


def _resumed_config(last: Path, items: list[str]) -> Config:
    if items:
        raise UserError("--resume takes no preset or overrides: the run's own config is used")
    from ..methods import validate_method_options
    from ..train.checkpoint import safe_load

    cfg = build_dataclass(Config, safe_load(last)["config"])
    cfg.method = validate_method_options(cfg.method)
    return cfg


def run_metadata(cfg: Config, checkpoint: str, epoch: int) -> dict:
    """Leaderboard-style metadata for results.json."""
    from .. import __version__

    return {"method": cfg.method["name"], "architecture": cfg.model.arch, "head": cfg.model.head,
            "checkpoint": checkpoint, "epoch": epoch, "train_seed": cfg.train.seed,
            "code_version": f"advdpnp {__version__}", "attack_mode": "eval (BatchNorm statistics frozen)"}
