"""Training-step ratios: adv_dpnp / pgd_at, our pgd_at / a textbook PGD-AT step, and what the per-step gradient
norm (logged by every run) and train.grad_clip cost.

    python benchmarks/bench_step.py [--dataset fashion-mnist|digits] [--steps 10] [--batch-size 128]

The textbook step is what many public PGD-AT scripts do: a per-image CPU augmentation loop, and each
attack step calls `loss.backward()`, which also computes (and then discards) every weight gradient.
"""

from __future__ import annotations

import copy
import random

import torch
import torch.nn.functional as F

from _common import batch_indices, interleaved, parser, report, trainer
from advdpnp.attacks import attack_mode
from advdpnp.data.augment import to_float


def textbook_step(model, opt, train_x, train_y, idx, eps, alpha, steps, pad, rng: random.Random) -> None:
    imgs = []
    for i in idx.tolist():  # per-sample augmentation, one image at a time
        img = F.pad(train_x[i].float() / 255.0, (pad, pad, pad, pad))
        oy, ox = rng.randint(0, 2 * pad), rng.randint(0, 2 * pad)
        img = img[:, oy:oy + train_x.shape[2], ox:ox + train_x.shape[3]]
        imgs.append(img.flip(2) if rng.random() < 0.5 else img)
    x, y = torch.stack(imgs), train_y[idx]
    model.eval()
    x_adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        loss = F.cross_entropy(model(x_adv), y)
        model.zero_grad()
        loss.backward()  # weight gradients too
        x_adv = x_adv.detach() + alpha * x_adv.grad.sign()
        x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0, 1)
    model.train()
    opt.zero_grad()
    F.cross_entropy(model(x_adv), y).backward()
    opt.step()


def unit_costs(model, x, y):
    """One attack unit (forward + input-gradient backward, eval mode, no weight gradients) and one
    training unit (forward + backward into weight gradients, train mode), for the cost model below."""

    def attack_unit():
        with attack_mode(model):
            xr = x.clone().requires_grad_(True)
            torch.autograd.grad(F.cross_entropy(model(xr), y, reduction="sum"), xr)

    def train_unit():
        model.train()
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()

    return attack_unit, train_unit


def main() -> None:
    args = parser(__doc__).parse_args()
    pgd_at, adv = trainer(args, "pgd_at"), trainer(args, "adv_dpnp")
    pgd_at_cl = trainer(args, "pgd_at", "train.channels_last=true")
    adv_clip = trainer(args, "adv_dpnp", "train.grad_clip=20")
    idx = batch_indices(pgd_at, args.batch_size)
    book_model = copy.deepcopy(pgd_at.model)
    book_opt = torch.optim.SGD(book_model.parameters(), lr=0.01, momentum=0.9)
    a, rng = pgd_at.cfg.attack, random.Random(0)
    unit_model = copy.deepcopy(pgd_at.model)
    attack_unit, train_unit = unit_costs(unit_model, to_float(pgd_at.data.train_x[idx]), pgd_at.data.train_y[idx])
    med = interleaved({
        "pgd_at": lambda: pgd_at.train_step(idx),
        "adv_dpnp": lambda: adv.train_step(idx),
        "pgd_at_cl": lambda: pgd_at_cl.train_step(idx),
        "adv_dpnp_clip": lambda: adv_clip.train_step(idx),
        "grad_norm": adv.clip_gradients,  # what every step adds: the norm (train.grad_clip off)
        "textbook": lambda: textbook_step(book_model, book_opt, pgd_at.data.train_x, pgd_at.data.train_y, idx,
                                          a.eps, a.alpha, a.steps, 2, rng),
        "attack_unit": attack_unit,
        "train_unit": train_unit,
    }, args.reps, args.warmup)
    k, au, tu = args.steps, med["attack_unit"], med["train_unit"]
    print(f"{args.dataset} {args.arch} batch {args.batch_size} PGD-{args.steps}, threads {torch.get_num_threads()}")
    report("adv_dpnp step / pgd_at step", med["adv_dpnp"], med["pgd_at"],
           f"<= 1.10; (k+2)/(k+1) = {(k + 2) / (k + 1):.3f}")
    # adv_dpnp adds one clean forward + weight-gradient backward, which costs more than an attack step.
    print(f"  measured training unit / attack unit: {tu / au:.2f}; limit (k*a + 2t)/(k*a + t) = "
          f"{(k * au + 2 * tu) / (k * au + tu):.3f}")
    # every step logs the global gradient norm; train.grad_clip also rescales the gradients
    report("gradient norm / adv_dpnp step", med["grad_norm"], med["adv_dpnp"], "<= 0.01")
    report("adv_dpnp step, train.grad_clip=20 / adv_dpnp step", med["adv_dpnp_clip"], med["adv_dpnp"], "<= 1.02")
    report("textbook step / our pgd_at step (speed-up)", med["textbook"], med["pgd_at"], ">= 1.5")
    report("textbook step / our pgd_at step, train.channels_last=true", med["textbook"], med["pgd_at_cl"], ">= 1.5")


if __name__ == "__main__":
    main()
