"""Config validation and CLI behaviour: one-line errors with exit code 2, overrides, presets."""

from __future__ import annotations

import pytest

from advdpnp.cli import main
from advdpnp.config import load_config
from advdpnp.errors import ConfigError, UserError


def test_defaults_are_the_digits_adv_dpnp_job():
    cfg = load_config()
    assert cfg.data.name == "digits" and cfg.method["name"] == "adv_dpnp" and cfg.model.head == "prototype"
    assert cfg.attack.eps == 0.2


def test_dotted_overrides_are_typed():
    cfg = load_config(None, ["train.epochs=3", "attack.eps=0.1", "method.lambda_pos=0", "data.flip=true",
                             "train.milestones=[2, 3]"])
    assert cfg.train.epochs == 3 and cfg.attack.eps == 0.1 and cfg.method["lambda_pos"] == 0.0
    assert cfg.data.flip is True and cfg.train.milestones == [2, 3]


def test_exponent_numbers_without_a_dot_are_numbers():
    # PyYAML (YAML 1.1) parses `5e-4` as a string; a float field must still accept it.
    cfg = load_config(None, ["train.weight_decay=5e-4", "train.lr=1E-2", "method.lambda_neg=2e0"])
    assert cfg.train.weight_decay == 5e-4 and cfg.train.lr == 0.01 and cfg.method["lambda_neg"] == 2.0
    with pytest.raises(ConfigError, match="train.epochs"):
        load_config(None, ["train.epochs=1e3"])  # an integer field stays strict


@pytest.mark.parametrize("override,field", [
    ("train.epochs=0", "train.epochs"),
    ("train.epochs=abc", "train.epochs"),
    ("attack.eps=-0.1", "attack.eps"),
    ("model.logits=euclid", "model.logits"),
    ("train.bogus=1", "train.bogus"),
    ("method.name=nope", "method.name"),
    ("method.lambda_pos=-1", "method.lambda_pos"),
    ("method.unknown_option=1", "method.unknown_option"),
    ("data.val_fraction=1.5", "data.val_fraction"),
])
def test_bad_values_name_the_field(override, field):
    with pytest.raises(ConfigError) as e:
        load_config(None, [override])
    assert field in str(e.value) and "\n" not in str(e.value)


def _run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("argv,needle", [
    (["train", "train.epochs=0"], "train.epochs"),
    (["train", "method.name=magic"], "unknown method"),
    (["train", "data.name=fashion-mnist", "data.root=/nonexistent/folder"], "fashion-mnist"),
    (["train", "data.name=cifar10", "data.root=/nonexistent/folder"], "cifar10"),
    (["train", "model.arch=resnet9000"], "unknown model"),
    (["train", "no/such/preset.yaml"], "config not found"),
    (["eval", "/nonexistent/run"], "no run directory"),
])
def test_cli_errors_are_one_line_with_exit_code_2(capsys, argv, needle):
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert needle in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_method_needing_prototypes_refuses_a_linear_head(capsys):
    code, _, err = _run(capsys, "train", "model.head=linear")
    assert code == 2 and "model.head" in err


def test_methods_command_lists_methods_and_presets(capsys):
    code, out, _ = _run(capsys, "methods")
    assert code == 0
    for name in ("adv_dpnp", "dpnp", "standard", "pgd_at", "quick/digits-adv_dpnp"):
        assert name in out


def test_user_error_is_an_exception_hierarchy():
    assert issubclass(ConfigError, UserError)


def test_changing_the_method_on_a_preset_drops_the_presets_method_options():
    from advdpnp.paths import resolve_preset

    cfg = load_config(resolve_preset("quick/digits-adv_dpnp"), ["method.name=trades", "method.beta=3"])
    assert cfg.method == {"name": "trades", "beta": 3.0}


def test_overrides_may_follow_flags(tmp_path, capsys):
    code, _, err = _run(capsys, "train", "--no-eval", "train.epochs=0")
    assert code == 2 and "train.epochs" in err


