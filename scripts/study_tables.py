"""Print the Markdown tables of docs/results.md from the run folders of a study script.

Every number comes from a results.json (`advdpnp eval`) or latent.json (`advdpnp analyze`) under
the study folder, so the tables can be regenerated after re-running the study:

    python scripts/study_tables.py runs/study > /tmp/tables.md                      # digits
    python scripts/study_tables.py runs/fmnist --prefix fmnist > /tmp/tables.md     # Fashion-MNIST
    python scripts/study_tables.py --results runs/fmnist-w/sweep-paper/*.json       # single results files
    python scripts/study_tables.py --results runs/fmnist-l/eps0.15/*.json --by-name # ... a mean per method
    python scripts/study_tables.py runs/fmnist-l --prefix fmnist --beyond runs/fmnist-l/eps0.15  # the fall-off
    python scripts/study_tables.py runs/fmnist-w --prefix fmnist --reference adv_dpnp   # ... and its lead per method
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path

from advdpnp.commands.sweep import AT_CHANCE, _accuracies, collect
from advdpnp.report.tables import mean_std, pm
from advdpnp.train.environment import machines_summary
from seed_tables import welch

ATTACKS = ("clean", "fgsm", "pgd20", "cw_inf", "autoattack", "adaptive_proto", "apgd_dlr_proto", "worst_case",
           "corruptions")
CHECKS = ("eps_monotone", "large_eps", "more_steps_restarts", "square", "transfer", "autoattack_flags")


def corruption_means(folder: Path, seeds: list[int]) -> list[float]:
    """Each seed's mean accuracy over every corruption and severity (`eval --corruptions`)."""
    out = []
    for seed in seeds:
        path = folder / f"base-s{seed}" / "results.json"
        if path.exists() and "corruptions" in (res := json.loads(path.read_text())):
            out.append(res["corruptions"]["mean"])
    return out


def accuracy_table(folders: list[Path], seeds: list[int]) -> str:
    """Mean ± std over the seeds found (sample std), in %, one row per folder; a line under it names the folders
    with a seed whose training ended at chance level (`advdpnp sweep` marks it), since such a seed is kept in
    the mean."""
    cols = [a for a in ATTACKS if a != "corruptions" or any(corruption_means(f, seeds) for f in folders)]
    lines = ["| run | seeds | n | " + " | ".join(cols) + " |", "|---" * (len(cols) + 3) + "|"]
    failed = []
    for folder in folders:
        for row in collect(folder, [()], seeds):
            corr = corruption_means(folder, seeds)
            cells = [mean_std(corr) if a == "corruptions" and corr else
                     pm(row["mean"][a], row["std"][a], row["seeds"]) if a in row["mean"] else "–"
                     for a in cols]
            lines.append(f"| {folder.name} | {row['seeds']} | {row['n']} | " + " | ".join(cells) + " |")
            if row.get("at_chance"):  # a row of diverged seeds only has no such count
                failed.append(f"{folder.name} ({row['at_chance']} of {row['seeds']})")
    if failed:  # a collapsed seed drags a mean down and widens its spread: say which mean holds one
        lines += ["", f"At chance level at the end of training (in the means; see the per-seed table): "
                      f"{', '.join(failed)}."]
    return "\n".join(lines)


def verdict_counts(results: dict) -> str:
    """The masking checks of one results.json, counted by verdict: '5 pass, 1 warn'."""
    verdicts = [c["verdict"] for c in results.get("masking_checks", {}).values()]
    return ", ".join(f"{verdicts.count(v)} {v}" for v in ("pass", "warn", "fail") if v in verdicts) or "–"


def _label(path: Path) -> str:
    """A results file's row label: its name, or RUN folder for RUN/results.json."""
    return f"{path.parent.parent.name}/{path.parent.name}" if path.stem == "results" else path.stem


def _group(label: str, by_name: bool) -> str:
    """The mean row a labelled file joins: its label without the seed suffix with `by_name`, else one for all."""
    return re.sub(r"-s\d+$", "", label) if by_name else ""


