"""Corruptions: the CIFAR-10-C reader and accuracy tables on small generated .npy files, and generation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from advdpnp.cli import main
from advdpnp.data.corruptions import corrupt_images, read_corruption
from advdpnp.errors import DataError
from advdpnp.evaluate.corruptions import evaluate_corruptions

N = 6


class Brightness(nn.Module):
    """Predicts class round(mean pixel * 10): accuracy on our synthetic files is known exactly."""

    def forward(self, x):
        k = (x.mean(dim=(1, 2, 3)) * 10).round().long().clamp(0, 9)
        return nn.functional.one_hot(k, 10).float()


def _official_like(folder, names=("gaussian_noise", "fog")):
    """Severity-major files: severity s holds images of brightness s/10; all labels are 3."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        rows = [np.full((N, 32, 32, 3), round(255 * s / 10), np.uint8) for s in range(1, 6)]
        np.save(folder / f"{name}.npy", np.concatenate(rows))
    np.save(folder / "labels.npy", np.full(5 * N, 3, np.int64))  # official files repeat labels per severity
    return folder


def test_reader_is_severity_major(tmp_path):
    x, y = read_corruption(_official_like(tmp_path), "fog", n=4)
    assert x.shape == (5, 4, 3, 32, 32) and x.dtype == torch.uint8 and y.tolist() == [3] * 4
    assert [int(x[s, 0, 0, 0, 0]) for s in range(5)] == [round(255 * s / 10) for s in range(1, 6)]


def test_accuracy_per_corruption_and_severity(tmp_path):
    r = evaluate_corruptions(Brightness(), _official_like(tmp_path), "cifar10", progress=False)
    assert r["source"] == "CIFAR-10-C" and r["n"] == N
    assert r["per_severity"] == {"1": 0.0, "2": 0.0, "3": 1.0, "4": 0.0, "5": 0.0}
    assert r["per_corruption"] == {"gaussian_noise": 0.2, "fog": pytest.approx(0.2)}
    assert r["mean"] == pytest.approx(0.2)
    assert len(r["missing"]) == 13 and "fog" not in r["missing"]


def test_malformed_files_fail_with_one_line(tmp_path):
    _official_like(tmp_path)
    np.save(tmp_path / "fog.npy", np.zeros((7, 32, 32, 3), np.uint8))
    with pytest.raises(DataError, match="S\\*N"):
        read_corruption(tmp_path, "fog")
    with pytest.raises(DataError, match="not found"):
        read_corruption(tmp_path, "snow")


@pytest.mark.parametrize("shape", [(3, 1, 8, 8), (2, 3, 32, 32)])
def test_generation_keeps_shape_and_channels(shape):
    x = torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    out = corrupt_images(x, "gaussian_noise", 3)
    assert out.shape == x.shape and out.dtype == torch.uint8
    assert (out.float() - x.float()).abs().mean() > 5


def test_corrupt_command_writes_a_generated_set(tmp_path, capsys):
    out = tmp_path / "c"
    assert main(["corrupt", "--dataset", "digits", "--n", "10", "--severities", "1,2",
                 "--corruptions", "gaussian_noise,contrast", "--out", str(out), "--no-progress"]) == 0
    assert json.loads((out / "meta.json").read_text())["source"] == "generated"
    x, y = read_corruption(out, "contrast")
    assert x.shape == (2, 10, 1, 8, 8) and len(y) == 10
    r = evaluate_corruptions(Brightness(), out, "digits", progress=False)
    assert r["source"] == "generated" and list(r["per_severity"]) == ["1", "2"]
    assert main(["corrupt", "--dataset", "digits", "--severities", "9"]) == 2
    assert "severities" in capsys.readouterr().err


def test_generation_is_seeded_per_image_and_leaves_numpy_global_state_alone():
    from advdpnp.data.corruptions import STANDARD_CORRUPTIONS

    x = torch.randint(0, 256, (3, 1, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    moved = []
    for name in STANDARD_CORRUPTIONS:  # the random ones among them: noise, snow, frost, fog, blurs, elastic
        a = corrupt_images(x, name, 3)
        assert torch.equal(a, corrupt_images(x, name, 3)), name
        assert torch.equal(a[:2], corrupt_images(x[:2], name, 3)), name  # the first k images do not depend on n
        moved += [name] if not torch.equal(a, corrupt_images(x, name, 3, seed=1)) else []
    assert {"gaussian_noise", "shot_noise", "impulse_noise", "glass_blur", "snow", "frost"} <= set(moved)
    assert "contrast" not in moved  # a deterministic filter ignores the seed
    assert (np.random.get_state()[1] == before).all()


def test_generated_set_records_its_seed_and_versions_and_refuses_another_seed(tmp_path):
    out = tmp_path / "c"
    args = ["corrupt", "--dataset", "digits", "--n", "4", "--severities", "2", "--corruptions", "gaussian_noise",
            "--out", str(out), "--no-progress"]
    assert main(args) == 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["seed"] == 0 and meta["versions"]["numpy"] == np.__version__
    first = np.load(out / "gaussian_noise.npy")
    (out / "gaussian_noise.npy").unlink()
    assert main(args) == 0 and (np.load(out / "gaussian_noise.npy") == first).all()  # regenerated: the same draw
    assert main(args + ["--seed", "1"]) == 2  # another draw never lands in the same folder
    r = evaluate_corruptions(Brightness(), out, "digits", progress=False)
    assert r["generation"] == {"seed": 0, "versions": meta["versions"]}
    meta["versions"]["numpy"] = "0.0"
    (out / "meta.json").write_text(json.dumps(meta))
    assert main(args) == 0  # nothing to add: the folder is read as it is
    with pytest.raises(DataError, match="other library versions"):
        from advdpnp.data.corruptions import write_generated

        write_generated(out, "digits", torch.zeros(4, 1, 8, 8, dtype=torch.uint8), torch.zeros(4, dtype=torch.long),
                        ["contrast"], [2], progress=False)
