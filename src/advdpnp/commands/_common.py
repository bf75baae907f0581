"""Helpers shared by sub-commands."""

from __future__ import annotations

import argparse
import json
import shlex
from collections.abc import Callable
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


class _LineParser(argparse.ArgumentParser):
    """Parses one line of a `--plan` file: a bad line is a UserError, not a usage message and an exit."""

    def error(self, message: str) -> None:
        from ..errors import UserError

        raise UserError(message)


def _flags(names: tuple[str, ...]) -> str:
    """('plan', 'jobs', 'tables_only') -> '--plan, --jobs and --tables-only'."""
    flags = [f"--{n.replace('_', '-')}" for n in names]
    return flags[0] if len(flags) == 1 else f"{', '.join(flags[:-1])} and {flags[-1]}"


def refuse_beside_plan(args: argparse.Namespace, add_arguments: Callable, call_options: tuple[str, ...]) -> None:
    """`CMD --plan FILE` takes every other argument from FILE's lines: one given here as well would be silently
    ignored, so it is an error."""
    from ..errors import UserError

    defaults = _LineParser(add_help=False)
    add_arguments(defaults)
    given = [f"--{k.replace('_', '-')}" for k, v in vars(defaults.parse_args([])).items()
             if k not in call_options and getattr(args, k) != v]
    if given:
        raise UserError(f"--plan takes the other arguments from its file; here only {_flags(call_options[1:])} "
                        f"(also given: {', '.join(given)})")


def read_plan_lines(path: Path, prog: str, add_arguments: Callable, call_options: tuple[str, ...],
                    noun: str) -> list[argparse.Namespace]:
    """The lines of a `--plan` file, each parsed like a `prog` command line ('#' starts a comment), each with its
    line number as `.line`. A bad line is a one-line error naming it, raised before anything runs."""
    from ..errors import UserError

    parser = _LineParser(prog=prog, add_help=False)
    add_arguments(parser)
    try:
        text = path.read_text()
    except OSError as e:
        raise UserError(f"--plan {path}: {e.strerror or e}") from None
    lines = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            argv = shlex.split(line, comments=True)
            if not argv:
                continue
            args = parse_with_overrides(parser, argv)
            if any(getattr(args, k) != parser.get_default(k) for k in call_options):
                raise UserError(f"{_flags(call_options)} belong to the call that reads the plan")
        except (UserError, ValueError) as e:
            raise UserError(f"--plan {path} line {number}: {e}") from None
        args.line = number
        lines.append(args)
    if not lines:
        raise UserError(f"--plan {path} holds no {noun}")
    return lines


def add_checkpoint_argument(p) -> None:
    """`--checkpoint best|last` of the commands that read a run directory."""
    p.add_argument("--checkpoint", choices=("best", "last"), default="best",
                   help="which checkpoint of a run directory (best = chosen on the validation split: PGD "
                        "accuracy for adversarial methods, clean accuracy for standard/dpnp)")


def add_points_argument(p, help: str) -> None:
    """`--n`, also spelled `--points`: torchrun's own parser reads `--n` after the module name as an
    ambiguous abbreviation of its options, so `torchrun -m advdpnp eval RUN --n 500` never starts."""
    p.add_argument("--n", "--points", dest="n", type=int, help=f"{help}; also --points (use it under torchrun)")


def add_dry_run_argument(p, what: str) -> None:
    """`--dry-run`: a queue can hold hours of CPU work; it says what a call would run, and why, before it does."""
    p.add_argument("--dry-run", action="store_true",
                   help=f"check everything and list the {what} still to do (and those done already), then stop "
                        "without running any")


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