def results_table(paths: list[Path], by_name: bool = False) -> str:
    """One row per results file (label: its name, or RUN folder for RUN/results.json), then their mean ± std.

    For runs that are not in a study folder, e.g. sweep settings given the comparison's evaluation.
    `by_name`: one mean row per label without its seed suffix (`adv_dpnp-s0.json`, `adv_dpnp-s1.json`
    -> `adv_dpnp`), for files of several methods evaluated alike (e.g. beyond the training radius).
    """
    cols = [a for a in ATTACKS if a != "corruptions"] + ["corruptions", "masking checks"]
    lines = ["| results | n | " + " | ".join(cols) + " |", "|---" * (len(cols) + 2) + "|"]
    per_file, labels = [], []
    for path in paths:
        res = json.loads(path.read_text())
        acc = _accuracies(res)
        if "corruptions" in res:
            acc["corruptions"] = res["corruptions"]["mean"]
        per_file.append(acc)
        checks = verdict_counts(res)
        cells = [f"{100 * acc[a]:.1f}" if a in acc else "–" for a in cols[:-1]] + [checks]
        label = _label(path)
        lines.append(f"| {label} | {res['n']} | " + " | ".join(cells) + " |")
        labels.append(_group(label, by_name))
    for group in dict.fromkeys(labels):
        accs = [acc for acc, lab in zip(per_file, labels) if lab == group]
        if len(accs) > 1:
            cells = [mean_std([acc[a] for acc in accs]) if all(a in acc for acc in accs) else "–" for a in cols[:-1]]
            name = f"{group}: mean ± std of {len(accs)}" if group else f"mean ± std of {len(accs)}"
            lines.append(f"| {name} | | " + " | ".join(cells) + " | |")
    return "\n".join(lines)


def run_accuracies(res: dict) -> dict[str, float]:
    """One results.json's accuracies (fractions), its corruption mean included when it has one."""
    return _accuracies(res) | ({"corruptions": res["corruptions"]["mean"]} if "corruptions" in res else {})


def per_seed_table(folders: list[Path], seeds: list[int]) -> str:
    """Each seed's headline numbers and masking verdicts, so that a collapsed seed or a failed check
    is visible behind a mean."""
    cols = ("clean", "pgd20", "autoattack", "worst_case", "corruptions")
    lines = ["| run | seed | best epoch | " + " | ".join(cols) + " | masking checks |", "|---" * (len(cols) + 4) + "|"]
    for folder in folders:
        for seed in seeds:
            path = folder / f"base-s{seed}" / "results.json"
            if path.exists():
                res = json.loads(path.read_text())
                acc = run_accuracies(res)
                mark = " (at chance)" if (path.parent / AT_CHANCE).exists() else ""
                lines.append(f"| {folder.name} | {seed}{mark} | {res.get('epoch')} | "
                             + " | ".join(f"{100 * acc[c]:.1f}" if c in acc else "–" for c in cols)
                             + f" | {verdict_counts(res)} |")
    return "\n".join(lines)


def curve_table(curves: dict[str, list[dict]]) -> str:
    """PGD accuracy at each radius of `eval`'s eps curve, mean ± std over each row's runs: a defence tuned
    to the training eps can lead there and trail beyond it, which one number at eps hides."""
    eps = next(iter(curves.values()))[0]["eps"]
    lines = ["| run | seeds | " + " | ".join(f"eps {e:g}" for e in eps) + " |", "|---" * (len(eps) + 2) + "|"]
    for name, runs in curves.items():
        if any(c["eps"] != eps for c in runs):
            raise SystemExit(f"{name}: eps curves of different radii; re-run eval with the same --suite")
        lines.append(f"| {name} | {len(runs)} | "
                     + " | ".join(mean_std([c["accuracy"][i] for c in runs]) for i in range(len(eps))) + " |")
    return "\n".join(lines)


def eps_curve_table(folders: list[Path], seeds: list[int]) -> str:
    """`curve_table` with one row per study folder over its seeds; empty if no run has an eps curve."""
    curves = {}
    for folder in folders:
        for seed in seeds:
            path = folder / f"base-s{seed}" / "results.json"
            if path.exists() and (curve := json.loads(path.read_text()).get("eps_curve")):
                curves.setdefault(folder.name, []).append(curve)
    return curve_table(curves) if curves else ""


def results_curve_table(paths: list[Path], by_name: bool = False) -> str:
    """`curve_table` with one row per results file (labelled as in `results_table`), then the mean of
    all of them, or with `by_name` of each label without its seed suffix."""
    curves, groups = {}, {}
    for path in paths:
        label = _label(path)
        if not (curve := json.loads(path.read_text()).get("eps_curve")):
            raise SystemExit(f"{path}: no eps_curve; evaluate it with --suite quick or paper")
        curves[label] = [curve]
        groups.setdefault(_group(label, by_name), []).append(curve)
    means = {(f"{g}: mean ± std" if g else "mean ± std"): c for g, c in groups.items() if len(c) > 1}
    return curve_table(curves | means)


