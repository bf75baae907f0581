"""Run configuration: typed dataclasses, YAML presets, dotted command-line overrides, one-line errors.

Every field is validated on load; a bad value raises `ConfigError` naming the field, the value and
what is allowed. Method-specific options live in each method's own `Options` dataclass.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError, UserError

_EXPONENT_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def opt(default: Any, help: str = "", choices: tuple | None = None, min: float | None = None,
        max: float | None = None, min_exclusive: bool = False) -> Any:
    """A dataclass field with validation metadata."""
    meta = {"help": help, "choices": choices, "min": min, "max": max, "min_exclusive": min_exclusive}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class DataConfig:
    name: str = opt("digits", "registered dataset (see `advdpnp info`)")
    root: str | None = opt(None, "folder with the dataset files (None: the reader's default places)")
    download: bool = opt(False, "download when the files are absent (needs internet)")
    val_fraction: float = opt(0.1, "fraction of the training set held out for validation", min=0.0, max=1.0,
                              min_exclusive=True)
    split_seed: int = opt(0, "seed of the train/validation split (independent of train.seed)")
    train_subset: int | None = opt(None, "use only this many training images (stratified)", min=1)
    test_subset: int | None = opt(None, "use only this many test images (stratified)", min=1)
    crop_padding: int = opt(0, "random-crop padding in pixels (0: off)", min=0)
    flip: bool = opt(False, "random horizontal flips")


@dataclass
class ModelConfig:
    arch: str = opt("small_cnn", "registered backbone (see `advdpnp info`)")
    head: str = opt("prototype", "classifier head", choices=("prototype", "linear"))
    radius: float = opt(4.0, "prototype norm r", min=0.0, min_exclusive=True)
    logits: str = opt("dot", "prototype logits", choices=("dot", "cosine", "neg_sqdist"))
    tau: float = opt(10.0, "scale of cosine logits", min=0.0, min_exclusive=True)
    normalize: bool = opt(True, "standardise inputs inside the model with train-set mean/std")
    kwargs: dict = opt({}, "extra keyword arguments of the backbone factory")


@dataclass
class AttackConfig:
    """The training threat model (L-inf); evaluation uses the same eps unless told otherwise."""

    eps: float = opt(0.2, "L-inf radius in [0,1] pixel units", min=0.0)
    alpha: float = opt(0.05, "PGD step size", min=0.0, min_exclusive=True)
    steps: int = opt(10, "PGD steps while training", min=1)
    loss: str = opt("ce", "training-attack objective", choices=("ce", "kl"))
    random_start: str = opt("uniform", "PGD start", choices=("uniform", "normal", "none"))
    eps_ramp_epochs: int = opt(0, "grow eps (and alpha) linearly over the first N epochs (SVHN)", min=0)


@dataclass
class TrainConfig:
    epochs: int = opt(30, "training epochs", min=1)
    batch_size: int = opt(128, "global batch size", min=1)
    lr: float = opt(0.1, "initial SGD learning rate", min=0.0, min_exclusive=True)
    momentum: float = opt(0.9, "SGD momentum", min=0.0, max=1.0)
    nesterov: bool = opt(False, "Nesterov momentum")
    weight_decay: float = opt(5e-4, "SGD weight decay", min=0.0)
    schedule: str = opt("cosine", "learning-rate schedule", choices=("cosine", "multistep", "constant"))
    warmup_epochs: float = opt(0.0, "linear learning-rate warm-up over the first N epochs (0: none)", min=0.0)
    grad_clip: float = opt(0.0, "clip the global gradient norm to N before each optimiser step (0: off); every "
                           "run logs the norm before clipping as train_grad_norm, and a clipped run the share of "
                           "steps clipped as train_grad_clipped", min=0.0)
    milestones: list = opt([0.5, 0.75], "multistep milestones as fractions of the epochs (<1) or epochs (>=1)")
    gamma: float = opt(0.1, "multistep decay factor", min=0.0, min_exclusive=True)
    seed: int = opt(0, "training seed (init, data order, attack noise)")
    device: str = opt("auto", "auto | cpu | cuda | cuda:N")
    threads: int = opt(0, "torch CPU threads (0: leave torch's default)", min=0)
    val_every: int = opt(1, "validate every N epochs", min=1)
    val_points: int = opt(500, "validation points for the robust accuracy used to pick `best`", min=1)
    val_pgd_steps: int = opt(10, "PGD steps of the validation attack", min=1)
    select_on: str = opt("auto", "validation metric that picks checkpoints/best.pt (auto: val_pgd for "
                         "adversarial methods, val_clean for standard/dpnp)", choices=("auto", "val_pgd", "val_clean"))
    checkpoint_every: int = opt(0, "also save a mid-epoch checkpoint every N steps (0: per epoch only)", min=0)
    progress: bool = opt(True, "progress bars")
    amp: str = opt("none", "mixed-precision autocast of the training loss, CUDA only (attacks stay fp32)",
                   choices=("none", "bf16", "fp16"))
    channels_last: bool = opt(False, "channels_last memory format for model and batches")
    deterministic: bool = opt(False, "CUDA: deterministic cuDNN/cuBLAS kernels, so a seeded run and a resumed one "
                              "repeat bit for bit (slower; CPU training is deterministic already)")
    sync_bn: bool = opt(False, "SyncBatchNorm across processes under torchrun")


@dataclass
class EvalConfig:
    n: int | None = opt(None, "test points to evaluate (None: the whole test split)", min=1)
    batch_size: int = opt(256, "evaluation batch size", min=1)
    pgd_steps: int = opt(20, "PGD steps", min=1)
    pgd_alpha: float | None = opt(None, "PGD step (None: eps/4)", min=0.0, min_exclusive=True)
    pgd_restarts: int = opt(1, "PGD random restarts", min=1)
    seed: int = opt(0, "seed of the attacks' random starts")


@dataclass
class Config:
    name: str = opt("digits-adv_dpnp", "run name (the run directory's default name)")
    description: str = opt("", "one line shown by `advdpnp methods`")
    out_dir: str = opt("runs", "parent folder of run directories")
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    method: dict = opt({"name": "adv_dpnp"}, "training method and its options (see `advdpnp methods`)")
    attack: AttackConfig = field(default_factory=AttackConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# ----------------------------------------------------------------------------- validation

def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(path: str, value: Any, tp: Any) -> Any:
    """Check `value` against the annotation `tp`; ints are accepted where floats are expected."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(path, value, a)
            except ConfigError as e:
                errors.append(e)
        raise ConfigError(path, value, "must be " + " or ".join(_type_name(a) for a in args))
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(path, value, "must be true or false")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(path, value, "must be an integer")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and _EXPONENT_NUMBER.fullmatch(value.strip()):
            return float(value)  # YAML 1.1 reads `5e-4` (no dot) as a string; users mean the number
        raise ConfigError(path, value, "must be a number")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(path, value, "must be a string")
    if tp is list or origin is list:
        if isinstance(value, (list, tuple)):
            return list(value)
        raise ConfigError(path, value, "must be a list")
    if tp is dict or origin is dict:
        if isinstance(value, dict):
            return dict(value)
        raise ConfigError(path, value, "must be a mapping")
    return value


