"""Paper-shaped tables built from run records: every number carries its point count, gaps show '–'.

Nothing is computed here that the run directories do not hold: a missing attack stays missing.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from dataclasses import dataclass
from typing import Callable, Sequence

from .runs import RunRecord

MISSING = "–"

#: (column title, attack key in results.json) of the paper's robustness columns.
ATTACK_COLUMNS = [("clean", "clean"), ("FGSM", "fgsm"), ("PGD-20", "pgd20"), ("CW-inf", "cw_inf"),
                  ("AutoAttack", "autoattack")]


def pm(mean: float, std: float, count: int, signed: bool = False) -> str:
    """'mean ± sample std' of fractions, in %; one value alone, since a single seed has no spread to show.
    `signed` writes the mean with its sign, for differences."""
    m = f"{100 * mean:+.1f}" if signed else f"{100 * mean:.1f}"
    return f"{m} ± {100 * std:.1f}" if count > 1 else m


def mean_std(values: Sequence[float], signed: bool = False) -> str:
    """`pm` of a list of fractions (sample std, as `advdpnp sweep` aggregates)."""
    return pm(statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0, len(values), signed)


@dataclass
class Cell:
    """One table entry: a value (None when missing), its point count and an optional note."""

    value: float | None = None
    n: int | None = None
    note: str = ""
    kind: str = "percent"  # percent (value is a fraction) | degrees | number

    def text(self) -> str:
        if self.value is None or (isinstance(self.value, float) and math.isnan(self.value)):
            return MISSING
        v = {"percent": f"{100 * self.value:.1f}", "degrees": f"{self.value:.1f}°"}.get(
            self.kind, f"{self.value:.3g}")
        extra = [f"n={self.n}" if self.n is not None else "n unknown"] + ([self.note] if self.note else [])
        return f"{v} ({', '.join(extra)})"

    def as_dict(self) -> dict | None:
        if self.text() == MISSING:
            return None
        return {"value": self.value, "n": self.n, "unit": self.kind, **({"note": self.note} if self.note else {})}


def _num(v: object) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _int(v: object) -> int | None:
    return int(v) if isinstance(v, int) and not isinstance(v, bool) else None


def attack_cell(rec: RunRecord, key: str) -> Cell:
    """Accuracy of one attack; AutoAttack notes its variant unless it is the standard one."""
    entry = rec.results.get("attacks", {}).get(key)
    if not isinstance(entry, dict):
        return Cell()
    variant, parts = entry.get("variant"), entry.get("components")
    note = ""
    if key == "autoattack" and variant and variant != "standard":
        note = f"variant: {variant}" + (f" ({', '.join(map(str, parts))})"
                                        if isinstance(parts, list) and "(" not in str(variant) else "")
    return Cell(_num(entry.get("accuracy")), _int(entry.get("n")), note)


def worst_case_cell(rec: RunRecord) -> Cell:
    w = rec.results.get("worst_case")
    return Cell(_num(w.get("accuracy")), _int(w.get("n"))) if isinstance(w, dict) else Cell()


def corruption_cell(rec: RunRecord) -> Cell:
    """Mean corruption accuracy, noting when the corruptions were generated rather than CIFAR-10-C."""
    c = rec.results.get("corruptions")
    if not isinstance(c, dict):
        return Cell()
    src = c.get("source")
    return Cell(_num(c.get("mean")), _int(c.get("n")), "generated" if src == "generated" else "")


def latent_cell(rec: RunRecord, section: str, key: str, kind: str) -> Cell:
    block = rec.latent.get(section)
    if not isinstance(block, dict):
        return Cell()
    return Cell(_num(block.get(key)), _int(rec.latent.get("n")), kind=kind)


#: (column title, cell of a run) of the main table, in the paper's order.
MAIN_COLUMNS: list[tuple[str, Callable[[RunRecord], Cell]]] = [
    *[(title, (lambda r, k=key: attack_cell(r, k))) for title, key in ATTACK_COLUMNS],
    ("worst case", worst_case_cell),
    ("corruption mean", corruption_cell),
    ("compactness", lambda r: latent_cell(r, "clean", "compactness_centroid", "number")),
    ("separation", lambda r: latent_cell(r, "anchors", "angle_min_deg", "degrees")),
    ("compact./sep.", lambda r: latent_cell(r, "clean", "compactness_separation_ratio", "number")),
]

MAIN_LEGEND = ("Accuracies in % on the test split with the number of evaluated points; '–' means the run "
               "directory holds no such result. worst case = per-sample minimum over all attacks run. "
               "compactness = mean distance of clean test features to their class centroid (feature units, "
               "scale differs between models); separation = smallest angle between two class anchors "
               "(prototypes for prototype heads, clean training-feature centroids for linear heads); "
               "compact./sep. = compactness / mean distance between class centroids (scale-free, lower "
               "is better). Latent values come from `advdpnp analyze`.")


@dataclass
class Table:
    header: list[str]
    rows: list[list[Cell | str]]  # first entry of each row is its label

    def strings(self) -> list[list[str]]:
        return [[c if isinstance(c, str) else c.text() for c in row] for row in self.rows]


def main_table(records: Sequence[RunRecord]) -> Table:
    """Rows = runs, columns = the paper's robustness, corruption and latent columns."""
    return Table(["run"] + [t for t, _ in MAIN_COLUMNS],
                 [[r.label] + [f(r) for _, f in MAIN_COLUMNS] for r in records])


