"""The training loop: one optimiser step per batch, validation, checkpoints, metrics, resume."""

from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from ..config import Config, save_config
from ..data.augment import augment, to_float
from ..errors import UserError
from ..evaluate.accuracy import clean_correct, pgd_correct
from ..methods.base import Threat
from .checkpoint import atomic_save, rng_state, safe_load, set_rng_state
from .schedule import lr_factor
from .setup import build_from_config, resolve_device


class TrainingDiverged(UserError):
    """A loss term became NaN or infinite."""


class LossModule(nn.Module):
    """Wraps model + method so a DDP wrapper around it sees the whole loss computation."""

    def __init__(self, model: nn.Module, method) -> None:
        super().__init__()
        self.model, self.method = model, method

    def forward(self, x, y, x_adv):
        return self.method.loss(self.model, x, y, x_adv)


def make_optimizer(model: nn.Module, cfg: Config) -> torch.optim.Optimizer:
    """SGD; prototype directions V get no weight decay (P = r V/|V| makes decay a pure lr change)."""
    proto = [p for n, p in model.named_parameters() if n == "head.weight" and model.has_prototypes]
    rest = [p for n, p in model.named_parameters() if not (n == "head.weight" and model.has_prototypes)]
    t = cfg.train
    groups = [{"params": rest, "weight_decay": t.weight_decay}]
    if proto:
        groups.append({"params": proto, "weight_decay": 0.0})
    return torch.optim.SGD(groups, lr=t.lr, momentum=t.momentum, nesterov=t.nesterov)