def test_sweep_trains_each_grid_point_and_seed_and_tabulates(tmp_path, capsys):
    out = tmp_path / "sw"
    code = main(["sweep", "train.epochs=1", "data.train_subset=100", "attack.steps=1", "train.progress=false",
                 "train.val_points=20", "--set", "method.lambda_pos=0,0.5", "--seeds", "0,1", "--n", "20",
                 "-o", str(out), "--eval-arg=--no-progress"])
    assert code == 0
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == [
        "lambda_pos=0-s0", "lambda_pos=0-s1", "lambda_pos=0.5-s0", "lambda_pos=0.5-s1"]
    table = (out / "sweep.md").read_text()
    assert "| lambda_pos=0 | 2 | 0 | 20 |" in table and "pgd20" in table and "val_pgd" in table
    assert "Machines (each run's environment.json): 4 on " in table and "Warning" not in table
    mtime = (out / "lambda_pos=0-s0" / "results.json").stat().st_mtime
    assert main(["sweep", "train.epochs=1", "data.train_subset=100", "attack.steps=1", "train.progress=false",
                 "train.val_points=20", "--set", "method.lambda_pos=0,0.5", "--seeds", "0,1", "--n", "20",
                 "-o", str(out)]) == 0
    assert (out / "lambda_pos=0-s0" / "results.json").stat().st_mtime == mtime  # finished runs are skipped
    capsys.readouterr()
    assert main(["sweep", "train.epochs=1", "--set", "method.lambda_pos=0,0.5", "--seeds", "0,1,2", "-o", str(out),
                 "--tables-only"]) == 0  # seed 2 was never run: left out, not trained
    assert "2 run(s) without results left out: lambda_pos=0-s2, lambda_pos=0.5-s2" in capsys.readouterr().out
    assert not (out / "lambda_pos=0-s2").exists()
    assert "| lambda_pos=0 | 2 | 0 | 20 |" in (out / "sweep.md").read_text()
    assert main(["sweep", "--set", "method.lambda_pos=0,0.5", "--seeds", "1", "-o", str(out), "--tables-only"]) == 0
    assert "| lambda_pos=0 | 1 | 0 | 20 |" in (out / "sweep.md").read_text()


def test_one_at_a_time_grid_varies_each_axis_alone_around_the_preset():
    from advdpnp.commands.sweep import make_grid, parse_axes, tag_of

    axes = parse_axes(["model.radius=2,8", "method.beta_adv=0.5"])
    assert [tag_of(p) for p in make_grid(axes, one_at_a_time=True)] == ["base", "radius=2", "radius=8", "beta_adv=0.5"]
    assert len(make_grid(axes)) == 2 and tag_of(make_grid(axes)[0]) == "radius=2-beta_adv=0.5"


def test_a_sweep_point_sets_its_fields_together_and_is_validated_first(tmp_path, capsys):
    import yaml

    from advdpnp.commands.sweep import make_grid, parse_axes, parse_points, tag_of

    point = "method.repulsion=feature method.hinge=scaled"
    axes = parse_axes(["model.radius=2"])
    assert [tag_of(p) for p in make_grid(axes, True, parse_points([point]))] == [
        "base", "radius=2", "repulsion=feature-hinge=scaled"]
    with pytest.raises(UserError, match="sets a field twice"):
        parse_points(["model.radius=2 model.radius=3"])
    with pytest.raises(UserError, match="must look like"):
        parse_points(["model.radius"])
    out = tmp_path / "sw"
    fixed = ["train.epochs=1", "data.train_subset=100", "attack.steps=1", "train.progress=false",
             "train.val_points=20", "--n", "20", "-o", str(out), "--eval-arg=--no-progress"]
    # hinge=scaled alone is a config error: the whole grid is checked before anything trains
    code, _, err = _run(capsys, "sweep", *fixed, "--point", "method.hinge=scaled")
    assert code == 2 and "method.hinge" in err and not out.exists()
    assert main(["sweep", *fixed, "--point", point]) == 0
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["base-s0", "repulsion=feature-hinge=scaled-s0"]
    method = yaml.safe_load((out / "repulsion=feature-hinge=scaled-s0" / "config.yaml").read_text())["method"]
    assert method["repulsion"] == "feature" and method["hinge"] == "scaled"
    assert "| repulsion=feature-hinge=scaled | 1 | 0 | 20 |" in (out / "sweep.md").read_text()


def _row(setting: str, val_clean: float, val_pgd: float, autoattack: float) -> dict:
    return {"setting": setting, "seeds": 2, "n": 100, "std": {},
            "mean": {"val_clean": val_clean, "val_pgd": val_pgd, "clean": 0.9, "autoattack": autoattack}}


