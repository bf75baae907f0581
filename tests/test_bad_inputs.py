"""Table-driven bad inputs: every one fails with a one-line message (CLI: exit code 2, no traceback)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from advdpnp.attacks import pgd
from advdpnp.cli import main
from advdpnp.errors import UserError
from advdpnp.evaluate.accuracy import clean_correct, pgd_correct
from advdpnp.models.classifier import build_model
from advdpnp.validate import InputError

TINY = ["train.epochs=1", "train.batch_size=64", "train.progress=false", "train.threads=1", "train.val_points=16",
        "train.val_pgd_steps=1", "attack.steps=1", "data.train_subset=128", "data.test_subset=16"]


def idx_bytes(arr: np.ndarray) -> bytes:
    header = struct.pack(">HBB", 0, 0x08, arr.ndim) + b"".join(struct.pack(">I", d) for d in arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def fmnist_dir(root: Path, broken: bytes | None) -> Path:
    """A Fashion-MNIST folder whose training images file is `broken` (valid files otherwise)."""
    root.mkdir(parents=True)
    files = {"train-images-idx3-ubyte": np.zeros((20, 28, 28)), "train-labels-idx1-ubyte": np.arange(20) % 10,
             "t10k-images-idx3-ubyte": np.zeros((10, 28, 28)), "t10k-labels-idx1-ubyte": np.arange(10)}
    for name, arr in files.items():
        data = gzip.compress(idx_bytes(arr))
        if broken is not None and name == "train-images-idx3-ubyte":
            data = broken
        (root / f"{name}.gz").write_bytes(data)
    return root


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, str]:
    """Paths the table refers to as {name}."""
    torch.set_num_threads(1)
    t = tmp_path_factory.mktemp("bad")
    finished = t / "finished"
    assert main(["train", *TINY, "--run-dir", str(finished), "--no-eval"]) == 0
    (t / "afile").write_text("not a directory")
    (t / "notckpt.pt").write_text("hello")
    good = gzip.compress(idx_bytes(np.zeros((20, 28, 28))))
    wrong_size = gzip.compress(idx_bytes(np.zeros((20, 28, 28)))[:-100])
    return {"tmp": str(t), "finished": str(finished), "afile": str(t / "afile"),
            "notckpt": str(t / "notckpt.pt"), "empty": str((t / "empty").mkdir() or t / "empty"),
            "badgz": str(fmnist_dir(t / "badgz", b"this is not gzip data")),
            "truncgz": str(fmnist_dir(t / "truncgz", good[: len(good) // 2])),
            "wrongsize": str(fmnist_dir(t / "wrongsize", wrong_size))}


# argv (with {placeholders} from `world`) -> expected substring of the one-line error
CLI_CASES = [
    (["train", "data.name=imagenet"], "unknown dataset 'imagenet'"),
    (["train", "model.arch=vit_huge"], "unknown model 'vit_huge'"),
    (["train", "method.name=magic"], "'method.name' = 'magic' is invalid: unknown method; choose one of"),
    (["train", "attack.eps=-0.1"], "'attack.eps' = -0.1 is invalid: must be >= 0"),
    (["train", "attack.steps=0"], "'attack.steps' = 0 is invalid: must be >= 1"),
    (["train", "train.epochs=0"], "'train.epochs' = 0 is invalid"),
    (["train", "train.lr=-1"], "'train.lr' = -1"),
    (["train", "train.epochs=abc"], "'train.epochs' = 'abc' is invalid: must be an integer"),
    (["train", "train.bogus=1"], "unknown field"),
    (["train", "model.head=mlp"], "'model.head' = 'mlp' is invalid"),
    (["train", "no/such/preset.yaml"], "config not found: no/such/preset.yaml"),
    (["train", "data.name=fashion-mnist", "data.root={badgz}"], "is not gzip data"),
    (["train", "data.name=fashion-mnist", "data.root={truncgz}"], "corrupt or truncated gzip"),
    (["train", "data.name=fashion-mnist", "data.root={wrongsize}"], "truncated: its header declares 20 x 28 x 28"),
    (["train", "data.name=fashion-mnist", "data.root={empty}"], "fashion-mnist"),
    (["train", "data.name=fashion-mnist", "data.root={tmp}/absent"], "is not a folder"),
    (["train", "--run-dir", "{afile}/run"], "cannot write to run directory"),
    (["train", "--run-dir", "{finished}"], "already holds a run; continue it with `advdpnp train --resume"),
    (["train", "--resume", "{tmp}/nowhere"], "cannot resume: no run directory"),
    (["train", "--resume", "{finished}", "train.epochs=5"], "--resume takes no preset or overrides"),
    (["train", "--resume", "{empty}"], "holds neither a checkpoint nor a config.yaml"),
    (["eval", "{tmp}/nowhere"], "no run directory or checkpoint at"),
    (["eval", "{finished}", "--n", "0"], "--n must be >= 1"),
    (["eval", "{finished}", "--eps", "-0.5"], "--eps must be >= 0"),
    (["eval", "{notckpt}"], "cannot load checkpoint"),
    (["eval", "{empty}"], "no best checkpoint in"),
    (["export", "{tmp}/nowhere"], "no run directory or checkpoint at"),
    (["export", "{finished}", "-o", "{afile}/out"], "cannot write to run directory"),
    (["export", "{notckpt}"], "cannot load checkpoint"),
]


@pytest.mark.parametrize("argv,expected", CLI_CASES, ids=[" ".join(a) for a, _ in CLI_CASES])
def test_cli_bad_input_one_line_exit_2(world, capsys, argv, expected):
    argv = [a.format(**world) for a in argv]
    if argv[0] == "train" and "--resume" not in argv:
        argv = [argv[0], *TINY, *argv[1:]]
        if "--run-dir" not in argv:
            argv += ["--run-dir", f"{world['tmp']}/never"]
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    assert err.startswith(f"advdpnp {argv[0]}: error: ") and expected in err, err


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("small_cnn", 1, 8, 10).eval()


X = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
Y = torch.tensor([0, 1, 2, 9])
NAN = X.clone()
NAN[0, 0, 0, 0] = float("nan")

# (function, kwargs overriding a valid call) -> expected substring
API_CASES = [
    ("pgd", {"x": X * 2}, "must lie in [0, 1] (normalisation happens inside the model), got values in [0"),
    ("pgd", {"x": X - 0.5}, "images must lie in [0, 1]"),
    ("pgd", {"x": NAN}, "and NaN/inf values"),
    ("pgd", {"x": (X * 255).to(torch.uint8)}, "images must be floating point in [0, 1], got dtype torch.uint8"),
    ("pgd", {"x": X[:, 0]}, "images must have shape (N, C, H, W), got (4, 8, 8)"),
    ("pgd", {"x": X.numpy()}, "images must be a torch.Tensor, got ndarray"),
    ("pgd", {"y": Y.float()}, "labels must be int64 class indices, got dtype torch.float32"),
    ("pgd", {"y": torch.tensor([0, 1, 2, 10])}, "labels must lie in [0, 10), got values in [0, 10]"),
    ("pgd", {"y": torch.tensor([-1, 1, 2, 3])}, "labels must lie in [0, 10), got values in [-1, 3]"),
    ("pgd", {"y": Y[:3]}, "labels must have shape (4,) to match the images, got (3,)"),
    ("pgd", {"eps": -0.1}, "eps must be a finite number >= 0, got -0.1"),
    ("pgd", {"eps": float("nan")}, "eps must be a finite number >= 0"),
    ("pgd", {"steps": 0}, "steps must be an integer >= 1, got 0"),
    ("pgd", {"steps": 2.5}, "steps must be an integer >= 1, got 2.5"),
    ("pgd", {"alpha": -0.01}, "alpha (step size) must be a finite number >= 0"),
    ("clean_correct", {"x": (X * 255).to(torch.int32)}, "images must be floating point in [0, 1] or uint8"),
    ("clean_correct", {"y": torch.tensor([0, 1, 2, 11])}, "labels must lie in [0, 10)"),
    ("pgd_correct", {"eps": -1.0}, "eps must be a finite number >= 0"),
    ("pgd_correct", {"x": X + 1}, "images must lie in [0, 1]"),
]


@pytest.mark.parametrize("fn,override,expected", API_CASES,
                         ids=[f"{f}-{next(iter(o))}-{i}" for i, (f, o, _) in enumerate(API_CASES)])
def test_api_bad_input_raises_one_line_input_error(model, fn, override, expected):
    if fn == "clean_correct":
        call, args = clean_correct, {"x": X, "y": Y}
    else:
        call = pgd if fn == "pgd" else pgd_correct
        args = {"x": X, "y": Y, "eps": 0.1, "alpha": 0.02, "steps": 2}
    args.update(override)
    with pytest.raises(InputError) as e:
        call(model, **args)
    msg = str(e.value)
    assert "\n" not in msg and expected in msg, msg
    assert isinstance(e.value, UserError) and isinstance(e.value, ValueError)


def test_valid_inputs_pass(model):
    assert pgd(model, X, Y, 0.1, 0.02, 2).shape == X.shape
    assert clean_correct(model, (X * 255).to(torch.uint8), Y).shape == (4,)


def test_table_is_big_enough():
    assert len(CLI_CASES) + len(API_CASES) >= 30
