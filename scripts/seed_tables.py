"""Accuracy of many runs from the flags `paired_runs.py --cache` stored: one row per run, one per method.

Why: a whole-split reading (AutoAttack on 10000 points takes about an hour a model on one core) is run once per
model, in separate processes, and kept in RUN/paired_flags/. This script computes nothing: it reads those
stores, prints every model's accuracy, then each method's mean ± sample std over its seeds and the reference
method's lead over it with Welch's t-test across seeds (the seeds, not the points, are the samples there: every
model is read on the same points). Runs join a method by their config's method name, or by the LABEL of a
`LABEL=RUN` argument (an ablation is an `adv_dpnp` run with other options); runs of one label must share the
recipe, so that no ablation is averaged into the method by accident.

    python scripts/seed_tables.py RUN [LABEL=RUN ...] [--n 10000] [--split test] [--which best]
        [--versus last] [--reference adv_dpnp]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
import statistics
import sys
from pathlib import Path

from scipy.stats import ttest_ind

from advdpnp.config import Config, load_config
from advdpnp.errors import UserError
from advdpnp.evaluate.load import checkpoint_epoch
from advdpnp.paths import find_checkpoint
from advdpnp.report.tables import mean_std
from advdpnp.train.environment import machines_summary
from paired_runs import SPLIT_FIELDS, p_text, stored_flags

#: config fields that say how a run was executed or named, not what it trained: runs of one recipe may differ in
#: them (eval settings key the stored flags themselves)
RUN_FIELDS = ("name", "description", "out_dir", "data.root", "data.download", "train.seed", "train.threads",
              "train.progress", "train.device", "train.checkpoint_every")


def _flat(tree: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            out |= _flat(v, f"{prefix}{k}.")
        else:
            out[f"{prefix}{k}"] = v
    return out


def recipe(cfg: Config) -> dict[str, object]:
    """The config fields that decide what a run trains: everything but `RUN_FIELDS` and the eval section."""
    return {k: v for k, v in _flat(dataclasses.asdict(cfg)).items()
            if k not in RUN_FIELDS and not k.startswith("eval.")}


def recipe_difference(a: dict, b: dict) -> str:
    """The first differing field of two recipes, as 'field (a vs b)'; '' when they agree."""
    for k in sorted(a.keys() | b.keys()):
        if a.get(k) != b.get(k):
            return f"{k} ({a.get(k)!r} vs {b.get(k)!r})"
    return ""


def column_title(reading: str) -> str:
    """'pgd20-eps0.1-...' -> 'PGD-20', 'aa-custom-...' -> 'AutoAttack' (the settings go under the table)."""
    if m := re.fullmatch(r"pgd(\d+)-.*", reading):
        return f"PGD-{m[1]}"
    return {"clean": "clean", "aa": "AutoAttack"}.get(reading.split("-")[0], reading)


def welch(a: list[float], b: list[float]) -> str:
    """'mean(a) - mean(b) (Welch p)' in points; '–' without two values a side, 'no spread' when neither varies."""
    if len(a) < 2 or len(b) < 2:
        return "–"
    p = ttest_ind(a, b, equal_var=False).pvalue
    diff = f"{statistics.fmean(a) - statistics.fmean(b):+.1f}"
    return f"{diff} ({p:.2g})" if not math.isnan(p) else f"{diff} (no spread)"


def spread(values: list[float], runs: int) -> str:
    """Mean ± sample std in %, with the count when fewer runs than the method's hold the reading."""
    if not values:
        return "–"
    text = f"{statistics.fmean(values):.1f}" + (f" ± {statistics.stdev(values):.1f}" if len(values) > 1 else "")
    return text if len(values) == runs else f"{text} ({len(values)})"


def parse_runs(args: list[str]) -> list[tuple[str | None, Path]]:
    """`RUN` or `LABEL=RUN` arguments as (label or None, folder)."""
    out: list[tuple[str | None, Path]] = []
    for a in args:
        if Path(a).exists() or "=" not in a:  # a folder may hold '=' itself (a sweep's `lambda_pos=0.1-s0`)
            out.append((None, Path(a)))
            continue
        label, _, run = a.partition("=")
        if not label or "/" in label:
            raise UserError(f"{a!r} is neither a folder nor LABEL=RUN")
        out.append((label, Path(run)))
    return out


