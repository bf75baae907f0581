"""Model registry. A backbone maps normalised images to a flat feature vector of size `out_dim`."""

from __future__ import annotations

from torch import nn

from ..registry import Registry

#: name -> factory(in_channels: int, image_size: int, **kwargs) -> Backbone
MODELS: Registry = Registry("model")


class Backbone(nn.Module):
    """Base for feature extractors: `forward(x) -> (N, out_dim)` features after the final pooling."""

    out_dim: int
