"""Checkpoint files: rotation, checksums, every crash window of a save, and the safetensors export."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from advdpnp.cli import main
from advdpnp.evaluate.load import load_run
from advdpnp.train import checkpoint as ck
from advdpnp.train.checkpoint import CorruptCheckpoint


def save_versions(path: Path, n: int) -> None:
    for v in range(1, n + 1):
        ck.atomic_save({"version": v, "w": torch.full((64,), float(v))}, path)


def test_save_keeps_previous_version_with_matching_checksums(tmp_path):
    path = tmp_path / "last.pt"
    save_versions(path, 3)
    assert ck.safe_load(path)["version"] == 3
    assert ck.safe_load(ck.previous_path(path))["version"] == 2
    for p in (path, ck.previous_path(path)):
        assert ck.sidecar_path(p).read_text().split()[0] == ck.sha256_file(p)
    assert not ck.tmp_path(path).exists()


@pytest.mark.parametrize("crash_at", range(4))  # a save renames 4 times
def test_a_crash_anywhere_inside_a_save_leaves_a_loadable_checkpoint(tmp_path, monkeypatch, crash_at):
    """Die before the n-th rename: the old or the new version loads, never a mix or nothing."""
    path = tmp_path / "last.pt"
    save_versions(path, 2)
    real_replace, calls = os.replace, []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) > crash_at:
            raise KeyboardInterrupt  # the process dies here
        real_replace(src, dst)

    monkeypatch.setattr(ck.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        ck.atomic_save({"version": 3, "w": torch.full((64,), 3.0)}, path)
    monkeypatch.undo()
    state, used = ck.load_latest(path)
    assert state["version"] in (2, 3)
    assert torch.equal(state["w"], torch.full((64,), float(state["version"])))


def test_a_crash_while_writing_the_temp_file_leaves_the_old_version(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_versions(path, 2)

    def torn_write(data, p):
        Path(p).write_bytes(data[: len(data) // 3])
        raise KeyboardInterrupt

    monkeypatch.setattr(ck, "_write_synced", torn_write)
    with pytest.raises(KeyboardInterrupt):
        ck.atomic_save({"version": 3}, path)
    monkeypatch.undo()
    assert ck.tmp_path(path).exists()
    assert ck.safe_load(path)["version"] == 2
    save_versions(path, 1)  # the next save simply overwrites the leftover temp file
    assert not ck.tmp_path(path).exists()


def test_bit_flip_is_detected_and_resume_uses_previous(tmp_path, caplog):
    path = tmp_path / "last.pt"
    save_versions(path, 2)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # torch.load alone would accept this silently
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptCheckpoint, match=r"corrupt or truncated: its sha256 .* does not match last.pt.sha256"):
        ck.safe_load(path)
    assert ck.load_latest(path)[0]["version"] == 1 and path.exists()  # no side effects by default
    with caplog.at_level("WARNING"):
        state, used = ck.load_latest(path, repair=True)
    assert state["version"] == 1 and used == ck.previous_path(path)
    assert "using the previous good checkpoint" in caplog.text
    # the bad file is moved aside, so the next save keeps the good previous version
    assert not path.exists() and path.with_name("last.pt.corrupt").exists()
    ck.atomic_save({"version": 3}, path)
    assert ck.safe_load(ck.previous_path(path))["version"] == 1


def test_truncated_file_without_sidecar_and_no_previous_gives_one_line(tmp_path):
    path = tmp_path / "last.pt"
    ck.atomic_save({"w": torch.zeros(1000)}, path, keep_previous=False)
    ck.sidecar_path(path).unlink()
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(CorruptCheckpoint) as e:
        ck.load_latest(path)
    msg = str(e.value)
    assert "\n" not in msg and "truncated or not a checkpoint" in msg and "no previous checkpoint" in msg


def test_a_file_that_is_no_checkpoint_is_called_that_not_unsafe(tmp_path):
    """Bytes that are no pickle at all make torch's weights-only loader say 'Unsupported operand': that is a
    damaged or wrong file, not one that could run code."""
    path = tmp_path / "best.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CorruptCheckpoint, match=r"truncated or not a checkpoint\): Unsupported operand 110$"):
        ck.safe_load(path)


def test_both_versions_corrupt_is_a_clear_error(tmp_path):
    path = tmp_path / "last.pt"
    save_versions(path, 2)
    for p in (path, ck.previous_path(path)):
        p.write_bytes(b"garbage")
    with pytest.raises(CorruptCheckpoint, match="the previous checkpoint is unusable too"):
        ck.load_latest(path)


def test_no_torch_load_without_weights_only():
    src = Path(__file__).resolve().parents[1] / "src"
    for f in src.rglob("*.py"):
        for line in f.read_text().splitlines():
            if "torch.load(" in line:
                assert "weights_only=True" in line, f"{f}: {line.strip()}"


def test_export_roundtrip_gives_identical_logits(tiny_cfg, tmp_path, capsys):
    from advdpnp.train.trainer import Trainer

    cfg = tiny_cfg("train.epochs=1", "train.threads=1")
    run = tmp_path / "run"
    Trainer(cfg, run).fit()
    attacks = {"clean": {"accuracy": 0.5}, "pgd20": {"accuracy": 0.25}}
    (run / "results.json").write_text(json.dumps({"checkpoint": "best", "n": 64, "split": "test", "attacks": attacks}))
    assert main(["export", str(run), "-o", str(tmp_path / "exp")]) == 0
    card = json.loads((tmp_path / "exp" / "model_card.json").read_text())
    assert card["method"] == "adv_dpnp" and card["arch"] == "small_cnn" and card["dataset"] == "digits"
    assert card["num_classes"] == 10 and card["image_shape"] == [1, 8, 8] and card["eps"] == cfg.attack.eps
    assert card["accuracy"]["per_attack"] == {"clean": 0.5, "pgd20": 0.25}
    assert card["weights_sha256"] == ck.sha256_file(tmp_path / "exp" / "model.safetensors")
    _, model, data, _ = load_run(str(run), "best", "cpu")
    _, exported, _, weights = load_run(str(tmp_path / "exp"), device="cpu")
    assert weights.suffix == ".safetensors"
    assert {k for k in exported.state_dict()} >= {"head.weight", "mean", "std"}
    x = data.test_x[:16].float() / 255
    assert torch.equal(model(x), exported(x))
    assert main(["eval", str(tmp_path / "exp"), "--n", "16", "--device", "cpu"]) == 0
    # a tampered weights file is refused
    w = tmp_path / "exp" / "model.safetensors"
    data_bytes = bytearray(w.read_bytes())
    data_bytes[-3] ^= 0x01
    w.write_bytes(bytes(data_bytes))
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "exp"), "--n", "16", "--device", "cpu"]) == 2
    assert "does not match the sha256" in capsys.readouterr().err
