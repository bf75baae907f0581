"""`advdpnp sweep PRESET --set FIELD=V1,V2 ... --seeds 0,1,2`: train + evaluate a grid, then tabulate.

Each grid point x seed is one run directory under the output folder; finished runs (those with a
results.json from the requested suite) are skipped, so an interrupted sweep continues where it
stopped. The table gives mean and std over seeds of every attack's accuracy and, when reference
runs are named (`--reference DIR`, e.g. a PGD-AT sweep), applies SPEC section 7's rule: the best
clean accuracy among settings whose AutoAttack (or, failing that, worst-case / PGD) accuracy is at
least the reference's minus `--tolerance` points.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
from pathlib import Path

NAME = "sweep"
HELP = "train and evaluate a grid of config values over several seeds; writes sweep.{md,csv,json}"
ORDER = 60


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("items", nargs="*", metavar="PRESET|FIELD=VALUE", help="base preset and fixed overrides")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=V1,V2",
                   help="a grid axis (repeatable); the grid is the product of all axes")
    p.add_argument("--seeds", default="0", help="comma-separated training seeds (default 0)")
    p.add_argument("--suite", default="quick", help="evaluation suite of `advdpnp eval` (default quick)")
    p.add_argument("--n", type=int, help="test points per evaluation (default: the run's eval.n)")
    p.add_argument("--eval-arg", action="append", default=[], metavar="ARG",
                   help="extra argument for `advdpnp eval` (repeatable), e.g. --eval-arg=--transfer-epochs=0")
    p.add_argument("-o", "--out", default="runs/sweep", help="output folder (default runs/sweep)")
    p.add_argument("--reference", metavar="DIR", help="a finished sweep folder whose runs are the baseline")
    p.add_argument("--tolerance", type=float, default=1.0, help="allowed robust-accuracy gap in points")


def parse_axes(specs: list[str]) -> list[tuple[str, list[str]]]:
    from ..errors import UserError

    axes = []
    for spec in specs:
        if "=" not in spec:
            raise UserError(f"--set {spec!r} must look like section.field=v1,v2")
        key, values = spec.split("=", 1)
        vals = [v for v in values.split(",") if v != ""]
        if not vals:
            raise UserError(f"--set {spec!r} lists no values")
        axes.append((key, vals))
    return axes


def run(args: argparse.Namespace) -> int:
    from ..errors import UserError
    from ..train.trainer import Trainer
    from ._common import config_from_args

    try:
        seeds = [int(s) for s in args.seeds.split(",") if s != ""]
    except ValueError:
        raise UserError(f"--seeds must be comma-separated integers, got {args.seeds!r}") from None
    axes = parse_axes(args.set)
    out = Path(args.out)
    grid = list(itertools.product(*[[(k, v) for v in vals] for k, vals in axes])) or [()]
    for point in grid:  # validate the whole grid before spending hours on its first point
        config_from_args(list(args.items) + [f"{k}={v}" for k, v in point])
    for point in grid:
        for seed in seeds:
            tag = "-".join(f"{k.split('.')[-1]}={v}" for k, v in point) or "base"
            run_dir = out / f"{tag}-s{seed}"
            if (run_dir / "results.json").exists() and _suite_of(run_dir) == args.suite:
                print(f"[sweep] done already: {run_dir}")
                continue
            overrides = [f"{k}={v}" for k, v in point] + [f"train.seed={seed}", f"name={tag}-s{seed}"]
            cfg = config_from_args(list(args.items) + overrides)
            resume = (run_dir / "checkpoints" / "last.pt").exists()
            print(f"[sweep] {'resuming' if resume else 'training'} {run_dir}")
            trainer = Trainer(cfg, run_dir, resume=resume)
            if trainer.epoch < cfg.train.epochs:
                trainer.fit()
            del trainer
            _evaluate(run_dir, args.suite, args.n, args.eval_arg)
    rows = collect(out, grid, seeds)
    reference = summarise_reference(Path(args.reference)) if args.reference else None
    write_tables(out, rows, reference, args.tolerance)
    print((out / "sweep.md").read_text())
    return 0


def _suite_of(run_dir: Path) -> str | None:
    try:
        return json.loads((run_dir / "results.json").read_text()).get("suite")
    except (OSError, ValueError):
        return None


def _evaluate(run_dir: Path, suite: str, n: int | None, extra: list[str]) -> None:
    """Run `advdpnp eval` in-process with its own argument parser (so its defaults apply)."""
    from . import eval as eval_cmd

    p = argparse.ArgumentParser(prog="advdpnp eval")
    eval_cmd.add_arguments(p)
    argv = [str(run_dir), "--suite", suite] + (["--n", str(n)] if n else []) + list(extra)
    eval_cmd.run(p.parse_args(argv))


def _accuracies(results: dict) -> dict[str, float]:
    acc = {name: r["accuracy"] for name, r in results.get("attacks", {}).items()}
    if "worst_case" in results:
        acc["worst_case"] = results["worst_case"]["accuracy"]
    return acc


def collect(out: Path, grid: list, seeds: list[int]) -> list[dict]:
    """Mean/std over seeds of every accuracy, one row per grid point."""
    rows = []
    for point in grid:
        tag = "-".join(f"{k.split('.')[-1]}={v}" for k, v in point) or "base"
        per_seed = []
        for seed in seeds:
            path = out / f"{tag}-s{seed}" / "results.json"
            if path.exists():
                per_seed.append(json.loads(path.read_text()))
        if not per_seed:
            continue
        metrics: dict[str, list[float]] = {}
        for res in per_seed:
            for k, v in _accuracies(res).items():
                metrics.setdefault(k, []).append(v)
        rows.append({"setting": tag, "seeds": len(per_seed), "n": per_seed[0].get("n"),
                     "mean": {k: statistics.fmean(v) for k, v in metrics.items()},
                     "std": {k: statistics.stdev(v) if len(v) > 1 else 0.0 for k, v in metrics.items()}})
    return rows


def robust_key(mean: dict) -> str | None:
    """The strongest robust accuracy available: AutoAttack, else worst case, else PGD."""
    for k in ("autoattack", "worst_case"):
        if k in mean:
            return k
    pgd = sorted(k for k in mean if k.startswith("pgd"))
    return pgd[0] if pgd else None


def summarise_reference(folder: Path) -> dict:
    """Mean accuracies over every run of a reference sweep folder."""
    metrics: dict[str, list[float]] = {}
    for path in sorted(folder.glob("*/results.json")):
        for k, v in _accuracies(json.loads(path.read_text())).items():
            metrics.setdefault(k, []).append(v)
    from ..errors import UserError

    if not metrics:
        raise UserError(f"--reference {folder} holds no */results.json")
    return {k: statistics.fmean(v) for k, v in metrics.items()}


def write_tables(out: Path, rows: list[dict], reference: dict | None, tolerance: float) -> None:
    out.mkdir(parents=True, exist_ok=True)
    cols = sorted({k for r in rows for k in r["mean"]}, key=lambda k: (k != "clean", k))
    chosen = None
    if reference and rows:
        key = robust_key(reference)
        ok = [r for r in rows if key in r["mean"] and r["mean"][key] >= reference[key] - tolerance / 100]
        if ok:
            chosen = max(ok, key=lambda r: r["mean"].get("clean", 0.0))["setting"]
    lines = ["| setting | seeds | n | " + " | ".join(cols) + " |", "|---" * (len(cols) + 3) + "|"]
    for r in rows:
        cells = [f"{100 * r['mean'][c]:.2f} ± {100 * r['std'][c]:.2f}" if c in r["mean"] else "–" for c in cols]
        mark = " **(chosen)**" if r["setting"] == chosen else ""
        lines.append(f"| {r['setting']}{mark} | {r['seeds']} | {r['n']} | " + " | ".join(cells) + " |")
    if reference:
        key = robust_key(reference)
        lines.append("")
        lines.append(f"Reference {key}: {100 * reference[key]:.2f} %; rule: best clean accuracy with {key} >= "
                     f"reference - {tolerance} points; chosen: {chosen or 'none satisfies the rule'}.")
    (out / "sweep.md").write_text("\n".join(lines) + "\n")
    with open(out / "sweep.csv", "w") as f:
        f.write("setting,seeds,n," + ",".join(f"{c}_mean,{c}_std" for c in cols) + "\n")
        for r in rows:
            vals = [f"{r['mean'].get(c, '')},{r['std'].get(c, '')}" for c in cols]
            f.write(f"{r['setting']},{r['seeds']},{r['n']}," + ",".join(vals) + "\n")
    (out / "sweep.json").write_text(json.dumps({"rows": rows, "reference": reference, "chosen": chosen}, indent=2))
