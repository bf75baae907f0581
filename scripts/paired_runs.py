"""Paired clean, PGD and AutoAttack accuracy of two runs on the same points of the validation and test splits.

Why: the validation and test points are fixed sets (`data.split_seed`), shared by every training seed,
so a difference between two settings carries the sampling noise of those points however many seeds
average it. The points only one model classifies correctly measure that noise (an exact two-sided sign
test on them, McNemar's test), and reading the validation and test splits side by side shows whether a
lead that chose a setting on validation holds on the test points. `--pgd` adds the same reading under
the evaluation suite's L-inf PGD (the runs' `eval` settings, seeded by point index, so on the first
points of the test split it repeats the suite's pgd column), e.g. on a whole test split where the
suite read 1000 points. `--aa` adds the suite's cheaper AutoAttack (official APGD-CE + APGD-T, its seed and
blocks of points, so again the suite's flags on the points it read): the costliest reading, 6-8 min per
1000 Fashion-MNIST points (small_cnn) on one CPU thread; with `--cache` a killed reading resumes at its next block,
and no reading is made twice: a store of more points serves fewer (its first ones), and a best checkpoint's store
serves the last checkpoint when the two hold the same weights (see `stored_flags`).

    python scripts/paired_runs.py RUN_A RUN_B [RUN_A RUN_B ...] [--n 1000] [--splits val,test] [--pgd] [--aa]
        [--cache]
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path

import torch
from tqdm.auto import tqdm

from advdpnp.errors import UserError
from advdpnp.report.tables import mean_std

# the fields that fix which images the validation and test splits hold
SPLIT_FIELDS = ("name", "val_fraction", "split_seed", "test_subset")


def _two_sided_tail(only_a: int, only_b: int) -> tuple[int, int]:
    """Numerator and denominator of the exact two-sided binomial p-value, as integers (not yet capped at 1)."""
    m, k = only_a + only_b, min(only_a, only_b)
    return 2 * sum(math.comb(m, i) for i in range(k + 1)), 2 ** m


def sign_test(only_a: int, only_b: int) -> float:
    """Exact two-sided binomial p-value of `only_a` against `only_b` discordant points (1.0 if none)."""
    num, den = _two_sided_tail(only_a, only_b)
    return min(1.0, num / den)


def p_text(only_a: int, only_b: int) -> str:
    """The p-value as the tables print it. Below the smallest float (a few thousand discordant points nearly all
    one way) the float reads 0, which no p-value is, so its digits come from the exact integers' logarithms."""
    p = sign_test(only_a, only_b)
    if p > 0:
        return f"{p:.2g}"
    num, den = _two_sided_tail(only_a, only_b)
    log_p = math.log10(num) - math.log10(den)
    exponent = math.floor(log_p)
    return f"{10 ** (log_p - exponent):.2g}e{exponent}"


def run_settings(run: str, eps: float | None = None) -> tuple[tuple, tuple]:
    """The run's split identity and its PGD settings (the evaluation suite's: its `eval` config at `eps`, or
    at its training eps), from RUN/config.yaml, so that every pair is checked before any model is read."""
    from advdpnp.config import load_config
    from advdpnp.evaluate.suite import SuiteParams

    cfg = load_config(Path(run) / "config.yaml")
    e = cfg.eval
    suite = SuiteParams(eps=cfg.attack.eps if eps is None else eps, steps=e.pgd_steps, alpha=e.pgd_alpha,
                        restarts=e.pgd_restarts, seed=e.seed)
    return (tuple(getattr(cfg.data, f) for f in SPLIT_FIELDS),
            (suite.eps, suite.steps, suite.step, suite.restarts, suite.seed))


def store_path(run: str | Path, which: str, n: int) -> Path:
    """Where `--cache` keeps a run's flags: named for the checkpoint's sha256 and `n`, so that retrained weights
    never reuse them."""
    from advdpnp.paths import find_checkpoint
    from advdpnp.train.checkpoint import sha256_file

    ckpt = find_checkpoint(str(run), which)
    return Path(run) / "paired_flags" / f"{ckpt.stem}-{sha256_file(ckpt)[:16]}-n{n}.pt"


