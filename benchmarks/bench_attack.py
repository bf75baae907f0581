"""Attack ratios: our PGD / k x (one forward + input-gradient backward), torchattacks PGD / our PGD.

    python benchmarks/bench_attack.py [--dataset fashion-mnist|digits|cifar_shape]
                                      [--arch small_cnn|preact_resnet18] [--arch small_cnn]

Same model, same batch, same settings (L-inf, eps, alpha, k steps, uniform random start). torchattacks
is optional (`pip install --no-deps torchattacks==3.5.1`); without it that ratio is skipped.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from _common import interleaved, parser, report
from advdpnp.attacks import attack_mode, pgd
from advdpnp.models.classifier import build_model

SHAPES = {"fashion-mnist": (1, 28, 0.1), "digits": (1, 8, 0.2), "cifar_shape": (3, 32, 8 / 255)}


def main() -> None:
    args = parser(__doc__, tuple(SHAPES)).parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    c, size, eps = SHAPES[args.dataset]  # synthetic inputs of that shape; eps of its threat model
    alpha, k = eps / 4, args.steps
    torch.manual_seed(0)
    model = build_model(args.arch, c, size, 10, head="linear").eval()
    x = torch.rand(args.batch_size, c, size, size)
    y = torch.randint(0, 10, (args.batch_size,))
    model_cl = copy.deepcopy(model).to(memory_format=torch.channels_last)
    x_cl = x.contiguous(memory_format=torch.channels_last)

    def fwd_bwd(m=model, xb=x):
        with attack_mode(m):
            xr = xb.clone().requires_grad_(True)
            torch.autograd.grad(F.cross_entropy(m(xr), y, reduction="sum"), xr)

    cands = {
        "fwd_bwd": fwd_bwd,
        "ours": lambda: pgd(model, x, y, eps, alpha, k),
        "ours_channels_last": lambda: pgd(model_cl, x_cl, y, eps, alpha, k),
    }
    try:
        import torchattacks

        ta = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=k, random_start=True)
        cands["torchattacks"] = lambda: ta(x, y)
    except ImportError:
        print("torchattacks not installed: skipping that ratio")
    med = interleaved(cands, args.reps, args.warmup)
    print(f"{args.dataset} {c}x{size}x{size} {args.arch} batch {args.batch_size} PGD-{k}, "
          f"threads {torch.get_num_threads()}")
    report(f"our PGD-{k} / {k} x (forward + input-gradient backward)", med["ours"], k * med["fwd_bwd"], "<= 1.05")
    report("our PGD, channels_last / contiguous", med["ours_channels_last"], med["ours"], "< 1 helps")
    if "torchattacks" in med:
        best = min(med["ours"], med["ours_channels_last"])
        report("torchattacks PGD / our PGD (speed-up)", med["torchattacks"], med["ours"], ">= 1.2")
        report("torchattacks PGD / our best layout (speed-up)", med["torchattacks"], best, ">= 1.2")


if __name__ == "__main__":
    main()
