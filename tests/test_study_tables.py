"""scripts/study_tables.py (the tables of docs/results.md) on fake study folders."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "study_tables.py"


def _run(folder: Path, clean: float, aa: float, corruptions: float, silhouette: float | None) -> None:
    folder.mkdir(parents=True)
    attacks = {"clean": {"accuracy": clean}, "autoattack": {"accuracy": aa}}
    results = {"n": 100, "epoch": 3, "attacks": attacks, "worst_case": {"accuracy": aa},
               "corruptions": {"mean": corruptions},
               "masking_checks": {"square": {"verdict": "pass"}, "transfer": {"verdict": "warn"}}}
    (folder / "results.json").write_text(json.dumps(results))
    if silhouette is not None:
        (folder / "latent.json").write_text(json.dumps({"anchor": "prototypes", "clean": {"silhouette": silhouette}}))


def _tables(root: Path, seeds: str) -> str:
    res = subprocess.run([sys.executable, str(SCRIPT), str(root), "--prefix", "t", "--seeds", seeds],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_one_seed_prints_values_and_several_print_mean_and_sample_std(tmp_path):
    _run(tmp_path / "t-a" / "base-s0", 0.80, 0.60, 0.50, 0.30)
    _run(tmp_path / "t-a" / "base-s1", 0.90, 0.70, 0.60, 0.40)
    _run(tmp_path / "t-b" / "base-s0", 0.75, 0.55, 0.45, 0.20)
    out = _tables(tmp_path, "0,1,2")
    assert ("| t-a | 2 | 100 | 85.0 ± 7.1 | – | – | – | 65.0 ± 7.1 | – | – | 65.0 ± 7.1 | 55.0 ± 7.1 |"
            in out)
    # one seed has no spread: its value alone, not "± 0.0"
    assert "| t-b | 1 | 100 | 75.0 | – | – | – | 55.0 | – | – | 55.0 | 45.0 |" in out
    # the per-seed row carries corruptions and the masking verdicts
    assert "| t-b | 0 | 3 | 75.0 | – | 55.0 | 55.0 | 45.0 | 1 pass, 1 warn |" in out
    assert "Latent space (mean ± std over the seeds analysed)" in out
    assert "| t-a | 2 | – | – | – | 0.35 ± 0.071 |" in out


def test_runs_from_two_machines_are_named_and_warned_about(tmp_path):
    """A mean over seeds trained on different CPUs mixes machine spread into seed spread."""
    _run(tmp_path / "t-a" / "base-s0", 0.80, 0.60, 0.50, None)
    _run(tmp_path / "t-a" / "base-s1", 0.90, 0.70, 0.60, None)
    record = {"cpu": "Xeon", "cpu_capability": "AVX512", "threads": 1, "torch": "2.13.0"}
    (tmp_path / "t-a" / "base-s0" / "environment.json").write_text(json.dumps([record]))
    out = _tables(tmp_path, "0,1")
    assert "1 on Xeon (AVX512), 1 threads, torch 2.13.0; 1 without a readable record" in out and "Warning" not in out
    (tmp_path / "t-a" / "base-s1" / "environment.json").write_text(json.dumps([record | {"cpu_capability": "AVX2"}]))
    assert "Warning: more than one machine" in _tables(tmp_path, "0,1")


def test_latent_mean_table_only_when_a_method_has_two_analysed_seeds(tmp_path):
    _run(tmp_path / "t-a" / "base-s0", 0.80, 0.60, 0.50, 0.30)
    _run(tmp_path / "t-a" / "base-s1", 0.90, 0.70, 0.60, None)
    out = _tables(tmp_path, "0,1")
    assert "Latent space (seed 0" in out
    assert "mean ± std over the seeds analysed" not in out


def test_ablations_get_latent_rows_next_to_the_methods(tmp_path):
    _run(tmp_path / "t-a" / "base-s0", 0.80, 0.60, 0.50, 0.30)
    _run(tmp_path / "ablation-x" / "base-s0", 0.85, 0.50, 0.55, 0.25)
    _run(tmp_path / "ablation-x" / "base-s1", 0.87, 0.52, 0.57, 0.35)
    out = _tables(tmp_path, "0,1")
    seed0 = out.split("### Latent space (seed 0")[1]
    assert "| ablation-x | prototypes | – | – | – | 0.25 |" in seed0
    assert "| ablation-x | 2 | – | – | – | 0.3 ± 0.071 |" in out.split("mean ± std over the seeds analysed")[1]


def test_prefix_ablation_is_refused_rather_than_counting_each_ablation_twice(tmp_path):
    _run(tmp_path / "ablation-x" / "base-s0", 0.85, 0.50, 0.55, 0.25)
    res = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), "--prefix", "ablation", "--seeds", "0"],
                         capture_output=True, text=True)
    assert res.returncode == 2 and "--prefix ablation" in res.stderr and not res.stdout


def _results_files(tmp_path: Path, *extra: str) -> str:
    for name, clean, aa in (("a-s0", 0.80, 0.60), ("a-s1", 0.90, 0.70), ("b-s0", 0.70, 0.50), ("b-s1", 0.74, 0.54)):
        _run(tmp_path / name, clean, aa, 0.5, None)
        (tmp_path / name / "results.json").rename(tmp_path / f"{name}.json")
    files = sorted(str(f) for f in tmp_path.glob("*.json"))
    res = subprocess.run([sys.executable, str(SCRIPT), "--results", *files, *extra], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_results_files_average_all_together_by_default(tmp_path):
    out = _results_files(tmp_path)
    assert "| mean ± std of 4 | | 78.5 ± 8.7 |" in out
    assert ": mean ± std" not in out


def test_results_files_by_name_average_each_method_over_its_seeds(tmp_path):
    out = _results_files(tmp_path, "--by-name")
    assert "| a-s1 | 100 | 90.0 |" in out  # the per-file rows stay
    assert "| a: mean ± std of 2 | | 85.0 ± 7.1 | – | – | – | 65.0 ± 7.1 |" in out
    assert "| b: mean ± std of 2 | | 72.0 ± 2.8 | – | – | – | 52.0 ± 2.8 |" in out
    assert "mean ± std of 4" not in out


def _aa_results(path: Path, eps: float, aa: float, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"n": 100, "eps": eps, "epoch": 3, "train_seed": seed, "split": "test",
                                "checkpoint": "best", "attacks": {"autoattack": {"accuracy": aa}},
                                "worst_case": {"accuracy": aa}}))


def _falloff(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), str(root), "--prefix", "t", "--seeds", "0,1,2",
                           "--beyond", str(root / "far")], capture_output=True, text=True)


def test_beyond_pairs_each_seed_with_its_own_training_radius_result(tmp_path):
    for seed, near, far in ((0, 0.60, 0.40), (1, 0.70, 0.44), (2, 0.90, 0.10)):
        _aa_results(tmp_path / "t-a" / f"base-s{seed}" / "results.json", 0.1, near, seed)
        if seed < 2:  # seed 2 has no eps-0.15 file: it must not enter the eps-0.1 mean either
            _aa_results(tmp_path / "far" / f"a-s{seed}.json", 0.15, far, seed)
    _aa_results(tmp_path / "ablation-x" / "base-s0" / "results.json", 0.1, 0.5, 0)
    _aa_results(tmp_path / "far" / "ablation-x-s0.json", 0.15, 0.45, 0)
    (tmp_path / "far" / ".autoattack-best-eps0.15.state.json").write_text("{}")  # a running evaluation's state
    res = _falloff(tmp_path)
    assert res.returncode == 0, res.stderr
    table = res.stdout.split("### AutoAttack at the training radius and at another")[1]
    assert "| model | seeds | AutoAttack eps 0.1 | AutoAttack eps 0.15 | per seed, eps 0.1 → 0.15 | loss |" in table
    assert "| t-a | 2 | 65.0 ± 7.1 | 42.0 ± 2.8 | 60.0 → 40.0, 70.0 → 44.0 | 23.0 ± 4.2 |" in table
    assert "| ablation-x | 1 | 50.0 | 45.0 | 50.0 → 45.0 | 5.0 |" in table


def test_beyond_refuses_a_file_of_another_model(tmp_path):
    _aa_results(tmp_path / "t-a" / "base-s0" / "results.json", 0.1, 0.6, 0)
    _aa_results(tmp_path / "far" / "a-s0.json", 0.15, 0.4, 1)  # evaluated on the seed-1 model
    res = _falloff(tmp_path)
    assert res.returncode != 0 and "train_seed 1 differs" in res.stderr


def test_beyond_at_a_smaller_eps_reports_the_points_gained_as_a_negative_loss(tmp_path):
    # a model trained at eps 0.15 and evaluated again at eps 0.1 (docs/results-log.md, twentieth pass)
    _aa_results(tmp_path / "t-a" / "base-s0" / "results.json", 0.15, 0.50, 0)
    _aa_results(tmp_path / "far" / "a-s0.json", 0.1, 0.70, 0)
    res = _falloff(tmp_path)
    assert res.returncode == 0, res.stderr
    assert "| t-a | 1 | 50.0 | 70.0 | 50.0 → 70.0 | -20.0 |" in res.stdout


def test_a_missing_results_file_is_one_line_naming_it_not_a_traceback(tmp_path):
    """`--results runs/X/base-s*/results.json` before any seed finished passes the glob itself."""
    _run(tmp_path / "a-s0", 0.80, 0.60, 0.50, None)
    missing = tmp_path / "b" / "base-s*" / "results.json"
    res = subprocess.run([sys.executable, str(SCRIPT), "--results", str(tmp_path / "a-s0" / "results.json"),
                          str(missing)], capture_output=True, text=True)
    assert res.returncode == 2 and f"no such results file: {missing}" in res.stderr
    assert "Traceback" not in res.stderr and not res.stdout


def test_results_eps_curve_rows_per_file_and_a_mean_per_name(tmp_path):
    for name, acc in (("a-s0", [0.8, 0.4]), ("a-s1", [0.9, 0.2]), ("b-s0", [0.7, 0.5])):
        (tmp_path / f"{name}.json").write_text(json.dumps({"n": 100, "eps_curve": {"eps": [0.0, 0.15],
                                                                                  "accuracy": acc}}))
    files = sorted(str(f) for f in tmp_path.glob("*.json"))
    res = subprocess.run([sys.executable, str(SCRIPT), "--results", *files, "--by-name", "--eps-curve"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "| run | seeds | eps 0 | eps 0.15 |" in res.stdout
    assert "| a-s1 | 1 | 90.0 | 20.0 |" in res.stdout
    assert "| a: mean ± std | 2 | 85.0 ± 7.1 | 30.0 ± 14.1 |" in res.stdout
    assert "| b: mean ± std" not in res.stdout  # one file: its own row says it all
    (tmp_path / "c-s0.json").write_text(json.dumps({"n": 100}))  # evaluated without an eps curve
    res = subprocess.run([sys.executable, str(SCRIPT), "--results", str(tmp_path / "c-s0.json"), "--eps-curve"],
                         capture_output=True, text=True)
    assert res.returncode == 1 and "c-s0.json: no eps_curve" in res.stderr and "Traceback" not in res.stderr


def test_a_seed_that_ended_at_chance_is_named_under_the_mean_and_marked_in_its_row(tmp_path):
    """`advdpnp sweep` keeps such a seed in the mean; the table must say which mean holds one."""
    _run(tmp_path / "t-a" / "base-s0", 0.80, 0.60, 0.50, None)
    _run(tmp_path / "t-a" / "base-s1", 0.10, 0.10, 0.10, None)
    _run(tmp_path / "t-b" / "base-s0", 0.75, 0.55, 0.45, None)
    assert "At chance" not in _tables(tmp_path, "0,1")
    (tmp_path / "t-a" / "base-s1" / "at_chance.txt").write_text("final validation accuracy at chance level\n")
    out = _tables(tmp_path, "0,1")
    assert "At chance level at the end of training (in the means; see the per-seed table): t-a (1 of 2)." in out
    assert "| t-a | 1 (at chance) | 3 | 10.0 |" in out and "| t-a | 0 | 3 | 80.0 |" in out


def _lead(root: Path, reference: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), str(root), "--prefix", "t", "--seeds", "0,1",
                           "--reference", reference], capture_output=True, text=True)


def test_reference_lead_gives_mean_difference_welch_p_and_the_seed_by_seed_margin(tmp_path):
    """The mean lead with Welch's p (checked by hand: t = 14 / sqrt(26), 1.08 degrees of freedom), and the
    reference's lowest seed minus the other's highest, which turns negative when one seed of the other passes."""
    _run(tmp_path / "t-a" / "base-s0", 0.80, 0.60, 0.50, None)
    _run(tmp_path / "t-a" / "base-s1", 0.90, 0.70, 0.60, None)
    _run(tmp_path / "t-b" / "base-s0", 0.70, 0.62, 0.55, None)
    _run(tmp_path / "t-b" / "base-s1", 0.72, 0.50, 0.45, None)
    _run(tmp_path / "t-c" / "base-s0", 0.75, 0.55, 0.40, None)
    res = _lead(tmp_path, "a")
    assert res.returncode == 0, res.stderr
    assert "| run | seeds | clean | autoattack | worst_case | corruptions |" in res.stdout
    assert ("| t-b | 2 | +14.0 (0.21); +8.0 | +9.0 (0.37); -2.0 | +9.0 (0.37); -2.0 | +5.0 (0.55); -5.0 |"
            in res.stdout)
    # one seed: the difference without a p, and the margin
    assert "| t-c | 1 | +10.0; +5.0 | +10.0; +5.0 | +10.0; +5.0 | +15.0; +10.0 |" in res.stdout
    assert "| t-a | 2 | +" not in res.stdout  # the reference has no row against itself


def test_reference_without_runs_is_one_line_before_any_table(tmp_path):
    _run(tmp_path / "t-a" / "base-s0", 0.80, 0.60, 0.50, None)
    res = _lead(tmp_path, "nope")
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.strip().splitlines()[-1].endswith(f"--reference nope: no evaluated run of {tmp_path}/t-nope "
                                                         "for seeds 0,1")