def _check_range(path: str, value: Any, meta: dict) -> None:
    if value is None or isinstance(value, bool):
        return
    if meta.get("choices") and value not in meta["choices"]:
        raise ConfigError(path, value, "must be one of " + ", ".join(map(str, meta["choices"])))
    lo, hi = meta.get("min"), meta.get("max")
    if isinstance(value, (int, float)):
        if lo is not None and (value < lo or (meta.get("min_exclusive") and value == lo)):
            raise ConfigError(path, value, f"must be {'>' if meta.get('min_exclusive') else '>='} {lo}")
        if hi is not None and value > hi:
            raise ConfigError(path, value, f"must be <= {hi}")


def build_dataclass(cls: type, values: dict, prefix: str = "") -> Any:
    """Instantiate dataclass `cls` from a mapping, validating every field (recursively)."""
    if not isinstance(values, dict):
        raise ConfigError(prefix.rstrip(".") or "config", values, "must be a mapping")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(prefix + unknown[0], values[unknown[0]],
                          "unknown field; allowed: " + ", ".join(sorted(fields)))
    kwargs = {}
    for name, value in values.items():
        tp, path = hints[name], prefix + name
        if dataclasses.is_dataclass(tp):
            kwargs[name] = build_dataclass(tp, value if value is not None else {}, path + ".")
        else:
            kwargs[name] = _coerce(path, value, tp)
            _check_range(path, kwargs[name], dict(fields[name].metadata))
    return cls(**kwargs)


def _set_dotted(tree: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = tree
    for k in keys[:-1]:
        node = node.setdefault(k, {})
        if not isinstance(node, dict):
            raise ConfigError(dotted, value, f"'{k}' is not a section")
    node[keys[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """`train.epochs=3` -> ("train.epochs", 3); values are parsed as YAML scalars/lists."""
    if "=" not in text:
        raise UserError(f"override {text!r} must look like section.field=value")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw != "" else None
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def _deep_merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) and k != "kwargs" else v
    return out


def load_config(path: str | Path | None = None, overrides: list[str] | tuple = ()) -> Config:
    """Defaults <- YAML preset (may name `base:` presets) <- dotted overrides, then validate."""
    tree: dict = {}
    if path is not None:
        tree = load_yaml_tree(Path(path))
    preset_method = _method_name(tree)
    method_overrides: dict = {}
    for text in overrides:
        key, value = parse_override(text)
        _set_dotted(tree, key, value)
        if key.startswith("method."):
            method_overrides[key.split(".", 1)[1]] = value
    if preset_method is not None and _method_name(tree) != preset_method:
        # `method.name=trades` on an adv_dpnp preset: the preset's options belong to adv_dpnp
        tree["method"] = method_overrides
    if isinstance(tree.get("method"), dict):  # `method.x=...` alone keeps the default method
        tree["method"].setdefault("name", Config().method["name"])
    cfg = build_dataclass(Config, tree)
    from .methods import validate_method_options  # late import: methods import config

    cfg.method = validate_method_options(cfg.method)
    return cfg


def load_yaml_tree(path: Path, _seen: tuple = ()) -> dict:
    """Read a preset; a `base: other.yaml` key (relative path) is merged underneath it.

    A preset that names a different `method.name` than its base starts from that method's defaults
    (the base's method options belong to the base's method).
    """
    if not path.is_file():
        raise UserError(f"config file not found: {path}")
    if path.resolve() in _seen:
        raise UserError(f"config {path} includes itself through 'base'")
    try:
        tree = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise UserError(f"config {path} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(tree, dict):
        raise UserError(f"config {path} must be a mapping of sections")
    base = tree.pop("base", None)
    if base is not None:
        parent = load_yaml_tree(path.parent / base, _seen + (path.resolve(),))
        if _method_name(tree) not in (None, _method_name(parent)):
            parent.pop("method", None)  # another method: the base's method options do not apply to it
        tree = _deep_merge(parent, tree)
    return tree


def _method_name(tree: dict) -> Any:
    method = tree.get("method")
    return method.get("name") if isinstance(method, dict) else None


def save_config(cfg: Config, path: Path) -> None:
    path.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
