"""SPEC section 2 invariants of the prototype head and the Adv-DPNP loss."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from advdpnp.errors import ConfigError
from advdpnp.losses.prototype import rival_gap, rival_hinge
from advdpnp.methods import build_method
from advdpnp.models import build_model


def _model(logits: str = "dot", radius: float = 4.0):
    torch.manual_seed(0)
    return build_model("small_cnn", 1, 8, 10, head="prototype", radius=radius, logits=logits)


def _batch(n: int = 16):
    g = torch.Generator().manual_seed(1)
    x = torch.rand(n, 1, 8, 8, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    x_adv = (x + 0.2 * (2 * torch.rand(x.shape, generator=g) - 1)).clamp(0, 1)
    return x, y, x_adv


def _proto_grad(method_opts: dict) -> torch.Tensor:
    model = _model()
    model.train()
    x, y, x_adv = _batch()
    loss, _ = build_method({"name": "adv_dpnp", **method_opts}).loss(model, x, y, x_adv)
    (grad,) = torch.autograd.grad(loss, model.head.weight)
    return grad


@pytest.mark.parametrize("consistency", ["kl", "feature_l2", "none"])
@pytest.mark.parametrize("repulsion,hinge", [("prototype", "squared"), ("feature", "squared"),
                                             ("feature", "scaled"), ("feature", "distance")])
def test_adversarial_branch_gives_prototypes_exactly_zero_gradient(consistency, repulsion, hinge):
    """grad_V L_adv == 0: the total gradient on V equals the clean branch's, bit for bit."""
    opts = {"consistency": consistency, "repulsion": repulsion, "hinge": hinge}
    with_adv = _proto_grad({**opts, "beta_adv": 1.0})
    clean_only = _proto_grad({**opts, "beta_adv": 0.0})
    assert with_adv.abs().sum() > 0
    assert torch.equal(with_adv, clean_only)


def test_single_branch_ablation_lets_adversarial_data_move_prototypes():
    with_adv = _proto_grad({"single_branch": True, "beta_adv": 1.0})
    clean_only = _proto_grad({"single_branch": True, "beta_adv": 0.0})
    assert (with_adv - clean_only).abs().max() > 1e-6


def test_prototype_norms_stay_r_after_optimiser_steps():
    model = _model(radius=3.0)
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9, weight_decay=5e-2)
    method = build_method({"name": "adv_dpnp"})
    x, y, x_adv = _batch()
    before = model.head.prototypes().detach().clone()
    for _ in range(5):
        loss, _ = method.loss(model, x, y, x_adv)
        opt.zero_grad()
        loss.backward()
        opt.step()
        norms = model.head.prototypes().norm(dim=1)
        assert torch.allclose(norms, torch.full_like(norms, 3.0), atol=1e-5)
    assert not torch.allclose(before, model.head.prototypes())  # they did move


