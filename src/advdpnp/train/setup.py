"""From a validated config to data, model and method on a device (shared by train and eval)."""

from __future__ import annotations

import torch

from ..config import Config, ConfigError
from ..data import DataSplits, build_data
from ..methods import Method, build_method
from ..models import MODELS
from ..models.classifier import Classifier, build_model


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ConfigError("train.device", name, "must be auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device", name, "CUDA is not available on this machine; use cpu or auto")
    return dev


def channel_stats(x: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 images, in [0,1] units (computed in chunks)."""
    c = x.shape[1]
    s = torch.zeros(c, dtype=torch.float64)
    s2 = torch.zeros(c, dtype=torch.float64)
    n = 0
    for i in range(0, len(x), 4096):
        xb = x[i:i + 4096].double().cpu() / 255.0
        s += xb.sum(dim=(0, 2, 3))
        s2 += xb.pow(2).sum(dim=(0, 2, 3))
        n += xb.numel() // c
    mean = s / n
    std = (s2 / n - mean.pow(2)).clamp_min(1e-12).sqrt()
    return mean.tolist(), std.tolist()


def build_from_config(cfg: Config, device: torch.device) -> tuple[DataSplits, Classifier, Method]:
    """Data on `device`, the model (normalisation inside) and the training method."""
    d = cfg.data
    data = build_data(d.name, d.root, d.download, d.val_fraction, d.split_seed, d.train_subset, d.test_subset,
                      device=device)
    model = model_from_config(cfg, data.image_shape, data.num_classes,
                              channel_stats(data.train_x) if cfg.model.normalize else None).to(device)
    method = build_method(cfg.method)
    if cfg.model.head not in method.heads:
        raise ConfigError("model.head", cfg.model.head,
                          f"method '{cfg.method['name']}' needs one of: {', '.join(method.heads)}")
    return data, model, method


def model_from_config(cfg: Config, image_shape: tuple[int, int, int], num_classes: int,
                      stats: tuple[list[float], list[float]] | None = None) -> Classifier:
    m = cfg.model
    MODELS.get(m.arch)  # unknown names fail here with the list of choices
    mean, std = stats if stats is not None else (None, None)
    return build_model(m.arch, image_shape[0], image_shape[1], num_classes, head=m.head, mean=mean, std=std,
                       radius=m.radius, logits=m.logits, tau=m.tau, **m.kwargs)
