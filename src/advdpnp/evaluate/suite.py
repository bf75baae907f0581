"""The robustness evaluation suite: attacks -> per-sample flags -> worst case, masking checks, eps curve.

`run_suite` works on any subset of the test split: every random start is seeded by the points'
global `indices` (and AutoAttack runs on blocks of global indices), so shards of a distributed
evaluation produce the flags a single process would and can simply be concatenated.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from ..attacks.adaptive import model_prototypes, prototype_pgd
from ..attacks.autoattack import VARIANTS, autoattack_correct
from ..attacks.fgsm import fgsm
from ..attacks.pgd import pgd
from ..data.augment import as_float
from . import masking_checks as mc
from .accuracy import clean_correct, pgd_correct, sample_seeds
from .curves import DEFAULT_FACTORS, curve_eps, eps_curve
from .sharded import run_sharded

SUITES = ("quick", "paper", "full")
#: Attacks that see gradients; the black-box and transfer checks compare against their worst case.
WHITE_BOX = ("fgsm", "pgd20", "cw_inf", "autoattack", "adaptive_proto", "apgd_dlr_proto")


@dataclass
class SuiteParams:
    """What to run and with which budgets (SPEC section 4 defaults: PGD-20, alpha eps/4, CW-inf PGD-30)."""

    eps: float
    suite: str = "quick"
    steps: int = 20
    alpha: float | None = None  # None: eps/4
    restarts: int = 1
    cw_steps: int = 30
    adaptive_steps: int = 50
    seed: int = 0
    batch_size: int = 256
    aa_variant: str | None = None  # None: custom for `paper`, standard for `full`
    aa_block: int = 250
    aa_state: Path | None = None  # AutoAttack state file: a killed evaluation resumes from it
    curve_factors: tuple[float, ...] = DEFAULT_FACTORS
    large_eps: float = 0.5
    check_points: int = 200  # subset for the costly masking checks (more steps, Square)
    square_queries: int = 1000
    progress: bool = True

    @property
    def step(self) -> float:
        return self.alpha if self.alpha is not None else self.eps / 4

    @property
    def variant(self) -> str:
        return self.aa_variant or ("standard" if self.suite == "full" else "custom")


def _batched(fn: Callable, x: torch.Tensor, y: torch.Tensor, indices: torch.Tensor, bs: int, desc: str,
             progress: bool) -> torch.Tensor:
    """Flags of `fn(xb, yb, ib)` over batches, with a progress bar per attack; under torchrun each rank
    attacks its shard of the points and the flags are gathered (`run_sharded`)."""

    def shard(xs: torch.Tensor, ys: torch.Tensor, ids: torch.Tensor) -> dict[str, torch.Tensor]:
        out = [fn(xs[i:i + bs], ys[i:i + bs], ids[i:i + bs])
               for i in tqdm(range(0, len(ys), bs), desc=desc, disable=not progress, leave=False)]
        return {"ok": torch.cat(out) if out else torch.zeros(0, dtype=torch.bool, device=ys.device)}

    return run_sharded(shard, x, y, indices)["ok"]


def _entry(flags: torch.Tensor, seconds: float, **params) -> dict:
    return {"accuracy": flags.float().mean().item(), "n": int(len(flags)), **params, "time_s": round(seconds, 3)}


def run_suite(model: nn.Module, x: torch.Tensor, y: torch.Tensor, p: SuiteParams,
              indices: torch.Tensor | None = None, prototypes: torch.Tensor | None = None,
              transfer_source: nn.Module | None = None) -> dict:
    """Run suite `p.suite` on (x, y) (uint8 or float in [0,1]); returns the attack part of results.json.

    `prototypes`: stand-ins (e.g. class centroids of clean training features) for a model without
    a prototype head; `transfer_source`: a standard model for the transfer check (paper/full).
    """
    if p.suite not in SUITES:
        raise ValueError(f"suite must be one of {SUITES}, got {p.suite!r}")
    x = as_float(x)
    indices = torch.arange(len(y)) if indices is None else indices.cpu().long()
    model.eval()
    bs, eps, alpha = p.batch_size, p.eps, p.step
    flags: dict[str, torch.Tensor] = {}
    attacks: dict[str, dict] = {}
    info: dict = {}
    skipped: dict[str, str] = {}

    def record(name: str, fn: Callable, **params) -> None:
        t0 = time.time()
        ok = _batched(fn, x, y, indices, bs, name, p.progress)
        flags[name] = ok if name == "clean" else ok & flags["clean"]
        attacks[name] = _entry(flags[name], time.time() - t0, **params)

    record("clean", lambda xb, yb, ib: clean_correct(model, xb, yb, bs), eps=0.0)
    record("fgsm", lambda xb, yb, ib: clean_correct(model, fgsm(model, xb, yb, eps), yb, bs),
           eps=eps, steps=1, alpha=eps, restarts=1, loss="ce", random_start="none", seed=None)
    record(f"pgd{p.steps}", lambda xb, yb, ib: pgd_correct(model, xb, yb, eps, alpha, p.steps, p.restarts, "ce",
                                                            bs, p.seed, ib),
           eps=eps, steps=p.steps, alpha=alpha, restarts=p.restarts, loss="ce", random_start="uniform", seed=p.seed)
    if p.suite != "quick":
        _strong_attacks(model, x, y, p, indices, prototypes, flags, attacks, info, skipped, record)
    whitebox = [n for n in flags if n in WHITE_BOX or n.startswith("pgd")]
    worst = flags["clean"].clone()
    for n in whitebox:
        worst &= flags[n]
    results = {"attacks": attacks, "worst_case": {"accuracy": worst.float().mean().item(), "n": int(len(y)),
                                                   "attacks": ["clean", *whitebox]},
               "per_sample": {n: f.int().tolist() for n, f in flags.items()}}
    if skipped:
        results["skipped"] = skipped
    if p.suite != "quick":
        curve = eps_curve(model, x, y, curve_eps(eps, p.curve_factors, p.large_eps), p.steps, p.seed, bs, indices)
        results["eps_curve"] = curve
        results["masking_checks"] = _checks(model, x, y, p, indices, flags, worst, curve, info, transfer_source)
    return results


def _strong_attacks(model, x, y, p: SuiteParams, indices, prototypes, flags, attacks, info, skipped,
                    record) -> None:
    """CW-inf, AutoAttack and the adaptive prototype attacks (paper and full suites)."""
    bs, eps, alpha = p.batch_size, p.eps, p.step
    record("cw_inf", lambda xb, yb, ib: pgd_correct(model, xb, yb, eps, alpha, p.cw_steps, p.restarts, "margin",
                                                     bs, p.seed, ib),
           eps=eps, steps=p.cw_steps, alpha=alpha, restarts=p.restarts, loss="margin (C&W, L-inf PGD)",
           random_start="uniform", seed=p.seed)
    t0 = time.time()
    ok, info["autoattack"] = autoattack_correct(model, x, y, eps, p.variant, seed=p.seed, block=p.aa_block,
                                                indices=indices, state_path=p.aa_state,
                                                start_flags=flags["clean"].cpu(), progress=p.progress)
    flags["autoattack"] = ok & flags["clean"]
    attacks["autoattack"] = _entry(flags["autoattack"], time.time() - t0, eps=eps, variant=p.variant,
                                   components=VARIANTS[p.variant], seed=p.seed, steps=100, restarts=1,
                                   loss="official AutoAttack (pyautoattack 0.2.0)", alpha="APGD step-size schedule",
                                   accuracy_after=info["autoattack"]["accuracy_after"])
    protos = model_prototypes(model)
    source = "model prototypes" if protos is not None else "class centroids of clean training features"
    protos = protos if protos is not None else prototypes
    if protos is None:
        skipped["adaptive_proto"] = "model has no prototypes and no centroids were given"
    else:
        a_seed = p.seed + 1
        record("adaptive_proto", lambda xb, yb, ib: clean_correct(
            model, prototype_pgd(model, xb, yb, protos, eps, alpha, p.adaptive_steps,
                                 sample_seeds(ib, a_seed)), yb, bs),
               eps=eps, steps=p.adaptive_steps, alpha=alpha, restarts=1, seed=a_seed, prototypes=source,
               loss="||z - p_y||^2 - ||z - p_rival||^2 (feature space)", random_start="uniform")
    if model_prototypes(model) is None:
        skipped["apgd_dlr_proto"] = ("linear head: its logits are not prototype logits; APGD-T in AutoAttack "
                                       "already runs the targeted DLR loss on them")
        return
    t0 = time.time()
    ok, info["apgd_dlr_proto"] = autoattack_correct(model, x, y, eps, attacks=["apgd-dlr"], seed=p.seed,
                                                    block=p.aa_block, indices=indices,
                                                    start_flags=flags["clean"].cpu(), progress=p.progress)
    flags["apgd_dlr_proto"] = ok & flags["clean"]
    attacks["apgd_dlr_proto"] = _entry(flags["apgd_dlr_proto"], time.time() - t0, eps=eps, steps=100, restarts=1,
                                       alpha="APGD step-size schedule", seed=p.seed,
                                       loss="DLR on the prototype logits (official APGD)")


def _checks(model, x, y, p: SuiteParams, indices, flags, worst, curve, info, transfer_source) -> dict:
    """The gradient-masking checks; the costly ones on the first `check_points` points."""
    k = min(p.check_points, len(y))
    xs, ys, ids = x[:k], y[:k], indices[:k]
    base = flags[f"pgd{p.steps}"][:k]
    checks = {"eps_monotone": mc.eps_monotone(curve), "large_eps": mc.large_eps_zero(curve),
              "more_steps_restarts": mc.more_steps_restarts(model, xs, ys, base, p.eps, p.step, p.steps, p.seed,
                                                            ids, p.batch_size)}
    sq, _ = autoattack_correct(model, xs, ys, p.eps, attacks=["square"], seed=p.seed, block=p.aa_block,
                               indices=ids, start_flags=flags["clean"][:k].cpu(),
                               square_queries=p.square_queries, progress=p.progress)
    checks["square"] = mc.not_stronger(f"Square ({p.square_queries} queries)", sq.to(worst.device), worst[:k])
    if transfer_source is None:
        checks["transfer"] = mc.not_run("no standard source model (pass --transfer-from RUN_DIR)")
    else:
        src = transfer_source.eval()
        tr = flags["clean"] & _batched(lambda xb, yb, ib: clean_correct(
            model, pgd(src, xb, yb, p.eps, p.step, p.steps, sample_seeds=sample_seeds(ib, p.seed)), yb, p.batch_size),
            x, y, indices, p.batch_size, "transfer", p.progress)
        checks["transfer"] = mc.not_stronger(f"transfer PGD-{p.steps} from a standard model", tr, worst)
    raised = [m for part in info.values() for m in part["flags_raised"]]
    checks["autoattack_flags"] = mc.autoattack_flags(sorted(set(raised)))
    return checks
