"""FGSM, PGD and the adaptive prototype attack: budgets, sharding invariance, cross-check with torchattacks."""

from __future__ import annotations

import pytest
import torch

from advdpnp.attacks.adaptive import class_centroids, model_prototypes, prototype_pgd
from advdpnp.attacks.fgsm import fgsm
from advdpnp.evaluate.accuracy import clean_correct, pgd_correct, sample_seeds

from evalkit import digits, trained

EPS = 0.1  # a standard digits model keeps ~40 % here: accuracies are informative, not 0 or 1


def _data(n=120):
    _, _, x, y = digits()
    return x[:n], y[:n]


def _acc(model, x_adv, y):
    return clean_correct(model, x_adv, y).float().mean().item()


def test_fgsm_is_one_signed_step_inside_the_box():
    model, (x, y) = trained(), _data()
    x_adv = fgsm(model, x, y, EPS)
    d = (x_adv - x).abs()
    assert d.max() <= EPS + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    # every pixel that can move moves by exactly eps (no random start, one full step)
    free = ((x > EPS) & (x < 1 - EPS))
    assert torch.allclose(d[free], torch.full_like(d[free], EPS), atol=1e-6)
    assert _acc(model, x_adv, y) < _acc(model, x, y) - 0.2


def test_torchattacks_cross_check():
    ta = pytest.importorskip("torchattacks", reason="torchattacks not installed (pip install --no-deps "
                             "torchattacks==3.5.1)")
    model, (x, y) = trained(), _data(200)
    ours_fgsm = _acc(model, fgsm(model, x, y, EPS), y)
    theirs_fgsm = _acc(model, ta.FGSM(model, eps=EPS)(x, y), y)
    assert abs(ours_fgsm - theirs_fgsm) <= 1 / len(y) + 1e-6  # deterministic: the same up to ties
    ours_pgd = pgd_correct(model, x, y, EPS, EPS / 4, 20).float().mean().item()
    torch.manual_seed(1)
    theirs_pgd = _acc(model, ta.PGD(model, eps=EPS, alpha=EPS / 4, steps=20, random_start=True)(x, y), y)
    assert 0.05 < ours_pgd < 0.9
    assert abs(ours_pgd - theirs_pgd) <= 0.04  # different random starts: equal within noise


def test_adaptive_attack_breaks_a_standard_model_and_stays_in_budget():
    model, (x, y) = trained(), _data()
    protos = model_prototypes(model)
    x_adv = prototype_pgd(model, x, y, protos, EPS, EPS / 4, 30, sample_seeds(torch.arange(len(y)), 0))
    assert (x_adv - x).abs().max() <= EPS + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    assert _acc(model, x_adv, y) < _acc(model, x, y) - 0.3
    # the objective is the distance gap: after the attack the nearest prototype is a rival more often
    z = model.features(x_adv)
    nearest = torch.cdist(z, protos).argmin(1)
    assert (nearest != y).float().mean() > 0.3


def test_adaptive_attack_is_independent_of_batching():
    model, (x, y) = trained(), _data(40)
    protos = model_prototypes(model)
    idx = torch.arange(len(y))
    full = prototype_pgd(model, x, y, protos, EPS, EPS / 4, 5, sample_seeds(idx, 3))
    half = prototype_pgd(model, x[20:], y[20:], protos, EPS, EPS / 4, 5, sample_seeds(idx[20:], 3))
    assert torch.allclose(full[20:], half, atol=1e-6)


def test_centroids_stand_in_for_linear_heads():
    model = trained("linear")
    xt, yt, _, _ = digits()
    assert model_prototypes(model) is None
    c = class_centroids(model, xt, yt, 10)
    assert c.shape == (10, model.backbone.out_dim)
    assert torch.allclose(c[yt[0]], model.features(xt[yt == yt[0]]).mean(0), atol=1e-4)
    x, y = _data()
    x_adv = prototype_pgd(model, x, y, c, EPS, EPS / 4, 30, sample_seeds(torch.arange(len(y)), 0))
    assert _acc(model, x_adv, y) < _acc(model, x, y) - 0.2
