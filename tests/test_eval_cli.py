"""`advdpnp eval` end to end on a tiny trained run: results.json schema, corruptions, eps-curve PNG."""

from __future__ import annotations

import json

import pytest
import torch

from advdpnp.cli import main
from advdpnp.train.trainer import Trainer

KEYS = {"dataset", "split", "n", "threat_model", "eps", "method", "architecture", "head", "checkpoint", "epoch",
        "train_seed", "code_version", "attack_mode", "suite", "attacks", "worst_case", "per_sample"}


@pytest.fixture
def run_dir(tiny_cfg, tmp_path):
    d = tmp_path / "run"
    Trainer(tiny_cfg(), d).fit()
    return d


def test_quick_eval_with_generated_corruptions(run_dir, tmp_path, capsys):
    corr = tmp_path / "corr"
    assert main(["corrupt", str(run_dir), "--n", "8", "--severities", "1", "--corruptions", "fog",
                 "--out", str(corr), "--no-progress"]) == 0
    assert main(["eval", str(run_dir), "--n", "30", "--corruptions", str(corr), "--no-progress"]) == 0
    r = json.loads((run_dir / "results.json").read_text())
    assert KEYS <= set(r) and r["split"] == "test" and r["suite"] == "quick" and r["n"] == 30
    assert set(r["attacks"]) == {"clean", "fgsm", "pgd20"}
    assert all(len(v) == 30 for v in r["per_sample"].values())
    assert r["corruptions"]["source"] == "generated" and r["corruptions"]["n"] == 8
    assert "generated" in capsys.readouterr().out


def test_bad_arguments_are_one_line_errors(run_dir, capsys):
    assert main(["eval", str(run_dir), "--n", "0"]) == 2
    assert "--n must be >= 1" in capsys.readouterr().err


