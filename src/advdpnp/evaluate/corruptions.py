"""Accuracy on common corruptions: per corruption, per severity, and the mean over the 15 standard ones."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from ..data.corruptions import OFFICIAL_NAMES, STANDARD_CORRUPTIONS, read_corruption, read_meta
from ..errors import DataError
from .accuracy import clean_correct


def corruption_source(folder: Path, dataset: str) -> str:
    """"generated" for our own offline sets; the official benchmark's name only for its own files."""
    meta = read_meta(folder)
    if meta["source"] == "generated":
        return "generated"
    return OFFICIAL_NAMES.get(dataset, f"external {dataset} corruption files")


def evaluate_corruptions(model: nn.Module, folder: Path, dataset: str, n: int | None = None,
                         corruptions: tuple[str, ...] = STANDARD_CORRUPTIONS, batch_size: int = 256,
                         device: torch.device | str = "cpu", progress: bool = True) -> dict:
    """Accuracy of `model` (eval mode) on each corruption file present in `folder`.

    `mean` averages the per-corruption accuracies over the standard corruptions found; `missing`
    lists the standard ones absent, so a partial folder never passes for the full benchmark.
    """
    folder = Path(folder)
    present = [c for c in corruptions if (folder / f"{c}.npy").is_file()]
    if not present:
        raise DataError(f"no corruption .npy files in {folder} (expected e.g. {corruptions[0]}.npy)")
    meta = read_meta(folder)
    severities = meta["severities"]
    per_cs: dict[str, dict[str, float]] = {}
    count = 0
    for name in tqdm(present, desc="corruptions", disable=not progress, leave=False):
        x, y = read_corruption(folder, name, n)
        y = y.to(device)
        count = len(y)
        per_cs[name] = {str(s): clean_correct(model, x[i].to(device), y, batch_size).float().mean().item()
                        for i, s in enumerate(severities)}
    per_c = {c: sum(v.values()) / len(v) for c, v in per_cs.items()}
    per_s = {str(s): sum(per_cs[c][str(s)] for c in present) / len(present) for s in severities}
    result = {"source": corruption_source(folder, dataset), "folder": str(folder), "n": count,
              "severities": severities, "per_corruption": per_c, "per_severity": per_s,
              "per_corruption_severity": per_cs, "mean": sum(per_c.values()) / len(per_c),
              "missing": [c for c in STANDARD_CORRUPTIONS if c not in present]}
    if meta["source"] == "generated":  # which draw: sets made before the seed existed record none
        result["generation"] = {"seed": meta.get("seed"), "versions": meta.get("versions")}
    return result
