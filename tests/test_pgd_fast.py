"""The in-place PGD loop returns exactly what the straightforward textbook loop returns."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from advdpnp.attacks import LOSSES, attack_mode, pgd
from advdpnp.attacks.pgd import _noise
from advdpnp.models.classifier import build_model


def reference_pgd(model, x, y, eps, alpha, steps, loss, random_start, generator=None, init_std=0.001):
    """The plain loop (fresh tensors every step, bounds recomputed): the semantics pgd() must keep."""
    objective = LOSSES[loss]
    with attack_mode(model):
        clean_logp = F.log_softmax(model(x), dim=1).detach() if loss == "kl" else None
        if random_start == "uniform":
            delta = (2 * _noise(torch.rand, x, generator) - 1) * eps
        elif random_start == "normal":
            delta = init_std * _noise(torch.randn, x, generator)
        else:
            delta = torch.zeros_like(x)
        x_adv = (x + delta).clamp(0.0, 1.0)
        for _ in range(steps):
            x_adv = x_adv.detach().requires_grad_(True)
            grad, = torch.autograd.grad(objective(model(x_adv), y, clean_logp), x_adv)
            x_adv = x_adv.detach() + alpha * grad.sign()
            x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0.0, 1.0)
    return x_adv.detach()


@pytest.mark.parametrize("loss,start", [("ce", "uniform"), ("kl", "normal"), ("margin", "none")])
@pytest.mark.parametrize("channels_last", [False, True])
def test_pgd_equals_the_reference_loop_bit_for_bit(loss, start, channels_last):
    torch.manual_seed(0)
    model = build_model("small_cnn", 1, 8, 10)
    x, y = torch.rand(16, 1, 8, 8), torch.randint(0, 10, (16,))
    x[:4] = 0.0  # pixels at the box edges exercise the [0, 1] clamp
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    got = pgd(model, x, y, 0.2, 0.05, 5, loss=loss, random_start=start,
              generator=torch.Generator().manual_seed(3))
    ref = reference_pgd(model, x, y, 0.2, 0.05, 5, loss, start, generator=torch.Generator().manual_seed(3))
    assert torch.equal(got, ref)
    assert not torch.equal(got, x)  # the attack moved the points
    assert not got.requires_grad and got.grad_fn is None
    assert (got - x).abs().max() <= 0.2 + 1e-6 and got.min() >= 0 and got.max() <= 1


def test_pgd_leaves_inputs_and_model_untouched():
    torch.manual_seed(0)
    model = build_model("small_cnn", 1, 8, 10).train()
    x, y = torch.rand(8, 1, 8, 8), torch.randint(0, 10, (8,))
    x0 = x.clone()
    pgd(model, x, y, 0.2, 0.05, 3, random_start="none")
    assert torch.equal(x, x0) and model.training
    assert all(p.requires_grad and p.grad is None for p in model.parameters())
