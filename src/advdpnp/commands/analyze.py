"""`advdpnp analyze RUN_DIR`: latent geometry of clean and PGD test features -> latent.json."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch

from ._common import add_checkpoint_argument, add_points_argument, add_threads_argument, apply_threads, write_json

NAME = "analyze"
HELP = "latent-space analysis (compactness, separation, drift under PGD) of a run -> latent.json"
ORDER = 30

def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR")
    add_points_argument(p, "number of test points (default: eval.n of the run, else all)")
    add_checkpoint_argument(p)
    p.add_argument("--train-n", type=int, default=5000,
                   help="clean training points whose class centroids are the anchors of a linear head")
    p.add_argument("--embed-n", type=int, default=1000, help="test points whose features are kept (latent_features.pt) "
                   "for the embedding figure of `advdpnp report`")
    add_threads_argument(p)
    p.add_argument("--device", default="auto")
    p.add_argument("--data-root", help="dataset folder if it moved since training")


@torch.no_grad()
def features(model: torch.nn.Module, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Features of uint8 or float images, batched, model in eval mode."""
    from ..data.augment import as_float

    model.eval()
    out = [model.features(as_float(b)) for b in x.split(batch_size)]
    return torch.cat(out) if out else torch.zeros(0)


def adversarial(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float, steps: int,
                seed: int, batch_size: int) -> torch.Tensor:
    """PGD (CE, uniform start seeded per test index, as `advdpnp eval`) images of the uint8 test points."""
    from ..attacks import pgd
    from ..data.augment import to_float
    from ..evaluate.accuracy import sample_seeds

    out = []
    for i in range(0, len(x), batch_size):
        xb, yb = to_float(x[i:i + batch_size]), y[i:i + batch_size]
        seeds = sample_seeds(torch.arange(i, i + len(yb)), seed)
        out.append(pgd(model, xb, yb, eps, alpha, steps, sample_seeds=seeds))
    return torch.cat(out)


def run(args: argparse.Namespace) -> int:
    from ..errors import UserError
    from ..evaluate.latent import class_centroids, latent_metrics
    from ..evaluate.load import load_run
    from ..report.runs import FEATURES_FILE

    for flag in ("n", "train_n", "embed_n"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            raise UserError(f"--{flag.replace('_', '-')} must be >= 1, got {getattr(args, flag)}")
    apply_threads(args.threads)
    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir} is not a run directory")
    cfg, model, data, _ = load_run(str(run_dir), args.checkpoint, args.device, args.data_root)
    e = cfg.eval
    n = min(args.n or e.n or len(data.test_y), len(data.test_y))
    x, y = data.test_x[:n], data.test_y[:n]
    eps, alpha = cfg.attack.eps, e.pgd_alpha or cfg.attack.eps / 4
    z = features(model, x, e.batch_size)
    z_adv = features(model, adversarial(model, x, y, eps, alpha, e.pgd_steps, e.seed, e.batch_size), e.batch_size)
    if model.has_prototypes:
        anchors, anchor_kind = model.head.prototypes().detach(), "prototypes"
    else:
        m = min(args.train_n, len(data.train_y))
        anchors = class_centroids(features(model, data.train_x[:m], e.batch_size), data.train_y[:m],
                                  data.num_classes)
        anchor_kind = f"class centroids of clean training features (first {m} training points)"
    with torch.no_grad():
        acc = {"clean": (model.head(z).argmax(1) == y).double().mean().item(),
               "adversarial": (model.head(z_adv).argmax(1) == y).double().mean().item()}
    metrics = latent_metrics(z, z_adv, y, anchors)
    for k in ("clean", "adversarial"):
        metrics[k]["accuracy"] = acc[k]
    result = {"dataset": data.name, "split": "test", "n": n, "checkpoint": args.checkpoint,
              "method": cfg.method["name"], "head": cfg.model.head, "anchor": anchor_kind,
              "attack": {"name": f"pgd{e.pgd_steps}", "eps": eps, "alpha": alpha, "steps": e.pgd_steps,
                         "loss": "ce", "seed": e.seed},
              **metrics}
    write_json(result, run_dir / "latent.json")
    k = min(args.embed_n, n)
    torch.save({"z": z[:k].cpu(), "z_adv": z_adv[:k].cpu(), "y": y[:k].cpu(), "anchors": anchors.cpu(),
                "anchor_kind": anchor_kind}, run_dir / FEATURES_FILE)
    print(format_latent(result))
    print(f"written {run_dir / 'latent.json'} and {run_dir / FEATURES_FILE}")
    return 0


def format_latent(r: dict) -> str:
    """Metric rows with clean and adversarial columns, then anchor separation and drift."""
    def f(v: float) -> str:
        return "nan" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}"

    lines = [f"{r['method']} ({r['head']} head), {r['n']} test points, {r['attack']['name']} eps={r['attack']['eps']}",
             f"anchors: {r['anchor']}", "", f"{'metric':<30}{'clean':>12}{'adversarial':>14}", "-" * 56]
    lines += [f"{k:<30}{f(r['clean'][k]):>12}{f(r['adversarial'][k]):>14}" for k in r["clean"]]
    lines += [""] + [f"anchor {k:<23}{f(v):>12}" for k, v in r["anchors"].items()]
    lines += [f"{k:<30}{f(v):>12}" for k, v in r["drift"].items()]
    return "\n".join(lines)
