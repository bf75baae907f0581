"""`advdpnp eval RUN_DIR|CKPT --suite quick|paper|full`: robustness suite on the test split -> results.json.

`advdpnp eval --plan FILE --jobs N` runs several evaluations (one per line of FILE, each with its own target,
suite and --out) as one queue of N processes: on a CPU machine, N single-threaded AutoAttack runs finish sooner
than one after the other with every core each. A line whose results file already answers it is skipped, so an
interrupted plan continues.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from ..locks import PathLock
from ._common import (add_checkpoint_argument, add_dry_run_argument, add_points_argument, add_threads_argument,
                      apply_threads, write_json)

NAME = "eval"
HELP = "evaluate a trained run on the test split (attack suite, masking checks, corruptions) -> results.json"
ORDER = 20
PLAN_CALL_OPTIONS = ("plan", "jobs", "dry_run")  # given to the call that reads a plan, not on its lines


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", nargs="?", metavar="RUN_DIR|CKPT", help="the run (its best checkpoint by default), "
                   "a checkpoint file or an `advdpnp export` folder; not with --plan")
    p.add_argument("--suite", choices=("quick", "paper", "full"), default="quick",
                   help="quick: clean, FGSM, PGD-20; paper: + CW-inf, AutoAttack (APGD-CE + APGD-T), adaptive "
                        "prototype attacks, masking checks, eps curve; full: paper with AutoAttack standard")
    add_checkpoint_argument(p)
    add_points_argument(p, "number of test points, the first n of the split (default: all)")
    p.add_argument("--eps", type=float, help="L-inf radius (default: the run's training eps)")
    p.add_argument("--aa-variant", choices=("custom", "standard"),
                   help="AutoAttack variant (default: custom for paper, standard for full)")
    p.add_argument("--transfer-from", metavar="RUN_DIR", help="standard model for the transfer check "
                   "(default: train one of the same architecture into RUN_DIR/transfer_source)")
    p.add_argument("--transfer-epochs", type=int, default=5,
                   help="epochs of that standard source model (0: skip the transfer check)")
    p.add_argument("--check-points", type=int, default=200, help="points for the costly masking checks")
    p.add_argument("--square-queries", type=int, default=1000, help="query budget of the Square check")
    p.add_argument("--corruptions", metavar="DIR", help="folder of CIFAR-10-C/-100-C style .npy files "
                   "(official, or made by `advdpnp corrupt`)")
    p.add_argument("--batch-size", type=int, help="evaluation batch size (default: the run's eval.batch_size)")
    add_threads_argument(p)
    p.add_argument("--device", default="auto")
    p.add_argument("--data-root", help="dataset folder if it moved since training")
    p.add_argument("--out", help="results file (default: RUN_DIR/results.json)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--plan", metavar="FILE",
                   help="run several evaluations as one queue: each line of FILE holds one evaluation's arguments "
                        "(RUN_DIR|CKPT --suite ... --out ...; '#' starts a comment); a line is skipped when its "
                        "results file answers it (same suite and, where the line sets them, eps, points, checkpoint, "
                        "AutoAttack variant, corruptions)")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="with --plan: evaluations at a time, each in a process of its own with 1/N of the CPU "
                        "cores as torch threads and its output in its results file's name + .log (default 1)")
    add_dry_run_argument(p, "--plan's evaluations")


def _check(args: argparse.Namespace) -> None:
    from ..errors import UserError

    for name in ("n", "batch_size", "check_points", "square_queries", "transfer_epochs"):
        v = getattr(args, name)
        low = 0 if name == "transfer_epochs" else 1
        if v is not None and v < low:
            raise UserError(f"--{name.replace('_', '-')} must be >= {low}, got {v}")
    if args.eps is not None and args.eps < 0:
        raise UserError(f"--eps must be >= 0, got {args.eps}")


def run(args: argparse.Namespace) -> int:
    from ..errors import UserError

    if args.plan:
        return run_plan(args)
    if args.target is None:
        raise UserError("give the RUN_DIR|CKPT to evaluate, or --plan FILE")
    if args.jobs != 1:
        raise UserError("--jobs runs the lines of a --plan side by side; one evaluation takes --threads")
    if args.dry_run:
        raise UserError("--dry-run lists what a --plan would evaluate; give --plan FILE")
    _check(args)
    apply_threads(args.threads)
    _, run_dir, out = _paths(args)
    out.parent.mkdir(parents=True, exist_ok=True)  # AutoAttack's resume file goes there before the results
    with ResultsLock(out):
        return _evaluate(args, run_dir, out)


class ResultsLock(PathLock):
    """One evaluation per results file (`.NAME.lock` beside it): two would overwrite each other's results and
    share one AutoAttack resume file, e.g. the same plan run by two calls at once."""

    def __init__(self, out: Path) -> None:
        super().__init__()
        self.out = out

    def lock_file(self) -> Path:
        return self.out.parent / f".{self.out.name}.lock"

    def in_use(self, owner: str) -> UserError:
        from ..errors import UserError

        return UserError(f"results file {self.out} is being written by another evaluation (PID {owner}); "
                         "wait for it to finish or give another --out")


def _evaluate(args: argparse.Namespace, run_dir: Path, out: Path) -> int:
    """The suite on the test split, written to `out` (the caller holds its lock)."""
    import torch

    from ..attacks.adaptive import class_centroids
    from ..evaluate.basic import format_table
    from ..evaluate.curves import plot_curve
    from ..evaluate.load import load_run
    from ..evaluate.suite import SuiteParams, run_suite
    from ..evaluate.load import checkpoint_epoch
    from ..train import distributed
    from .train import run_metadata

    device = distributed.init_device(args.device)  # under torchrun the suite's attacks are sharded
    cfg, model, data, ckpt = load_run(args.target, args.checkpoint, str(device), args.data_root)
    is_dir = Path(args.target).is_dir()
    e = cfg.eval
    n = min(args.n or e.n or len(data.test_y), len(data.test_y))
    x, y = data.test_x[:n], data.test_y[:n]
    eps = args.eps if args.eps is not None else cfg.attack.eps
    params = SuiteParams(eps=eps, suite=args.suite, steps=e.pgd_steps, alpha=e.pgd_alpha, restarts=e.pgd_restarts,
                         seed=e.seed, batch_size=args.batch_size or e.batch_size, aa_variant=args.aa_variant,
                         check_points=args.check_points, square_queries=args.square_queries,
                         progress=not args.no_progress and distributed.is_main())
    rank_tag = f"-rank{distributed.rank()}" if distributed.rank() else ""  # one AutoAttack state per rank
    params.aa_state = aa_state_path(out, ckpt, params.variant, eps, n, rank_tag)
    centroids = transfer = None
    if args.suite != "quick":
        if not model.has_prototypes:
            centroids = class_centroids(model, data.train_x, data.train_y, data.num_classes, params.batch_size)
        transfer = _transfer_source(args, cfg, run_dir, model.mean.device)
    results = {"dataset": data.name, "split": "test", "n": n, "split_size": len(data.test_y), "threat_model": "Linf",
               "eps": eps}
    results.update(run_metadata(cfg, args.checkpoint if is_dir else str(ckpt), checkpoint_epoch(ckpt)))
    results["suite"] = args.suite
    results.update(run_suite(model, x, y, params, torch.arange(n), centroids, transfer))
    if "eps_curve" in results and distributed.is_main():
        # next to a named --out file, named for it: several runs evaluated into one folder keep their own
        name = f"eps_curve-{ckpt.stem}.png" if out.name == "results.json" else f"{out.stem}-eps_curve.png"
        png = plot_curve(results["eps_curve"], out.parent / name,
                         f"{cfg.method['name']} {data.name}: PGD-{params.steps} accuracy vs eps (n={n})")
        results["eps_curve"]["png"] = png.name
    if args.corruptions:
        from ..evaluate.corruptions import evaluate_corruptions

        results["corruptions"] = evaluate_corruptions(model, Path(args.corruptions), data.name, args.n,
                                                      batch_size=params.batch_size, device=model.mean.device,
                                                      progress=not args.no_progress)
    if not distributed.is_main():
        params.aa_state.unlink(missing_ok=True)
        return 0
    write_json(results, out)
    params.aa_state.unlink(missing_ok=True)  # finished: the results hold everything the state did
    print(format_table(results))
    print(_summary(results))
    print(f"written {out}")
    return 0


def run_plan(args: argparse.Namespace) -> int:
    """`--plan FILE`: every line checked (arguments, target, results file) before the first evaluation starts,
    then the ones still to do, `--jobs` at a time."""
    from ..errors import UserError
    from ._common import read_plan_lines, refuse_beside_plan
    from ._pool import Job, check_jobs, run_in_processes
    from .sweep import headline

    check_jobs(args.jobs)
    refuse_beside_plan(args, add_arguments, PLAN_CALL_OPTIONS)
    lines = read_plan_lines(Path(args.plan), "advdpnp eval", add_arguments, PLAN_CALL_OPTIONS, "evaluation")
    pending = _pending(Path(args.plan), lines, args.jobs)
    if args.dry_run:
        for line, out in pending:
            print(f"[eval] would evaluate line {line.line}: {line.target} --suite {line.suite} -> {out}")
        print(f"[eval] dry run: {len(pending)} of {len(lines)} evaluations to do; nothing was run")
        return 0
    if args.jobs > 1 and len(pending) > 1:
        jobs = [Job(str(out), out.with_name(out.name + ".log"), _evaluate_line, line) for line, out in pending]
        run_in_processes(jobs, args.jobs, "eval", "evaluation", "its results file's name + .log",
                         lambda job: headline(Path(job.name)))
    else:
        for line, out in pending:
            print(f"[eval] line {line.line}: {line.target} -> {out}")
            try:
                run(line)
            except UserError as e:
                raise UserError(f"--plan {args.plan} line {line.line}: {e}") from None
    return 0


def _pending(plan: Path, lines: list[argparse.Namespace], jobs: int) -> list[tuple[argparse.Namespace, Path]]:
    """The plan's evaluations still to run, with their results files; a line that cannot run, or would clash
    with another running beside it, is a one-line error naming it."""
    from ..errors import UserError

    pending, outs, sources = [], {}, {}
    for line in lines:
        try:
            if line.target is None:
                raise UserError("names no RUN_DIR|CKPT to evaluate")
            _check(line)
            _, run_dir, out = _paths(line)
        except UserError as e:
            raise UserError(f"--plan {plan} line {line.line}: {e}") from None
        first = outs.setdefault(out.resolve(), line.line)
        if first != line.line:
            raise UserError(f"--plan {plan} lines {first} and {line.line} write one results file ({out}): "
                            "give each its own --out")
        why = _unanswered(line, out)
        if why is None:
            print(f"[eval] done already: {out}")
            continue
        if why:
            print(f"[eval] to evaluate again: {out} ({why})")
        if jobs > 1 and _trains_transfer_source(line, run_dir):
            first = sources.setdefault(run_dir.resolve(), line.line)
            if first != line.line:  # two processes training one folder would overwrite each other's checkpoints
                raise UserError(f"--plan {plan} lines {first} and {line.line} would both train "
                                f"{run_dir / 'transfer_source'} at once: give them --transfer-from, or --jobs 1")
        pending.append((line, out))
    return pending


def _unanswered(line: argparse.Namespace, out: Path) -> str | None:
    """Why `out` does not answer a plan line: '' when it does not exist, a reason when its results are of
    another suite, eps, number of points, checkpoint, AutoAttack variant or lack the corruptions; None when
    it answers the line, which is then skipped."""
    import json

    if not out.exists():
        return ""
    try:
        results = json.loads(out.read_text())
    except (OSError, ValueError):
        return "its results file does not read"
    wanted = [("suite", line.suite, results.get("suite"))]
    if line.eps is not None:
        wanted.append(("eps", line.eps, results.get("eps")))
    if line.n is not None:  # a request beyond the split evaluated the whole split
        wanted.append(("points", min(line.n, results.get("split_size", line.n)), results.get("n")))
    if Path(line.target).is_dir():
        wanted.append(("checkpoint", line.checkpoint, results.get("checkpoint")))
    if line.aa_variant:
        aa = results.get("attacks", {}).get("autoattack", {})
        wanted.append(("AutoAttack variant", line.aa_variant, aa.get("variant")))
    if line.corruptions:
        wanted.append(("corruptions", True, "corruptions" in results))
    for what, want, have in wanted:
        if want != have:
            return f"{what}: {have} there, {want} asked"
    return None


def _evaluate_line(line: argparse.Namespace) -> str:
    """One plan line in a worker process (see `_pool`)."""
    run(line)
    return "evaluated"


def _paths(args: argparse.Namespace) -> tuple[Path, Path, Path]:
    """An evaluation's checkpoint, run folder (where a transfer source is trained) and results file."""
    from ..evaluate.load import checkpoint_path

    ckpt = checkpoint_path(args.target, args.checkpoint)
    run_dir = Path(args.target) if Path(args.target).is_dir() else ckpt.parent.parent
    return ckpt, run_dir, Path(args.out) if args.out else run_dir / "results.json"


