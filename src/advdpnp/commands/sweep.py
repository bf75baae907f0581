"""`advdpnp sweep PRESET --set FIELD=V1,V2 ... --seeds 0,1,2`: train + evaluate a grid, then tabulate.

Each grid point x seed is one run directory under the output folder; finished runs (those with a
results.json from the requested suite) are skipped, so an interrupted sweep continues where it
stopped. `--jobs N` runs N of them at a time, each in a process of its own (a small model uses a core
better than extra threads; a run's output goes to its sweep.log). `--one-at-a-time` varies each axis
alone around the preset instead of taking the product; `--point` adds a setting that changes several
fields together (an option that only works with another, or a combination of two earlier winners), so
it competes under the same rule. `--plan FILE` runs several sweeps (one per line of FILE, each with its
own preset, grid, seeds and output folder) as one queue, so `--jobs N` keeps N runs going across all of them
instead of idling at the end of each small sweep; each sweep still writes its own tables.
The table gives mean and std over seeds of the validation metrics of each run's `best` checkpoint
and of every test attack's accuracy. When reference runs are named (`--reference DIR`, e.g. a
PGD-AT sweep) it applies SPEC section 7's rule on the *validation* split: the best validation
clean accuracy among settings whose validation PGD accuracy is at least the reference's minus
`--tolerance` points. The test split never takes part in the choice; the rule's AutoAttack form is
then checked on the test split and reported, holds or not, as is how far the choice lies above the
runner-up in standard errors over seeds (the rule takes the best mean even inside the seed noise).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ._common import add_dry_run_argument, add_points_argument, read_plan_lines, refuse_beside_plan

NAME = "sweep"
HELP = "train and evaluate a grid of config values over several seeds; writes sweep.{md,csv,json}"
ORDER = 60
PLAN_CALL_OPTIONS = ("plan", "jobs", "tables_only", "dry_run")  # given to the call that reads a plan, not on its lines


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("items", nargs="*", metavar="PRESET|FIELD=VALUE", help="base preset and fixed overrides")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=V1,V2",
                   help="a grid axis (repeatable); the grid is the product of all axes")
    p.add_argument("--point", action="append", default=[], metavar="'F1=V1 F2=V2'",
                   help="an extra grid point (repeatable): space-separated overrides applied together, "
                        "e.g. --point 'method.repulsion=feature method.hinge=scaled'")
    p.add_argument("--one-at-a-time", action="store_true",
                   help="vary one axis at a time around the preset (the preset itself is the point 'base')")
    p.add_argument("--seeds", default="0", help="comma-separated training seeds (default 0)")
    p.add_argument("--suite", default="quick", help="evaluation suite of `advdpnp eval` (default quick)")
    add_points_argument(p, "test points per evaluation (default: the run's eval.n)")
    p.add_argument("--eval-arg", action="append", default=[], metavar="ARG",
                   help="extra argument for `advdpnp eval` (repeatable), e.g. --eval-arg=--transfer-epochs=0")
    p.add_argument("-o", "--out", default="runs/sweep", help="output folder (default runs/sweep)")
    p.add_argument("--reference", metavar="DIR", help="a finished sweep folder whose runs are the baseline")
    p.add_argument("--tolerance", type=float, default=1.0, help="allowed robust-accuracy gap in points")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="runs at a time, each in a process of its own with 1/N of the CPU cores as torch threads "
                        "and its output in RUN/sweep.log (default 1: one run at a time, output here)")
    p.add_argument("--tables-only", action="store_true",
                   help="train and evaluate nothing: rebuild sweep.{md,csv,json} from the runs already in OUT "
                        "(e.g. after seeds ran in separate processes)")
    p.add_argument("--plan", metavar="FILE",
                   help="run several sweeps as one queue: each line of FILE holds one sweep's arguments (preset, "
                        "overrides, --set, --seeds, --suite, -o, ...; '#' starts a comment), and --jobs, "
                        "--tables-only and --dry-run given here apply to all of them")
    add_dry_run_argument(p, "runs")


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


def parse_points(specs: list[str]) -> list[tuple]:
    """`--point` specs as grid points: each a tuple of (field, value) pairs set together."""
    from ..errors import UserError

    points = []
    for spec in specs:
        pairs = [item.split("=", 1) for item in spec.split()]
        if not pairs or any(len(kv) != 2 or not kv[0] or not kv[1] for kv in pairs):
            raise UserError(f"--point {spec!r} must look like 'section.field=value section.field=value'")
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys):
            raise UserError(f"--point {spec!r} sets a field twice")
        points.append(tuple((k, v) for k, v in pairs))
    return points


def make_grid(axes: list[tuple[str, list[str]]], one_at_a_time: bool = False,
              points: Sequence[tuple] = ()) -> list[tuple]:
    """Grid points as tuples of (field, value); () is the preset itself. Extra points come last."""
    if one_at_a_time:
        grid = [()] + [((k, v),) for k, vals in axes for v in vals]
    else:  # with no axes the product is [()]: --point settings are then compared with the preset
        grid = list(itertools.product(*[[(k, v) for v in vals] for k, vals in axes]))
    return grid + [p for p in points if p not in grid]


def tag_of(point: tuple) -> str:
    return "-".join(f"{k.split('.')[-1]}={v}" for k, v in point) or "base"


@dataclass(frozen=True)
class Run:
    """One grid point x seed of a sweep: all a worker process needs to train and evaluate it."""

    items: tuple[str, ...]
    point: tuple
    seed: int
    out: str
    suite: str
    n: int | None
    eval_args: tuple[str, ...]

    @property
    def dir(self) -> Path:
        return Path(self.out) / f"{tag_of(self.point)}-s{self.seed}"


def run(args: argparse.Namespace) -> int:
    from ..errors import UserError
    from ._pool import check_jobs

    check_jobs(args.jobs)
    if args.dry_run and args.tables_only:
        raise UserError("--dry-run runs nothing and --tables-only trains nothing: give one of them")
    if args.plan:
        refuse_beside_plan(args, add_arguments, PLAN_CALL_OPTIONS)
    sweeps = read_plan(Path(args.plan), args.tables_only) if args.plan else [args]
    # every sweep's grid is validated, and its finished runs found, before the first run spends hours
    planned = []
    for sweep in sweeps:
        try:
            planned.append((sweep, *_prepare(sweep)))
        except UserError as e:
            if not args.plan:
                raise
            raise UserError(f"--plan {args.plan} line {sweep.line}: {e}") from None
    pending = [r for *_, todo in planned for r in todo]
    if args.dry_run:
        for r in pending:
            how = "continue from its last checkpoint" if (r.dir / "checkpoints" / "last.pt").exists() else "train"
            print(f"[sweep] would {how}, then evaluate: {r.dir}")
        total = sum(len(grid) * len(seeds) for _, grid, seeds, _ in planned)
        print(f"[sweep] dry run: {len(pending)} of {total} runs to do; nothing was run")
        return 0
    if args.jobs > 1 and len(pending) > 1:
        _run_in_processes(pending, args.jobs)
    else:
        for r in pending:
            _train_and_evaluate(r)
    untabulated = []
    for sweep, grid, seeds, _ in planned:
        if len(planned) > 1:
            print(f"[sweep] {sweep.out}:")
        try:
            _finish(sweep, grid, seeds)
        except UserError as e:  # e.g. a --reference the plan left without results: the other lines still get theirs
            if not args.plan:
                raise
            print(f"[sweep] no tables: {e}")
            untabulated.append(f"line {sweep.line} ({e})")
    if untabulated:
        raise UserError(f"--plan {args.plan}: no tables for {'; '.join(untabulated)}; the runs are kept, and "
                        "--tables-only writes the tables once the cause is fixed")
    return 0


def read_plan(path: Path, tables_only: bool) -> list[argparse.Namespace]:
    """The sweeps of a `--plan` file, each line parsed like a `sweep` command line; a bad line is a one-line
    error naming it, before anything runs."""
    from ..errors import UserError

    sweeps = read_plan_lines(path, "advdpnp sweep", add_arguments, PLAN_CALL_OPTIONS, "sweep")
    folders = {}
    for sweep in sweeps:
        sweep.tables_only = tables_only
        first = folders.setdefault(Path(sweep.out).resolve(), sweep.line)
        if first != sweep.line:  # each sweep writes OUT/sweep.md, and the same run trained twice at once would clash
            raise UserError(f"--plan {path} lines {first} and {sweep.line} write to one output folder ({sweep.out}): "
                            "give each its own -o")
    return sweeps


def _prepare(args: argparse.Namespace) -> tuple[list[tuple], list[int], list[Run]]:
    """One sweep's grid (validated) and seeds, and the runs it still needs (none with --tables-only)."""
    from ..errors import UserError
    from ._common import config_from_args

    try:
        seeds = [int(s) for s in args.seeds.split(",") if s != ""]
    except ValueError:
        raise UserError(f"--seeds must be comma-separated integers, got {args.seeds!r}") from None
    if len(set(seeds)) != len(seeds):  # with --jobs, two processes would train that run at once
        raise UserError(f"--seeds {args.seeds} names a seed twice")
    out = Path(args.out)
    grid = make_grid(parse_axes(args.set), args.one_at_a_time, parse_points(args.point))
    for point in grid:
        config_from_args(list(args.items) + [f"{k}={v}" for k, v in point])
    pending = []
    for r in (Run(tuple(args.items), point, seed, str(out), args.suite, args.n, tuple(args.eval_arg))
              for point in ([] if args.tables_only else grid) for seed in seeds):
        if (r.dir / "results.json").exists() and _suite_of(r.dir) == args.suite:
            print(f"[sweep] done already: {r.dir}")
        elif (r.dir / DIVERGED).exists():
            print(f"[sweep] diverged before: {r.dir} (delete {DIVERGED} to retry)")
        else:
            pending.append(r)
    return grid, seeds, pending


