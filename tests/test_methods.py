"""Training methods: each loss against a hand computation, TRADES/MART specifics, presets, short runs."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from advdpnp.config import load_config
from advdpnp.losses.mart import weighted_kl
from advdpnp.methods import METHODS, build_method
from advdpnp.models import build_model
from advdpnp.paths import configs_dir

ROOT = Path(__file__).resolve().parent.parent
METHOD_HEADS = {"standard": "linear", "pgd_at": "linear", "trades": "linear", "mart": "linear",
                "dpnp": "prototype", "adv_dpnp": "prototype"}


# ----------------------------------------------------------------------------- hand computations

def _softmax(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - s.max())
    return e / e.sum()


def _ce(s: np.ndarray, y: int) -> float:
    return -math.log(_softmax(s)[y])


def _kl(s_p: np.ndarray, s_q: np.ndarray) -> float:
    p, q = _softmax(s_p), _softmax(s_q)
    return float(sum(pk * (math.log(pk) - math.log(qk)) for pk, qk in zip(p, q)))


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _hand_loss(method: str, opts, model, x, y, x_adv) -> float:
    """The method's loss from its formula (SPEC sections 2-3), one sample at a time, in float64."""
    with torch.no_grad():
        s, s_adv = model(x).double().numpy(), model(x_adv).double().numpy()
        z, z_adv = model.features(x).double().numpy(), model.features(x_adv).double().numpy()
        protos = model.head.prototypes().double().numpy() if model.has_prototypes else None
    y = y.tolist()
    n = len(y)
    mean = lambda terms: sum(terms) / n  # noqa: E731
    if method == "standard":
        return mean(_ce(s[i], y[i]) for i in range(n))
    if method == "pgd_at":
        return mean(_ce(s_adv[i], y[i]) for i in range(n))
    if method == "trades":
        return mean(_ce(s[i], y[i]) + opts.beta * _kl(s[i], s_adv[i]) for i in range(n))
    if method == "mart":
        total = 0.0
        for i in range(n):
            q = _softmax(s_adv[i])
            rival = max((k for k in range(len(q)) if k != y[i]), key=lambda k: q[k])
            bce = -math.log(q[y[i]]) - math.log(1.0001 - q[rival])
            total += bce + opts.beta * _kl(s[i], s_adv[i]) * (1.0000001 - _softmax(s[i])[y[i]])
        return total / n
    k = len(protos)
    pos = mean(0.5 * np.sum((z[i] - protos[y[i]]) ** 2) for i in range(n))
    neg = sum(max(_cos(protos[a], protos[b]) for b in range(k) if b != a) for a in range(k)) / k
    clean = mean(_ce(s[i], y[i]) for i in range(n)) + opts.lambda_pos * pos + opts.lambda_neg * neg
    if method == "dpnp":
        return clean
    pos_adv = mean(0.5 * np.sum((z_adv[i] - protos[y[i]]) ** 2) for i in range(n))
    cons = mean(_kl(s[i], s_adv[i]) for i in range(n))
    adv = mean(_ce(s_adv[i], y[i]) for i in range(n)) + opts.lambda_pos * pos_adv + opts.lambda_cons * cons
    return clean + opts.beta_adv * adv


def _model(head: str, radius: float = 4.0) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model("mlp", 1, 4, 5, head=head, radius=radius, hidden=(12,))
    if head == "linear":  # confident logits, so that clean and adversarial predictions differ clearly
        model.head.fc.weight.data.mul_(10)
    return model


def _batch(n: int = 6) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.rand(n, 1, 4, 4, generator=g)
    x_adv = (x + 0.3 * (2 * torch.rand(x.shape, generator=g) - 1)).clamp(0, 1)
    return x, torch.arange(n) % 5, x_adv


