"""The training loop: one optimiser step per batch, validation, checkpoints, metrics, resume."""

from __future__ import annotations

import csv
import io
import json
import math
import sys
import time
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from ..config import Config, save_config
from ..data.augment import augment, to_float
from ..errors import UserError
from ..evaluate.accuracy import clean_correct, pgd_correct
from ..evaluate.sharded import run_sharded
from ..methods.base import Threat
from . import distributed, environment
from .accel import autocast, check_amp, grad_scaler, make_deterministic, memory_format
from .checkpoint import atomic_save, atomic_write_bytes, load_latest, rng_state, set_rng_state
from .lock import RunLock
from .schedule import lr_factor
from .setup import build_from_config


def selection_metric(select_on: str, adversarial: bool) -> str:
    """The validation metric that picks `best`: `auto` means PGD accuracy for adversarial methods."""
    if select_on != "auto":
        return select_on
    return "val_pgd" if adversarial else "val_clean"


def chance_level(labels: torch.Tensor, classes: int) -> float:
    """Accuracy below which a model has learnt nothing: that of always predicting the most frequent label, plus
    three binomial standard errors on these points. Why: a run whose features collapse (every input mapped to
    one point, the loss stuck at log(classes)) finishes without an error, and its table row would read as a weak
    model instead of a failed one."""
    p = torch.bincount(labels.cpu(), minlength=classes).max().item() / len(labels)
    return p + 3 * math.sqrt(p * (1 - p) / len(labels))


class TrainingDiverged(UserError):
    """A loss term or the gradient became NaN or infinite."""


GENTLER_START = ("a gentler start (lower train.lr, longer train.warmup_epochs or attack.eps_ramp_epochs) or "
                 "train.grad_clip may avoid it")


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


def format_row(row: dict) -> str:
    """One summary line per epoch, printed with or without progress bars (e.g. in CI logs)."""
    keep = [k for k in row if k in ("epoch", "lr", "train_loss", "val_clean", "val_pgd", "time_s")
            or k.startswith("train_acc")]
    return " ".join(f"{k}={row[k]:.4g}" if isinstance(row[k], float) else f"{k}={row[k]}" for k in keep)