def _finish(args: argparse.Namespace, grid: list[tuple], seeds: list[int]) -> None:
    """One sweep's tables, from every run of its grid that has results (also ones another call trained)."""
    from ..train.environment import machines_summary

    out = Path(args.out)
    if args.tables_only:
        missing = [f"{tag_of(p)}-s{s}" for p in grid for s in seeds
                   if not (out / f"{tag_of(p)}-s{s}" / "results.json").exists()
                   and not (out / f"{tag_of(p)}-s{s}" / DIVERGED).exists()]
        if missing:
            print(f"[sweep] --tables-only: {len(missing)} run(s) without results left out: {', '.join(missing)}")
    rows = collect(out, grid, seeds)
    reference = summarise_reference(Path(args.reference)) if args.reference else None
    runs = [d for p in grid for s in seeds if ((d := out / f"{tag_of(p)}-s{s}") / "results.json").exists()]
    write_tables(out, rows, reference, args.tolerance, machines_summary(runs))
    print((out / "sweep.md").read_text())


def _train_and_evaluate(r: Run) -> str:
    """Train (or resume) one grid point x seed and evaluate it; returns what became of it."""
    from ..train.trainer import Trainer, TrainingDiverged
    from ._common import config_from_args

    run_dir, name = r.dir, r.dir.name
    cfg = config_from_args(list(r.items) + [f"{k}={v}" for k, v in r.point] + [f"train.seed={r.seed}",
                                                                                f"name={name}"])
    resume = (run_dir / "checkpoints" / "last.pt").exists()
    print(f"[sweep] {'resuming' if resume else 'training'} {run_dir}")
    trainer = Trainer(cfg, run_dir, resume=resume)
    try:
        # a finished run (killed before its evaluation) trains no further, but still gets its check
        if trainer.fit()["at_chance"]:  # a failed run, still evaluated: its row says so, the rule skips it
            (run_dir / AT_CHANCE).write_text("final validation accuracy at chance level\n")
    except TrainingDiverged as e:  # a result of the grid point, not a reason to stop the sweep
        (run_dir / DIVERGED).write_text(str(e) + "\n")
        print(f"[sweep] diverged, recorded in {run_dir / DIVERGED}: {e}")
        return "diverged"
    finally:
        del trainer
    _evaluate(run_dir, r.suite, r.n, list(r.eval_args))
    return "at chance" if (run_dir / AT_CHANCE).exists() else "evaluated"


