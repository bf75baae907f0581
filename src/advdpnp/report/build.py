"""Assemble the report of several runs: tables, figures, Markdown + HTML + CSV + JSON files."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Sequence

import torch

from . import figures
from ..train.environment import machines_summary
from .document import Block, Bullets, Heading, Image, Paragraph, to_html_doc, to_markdown_doc
from .runs import RunRecord
from .tables import (MAIN_LEGEND, Table, latent_table, main_table, masking_verdicts, other_attacks_table, to_csv,
                     to_records)


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", s).strip("_") or "run"


def _run_figures(rec: RunRecord, slug: str, fig_dir: Path, embed: str) -> list[Image]:
    """Training curves, 2-D embedding and anchor cosine heat-map of one run (what its files allow)."""
    out: list[Image] = []
    if rec.metrics:
        p = figures.training_curves(rec.metrics, f"Training of {rec.label}", fig_dir / f"{slug}_training.png")
        out.append(Image(p, f"{rec.label}: training loss terms and clean/PGD validation accuracy per epoch."))
    if rec.features_path.is_file():
        f = torch.load(rec.features_path, map_location="cpu", weights_only=True)
        protos = f["anchor_kind"] == "prototypes"
        label = "prototype" if protos else "class centroid (clean train)"
        eps = rec.latent.get("attack", {}).get("eps")
        title = f"{rec.label}: latent features, clean vs PGD" + (f" (eps={eps:g})" if eps is not None else "")
        p = figures.embedding_figure(f["z"], f["z_adv"], f["y"], f["anchors"], label, title,
                                     fig_dir / f"{slug}_embedding.png", embed)
        out.append(Image(p, f"{rec.label}: 2-D embedding of {len(f['y'])} clean and adversarial test features; "
                            f"stars = the {label} of each class, embedded together with the features."))
        kind = "prototypes" if protos else "class centroids of clean training features"
        p = figures.cosine_heatmap(f["anchors"], "prototype" if protos else "centroid",
                                   f"{rec.label}: cosine similarity of the {kind}", fig_dir / f"{slug}_cosine.png")
        out.append(Image(p, f"{rec.label}: pairwise cosine similarity of the {kind}."))
    return out


def _shared_figures(records: Sequence[RunRecord], fig_dir: Path) -> list[Image]:
    """Accuracy-vs-eps curves and corruption bars of all runs that hold them, one plot each."""
    out: list[Image] = []
    curves = {r.label + (f" (n={c['n']})" if c.get("n") else ""): (c["eps"], c["accuracy"]) for r in records
              if isinstance(c := r.results.get("eps_curve"), dict) and c.get("eps") and c.get("accuracy")}
    if curves:
        train_eps = {r.results.get("eps") for r in records if isinstance(r.results.get("eps_curve"), dict)}
        p = figures.eps_curves(curves, fig_dir / "eps_curves.png",
                               train_eps.pop() if len(train_eps) == 1 and None not in train_eps else None)
        out.append(Image(p, "Accuracy under attack against the L-inf radius, one line per run."))
    sev = {r.label: c["per_severity"] for r in records
           if isinstance(c := r.results.get("corruptions"), dict) and isinstance(c.get("per_severity"), dict)}
    if sev:
        sources = {str(r.results["corruptions"].get("source", "unknown")) for r in records if r.label in sev}
        p = figures.corruption_bars(sev, fig_dir / "corruptions.png",
                                    f"Accuracy under corruptions per severity ({', '.join(sorted(sources))})")
        out.append(Image(p, "Mean accuracy over corruption types at each severity; source: "
                            f"{', '.join(sorted(sources))}."))
    return out


def _run_list(records: Sequence[RunRecord]) -> Bullets:
    items = []
    for r in records:
        res = r.results
        meta = ", ".join(f"{k}={res[k]}" for k in ("dataset", "architecture", "head", "checkpoint", "epoch", "eps",
                                                     "threat_model", "train_seed", "suite", "code_version")
                         if res.get(k) is not None)
        items.append(f"{r.label}: {r.path} ({meta or 'no results.json'})")
    return Bullets(items)


def build_report(records: Sequence[RunRecord], out_dir: Path, embed: str = "tsne") -> dict[str, Path]:
    """Write report.md, report.html, table.csv, table.json and figures/*.png into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    fig_dir = out_dir / "figures"
    table = main_table(records)
    blocks: list[Block] = [Heading("Robustness report", 1), _run_list(records),
                           Paragraph(machines_summary([r.path for r in records])),
                           Heading("Main table"), table, Paragraph(MAIN_LEGEND)]
    if (other := other_attacks_table(records)) is not None:
        blocks += [Heading("Other attacks"), other]
    checks = masking_verdicts(records)
    blocks += [Heading("Gradient-masking checks"),
               Table(["run", "check", "verdict", "evidence"], [list(c) for c in checks]) if checks
               else Paragraph("No masking checks in these runs' results (run `advdpnp eval --suite paper`).")]
    if (lat := latent_table(records)) is not None:
        blocks += [Heading("Latent geometry (clean | PGD test features)"), lat,
                   Paragraph("Distances are in each model's feature units; compare ratios, angles, silhouettes "
                             "and fractions across models. Anchors: prototypes, or for linear heads the class "
                             "centroids of clean training features.")]
    images = _shared_figures(records, fig_dir)
    for i, r in enumerate(records, 1):
        images += _run_figures(r, _slug(f"{i}-{r.name}"), fig_dir, embed)
    if images:
        blocks += [Heading("Figures")] + [Image(i.path.relative_to(out_dir), i.caption) for i in images]
    paths = {"markdown": out_dir / "report.md", "html": out_dir / "report.html",
             "csv": out_dir / "table.csv", "json": out_dir / "table.json"}
    paths["markdown"].write_text(to_markdown_doc(blocks))
    paths["html"].write_text(to_html_doc(blocks, out_dir, "advdpnp robustness report"))
    paths["csv"].write_text(to_csv(table))
    paths["json"].write_text(json.dumps(to_records(table), indent=2))
    return {**paths, **{i.path.stem: i.path for i in images}}
