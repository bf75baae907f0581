"""End-to-end training on digits: accuracy must rise far above chance; run dirs and eval outputs."""

from __future__ import annotations

import json

import pytest
import torch

from advdpnp.cli import main
from advdpnp.evaluate.basic import evaluate_basic
from advdpnp.train.trainer import Trainer


def test_adv_dpnp_learns_clean_and_robust_accuracy_on_digits(tmp_path):
    """Full digits train split, a few epochs: clean and PGD accuracy far above the 10 % of chance."""
    from advdpnp.config import load_config

    cfg = load_config(None, [f"out_dir={tmp_path}", "train.epochs=10", "train.progress=false",
                             "train.batch_size=64", "train.lr=0.1", "attack.steps=5", "attack.alpha=0.08",
                             "train.val_points=100", "train.val_pgd_steps=5", "eval.pgd_steps=10"])
    trainer = Trainer(cfg, tmp_path / "run")
    before = evaluate_basic(trainer.model, trainer.data, cfg, n=200)["attacks"]
    summary = trainer.fit()
    after = evaluate_basic(trainer.model, trainer.data, cfg, n=200)["attacks"]
    assert not summary["at_chance"]
    assert before["clean"]["accuracy"] < 0.3
    assert after["clean"]["accuracy"] > 0.8
    assert after["pgd10"]["accuracy"] > 0.3
    assert after["pgd10"]["accuracy"] <= after["clean"]["accuracy"]


def test_a_run_that_learnt_nothing_is_reported_at_chance(tiny_cfg, tmp_path, capsys):
    """A model stuck where it started (a learning rate of 1e-9) finishes without an error: it must be named."""
    summary = Trainer(tiny_cfg("method.name=standard", "model.head=linear", "train.lr=1e-9"), tmp_path / "run").fit()
    assert summary["at_chance"]
    assert "at chance level" in capsys.readouterr().err


def test_a_finished_run_resumed_still_reports_at_chance(tiny_cfg, tmp_path, capsys):
    """Resuming a run whose training is done trains nothing, and must report the logged last epoch as it was."""
    cfg = tiny_cfg("method.name=standard", "model.head=linear", "train.lr=1e-9")
    Trainer(cfg, tmp_path / "run").fit()
    capsys.readouterr()
    summary = Trainer(cfg, tmp_path / "run", resume=True).fit()
    assert summary["at_chance"] and summary["epoch"] == cfg.train.epochs
    assert "at chance level" in capsys.readouterr().err


def test_chance_level_is_the_majority_label_plus_three_standard_errors():
    from advdpnp.train.trainer import chance_level

    assert chance_level(torch.tensor([0, 1] * 50), 2) == pytest.approx(0.5 + 3 * 0.05)
    assert chance_level(torch.tensor([2] * 64), 3) == 1.0  # one label only: nothing beats predicting it
    skewed = chance_level(torch.tensor([0] * 30 + [1] * 10 + [2] * 10 + [3] * 50), 4)
    assert skewed == pytest.approx(0.5 + 3 * 0.05)  # the majority (class 3), not 1/classes


def test_training_attack_leaves_batchnorm_statistics_untouched(tiny_cfg, tmp_path):
    cfg = tiny_cfg("model.arch=preact_resnet18")
    # a BN-heavy backbone on 8x8 digits, one crafted batch only
    trainer = Trainer(cfg, tmp_path / "run")
    bn = [m for m in trainer.model.modules() if isinstance(m, torch.nn.BatchNorm2d)][0]
    stats = bn.running_mean.clone()
    x = trainer.data.train_x[:8].float() / 255
    trainer.model.train()
    trainer.method.craft(trainer.model, x, trainer.data.train_y[:8], trainer.threat(), trainer.gen)
    assert torch.equal(stats, bn.running_mean)
    assert trainer.model.training  # mode restored after the attack
    assert all(p.requires_grad for p in trainer.model.parameters())


