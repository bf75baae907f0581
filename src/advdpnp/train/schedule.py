"""Learning-rate schedules as per-step multipliers (per-step state makes mid-epoch resume exact)."""

from __future__ import annotations

import math

from ..config import ConfigError, TrainConfig


def milestone_epochs(cfg: TrainConfig) -> list[float]:
    """Milestones given as fractions (< 1) of the run or as epoch numbers (>= 1)."""
    out = []
    for m in cfg.milestones:
        if not isinstance(m, (int, float)) or m <= 0:
            raise ConfigError("train.milestones", cfg.milestones, "must be positive numbers")
        out.append(m * cfg.epochs if m < 1 else float(m))
    return sorted(out)


def lr_factor(cfg: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """Multiplier of the base learning rate at global `step`: linear warm-up times the schedule.

    The warm-up exists because a prototype head on post-ReLU features can switch every feature unit
    off in its first large steps, after which no gradient reaches the backbone (docs/results.md).
    """
    warmup = 1.0
    if cfg.warmup_epochs:
        warmup = min(1.0, (step + 1) / (cfg.warmup_epochs * steps_per_epoch))
    return warmup * _schedule_factor(cfg, step, steps_per_epoch)


def _schedule_factor(cfg: TrainConfig, step: int, steps_per_epoch: int) -> float:
    if cfg.schedule == "constant":
        return 1.0
    if cfg.schedule == "cosine":
        t = step / max(1, cfg.epochs * steps_per_epoch)
        return 0.5 * (1.0 + math.cos(math.pi * min(t, 1.0)))
    epoch = step / steps_per_epoch
    return cfg.gamma ** sum(epoch >= m for m in milestone_epochs(cfg))
