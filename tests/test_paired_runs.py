"""scripts/paired_runs.py: paired clean, PGD and AutoAttack accuracy of two runs on the same validation and test points."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from advdpnp.cli import main
from advdpnp.train.checkpoint import atomic_save, safe_load
from advdpnp.train.trainer import Trainer

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "paired_runs.py"
_spec = importlib.util.spec_from_file_location("paired_runs", SCRIPT)
paired_runs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(paired_runs)
sign_test = paired_runs.sign_test
p_text = paired_runs.p_text


def _script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True)


def test_a_p_value_below_the_smallest_float_prints_its_exponent_not_zero():
    assert sign_test(5000, 0) == 0.0  # the float underflows: 2 / 2**5000
    assert p_text(5000, 0) == "1.4e-1505"  # log10(2 / 2**5000) = -1504.85
    # 2 (1 + 4946 + 4946 * 4945 / 2) / 2**4946: log10 = 7.3886 - 1488.894 = -1481.505
    assert p_text(4944, 2) == p_text(2, 4944) == "3.1e-1482"
    assert p_text(9, 1) == f"{2 * 11 / 1024:.2g}" == "0.021"  # in range: the float's own digits


def test_sign_test_is_the_exact_two_sided_binomial():
    assert sign_test(0, 0) == 1.0
    assert sign_test(3, 3) == 1.0
    assert sign_test(0, 5) == pytest.approx(2 / 32)
    assert sign_test(9, 1) == pytest.approx(2 * 11 / 1024)
    assert sign_test(1, 9) == sign_test(9, 1)


def test_runs_are_named_by_as_few_folder_parts_as_tell_them_apart():
    assert paired_runs.labels(["runs/a/s0", "runs/b/s1"]) == {"runs/a/s0": "s0", "runs/b/s1": "s1"}
    assert paired_runs.labels(["w/fmnist-adv_dpnp/base-s0", "w/fmnist-pgd_at/base-s0"]) == {
        "w/fmnist-adv_dpnp/base-s0": "fmnist-adv_dpnp/base-s0", "w/fmnist-pgd_at/base-s0": "fmnist-pgd_at/base-s0"}
    assert paired_runs.labels(["x/run", "x/./run"]) == {"x/run": "x/run", "x/./run": "x/./run"}


def test_tables_name_runs_that_share_a_folder_name_apart(capsys):
    a, b = "w/fmnist-adv_dpnp/base-s0", "w/fmnist-pgd_at/base-s0"
    flags = {a: {("clean", "test"): torch.tensor([True, True])}, b: {("clean", "test"): torch.tensor([True, False])}}
    paired_runs.print_table("clean", [(a, b)], flags, ["test"])
    assert "| fmnist-adv_dpnp/base-s0 | fmnist-pgd_at/base-s0 | test | 2 | 100.0 | 50.0 | 1 | 0 | +50.0 | 1 |" in \
        capsys.readouterr().out


def test_pooled_row_gives_each_sides_mean_and_the_pairs_spread(capsys):
    t = lambda *v: torch.tensor([bool(x) for x in v])  # noqa: E731
    flags = {r: {("clean", "test"): f} for r, f in
             {"a0": t(1, 1, 1, 1), "a1": t(1, 1, 0, 0), "b0": t(1, 1, 0, 0), "b1": t(1, 0, 0, 0)}.items()}
    paired_runs.print_table("clean", [("a0", "b0"), ("a1", "b1"), ("a0", "b1")], flags, ["test"])
    # A: a0 and a1 once each (100 %, 50 %), though a0 is in two pairs; A - B per pair: +50, +25, +75
    assert "| all pairs | | test | 12 | 75.0 ± 35.4 | 37.5 ± 17.7 | 6 | 0 | +50.0 ± 25.0 | – |" in \
        capsys.readouterr().out


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
    assert "invalid choice: 'prev'" in _script(str(a), str(a), "--which", "prev").stderr
    (b / "checkpoints" / "best.pt").write_bytes(b"not a checkpoint")  # damaged weights: one line, no traceback
    res = _script(str(b), str(b), "--n", "8")
    assert res.returncode == 1 and res.stderr.startswith("error: checkpoint") and "is corrupt or truncated" in \
        res.stderr and "Traceback" not in res.stderr


def test_pgd_reading_repeats_the_suites_pgd_flags(tiny_cfg, tmp_path):
    # batches of 4 make the script attack the (62) test points in two chunks of 32: the random starts must
    # follow each point's index in the split, as the suite's do
    opts = ("eval.batch_size=4", "eval.pgd_steps=3")
    runs = []
    for seed in (0, 1):
        d = tmp_path / f"s{seed}"
        Trainer(tiny_cfg(f"train.seed={seed}", *opts), d).fit()
        runs.append(str(d))
    assert main(["eval", runs[0], "--suite", "quick", "--n", "64", "--device", "cpu", "--no-progress"]) == 0
    suite = json.loads((Path(runs[0]) / "results.json").read_text())["per_sample"]
    _, attack = paired_runs.run_settings(runs[0])
    flags = paired_runs.correct(runs[0], ["test"], 64, "best", attack)
    assert attack[1] == 3 and flags["clean", "test"].int().tolist() == suite["clean"]
    assert flags["pgd3", "test"].int().tolist() == suite["pgd3"]
    assert 0 < sum(suite["pgd3"]) < sum(suite["clean"])  # the attack breaks some points, not all
    res = _script(*runs, "--pgd", "--splits", "test", "--n", "64")
    assert res.returncode == 0, res.stderr
    pgd_rows = res.stdout.split("Under PGD-3 at eps")[1].splitlines()
    row = next(r for r in pgd_rows if r.startswith("| s0 | s1 | test |")).split(" | ")
    assert int(row[3]) == len(suite["pgd3"]) and float(row[4]) == round(100 * sum(suite["pgd3"]) / int(row[3]), 1)
    res = _script(*runs, "--pgd", "--eps", "0")
    assert res.returncode == 2 and "--eps must be a radius > 0" in res.stderr


def test_pgd_reading_refuses_runs_attacked_differently(tiny_cfg, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    Trainer(tiny_cfg("eval.pgd_steps=2"), a).fit()
    Trainer(tiny_cfg("eval.pgd_steps=3"), b).fit()
    res = _script(str(a), str(b), "--pgd", "--n", "8")
    assert res.returncode == 1 and "PGD settings differ" in res.stderr and "Traceback" not in res.stderr
    assert _script(str(a), str(b), "--n", "8").returncode == 0  # the clean reading alone does not care


def test_cache_is_read_back_and_keyed_by_the_weights(tiny_cfg, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for seed, d in enumerate((a, b)):
        Trainer(tiny_cfg(f"train.seed={seed}", "eval.pgd_steps=2"), d).fit()
    args = (str(a), str(b), "--pgd", "--cache", "--n", "32")
    first = _script(*args)
    assert first.returncode == 0, first.stderr
    files = list((a / "paired_flags").glob("*.pt"))
    assert len(files) == 1 and files[0].name.startswith("best-") and files[0].name.endswith("-n32.pt")
    assert _script(*args).stdout == first.stdout
    saved = torch.load(files[0], weights_only=True)
    assert set(saved) == {"clean/val", "clean/test", "pgd2-eps0.2-step0.05-restarts1-seed0/val",
                          "pgd2-eps0.2-step0.05-restarts1-seed0/test"}
    saved["clean/test"] = ~saved["clean/test"]  # the tables must come from the file, not a fresh reading
    atomic_save(saved, files[0], keep_previous=False)
    assert _script(*args).stdout != first.stdout
    ckpt = a / "checkpoints" / "best.pt"  # other weights: a new file, read afresh
    state = safe_load(ckpt)
    state["model"] = {k: v + 0.01 if v.is_floating_point() else v for k, v in state["model"].items()}
    atomic_save(state, ckpt, keep_previous=False)
    assert _script(*args).returncode == 0 and len(list((a / "paired_flags").glob("*.pt"))) == 2


def test_stored_flags_serve_fewer_points_and_a_checkpoint_with_the_same_weights(tiny_cfg, tmp_path, monkeypatch):
    run, fresh = tmp_path / "r", tmp_path / "fresh"
    Trainer(tiny_cfg("eval.pgd_steps=2"), run).fit()
    shutil.copytree(run, fresh)  # the same weights, no stores: read afresh
    _, attack = paired_runs.run_settings(str(run), eps=0.05)
    aa = (attack[0], attack[4])
    whole = paired_runs.correct(str(run), ["test"], 40, "best", attack, cache=True, aa=aa)
    assert 0 < whole["pgd2", "test"].sum() < whole["clean", "test"].sum()  # flags that could differ
    pgd_key, aa_key = "pgd2-eps0.05-step0.0125-restarts1-seed0/test", "aa-custom-eps0.05-seed0-block250/test"
    short = paired_runs.stored_flags(run, "best", 32)
    # clean and PGD (seeded by point index) give their first 32 points; AutoAttack attacked the 40 points as one
    # block, so its flags on 32 could differ from a reading of 32: not served
    assert sorted(short) == ["clean/test", pgd_key]
    alone = paired_runs.correct(str(fresh), ["test"], 32, "best", attack)
    assert torch.equal(short["clean/test"], alone["clean", "test"])
    assert torch.equal(short[pgd_key], alone["pgd2", "test"])
    # one epoch: best.pt and last.pt hold the same weights, so best's readings are last's, at any n
    last = paired_runs.stored_flags(run, "last", 40)
    keys = {"clean/test": ("clean", "test"), pgd_key: ("pgd2", "test"), aa_key: ("aa", "test")}
    assert last.keys() == keys.keys() and all(torch.equal(last[k], whole[keys[k]]) for k in keys)
    for module, name in (("advdpnp.evaluate.accuracy", "clean_correct"), ("advdpnp.evaluate.accuracy", "pgd_correct"),
                         ("advdpnp.attacks.autoattack", "autoattack_correct")):
        monkeypatch.setattr(f"{module}.{name}", lambda *a, **k: pytest.fail("a stored reading was made again"))
    again = paired_runs.correct(str(run), ["test"], 40, "last", attack, cache=True, aa=aa)
    assert again.keys() == whole.keys() and all(torch.equal(again[k], whole[k]) for k in whole)
    monkeypatch.undo()
    ckpt = run / "checkpoints" / "last.pt"  # other weights: nothing shared
    state = safe_load(ckpt)
    state["model"] = {k: v + 0.01 if v.is_floating_point() else v for k, v in state["model"].items()}
    atomic_save(state, ckpt, keep_previous=False)
    assert paired_runs.stored_flags(run, "last", 40) == {}


def test_autoattack_reading_repeats_the_suites_flags_and_resumes(tiny_cfg, tmp_path, monkeypatch):
    """--aa must give the suite's AutoAttack flags (its seed and blocks), and with --cache a killed reading
    resumes from AutoAttack's state file, which goes once the flags are stored."""
    import advdpnp.attacks.autoattack as autoattack

    run = tmp_path / "r"
    Trainer(tiny_cfg("eval.seed=3"), run).fit()
    assert main(["eval", str(run), "--suite", "paper", "--n", "40", "--eps", "0.05", "--check-points", "8",
                 "--square-queries", "20", "--transfer-epochs", "0", "--no-progress", "--device", "cpu"]) == 0
    suite = json.loads((run / "results.json").read_text())["per_sample"]
    assert 0 < sum(suite["autoattack"]) < sum(suite["clean"])  # the attack breaks some points, not all
    _, attack = paired_runs.run_settings(str(run), eps=0.05)
    aa = (attack[0], attack[4])
    calls = []  # a tiny model's flags hardly depend on the random starts: check the seed reaches the attack
    real = autoattack.autoattack_correct
    monkeypatch.setattr(autoattack, "autoattack_correct", lambda *a, **k: calls.append(k) or real(*a, **k))
    assert paired_runs.correct(str(run), ["test"], 40, "best", aa=aa)["aa", "test"].int().tolist() == \
        suite["autoattack"]
    assert [(c["seed"], c["block"]) for c in calls] == [(3, 250)]

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("advdpnp.train.checkpoint.atomic_save", killed)  # killed before the flags were stored
    with pytest.raises(KeyboardInterrupt):
        paired_runs.correct(str(run), ["test"], 40, "best", cache=True, aa=aa)
    monkeypatch.undo()
    (state,) = (run / "paired_flags").glob("*-aa-test.json")
    resumed = json.loads(state.read_text())
    resumed["flags"] = [0] * len(resumed["flags"])  # every block is done: a resumed reading keeps these flags
    state.write_text(json.dumps(resumed))
    assert not paired_runs.correct(str(run), ["test"], 40, "best", cache=True, aa=aa)["aa", "test"].any()
    assert not list((run / "paired_flags").glob("*.json"))
    res = _script(str(run), str(run), "--aa", "--eps", "0.05", "--cache", "--splits", "test", "--n", "40")
    assert res.returncode == 0, res.stderr
    assert "| r | r | test | 40 | 0.0 | 0.0 | 0 | 0 | +0.0 | 1 |" in res.stdout.split("Under AutoAttack at eps 0.05")[1]


def test_autoattack_reading_refuses_runs_attacked_with_other_seeds(tiny_cfg, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    Trainer(tiny_cfg(), a).fit()
    Trainer(tiny_cfg("eval.seed=1"), b).fit()
    res = _script(str(a), str(b), "--aa", "--n", "8")
    assert res.returncode == 1 and "AutoAttack settings differ" in res.stderr and "Traceback" not in res.stderr