JOB_LOG = "sweep.log"  # a run's own output when `--jobs` runs it in a process of its own


def _run_in_processes(pending: list[Run], jobs: int) -> None:
    """`--jobs N`: N runs at a time, one process each; the first failure stops the sweep (see `_pool`)."""
    from ._pool import Job, run_in_processes

    run_in_processes([Job(str(r.dir), r.dir / JOB_LOG, _train_and_evaluate, r) for r in pending], jobs, "sweep",
                     "run", f"RUN/{JOB_LOG}", lambda job: headline(Path(job.name) / "results.json"))


def headline(results: Path) -> str:
    """', clean 86.0, autoattack 66.1': a results file's headline accuracies for a progress line."""
    if not results.exists():
        return ""
    acc = _accuracies(json.loads(results.read_text()))
    keys = [k for k in ("clean", robust_key(acc)) if k in acc]
    return "".join(f", {k} {100 * acc[k]:.1f}" for k in keys)


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


VALIDATION = ("val_clean", "val_pgd")
DIVERGED = "diverged.txt"  # written in a run directory whose training the NaN guard stopped
AT_CHANCE = "at_chance.txt"  # written in a run directory whose training ended at chance level (it is evaluated)


def _mean_std(values: dict[str, list[float]]) -> tuple[dict, dict]:
    return ({k: statistics.fmean(v) for k, v in values.items()},
            {k: statistics.stdev(v) if len(v) > 1 else 0.0 for k, v in values.items()})


