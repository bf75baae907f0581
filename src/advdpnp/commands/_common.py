"""Helpers shared by sub-commands."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..config import Config, load_config
from ..paths import resolve_preset


def config_from_args(items: list[str]) -> Config:
    """`[PRESET] [section.field=value ...]`: the first item without '=' names the preset."""
    preset = [i for i in items if "=" not in i]
    overrides = [i for i in items if "=" in i]
    if len(preset) > 1:
        from ..errors import UserError

        raise UserError(f"give at most one config file, got {', '.join(preset)}")
    return load_config(resolve_preset(preset[0]) if preset else None, overrides)


def parse_with_overrides(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse a command line whose config overrides may follow flags (`train PRESET --no-eval train.epochs=3`):
    argparse leaves a positional after an optional unparsed, so those go to `items` here."""
    args, extra = parser.parse_known_args(argv)
    if extra and hasattr(args, "items") and all("=" in e and not e.startswith("-") for e in extra):
        args.items = list(args.items) + extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def add_checkpoint_argument(p) -> None:
    """`--checkpoint best|last` of the commands that read a run directory."""
    p.add_argument("--checkpoint", choices=("best", "last"), default="best",
                   help="which checkpoint of a run directory (best = chosen on the validation split: PGD "
                        "accuracy for adversarial methods, clean accuracy for standard/dpnp)")


def add_points_argument(p, help: str) -> None:
    """`--n`, also spelled `--points`: torchrun's own parser reads `--n` after the module name as an
    ambiguous abbreviation of its options, so `torchrun -m advdpnp eval RUN --n 500` never starts."""
    p.add_argument("--n", "--points", dest="n", type=int, help=f"{help}; also --points (use it under torchrun)")


def add_threads_argument(p) -> None:
    """`--threads`: evaluations sharing a CPU machine (one per core) each want one torch thread, and torch's
    default takes every core."""
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")


def apply_threads(threads: int) -> None:
    """Check and apply `--threads` before any tensor work."""
    import torch

    from ..errors import UserError

    if threads < 0:
        raise UserError(f"--threads must be >= 0, got {threads}")
    if threads:
        torch.set_num_threads(threads)


def write_json(obj: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2))
    tmp.replace(path)