def test_sweep_chooses_on_validation_and_only_reports_the_test_check(tmp_path):
    from advdpnp.commands.sweep import choose, write_tables

    ref = {"val_clean": 0.90, "val_pgd": 0.50, "autoattack": 0.45}
    # "b" has the best validation clean accuracy within tolerance; "c" is better on the test split's AA and
    # clean accuracy but misses the validation robustness bar, so it must not be chosen.
    rows = [_row("a", 0.92, 0.52, 0.40), _row("b", 0.95, 0.495, 0.41), _row("c", 0.99, 0.48, 0.60)]
    assert choose(rows, ref, tolerance=1.0) == "b"
    assert choose(rows, ref, tolerance=0.0) == "a"
    assert choose(rows, {"autoattack": 0.45}, 1.0) is None  # no validation numbers: no choice
    write_tables(tmp_path, rows, ref, 1.0)
    md = (tmp_path / "sweep.md").read_text()
    assert "| b **(chosen)** |" in md and "does NOT hold" in md  # b's test AA 41 % < 45 % - 1


def _seeded_row(setting: str, val_clean: float, std: float, seeds: int = 5, val_pgd: float = 0.52) -> dict:
    return {"setting": setting, "seeds": seeds, "n": 100, "std": {"val_clean": std},
            "mean": {"val_clean": val_clean, "val_pgd": val_pgd}}


def test_the_choice_reports_its_lead_over_the_runner_up_in_standard_errors(tmp_path):
    from advdpnp.commands.sweep import choice_lead, choose, write_tables

    ref = {"val_clean": 0.90, "val_pgd": 0.50}
    # the runner-up is the best *eligible* other row: not c (misses the robustness bar), not d (diverged)
    rows = [_seeded_row("a", 0.80, 0.01), _seeded_row("b", 0.79, 0.01),
            _seeded_row("c", 0.99, 0.01, val_pgd=0.40), {**_seeded_row("d", 0.85, 0.01), "diverged": 1}]
    assert choose(rows, ref, 1.0) == "a"
    lead = choice_lead(rows, ref, 1.0)
    assert lead["runner_up"] == "b" and lead["gap"] == pytest.approx(0.01)  # between 1 and 2 standard errors
    assert lead["standard_error"] == pytest.approx((2 * 0.01 ** 2 / 5) ** 0.5) and lead["clear"] is False
    write_tables(tmp_path, rows, ref, 1.0)
    assert "1.00 points above the runner-up (b), standard error 0.63 points over seeds: within the seed noise" in (
        tmp_path / "sweep.md").read_text()
    rows[1] = _seeded_row("b", 0.77, 0.01)  # 3 points against a standard error of 0.63
    assert choice_lead(rows, ref, 1.0)["clear"] is True
    one_seed = [_seeded_row("a", 0.80, 0.0, seeds=1), _seeded_row("b", 0.70, 0.0, seeds=1)]
    assert choice_lead(one_seed, ref, 1.0)["standard_error"] is None
    write_tables(tmp_path, one_seed, ref, 1.0)
    assert "one seed, so no seed spread to judge it by" in (tmp_path / "sweep.md").read_text()
    assert choice_lead(one_seed[:1], ref, 1.0) is None  # nothing to compare with