def _run_metrics(run_dir: Path) -> dict[str, float]:
    """Test accuracies of results.json plus the validation metrics of the `best` checkpoint's epoch."""
    from ..report.runs import validation_at_best

    acc = _accuracies(json.loads((run_dir / "results.json").read_text()))
    val = validation_at_best(run_dir) or {}
    acc.update({k: val[k] for k in VALIDATION if k in val})
    return acc


def collect(out: Path, grid: list, seeds: list[int]) -> list[dict]:
    """Mean/std over seeds of every accuracy (test attacks and validation metrics), one row per point."""
    rows = []
    for point in grid:
        tag = tag_of(point)
        runs = [out / f"{tag}-s{seed}" for seed in seeds if (out / f"{tag}-s{seed}" / "results.json").exists()]
        diverged = sum((out / f"{tag}-s{seed}" / DIVERGED).exists() for seed in seeds)
        if not runs:
            if diverged:
                rows.append({"setting": tag, "seeds": 0, "diverged": diverged, "n": None, "mean": {}, "std": {}})
            continue
        metrics: dict[str, list[float]] = {}
        for run in runs:
            for k, v in _run_metrics(run).items():
                metrics.setdefault(k, []).append(v)
        mean, std = _mean_std(metrics)
        n = json.loads((runs[0] / "results.json").read_text()).get("n")
        rows.append({"setting": tag, "seeds": len(runs), "diverged": diverged, "n": n, "mean": mean, "std": std,
                     "at_chance": sum((run / AT_CHANCE).exists() for run in runs)})
    return rows


def robust_key(mean: dict) -> str | None:
    """The strongest robust test accuracy available: AutoAttack, else worst case, else PGD."""
    for k in ("autoattack", "worst_case"):
        if k in mean:
            return k
    pgd = sorted(k for k in mean if k.startswith("pgd"))
    return pgd[0] if pgd else None


def summarise_reference(folder: Path) -> dict:
    """Mean accuracies (test and validation) over every run of a reference sweep folder."""
    from ..errors import UserError

    metrics: dict[str, list[float]] = {}
    for path in sorted(folder.glob("*/results.json")):
        for k, v in _run_metrics(path.parent).items():
            metrics.setdefault(k, []).append(v)
    if not metrics:
        raise UserError(f"--reference {folder} holds no */results.json")
    return _mean_std(metrics)[0]


def _eligible(rows: list[dict], reference: dict, tolerance: float) -> list[dict]:
    """Rows the rule may choose: val_pgd >= reference's - tolerance, and no seed that diverged or ended at chance
    (a default must train on every seed tried)."""
    if "val_pgd" not in reference:
        return []
    return [r for r in rows if not r.get("diverged") and not r.get("at_chance")
            and "val_pgd" in r["mean"] and "val_clean" in r["mean"]
            and r["mean"]["val_pgd"] >= reference["val_pgd"] - tolerance / 100]


def choose(rows: list[dict], reference: dict, tolerance: float) -> str | None:
    """SPEC section 7 on validation: best val_clean among the eligible rows."""
    ok = _eligible(rows, reference, tolerance)
    return max(ok, key=lambda r: r["mean"]["val_clean"])["setting"] if ok else None


def choice_lead(rows: list[dict], reference: dict, tolerance: float) -> dict | None:
    """The chosen row's val_clean lead over the runner-up among the eligible rows, with the standard error of
    that difference over seeds: the rule picks the best mean even when the lead is inside the seed noise, and a
    reader deciding on a default needs to see that. No standard error from a single seed."""
    ok = sorted(_eligible(rows, reference, tolerance), key=lambda r: r["mean"]["val_clean"], reverse=True)
    if len(ok) < 2:
        return None
    row, runner = ok[:2]
    se = (math.sqrt(sum(r["std"].get("val_clean", 0.0) ** 2 / r["seeds"] for r in ok[:2]))
          if all(r["seeds"] > 1 for r in ok[:2]) else None)
    gap = row["mean"]["val_clean"] - runner["mean"]["val_clean"]
    return {"runner_up": runner["setting"], "gap": gap, "standard_error": se,
            "clear": None if se is None else gap > 2 * se}