class Trainer:
    """Trains `cfg` into `run_dir`; `resume=True` continues from `run_dir/checkpoints/last.pt`."""

    def __init__(self, cfg: Config, run_dir: Path, resume: bool = False) -> None:
        self.cfg, self.run_dir = cfg, Path(run_dir)
        t = cfg.train
        if t.threads:
            torch.set_num_threads(t.threads)
        self.device = resolve_device(t.device)
        torch.manual_seed(t.seed)
        self.data, self.model, self.method = build_from_config(cfg, self.device)
        self.loss_module = LossModule(self.model, self.method)
        self.optimizer = make_optimizer(self.model, cfg)
        n = len(self.data.train_y)
        self.steps_per_epoch = max(1, n // t.batch_size) if n >= t.batch_size else 1
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_factor(t, s, self.steps_per_epoch))
        self.gen = torch.Generator().manual_seed(t.seed + 1)  # augmentation and attack noise
        self.epoch, self.step_in_epoch, self.global_step = 0, 0, 0
        self.best_metric, self.best_epoch = -1.0, -1
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        if resume:
            self._load(self.ckpt_dir / "last.pt")
        else:
            save_config(cfg, self.run_dir / "config.yaml")

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        return {
            "format": "advdpnp-checkpoint-1",
            "config": self.cfg.to_dict(),
            "image_shape": list(self.data.image_shape), "num_classes": self.data.num_classes,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "epoch": self.epoch, "step_in_epoch": self.step_in_epoch, "global_step": self.global_step,
            "best_metric": self.best_metric, "best_epoch": self.best_epoch,
            "generator": self.gen.get_state(), "rng": rng_state(),
        }

    def _load(self, path: Path) -> None:
        state = safe_load(path, self.device)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.step_in_epoch = state["epoch"], state["step_in_epoch"]
        self.global_step = state["global_step"]
        self.best_metric, self.best_epoch = state["best_metric"], state["best_epoch"]
        self.gen.set_state(state["generator"])
        set_rng_state(state["rng"])

    def save(self, name: str) -> None:
        atomic_save(self.state_dict(), self.ckpt_dir / name)

    # ------------------------------------------------------------------ loop
    def threat(self) -> Threat:
        a = self.cfg.attack
        ramp = 1.0
        if a.eps_ramp_epochs:
            ramp = min(1.0, (self.epoch + self.step_in_epoch / self.steps_per_epoch) / a.eps_ramp_epochs)
        return Threat(a.eps * ramp, a.alpha * ramp, a.steps, a.loss, a.random_start)

    def epoch_order(self, epoch: int) -> torch.Tensor:
        """The data order of an epoch depends only on (seed, epoch): resuming mid-epoch replays it."""
        g = torch.Generator().manual_seed(self.cfg.train.seed * 100_003 + epoch)
        return torch.randperm(len(self.data.train_y), generator=g).to(self.device)

    def train_step(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        d = self.cfg.data
        x = augment(to_float(self.data.train_x[idx]), d.crop_padding, d.flip, self.gen)
        y = self.data.train_y[idx]
        x_adv = self.method.craft(self.model, x, y, self.threat(), self.gen)
        self.model.train()
        loss, logs = self.loss_module(x, y, x_adv)
        if not torch.isfinite(loss):
            bad = [k for k, v in logs.items() if not torch.isfinite(v)]
            raise TrainingDiverged(f"non-finite loss at epoch {self.epoch + 1} step {self.step_in_epoch + 1} "
                                   f"(terms: {', '.join(bad) or 'loss'}); last good checkpoint kept in "
                                   f"{self.ckpt_dir}")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        return logs

    def validate(self) -> dict[str, float]:
        t, a = self.cfg.train, self.cfg.attack
        x, y = self.data.val_x[:t.val_points], self.data.val_y[:t.val_points]
        clean = clean_correct(self.model, x, y)
        rob = pgd_correct(self.model, x, y, a.eps, a.eps / 4, t.val_pgd_steps, seed=t.seed)
        return {"val_clean": clean.float().mean().item(), "val_pgd": rob.float().mean().item()}

    def fit(self) -> dict:
        t = self.cfg.train
        start = time.time()
        summary: dict = {}
        while self.epoch < t.epochs:
            order = self.epoch_order(self.epoch)
            sums: dict[str, float] = {}
            count = 0
            bar = tqdm(range(self.step_in_epoch, self.steps_per_epoch), disable=not t.progress, leave=False,
                       desc=f"epoch {self.epoch + 1}/{t.epochs}", dynamic_ncols=True)
            for s in bar:
                idx = order[s * t.batch_size:(s + 1) * t.batch_size]
                logs = self.train_step(idx)
                for k, v in logs.items():
                    sums[k] = sums.get(k, 0.0) + float(v)
                count += 1
                self.step_in_epoch, self.global_step = s + 1, self.global_step + 1
                bar.set_postfix({k: f"{v / count:.3f}" for k, v in sums.items()}, refresh=False)
                if t.checkpoint_every and self.global_step % t.checkpoint_every == 0 \
                        and self.step_in_epoch < self.steps_per_epoch:
                    self.save("last.pt")
            bar.close()
            self.epoch, self.step_in_epoch = self.epoch + 1, 0
            row = {"epoch": self.epoch, "lr": self.optimizer.param_groups[0]["lr"],
                   **{f"train_{k}": v / max(count, 1) for k, v in sums.items()}}
            if self.epoch % t.val_every == 0 or self.epoch == t.epochs:
                row.update(self.validate())
                if row["val_pgd"] > self.best_metric:
                    self.best_metric, self.best_epoch = row["val_pgd"], self.epoch
                    self.save("best.pt")
            row["time_s"] = round(time.time() - start, 2)
            self.log_metrics(row)
            self.save("last.pt")
            summary = row
            if t.progress:
                shown = {k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()}
                tqdm.write(" ".join(f"{k}={v}" for k, v in shown.items()))
        return {**summary, "best_epoch": self.best_epoch, "best_val_pgd": self.best_metric}

    def log_metrics(self, row: dict) -> None:
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        path = self.run_dir / "metrics.csv"
        rows = []
        if path.exists():
            with open(path) as f:
                rows = list(csv.DictReader(f))
        rows.append({k: (f"{v:.6g}" if isinstance(v, float) and math.isfinite(v) else v) for k, v in row.items()})
        keys: list[str] = []
        for r in rows:
            keys += [k for k in r if k not in keys]
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            w.writerows(rows)