def test_validation_at_best_follows_the_trainers_first_maximum(tmp_path):
    import json

    from advdpnp.config import save_config
    from advdpnp.report.runs import validation_at_best

    save_config(load_config(), tmp_path / "config.yaml")  # adv_dpnp: selects on val_pgd
    rows = [{"epoch": 1, "val_clean": 0.5, "val_pgd": 0.3}, {"epoch": 2, "val_clean": 0.7, "val_pgd": 0.4},
            {"epoch": 3, "val_clean": 0.9, "val_pgd": 0.4}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    best = validation_at_best(tmp_path)
    assert best["epoch"] == 2 and best["selected_on"] == "val_pgd"


def test_a_diverged_setting_is_tabulated_and_never_chosen(tmp_path):
    from advdpnp.commands.sweep import choose, write_tables

    ref = {"val_clean": 0.90, "val_pgd": 0.50, "autoattack": 0.45}
    rows = [_row("a", 0.92, 0.52, 0.46), {**_row("r8", 0.99, 0.60, 0.50), "diverged": 1}]
    assert choose(rows, ref, tolerance=1.0) == "a"
    write_tables(tmp_path, rows, ref, 1.0)
    assert "| r8 | 2 | 1 | 100 |" in (tmp_path / "sweep.md").read_text()


def test_sweep_records_a_diverged_seed_and_goes_on(tmp_path, monkeypatch, capsys):
    from advdpnp.train.trainer import Trainer, TrainingDiverged

    fit = Trainer.fit

    def fit_or_diverge(self):
        if self.cfg.train.seed == 0:
            raise TrainingDiverged("non-finite loss at epoch 1 step 1")
        return fit(self)

    monkeypatch.setattr(Trainer, "fit", fit_or_diverge)
    out = tmp_path / "sw"
    args = ["sweep", "train.epochs=1", "data.train_subset=100", "attack.steps=1", "train.progress=false",
            "train.val_points=20", "--seeds", "0,1", "--n", "20", "-o", str(out), "--eval-arg=--no-progress"]
    assert main(args) == 0
    assert (out / "base-s0" / "diverged.txt").exists() and not (out / "base-s0" / "results.json").exists()
    assert (out / "base-s1" / "results.json").exists()
    assert "| base | 1 | 1 | 20 |" in (out / "sweep.md").read_text()
    assert main(args) == 0 and "diverged before" in capsys.readouterr().out


def test_sweep_checks_a_run_killed_between_training_and_its_marker(tmp_path, monkeypatch):
    """The resumed sweep trains no further, yet a run that ended at chance must still get its at_chance.txt."""
    from advdpnp.train.trainer import Trainer

    fit = Trainer.fit

    def fit_then_killed(self):
        fit(self)
        raise KeyboardInterrupt

    out = tmp_path / "sw"
    args = ["sweep", "method.name=standard", "model.head=linear", "train.lr=1e-9", "train.epochs=1",
            "data.train_subset=100", "train.progress=false", "train.val_points=20", "--seeds", "0", "--n", "20",
            "-o", str(out), "--eval-arg=--no-progress"]
    with monkeypatch.context() as m:
        m.setattr(Trainer, "fit", fit_then_killed)
        assert main(args) == 130
    assert (out / "base-s0" / "checkpoints" / "last.pt").exists() and not (out / "base-s0" / "at_chance.txt").exists()
    assert main(args) == 0
    assert (out / "base-s0" / "at_chance.txt").exists() and (out / "base-s0" / "results.json").exists()


def test_sweep_marks_a_seed_that_ended_at_chance_and_never_chooses_its_setting(tmp_path, monkeypatch):
    from advdpnp.commands.sweep import choose
    from advdpnp.train.trainer import Trainer

    fit = Trainer.fit

    def fit_at_chance_for_seed_0(self):
        return {**fit(self), "at_chance": self.cfg.train.seed == 0}

    monkeypatch.setattr(Trainer, "fit", fit_at_chance_for_seed_0)
    out = tmp_path / "sw"
    assert main(["sweep", "train.epochs=1", "data.train_subset=100", "attack.steps=1", "train.progress=false",
                 "train.val_points=20", "--seeds", "0,1", "--n", "20", "-o", str(out),
                 "--eval-arg=--no-progress"]) == 0
    assert (out / "base-s0" / "at_chance.txt").exists() and not (out / "base-s1" / "at_chance.txt").exists()
    assert (out / "base-s0" / "results.json").exists()  # evaluated: its row is a result, a failed one
    assert "| base | 2 | 0 | 20 |" in (out / "sweep.md").read_text()
    assert "At chance level at the end of training (in the means, never chosen): base (1 of 2)." in (
        out / "sweep.md").read_text()
    ref = {"val_clean": 0.90, "val_pgd": 0.50}
    rows = [_row("a", 0.92, 0.52, 0.46), {**_row("b", 0.99, 0.60, 0.50), "at_chance": 1}]
    assert choose(rows, ref, tolerance=1.0) == "a"


SWEEP_TINY = ["train.epochs=1", "data.train_subset=100", "attack.steps=1", "train.progress=false",
              "train.val_points=20", "--n", "20", "--eval-arg=--no-progress"]


def test_sweep_jobs_run_in_processes_of_their_own_and_train_the_same_models(tmp_path, capsys):
    """Two runs at a time give the runs one at a time would, each with its output in its own sweep.log."""
    import json
    import re

    grid = ["--set", "method.lambda_pos=0,0.5", "--seeds", "0,1"]
    threads = ["train.threads=1", "--eval-arg=--threads=1"]
    assert main(["sweep", *SWEEP_TINY, *threads, *grid, "-o", str(tmp_path / "one")]) == 0
    capsys.readouterr()
    assert main(["sweep", *SWEEP_TINY, *threads, *grid, "-o", str(tmp_path / "two"), "--jobs", "2"]) == 0
    out = capsys.readouterr().out
    assert "[sweep] 4 runs, 2 at a time" in out and "[sweep] training" not in out  # output in the runs' logs
    for run in ("lambda_pos=0-s0", "lambda_pos=0-s1", "lambda_pos=0.5-s0", "lambda_pos=0.5-s1"):
        one, two = (json.loads((tmp_path / d / run / "results.json").read_text()) for d in ("one", "two"))
        assert {k: v["accuracy"] for k, v in one["attacks"].items()} == {
            k: v["accuracy"] for k, v in two["attacks"].items()}
        assert (tmp_path / "one" / run / "metrics.jsonl").read_text().count('"val_clean"') == 1
        assert [json.loads(line)["train_loss"] for line in (tmp_path / "one" / run / "metrics.jsonl").open()] == [
            json.loads(line)["train_loss"] for line in (tmp_path / "two" / run / "metrics.jsonl").open()]
        assert f"[sweep] training {tmp_path / 'two' / run}" in (tmp_path / "two" / run / "sweep.log").read_text()
        assert not (tmp_path / "one" / run / "sweep.log").exists()
        line = next(line for line in out.splitlines() if f"{tmp_path / 'two' / run} in " in line)
        assert re.fullmatch(r"\[sweep\] [1-4]/4 at chance: \S+ in \d+\.\d min, clean \d+\.\d, worst_case \d+\.\d", line)
    assert (tmp_path / "one" / "sweep.md").read_text() == (tmp_path / "two" / "sweep.md").read_text()


def test_a_plan_runs_several_sweeps_as_one_queue_and_tabulates_each(tmp_path, capsys):
    """`--plan`: the runs of every sweep in the file share one pool of `--jobs` (a 3-seed sweep on 2 cores no longer
    leaves a core idle while the next sweep waits), and each sweep still gets its own folder and tables."""
    import shlex

    tiny = " ".join(shlex.quote(a) for a in [*SWEEP_TINY, "train.threads=1", "--eval-arg=--threads=1"])
    plan = tmp_path / "plan.txt"
    plan.write_text(f"# two sweeps, three runs\n\n{tiny} --set method.lambda_pos=0,0.5 -o {tmp_path / 'a'}\n"
                    f"{tiny} method.lambda_neg=0.3 --seeds 1 -o '{tmp_path / 'b c'}'  # a quoted folder\n")
    code, out, _ = _run(capsys, "sweep", "--plan", str(plan), "--jobs", "2", "--dry-run")  # lists, runs nothing
    assert code == 0 and out.count("[sweep] would train, then evaluate: ") == 3
    assert f"would train, then evaluate: {tmp_path / 'b c' / 'base-s1'}\n" in out
    assert "[sweep] dry run: 3 of 3 runs to do; nothing was run" in out and list(tmp_path.iterdir()) == [plan]
    assert main(["sweep", "--plan", str(plan), "--jobs", "2"]) == 0
    out = capsys.readouterr().out
    assert "[sweep] 3 runs, 2 at a time" in out  # one queue, not one pool per sweep
    assert f"[sweep] {tmp_path / 'a'}:" in out and f"[sweep] {tmp_path / 'b c'}:" in out
    assert sorted(p.name for p in (tmp_path / "a").iterdir() if p.is_dir()) == ["lambda_pos=0-s0", "lambda_pos=0.5-s0"]
    assert "| base | 1 | 0 | 20 |" in (tmp_path / "b c" / "sweep.md").read_text()
    assert "lambda_pos" not in (tmp_path / "b c" / "sweep.md").read_text()
    import yaml

    cfg = yaml.safe_load((tmp_path / "b c" / "base-s1" / "config.yaml").read_text())
    assert (cfg["method"]["lambda_neg"], cfg["train"]["seed"]) == (0.3, 1)
    assert main(["sweep", "--plan", str(plan), "--jobs", "2"]) == 0  # finished runs are skipped, tables rebuilt
    out = capsys.readouterr().out
    assert out.count("[sweep] done already") == 3 and "at a time" not in out
    results = tmp_path / "a" / "lambda_pos=0-s0" / "results.json"
    results.rename(results.with_suffix(".bak"))  # trained, not evaluated: a dry run says it would continue
    tables = (tmp_path / "a" / "sweep.md").read_text()
    code, out, _ = _run(capsys, "sweep", "--plan", str(plan), "--dry-run")
    assert code == 0 and out.count("[sweep] done already") == 2 and "[sweep] dry run: 1 of 3 runs to do" in out
    assert f"[sweep] would continue from its last checkpoint, then evaluate: {results.parent}\n" in out
    assert not results.exists() and (tmp_path / "a" / "sweep.md").read_text() == tables  # no tables rebuilt
    results.with_suffix(".bak").rename(results)
    code, _, err = _run(capsys, "sweep", "--plan", str(plan), "--dry-run", "--tables-only")
    assert code == 2 and "--dry-run runs nothing and --tables-only trains nothing" in err

    (tmp_path / "empty").mkdir()  # a reference without results fails its line's tables, not the other lines'
    (tmp_path / "ref.txt").write_text(f"--reference {tmp_path / 'empty'} -o {tmp_path / 'a'} "
                                      f"--set method.lambda_pos=0,0.5\n-o '{tmp_path / 'b c'}' --seeds 1\n")
    (tmp_path / "b c" / "sweep.md").unlink()
    code, out, err = _run(capsys, "sweep", "--plan", str(tmp_path / "ref.txt"), "--tables-only")
    assert code == 2 and "no tables for line 1" in err and "holds no */results.json" in err
    assert "| base | 1 | 0 | 20 |" in (tmp_path / "b c" / "sweep.md").read_text()

    bad = {"--seeds x": "line 2: --seeds must be comma-separated integers",
           "--bogus 1": "--bogus 1",  # with the overrides after it, as on the command line
           "--jobs 2": "line 2: --plan, --jobs, --tables-only and --dry-run belong to the call that reads the plan",
           "train.epochs=0": "line 2: ",
           "--seeds 0,0": "line 2: --seeds 0,0 names a seed twice",
           f"-o {tmp_path / 'ok'}/ --seeds 1": "lines 1 and 2 write to one output folder"}
    for line, needle in bad.items():
        (tmp_path / "bad.txt").write_text(f"{tiny} -o {tmp_path / 'ok'}\n{tiny} {line}\n")
        code, _, err = _run(capsys, "sweep", "--plan", str(tmp_path / "bad.txt"))
        assert code == 2 and needle in err and err.count("\n") == 1, (line, err)
    assert not (tmp_path / "ok").exists()  # a bad line stops the plan before any run
    code, _, err = _run(capsys, "sweep", "--plan", str(plan), "--seeds", "0,1", "-o", str(tmp_path / "x"))
    assert code == 2 and "also given: --seeds, --out" in err
    for text, needle in (("# nothing\n", "holds no sweep"), (None, "No such file")):
        if text is not None:
            (tmp_path / "empty.txt").write_text(text)
        code, _, err = _run(capsys, "sweep", "--plan", str(tmp_path / "empty.txt" if text else tmp_path / "none"))
        assert code == 2 and needle in err


def test_sweep_jobs_share_the_cores_and_stop_on_a_failed_run(tmp_path, monkeypatch, capsys):
    import json
    import os

    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert main(["sweep", *SWEEP_TINY, "--seeds", "0,1", "-o", str(tmp_path / "sw"), "--jobs", "2"]) == 0
    for seed in (0, 1):
        env = json.loads((tmp_path / "sw" / f"base-s{seed}" / "environment.json").read_text())
        assert env[0]["threads"] == 3  # 6 cores shared by 2 runs (not torch's default in a child process)
    bad = ["data.name=fashion-mnist", f"data.root={tmp_path / 'missing'}"]
    capsys.readouterr()
    assert main(["sweep", *SWEEP_TINY, *bad, "--seeds", "0,1", "-o", str(tmp_path / "bad"), "--jobs", "2"]) == 2
    captured = capsys.readouterr()
    assert "failed: " in captured.out and "DataError" in captured.out
    err = captured.err.strip()
    assert err.count("\n") == 0 and "error: run " in err and "sweep.log" in err and "is not a folder" in err
    assert all("is not a folder" in (tmp_path / "bad" / f"base-s{s}" / "sweep.log").read_text() for s in (0, 1))
    for jobs in ("0", "-1"):
        assert main(["sweep", "--jobs", jobs, "-o", str(tmp_path / "x")]) == 2
        assert "--jobs must be >= 1" in capsys.readouterr().err
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["sweep", "--jobs", "2", "-o", str(tmp_path / "x")]) == 2
    assert "under torchrun" in capsys.readouterr().err
