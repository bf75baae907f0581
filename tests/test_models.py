"""Backbones: shapes, gradients to the input, and parameter counts against hand-computed reference numbers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from advdpnp.errors import UserError
from advdpnp.models import MODELS, Backbone

OUT_DIMS = {
    "mlp": 256,
    "small_cnn": 200,
    "preact_resnet18": 512,
    "resnet18": 512,
    "wrn28_10": 640,
    "wrn34_10": 640,
}
CHEAP = ["mlp", "small_cnn", "preact_resnet18", "resnet18"]


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def conv(cin: int, cout: int, k: int = 3, bias: bool = False) -> int:
    return cin * cout * k * k + (cout if bias else 0)


def bn(c: int) -> int:
    return 2 * c


def check_forward_backward(model: Backbone, x: torch.Tensor) -> None:
    x = x.clone().requires_grad_(True)
    y = model(x)
    assert y.shape == (x.shape[0], model.out_dim)
    assert torch.isfinite(y).all()
    y.square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_all_expected_models_registered() -> None:
    assert set(OUT_DIMS) <= set(MODELS.names())
    for name in MODELS:
        assert MODELS.help(name)


def test_unknown_model_is_a_user_error() -> None:
    with pytest.raises(UserError, match="resnet18"):
        MODELS.get("resnet19")


@pytest.mark.parametrize("name", CHEAP + ["wrn28_10"])
def test_tiny_grayscale_images(name: str) -> None:
    torch.manual_seed(0)
    model = MODELS.get(name)(1, 8)
    assert isinstance(model, Backbone) and model.out_dim == OUT_DIMS[name]
    check_forward_backward(model, torch.randn(2, 1, 8, 8))


@pytest.mark.parametrize("name", CHEAP)
@pytest.mark.parametrize("shape", [(1, 28), (3, 32)])
def test_mnist_and_cifar_sizes(name: str, shape: tuple[int, int]) -> None:
    torch.manual_seed(0)
    c, s = shape
    model = MODELS.get(name)(c, s)
    check_forward_backward(model, torch.randn(2, c, s, s))


def test_wrn34_10_count_and_forward() -> None:
    torch.manual_seed(0)
    model = MODELS.get("wrn34_10")(3, 32)
    # Hand count: stem, 3 stages of 5 pre-act blocks (widths 160/320/640), final BN.
    # Equals the TRADES WRN-34-10 (46,160,474) minus its 640*10+10 classifier.
    expected = conv(3, 16) + bn(640)
    for cin, cout in [(16, 160), (160, 320), (320, 640)]:
        expected += bn(cin) + conv(cin, cout) + bn(cout) + conv(cout, cout) + conv(cin, cout, 1)
        expected += 4 * (2 * bn(cout) + 2 * conv(cout, cout))
    assert expected == 46_160_474 - 6410
    assert n_params(model) == pytest.approx(expected, rel=0.01)
    model.eval()
    with torch.no_grad():
        y = model(torch.randn(1, 3, 32, 32))
    assert y.shape == (1, 640) and torch.isfinite(y).all()


def test_preact_resnet18_count() -> None:
    # Rice et al.'s PreActResNet18: kuangliu's 11,171,146 plus the final BN(512), minus the 10-class fc.
    expected = conv(3, 64) + bn(512)
    for cin, cout in [(64, 64), (64, 128), (128, 256), (256, 512)]:
        expected += bn(cin) + conv(cin, cout) + bn(cout) + conv(cout, cout)
        expected += conv(cin, cout, 1) if cin != cout else 0
        expected += 2 * bn(cout) + 2 * conv(cout, cout)
    assert expected == 11_171_146 + 1024 - 5130
    assert n_params(MODELS.get("preact_resnet18")(3, 32)) == pytest.approx(expected, rel=0.01)


def test_resnet18_count() -> None:
    # kuangliu's CIFAR ResNet18 (11,173,962) minus the 10-class fc.
    expected = conv(3, 64) + bn(64)
    for cin, cout in [(64, 64), (64, 128), (128, 256), (256, 512)]:
        expected += conv(cin, cout) + bn(cout) + conv(cout, cout) + bn(cout)
        expected += conv(cin, cout, 1) + bn(cout) if cin != cout else 0
        expected += 2 * (conv(cout, cout) + bn(cout))
    assert expected == 11_173_962 - 5130
    assert n_params(MODELS.get("resnet18")(3, 32)) == pytest.approx(expected, rel=0.01)


def test_small_cnn_count_matches_trades_mnist() -> None:
    # TRADES SmallCNN on 1x28x28 without its last fc(200->10): 28->26->24->12->10->8->4, so fc 64*4*4 -> 200.
    expected = conv(1, 32, bias=True) + conv(32, 32, bias=True) + conv(32, 64, bias=True) + conv(64, 64, bias=True)
    expected += (1024 * 200 + 200) + (200 * 200 + 200)
    assert expected == 310_192
    assert n_params(MODELS.get("small_cnn")(1, 28)) == pytest.approx(expected, rel=0.01)


def first_fc_inputs(model: nn.Module) -> int:
    return next(m for m in model.modules() if isinstance(m, nn.Linear)).in_features


def test_small_cnn_padding_choice() -> None:
    assert first_fc_inputs(MODELS.get("small_cnn")(1, 28)) == 64 * 4 * 4
    assert first_fc_inputs(MODELS.get("small_cnn")(1, 8)) == 64 * 2 * 2
    assert first_fc_inputs(MODELS.get("small_cnn")(1, 28, padding=1)) == 64 * 7 * 7
    with pytest.raises(ValueError):
        MODELS.get("small_cnn")(1, 8, padding=0)


def test_small_cnn_dropout_default_is_deterministic() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 1, 28, 28)
    model = MODELS.get("small_cnn")(1, 28).train()
    assert torch.equal(model(x), model(x))
    noisy = MODELS.get("small_cnn")(1, 28, dropout=0.5).train()
    assert not torch.equal(noisy(x), noisy(x))


def test_mlp_hidden_kwarg() -> None:
    model = MODELS.get("mlp")(1, 8, hidden=(32, 16, 8))
    assert model.out_dim == 8
    assert n_params(model) == (64 * 32 + 32) + (32 * 16 + 16) + (16 * 8 + 8)
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 8)


def test_wide_resnet_generic_kwargs() -> None:
    model = MODELS.get("wrn34_10")(1, 8, depth=16, widen_factor=2)
    assert model.out_dim == 128
    check_forward_backward(model, torch.randn(2, 1, 8, 8))
    with pytest.raises(ValueError):
        MODELS.get("wrn28_10")(3, 32, depth=20)


@pytest.mark.parametrize("name", CHEAP)
def test_in_channels_honoured(name: str) -> None:
    first = next(m for m in MODELS.get(name)(5, 8).modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    assert (first.in_channels if isinstance(first, nn.Conv2d) else first.in_features // 64) == 5