def _same_weights(a: Path, b: Path) -> bool:
    """Whether two checkpoints hold the same model tensors, bit for bit (a run whose best epoch was its last)."""
    from advdpnp.train.checkpoint import safe_load

    wa, wb = safe_load(a)["model"], safe_load(b)["model"]
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def _prefix(key: str, flags: torch.Tensor, n: int) -> torch.Tensor | None:
    """A stored reading's flags on its first `n` points, or None where they could differ from a reading of `n`
    points: PGD and the clean pass seed nothing or by point index, but AutoAttack seeds each block of points, so
    its prefix is its own reading only where `n` ends a block."""
    if len(flags) <= n:
        return flags
    block = re.search(r"-block(\d+)/", key)
    return flags[:n] if block is None or n % int(block[1]) == 0 else None


def stored_flags(run: str | Path, which: str, n: int) -> dict[str, torch.Tensor]:
    """Every reading `--cache` stored for `run`'s `which` checkpoint on the first `n` points, keyed as the store
    keys them. Besides the store of `n` points, read first: a store of more points gives its first `n` (see
    `_prefix`), and the other checkpoint's stores serve when it holds the same weights, so that a whole-split
    reading of a best checkpoint is never repeated for a shorter or a `last` reading."""
    from advdpnp.paths import find_checkpoint
    from advdpnp.train.checkpoint import safe_load

    def stores(w: str) -> list[Path]:
        """The checkpoint's store of `n` points, then its stores of more points, fewest first."""
        own = store_path(run, w, n)
        name = re.compile(re.escape(own.name).replace(f"n{n}", r"n(\d+)"))
        points = {s: int(m[1]) for s in own.parent.glob("*.pt") if (m := name.fullmatch(s.name))}
        return sorted((s for s, m in points.items() if m >= n), key=points.get)

    other = {"best": "last", "last": "best"}[which]
    sources = stores(which)
    try:
        twin = find_checkpoint(str(run), other)
    except UserError:  # no other checkpoint: nothing to share
        twin = None
    if twin is not None and (twin_stores := stores(other)) and _same_weights(find_checkpoint(str(run), which), twin):
        sources += twin_stores
    out: dict[str, torch.Tensor] = {}
    for source in sources:
        for key, flags in safe_load(source).items():
            if key not in out and (part := _prefix(key, flags, n)) is not None:
                out[key] = part
    return out


def correct(run: str, splits: list[str], n: int, which: str, attack: tuple | None = None,
            cache: bool = False, aa: tuple | None = None) -> dict[tuple[str, str], torch.Tensor]:
    """Correctness flags on the first `n` points of each split, keyed (reading, split): clean, pgdSTEPS
    under `attack` (eps, steps, step, restarts, seed) and aa under the suite's AutoAttack at `aa` (eps, seed),
    when given. With `cache`, flags are kept in the run's `store_path` and read from there; AutoAttack's state
    file sits beside it until its reading is saved."""
    from advdpnp.attacks.autoattack import autoattack_correct
    from advdpnp.data.augment import as_float
    from advdpnp.evaluate.accuracy import clean_correct, pgd_correct
    from advdpnp.evaluate.load import load_run
    from advdpnp.evaluate.suite import SuiteParams
    from advdpnp.train.checkpoint import atomic_save

    cfg, model, data, _ = load_run(run, which=which, device="cpu")
    bs = cfg.eval.batch_size
    store = store_path(run, which, n) if cache else None
    saved = stored_flags(run, which, n) if store else {}
    known = len(saved)
    flags = {}
    states = []  # AutoAttack state files of the readings this call stores
    for split in splits:
        x, y = data.split(split)
        x, y = x[:n], y[:n]
        if f"clean/{split}" not in saved:
            saved[f"clean/{split}"] = clean_correct(model, x, y)
        flags["clean", split] = clean = saved[f"clean/{split}"]
        if attack is not None:
            eps, steps, alpha, restarts, seed = attack
            key = f"pgd{steps}-eps{eps:g}-step{alpha:g}-restarts{restarts}-seed{seed}/{split}"
            if key not in saved:  # chunks of whole batches: the suite's batches, so its flags to the last bit
                chunk = 8 * bs
                robust = [pgd_correct(model, x[i:i + chunk], y[i:i + chunk], eps, alpha, steps, restarts, "ce", bs,
                                      seed, torch.arange(i, min(i + chunk, len(y))))
                          for i in tqdm(range(0, len(y), chunk), desc=f"{Path(run).name} {split} PGD-{steps}",
                                        leave=False)]
                saved[key] = torch.cat(robust) & clean
            flags[f"pgd{steps}", split] = saved[key]
        if aa is not None:
            eps, seed = aa
            block = SuiteParams.aa_block
            key = f"aa-custom-eps{eps:g}-seed{seed}-block{block}/{split}"
            state = store.with_name(f"{store.stem}-aa-{split}.json") if store else None
            if state:
                states.append(state)
            if key not in saved:  # the suite's call: clean points attacked, blocks of global indices
                if state:
                    state.parent.mkdir(exist_ok=True)
                robust, _ = autoattack_correct(model, as_float(x), y, eps, "custom", seed=seed, block=block,
                                               state_path=state, start_flags=clean.cpu())
                saved[key] = robust & clean
            flags["aa", split] = saved[key]
    if store and len(saved) > known:
        store.parent.mkdir(exist_ok=True)
        atomic_save(saved, store, keep_previous=False)
    for state in states:  # their flags are in the store now; a killed reading of another split keeps its file
        state.unlink(missing_ok=True)
    return flags


