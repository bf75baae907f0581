"""The TRADES MNIST CNN (Zhang et al. 2019), minus its last classification layer."""

from __future__ import annotations

import torch
from torch import nn

from .base import MODELS, Backbone


def _conv_out(size: int, padding: int) -> int:
    """Spatial size after a 3x3, stride-1 convolution."""
    return size + 2 * padding - 2


class SmallCNN(Backbone):
    """conv32-conv32-pool-conv64-conv64-pool, then fc200-ReLU-fc200-ReLU; out_dim 200."""

    def __init__(self, in_channels: int, image_size: int, padding: int, dropout: float, init: str) -> None:
        super().__init__()
        size = image_size
        for _ in range(2):  # two conv-conv-pool stages
            size = _conv_out(_conv_out(size, padding), padding) // 2
        if size < 1:
            raise ValueError(f"small_cnn: image_size {image_size} is too small for padding={padding}")
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, padding=padding),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 32, 3, padding=padding),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(32, 64, 3, padding=padding),
            nn.ReLU(inplace=True),
            nn.Conv2d(64, 64, 3, padding=padding),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2, 2),
        )
        # TRADES puts dropout between the two fc layers; default 0 keeps attacks deterministic.
        self.fc = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64 * size * size, 200),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(200, 200),
            nn.ReLU(inplace=True),
        )
        self.out_dim = 200
        if init == "kaiming":
            # The official TRADES init. With PyTorch's default conv init the activations shrink at
            # every layer and linear-head PGD-AT / MART sit at chance for 10-20 epochs on digits.
            for m in self.features:
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight)
                    nn.init.zeros_(m.bias)
        elif init != "default":
            raise ValueError(f"small_cnn: init must be 'kaiming' or 'default', got {init!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


@MODELS.register("small_cnn", help="TRADES MNIST CNN, 4 convs + 2 fc (kwargs padding, dropout, init); out_dim 200")
def small_cnn(in_channels: int, image_size: int, padding: int | None = None, dropout: float = 0.0,
              init: str = "kaiming") -> Backbone:
    # Unpadded convs as in TRADES (28x28 -> 64x4x4); tiny images such as 8x8 digits need padding 1.
    if padding is None:
        padding = 0 if image_size >= 20 else 1
    return SmallCNN(in_channels, image_size, padding, dropout, init)