def autoattack_variants(folders: list[Path], seeds: list[int]) -> str:
    """Which AutoAttack variant and components each table entry used (read back from the results)."""
    seen = set()
    for folder in folders:
        for seed in seeds:
            path = folder / f"base-s{seed}" / "results.json"
            if path.exists():
                aa = json.loads(path.read_text())["attacks"].get("autoattack", {})
                seen.add(f"{aa.get('variant')} ({' + '.join(aa.get('components', []))}, "
                         f"{aa.get('steps')} steps, {aa.get('restarts')} restart(s))")
    return "; ".join(sorted(seen))


def strongest_attack(folders: list[Path], seeds: list[int]) -> str:
    """Whether AutoAttack is the strongest attack of every run, and how far the worst case over all
    attacks falls below it: the evidence that a white-box AutoAttack number is not an overstatement."""
    runs, weaker, gap = 0, [], 0.0
    for folder in folders:
        for seed in seeds:
            path = folder / f"base-s{seed}" / "results.json"
            if path.exists() and "autoattack" in (res := json.loads(path.read_text()))["attacks"]:
                acc = {k: v["accuracy"] for k, v in res["attacks"].items() if k != "clean"}
                runs += 1
                if min(acc.values()) < acc["autoattack"]:
                    weaker.append(f"{folder.name} s{seed}")
                gap = max(gap, acc["autoattack"] - res["worst_case"]["accuracy"])
    return (f"AutoAttack was the strongest single attack in {runs - len(weaker)} of {runs} runs"
            + (f" (not in: {', '.join(weaker)})" if weaker else "")
            + f"; the worst case over all attacks is at most {100 * gap:.1f} points below it.")


def falloff_table(root: Path, beyond: Path, prefix: str) -> str:
    """AutoAttack at the training radius (each run's results.json) against the same model evaluated
    beyond it (`beyond/NAME-sSEED.json`, step 5b of reproduce_fmnist.sh), paired seed by seed: the
    training-radius column averages only the seeds evaluated beyond it, so the loss is not a mix of
    different seeds. A folder at a smaller eps gives negative losses: the points gained there."""
    pairs: dict[str, list[tuple[int, dict, dict]]] = {}
    for path in sorted(beyond.glob("[!.]*.json")):  # not an evaluation's hidden resume state
        if not (m := re.fullmatch(r"(.+)-s(\d+)", path.stem)):
            raise SystemExit(f"{path}: expected NAME-sSEED.json (the files of reproduce_fmnist.sh step 5b)")
        name, seed = m[1], int(m[2])
        folder = root / (name if name.startswith("ablation-") else f"{prefix}-{name}")
        base_path = folder / f"base-s{seed}" / "results.json"
        if not base_path.exists():
            raise SystemExit(f"{path}: no training-radius results at {base_path}")
        far, base = json.loads(path.read_text()), json.loads(base_path.read_text())
        for key in ("train_seed", "epoch", "checkpoint", "split", "n"):
            if far.get(key) != base.get(key):
                raise SystemExit(f"{path}: {key} {far.get(key)!r} differs from {base_path}'s {base.get(key)!r};"
                                 " not the same model or points")
        if "autoattack" in far["attacks"] and "autoattack" in base["attacks"]:
            pairs.setdefault(folder.name, []).append((seed, base, far))
    if not pairs:
        return ""
    eps_in = {run[1]["eps"] for runs in pairs.values() for run in runs}
    eps_out = {run[2]["eps"] for runs in pairs.values() for run in runs}
    if len(eps_in) > 1 or len(eps_out) > 1:
        raise SystemExit(f"{beyond}: radii {sorted(eps_in)} -> {sorted(eps_out)}; one pair of radii per table")
    e0, e1 = f"{eps_in.pop():g}", f"{eps_out.pop():g}"
    lines = [f"| model | seeds | AutoAttack eps {e0} | AutoAttack eps {e1} | per seed, eps {e0} → {e1} | loss |",
             "|---" * 6 + "|"]
    order = [f.name for f in sorted(root.glob(f"{prefix}-*"))] + [f.name for f in sorted(root.glob("ablation-*"))]
    for name in sorted(pairs, key=order.index):
        runs = sorted(pairs[name], key=lambda run: run[0])
        near = [run[1]["attacks"]["autoattack"]["accuracy"] for run in runs]
        far = [run[2]["attacks"]["autoattack"]["accuracy"] for run in runs]
        seeds = ", ".join(f"{100 * a:.1f} → {100 * b:.1f}" for a, b in zip(near, far))
        lines.append(f"| {name} | {len(runs)} | {mean_std(near)} | {mean_std(far)} | {seeds} | "
                     f"{mean_std([a - b for a, b in zip(near, far)])} |")
    return "\n".join(lines)