def aa_state_path(out: Path, ckpt: Path, variant: str, eps: float, n: int, rank_tag: str = "") -> Path:
    """AutoAttack's resume file next to `out`, named for the checkpoint's path and `out`'s name: evaluations
    written to one folder (e.g. `--out full/NAME.json`, or one checkpoint under two settings) run concurrently
    without sharing it."""
    tag = hashlib.sha1(f"{ckpt.resolve()}|{out.name}".encode()).hexdigest()[:8]
    return out.parent / f".autoattack-{ckpt.stem}-{tag}-{variant}-eps{eps:g}-n{n}{rank_tag}.state.json"


def _trains_transfer_source(args: argparse.Namespace, run_dir: Path) -> bool:
    """Whether this evaluation trains RUN_DIR/transfer_source (no --transfer-from given, none trained yet)."""
    return (args.suite != "quick" and not args.transfer_from and args.transfer_epochs > 0
            and not (run_dir / "transfer_source" / "checkpoints" / "last.pt").is_file())


def _transfer_source(args: argparse.Namespace, cfg, run_dir: Path, device):
    """The standard model for the transfer check: given, cached, or trained briefly now."""
    from ..evaluate.load import load_checkpoint_model

    if args.transfer_from:
        from ..paths import find_checkpoint

        return load_checkpoint_model(find_checkpoint(args.transfer_from, "last"), device)[1]
    if args.transfer_epochs == 0:
        return None
    src_dir = run_dir / "transfer_source"
    last = src_dir / "checkpoints" / "last.pt"
    if _trains_transfer_source(args, run_dir):
        import copy

        from ..methods import validate_method_options
        from ..train.trainer import Trainer

        src = copy.deepcopy(cfg)
        src.method = validate_method_options({"name": "standard"})
        src.model.head = "linear"
        src.train.epochs = args.transfer_epochs
        src.train.progress = not args.no_progress
        src.name = "transfer_source"
        print(f"training a standard {cfg.model.arch} for {args.transfer_epochs} epochs as transfer source "
              f"-> {src_dir}")
        Trainer(src, src_dir).fit()
    return load_checkpoint_model(last, device)[1]


def _summary(results: dict) -> str:
    lines = [f"worst case over {', '.join(results['worst_case']['attacks'])}: "
             f"{100 * results['worst_case']['accuracy']:.2f} % (n={results['worst_case']['n']})"]
    aa = results["attacks"].get("autoattack")
    if aa:
        lines.append(f"AutoAttack variant: {aa['variant']} ({' + '.join(aa['components'])}) on {aa['n']} points")
    for name, why in results.get("skipped", {}).items():
        lines.append(f"skipped {name}: {why}")
    for name, c in results.get("masking_checks", {}).items():
        lines.append(f"masking check {name}: {c['verdict'].upper()} - {c['evidence']}")
    if "corruptions" in results:
        c = results["corruptions"]
        lines.append(f"corruptions ({c['source']}, n={c['n']} per severity): mean {100 * c['mean']:.2f} %"
                     + (f"; missing {', '.join(c['missing'])}" if c["missing"] else ""))
    return "\n".join(lines)