def labels(runs: list[str]) -> dict[str, str]:
    """Each run's name in the tables: its folder's last parts, as few as tell the runs apart (a study's
    `fmnist-adv_dpnp/base-s0` and `fmnist-pgd_at/base-s0` would both read `base-s0`)."""
    parts = {r: Path(r).absolute().parts for r in runs}
    for k in range(1, max(map(len, parts.values()), default=0) + 1):
        names = {r: "/".join(p[-k:]) for r, p in parts.items()}
        if len(set(names.values())) == len(names):
            return names
    return {r: r for r in runs}  # one folder given under two spellings: keep them as given


def print_table(reading: str, pairs: list[tuple[str, str]], flags: dict, splits: list[str]) -> None:
    """One markdown table of the pairs' `reading` flags, then (two pairs or more) a pooled row: the discordant
    counts summed, each side's accuracy as mean ± std over its distinct runs (seeds, say), and the difference as
    mean ± std over the pairs, the spread a seed-to-seed comparison needs."""
    name = labels(list(flags))
    print(f"| A | B | split | n | A {reading} | B {reading} | only A | only B | A - B | sign test p |")
    print("|---" * 10 + "|")
    totals = {s: [0, 0, 0] for s in splits}  # only A, only B, points
    accs = {s: ({}, {}, []) for s in splits}  # A run -> accuracy, B run -> accuracy, pair differences
    for a, b in pairs:
        for s in splits:
            x, y = flags[a][reading, s], flags[b][reading, s]
            only_a, only_b = int((x & ~y).sum()), int((y & ~x).sum())
            totals[s] = [totals[s][0] + only_a, totals[s][1] + only_b, totals[s][2] + len(x)]
            accs[s][0][a], accs[s][1][b] = x.float().mean().item(), y.float().mean().item()
            accs[s][2].append((only_a - only_b) / len(x))
            print(f"| {name[a]} | {name[b]} | {s} | {len(x)} | {100 * x.float().mean():.1f} | "
                  f"{100 * y.float().mean():.1f} | {only_a} | {only_b} | {100 * (only_a - only_b) / len(x):+.1f} | "
                  f"{p_text(only_a, only_b)} |")
    if len(pairs) > 1:
        for s, (only_a, only_b, points) in totals.items():
            acc_a, acc_b, diffs = accs[s]
            print(f"| all pairs | | {s} | {points} | {mean_std(list(acc_a.values()))} | "
                  f"{mean_std(list(acc_b.values()))} | {only_a} | {only_b} | {mean_std(diffs, signed=True)} | – |")
        print("\nNo p-value for the sum: the pairs reuse the same points, so it averages over the pairs' "
              "models (seeds or methods), not over new points. Its accuracies are mean ± sample std over each "
              "side's distinct runs, its A - B over the pairs.")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folders, in pairs: A B [A B ...]")
    p.add_argument("--n", type=int, default=1000,
                   help="first N points of each split (default 1000; more than a split holds: all of it)")
    p.add_argument("--splits", default="val,test", help="comma-separated, of val and test (default val,test)")
    p.add_argument("--which", default="best", choices=("best", "last"), help="checkpoint of each run (default best)")
    p.add_argument("--pgd", action="store_true",
                   help="also compare accuracy under the evaluation suite's PGD (the runs' eval config)")
    p.add_argument("--aa", action="store_true",
                   help="also compare accuracy under the suite's AutoAttack (APGD-CE + APGD-T; slow: see above)")
    p.add_argument("--eps", type=float,
                   help="PGD and AutoAttack radius (default: the runs' training eps, which must agree)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    p.add_argument("--cache", action="store_true",
                   help="keep each run's flags in RUN/paired_flags/ and reuse them (e.g. one run in several pairs, "
                        "or pairs read by separate processes and then tabulated together)")
    args = p.parse_args()
    splits = [s for s in args.splits.split(",") if s]
    if len(args.runs) % 2:
        p.error(f"runs come in pairs (A B); got {len(args.runs)}")
    if not splits or any(s not in ("val", "test") for s in splits):
        p.error(f"--splits takes val and/or test, got {args.splits!r}")
    if args.eps is not None and args.eps <= 0:
        p.error(f"--eps must be a radius > 0, got {args.eps}")
    if args.threads < 1:
        p.error(f"--threads must be >= 1, got {args.threads}")
    if missing := [r for r in args.runs if not (Path(r) / "config.yaml").is_file()]:
        p.error(f"not a run folder (no config.yaml): {' '.join(missing)}")
    torch.set_num_threads(args.threads)
    pairs = list(zip(args.runs[::2], args.runs[1::2]))
    settings = {r: run_settings(r, args.eps) for r in dict.fromkeys(args.runs)}
    for a, b in pairs:
        if settings[a][0] != settings[b][0]:
            sys.exit(f"{a} and {b} split the data differently ({', '.join(SPLIT_FIELDS)}: {settings[a][0]} vs "
                     f"{settings[b][0]}); their points are not paired")
    attacks = {attack for _, attack in settings.values()}
    if args.pgd and len(attacks) > 1:
        sys.exit("the runs' PGD settings differ (eps, steps, step, restarts, seed: "
                 f"{' vs '.join(map(str, sorted(attacks)))}); pass --eps or compare runs evaluated alike")
    aas = {(a[0], a[4]) for a in attacks}  # AutoAttack needs only the radius and the seed to agree
    if args.aa and len(aas) > 1:
        sys.exit(f"the runs' AutoAttack settings differ (eps, seed: {' vs '.join(map(str, sorted(aas)))}); pass "
                 "--eps or compare runs evaluated alike")
    attack = attacks.pop() if args.pgd else None
    aa = aas.pop() if args.aa else None
    try:
        flags = {r: correct(r, splits, args.n, args.which, attack, args.cache, aa) for r in settings}
    except UserError as e:  # a missing or damaged checkpoint
        sys.exit(f"error: {e}")
    print_table("clean", pairs, flags, splits)
    if attack:
        eps, steps, alpha, restarts, seed = attack
        print(f"\nUnder PGD-{steps} at eps {eps:g} (step {alpha:g}, {restarts} random start(s), seed {seed}; "
              "clean and attacked both correct):\n")
        print_table(f"pgd{steps}", pairs, flags, splits)
    if aa:
        print(f"\nUnder AutoAttack at eps {aa[0]:g} (APGD-CE + APGD-T, seed {aa[1]}; clean and attacked both "
              "correct):\n")
        print_table("aa", pairs, flags, splits)


if __name__ == "__main__":
    main()