def test_dot_logits_and_nearest_prototype_agree():
    model = _model("dot")
    z = 3 * torch.randn(256, model.backbone.out_dim, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        protos = model.head.prototypes()
        dot_pred = model.head.logits(z, protos).argmax(1)
        nearest = torch.cdist(z, protos).argmin(1)
        # softmax over z.p equals softmax over -1/2 ||z-p||^2 when all ||p|| are equal (float64:
        # the squared distances are large and cancel in the softmax)
        zd, pd = z.double(), protos.double()
        p_dot = torch.softmax(zd @ pd.t(), 1)
        p_dist = torch.softmax(-0.5 * (zd[:, None, :] - pd[None]).pow(2).sum(-1), 1)
    assert torch.equal(dot_pred, nearest)
    assert len(torch.unique(dot_pred)) > 1
    assert torch.allclose(p_dot, p_dist, atol=1e-9)


@pytest.mark.parametrize("field,terms", [
    ("lambda_pos", ["pos", "pos_adv"]),
    ("lambda_neg", ["neg"]),
    ("lambda_cons", ["cons"]),
])
def test_switching_a_term_off_removes_exactly_its_contribution(field, terms):
    model = _model(radius=50.0)  # large logits, so an untrained model's KL term is not ~0
    x, y, _ = _batch()
    x_adv = 1 - x
    base = build_method({"name": "adv_dpnp"})
    off = build_method({"name": "adv_dpnp", field: 0.0})
    loss_on, logs = base.loss(model, x, y, x_adv)
    loss_off, _ = off.loss(model, x, y, x_adv)
    weight = getattr(base.opt, field)
    beta = {"pos_adv": base.opt.beta_adv, "cons": base.opt.beta_adv}
    expected = sum(weight * beta.get(t, 1.0) * logs[t] for t in terms)
    assert expected.abs() > 1e-4
    assert torch.allclose(loss_on - loss_off, expected, rtol=1e-4, atol=1e-5)


def test_beta_adv_zero_leaves_the_clean_branch_only():
    model = _model()
    x, y, x_adv = _batch()
    loss, logs = build_method({"name": "adv_dpnp", "beta_adv": 0.0}).loss(model, x, y, x_adv)
    o = build_method({"name": "dpnp"}).opt
    clean = logs["ce"] + o.lambda_pos * logs["pos"] + o.lambda_neg * logs["neg"]
    assert torch.allclose(loss, clean, atol=1e-6)
    dpnp_loss, _ = build_method({"name": "dpnp"}).loss(model, x, y, None)
    assert torch.allclose(loss, dpnp_loss, atol=1e-6)


def test_every_spec_option_is_a_method_config_field():
    o = build_method({"name": "adv_dpnp"}).opt
    d = dataclasses.asdict(o)
    for k in ("lambda_pos", "lambda_neg", "lambda_cons", "beta_adv", "margin", "repulsion", "hinge",
              "consistency", "single_branch"):
        assert k in d


def _hinge_grad(form: str, radius: float) -> torch.Tensor:
    """d hinge / d z for fixed prototype directions scaled to `radius`, every point misclassified."""
    g = torch.Generator().manual_seed(2)
    directions = torch.nn.functional.normalize(torch.randn(10, 8, generator=g), dim=1)
    y = torch.arange(10)
    z = (-3 * directions + 0.1 * torch.randn(10, 8, generator=g)).requires_grad_()  # far from own prototype
    rival_hinge(z, radius * directions, y, margin=1.0, form=form, radius=radius).backward()
    return z.grad


def test_scaled_hinge_pull_does_not_grow_with_the_radius_and_squared_does():
    """Why `hinge=scaled` exists: the squared gap is 2 z.(p_y - p_j), its pull on z scales with r."""
    assert torch.allclose(_hinge_grad("scaled", 10.0), _hinge_grad("scaled", 1.0), atol=1e-6)
    assert torch.allclose(_hinge_grad("squared", 10.0), 10 * _hinge_grad("squared", 1.0), rtol=1e-4, atol=1e-6)


def test_hinge_gaps_match_their_definitions():
    g = torch.Generator().manual_seed(3)
    z, protos = torch.randn(6, 4, generator=g), 2.5 * torch.randn(5, 4, generator=g)
    y = torch.tensor([0, 1, 2, 3, 4, 0])
    d = torch.cdist(z, protos)
    rival = d.scatter(1, y[:, None], float("inf")).min(dim=1).values
    own = d.gather(1, y[:, None]).squeeze(1)
    sq = rival_gap(z, protos, y, "squared")
    assert torch.allclose(sq, rival_gap(z, protos, y, "squared", radius=7.0))  # radius only rescales `scaled`
    assert torch.allclose(rival_gap(z, protos, y, "scaled", radius=2.5), sq / 5.0, atol=1e-5)
    assert torch.allclose(rival_gap(z, protos, y, "distance"), rival - own, atol=1e-5)
    # hinge = mean relu(m - gap): zero once every gap exceeds the margin
    assert float(rival_hinge(z, protos, y, margin=float(sq.min()) - 1.0)) == 0.0
    with pytest.raises(ValueError, match="hinge form"):
        rival_gap(z, protos, y, "cubic")


def test_hinge_form_without_feature_repulsion_is_a_config_error():
    with pytest.raises(ConfigError, match="method.hinge"):
        build_method({"name": "adv_dpnp", "hinge": "scaled"})
    assert build_method({"name": "dpnp", "repulsion": "feature", "hinge": "distance"}).opt.hinge == "distance"