def test_paper_eval_writes_checks_and_curve(run_dir, tmp_path):
    # --out into a folder shared by several runs (as the study scripts do): the curve is named for the file
    out = tmp_path / "full" / "run-s0.json"
    assert main(["eval", str(run_dir), "--suite", "paper", "--n", "20", "--check-points", "10",
                 "--square-queries", "50", "--transfer-epochs", "1", "--no-progress", "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["attacks"]["autoattack"]["variant"] == "custom"
    assert {"eps_monotone", "large_eps", "square", "transfer", "autoattack_flags"} <= set(r["masking_checks"])
    assert r["eps_curve"]["png"] == "run-s0-eps_curve.png" and (out.parent / r["eps_curve"]["png"]).is_file()
    assert not list(out.parent.glob(".autoattack-*.state.json"))  # removed once the evaluation finished


@pytest.mark.parametrize("command", ["eval", "analyze", "corrupt", "sweep"])
def test_points_spells_n_where_torchrun_would_take_it(command):
    """`torchrun -m advdpnp eval RUN --n 500` fails inside torchrun ('ambiguous option: --n could match
    --nnodes, --nproc-per-node...'), so every `--n` also answers to `--points`."""
    from advdpnp.cli import build_parser

    args = ["RUN_DIR"] if command in ("eval", "analyze") else ["CONFIG"] if command == "sweep" else []
    if command == "corrupt":
        args = ["--dataset", "digits"]
    ns = build_parser().parse_args([command, *args, "--points", "37"])
    assert ns.n == 37


@pytest.mark.parametrize("command", ["eval", "analyze"])
def test_threads_is_checked_and_applied_before_any_work(command, tmp_path, capsys):
    """One evaluation per core needs `--threads 1` on both commands; a negative count is a one-line error,
    given before the (missing) run directory is read."""
    assert main([command, str(tmp_path / "missing"), "--threads", "-1"]) == 2
    assert "--threads must be >= 0, got -1" in capsys.readouterr().err
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert main([command, str(tmp_path / "missing"), "--threads", "1"]) == 2  # the run is missing ...
        assert torch.get_num_threads() == 1  # ... but the threads were set first
    finally:
        torch.set_num_threads(before)


def test_a_plan_runs_several_evaluations_as_one_queue(run_dir, tmp_path, capsys):
    """`eval --plan`: the evaluations of the file share one pool of `--jobs`, each writes what a direct call
    writes, and a re-run skips the lines whose results file answers them, but not a line that changed."""
    direct = tmp_path / "direct.json"
    assert main(["eval", str(run_dir), "--n", "20", "--eps", "0.05", "--threads", "1", "--no-progress",
                 "--out", str(direct)]) == 0
    a, b, c = tmp_path / "q" / "a.json", tmp_path / "q r" / "b.json", tmp_path / "q" / "c.json"
    lines = [f"{run_dir} --n 20 --eps 0.05 --threads 1 --no-progress --out {a}",
             f"'{run_dir}' --checkpoint last --n 100 --no-progress --out '{b}'  # beyond the test split",
             f"{run_dir} --suite paper --n 10 --check-points 5 --square-queries 10 --transfer-epochs 0 "
             f"--no-progress --out {c}"]
    plan = tmp_path / "plan.txt"
    plan.write_text("# three evaluations\n\n" + "\n".join(lines) + "\n")
    capsys.readouterr()
    assert main(["eval", "--plan", str(plan), "--jobs", "2", "--dry-run"]) == 0  # lists the lines, runs none
    out = capsys.readouterr().out
    assert out.count("[eval] would evaluate line ") == 3 and f"line 5: {run_dir} --suite paper -> {c}" in out
    assert "[eval] dry run: 3 of 3 evaluations to do" in out and not any(p.parent.exists() for p in (a, b))
    assert main(["eval", "--plan", str(plan), "--jobs", "2"]) == 0
    out = capsys.readouterr().out
    assert "[eval] 3 evaluations, 2 at a time" in out and out.count(" evaluated: ") == 3
    accuracy = {p: {k: v["accuracy"] for k, v in json.loads(p.read_text())["attacks"].items()} for p in (direct, a)}
    assert accuracy[a] == accuracy[direct] and json.loads(a.read_text())["eps"] == 0.05
    rb, rc = json.loads(b.read_text()), json.loads(c.read_text())
    assert rb["checkpoint"] == "last" and rb["n"] == rb["split_size"] < 100
    assert rc["suite"] == "paper" and "autoattack" in rc["attacks"]
    assert "worst case over" in (tmp_path / "q" / "c.json.log").read_text()  # each line's output in its own log

    assert main(["eval", "--plan", str(plan), "--jobs", "2"]) == 0  # answered lines are skipped
    out = capsys.readouterr().out
    assert out.count("[eval] done already") == 3 and "at a time" not in out
    plan.write_text("\n".join([lines[0].replace("--eps 0.05", "--eps 0.06"), *lines[1:]]) + "\n")
    assert main(["eval", "--plan", str(plan), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"[eval] to evaluate again: {a} (eps: 0.05 there, 0.06 asked)" in out and out.count("done already") == 2
    assert "[eval] dry run: 1 of 3 evaluations to do" in out and json.loads(a.read_text())["eps"] == 0.05
    assert main(["eval", "--plan", str(plan)]) == 0  # one line left: evaluated here, not in a pool
    out = capsys.readouterr().out
    assert f"[eval] to evaluate again: {a} (eps: 0.05 there, 0.06 asked)" in out and out.count("done already") == 2
    assert json.loads(a.read_text())["eps"] == 0.06


def test_a_plan_is_checked_whole_before_any_evaluation(run_dir, tmp_path, capsys):
    """A line that cannot run, or that would clash with another running beside it, stops the plan with one
    line naming it before anything is evaluated; options beside --plan, or --jobs without it, are refused."""
    ok = tmp_path / "ok" / "r.json"
    paper = f"{run_dir} --suite paper --n 5 --no-progress"
    bad = {f"{tmp_path / 'missing'} --out {tmp_path / 'x.json'}": "line 2: no run directory or checkpoint at",
           "--n 5": "line 2: names no RUN_DIR|CKPT to evaluate",
           f"{run_dir} --n 0 --out {tmp_path / 'x.json'}": "line 2: --n must be >= 1",
           f"{run_dir} --bogus": "line 2: unrecognized arguments: --bogus",
           f"{run_dir} --jobs 2": "line 2: --plan, --jobs and --dry-run belong to the call that reads the plan",
           f"{run_dir} --dry-run": "line 2: --plan, --jobs and --dry-run belong to the call that reads the plan",
           f"{run_dir} --out {tmp_path / 'ok' / '..' / 'ok' / 'r.json'}": "lines 1 and 2 write one results file",
           f"{paper} --out {tmp_path / 'p2.json'}": f"lines 1 and 2 would both train {run_dir / 'transfer_source'}"}
    for line, needle in bad.items():
        (tmp_path / "bad.txt").write_text(f"{paper} --out {ok}\n{line}\n")
        code, err = main(["eval", "--plan", str(tmp_path / "bad.txt"), "--jobs", "2"]), capsys.readouterr().err
        assert code == 2 and needle in err and err.count("\n") == 1, (line, err)
    assert not ok.exists()
    for argv, needle in ((["--plan", str(tmp_path / "bad.txt"), "--suite", "full"], "(also given: --suite)"),
                         ([str(run_dir), "--jobs", "2"], "--jobs runs the lines of a --plan"),
                         ([str(run_dir), "--dry-run"], "--dry-run lists what a --plan would evaluate"),
                         ([], "give the RUN_DIR|CKPT to evaluate, or --plan FILE"),
                         (["--plan", str(tmp_path / "none.txt")], "No such file"),
                         (["--plan", str(tmp_path / "bad.txt"), "--jobs", "0"], "--jobs must be >= 1")):
        assert main(["eval", *argv]) == 2 and needle in capsys.readouterr().err
    (tmp_path / "empty.txt").write_text("# nothing\n")
    assert main(["eval", "--plan", str(tmp_path / "empty.txt")]) == 2
    assert "holds no evaluation" in capsys.readouterr().err

    (tmp_path / "broken.pt").write_bytes(b"not a checkpoint")  # found, but fails in its worker process
    (tmp_path / "fails.txt").write_text(f"{tmp_path / 'broken.pt'} --out {tmp_path / 'f1.json'}\n"
                                        f"{tmp_path / 'broken.pt'} --out {tmp_path / 'f2.json'}\n")
    assert main(["eval", "--plan", str(tmp_path / "fails.txt"), "--jobs", "2"]) == 2
    err = capsys.readouterr().err.strip()
    log = tmp_path / err.split("its output: ")[-1].split("/")[-1]
    assert err.count("\n") == 0 and "error: evaluation " in err and log.name in ("f1.json.log", "f2.json.log")
    assert "Traceback" in log.read_text()  # the log the error names says what happened
    assert main(["eval", "--plan", str(tmp_path / "fails.txt"), "--jobs", "2"]) == 2
    tries = log.read_text().split("=== ")[1:]  # a plan run again appends to the log: each try under its own header
    assert len(tries) == 2 and all(t.split(" ", 2)[2].startswith(f"{log.with_suffix('')}: started (PID ")
                                   and "Traceback" in t for t in tries), tries
    capsys.readouterr()
    assert main(["eval", "--plan", str(tmp_path / "fails.txt")]) == 2  # one at a time, here: the error names its line
    assert "fails.txt line 1: cannot load checkpoint" in capsys.readouterr().err


def test_a_results_file_being_written_is_refused_then_freed_by_sigkill(run_dir, tmp_path, capsys):
    """Two evaluations into one results file (say, one plan run by two calls at once) would overwrite each
    other's results and share their AutoAttack resume file: the second is refused with one line naming the
    first, and a killed holder leaves nothing behind that blocks the next."""
    import signal
    import subprocess
    import sys

    out = tmp_path / "r.json"
    holder = subprocess.Popen([sys.executable, "-c", "import pathlib, sys, time; from advdpnp.commands.eval import "
                               "ResultsLock; lock = ResultsLock(pathlib.Path(sys.argv[1])).acquire(); "
                               "print('locked', flush=True); time.sleep(60)", str(out)], stdout=subprocess.PIPE,
                              text=True)
    argv = ["eval", str(run_dir), "--n", "8", "--no-progress", "--out", str(out)]
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"results file {out} is being written by another evaluation (PID {holder.pid})" in err
        assert err.count("\n") == 1 and not out.exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert main(argv) == 0 and json.loads(out.read_text())["n"] == 8


def test_a_results_folder_that_cannot_hold_the_lock_is_a_one_line_error(tmp_path):
    """The lock file is the first thing an evaluation writes beside its results: a folder it cannot write there
    must say so in one line, not end in a traceback."""
    from advdpnp.commands.eval import ResultsLock
    from advdpnp.errors import UserError

    with pytest.raises(UserError, match=f"cannot write {tmp_path / 'gone'}: No such file or directory"):
        ResultsLock(tmp_path / "gone" / "r.json").acquire()