LEAD = ("clean", "pgd20", "autoattack", "worst_case", "corruptions")


def seed_values(folder: Path, seeds: list[int]) -> dict[str, list[float]]:
    """Each headline column's accuracy in % on every seed found, in seed order."""
    values: dict[str, list[float]] = {}
    for seed in seeds:
        if (path := folder / f"base-s{seed}" / "results.json").exists():
            for col, acc in run_accuracies(json.loads(path.read_text())).items():
                values.setdefault(col, []).append(100 * acc)
    return values


def lead(a: list[float], b: list[float]) -> str:
    """mean(a) - mean(b) in points, with Welch's p when each side has two or more values."""
    return welch(a, b) if min(len(a), len(b)) > 1 else f"{statistics.fmean(a) - statistics.fmean(b):+.1f}"


def lead_table(folders: list[Path], seeds: list[int], reference: Path) -> str:
    """The reference method's lead over every other folder, column by column: the difference of the seed means
    with Welch's t-test (the seeds are the samples), then the reference's lowest seed minus the other's highest.
    Why both: a mean lead can rest on one good seed; a positive margin says every reference seed is above every
    seed of the other, the statement docs/results.md makes seed by seed."""
    ref = seed_values(reference, seeds)
    cols = [c for c in LEAD if c in ref]
    lines = ["| run | seeds | " + " | ".join(cols) + " |", "|---" * (len(cols) + 2) + "|"]
    for folder in folders:
        if folder == reference or not (other := seed_values(folder, seeds)):
            continue
        cells = [f"{lead(ref[c], other[c])}; {min(ref[c]) - max(other[c]):+.1f}" if c in other else "–"
                 for c in cols]
        lines.append(f"| {folder.name} | {len(other['clean'])} | " + " | ".join(cells) + " |")
    lines += ["", f"Each cell: {reference.name}'s mean minus the run's, in points (with Welch's t-test p over the "
                  f"seeds where both have two or more); after the semicolon, {reference.name}'s lowest seed minus "
                  f"the run's highest (positive: every {reference.name} seed is above every seed of the run). "
                  f"Seeds of {reference.name}: {len(ref['clean'])}."]
    return "\n".join(lines)


def masking_table(folders: list[Path], seed: int) -> str:
    """Verdict of every masking check for one seed."""
    lines = ["| run | " + " | ".join(CHECKS) + " |", "|---" * (len(CHECKS) + 1) + "|"]
    for folder in folders:
        path = folder / f"base-s{seed}" / "results.json"
        if path.exists():
            checks = json.loads(path.read_text()).get("masking_checks", {})
            verdicts = (checks.get(c, {}).get("verdict", "–") for c in CHECKS)
            lines.append(f"| {folder.name} | " + " | ".join(verdicts) + " |")
    return "\n".join(lines)


LATENT = ("clean.compactness_centroid", "clean.centroid_distance_mean", "clean.compactness_separation_ratio",
          "clean.silhouette", "adversarial.compactness_separation_ratio", "adversarial.silhouette",
          "drift.drift_relative", "drift.nearest_anchor_change")


def latent_table(folders: list[Path], seed: int) -> str:
    """The main compactness / separation / drift numbers of latent.json (`advdpnp analyze`)."""
    lines = ["| run | anchor | " + " | ".join(LATENT) + " |", "|---" * (len(LATENT) + 2) + "|"]
    for folder in folders:
        path = folder / f"base-s{seed}" / "latent.json"
        if path.exists():
            data = json.loads(path.read_text())
            vals = [data.get(k.split(".")[0], {}).get(k.split(".")[1]) for k in LATENT]
            lines.append(f"| {folder.name} | {str(data.get('anchor')).split(' (')[0]} | "
                         + " | ".join("–" if v is None else f"{v:.3g}" for v in vals) + " |")
    return "\n".join(lines)


