"""scripts/paired_runs.py: paired clean accuracy of two runs on the same validation and test points."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from advdpnp.train.trainer import Trainer

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "paired_runs.py"
_spec = importlib.util.spec_from_file_location("paired_runs", SCRIPT)
paired_runs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(paired_runs)
sign_test = paired_runs.sign_test


def _script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True)


def test_sign_test_is_the_exact_two_sided_binomial():
    assert sign_test(0, 0) == 1.0
    assert sign_test(3, 3) == 1.0
    assert sign_test(0, 5) == pytest.approx(2 / 32)
    assert sign_test(9, 1) == pytest.approx(2 * 11 / 1024)
    assert sign_test(1, 9) == sign_test(9, 1)


def test_pairs_count_the_points_only_one_run_gets_right(tiny_cfg, tmp_path):
    runs = []
    for seed in (0, 1):
        d = tmp_path / f"s{seed}"
        Trainer(tiny_cfg(f"train.seed={seed}"), d).fit()
        runs.append(str(d))
    res = _script(runs[0], runs[1], runs[0], runs[0], "--n", "50")
    assert res.returncode == 0, res.stderr
    rows = [line.split(" | ") for line in res.stdout.splitlines() if line.startswith("| s")]
    assert [(r[0], r[1], r[2]) for r in rows] == [("| s0", "s1", "val"), ("| s0", "s1", "test"),
                                                  ("| s0", "s0", "val"), ("| s0", "s0", "test")]
    for r in rows:
        n, acc_a, acc_b, only_a, only_b = int(r[3]), float(r[4]), float(r[5]), int(r[6]), int(r[7])
        # the accuracy gap is exactly the discordant points' balance
        assert round(acc_a - acc_b, 1) == round(100 * (only_a - only_b) / n, 1)
    assert rows[2][6:8] == ["0", "0"] and rows[2][9] == "1 |"  # a run against itself: nothing discordant
    assert sum(int(r[6]) + int(r[7]) for r in rows[:2]) > 0  # two seeds do disagree somewhere
    assert "| all pairs | | val | 100 |" in res.stdout


def test_bad_inputs_are_one_line_errors(tiny_cfg, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    Trainer(tiny_cfg(), a).fit()
    Trainer(tiny_cfg("data.split_seed=1"), b).fit()
    res = _script(str(a), str(b))
    assert res.returncode == 1 and "split the data differently" in res.stderr and "Traceback" not in res.stderr
    assert _script(str(a)).returncode == 2
    res = _script(str(a), str(tmp_path / "nope"))
    assert res.returncode == 2 and "not a run folder" in res.stderr
    assert "--splits" in _script(str(a), str(a), "--splits", "train").stderr