class Trainer:
    """Trains `cfg` into `run_dir`; `resume=True` continues from `run_dir/checkpoints/last.pt`."""

    def __init__(self, cfg: Config, run_dir: Path, resume: bool = False) -> None:
        self.cfg, self.run_dir = cfg, Path(run_dir)
        t = cfg.train
        if t.threads:
            torch.set_num_threads(t.threads)
        self.device = distributed.setup(t.device, t.batch_size)
        check_amp(t.amp, self.device)
        make_deterministic(t.deterministic, self.device)
        torch.manual_seed(t.seed)
        self.data, self.model, self.method = build_from_config(cfg, self.device)
        self.model.to(memory_format=memory_format(t.channels_last))
        # Under torchrun: DDP around model + method; attacks are crafted on the plain self.model.
        self.loss_module = distributed.wrap_ddp(LossModule(self.model, self.method), self.device, t.sync_bn)
        self.scaler = grad_scaler(t.amp, self.device)
        self.optimizer = make_optimizer(self.model, cfg)
        n = len(self.data.train_y)
        self.steps_per_epoch = max(1, n // t.batch_size) if n >= t.batch_size else 1
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_factor(t, s, self.steps_per_epoch))
        # augmentation and attack noise (own stream per rank; rank 0 = single-process stream)
        self.gen = torch.Generator().manual_seed(t.seed + 1 + 7_919 * distributed.rank())
        self.epoch, self.step_in_epoch, self.global_step = 0, 0, 0
        self.best_metric, self.best_epoch = -1.0, -1
        self.select_on = selection_metric(t.select_on, self.method.adversarial)
        self.partial_sums, self.partial_count = {}, 0  # running train metrics of an unfinished epoch
        self.lock = RunLock(self.run_dir).acquire()  # one training per run directory
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        if resume:
            self._load(self.ckpt_dir / "last.pt")
        elif distributed.is_main():
            save_config(cfg, self.run_dir / "config.yaml")
        if distributed.is_main():
            environment.record(self.run_dir, self.device, resume)
        self._truncate_metrics()

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
            "epoch_sums": dict(self.partial_sums), "epoch_count": self.partial_count,
        }

    def _load(self, path: Path) -> None:
        # On the CPU: RNG states must stay CPU ByteTensors; load_state_dict copies weights and optimizer
        # state onto the parameters' device.
        state, _ = load_latest(path, "cpu", repair=True)  # last.prev.pt if last.pt is bad
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.step_in_epoch = state["epoch"], state["step_in_epoch"]
        self.global_step = state["global_step"]
        self.best_metric, self.best_epoch = state["best_metric"], state["best_epoch"]
        self.gen.set_state(state["generator"])
        set_rng_state(state["rng"])
        self.partial_sums, self.partial_count = dict(state.get("epoch_sums", {})), state.get("epoch_count", 0)

    def save(self, name: str) -> None:
        if distributed.is_main():
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

    def train_step(self, idx: torch.Tensor) -> dict[str, float]:
        """One optimiser step; returns its logs (the loss, its terms, the gradient norm) averaged over ranks.
        Why the guards read those logs: each read of a device value waits for the device, so the step reads them
        once, after backward, and checks the loss and the gradient on what it read. A non-finite loss or gradient
        stops training before the step, so the weights stay as the last good step left them (under fp16 the
        scaler skips a non-finite gradient itself); the mean over ranks makes every rank stop together."""
        d = self.cfg.data
        x = augment(to_float(self.data.train_x[idx]), d.crop_padding, d.flip, self.gen)
        x = x.contiguous(memory_format=memory_format(self.cfg.train.channels_last))
        y = self.data.train_y[idx]
        x_adv = self.method.craft(self.model, x, y, self.threat(), self.gen)
        self.model.train()
        with autocast(self.cfg.train.amp, self.device):  # the attack above stays fp32
            loss, logs = self.loss_module(x, y, x_adv)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        logs = {**logs, "loss": loss, "grad_norm": self.clip_gradients()}
        if clip := self.cfg.train.grad_clip:  # its epoch mean is the share of steps the clip acted on
            logs["grad_clipped"] = (logs["grad_norm"] > clip).float()
        values = distributed.mean_logs(logs)
        where = f"at epoch {self.epoch + 1} step {self.step_in_epoch + 1}"
        if not math.isfinite(values["loss"]):
            bad = [k for k, v in values.items() if not k.startswith("grad_") and not math.isfinite(v)]
            raise TrainingDiverged(f"non-finite loss {where} (terms: {', '.join(bad)}); {self.kept_checkpoint()}; "
                                   f"{GENTLER_START}")
        if not math.isfinite(values["grad_norm"]) and not self.scaler.is_enabled():
            raise TrainingDiverged(f"non-finite gradient {where} (the loss was finite); {self.kept_checkpoint()}; "
                                   f"{GENTLER_START}")
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return values

    def clip_gradients(self) -> torch.Tensor:
        """Clip the global gradient norm to train.grad_clip (if set) and return the norm before clipping (DDP has
        already averaged the gradients, so every rank sees the same norm)."""
        self.scaler.unscale_(self.optimizer)  # the true gradients (a no-op without fp16 loss scaling)
        clip = self.cfg.train.grad_clip
        norm = (torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip) if clip else
                torch.nn.utils.get_total_norm([p.grad for p in self.model.parameters() if p.grad is not None]))
        return norm.detach()

    def kept_checkpoint(self) -> str:
        """Where a diverged run's last good weights are, for its error message."""
        return (f"last good checkpoint kept in {self.ckpt_dir}" if (self.ckpt_dir / "last.pt").is_file() else
                "no checkpoint saved yet")  # it diverged before the first epoch's (or checkpoint_every's) save

    def validate(self) -> dict[str, float]:
        t, a = self.cfg.train, self.cfg.attack
        x, y = self.data.val_x[:t.val_points], self.data.val_y[:t.val_points]
        distributed.broadcast_buffers(self.model)  # every rank validates the model rank 0 saves
        flags = run_sharded(lambda xs, ys, ids: {
            "clean": clean_correct(self.model, xs, ys),
            "pgd": pgd_correct(self.model, xs, ys, a.eps, a.eps / 4, t.val_pgd_steps, seed=t.seed, indices=ids)},
            x, y)
        return {"val_clean": flags["clean"].float().mean().item(), "val_pgd": flags["pgd"].float().mean().item()}

    def fit(self) -> dict:
        t = self.cfg.train
        start = time.time()
        summary = self.logged_row()  # what a finished run reports when resumed, so its at-chance check still runs
        while self.epoch < t.epochs:
            order = self.epoch_order(self.epoch)
            sums: dict[str, float] = self.partial_sums if self.step_in_epoch else {}
            count = self.partial_count if self.step_in_epoch else 0
            bar = tqdm(range(self.step_in_epoch, self.steps_per_epoch), leave=False, dynamic_ncols=True,
                       disable=not (t.progress and distributed.is_main()),
                       desc=f"epoch {self.epoch + 1}/{t.epochs}")
            for s in bar:
                idx = distributed.shard(order[s * t.batch_size:(s + 1) * t.batch_size])
                logs = self.train_step(idx)
                for k, v in logs.items():
                    sums[k] = sums.get(k, 0.0) + v
                count += 1
                self.step_in_epoch, self.global_step = s + 1, self.global_step + 1
                bar.set_postfix({k: f"{v / count:.3f}" for k, v in sums.items()}, refresh=False)
                if t.checkpoint_every and self.global_step % t.checkpoint_every == 0 \
                        and self.step_in_epoch < self.steps_per_epoch:
                    self.partial_sums, self.partial_count = sums, count
                    self.save("last.pt")
            bar.close()
            self.epoch, self.step_in_epoch = self.epoch + 1, 0
            row = {"epoch": self.epoch, "lr": self.optimizer.param_groups[0]["lr"],
                   **{f"train_{k}": v / max(count, 1) for k, v in sums.items()}}
            if self.epoch % t.val_every == 0 or self.epoch == t.epochs:
                row.update(self.validate())
                if row[self.select_on] > self.best_metric:
                    self.best_metric, self.best_epoch = row[self.select_on], self.epoch
                    self.save("best.pt")
            row["time_s"] = round(time.time() - start, 2)
            self.log_metrics(row)
            self.save("last.pt")
            summary = row
            if distributed.is_main():
                tqdm.write(format_row(row))
        distributed.barrier()  # rank 0's checkpoints are on disk before any rank reads them
        at_chance = "val_clean" in summary and summary["val_clean"] <= chance_level(
            self.data.val_y[:t.val_points], self.data.num_classes)
        if at_chance and distributed.is_main():
            tqdm.write(f"warning: final validation accuracy {summary['val_clean']:.3f} is at chance level: training "
                       f"failed (collapsed features?); see metrics.csv, try a lower train.lr, a longer "
                       f"train.warmup_epochs or (adversarial methods) a longer attack.eps_ramp_epochs",
                       file=sys.stderr)
        return {**summary, "best_epoch": self.best_epoch, "selected_on": self.select_on,
                "best_value": self.best_metric, "at_chance": at_chance}

    def logged_row(self) -> dict:
        """The logged metrics row of the checkpoint's epoch ({} before the first epoch)."""
        jsonl = self.run_dir / "metrics.jsonl"
        if not self.epoch or not jsonl.exists():
            return {}
        rows = [ln for ln in jsonl.read_text().splitlines() if _row_epoch(ln) == self.epoch]
        return json.loads(rows[-1]) if rows else {}

    def log_metrics(self, row: dict) -> None:
        if not distributed.is_main():
            return
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        path = self.run_dir / "metrics.csv"
        rows = read_csv_rows(path)
        rows.append({k: (f"{v:.6g}" if isinstance(v, float) and math.isfinite(v) else v) for k, v in row.items()})
        write_csv_rows(path, rows)

    def _truncate_metrics(self) -> None:
        """Drop rows of epochs after the checkpoint (and torn lines): a resumed run logs them again."""
        if not distributed.is_main():
            return
        jsonl = self.run_dir / "metrics.jsonl"
        if jsonl.exists():
            keep = [ln for ln in jsonl.read_text().splitlines() if _row_epoch(ln) <= self.epoch]
            atomic_write_bytes("".join(ln + "\n" for ln in keep).encode(), jsonl)
        path = self.run_dir / "metrics.csv"
        if path.exists():
            write_csv_rows(path, [r for r in read_csv_rows(path) if str(r.get("epoch", "")).isdigit()
                                  and int(r["epoch"]) <= self.epoch])


def _row_epoch(line: str) -> float:
    """The epoch of a metrics.jsonl line (infinity for a torn or foreign line, so it is dropped)."""
    try:
        return int(json.loads(line)["epoch"])
    except (ValueError, KeyError, TypeError):
        return math.inf


def read_csv_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_csv_rows(path: Path, rows: list[dict]) -> None:
    """Rewrite the CSV atomically with the union of the rows' columns (a kill never leaves half a file)."""
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    w.writerows(rows)
    atomic_write_bytes(buf.getvalue().encode(), path)
