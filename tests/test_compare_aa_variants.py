"""scripts/compare_aa_variants.py: the cheap-vs-standard AutoAttack table of docs/results.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "compare_aa_variants.py"


def _write(path: Path, robust: list[int], accuracy_after: dict | None = None) -> str:
    aa = {"accuracy": sum(robust) / len(robust)}
    if accuracy_after is not None:
        aa["accuracy_after"] = accuracy_after
    path.write_text(json.dumps({"method": "m", "train_seed": 3, "attacks": {"autoattack": aa},
                                "per_sample": {"autoattack": robust}}))
    return str(path)


def _table(*paths: str) -> str:
    res = subprocess.run([sys.executable, str(SCRIPT), *paths], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_counts_the_points_each_extra_attack_broke(tmp_path):
    # custom run on 6 points (only the first 5 are compared); standard run on 5: APGD-T leaves 4,
    # FAB-T breaks 1, Square 1 more; points 1 and 2 survived the custom run but not the standard one
    paper = _write(tmp_path / "paper.json", [1, 1, 1, 1, 0, 1])
    full = _write(tmp_path / "m-s3.json", [1, 0, 0, 1, 0],
                  {"apgd-ce": 0.8, "apgd-t": 0.8, "fab-t": 0.6, "square": 0.4})
    assert "| m | 3 | 5 | 80.00 | 40.00 | 2 | 1 | 1 |" in _table(paper, full)


def test_a_file_without_per_attack_accuracies_shows_dashes(tmp_path):
    paper = _write(tmp_path / "paper.json", [1, 0])
    full = _write(tmp_path / "m-s3.json", [1, 0])
    assert "| m | 3 | 2 | 50.00 | 50.00 | 0 | – | – |" in _table(paper, full)


def test_an_ablation_is_named_by_its_file_since_results_record_only_the_method(tmp_path):
    paper = _write(tmp_path / "paper.json", [1, 0])
    full = _write(tmp_path / "ablation-no_cons-s3.json", [1, 0])
    assert "| m (ablation-no_cons) | 3 | 2 |" in _table(paper, full)
