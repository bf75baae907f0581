"""The shell scripts that README and docs/results.md tell users to run as `scripts/NAME.sh`."""

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_every_shell_script_is_executable_and_every_documented_one_exists():
    """docs/results.md runs `scripts/reproduce_fmnist.sh` directly; committed without its executable bit it
    stopped with 'Permission denied' on a fresh clone."""
    scripts = sorted((ROOT / "scripts").glob("*.sh"))
    assert scripts
    assert [s.name for s in scripts if not os.access(s, os.X_OK)] == []
    documented = set()
    for doc in (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))):
        documented |= set(re.findall(r"scripts/[\w-]+\.sh", doc.read_text()))
    assert documented and sorted(d for d in documented if not (ROOT / d).is_file()) == []


def _run(script: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """Run a script with a stand-in for `advdpnp` and `python` that logs each call (and the kernel variables
    it saw) to tmp_path/calls.log, so the script's plan can be checked without training anything. A
    `sweep --plan FILE ARGS` or `eval --plan FILE ARGS` call is logged as the calls it runs, one `sweep LINE ARGS`
    (or `eval LINE ARGS`) per line of FILE (and as itself in tmp_path/plans.log). `python -c` runs the real
    interpreter: the scripts take OUT's lock through it."""
    stub = tmp_path / "stub.sh"
    log = tmp_path / "calls.log"
    stub.write_text(f'#!/bin/sh\n[ "$1" != -c ] || exec {sys.executable} "$@"  # OUT\'s lock (scripts/lib/plans.sh)\n'
                    'kernels="ATEN=$ATEN_CPU_CAPABILITY ONEDNN=$ONEDNN_MAX_CPU_ISA"\n'
                    f'if [ "$2" = "--plan" ]; then\n  echo "$*" >> {tmp_path / "plans.log"}\n'
                    '  cmd=$1 plan=$3; shift 3; rest="$*"\n'
                    f'  while IFS= read -r line; do eval "set -- $line"; echo "$kernels $cmd $* $rest" >> {log}; '
                    f'done < "$plan"\nelse\n  echo "$kernels $*" >> {log}\nfi\necho "| results |"\n')
    stub.chmod(0o755)
    base = {k: v for k, v in os.environ.items() if k not in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")}
    return subprocess.run([str(ROOT / "scripts" / script)], env={**base, "ADVDPNP": str(stub),
                          "PYTHON": str(stub), **env}, capture_output=True, text=True, timeout=60)


def test_reproduce_digits_checks_every_requested_seed_with_standard_autoattack(tmp_path):
    """FULL_AA_SEEDS="0 2" must evaluate seeds 0 and 2 of each method into their own files and compare
    each with its own paper-suite results (the script used to check seed 0 only)."""
    out = tmp_path / "out"
    proc = _run("reproduce_digits.sh", tmp_path, OUT=str(out), ABLATION_SEEDS="", HINGE_SEEDS="", REPORT="0",
                FULL_AA_METHODS="adv_dpnp pgd_at", FULL_AA_SEEDS="0 2")
    assert proc.returncode == 0, proc.stderr
    calls = (tmp_path / "calls.log").read_text().splitlines()
    evals = [c for c in calls if c.split()[2] == "eval"]
    assert [(c.split()[3], c.split("--out ")[1].split()[0]) for c in evals] == [
        (f"{out}/digits-{m}/base-s{s}", f"{out}/full/{m}-s{s}.json") for m in ("adv_dpnp", "pgd_at") for s in (0, 2)]
    compare = next(c for c in calls if "compare_aa_variants.py" in c).split()[3:]
    assert compare == [p for m in ("adv_dpnp", "pgd_at") for s in (0, 2)
                       for p in (f"{out}/digits-{m}/base-s{s}/results.json", f"{out}/full/{m}-s{s}.json")]


def test_reproduce_digits_trains_only_the_given_methods_besides_the_transfer_source(tmp_path):
    """METHODS re-creates a few models (the twenty-first pass: seed 0 of the models behind a table) without
    training all six methods; the standard seed-0 model, every run's transfer source, is always trained."""
    out = tmp_path / "out"
    proc = _run("reproduce_digits.sh", tmp_path, OUT=str(out), METHODS="adv_dpnp pgd_at", SEEDS="0",
                ABLATION_SEEDS="", HINGE_SEEDS="", REPORT="0", FULL_AA_METHODS="")
    assert proc.returncode == 0, proc.stderr
    sweeps = [c.split()[3] for c in (tmp_path / "calls.log").read_text().splitlines() if c.split()[2] == "sweep"]
    assert sweeps == [f"configs/quick/digits-{m}.yaml" for m in ("standard", "adv_dpnp", "pgd_at")]


@pytest.mark.parametrize("script, prefix, ablations", [
    ("reproduce_fmnist.sh", "fmnist", ["no_cons"]),  # ABLATIONS picks them; the digits script runs all five
    ("reproduce_digits.sh", "digits", ["no_pos", "no_neg", "no_cons", "single_branch", "proto_pgd_at"])])
def test_an_empty_methods_list_adds_ablations_without_training_any_method(tmp_path, script, prefix, ablations):
    """The thirty-fourth pass added two ablations to a finished comparison; `METHODS=` (empty) used to fall back
    to all six methods. Empty means none: only the transfer source and the ablations are trained."""
    env = dict(OUT=str(tmp_path / "out"), CORRUPTIONS=str(tmp_path / "c"), METHODS="", ABLATIONS="no_cons",
               ABLATION_SEEDS="0", HINGE_SEEDS="", FIGURES="", FULL_AA_N="0", REPORT="0", FULL_AA_METHODS="")
    proc = _run(script, tmp_path, **env)
    assert proc.returncode == 0, proc.stderr
    sweeps = [c.split()[3] for c in (tmp_path / "calls.log").read_text().splitlines() if c.split()[2] == "sweep"]
    assert sweeps == [f"configs/quick/{prefix}-standard.yaml"] + [
        f"configs/quick/ablations/{prefix}-{a}.yaml" for a in ablations]


def test_kernel_spread_passes_each_setting_to_training_and_stops_on_a_typo_before_any(tmp_path):
    proc = _run("kernel_spread.sh", tmp_path, OUT=str(tmp_path / "k"), SETTINGS="default bogus")
    assert proc.returncode == 2 and "unknown setting 'bogus'" in proc.stderr
    assert not (tmp_path / "calls.log").exists()

    proc = _run("kernel_spread.sh", tmp_path, OUT=str(tmp_path / "k"), SETTINGS="default both")
    assert proc.returncode == 0, proc.stderr
    sweeps = [c for c in (tmp_path / "calls.log").read_text().splitlines() if " sweep " in c]
    assert len(sweeps) == 8
    for call in sweeps:
        both = f"{tmp_path}/k/both/" in call
        assert call.startswith("ATEN=avx2 ONEDNN=AVX2 " if both else "ATEN= ONEDNN= ")
        assert ("train.lr=0.1 " in call) == ("digits-trades.yaml" in call)


def test_reproduce_fmnist_evaluates_ablations_beyond_the_radius_into_their_own_files(tmp_path):
    """BEYOND_ABLATIONS adds ablation runs to step 5b; their files must carry the folder's name so a seed of
    an ablation never overwrites (or is skipped as) the method's file of the same seed."""
    out = tmp_path / "out"
    proc = _run("reproduce_fmnist.sh", tmp_path, OUT=str(out), CORRUPTIONS=str(tmp_path / "c"), SEEDS="0,1",
                METHODS="adv_dpnp", ABLATION_SEEDS="", HINGE_SEEDS="", FIGURES="", FULL_AA_N="200",
                FULL_AA_METHODS="adv_dpnp", FULL_AA_ABLATIONS="no_cons", BEYOND_EPS="0.15",
                BEYOND_METHODS="pgd_at", BEYOND_ABLATIONS="proto_pgd_at no_cons")
    assert proc.returncode == 0, proc.stderr
    calls = (tmp_path / "calls.log").read_text().splitlines()
    evals = [(c.split()[3], c.split("--suite ")[1].split()[0], c.split("--out ")[1].split()[0])
             for c in calls if c.split()[2] == "eval"]
    assert evals == [(f"{out}/fmnist-adv_dpnp/base-s0", "full", f"{out}/full/adv_dpnp-s0.json"),
                     (f"{out}/ablation-no_cons/base-s0", "full", f"{out}/full/ablation-no_cons-s0.json")] + [
        (f"{out}/{folder}/base-s{s}", "paper", f"{out}/eps0.15/{name}-s{s}.json")
        for folder, name in (("fmnist-pgd_at", "pgd_at"), ("ablation-proto_pgd_at", "ablation-proto_pgd_at"),
                             ("ablation-no_cons", "ablation-no_cons")) for s in (0, 1)]
    assert all("--eps 0.15" in c for c in calls if " eval " in c and "--suite paper" in c)
    table = next(c for c in calls if "study_tables.py --results" in c)
    assert table.split("--results ")[1].split() == [e[2] for e in evals[2:]] + ["--by-name"]
    assert calls[-1].endswith(f"study_tables.py {out} --prefix fmnist --seeds 0,1 --beyond {out}/eps0.15")


def test_reproduce_fmnist_at_another_training_eps_reuses_a_given_transfer_source(tmp_path):
    """The twentieth pass trained at eps 0.15 (OVERRIDES) and checked transfer from the study's standard
    model: TRANSFER must replace step 2 and be every run's source, and a wrong path must stop the script
    before it generates or trains anything."""
    out, source = tmp_path / "out", tmp_path / "standard" / "base-s0"
    env = dict(OUT=str(out), CORRUPTIONS=str(tmp_path / "c"), SEEDS="0", METHODS="adv_dpnp", ABLATION_SEEDS="",
               HINGE_SEEDS="", FIGURES="", FULL_AA_N="0", OVERRIDES="attack.eps=0.15 attack.alpha=0.03",
               BEYOND_EPS="0.1", BEYOND_METHODS="adv_dpnp")
    proc = _run("reproduce_fmnist.sh", tmp_path, TRANSFER=str(source), **env)
    assert proc.returncode == 2 and f"TRANSFER={source}: not a run folder" in proc.stderr
    assert not (tmp_path / "calls.log").exists()

    source.mkdir(parents=True)
    (source / "config.yaml").write_text("name: fmnist-standard\n")
    proc = _run("reproduce_fmnist.sh", tmp_path, TRANSFER=str(source), **env)
    assert proc.returncode == 0, proc.stderr
    calls = (tmp_path / "calls.log").read_text().splitlines()
    sweeps = [c for c in calls if c.split()[2] == "sweep"]
    assert len(sweeps) == 1 and "fmnist-adv_dpnp.yaml" in sweeps[0]
    assert "train.threads=1 attack.eps=0.15 attack.alpha=0.03 --seeds 0" in sweeps[0]
    assert f"--eval-arg=--transfer-from={source} -o {out}/fmnist-adv_dpnp" in sweeps[0]
    beyond = next(c for c in calls if c.split()[2] == "eval")
    assert f"--eps 0.1 " in beyond
    assert beyond.endswith(f"--transfer-from {source} --out {out}/eps0.1/adv_dpnp-s0.json --jobs 1")
    assert calls[-1].endswith(f"study_tables.py {out} --prefix fmnist --seeds 0 --beyond {out}/eps0.1")


def test_reproduce_fmnist_trains_each_requested_feature_hinge_kind(tmp_path):
    """Step 3c trained only the scaled hinge; HINGES="scaled distance" must put both kinds in one sweep
    (runs hinge=KIND-sS in one folder) and the default must stay the scaled hinge the study printed."""
    env = dict(OUT=str(tmp_path / "out"), CORRUPTIONS=str(tmp_path / "c"), SEEDS="0", METHODS="",
               ABLATION_SEEDS="", HINGE_SEEDS="0,1", FIGURES="", FULL_AA_N="0")
    for hinges, expected in ((None, "method.hinge=scaled"), ("scaled distance", "method.hinge=scaled,distance")):
        log = tmp_path / "calls.log"
        log.unlink(missing_ok=True)
        proc = _run("reproduce_fmnist.sh", tmp_path, **env, **({"HINGES": hinges} if hinges else {}))
        assert proc.returncode == 0, proc.stderr
        hinge = [c for c in log.read_text().splitlines() if "fmnist-repulsion_feature.yaml" in c]
        assert len(hinge) == 1 and f" --set {expected} --seeds 0,1 " in hinge[0]


def _argv_calls(script: str, tmp_path: Path, **env: str) -> list[list[str]]:
    """The argument lists of a script's `advdpnp` calls, quoting kept (a JSON stub); a `sweep --plan FILE ARGS`
    (or `eval --plan`) call gives one `sweep LINE ARGS` per line of FILE, each line split as the command splits it."""
    stub, log = tmp_path / "argv_stub.py", tmp_path / "argv.jsonl"
    stub.write_text(f"#!{sys.executable}\nimport json, shlex, sys\nargv = sys.argv[1:]\n"
                    "calls = ([[argv[0], *shlex.split(line, comments=True), *argv[3:]] for line in open(argv[2])]\n"
                    "         if argv[1:2] == ['--plan'] else [argv])\n"
                    f"open({str(log)!r}, 'a').writelines(json.dumps(c) + '\\n' for c in calls)\n")
    stub.chmod(0o755)
    log.unlink(missing_ok=True)
    proc = _run(script, tmp_path, ADVDPNP=str(stub), **env)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in log.read_text().splitlines()]


def _advdpnp_calls(tmp_path: Path, **env: str) -> list[list[str]]:
    """reproduce_fmnist.sh's `advdpnp` calls; by default no ablation or hinge sweep, so `env` switches on the
    step under test."""
    defaults = dict(OUT=str(tmp_path / "out"), CORRUPTIONS=str(tmp_path / "c"), SEEDS="0", METHODS="",
                    ABLATION_SEEDS="", HINGE_SEEDS="", FIGURES="", FULL_AA_N="0", SWEEP_SEEDS="0,1")
    return _argv_calls("reproduce_fmnist.sh", tmp_path, **{**defaults, **env})


def _sweep_calls(tmp_path: Path, **env: str) -> list[list[str]]:
    """The argument lists of the defaults sweeps of reproduce_fmnist.sh (steps 6 and 6b: the calls that name a
    reference)."""
    return [a for a in _advdpnp_calls(tmp_path, **env) if a[0] == "sweep" and "--reference" in a]


def _sweep_args(argv: list[str]) -> argparse.Namespace:
    from advdpnp.commands import sweep

    parser = argparse.ArgumentParser()
    sweep.add_arguments(parser)
    return parser.parse_args(argv[1:])


def test_reproduce_fmnist_runs_the_feature_hinge_at_the_requested_margins_under_the_paper_suite(
        tmp_path, monkeypatch):
    """HINGE_MARGINS="0.5" must add each hinge kind at that margin to step 3c's sweep (same paper suite and
    seeds, a valid config), and name step 3's PGD-AT runs as the reference once they hold results, so the
    sweep's table applies the defaults rule with AutoAttack; without them the sweep must not fail on it."""
    from advdpnp.commands import sweep
    from advdpnp.commands._common import config_from_args

    monkeypatch.chdir(ROOT)
    out = tmp_path / "out"

    def step_3c(**env: str) -> argparse.Namespace:
        calls = [a for a in _advdpnp_calls(tmp_path, HINGE_SEEDS="0,1", **env)
                 if "configs/quick/ablations/fmnist-repulsion_feature.yaml" in a]
        assert len(calls) == 1
        return _sweep_args(calls[0])

    args = step_3c()
    assert sweep.tag_of(sweep.make_grid(sweep.parse_axes(args.set), False, sweep.parse_points(args.point))[-1]) \
        == "hinge=scaled" and args.reference is None
    (out / "fmnist-pgd_at" / "base-s0").mkdir(parents=True)
    (out / "fmnist-pgd_at" / "base-s0" / "results.json").write_text("{}")
    args = step_3c(HINGES="scaled distance", HINGE_MARGINS="0.5")
    grid = sweep.make_grid(sweep.parse_axes(args.set), args.one_at_a_time, sweep.parse_points(args.point))
    assert [sweep.tag_of(p) for p in grid] == [
        "hinge=scaled", "hinge=distance", "hinge=scaled-margin=0.5", "hinge=distance-margin=0.5"]
    assert (args.suite, args.seeds, args.reference) == ("paper", "0,1", f"{out}/fmnist-pgd_at")
    assert args.out == f"{out}/hinge"
    chosen = config_from_args(args.items + [f"{k}={v}" for k, v in grid[2]])
    assert (chosen.method["repulsion"], chosen.method["hinge"], chosen.method["margin"]) == ("feature", "scaled", 0.5)


def test_reproduce_fmnist_hinge_grid_is_a_valid_grid_around_preset_plus_scaled_hinge(tmp_path, monkeypatch):
    """HINGE_GRID=1 (step 6b) must sweep the scaled hinge's margin and weight one at a time around the
    preset + scaled hinge, with the preset itself as a point, under the rule of step 6 (same seeds, reference);
    every setting must be a valid config, so no run fails hours into the sweep."""
    from advdpnp.commands import sweep
    from advdpnp.commands._common import config_from_args

    monkeypatch.chdir(ROOT)
    out = tmp_path / "out"
    assert _sweep_calls(tmp_path) == []
    calls = _sweep_calls(tmp_path, DEFAULTS_SWEEP="1", HINGE_GRID="1")
    steps = [_sweep_args(argv) for argv in calls]
    assert [(a.out, a.seeds, a.reference, a.suite) for a in steps] == [
        (f"{out}/{name}", "0,1", f"{out}/fmnist-pgd_at", "quick") for name in ("sweep", "hinge-grid")]
    grids = [sweep.make_grid(sweep.parse_axes(a.set), a.one_at_a_time, sweep.parse_points(a.point)) for a in steps]
    assert len(grids[0]) == 23
    assert [sweep.tag_of(p) for p in grids[1]] == [
        "base", "margin=0.1", "margin=0.5", "lambda_neg=0.5", "lambda_neg=2", "repulsion=prototype-hinge=squared"]
    configs = [[config_from_args(a.items + [f"{k}={v}" for k, v in p]) for p in g] for a, g in zip(steps, grids)]
    base, *moved, preset = configs[1]
    assert (base.method["repulsion"], base.method["hinge"], base.attack.loss) == ("feature", "scaled", "kl")
    assert [(c.method["margin"], c.method["lambda_neg"]) for c in moved] == [(0.1, 1), (0.5, 1), (1, 0.5), (1, 2)]
    # the point is the comparison's Adv-DPNP at the study's scale, not a look-alike
    study_scale = [i for i in steps[1].items[1:] if not i.startswith("method.")]  # the TRAIN overrides
    assert preset == config_from_args(["configs/quick/fmnist-adv_dpnp.yaml"] + study_scale)


def _cli_args(argv: list[str]) -> argparse.Namespace:
    """`argv` parsed by the real `advdpnp` parser the way `main` parses it, so a flag a command does not
    have fails here rather than hours into a GPU run."""
    from advdpnp.cli import build_parser

    args, extra = build_parser().parse_known_args(argv)
    if extra:
        assert hasattr(args, "items") and all("=" in e and not e.startswith("-") for e in extra), argv
        args.items = list(args.items) + extra
    return args


def test_paper_tables_trains_every_preset_with_its_standard_model_as_transfer_source(tmp_path, monkeypatch):
    """The GPU script's plan, checked on CPU before a GPU hour is spent on it: every preset of the three
    datasets and two architectures is trained with valid overrides, the standard model of each dataset and
    architecture first (the others' transfer source), every call parses, a finished run is kept, an
    interrupted one resumes, and N reaches the corruption set and the evaluations."""
    from advdpnp.commands._common import config_from_args

    monkeypatch.chdir(ROOT)
    out = tmp_path / "paper"
    done, cut = out / "svhn-wrn34_10-mart-s3", out / "svhn-wrn34_10-trades-s3"
    done.mkdir(parents=True)
    (done / "results.json").write_text("{}")
    (cut / "checkpoints").mkdir(parents=True)
    (cut / "checkpoints" / "last.pt").write_bytes(b"")
    calls = _argv_calls("paper_tables.sh", tmp_path, OUT=str(out), SEED="3", N="1000", TRAIN_ARGS="train.epochs=2")
    parsed = [(argv[0], _cli_args(argv)) for argv in calls]
    methods = ["standard", "dpnp", "pgd_at", "trades", "mart", "adv_dpnp"]
    runs = [f"{out}/{ds}-{arch}-{m}-s3" for ds in ("cifar10", "cifar100", "svhn")
            for arch in ("preact_resnet18", "wrn34_10") for m in methods]

    trains = [a for cmd, a in parsed if cmd == "train"]
    assert [a.run_dir or a.resume for a in trains] == [r for r in runs if r != str(done)]
    assert [a.resume for a in trains if a.resume] == [str(cut)]
    for a in trains:
        if a.resume:
            continue
        cfg = config_from_args(a.items)
        name = Path(a.run_dir).name.removesuffix("-s3")
        assert a.items[0] == f"configs/paper/{name}.yaml" and a.no_eval
        assert (cfg.train.seed, cfg.train.epochs, cfg.train.amp, cfg.train.device, cfg.train.channels_last) \
            == (3, 2, "bf16", "cuda", True)

    evals = [a for cmd, a in parsed if cmd == "eval"]
    assert [a.target for a in evals] == [r for r in runs if r != str(done)]
    for a in evals:
        ds, arch, method = Path(a.target).name.split("-")[:3]
        assert (a.suite, a.n, a.device, a.corruptions) == ("full", 1000, "cuda", f"{out}/corruptions/{ds}")
        if method == "standard":  # the source itself: no transfer check
            assert (a.transfer_from, a.transfer_epochs) == (None, 0)
        else:
            assert a.transfer_from == f"{out}/{ds}-{arch}-standard-s3", a.target
    corrupt = [(a.dataset, a.n, a.out) for cmd, a in parsed if cmd == "corrupt"]
    assert corrupt == [(ds, 1000, f"{out}/corruptions/{ds}") for ds in ("cifar10", "cifar100", "svhn")]
    first = [calls.index(next(c for c in calls if c[0] == "train" and f"/{ds}-" in str(c))) for ds in
             ("cifar10", "cifar100", "svhn")]
    assert [calls.index(c) for c in calls if c[0] == "corrupt"] == [i - 1 for i in first]
    reports = [a for cmd, a in parsed if cmd == "report"]
    assert [(a.out, a.run_dirs) for a in reports] == [
        (f"{out}/report-{ds}-{arch}", runs[i * 6:(i + 1) * 6]) for i, (ds, arch) in enumerate(
            (ds, arch) for ds in ("cifar10", "cifar100", "svhn") for arch in ("preact_resnet18", "wrn34_10"))]


def test_gpu_check_stages_call_valid_commands(tmp_path, monkeypatch):
    """gpu_check.sh runs in the few minutes a lent GPU gives, so its plan is checked on CPU with stand-ins
    for nvidia-smi, torchrun and python: every stage runs, every `advdpnp` call (direct, under torchrun, or
    through paper_tables.sh) parses with the real CLI and loads its preset with its overrides, and every
    benchmarked setup has a preset."""
    import importlib.util

    from advdpnp.commands._common import config_from_args

    monkeypatch.chdir(ROOT)
    spec = importlib.util.spec_from_file_location("bench_gpu_epoch", ROOT / "benchmarks" / "bench_gpu_epoch.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bin_dir, out = tmp_path / "bin", tmp_path / "check"
    bin_dir.mkdir()
    (bin_dir / "nvidia-smi").write_text("#!/bin/sh\n")
    (bin_dir / "torchrun").write_text(f"#!{sys.executable}\nimport json, sys\nopen({str(tmp_path / 'argv.jsonl')!r}, "
                                      "'a').write(json.dumps(['torchrun', *sys.argv[1:]]) + '\\n')\n")
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    calls = _argv_calls("gpu_check.sh", tmp_path, OUT=str(out), GPUS="2", PYTHON=str(tmp_path / "argv_stub.py"),
                        PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    summary = [line.split()[:2] for line in (out / "summary.txt").read_text().splitlines()]
    assert summary == [[s, "rc=0"] for s in ("machine", "data", "bench-preact", "bench-variants", "bench-wrn",
                                             "paper-smoke", "ddp", "tests")]
    benches = [bench.build_parser().parse_args(a[1:]) for a in calls if a[0] == "benchmarks/bench_gpu_epoch.py"]
    assert {arch for b in benches for arch in b.archs} == {"preact_resnet18", "wrn34_10"}
    for b in benches:
        for arch, method, amp, variant in ((r, m, a, v) for r in b.archs for m in b.methods for a in b.amps
                                           for v in b.variants):
            assert bench.preset_config(arch, method, amp, variant, "cuda").train.amp == amp

    torchrun = [a for a in calls if a[0] == "torchrun"]
    assert [a[1:4] for a in torchrun] == [["--nproc_per_node=2", "-m", "advdpnp"]] * 2
    train, ev = (_cli_args(a[4:]) for a in torchrun)
    cfg = config_from_args(train.items)
    assert (cfg.method["name"], cfg.train.epochs, cfg.train.device, cfg.train.amp) == ("adv_dpnp", 1, "cuda", "bf16")
    assert (ev.target, ev.suite, ev.n, ev.device) == (train.run_dir, "quick", 500, "cuda")

    smoke = [(a[0], _cli_args(a)) for a in calls if a[0] in ("corrupt", "train", "eval", "analyze", "report")]
    assert [cmd for cmd, _ in smoke] == ["corrupt"] + ["train", "eval", "analyze"] * 2 + ["report"]
    for cmd, a in smoke:
        if cmd == "train":
            cfg = config_from_args(a.items)
            assert (cfg.data.name, cfg.model.arch, cfg.train.epochs, cfg.train.progress) == \
                ("cifar10", "preact_resnet18", 2, False)
        if cmd in ("corrupt", "eval"):
            assert a.n == 100
    assert ["-m", "pytest"] == next(a for a in calls if a[0] == "-m")[:2]


@pytest.mark.parametrize("script", ["reproduce_fmnist.sh", "reproduce_digits.sh"])
def test_jobs_reaches_every_sweep_call_of_the_study_scripts(tmp_path, script):
    """JOBS=2 runs two runs at a time in each sweep call (advdpnp sweep --jobs), the defaults sweeps included."""
    env = dict(OUT=str(tmp_path / "out"), CORRUPTIONS=str(tmp_path / "c"), SEEDS="0", ABLATION_SEEDS="0",
               HINGE_SEEDS="0", FIGURES="", FULL_AA_N="0", REPORT="0", FULL_AA_METHODS="", DEFAULTS_SWEEP="1",
               HINGE_GRID="1", SWEEP_SEEDS="0")
    (tmp_path / "out" / "defaults" / "base-s0").mkdir(parents=True)  # the digits options sweep copies it
    for jobs, expected in ((None, "1"), ("2", "2")):
        (tmp_path / "calls.log").unlink(missing_ok=True)
        proc = _run(script, tmp_path, **env, **({"JOBS": jobs} if jobs else {}))
        assert proc.returncode == 0, proc.stderr
        sweeps = [c.split() for c in (tmp_path / "calls.log").read_text().splitlines() if c.split()[2] == "sweep"]
        assert len(sweeps) >= 10 and all(c[c.index("--jobs") + 1] == expected for c in sweeps)


@pytest.mark.parametrize("script, prefix, runs", [("reproduce_fmnist.sh", "fmnist", 2 * 3 + 2 + 1),
                                                  ("reproduce_digits.sh", "digits", 2 * 3 + 5 * 2 + 2)])
def test_the_study_scripts_train_their_comparison_as_one_queue(tmp_path, monkeypatch, script, prefix, runs):
    """The methods, the ablations and the feature hinge are one `advdpnp sweep --plan` call, so JOBS runs go at a
    time across all of them (a sweep call per method left a core idle at the end of each 3-seed call on 2 cores);
    every line of the plan is a sweep the real command accepts, with configs that load."""
    from advdpnp.commands import sweep

    monkeypatch.chdir(ROOT)
    out = tmp_path / "out"
    proc = _run(script, tmp_path, OUT=str(out), CORRUPTIONS=str(tmp_path / "c"), SEEDS="0,1,2",
                METHODS="pgd_at adv_dpnp", ABLATIONS="no_cons", ABLATION_SEEDS="0,1", HINGE_SEEDS="0", FIGURES="",
                FULL_AA_N="0", REPORT="0", FULL_AA_METHODS="", JOBS="2")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "plans.log").read_text().splitlines() == [f"sweep --plan {out}/sweep-plan.txt --jobs 2"]
    sweeps = sweep.read_plan(out / "sweep-plan.txt", tables_only=False)
    planned = [r for s in sweeps for r in sweep._prepare(s)[2]]
    assert len(planned) == runs and {r.suite for r in planned} == {"paper"}
    assert [Path(s.out).name for s in sweeps][:2] == [f"{prefix}-pgd_at", f"{prefix}-adv_dpnp"]
    assert Path(sweeps[-1].out).name == "hinge"
    if prefix == "fmnist":  # PGD-AT is trained by this plan, so the hinge's table can name it as the reference
        assert sweeps[-1].reference == f"{out}/fmnist-pgd_at"


@pytest.mark.parametrize("script, prefix, env, lines", [
    ("reproduce_fmnist.sh", "fmnist", dict(FULL_AA_N="200", BEYOND_EPS="0.15", BEYOND_METHODS="adv_dpnp"), 4 + 2),
    ("reproduce_digits.sh", "digits", dict(REPORT="0"), 4)])
def test_the_study_scripts_run_their_evaluations_as_one_queue(tmp_path, script, prefix, env, lines):
    """Standard AutoAttack (step 5) and AutoAttack beyond the radius (5b) are one `advdpnp eval --plan` call, so
    JOBS evaluations run at a time, before the tables that read them; every line is an evaluation the real
    command accepts, single-threaded, each into its own results file."""
    from advdpnp.commands import eval as eval_cmd
    from advdpnp.commands._common import read_plan_lines

    out = tmp_path / "out"
    proc = _run(script, tmp_path, OUT=str(out), CORRUPTIONS=str(tmp_path / "c"), SEEDS="0,1", METHODS="",
                ABLATION_SEEDS="", HINGE_SEEDS="", FIGURES="", FULL_AA_METHODS="adv_dpnp pgd_at",
                FULL_AA_SEEDS="0 1", JOBS="2", **env)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "plans.log").read_text().splitlines() == [f"eval --plan {out}/eval-plan.txt --jobs 2"]
    calls = (tmp_path / "calls.log").read_text().splitlines()
    first_table = min(i for i, c in enumerate(calls) if "compare_aa_variants.py" in c or "--by-name" in c)
    assert max(i for i, c in enumerate(calls) if c.split()[2] == "eval") < first_table
    evals = read_plan_lines(out / "eval-plan.txt", "advdpnp eval", eval_cmd.add_arguments,
                            eval_cmd.PLAN_CALL_OPTIONS, "evaluation")
    assert len(evals) == lines and len({e.out for e in evals}) == lines and {e.threads for e in evals} == {1}
    full = [e for e in evals if e.suite == "full"]
    assert [(e.target, e.out) for e in full] == [(f"{out}/{prefix}-{m}/base-s{s}", f"{out}/full/{m}-s{s}.json")
                                                  for m in ("adv_dpnp", "pgd_at") for s in (0, 1)]
    assert all(e.eps == 0.15 and e.suite == "paper" for e in evals if e not in full)


@pytest.mark.parametrize("script", ["reproduce_digits.sh", "reproduce_fmnist.sh"])
def test_a_second_study_call_on_one_out_is_refused_until_the_first_is_gone(tmp_path, script):
    """Two calls on one OUT would empty and refill each other's plan files: while one holds OUT (here a shell
    that sourced the scripts' library, then became a long `sleep`), another stops with one line naming it before
    anything runs; once the holder is killed, OUT is free again."""
    import signal

    out = tmp_path / "out"
    holder = subprocess.Popen(["bash", "-c", "source scripts/lib/plans.sh && echo locked && exec sleep 60"], cwd=ROOT,
                              env={**os.environ, "OUT": str(out), "PYTHON": sys.executable, "ADVDPNP": "advdpnp",
                                   "JOBS": "1"}, stdout=subprocess.PIPE, text=True)
    env = dict(OUT=str(out), CORRUPTIONS=str(tmp_path / "c"), SEEDS="0", METHODS="", ABLATION_SEEDS="",
               HINGE_SEEDS="", FIGURES="", REPORT="0", FULL_AA_N="0", FULL_AA_METHODS="")
    try:
        assert holder.stdout.readline().strip() == "locked"
        proc = _run(script, tmp_path, **env)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
        assert f"OUT={out} is in use by another call of a study script (PID {holder.pid})" in proc.stderr
        assert not (tmp_path / "calls.log").exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    proc = _run(script, tmp_path, **env)
    assert proc.returncode == 0, proc.stderr
    calls = (tmp_path / "calls.log").read_text()
    proc = _run(script, tmp_path, **env, PYTHON=str(tmp_path / "none"))  # no lock taken: nothing runs
    assert proc.returncode == 2 and f"cannot lock OUT={out}: PYTHON={tmp_path / 'none'} exited with 127" in proc.stderr
    assert (tmp_path / "calls.log").read_text() == calls