def test_check(rows: list[dict], chosen: str | None, reference: dict, tolerance: float) -> dict | None:
    """The rule's AutoAttack form on the test split for the chosen setting: reported, never used to choose."""
    row = next((r for r in rows if r["setting"] == chosen), None)
    key = robust_key(reference)
    if row is None or key is None or key not in row["mean"]:
        return None
    return {"metric": key, "chosen": row["mean"][key], "reference": reference[key],
            "holds": row["mean"][key] >= reference[key] - tolerance / 100}


def write_tables(out: Path, rows: list[dict], reference: dict | None, tolerance: float,
                 machines: str | None = None) -> None:
    """sweep.md, sweep.csv and sweep.json; `machines` (a `machines_summary` line) goes under the table,
    since a sweep resumed on another machine mixes machine spread into its means."""
    out.mkdir(parents=True, exist_ok=True)
    tests = sorted({k for r in rows for k in r["mean"] if k not in VALIDATION}, key=lambda k: (k != "clean", k))
    cols = [k for k in VALIDATION if any(k in r["mean"] for r in rows)] + tests
    chosen = choose(rows, reference, tolerance) if reference else None
    check = test_check(rows, chosen, reference, tolerance) if reference else None
    lead = choice_lead(rows, reference, tolerance) if reference else None
    lines = ["| setting | seeds | diverged | n | " + " | ".join(cols) + " |", "|---" * (len(cols) + 4) + "|"]
    for r in rows:
        cells = [f"{100 * r['mean'][c]:.2f} ± {100 * r['std'].get(c, 0.0):.2f}" if c in r["mean"] else "–"
                 for c in cols]
        mark = " **(chosen)**" if r["setting"] == chosen else ""
        lines.append(f"| {r['setting']}{mark} | {r['seeds']} | {r.get('diverged', 0)} | {r['n']} | "
                     + " | ".join(cells) + " |")
    lines += ["", "val_clean / val_pgd: validation metrics of each run's `best` checkpoint; the other columns are "
              "the test split. diverged: seeds the NaN guard stopped (not in the means)."]
    failed = [f"{r['setting']} ({r['at_chance']} of {r['seeds']})" for r in rows if r.get("at_chance")]
    if failed:
        lines.append(f"At chance level at the end of training (in the means, never chosen): {', '.join(failed)}.")
    if machines:
        lines.append(machines)
    if reference:
        ref_val = f"{100 * reference['val_pgd']:.2f} %" if "val_pgd" in reference else "missing"
        lines.append(f"Reference val_pgd: {ref_val}; rule (on validation): best val_clean with val_pgd >= reference "
                     f"- {tolerance} points; chosen: {chosen or 'none satisfies the rule'}.")
        if lead:
            lines.append(_lead_line(lead))
        if check:
            lines.append(f"Test check of the choice (not used to choose): {check['metric']} "
                         f"{100 * check['chosen']:.2f} % vs reference {100 * check['reference']:.2f} % - {tolerance} "
                         f"points: {'holds' if check['holds'] else 'does NOT hold'}.")
    (out / "sweep.md").write_text("\n".join(lines) + "\n")
    with open(out / "sweep.csv", "w") as f:
        f.write("setting,seeds,n," + ",".join(f"{c}_mean,{c}_std" for c in cols) + "\n")
        for r in rows:
            vals = [f"{r['mean'].get(c, '')},{r['std'].get(c, '')}" for c in cols]
            f.write(f"{r['setting']},{r['seeds']},{r['n']}," + ",".join(vals) + "\n")
    (out / "sweep.json").write_text(json.dumps({"rows": rows, "reference": reference, "chosen": chosen,
                                                "selected_on": "validation", "test_check": check,
                                                "choice_lead": lead}, indent=2))


def _lead_line(lead: dict) -> str:
    text = (f"Lead of the choice: val_clean {100 * lead['gap']:.2f} points above the runner-up "
            f"({lead['runner_up']})")
    if lead["standard_error"] is None:
        return text + "; one seed, so no seed spread to judge it by."
    verdict = "more than 2 standard errors" if lead["clear"] else "within the seed noise (under 2 standard errors)"
    return text + f", standard error {100 * lead['standard_error']:.2f} points over seeds: {verdict}."