def other_attacks_table(records: Sequence[RunRecord]) -> Table | None:
    """Attacks outside the main columns (adaptive prototype attacks, other PGD budgets), if any."""
    main = {k for _, k in ATTACK_COLUMNS}
    keys = list(dict.fromkeys(k for r in records for k in r.results.get("attacks", {}) if k not in main))
    if not keys:
        return None
    return Table(["run"] + keys, [[r.label] + [attack_cell(r, k) for k in keys] for r in records])


LATENT_ROWS = [("compactness to anchor", "compactness_anchor"), ("compactness to centroid", "compactness_centroid"),
               ("min centroid distance", "centroid_distance_min"),
               ("mean centroid distance", "centroid_distance_mean"),
               ("compactness / separation", "compactness_separation_ratio"), ("silhouette", "silhouette"),
               ("nearest-anchor accuracy", "nearest_anchor_accuracy")]


def latent_table(records: Sequence[RunRecord]) -> Table | None:
    """Clean | adversarial latent metrics per run, plus anchor angles and drift."""
    have = [r for r in records if r.latent]
    if not have:
        return None
    header = ["run", "anchors", "n"] + [f"{t} clean | adv" for t, _ in LATENT_ROWS] + [
        "anchor angle min / mean", "drift (relative)", "nearest anchor changed (%)"]
    rows: list[list[Cell | str]] = []
    for r in have:
        lat = r.latent
        clean, adv = lat.get("clean", {}), lat.get("adversarial", {})
        pair = [f"{_fmt(clean.get(k))} | {_fmt(adv.get(k))}" for _, k in LATENT_ROWS]
        a, d = lat.get("anchors", {}), lat.get("drift", {})
        kind = str(lat.get("anchor", MISSING))
        rows.append([r.label, "prototypes" if kind == "prototypes" else "train centroids", str(lat.get("n", MISSING)),
                     *pair, f"{_fmt(a.get('angle_min_deg'))}° / {_fmt(a.get('angle_mean_deg'))}°",
                     f"{_fmt(d.get('drift_mean'))} ({_fmt(d.get('drift_relative'))})",
                     Cell(_num(d.get("nearest_anchor_change")), _int(lat.get("n")))])
    return Table(header, rows)


def _fmt(v: object) -> str:
    x = _num(v)
    return MISSING if x is None or math.isnan(x) else f"{x:.3g}"


def masking_verdicts(records: Sequence[RunRecord]) -> list[tuple[str, str, str, str]]:
    """(run, check, verdict, evidence) of every masking check the runs hold."""
    out = []
    for r in records:
        for check, v in (r.results.get("masking_checks") or {}).items():
            v = v if isinstance(v, dict) else {}
            out.append((r.label, check, str(v.get("verdict", MISSING)), str(v.get("evidence", ""))))
    return out


def to_markdown(t: Table) -> str:
    def esc(s: str) -> str:
        return s.replace("|", "\\|")

    lines = ["| " + " | ".join(esc(h) for h in t.header) + " |", "|" + "---|" * len(t.header)]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in t.strings()]
    return "\n".join(lines)


def to_csv(t: Table) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(t.header)
    w.writerows(t.strings())
    return buf.getvalue()


def to_records(t: Table) -> list[dict]:
    """JSON rows: numbers stay numbers (value, n, unit), missing entries are null."""
    return [{h: (c.as_dict() if isinstance(c, Cell) else c) for h, c in zip(t.header, row)} for row in t.rows]
