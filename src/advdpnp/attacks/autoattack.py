"""Thin adapter over the official AutoAttack (PyPI `pyautoattack`) with a resumable state file.

Why not `run_standard_evaluation(state_path=...)`: in pyautoattack 0.2.0 the saved attack set is
written as a string, so every resume fails with "The state was created with a different set of
attacks" (checked on 0.2.0); past that check a restored run leaves `y_adv` unbound; and an attack
interrupted half-way would be re-run on a different batch composition (other random starts). We call
the official attacks one at a time on fixed blocks of the split (block = global index // block
size) and record, after every block, the robust flags and which (attack, block) pairs are done.
A killed evaluation resumes at the next block and ends with the same flags; shards that align
with blocks give the same flags as a single process.
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch
from torch import nn
from tqdm.auto import tqdm

from ..errors import UserError
from .base import attack_mode

#: variant -> attacks run in sequence on the points still robust. `custom` is the cheaper variant
#: (APGD-CE + APGD-T with the standard version's settings): FAB-T and Square dominate the cost and
#: rarely change the result for adversarially trained models.
VARIANTS: dict[str, list[str]] = {"standard": ["apgd-ce", "apgd-t", "fab-t", "square"],
                                  "custom": ["apgd-ce", "apgd-t"]}


def _official(model: nn.Module, eps: float, seed: int, num_classes: int, device: torch.device):
    """The official AutoAttack object with its `standard` settings (target classes capped at K-1)."""
    from pyautoattack import AutoAttack

    aa = AutoAttack(model, norm="Linf", eps=eps, version="standard", seed=seed, device=device)
    aa.apgd_targeted.n_target_classes = min(9, num_classes - 1)
    aa.fab.n_target_classes = min(9, num_classes - 1)
    return aa


@contextmanager
def capture_flags() -> Iterator[list[str]]:
    """Collect AutoAttack's own warnings (its logger and `warnings`), e.g. zero gradients."""
    messages: list[str] = []

    class _Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    logger = logging.getLogger("auto-attack")
    handler = _Handler(level=logging.WARNING)
    logger.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield messages
        messages.extend(str(w.message) for w in caught)
    finally:
        logger.removeHandler(handler)


def _fingerprint(indices: torch.Tensor, y: torch.Tensor) -> str:
    data = indices.cpu().long().numpy().tobytes() + y.cpu().long().numpy().tobytes()
    return hashlib.sha1(data).hexdigest()[:16]


def _model_fingerprint(model: nn.Module) -> str:
    """Hash of the weights and buffers. Two evaluations of different models on the same points write
    state files that are otherwise identical in meta; without this, one could resume the other's flags."""
    h = hashlib.sha1()
    for t in model.state_dict().values():
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def _save(state: dict, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(state))
    tmp.replace(path)


def _load_state(path: Path | None, meta: dict) -> dict | None:
    if path is None or not path.is_file():
        return None
    state = json.loads(path.read_text())
    if state.get("meta") != meta:
        raise UserError(f"AutoAttack state {path} belongs to another evaluation "
                        f"({state.get('meta')} != {meta}); delete it to start afresh")
    return state


def autoattack_correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, variant: str = "custom",
                       attacks: list[str] | None = None, seed: int = 0, block: int = 250,
                       indices: torch.Tensor | None = None, state_path: Path | None = None,
                       start_flags: torch.Tensor | None = None, square_queries: int = 5000,
                       progress: bool = True) -> tuple[torch.Tensor, dict]:
    """Bool flags robust to every attack of `variant` (or the explicit `attacks`), and an info dict.

    `x` float in [0,1]. Each attack runs on the points still robust, block by block (blocks of
    `block` consecutive global `indices`). `start_flags` (default: clean correctness) are the
    points to attack; `square_queries` lowers Square's budget (5000 in `standard`) for cheap checks.
    Info: per-attack accuracy after it ran, AutoAttack's own flags (warnings).
    """
    attacks = list(attacks or VARIANTS[variant])
    indices = torch.arange(len(y)) if indices is None else indices.cpu().long()
    with attack_mode(model), torch.no_grad():
        logits = model(x[:1])
        num_classes = logits.shape[1]
        if start_flags is None:
            start_flags = torch.cat([model(x[i:i + block]).argmax(1) == y[i:i + block]
                                     for i in range(0, len(y), block)])
    meta = {"attacks": attacks, "eps": eps, "seed": seed, "block": block, "square_queries": square_queries,
            "n": int(len(y)), "points": _fingerprint(indices, y)}
    if state_path is not None:
        meta["model"] = _model_fingerprint(model)
    state = _load_state(state_path, meta) or {"meta": meta, "flags": start_flags.cpu().int().tolist(),
                                               "done": [], "after": {}, "flags_raised": []}
    if state_path is not None:
        _save(state, state_path)
    flags = torch.tensor(state["flags"], dtype=torch.bool)
    done = {tuple(d) for d in state["done"]}
    block_of = indices // block
    blocks = torch.unique(block_of).tolist()
    aa = _official(model, eps, seed, num_classes, x.device)
    aa.square.n_queries = square_queries
    bar = tqdm(total=len(attacks) * len(blocks), desc="autoattack", disable=not progress, leave=False)
    with attack_mode(model), capture_flags() as raised:
        for i, attack in enumerate(attacks, 1):
            aa.attacks_to_run = [attack]
            # the attacks differ in cost per block (APGD-T attacks several target classes in turn: five to seven
            # times APGD-CE's time), so the bar names the one running: its rate, and so its ETA, changes with it
            bar.set_description(f"autoattack {attack} ({i}/{len(attacks)})")
            for b in blocks:
                if (attack, b) in done:
                    bar.update(1)
                    continue
                pos = torch.nonzero(flags & (block_of == b)).flatten()
                if len(pos):
                    xb, yb = x[pos.to(x.device)], y[pos.to(y.device)]
                    x_adv, _ = aa.run_standard_evaluation(xb, yb, batch_size=len(pos))
                    with torch.no_grad():
                        ok = (model(x_adv).argmax(1) == yb).cpu()
                    flags[pos] = ok
                state["flags"] = flags.int().tolist()
                state["done"].append([attack, b])
                done.add((attack, b))
                if state_path is not None:
                    state["flags_raised"] = sorted(set(state["flags_raised"]) | set(raised))
                    _save(state, state_path)
                bar.set_postfix(acc=f"{flags.float().mean().item():.3f}", refresh=False)
                bar.update(1)  # after the block, so the rate is that of finished blocks
            state["after"].setdefault(attack, flags.float().mean().item())
        state["flags_raised"] = sorted(set(state["flags_raised"]) | set(raised))
    bar.close()
    if state_path is not None:
        _save(state, state_path)
    info = {"attacks": attacks, "accuracy_after": dict(state["after"]), "flags_raised": state["flags_raised"]}
    return flags.to(y.device), info
