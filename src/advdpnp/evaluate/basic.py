"""Clean and PGD accuracy on the test split: the quick evaluation that `train` and `eval` print."""

from __future__ import annotations

import time

import torch

from ..config import Config
from ..data import DataSplits
from .accuracy import clean_correct, pgd_correct
from .sharded import run_sharded


def evaluate_basic(model: torch.nn.Module, data: DataSplits, cfg: Config, n: int | None = None) -> dict:
    """Clean and PGD-k (CE, random start, alpha = eps/4 unless configured) on the first n test points."""
    e = cfg.eval
    n = n or e.n or len(data.test_y)
    x, y = data.test_x[:n], data.test_y[:n]
    eps = cfg.attack.eps
    alpha = e.pgd_alpha or eps / 4
    times: dict[str, float] = {}

    def flags(xs: torch.Tensor, ys: torch.Tensor, ids: torch.Tensor) -> dict[str, torch.Tensor]:
        t0 = time.time()
        clean = clean_correct(model, xs, ys, e.batch_size)
        t1 = time.time()
        rob = pgd_correct(model, xs, ys, eps, alpha, e.pgd_steps, e.pgd_restarts, batch_size=e.batch_size,
                          seed=e.seed, indices=ids)
        times.update(clean=t1 - t0, pgd=time.time() - t1)
        return {"clean": clean, "pgd": rob}

    out = run_sharded(flags, x, y)  # split across torchrun processes, if any
    clean, rob = out["clean"], out["pgd"]
    return {
        "dataset": data.name, "split": "test", "n": int(len(y)), "threat_model": "Linf", "eps": eps,
        "attacks": {
            "clean": {"accuracy": clean.float().mean().item(), "n": int(len(y)), "time_s": round(times["clean"], 3)},
            f"pgd{e.pgd_steps}": {"accuracy": rob.float().mean().item(), "n": int(len(y)), "loss": "ce",
                                   "steps": e.pgd_steps, "alpha": alpha, "restarts": e.pgd_restarts,
                                   "random_start": "uniform", "seed": e.seed, "time_s": round(times["pgd"], 3)},
        },
    }


def format_table(results: dict) -> str:
    """A small fixed-width table of accuracy per attack."""
    rows = [("attack", "accuracy", "n")] + [
        (name, f"{100 * r['accuracy']:.2f} %", str(r["n"])) for name, r in results["attacks"].items()]
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"{a:<{w[0]}}  {b:>{w[1]}}  {c:>{w[2]}}" for a, b, c in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)
