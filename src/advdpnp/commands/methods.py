"""`advdpnp methods`: list methods, presets, models and datasets, one line each."""

from __future__ import annotations

import argparse

import yaml

NAME = "methods"
HELP = "list training methods, presets, models and datasets"
ORDER = 40


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--options", action="store_true", help="also list each method's options with defaults")
    p.add_argument("filter", nargs="?", default="", help="only presets whose path contains this text (e.g. quick)")


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from ..data import DATASETS
    from ..methods import METHODS
    from ..models import MODELS
    from ..paths import configs_dir

    print("methods:")
    for name in METHODS.names():
        cls = METHODS.get(name)
        print(f"  {name:<18} {METHODS.help(name)}  [heads: {', '.join(cls.heads)}]")
        if args.options:
            for f in dataclasses.fields(cls.Options):
                print(f"      {f.name} = {f.default!r}  {f.metadata.get('help', '')}")
    print("presets (advdpnp train PRESET):")
    root = configs_dir()
    # Files starting with "_" are shared bases that other presets name with `base:`, not jobs.
    presets = {str(p.relative_to(root).with_suffix("")): p for p in sorted(root.rglob("*.yaml"))
               if not p.name.startswith("_") and args.filter in str(p.relative_to(root))}
    width = max(map(len, presets), default=0)
    for name, path in presets.items():
        tree = yaml.safe_load(path.read_text()) or {}
        desc = tree.get("description", "") if isinstance(tree, dict) else ""
        print(f"  {name:<{width}}  {desc}")
    print("models:")
    for name in MODELS.names():
        print(f"  {name:<18} {MODELS.help(name)}")
    print("datasets:")
    for name in DATASETS.names():
        print(f"  {name:<18} {DATASETS.help(name)}")
    return 0
