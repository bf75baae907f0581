"""scripts/seed_tables.py: per-run and per-method accuracy from the flags paired_runs.py --cache stored."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from scipy.stats import ttest_ind

from advdpnp.errors import UserError
from advdpnp.train.checkpoint import atomic_save, safe_load
from advdpnp.train.trainer import Trainer

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
if str(SCRIPTS) not in sys.path:  # the script imports its sibling paired_runs, as `python scripts/...` allows
    sys.path.insert(0, str(SCRIPTS))
_spec = importlib.util.spec_from_file_location("seed_tables", SCRIPTS / "seed_tables.py")
seed_tables = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(seed_tables)


def _script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPTS / "seed_tables.py"), *args], capture_output=True, text=True)


def _row(label: str, seed: int, **acc: float) -> dict:
    return {"label": label, "seed": seed, "epoch": 6, "run": Path(f"{label}-s{seed}"), "points": 100, "acc": acc}


def test_method_rows_give_seed_spread_and_welchs_test_of_the_reference():
    rows = [_row("adv_dpnp", s, clean=c, aa=a) for s, (c, a) in enumerate([(80, 58), (81, 59), (79, 57.5)])]
    rows += [_row("pgd_at", 0, clean=74, aa=55), _row("pgd_at", 1, clean=75, aa=55.5), _row("pgd_at", 2, clean=73)]
    out = seed_tables.tables(rows, "adv_dpnp").splitlines()
    assert "| pgd_at | 2 | 6 | 73.00 | – |" in out  # a reading a run lacks is a gap, not a zero
    # unequal seed counts and spreads: Welch's p differs from Student's (equal_var=True) here
    p_clean = ttest_ind([80, 81, 79], [74, 75, 73], equal_var=False).pvalue
    p_aa = ttest_ind([58, 59, 57.5], [55, 55.5], equal_var=False).pvalue
    assert f"{p_aa:.2g}" != f"{ttest_ind([58, 59, 57.5], [55, 55.5]).pvalue:.2g}"
    assert f"| pgd_at | 3 | 74.0 ± 1.0 | 55.2 ± 0.4 (2) | +6.0 ({p_clean:.2g}) | +2.9 ({p_aa:.2g}) |" in out
    assert "| adv_dpnp | 3 | 80.0 ± 1.0 | 58.2 ± 0.8 |  |  |" in out
    assert out[0] == "| method | seed | epoch | clean | AutoAttack |"


def test_without_a_reference_or_a_second_seed_nothing_is_tested():
    rows = [_row("a", 0, clean=80), _row("b", 0, clean=70), _row("b", 1, clean=72)]
    assert "| a | 1 | 80.0 |" in seed_tables.tables(rows, None).splitlines()
    assert "| b | 2 | 71.0 ± 1.4 | – |" in seed_tables.tables(rows, "a").splitlines()


def test_columns_are_ordered_and_two_pgd_settings_keep_their_keys():
    rows = [_row("a", 0, **{"aa-custom-eps0.1": 50, "pgd20-eps0.1": 60, "clean": 80})]
    assert seed_tables.tables(rows, None).splitlines()[0] == "| method | seed | epoch | clean | PGD-20 | AutoAttack |"
    rows.append(_row("a", 1, **{"pgd20-eps0.2": 40, "clean": 81}))
    head = seed_tables.tables(rows, None).splitlines()[0]
    assert head == "| method | seed | epoch | clean | pgd20-eps0.1 | pgd20-eps0.2 | aa-custom-eps0.1 |"


def test_a_change_read_on_fewer_runs_than_its_method_holds_says_so():
    def row(seed: int, epoch: int, clean: list[int], aa: list[int] | None = None) -> dict:
        flags = {"clean": torch.tensor(clean, dtype=torch.bool)}
        if aa is not None:
            flags["aa"] = torch.tensor(aa, dtype=torch.bool)
        return _row("m", seed) | {"epoch": epoch, "flags": flags, "acc": {k: 1.0 for k in flags}}

    last = [row(0, 6, [1, 1, 0, 0]), row(1, 6, [1, 1, 1, 0], [1, 0, 0, 0])]
    best = [row(0, 5, [1, 0, 0, 0], [1, 0, 0, 0]), row(1, 6, [1, 1, 1, 0], [1, 0, 0, 0])]
    lines = seed_tables.changes(last, best, "last", "best").splitlines()
    assert "| m | 0 | 6 / 5 | +25.00 (1) | – |" in lines  # one point only last gets right; no AutoAttack at last
    assert "| m | 1 | 6 / 6 | +0.00 (1) | +0.00 (1) |" in lines
    assert f"| m | 2 | {seed_tables.mean_std([0.25, 0.0], signed=True)} | +0.0 (1) |" in lines


def test_arguments_are_folders_or_labelled_folders(tmp_path):
    odd = tmp_path / "lambda_pos=0.1-s0"  # a sweep folder's own '='
    odd.mkdir()
    assert seed_tables.parse_runs([str(odd), f"no_pos={odd}", "runs/x"]) == [
        (None, odd), ("no_pos", odd), (None, Path("runs/x"))]
    for bad in ("=runs/x", "a/b=runs/x"):
        with pytest.raises(UserError, match="neither a folder nor LABEL=RUN"):
            seed_tables.parse_runs([bad])


def test_tables_come_from_the_stored_flags_and_refuse_mixed_recipes(tiny_cfg, tmp_path):
    runs = {}
    for name, opts in {"s0": ["train.seed=0"], "s1": ["train.seed=1", "train.threads=1"],
                       "no_pos": ["method.lambda_pos=0"], "split1": ["data.split_seed=1"]}.items():
        runs[name] = tmp_path / name
        Trainer(tiny_cfg(*opts, "eval.pgd_steps=2"), runs[name]).fit()
    best = runs["s1"] / "checkpoints" / "best.pt"  # the epoch column reads each checkpoint's own epoch
    atomic_save(safe_load(best) | {"epoch": 3}, best, keep_previous=False)
    paired = [sys.executable, str(SCRIPTS / "paired_runs.py"), "--splits", "test", "--n", "40", "--pgd", "--cache"]
    for name in ("s0", "s1", "no_pos"):
        res = subprocess.run(paired[:2] + [str(runs[name])] * 2 + paired[2:], capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
    res = _script(str(runs["s0"]), str(runs["s1"]), f"no_pos={runs['no_pos']}", "--n", "40")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    accs = []
    for name in ("s0", "s1"):
        (store,) = (runs[name] / "paired_flags").glob("*-n40.pt")
        flags = safe_load(store)
        accs.append([100 * flags[k].float().mean().item() for k in ("clean/test", next(
            k for k in flags if k.startswith("pgd2-") and k.endswith("/test")))])
        seed, epoch = int(name[1]), (1, 3)[int(name[1])]
        assert f"| adv_dpnp | {seed} | {epoch} | {accs[-1][0]:.2f} | {accs[-1][1]:.2f} |" in lines
    assert accs[0] != accs[1]  # two seeds, two models: the rows are each run's own
    mean = torch.tensor(accs).mean(0)
    assert any(line.startswith(f"| adv_dpnp | 2 | {mean[0]:.1f} ± ") for line in lines)
    assert any(line.startswith("| no_pos | 0 |") for line in lines)
    assert "Points: 40 per model;" in res.stdout and "Machines" in res.stdout
    # the ablation under the method's own name would be averaged into it: refused, naming the field
    res = _script(str(runs["s0"]), str(runs["no_pos"]), "--n", "40")
    assert res.returncode == 1 and "differ in method.lambda_pos (0.1 vs 0.0)" in res.stderr
    assert "Traceback" not in res.stderr
    res = _script(str(runs["s0"]), f"again={runs['s0']}/", "--n", "40")
    assert res.returncode == 1 and "is given twice" in res.stderr
    # a copy of a run is the same seed of the same method: not a second sample for Welch's test
    shutil.copytree(runs["s1"], tmp_path / "copy")
    res = _script(str(runs["s1"]), str(tmp_path / "copy"), "--n", "40")
    assert res.returncode == 1 and "are both 'adv_dpnp' seed 1" in res.stderr
    assert _script(str(runs["s1"]), f"machine2={tmp_path / 'copy'}", "--n", "40").returncode == 0
    res = _script(str(runs["s0"]), f"other={runs['split1']}", "--n", "40")
    assert res.returncode == 1 and "split the data differently" in res.stderr
    res = _script(str(runs["s0"]), "--n", "50")
    assert res.returncode == 1 and "no stored test flags" in res.stderr and "paired_runs.py" in res.stderr
    res = _script(str(runs["s0"]), str(runs["s1"]), "--n", "40", "--reference", "pgd_at")
    assert res.returncode == 1 and "--reference 'pgd_at' is none of the methods read: adv_dpnp" in res.stderr


def test_versus_gives_each_runs_change_between_its_checkpoints_on_the_same_points(tiny_cfg, tmp_path):
    runs = [tmp_path / f"s{seed}" for seed in (0, 1)]
    for seed, run in enumerate(runs):
        Trainer(tiny_cfg(f"train.seed={seed}", "eval.pgd_steps=2"), run).fit()
    ckpt = runs[1] / "checkpoints" / "last.pt"  # s1's last checkpoint: other weights (s0's), from another epoch
    other = safe_load(runs[0] / "checkpoints" / "best.pt")["model"]
    atomic_save(safe_load(ckpt) | {"model": other, "epoch": 2}, ckpt, keep_previous=False)
    paired = [sys.executable, str(SCRIPTS / "paired_runs.py"), "--splits", "test", "--n", "40", "--cache"]
    for run in runs:  # best checkpoints; s0's last one holds the same weights and is never read itself
        assert subprocess.run(paired[:2] + [str(run)] * 2 + paired[2:], capture_output=True).returncode == 0
    res = _script(*map(str, runs), "--n", "40", "--which", "last", "--versus", "best")
    assert res.returncode == 1 and f"no stored test flags for {runs[1]} (last checkpoint" in res.stderr
    last = paired[:2] + [str(runs[1])] * 2 + paired[2:] + ["--which", "last"]
    assert subprocess.run(last, capture_output=True).returncode == 0
    res = _script(*map(str, runs), "--n", "40", "--which", "last", "--versus", "best")
    assert res.returncode == 0, res.stderr
    flags = {w: safe_load(next((runs[1] / "paired_flags").glob(f"{w}-*-n40.pt")))["clean/test"]
             for w in ("best", "last")}
    only_last, only_best = int((flags["last"] & ~flags["best"]).sum()), int((flags["best"] & ~flags["last"]).sum())
    assert only_last != only_best  # a change with a sign: measured from the two stores, not assumed
    change = (only_last - only_best) / 40
    lines = res.stdout.split("Change from each run's best checkpoint to its last one:")[1].splitlines()
    assert "| adv_dpnp | 0 | 1 / 1 | +0.00 (1) |" in lines
    assert f"| adv_dpnp | 1 | 2 / 1 | {100 * change:+.2f} ({seed_tables.p_text(only_last, only_best)}) |" in lines
    mean = seed_tables.mean_std([0.0, change], signed=True)
    assert f"| adv_dpnp | 2 | {mean} |" in lines
    res = _script(str(runs[0]), "--n", "40", "--which", "best", "--versus", "best")
    assert res.returncode == 1 and "--versus best is --which itself" in res.stderr
