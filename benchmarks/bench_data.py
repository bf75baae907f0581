"""Data-pipeline share of an adversarial-training epoch (index + uint8->float + crop/flip augmentation).

    python benchmarks/bench_data.py [--dataset fashion-mnist|digits] [--method pgd_at]

Times the pipeline of one batch alone and a whole `Trainer.train_step` (which includes it) on the same
indices, interleaved; the share is their ratio. The epoch's permutation is timed too, spread over the
epoch's steps.
"""

from __future__ import annotations

import torch

from _common import batch_indices, interleaved, parser, trainer
from advdpnp.data.augment import augment, to_float


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--method", default="pgd_at")
    args = p.parse_args()
    t = trainer(args, args.method)
    idx, d = batch_indices(t, args.batch_size), t.cfg.data
    med = interleaved({
        "pipeline": lambda: augment(to_float(t.data.train_x[idx]), d.crop_padding, d.flip, t.gen),
        "order": lambda: t.epoch_order(0),
        "step": lambda: t.train_step(idx),
    }, args.reps, args.warmup)
    data = med["pipeline"] + med["order"] / t.steps_per_epoch
    print(f"{args.dataset} {args.arch} {args.method} batch {args.batch_size} PGD-{args.steps}, crop 2 + flip, "
          f"threads {torch.get_num_threads()}")
    print(f"data pipeline share of an epoch: {100 * data / med['step']:.2f} %   "
          f"({data * 1e3:.2f} ms of {med['step'] * 1e3:.1f} ms per step; target <= 5 %)")


if __name__ == "__main__":
    main()
