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
