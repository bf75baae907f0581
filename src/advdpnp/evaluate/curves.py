"""Accuracy-vs-eps curves for PGD: data for results.json and a PNG for the run directory."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .accuracy import clean_correct, pgd_correct

#: Multiples of the evaluation eps on the curve; the masking check also needs a "large" eps.
DEFAULT_FACTORS = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 4.0)


def curve_eps(eps: float, factors: tuple[float, ...] = DEFAULT_FACTORS, large_eps: float = 0.5) -> list[float]:
    """The eps values of the curve: `factors * eps`, plus `large_eps` if the curve stops below it."""
    values = sorted({round(f * eps, 6) for f in factors})
    if values[-1] < large_eps:
        values.append(large_eps)
    return values


def eps_curve(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps_values: list[float], steps: int,
              seed: int = 0, batch_size: int = 256, indices: torch.Tensor | None = None) -> dict:
    """PGD-`steps` (CE, alpha = eps/4, random start) robust accuracy at each eps (eps 0: clean)."""
    acc = []
    for e in eps_values:
        ok = clean_correct(model, x, y, batch_size)
        if e > 0:
            ok &= pgd_correct(model, x, y, e, e / 4, steps, batch_size=batch_size, seed=seed, indices=indices)
        acc.append(ok.float().mean().item())
    return {"eps": list(eps_values), "accuracy": acc, "steps": steps, "alpha": "eps/4", "n": int(len(y))}


def plot_curve(curve: dict, path: Path, title: str = "") -> Path:
    """Save the curve as a PNG (Agg backend: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 3.2), dpi=120)
    ax.plot(curve["eps"], [100 * a for a in curve["accuracy"]], marker="o")
    ax.set_xlabel("L-inf eps")
    ax.set_ylabel(f"PGD-{curve['steps']} accuracy (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.set_title(title or f"accuracy vs eps (n={curve['n']})", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
