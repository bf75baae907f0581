"""What the report reads from a run directory: results.json, latent.json, metrics.jsonl, features."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError

FEATURES_FILE = "latent_features.pt"


@dataclass
class RunRecord:
    """One run's outputs; every part may be missing (older or quick runs write a subset)."""

    name: str
    path: Path
    results: dict = field(default_factory=dict)
    latent: dict = field(default_factory=dict)
    metrics: list[dict] = field(default_factory=list)

    @property
    def method(self) -> str | None:
        return self.results.get("method") or self.latent.get("method")

    @property
    def label(self) -> str:
        """Row label: the method, plus the run name when it says something else."""
        return self.method if self.name == self.method else (
            f"{self.method} ({self.name})" if self.method else self.name)

    @property
    def features_path(self) -> Path:
        return self.path / FEATURES_FILE


def _json(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise UserError(f"{path} is not valid JSON ({e})") from e


def _jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    rows = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise UserError(f"{path} line {i} is not valid JSON ({e})") from e
    return rows


def validation_at_best(run_dir: str | Path) -> dict | None:
    """The metrics.jsonl row of the epoch that saved checkpoints/best.pt, by the trainer's own rule.

    Choices made across runs (recipes, sweep defaults) read validation numbers from here, so the
    test split never takes part in them. None when the run has no config or validation rows yet.
    """
    from ..config import load_config
    from ..methods import METHODS
    from ..train.trainer import selection_metric

    p = Path(run_dir)
    rows = _jsonl(p / "metrics.jsonl")
    if not rows or not (p / "config.yaml").is_file():
        return None
    cfg = load_config(p / "config.yaml")
    key = selection_metric(cfg.train.select_on, METHODS.get(cfg.method["name"]).adversarial)
    best = None
    for row in rows:  # the first maximum, as the trainer saves best.pt only on strict improvement
        if key in row and (best is None or row[key] > best[key]):
            best = row
    return None if best is None else {**best, "selected_on": key}


def load_record(run_dir: str | Path) -> RunRecord:
    """Read a run directory; it must hold at least one of results.json, latent.json, metrics.jsonl."""
    p = Path(run_dir)
    if not p.is_dir():
        raise UserError(f"{p} is not a run directory")
    rec = RunRecord(p.resolve().name, p, _json(p / "results.json"), _json(p / "latent.json"),
                    _jsonl(p / "metrics.jsonl"))
    if not (rec.results or rec.latent or rec.metrics):
        raise UserError(f"{p} has no results.json, latent.json or metrics.jsonl (run `advdpnp eval` first)")
    return rec
