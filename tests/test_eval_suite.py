"""The evaluation suite: result schema, sharding invariance, and masking checks that catch masked models."""

from __future__ import annotations

import pytest
import torch

from advdpnp.evaluate.suite import SuiteParams, run_suite

from evalkit import SaturatedSoftmax, ZeroGradient, digits, trained

EPS = 0.1


def _data(n):
    _, _, x, y = digits()
    return x[:n], y[:n]


def _paper(**kw) -> SuiteParams:
    """The paper suite with test-sized budgets (cheap AutoAttack, short Square, short curve)."""
    base = dict(eps=EPS, suite="paper", aa_variant="custom", check_points=30, square_queries=200,
                curve_factors=(0.0, 1.0, 4.0), adaptive_steps=20, progress=False)
    return SuiteParams(**{**base, **kw})


def test_quick_suite_schema_and_worst_case():
    x, y = _data(60)
    r = run_suite(trained(), x, y, SuiteParams(eps=EPS, progress=False))
    assert set(r["attacks"]) == {"clean", "fgsm", "pgd20"}
    for name, entry in r["attacks"].items():
        flags = torch.tensor(r["per_sample"][name])
        assert len(flags) == 60 and entry["n"] == 60
        assert abs(flags.float().mean().item() - entry["accuracy"]) < 1e-6
        assert r["worst_case"]["accuracy"] <= entry["accuracy"]
    assert r["attacks"]["pgd20"]["accuracy"] < r["attacks"]["clean"]["accuracy"]
    assert "masking_checks" not in r


def test_shards_concatenate_to_the_single_process_flags():
    x, y = _data(40)
    idx = torch.arange(40)
    p = SuiteParams(eps=EPS, batch_size=16, progress=False)
    full = run_suite(trained(), x, y, p)
    parts = [run_suite(trained(), x[s], y[s], p, idx[s]) for s in (slice(0, 25), slice(25, 40))]
    for name in full["per_sample"]:
        assert full["per_sample"][name] == parts[0]["per_sample"][name] + parts[1]["per_sample"][name]


@pytest.mark.slow
def test_paper_suite_on_an_honest_model():
    x, y = _data(60)
    model = trained()
    r = run_suite(model, x, y, _paper(), transfer_source=trained("linear"))
    a = r["attacks"]
    assert {"cw_inf", "autoattack", "adaptive_proto", "apgd_dlr_proto"} <= set(a)
    assert a["autoattack"]["accuracy"] <= a["pgd20"]["accuracy"]
    assert a["autoattack"]["variant"] == "custom" and a["autoattack"]["n"] == 60
    assert r["eps_curve"]["eps"] == [0.0, 0.1, 0.4, 0.5]
    checks = r["masking_checks"]
    assert set(checks) == {"eps_monotone", "large_eps", "more_steps_restarts", "square", "transfer",
                           "autoattack_flags"}
    assert all(c["verdict"] == "pass" for c in checks.values()), checks


def test_zero_gradient_model_is_flagged():
    x, y = _data(60)
    r = run_suite(ZeroGradient(trained()), x, y, _paper(), transfer_source=trained("linear"))
    checks = r["masking_checks"]
    assert checks["square"]["verdict"] == "warn"
    assert checks["transfer"]["verdict"] == "warn"
    assert checks["autoattack_flags"]["verdict"] == "warn"  # APGD's own zero-gradient check
    assert "zero gradient" in checks["autoattack_flags"]["evidence"]


def test_saturated_softmax_model_is_flagged():
    x, y = _data(60)
    r = run_suite(SaturatedSoftmax(trained()), x, y, _paper(), transfer_source=trained("linear"))
    checks = r["masking_checks"]
    assert checks["autoattack_flags"]["verdict"] == "warn"
    assert "probability distribution" in checks["autoattack_flags"]["evidence"]
    assert sum(c["verdict"] == "warn" for c in checks.values()) >= 2


@pytest.mark.parametrize("n, base, rise, verdict", [(50, 24, 1, "pass"), (50, 24, 2, "warn"),
                                                    (1000, 500, 10, "pass"), (1000, 500, 11, "warn")])
def test_more_steps_restarts_allows_one_point_of_random_start_noise(monkeypatch, n, base, rise, verdict):
    """A one-point flip on 50 points is the resolution, not masking; 1 % of 1000 points still binds."""
    from advdpnp.evaluate import masking_checks as mc

    def flags(count):
        return torch.arange(n) < count

    monkeypatch.setattr(mc, "clean_correct", lambda *a, **k: flags(n))
    stronger = iter([flags(base + rise), flags(base)])  # PGD-100 gains `rise` points, the restarts none
    monkeypatch.setattr(mc, "pgd_correct", lambda *a, **k: next(stronger))
    x, y = torch.zeros(n, 1, 8, 8), torch.zeros(n, dtype=torch.long)
    r = mc.more_steps_restarts(None, x, y, flags(base), 0.1, 0.01, 20, 0, torch.arange(n), 64)
    assert r["verdict"] == verdict, r["evidence"]
    assert r["more_steps"] == (base + rise) / n and r["allowed_rise"] == max(1, n // 100)
