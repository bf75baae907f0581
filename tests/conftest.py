"""Shared fixtures: tiny seeded configs on the bundled digits data (CPU, seconds)."""

from __future__ import annotations

import pytest
import torch

from advdpnp.config import load_config


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    yield


@pytest.fixture
def tiny_cfg(tmp_path):
    """A digits Adv-DPNP config small enough for a unit test (one short epoch)."""

    def make(*overrides: str):
        return load_config(None, [f"out_dir={tmp_path}", "train.epochs=1", "train.progress=false",
                                  "train.val_points=64", "train.val_pgd_steps=2", "attack.steps=2",
                                  "data.train_subset=256", "data.test_subset=64", *overrides])

    return make