def test_cli_train_then_eval_writes_run_dir_and_results(tmp_path, capsys):
    run = tmp_path / "run"
    code = main(["train", f"out_dir={tmp_path}", "train.epochs=2", "train.progress=false",
                 "data.train_subset=300", "attack.steps=2", "train.val_points=50", "eval.n=50",
                 "eval.pgd_steps=3", "--run-dir", str(run)])
    assert code == 0
    out = capsys.readouterr().out
    assert "clean" in out and "pgd3" in out
    for f in ("config.yaml", "metrics.csv", "metrics.jsonl", "results.json", "checkpoints/last.pt",
              "checkpoints/best.pt"):
        assert (run / f).exists(), f
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert {"train_ce", "train_pos", "train_neg", "train_cons", "train_ce_adv", "val_pgd"} <= set(rows[0])
    assert all(r["train_grad_norm"] > 0 for r in rows)
    results = json.loads((run / "results.json").read_text())
    assert results["split"] == "test" and results["method"] == "adv_dpnp"
    code = main(["eval", str(run), "--n", "40"])
    assert code == 0
    again = json.loads((run / "results.json").read_text())
    assert again["n"] == 40 and 0.0 <= again["attacks"]["clean"]["accuracy"] <= 1.0


@pytest.mark.parametrize("method,head", [("standard", "linear"), ("pgd_at", "linear"), ("dpnp", "prototype")])
def test_baselines_train_from_the_cli(tmp_path, method, head):
    code = main(["train", f"out_dir={tmp_path}", f"method.name={method}", f"model.head={head}",
                 "train.epochs=1", "train.progress=false", "data.train_subset=200", "attack.steps=2",
                 "train.val_points=40", "--no-eval", "--run-dir", str(tmp_path / method)])
    assert code == 0


def test_warmup_grows_the_learning_rate_linearly_then_follows_the_schedule():
    from advdpnp.config import TrainConfig
    from advdpnp.train.schedule import lr_factor

    plain = TrainConfig(epochs=10, schedule="cosine")
    warm = TrainConfig(epochs=10, schedule="cosine", warmup_epochs=2)
    spe = 5  # steps per epoch: warm-up covers steps 0..9
    ramp = [lr_factor(warm, s, spe) / lr_factor(plain, s, spe) for s in range(10)]
    assert ramp == pytest.approx([(s + 1) / 10 for s in range(10)])
    assert all(lr_factor(warm, s, spe) == lr_factor(plain, s, spe) for s in range(10, 50))


@pytest.mark.parametrize("clip,clipped", [(0.0, None), (0.01, 1.0), (1e6, 0.0)])
def test_grad_clip_caps_the_step_and_the_logged_norm_is_the_one_before_clipping(tiny_cfg, tmp_path, clip, clipped):
    # plain SGD (no momentum, no decay, constant lr): the step is exactly lr times the (clipped) gradient
    cfg = tiny_cfg("train.momentum=0", "train.weight_decay=0", "train.schedule=constant", f"train.grad_clip={clip}")
    trainer = Trainer(cfg, tmp_path / "run")
    before = [p.detach().clone() for p in trainer.model.parameters()]
    logs = trainer.train_step(torch.arange(cfg.train.batch_size))
    norm = logs["grad_norm"]
    assert logs.get("grad_clipped") == clipped  # whether the clip acted (its epoch mean: the share of steps)
    step = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.detach() - b)
                                                 for p, b in zip(trainer.model.parameters(), before)]))
    assert norm > 10 * 0.01  # so clipping at 0.01 acts
    assert float(step) == pytest.approx(cfg.train.lr * (min(norm, clip) if clip else norm), rel=1e-4)


@pytest.mark.parametrize("method", ["standard", "dpnp", "pgd_at", "trades", "mart", "adv_dpnp"])
def test_a_training_step_reads_device_values_once(tiny_cfg, tmp_path, monkeypatch, method):
    """Each read of a tensor's value on the host (item, bool, float, tolist...) waits for a GPU to finish its
    queue; a step reads its logs and checks its guards in one read. Counted on CPU, where the reads are the same
    calls."""
    trainer = Trainer(tiny_cfg(f"method.name={method}", "train.grad_clip=1"), tmp_path / "run")
    idx = torch.arange(32)
    trainer.train_step(idx)  # first-call work (lazy initialisation) is not a step's
    reads = []
    for name in ("item", "tolist", "numpy", "__bool__", "__float__", "__int__", "__index__"):
        real = getattr(torch.Tensor, name)
        monkeypatch.setattr(torch.Tensor, name,
                            lambda self, *a, _real=real, _name=name, **k: reads.append(_name) or _real(self, *a, **k))
    logs = trainer.train_step(idx)
    monkeypatch.undo()
    assert reads == ["tolist"]
    assert all(type(v) is float for v in logs.values()) and {"loss", "grad_norm"} <= set(logs)