@pytest.mark.parametrize("method", sorted(METHOD_HEADS))
def test_loss_equals_hand_computation(method):
    model = _model(METHOD_HEADS[method], radius=8.0)
    x, y, x_adv = _batch()
    m = build_method({"name": method})
    loss, logs = m.loss(model, x, y, x_adv if m.adversarial else None)
    expected = _hand_loss(method, m.opt, model, x, y, x_adv)
    assert loss.item() == pytest.approx(expected, rel=1e-5, abs=1e-6)
    assert logs["loss"].item() == pytest.approx(loss.item())
    assert all(v.dim() == 0 and not v.requires_grad for v in logs.values())


@pytest.mark.parametrize("method,terms", [
    ("standard", ["ce"]), ("pgd_at", ["ce_adv"]), ("trades", ["ce", "kl"]),
    ("mart", ["ce_adv", "bce_margin", "kl_weighted"]), ("dpnp", ["ce", "pos", "neg"]),
    ("adv_dpnp", ["ce", "pos", "neg", "ce_adv", "pos_adv", "cons"]),
])
def test_each_loss_term_is_logged_separately(method, terms):
    model = _model(METHOD_HEADS[method])
    x, y, x_adv = _batch()
    m = build_method({"name": method})
    _, logs = m.loss(model, x, y, x_adv if m.adversarial else None)
    assert set(terms) <= set(logs)


def test_trades_and_mart_terms_recombine_into_the_loss():
    model = _model("linear")
    x, y, x_adv = _batch()
    t = build_method({"name": "trades", "beta": 2.5})
    loss, logs = t.loss(model, x, y, x_adv)
    assert torch.allclose(loss, logs["ce"] + 2.5 * logs["kl"])
    m = build_method({"name": "mart", "beta": 5.0})
    loss, logs = m.loss(model, x, y, x_adv)
    assert torch.allclose(loss, logs["ce_adv"] + logs["bce_margin"] + 5.0 * logs["kl_weighted"])


def test_trades_kl_term_is_zero_when_the_adversarial_input_is_the_clean_one():
    model = _model("linear")
    x, y, _ = _batch()
    loss, logs = build_method({"name": "trades"}).loss(model, x, y, x.clone())
    assert logs["kl"].abs().item() < 1e-7
    assert torch.allclose(loss, logs["ce"])
    _, moved = build_method({"name": "trades"}).loss(model, x, y, (x + 0.5).clamp(0, 1))
    assert moved["kl"].item() > 1e-4


def test_mart_weight_uses_the_clean_probability_of_the_true_class():
    y = torch.tensor([0, 1])
    adv = torch.tensor([[-3.0, 2.0, 1.0], [0.5, 0.0, 1.0]])
    unsure = torch.tensor([[0.2, 0.1, 0.0], [0.0, 0.3, 0.1]])
    confident = unsure.clone()
    confident[0, 0] = 40.0  # p_y(x) ~ 1 for sample 0 only: its KL must get weight ~0
    kl = torch.nn.functional.kl_div(adv.log_softmax(1), unsure.log_softmax(1), reduction="none",
                                    log_target=True).sum(1)
    p_y = unsure.softmax(1).gather(1, y[:, None]).squeeze(1)
    assert weighted_kl(unsure, adv, y).item() == pytest.approx(((1.0000001 - p_y) * kl).mean().item(), rel=1e-6)
    kl_conf = torch.nn.functional.kl_div(adv.log_softmax(1), confident.log_softmax(1), reduction="none",
                                         log_target=True).sum(1)
    assert kl_conf[0] > 1.0  # sample 0 is far from its clean prediction, yet ...
    assert weighted_kl(confident, adv, y).item() == pytest.approx(((1.0000001 - p_y[1]) * kl_conf[1]).item() / 2,
                                                                  rel=1e-5)  # ... only sample 1 counts


