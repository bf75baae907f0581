"""Gradient-masking checks (Athalye et al. 2018; Carlini et al. 2019): pass/warn with the evidence.

Each check compares numbers the suite already has or cheap extra attacks on a subset; a `warn`
means the white-box numbers may overstate robustness and says why.
"""

from __future__ import annotations

import torch
from torch import nn

from .accuracy import clean_correct, pgd_correct


def _verdict(ok: bool, evidence: str, **numbers) -> dict:
    return {"verdict": "pass" if ok else "warn", "evidence": evidence, **numbers}


def _pct(a: float) -> str:
    return f"{100 * a:.1f} %"


def eps_monotone(curve: dict, tol: float = 0.01) -> dict:
    """Accuracy must not rise with eps (beyond `tol`, the noise of separate random starts)."""
    acc = curve["accuracy"]
    rises = [(curve["eps"][i], curve["eps"][i + 1]) for i in range(len(acc) - 1) if acc[i + 1] > acc[i] + tol]
    pairs = ", ".join(f"{e:g}: {_pct(a)}" for e, a in zip(curve["eps"], acc))
    return _verdict(not rises, f"PGD accuracy by eps {pairs}" + (f"; rises between {rises}" if rises else ""),
                    rises=rises)


def large_eps_zero(curve: dict, threshold: float = 0.05) -> dict:
    """At the largest eps (>= 0.5 lets any image become grey) accuracy must be about zero."""
    e, a = curve["eps"][-1], curve["accuracy"][-1]
    return _verdict(a <= threshold, f"PGD accuracy {_pct(a)} at eps {e:g} (pass if <= {_pct(threshold)}); "
                    "an attack that cannot reach ~0 there is blocked by the model, not by the budget",
                    eps=e, accuracy=a)


def more_steps_restarts(model: nn.Module, x: torch.Tensor, y: torch.Tensor, base: torch.Tensor, eps: float,
                        alpha: float, steps: int, seed: int, indices: torch.Tensor, batch_size: int,
                        tol: float = 0.01) -> dict:
    """5x the steps, and 5 restarts, must never raise accuracy above the base PGD's (same points).

    Both sides are random-start attacks, so a single point can flip either way by chance; the allowed
    rise is `tol` of the points but at least one point (on 50 points, 1 % would be below the resolution
    and warn on every one-point flip). A masking model gains many points, not one.
    """
    clean = clean_correct(model, x, y, batch_size)
    long = clean & pgd_correct(model, x, y, eps, alpha / 2, 5 * steps, 1, "ce", batch_size, seed, indices)
    rest = clean & pgd_correct(model, x, y, eps, alpha, steps, 5, "ce", batch_size, seed + 1, indices)
    n0, n1, n2 = (int(f.sum()) for f in (base, long, rest))
    allowed = max(1, int(tol * len(y)))
    ok = n1 <= n0 + allowed and n2 <= n0 + allowed
    a0, a1, a2 = (k / len(y) for k in (n0, n1, n2))
    return _verdict(ok, f"on {len(y)} points: PGD-{steps} {_pct(a0)}, PGD-{5 * steps} (alpha/2) {_pct(a1)}, "
                    f"PGD-{steps} x5 restarts {_pct(a2)} (pass if neither exceeds the base by more than "
                    f"{allowed} point{'s' if allowed > 1 else ''}: {_pct(tol)} of them, at least one)",
                    n=int(len(y)), base=a0, more_steps=a1, restarts=a2, allowed_rise=allowed)


def not_stronger(name: str, attack_flags: torch.Tensor, whitebox_flags: torch.Tensor, tol: float = 0.01) -> dict:
    """A black-box or transfer attack must not beat the per-sample white-box worst case."""
    a, w = attack_flags.float().mean().item(), whitebox_flags.float().mean().item()
    only = int((whitebox_flags & ~attack_flags).sum())
    return _verdict(a >= w - tol, f"on {len(attack_flags)} points: {name} accuracy {_pct(a)} vs white-box worst "
                    f"case {_pct(w)}; {only} points broken only by {name} (pass if {name} is not stronger by "
                    f"> {_pct(tol)})", n=int(len(attack_flags)), accuracy=a, whitebox=w, only_this_attack=only)


def autoattack_flags(messages: list[str]) -> dict:
    """AutoAttack's own checks (randomness, probability outputs, zero gradients, Square success)."""
    return _verdict(not messages, "; ".join(messages) if messages else "AutoAttack raised no flags",
                    flags=list(messages))


def not_run(reason: str) -> dict:
    """A check that could not run: a warning that explains itself, never a silent pass."""
    return {"verdict": "warn", "evidence": f"not run: {reason}"}
