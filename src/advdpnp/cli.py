"""Command-line entry point. Each sub-command is a module in `advdpnp.commands` (discovered)."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from . import __version__, commands
from .commands._common import parse_with_overrides
from .errors import UserError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="advdpnp", description="Adv-DPNP: adversarially robust prototype "
                                     "classifiers, baselines and robustness evaluation.")
    parser.add_argument("--version", action="version", version=f"advdpnp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    mods = [importlib.import_module(f"{commands.__name__}.{m.name}") for m in pkgutil.iter_modules(commands.__path__)
            if not m.name.startswith("_")]
    for mod in sorted(mods, key=lambda m: getattr(m, "ORDER", 50)):
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parse_with_overrides(parser, argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        code = int(args._run(args) or 0)
    except UserError as e:
        print(f"advdpnp {args.command}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `advdpnp methods | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(f"advdpnp {args.command}: interrupted", file=sys.stderr)
        return 130
    if "torch.distributed" in sys.modules:  # only then can a command have joined torchrun's process group
        from .train.distributed import shutdown

        shutdown()
    return code
