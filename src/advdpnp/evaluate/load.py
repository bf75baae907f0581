"""Load a trained model (and its test data) back from a run directory or a checkpoint file."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..config import Config, build_dataclass
from ..data import DataSplits, build_data
from ..errors import UserError
from ..methods import validate_method_options
from ..models.classifier import Classifier
from ..paths import find_checkpoint
from ..train.checkpoint import safe_load, sha256_file
from ..train.setup import model_from_config, resolve_device


#: files `advdpnp export` writes (weights as safetensors, metadata as JSON)
WEIGHTS_NAME, CARD_NAME = "model.safetensors", "model_card.json"


def config_from_dict(tree: dict) -> Config:
    """A stored run config, validated like a fresh one."""
    cfg = build_dataclass(Config, tree)
    cfg.method = validate_method_options(cfg.method)
    return cfg


def load_checkpoint_model(path: Path, device: torch.device) -> tuple[Config, Classifier, dict]:
    """Rebuild the model from the config stored in the checkpoint and load its weights."""
    state = safe_load(path, device)
    if not isinstance(state, dict) or "config" not in state or "model" not in state:
        raise UserError(f"{path} is not an advdpnp checkpoint (no config/model entries)")
    cfg = config_from_dict(state["config"])
    if "image_shape" not in state or "num_classes" not in state:
        raise UserError(f"{path} lacks image_shape/num_classes metadata")
    model = model_from_config(cfg, tuple(state["image_shape"]), int(state["num_classes"])).to(device)
    model.load_state_dict(state["model"])
    model.eval()
    return cfg, model, state


def exported_weights(target: str | Path) -> Path | None:
    """The safetensors file of an `advdpnp export` folder or file (None: not an export)."""
    p = Path(target)
    if p.is_dir() and (p / CARD_NAME).is_file():
        return p / WEIGHTS_NAME
    return p if p.suffix == ".safetensors" else None


def load_exported(weights: Path, device: torch.device) -> tuple[Config, Classifier, dict]:
    """Model from `model.safetensors` + `model_card.json` (checksum verified; no pickle involved)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    card_path = weights.with_name(CARD_NAME)
    if not weights.is_file() or not card_path.is_file():
        raise UserError(f"an exported model needs {weights.name} and {CARD_NAME} side by side in {weights.parent}")
    try:
        card = json.loads(card_path.read_text())
    except ValueError as e:
        raise UserError(f"{card_path} is not valid JSON: {e}") from None
    got = sha256_file(weights)
    if card.get("weights_sha256") != got:
        raise UserError(f"{weights} does not match the sha256 in {card_path.name} (corrupt or altered file)")
    try:
        tensors = load_file(weights, device=str(device))
    except (SafetensorError, OSError) as e:
        raise UserError(f"cannot read {weights}: {e}") from None
    cfg = config_from_dict(card["config"])
    model = model_from_config(cfg, tuple(card["image_shape"]), int(card["num_classes"])).to(device)
    model.load_state_dict(tensors)
    model.eval()
    return cfg, model, card


def checkpoint_epoch(path: Path) -> int:
    """The training epoch a checkpoint or an exported model comes from."""
    if path.suffix == ".safetensors":
        return int(json.loads(path.with_name(CARD_NAME).read_text())["epoch"])
    return int(safe_load(path)["epoch"])


def checkpoint_path(target: str, which: str = "best") -> Path:
    """The weights a RUN_DIR, checkpoint or `advdpnp export` folder names (a one-line error if there are none),
    found without loading them: a plan of evaluations checks all its targets before the first one runs."""
    return exported_weights(target) or find_checkpoint(target, which)


def load_run(target: str, which: str = "best", device: str = "auto",
             data_root: str | None = None) -> tuple[Config, Classifier, DataSplits, Path]:
    """Config, model in eval mode, the data splits, and the checkpoint (or exported weights) path."""
    dev = resolve_device(device)
    ckpt = checkpoint_path(target, which)
    load = load_exported if ckpt.suffix == ".safetensors" else load_checkpoint_model
    cfg, model, _ = load(ckpt, dev)
    d = cfg.data
    data = build_data(d.name, data_root or d.root, False, d.val_fraction, d.split_seed, d.train_subset,
                      d.test_subset, device=dev)
    return cfg, model, data, ckpt
