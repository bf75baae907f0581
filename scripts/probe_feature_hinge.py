"""Probe why `method.repulsion=feature` diverges (docs/results.md, Stability): train a preset with the
feature hinge in one of its forms (`method.hinge`) and log the first steps or every epoch.

  python scripts/probe_feature_hinge.py --steps 8                  # first steps: loss terms, norms
  python scripts/probe_feature_hinge.py --hinge scaled             # full training, validation per epoch
  python scripts/probe_feature_hinge.py --hinge distance --seed 1

hinge: squared (SPEC: m - (||z-p_j||^2 - ||z-p_y||^2)), scaled (that gap divided by 2r), distance
(m - (||z-p_j|| - ||z-p_y||)), none (the preset: prototype repulsion only, for comparison). The run
directory is a temporary folder; nothing is kept.
"""

from __future__ import annotations

import argparse
import json
import tempfile

import torch

import advdpnp.methods.dpnp as dpnp
from advdpnp.commands._common import config_from_args
from advdpnp.losses.prototype import HINGE_FORMS, rival_hinge
from advdpnp.train.trainer import Trainer, TrainingDiverged


def logging_hinge(log: list):
    """`rival_hinge` that also records the mean feature norm of each call (the probe's signal)."""
    def hinge(z, *args, **kwargs):
        log.append(float(z.detach().norm(dim=1).mean()))
        return rival_hinge(z, *args, **kwargs)
    return hinge


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="quick/digits-adv_dpnp")
    p.add_argument("--hinge", choices=(*HINGE_FORMS, "none"), default="squared")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=0, help="only the first N steps, with per-step logs")
    p.add_argument("overrides", nargs="*", help="extra dotted config overrides")
    args = p.parse_args()
    torch.set_num_threads(1)
    hinge = ["method.repulsion=prototype"] if args.hinge == "none" else \
        ["method.repulsion=feature", f"method.hinge={args.hinge}"]
    cfg = config_from_args([args.config, *hinge, f"train.seed={args.seed}", *args.overrides])
    norms: list[float] = []
    dpnp.rival_hinge = logging_hinge(norms)
    trainer = Trainer(cfg, tempfile.mkdtemp(prefix="hinge-probe-"))
    if args.steps:
        order, bs = trainer.epoch_order(0), cfg.train.batch_size
        for step in range(args.steps):
            try:
                logs = trainer.train_step(order[step * bs:(step + 1) * bs])
            except TrainingDiverged as e:
                print(f"step {step + 1}: {e}")
                return
            grad = torch.sqrt(sum(q.grad.pow(2).sum() for q in trainer.model.parameters() if q.grad is not None))
            terms = " ".join(f"{k}={float(v):.4g}" for k, v in logs.items())
            norm = f"feature norm {norms[-1]:.4g}  " if norms else ""
            print(f"step {step + 1}: {norm}grad norm {float(grad):.4g}  {terms}")
        return
    try:
        trainer.fit()
    except TrainingDiverged as e:
        print(f"diverged: {e}")
    for line in (trainer.run_dir / "metrics.jsonl").read_text().splitlines():
        r = json.loads(line)
        print(f"epoch {r['epoch']}: val_clean {r['val_clean']:.4f} val_pgd {r['val_pgd']:.4f}")


if __name__ == "__main__":
    main()
