"""Load a trained model (and its test data) back from a run directory or a checkpoint file."""

from __future__ import annotations

from pathlib import Path

import torch

from ..config import Config, build_dataclass
from ..data import DataSplits, build_data
from ..errors import UserError
from ..methods import validate_method_options
from ..models.classifier import Classifier
from ..paths import find_checkpoint
from ..train.checkpoint import safe_load
from ..train.setup import model_from_config, resolve_device


def load_checkpoint_model(path: Path, device: torch.device) -> tuple[Config, Classifier, dict]:
    """Rebuild the model from the config stored in the checkpoint and load its weights."""
    state = safe_load(path, device)
    if not isinstance(state, dict) or "config" not in state or "model" not in state:
        raise UserError(f"{path} is not an advdpnp checkpoint (no config/model entries)")
    cfg = build_dataclass(Config, state["config"])
    cfg.method = validate_method_options(cfg.method)
    if "image_shape" not in state or "num_classes" not in state:
        raise UserError(f"{path} lacks image_shape/num_classes metadata")
    model = model_from_config(cfg, tuple(state["image_shape"]), int(state["num_classes"])).to(device)
    model.load_state_dict(state["model"])
    model.eval()
    return cfg, model, state


def load_run(target: str, which: str = "best", device: str = "auto",
             data_root: str | None = None) -> tuple[Config, Classifier, DataSplits, Path]:
    """Config, model in eval mode, the data splits, and the checkpoint path of a run."""
    ckpt = find_checkpoint(target, which)
    dev = resolve_device(device)
    cfg, model, _ = load_checkpoint_model(ckpt, dev)
    d = cfg.data
    data = build_data(d.name, data_root or d.root, False, d.val_fraction, d.split_seed, d.train_subset,
                      d.test_subset, device=dev)
    return cfg, model, data, ckpt