def test_trades_and_mart_craft_with_their_official_attacks(monkeypatch):
    """TRADES: KL objective; MART: CE; both start at x + 0.001 N(0, I), whatever attack.* says."""
    import advdpnp.methods.base as base
    from advdpnp.methods import Threat

    seen = {}
    monkeypatch.setattr(base, "pgd", lambda *a, **k: seen.setdefault(k["loss"], k["random_start"]))
    threat = Threat(0.2, 0.05, 3, loss="ce", random_start="uniform")
    model = _model("linear")
    x, y, _ = _batch()
    build_method({"name": "trades"}).craft(model, x, y, threat)
    build_method({"name": "mart"}).craft(model, x, y, Threat(0.2, 0.05, 3, loss="kl", random_start="none"))
    assert seen == {"kl": "normal", "ce": "normal"}


# ----------------------------------------------------------------------------- presets

PRESETS = sorted(configs_dir().rglob("*.yaml"))


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: str(p.relative_to(configs_dir())))
def test_every_preset_loads_and_validates(path):
    cfg = load_config(path)
    own = yaml.safe_load(path.read_text())
    assert own.get("description") and "\n" not in own["description"]
    if not path.name.startswith("_"):  # bases are not jobs; every job names its runs
        assert own.get("name") == cfg.name and cfg.name.startswith(path.stem.split("-")[0])


def test_every_pgd_at_preset_attacks_with_ce():
    """Madry PGD-AT is CE; the Fashion-MNIST presets inherit the Adv-DPNP file, whose attack is KL."""
    runs = [load_config(p) for p in PRESETS if not p.name.startswith("_")]
    pgd_at = [c for c in runs if c.method["name"] == "pgd_at"]
    assert pgd_at and all(c.attack.loss == "ce" for c in pgd_at), [c.name for c in pgd_at if c.attack.loss != "ce"]
    assert load_config(configs_dir() / "quick" / "fmnist-adv_dpnp.yaml").attack.loss == "kl"


def test_preset_names_are_unique():
    names = [load_config(p).name for p in PRESETS if not p.name.startswith("_")]
    assert len(names) == len(set(names))


def test_presets_exist_for_every_method_dataset_and_architecture():
    root = configs_dir()
    for method in METHOD_HEADS:
        for ds in ("digits", "fmnist"):
            cfg = load_config(root / "quick" / f"{ds}-{method}.yaml")
            assert cfg.method["name"] == method and cfg.model.head == METHOD_HEADS[method]
        for ds in ("cifar10", "cifar100", "svhn"):
            for arch in ("preact_resnet18", "resnet18", "wrn34_10"):
                cfg = load_config(root / "paper" / f"{ds}-{arch}-{method}.yaml")
                assert (cfg.data.name, cfg.model.arch, cfg.method["name"]) == (ds, arch, method)
                assert cfg.attack.eps == pytest.approx(8 / 255)


def test_paper_presets_carry_the_official_budgets():
    root = configs_dir() / "paper"
    c = load_config(root / "cifar10-preact_resnet18-pgd_at.yaml")
    assert (c.attack.alpha, c.attack.steps, c.data.crop_padding, c.data.flip) == (2 / 255, 10, 4, True)
    assert (c.train.epochs, c.train.lr, c.train.weight_decay, c.train.milestones) == (200, 0.1, 5e-4, [100, 150])
    t = load_config(root / "cifar10-wrn34_10-trades.yaml")
    assert (t.method["beta"], t.train.epochs, t.train.weight_decay, t.train.milestones) == (6.0, 76, 2e-4, [75])
    m = load_config(root / "cifar100-resnet18-mart.yaml")
    assert (m.method["beta"], m.train.lr, m.train.weight_decay) == (5.0, 0.01, 3.5e-3)
    assert load_config(root / "cifar10-wrn34_10-mart.yaml").method["beta"] == 6.0
    s = load_config(root / "svhn-wrn34_10-trades.yaml")
    assert (s.attack.alpha, s.attack.eps_ramp_epochs, s.data.flip, s.train.lr) == (1 / 255, 5, False, 0.01)