def read_runs(runs: list[tuple[str | None, Path]], n: int, split: str, which: str) -> list[dict]:
    """Each run's label, seed, checkpoint epoch and accuracy per stored reading of `split`, checked: the same
    points for every run, one recipe per label."""
    rows, recipes, points, seeds = [], {}, {}, {}
    for label, run in runs:
        if not (run / "config.yaml").is_file():
            raise UserError(f"not a run folder (no config.yaml): {run}")
        cfg = load_config(run / "config.yaml")
        label = label or cfg.method["name"]
        if run.resolve() in {r.resolve() for r in points}:
            raise UserError(f"{run} is given twice")
        points[run] = tuple(getattr(cfg.data, f) for f in SPLIT_FIELDS)
        if len(set(points.values())) > 1:
            first = next(iter(points))
            raise UserError(f"{first} and {run} split the data differently ({', '.join(SPLIT_FIELDS)}: "
                            f"{points[first]} vs {points[run]}): their accuracies are not on the same points")
        first, first_recipe = recipes.setdefault(label, (run, recipe(cfg)))
        if diff := recipe_difference(first_recipe, recipe(cfg)):
            raise UserError(f"{first} and {run} both join '{label}' but differ in {diff}; give each recipe its "
                            f"own label (LABEL=RUN)")
        twin = seeds.setdefault((label, cfg.train.seed), run)
        if twin != run:
            raise UserError(f"{twin} and {run} are both '{label}' seed {cfg.train.seed}: one model twice is no second "
                            "sample (label them apart, LABEL=RUN, if they differ by machine)")
        flags = {k.rsplit("/", 1)[0]: v for k, v in stored_flags(run, which, n).items() if k.endswith(f"/{split}")}
        if "clean" not in flags:
            raise UserError(f"no stored {split} flags for {run} ({which} checkpoint, n={n}): read them first with "
                            f"`python scripts/paired_runs.py {run} {run} --which {which} --splits {split} --n {n} "
                            "--pgd --aa --cache`")
        rows.append({"label": label, "seed": cfg.train.seed, "run": run, "points": len(flags["clean"]),
                     "epoch": checkpoint_epoch(find_checkpoint(str(run), which)), "flags": flags,
                     "acc": {k: 100 * v.float().mean().item() for k, v in flags.items()}})
    return rows


def columns(rows: list[dict]) -> dict[str, str]:
    """The readings any row holds, in table order (clean, PGD, AutoAttack), each with its column title."""
    order = ("clean", "pgd", "aa")
    readings = sorted({k for r in rows for k in r["acc"]},
                      key=lambda k: (next((i for i, p in enumerate(order) if k.startswith(p)), len(order)), k))
    titles = {k: column_title(k) for k in readings}
    if len(set(titles.values())) < len(titles):  # two PGD settings, say: the keys themselves tell them apart
        titles = {k: k for k in readings}
    return titles


def groups_of(rows: list[dict]) -> dict[str, list[dict]]:
    """The rows by label, in first-seen order."""
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r["label"], []).append(r)
    return groups


