"""`advdpnp report` on fake run directories, and `advdpnp analyze` on a tiny trained run."""

from __future__ import annotations

import csv
import json
import math

import pytest
import torch

from advdpnp.cli import main
from advdpnp.evaluate.latent import latent_metrics
from advdpnp.report.runs import FEATURES_FILE, load_record
from advdpnp.report.tables import MISSING, main_table, to_markdown

K = 4


def _simplex(r: float = 3.0) -> torch.Tensor:
    e = torch.eye(K)
    return r * torch.nn.functional.normalize(e - e.mean(0), dim=1)


def _write_run(path, results=None, metrics=None, latent_features=True):
    path.mkdir(parents=True)
    if results is not None:
        (path / "results.json").write_text(json.dumps(results))
    if metrics is not None:
        (path / "metrics.jsonl").write_text("\n".join(json.dumps(m) for m in metrics) + "\n")
    if latent_features:
        g = torch.Generator().manual_seed(0)
        p = _simplex()
        y = torch.arange(K).repeat_interleave(15)
        z = p[y] + 0.3 * torch.randn(len(y), K, generator=g)
        z_adv = z + 0.8 * torch.randn(len(y), K, generator=g)
        lat = {"n": len(y), "method": (results or {}).get("method", "?"), "anchor": "prototypes",
               "attack": {"name": "pgd20", "eps": 0.2}, **latent_metrics(z, z_adv, y, p)}
        (path / "latent.json").write_text(json.dumps(lat))
        torch.save({"z": z, "z_adv": z_adv, "y": y, "anchors": p, "anchor_kind": "prototypes"},
                   path / FEATURES_FILE)


FULL = {"method": "adv_dpnp", "dataset": "digits", "eps": 0.2, "n": 200, "suite": "paper",
        "attacks": {"clean": {"accuracy": 0.853, "n": 200}, "fgsm": {"accuracy": 0.71, "n": 200},
                    "pgd20": {"accuracy": 0.6234, "n": 200}, "cw_inf": {"accuracy": 0.6, "n": 200},
                    "autoattack": {"accuracy": 0.55, "n": 100, "variant": "custom (apgd-ce, apgd-t)"},
                    "adaptive_proto": {"accuracy": 0.58, "n": 200}},
        "worst_case": {"accuracy": 0.54, "n": 100},
        "masking_checks": {"eps_monotone": {"verdict": "pass", "evidence": "accuracy falls with eps"}},
        "eps_curve": {"eps": [0.0, 0.1, 0.2, 0.3], "accuracy": [0.85, 0.75, 0.62, 0.4]},
        "corruptions": {"per_severity": {"1": 0.8, "2": 0.75, "3": 0.7, "4": 0.6, "5": 0.5}, "mean": 0.67,
                        "n": 200, "source": "generated"}}
QUICK = {"method": "standard", "attacks": {"clean": {"accuracy": 0.99, "n": 360},
                                           "pgd20": {"accuracy": 0.02, "n": 360}},
         "eps_curve": {"eps": [0.0, 0.1, 0.2], "accuracy": [0.99, 0.5, 0.02]}}
METRICS = [{"epoch": e, "lr": 0.1, "train_loss": 2.0 / e, "train_ce": 1.5 / e, "train_pos": 0.5 / e,
            "train_acc": 0.5 + e / 10, "val_clean": 0.5 + e / 10, "val_pgd": 0.1 + e / 20} for e in range(1, 5)]


@pytest.fixture
def runs(tmp_path):
    _write_run(tmp_path / "runs" / "adv_dpnp", FULL, METRICS)
    _write_run(tmp_path / "runs" / "std-quick", QUICK, METRICS, latent_features=False)
    _write_run(tmp_path / "runs" / "only_metrics", None, METRICS, latent_features=False)
    return sorted((tmp_path / "runs").iterdir())