def test_paper_presets_match_their_generator():
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_paper_presets.py"), "--check"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def _differences(a: dict, b: dict, prefix: str = "") -> set[str]:
    out = set()
    for k in set(a) | set(b):
        if isinstance(a.get(k), dict) and isinstance(b.get(k), dict):
            out |= _differences(a[k], b[k], f"{prefix}{k}.")
        elif a.get(k) != b.get(k):
            out.add(prefix + k)
    return out


@pytest.mark.parametrize("ablation,field,value", [
    ("no_pos", "method.lambda_pos", 0.0), ("no_neg", "method.lambda_neg", 0.0),
    ("no_cons", "method.consistency", "none"), ("single_branch", "method.single_branch", True),
    ("logits_cosine", "model.logits", "cosine"), ("repulsion_feature", "method.repulsion", "feature"),
    ("consistency_feature_l2", "method.consistency", "feature_l2"), ("attack_kl", "attack.loss", "kl"),
])
def test_ablation_presets_change_exactly_their_switch(ablation, field, value):
    for ds in ("digits", "fmnist"):
        full = load_config(configs_dir() / "quick" / f"{ds}-adv_dpnp.yaml").to_dict()
        abl = load_config(configs_dir() / "quick" / "ablations" / f"{ds}-{ablation}.yaml").to_dict()
        diff = _differences(full, abl) - {"name", "description"}
        section, key = field.split(".")
        assert abl[section][key] == value
        assert diff <= {field, "attack.random_start"}, diff


def test_a_preset_naming_another_method_drops_its_bases_method_options(tmp_path):
    (tmp_path / "base.yaml").write_text("method: {name: adv_dpnp, lambda_pos: 0.5}\ntrain: {epochs: 7}\n")
    (tmp_path / "same.yaml").write_text("base: base.yaml\nmethod: {lambda_neg: 0.0}\n")
    (tmp_path / "other.yaml").write_text("base: base.yaml\nmethod: {name: trades}\n")
    same = load_config(tmp_path / "same.yaml")
    assert (same.method["lambda_pos"], same.method["lambda_neg"]) == (0.5, 0.0)
    other = load_config(tmp_path / "other.yaml")
    assert other.method == {"name": "trades", "beta": 6.0} and other.train.epochs == 7


def test_proto_pgd_at_preset_is_pgd_at_on_a_prototype_head():
    cfg = load_config(configs_dir() / "quick" / "ablations" / "digits-proto_pgd_at.yaml")
    assert cfg.method == {"name": "pgd_at"} and cfg.model.head == "prototype"


def test_methods_command_lists_every_preset_but_not_the_bases(capsys):
    from advdpnp.cli import main

    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    for name in METHOD_HEADS:
        assert f"\n  {name} " in out
    for path in PRESETS:
        rel = str(path.relative_to(configs_dir()).with_suffix(""))
        assert (f"  {rel} " in out) != path.name.startswith("_"), rel


# ----------------------------------------------------------------------------- short training runs

@pytest.mark.parametrize("method", sorted(METHOD_HEADS))
def test_short_digits_run_learns(method, tmp_path):
    """A few epochs of a small MLP on digits: adversarial methods beat chance under PGD, others clean."""
    from advdpnp.evaluate.basic import evaluate_basic
    from advdpnp.train.trainer import Trainer

    cfg = load_config(None, [f"out_dir={tmp_path}", f"method.name={method}", f"model.head={METHOD_HEADS[method]}",
                             "model.arch=mlp", "model.kwargs={hidden: [128, 128]}", "train.epochs=4",
                             "train.progress=false", "train.batch_size=64", "train.lr=0.1", "attack.steps=3",
                             "attack.alpha=0.08", "train.val_points=50", "train.val_pgd_steps=2",
                             "eval.pgd_steps=10"])
    trainer = Trainer(cfg, tmp_path / "run")
    trainer.fit()
    acc = evaluate_basic(trainer.model, trainer.data, cfg, n=200)["attacks"]
    assert acc["clean"]["accuracy"] > 0.5
    if trainer.method.adversarial:
        assert acc["pgd10"]["accuracy"] > 0.1