def tables(rows: list[dict], reference: str | None) -> str:
    """The per-run table, the per-method table (with the reference's Welch lead) and the columns' settings."""
    titles = columns(rows)
    readings = list(titles)
    head = ["method", "seed", "epoch"] + [titles[k] for k in readings]
    out = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for r in rows:
        cells = [f"{r['acc'][k]:.2f}" if k in r["acc"] else "–" for k in readings]
        out.append(f"| {r['label']} | {r['seed']} | {r['epoch']} | " + " | ".join(cells) + " |")
    groups = groups_of(rows)

    def values(label: str, k: str) -> list[float]:
        return [r["acc"][k] for r in groups[label] if k in r["acc"]]

    head = ["method", "seeds"] + [titles[k] for k in readings]
    if reference:
        head += [f"{reference} - method, {titles[k]} (Welch p)" for k in readings]
    out += ["", "| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for label, members in groups.items():
        cells = [spread(values(label, k), len(members)) for k in readings]
        if reference:
            cells += ["" if label == reference else welch(values(reference, k), values(label, k)) for k in readings]
        out.append(f"| {label} | {len(members)} | " + " | ".join(cells) + " |")
    counts = sorted({r["points"] for r in rows})
    settings = "; ".join(f"{titles[k]} = {k}" for k in readings if titles[k] != k)
    out += ["", f"Points: {', '.join(map(str, counts))} per model; epoch: the checkpoint's training epoch."
            + (f" Columns: {settings}." if settings else "")
            + " An attacked reading counts a point when clean and attacked predictions are both right."]
    return "\n".join(out)


def changes(rows: list[dict], versus_rows: list[dict], which: str, versus: str) -> str:
    """Per run, the accuracy of its `which` checkpoint minus its `versus` checkpoint's on the same points, with
    the exact sign test on the points only one of the two gets right; per method, the change's mean ± sample std
    over seeds (what choosing the checkpoint one way rather than the other does to the method's mean)."""
    titles = columns(rows + versus_rows)
    head = ["method", "seed", f"epoch ({which} / {versus})"] + [f"{t}: {which} - {versus} (p)" for t in titles.values()]
    out = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    deltas: dict[tuple[str, str], list[float]] = {}
    for r, v in zip(rows, versus_rows):
        cells = []
        for k in titles:
            if k not in r["flags"] or k not in v["flags"]:
                cells.append("–")
                continue
            a, b = r["flags"][k], v["flags"][k]
            only_a, only_b = int((a & ~b).sum()), int((b & ~a).sum())
            deltas.setdefault((r["label"], k), []).append((only_a - only_b) / len(a))
            cells.append(f"{100 * (only_a - only_b) / len(a):+.2f} ({p_text(only_a, only_b)})")
        out.append(f"| {r['label']} | {r['seed']} | {r['epoch']} / {v['epoch']} | " + " | ".join(cells) + " |")
    head = ["method", "seeds"] + [f"{t}: {which} - {versus}" for t in titles.values()]
    out += ["", "| " + " | ".join(head) + " |", "|---" * len(head) + "|"]

    def cell(label: str, k: str, runs: int) -> str:
        """The change's mean ± std, with the count when fewer than the method's runs hold both readings."""
        if not (d := deltas.get((label, k))):
            return "–"
        return mean_std(d, signed=True) + (f" ({len(d)})" if len(d) < runs else "")

    for label, members in groups_of(rows).items():
        cells = [cell(label, k, len(members)) for k in titles]
        out.append(f"| {label} | {len(members)} | " + " | ".join(cells) + " |")
    out += ["", f"Changes in points; p: exact two-sided sign test on the points only one checkpoint gets right (0 "
            f"such points: p 1). A run whose {which} and {versus} checkpoints hold the same weights changes by 0."]
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", metavar="[LABEL=]RUN", help="run folders read with paired_runs.py --cache")
    p.add_argument("--n", type=int, default=1000, help="the --n of the paired_runs.py reading (default 1000)")
    p.add_argument("--split", default="test", choices=("val", "test"), help="split to tabulate (default test)")
    p.add_argument("--which", default="best", choices=("best", "last"), help="checkpoint of each run (default best)")
    p.add_argument("--versus", choices=("best", "last"),
                   help="also print each run's change from this checkpoint to --which's, on the same points")
    p.add_argument("--reference", help="method whose lead over every other is tested (default adv_dpnp, when "
                                       "present)")
    args = p.parse_args()
    try:
        if args.versus == args.which:
            raise UserError(f"--versus {args.versus} is --which itself: name the other checkpoint")
        runs = parse_runs(args.runs)
        rows = read_runs(runs, args.n, args.split, args.which)
        versus_rows = read_runs(runs, args.n, args.split, args.versus) if args.versus else []
        labels = {r["label"] for r in rows}
        reference = args.reference or ("adv_dpnp" if "adv_dpnp" in labels else None)
        if reference not in labels | {None}:
            raise UserError(f"--reference {reference!r} is none of the methods read: {', '.join(sorted(labels))}")
    except UserError as e:
        sys.exit(f"error: {e}")
    print(tables(rows, reference))
    if versus_rows:
        print(f"\nChange from each run's {args.versus} checkpoint to its {args.which} one:\n")
        print(changes(rows, versus_rows, args.which, args.versus))
    print(f"\n{machines_summary([r['run'] for r in rows])}")


if __name__ == "__main__":
    main()