def test_main_table_numbers_counts_and_gaps(runs):
    table = main_table([load_record(r) for r in runs])
    rows = {row[0]: dict(zip(table.header, row)) for row in table.strings()}
    full, quick, bare = rows["adv_dpnp"], rows["standard (std-quick)"], rows["only_metrics"]
    assert full["clean"] == "85.3 (n=200)"
    assert full["PGD-20"] == "62.3 (n=200)"
    assert full["AutoAttack"] == "55.0 (n=100, variant: custom (apgd-ce, apgd-t))"
    assert full["worst case"] == "54.0 (n=100)"
    assert full["corruption mean"] == "67.0 (n=200, generated)"
    assert full["separation"] == f"{math.degrees(math.acos(-1 / (K - 1))):.1f}° (n=60)"
    assert full["compactness"].endswith("(n=60)")
    assert quick["clean"] == "99.0 (n=360)" and quick["PGD-20"] == "2.0 (n=360)"
    for col in ("FGSM", "CW-inf", "AutoAttack", "worst case", "corruption mean", "compactness", "separation"):
        assert quick[col] == MISSING
    assert all(v == MISSING for k, v in bare.items() if k != "run")


def test_autoattack_variant_from_components_and_standard_unmarked(tmp_path):
    aa = {"accuracy": 0.5, "n": 10, "variant": "custom", "components": ["apgd-ce", "apgd-t"]}
    _write_run(tmp_path / "custom", {"method": "m", "attacks": {"autoattack": aa}}, latent_features=False)
    _write_run(tmp_path / "std", {"method": "m", "attacks": {"autoattack": {**aa, "variant": "standard"}}},
               latent_features=False)
    table = main_table([load_record(tmp_path / "custom"), load_record(tmp_path / "std")])
    col = table.header.index("AutoAttack")
    assert [row[col] for row in table.strings()] == ["50.0 (n=10, variant: custom (apgd-ce, apgd-t))",
                                                     "50.0 (n=10)"]


def test_report_command_writes_all_outputs(runs, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["report", *map(str, runs), "-o", str(out)]) == 0
    md = (out / "report.md").read_text()
    table_md = to_markdown(main_table([load_record(r) for r in runs]))
    assert table_md in md and "85.3 (n=200)" in md and MISSING in md
    assert "| adv_dpnp | eps_monotone | pass | accuracy falls with eps |" in md
    assert "adaptive_proto" in md  # the other-attacks table
    assert f"Machines (each run's environment.json): {len(runs)} without a readable record" in md
    rows = list(csv.reader((out / "table.csv").open()))
    assert rows[0][:4] == ["run", "clean", "FGSM", "PGD-20"] and rows[1][1] == "85.3 (n=200)"
    js = json.loads((out / "table.json").read_text())
    assert js[0]["clean"] == {"value": 0.853, "n": 200, "unit": "percent"}
    assert js[1]["FGSM"] is None
    pngs = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert {"eps_curves.png", "corruptions.png", "1-adv_dpnp_embedding.png", "1-adv_dpnp_cosine.png",
            "1-adv_dpnp_training.png", "2-only_metrics_training.png", "3-std-quick_training.png"} <= set(pngs)
    for p in (out / "figures").glob("*.png"):
        assert p.stat().st_size > 15_000, p
        assert f"figures/{p.name}" in md
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(pngs) and "<table>" in html
    assert "85.3 (n=200)" in capsys.readouterr().out


def test_report_rejects_an_empty_directory(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty"), "-o", str(tmp_path / "r")]) == 2
    assert "no results.json" in capsys.readouterr().err


def test_analyze_on_a_tiny_trained_run(tiny_cfg, tmp_path, capsys):
    from advdpnp.train.trainer import Trainer

    for head, method in (("prototype", "adv_dpnp"), ("linear", "standard")):
        run_dir = tmp_path / method
        Trainer(tiny_cfg(f"model.head={head}", f"method.name={method}", "eval.pgd_steps=3"), run_dir).fit()
        assert main(["analyze", str(run_dir), "--n", "40", "--embed-n", "30"]) == 0
        lat = json.loads((run_dir / "latent.json").read_text())
        assert lat["n"] == 40 and lat["attack"]["steps"] == 3
        assert (lat["anchor"] == "prototypes") == (head == "prototype")
        assert 0 <= lat["drift"]["nearest_anchor_change"] <= 1 and lat["drift"]["drift_mean"] > 0
        assert -1 <= lat["clean"]["silhouette"] <= 1
        feats = torch.load(run_dir / FEATURES_FILE, weights_only=True)
        assert feats["z"].shape[0] == 30 and feats["anchors"].shape[0] == 10
        if head == "prototype":  # the anchors are the model's prototypes, at radius r
            assert torch.allclose(feats["anchors"].norm(dim=1), torch.full((10,), 4.0), atol=1e-5)
    assert "compactness_anchor" in capsys.readouterr().out
