"""`advdpnp train [PRESET] [overrides] [--resume RUN_DIR]`."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..config import Config, build_dataclass, load_config
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
    from ..evaluate.basic import evaluate_basic, format_table
    from ..train import distributed
    from ..train.checkpoint import previous_path, safe_load
    from ..train.lock import RunLock
    from ..train.trainer import Trainer

    if args.resume:
        run_dir = Path(args.resume)
        if args.items:
            raise UserError("--resume takes no preset or overrides: the run's own config is used")
        if not run_dir.is_dir():
            raise UserError(f"cannot resume: no run directory {run_dir}")
        lock = RunLock(run_dir).acquire()  # noqa: F841 - held (re-entrantly) until the command ends
        last = run_dir / "checkpoints" / "last.pt"
        if last.is_file() or previous_path(last).is_file():
            cfg = _resumed_config(last)
            trainer = Trainer(cfg, run_dir, resume=True)
        else:  # killed before its first checkpoint: start over from the run's own config
            cfg = _restart_config(run_dir)
            trainer = Trainer(cfg, run_dir)
    else:
        cfg = config_from_args(args.items)
        distributed.init_device(cfg.train.device)  # under torchrun: rank 0 picks the run directory
        run_dir = distributed.broadcast_object(Path(args.run_dir) if args.run_dir
                                               else new_run_dir(cfg.out_dir, cfg.name))
        if run_dir.is_dir():  # under the lock, so a run still training is reported by its PID
            lock = RunLock(run_dir).acquire()  # noqa: F841
        if (run_dir / "checkpoints").is_dir() and any((run_dir / "checkpoints").glob("*.pt")):
            raise UserError(f"run directory {run_dir} already holds a run; continue it with "
                            f"`advdpnp train --resume {run_dir}` or choose another --run-dir")
        trainer = Trainer(cfg, run_dir)
    main = distributed.is_main()
    if main:
        print(f"run directory: {run_dir}")
    summary = trainer.fit()
    if main:
        print(f"best {summary['selected_on']} {summary['best_value']:.4f} at epoch {summary['best_epoch']}")
    if args.no_eval:
        return 0
    best = safe_load(run_dir / "checkpoints" / "best.pt", trainer.device)
    trainer.model.load_state_dict(best["model"])
    results = evaluate_basic(trainer.model, trainer.data, cfg)
    results.update(run_metadata(cfg, "best", best["epoch"]))
    if not main:
        return 0
    write_json(results, run_dir / "results.json")
    print(f"test accuracy of the best checkpoint (epoch {best['epoch']}, chosen on validation):")
    print(format_table(results))
    return 0


def _resumed_config(last: Path) -> Config:
    from ..methods import validate_method_options
    from ..train.checkpoint import load_latest

    cfg = build_dataclass(Config, load_latest(last)[0]["config"])
    cfg.method = validate_method_options(cfg.method)
    return cfg


def _restart_config(run_dir: Path) -> Config:
    """The config of a run killed before it wrote any checkpoint (it restarts from step 0)."""
    import logging

    if not (run_dir / "config.yaml").is_file():
        raise UserError(f"cannot resume: {run_dir} holds neither a checkpoint nor a config.yaml")
    logging.getLogger(__name__).warning("warning: %s has no checkpoint yet; starting the run over from its "
                                        "config.yaml", run_dir)
    return load_config(run_dir / "config.yaml")


def run_metadata(cfg: Config, checkpoint: str, epoch: int) -> dict:
    """Leaderboard-style metadata for results.json."""
    from .. import __version__

    return {"method": cfg.method["name"], "architecture": cfg.model.arch, "head": cfg.model.head,
            "checkpoint": checkpoint, "epoch": epoch, "train_seed": cfg.train.seed,
            "code_version": f"advdpnp {__version__}", "attack_mode": "eval (BatchNorm statistics frozen)"}