def latent_mean_table(folders: list[Path], seeds: list[int]) -> str:
    """`latent_table`'s numbers as mean ± sample std over the seeds analysed; empty unless some
    method has two or more, so that one seed's geometry is not read as the method's."""
    rows = {}
    for folder in folders:
        runs = [json.loads(path.read_text()) for seed in seeds
                if (path := folder / f"base-s{seed}" / "latent.json").exists()]
        if runs:
            rows[folder.name] = runs
    if not any(len(runs) > 1 for runs in rows.values()):
        return ""
    lines = ["| run | seeds | " + " | ".join(LATENT) + " |", "|---" * (len(LATENT) + 2) + "|"]
    for name, runs in rows.items():
        cells = []
        for key in LATENT:
            group, metric = key.split(".")
            vals = [v for data in runs if (v := data.get(group, {}).get(metric)) is not None]
            sd = statistics.stdev(vals) if len(vals) > 1 else None
            spread = f" ± {sd:.2g}" if sd is not None else ""
            cells.append(f"{statistics.fmean(vals):.3g}{spread}" if vals else "–")
        lines.append(f"| {name} | {len(runs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("root", type=Path, nargs="?", help="study folder (holds one sweep folder per method)")
    p.add_argument("--results", type=Path, nargs="+", metavar="JSON",
                   help="instead: one row per results file (e.g. runs/fmnist-w/sweep-paper/*.json)")
    p.add_argument("--by-name", action="store_true",
                   help="with --results: a mean row per file name without its -sSEED suffix, not one for all")
    p.add_argument("--eps-curve", action="store_true",
                   help="with --results: their PGD accuracy at each radius of the eps curve, not the attack table")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--prefix", default="digits", help="method folders are PREFIX-<method> (digits, fmnist)")
    p.add_argument("--beyond", type=Path, nargs="+", default=[], metavar="DIR",
                   help="also: AutoAttack at the training radius against these folders' NAME-sSEED.json, "
                        "the same models evaluated at another eps (reproduce_fmnist.sh BEYOND_EPS)")
    p.add_argument("--reference", metavar="METHOD",
                   help="also: this method's lead over every other method and ablation (PREFIX-METHOD folder), "
                        "with Welch's t-test over the seeds and the seed-by-seed margin")
    args = p.parse_args()
    if args.results and args.reference:
        p.error("--reference compares the methods of a study folder; it does not apply to --results")
    if args.results:
        # an unmatched shell glob arrives as its pattern: say which file, not a traceback
        if missing := [str(r) for r in args.results if not r.is_file()]:
            p.error(f"no such results file: {' '.join(missing)}")
        table = results_curve_table if args.eps_curve else results_table
        print(table(args.results, args.by_name))
        return
    if args.root is None:
        p.error("give a study folder or --results")
    if args.prefix == "ablation":
        # ablation-* folders are always read as the ablations; as the prefix they would count twice
        p.error("--prefix ablation: ablation-* folders are always tabled as the ablations; give the methods' "
                "prefix (e.g. fmnist), which also tables the ablations")
    seeds = [int(s) for s in args.seeds.split(",")]
    methods = sorted(f for f in args.root.glob(f"{args.prefix}-*") if f.is_dir())
    # an ablation folder whose runs are still training has no row yet: leave it out, not an empty table
    ablations = sorted(f for f in args.root.glob("ablation-*") if f.is_dir() and collect(f, [()], seeds))
    reference = args.root / f"{args.prefix}-{args.reference}" if args.reference else None
    if reference and (reference not in methods or not seed_values(reference, seeds)):
        p.error(f"--reference {args.reference}: no evaluated run of {reference} for seeds {args.seeds}")
    print(f"### Methods ({args.prefix})\n")
    print(accuracy_table(methods, seeds))
    if ablations:
        print(f"\n### Ablations of Adv-DPNP ({args.prefix})\n")
        print(accuracy_table(ablations, seeds))
    print("\n### Per seed\n")
    print(per_seed_table(methods + ablations, seeds))
    runs = [d for f in methods + ablations for s in seeds if ((d := f / f"base-s{s}") / "results.json").exists()]
    if reference:
        print(f"\n### {reference.name}'s lead\n")
        print(lead_table(methods + ablations, seeds, reference))
    print(f"\n{machines_summary(runs)}")
    print(f"\nAutoAttack variant(s) used: {autoattack_variants(methods + ablations, seeds)}\n")
    print(strongest_attack(methods + ablations, seeds) + "\n")
    if table := eps_curve_table(methods + ablations, seeds):
        print(f"### PGD-20 accuracy against the L-inf radius (mean ± std over seeds)\n\n{table}\n")
    print(f"### Masking checks (seed {seeds[0]})\n")
    print(masking_table(methods + ablations, seeds[0]))
    print(f"\n### Latent space (seed {seeds[0]}, `advdpnp analyze`)\n")
    print(latent_table(methods + ablations, seeds[0]))
    if table := latent_mean_table(methods + ablations, seeds):
        print(f"\n### Latent space (mean ± std over the seeds analysed)\n\n{table}")
    for folder in args.beyond:
        if table := falloff_table(args.root, folder, args.prefix):
            print(f"\n### AutoAttack at the training radius and at another ({folder})\n\n{table}")


if __name__ == "__main__":
    main()
