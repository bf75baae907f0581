"""Cost of each official AutoAttack component on a trained run, and of adding FAB-T (and Square) to
the cheaper APGD-CE + APGD-T variant that `eval --suite paper` runs.

    python benchmarks/bench_autoattack.py RUN_DIR [--n 200] [--threads 1] [--square-queries 5000]

Runs APGD-CE, APGD-T, FAB-T and Square in AutoAttack's order, each on the points still robust, as
`eval --suite full` does, on the first n test points at the run's eps, and prints each component's
seconds, the accuracy after it and its cost as a ratio to the cheaper variant (APGD-CE + APGD-T).
Why per component: whether FAB-T belongs in the default suite depends on what it costs and breaks on
a trained model, and that cost depends on how many points survive the APGD runs, which no synthetic
model reproduces. One repetition: each component runs for minutes on a CPU, and the ratios are of
components timed in the same process.
"""

from __future__ import annotations

import argparse
import time

import torch

from advdpnp.attacks.autoattack import VARIANTS, autoattack_correct
from advdpnp.data.augment import to_float
from advdpnp.evaluate.accuracy import clean_correct
from advdpnp.evaluate.load import load_run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="trained run directory (its best checkpoint) or exported model")
    p.add_argument("--n", type=int, default=200, help="first n test points")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--square-queries", type=int, default=5000, help="Square's budget (5000 in standard)")
    p.add_argument("--device", default="auto")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg, model, data, _ = load_run(args.run, "best", args.device)
    x, y = to_float(data.test_x[:args.n]), data.test_y[:args.n]
    eps = cfg.attack.eps
    flags = clean_correct(model, x, y).cpu()
    print(f"{args.run}: {data.name}, n {len(y)}, eps {eps:g}, threads {torch.get_num_threads()}, "
          f"clean {flags.float().mean().item():.3f}")
    seconds = {}
    for attack in VARIANTS["standard"]:
        t0 = time.perf_counter()
        flags, _ = autoattack_correct(model, x, y, eps, attacks=[attack], seed=cfg.eval.seed, start_flags=flags,
                                      square_queries=args.square_queries, progress=False)
        flags = flags.cpu()
        seconds[attack] = time.perf_counter() - t0
        print(f"{attack:8s} {seconds[attack]:8.1f} s   accuracy after {flags.float().mean().item():.3f}")
    custom = sum(seconds[a] for a in VARIANTS["custom"])
    print(f"(APGD-CE + APGD-T + FAB-T) / (APGD-CE + APGD-T): {(custom + seconds['fab-t']) / custom:.2f}")
    print(f"standard / (APGD-CE + APGD-T): {sum(seconds.values()) / custom:.2f}")


if __name__ == "__main__":
    main()
