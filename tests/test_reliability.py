"""Fault injection: SIGKILL mid-training then --resume (bitwise exact), interrupted and corrupt
checkpoint writes, a NaN batch, a malicious pickle, a run directory used by two trainings."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from advdpnp.cli import main
from advdpnp.errors import UserError
from advdpnp.train import checkpoint as ck
from advdpnp.train import trainer as trainer_mod
from advdpnp.train.environment import machines_summary, trained_on
from advdpnp.train.lock import RunLock

#: tiny digits run: 7 steps per epoch, 2 epochs, a checkpoint after every step
TINY = ["train.epochs=2", "train.batch_size=32", "train.progress=false", "train.threads=1",
        "train.checkpoint_every=1", "train.val_points=32", "train.val_pgd_steps=2", "attack.steps=2",
        "data.train_subset=256", "data.test_subset=32", "model.arch=small_cnn",
        "train.deterministic=true"]  # bitwise resume on a CUDA machine too (a no-op on the CPU)


def train_cli(run_dir: Path, *extra: str) -> int:
    return main(["train", *TINY, *extra, "--run-dir", str(run_dir), "--no-eval"])


def model_state(run_dir: Path, name: str = "last.pt") -> dict:
    return ck.safe_load(run_dir / "checkpoints" / name)["model"]


def assert_bitwise_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    diff = [k for k in a if not torch.equal(a[k], b[k])]
    assert not diff, f"tensors differ: {diff}"


def metric_rows(run_dir: Path) -> list[dict]:
    import json

    rows = [json.loads(ln) for ln in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "time_s"} for r in rows]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The uninterrupted run every interrupted one must reproduce bit for bit."""
    torch.set_num_threads(1)
    run = tmp_path_factory.mktemp("ref") / "run"
    assert train_cli(run) == 0
    return run


@pytest.fixture(scope="module")
def reference_cpu(request, tmp_path_factory) -> Path:
    """`reference` trained on the CPU: the SIGKILL test times its kills by save counts, and a GPU runs the
    14 steps of this tiny model too fast for a kill to land before the end."""
    if not torch.cuda.is_available():
        return request.getfixturevalue("reference")
    run = tmp_path_factory.mktemp("ref-cpu") / "run"
    assert train_cli(run, "train.device=cpu") == 0
    return run


def _spawn(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "advdpnp", "train", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _kill_after(proc: subprocess.Popen, run_dir: Path, saves: int, delay: float, timeout: float = 120) -> int:
    """SIGKILL `proc` `delay` s after it has saved last.pt `saves` more times; return the step now on disk."""
    side = ck.sidecar_path(run_dir / "checkpoints" / "last.pt")
    seen, last = 0, side.read_text() if side.exists() else None
    t0 = time.time()
    while seen < saves:
        if proc.poll() is not None:
            pytest.fail(f"training ended before it could be killed: {proc.stderr.read().decode()[-500:]}")
        assert time.time() - t0 < timeout, "training made no progress"
        try:
            now = side.read_text()
        except FileNotFoundError:  # mid-save: the old sidecar moved to last.prev.pt.sha256
            continue
        if now != last:
            seen, last = seen + 1, now
        time.sleep(0.005)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    state, _ = ck.load_latest(run_dir / "checkpoints" / "last.pt")
    return state["global_step"]


def test_sigkill_at_several_points_then_resume_is_bitwise_exact(reference_cpu, tmp_path):
    run, reference = tmp_path / "run", reference_cpu
    killed_at = []
    proc = _spawn([*TINY, "train.device=cpu", "--run-dir", str(run), "--no-eval"])
    killed_at.append(_kill_after(proc, run, saves=2, delay=0.02))  # mid-step in epoch 1
    proc = _spawn(["--resume", str(run), "--no-eval"])
    killed_at.append(_kill_after(proc, run, saves=4, delay=0.0))  # right after a save (maybe mid-write)
    proc = _spawn(["--resume", str(run), "--no-eval"])
    killed_at.append(_kill_after(proc, run, saves=2, delay=0.0))  # epoch 2, well before the end
    assert (run / ".lock").exists()  # left behind by the killed run, yet it does not block the resume
    res = subprocess.run([sys.executable, "-m", "advdpnp", "train", "--resume", str(run), "--no-eval"],
                         capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr[-800:]
    print(f"killed after global steps {killed_at} (of 14)")
    # a kill inside a save may leave only last.prev.pt, so a resume can restart from the same step
    assert killed_at[0] <= killed_at[1] <= killed_at[2] < 14 and killed_at[0] < killed_at[2]
    assert_bitwise_equal(model_state(reference), model_state(run))
    ref_state, got_state = (ck.safe_load(r / "checkpoints" / "last.pt") for r in (reference, run))
    for a, b in zip(ref_state["optimizer"]["state"].values(), got_state["optimizer"]["state"].values()):
        assert torch.equal(a["momentum_buffer"], b["momentum_buffer"])
    assert metric_rows(run) == metric_rows(reference)  # no duplicated or partial epoch rows


class Crash(Exception):
    """Stands in for a process dying mid-step."""


def test_interrupted_checkpoint_write_falls_back_to_previous_and_stays_exact(reference, tmp_path, monkeypatch,
                                                                              caplog):
    run = tmp_path / "run"
    real_step, calls = trainer_mod.Trainer.train_step, []

    def dying_step(self, idx):
        calls.append(1)
        if len(calls) == 5:
            raise Crash
        return real_step(self, idx)

    monkeypatch.setattr(trainer_mod.Trainer, "train_step", dying_step)
    with pytest.raises(Crash):
        train_cli(run)
    monkeypatch.undo()
    last = run / "checkpoints" / "last.pt"
    assert ck.safe_load(last)["global_step"] == 4
    # a kill in the middle of the next save: a half-written temp file, and a torn last.pt
    ck.tmp_path(last).write_bytes(last.read_bytes()[:1000])
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    with caplog.at_level("WARNING"):
        assert main(["train", "--resume", str(run), "--no-eval"]) == 0
    assert "using the previous good checkpoint" in caplog.text and "last.prev.pt" in caplog.text
    assert (run / "checkpoints" / "last.pt.corrupt").exists()
    assert_bitwise_equal(model_state(reference), model_state(run))
    assert metric_rows(run) == metric_rows(reference)


def test_killed_before_first_checkpoint_restarts_from_config(reference, tmp_path):
    from advdpnp.config import load_config, save_config

    run = tmp_path / "run"
    run.mkdir()
    save_config(load_config(None, TINY), run / "config.yaml")
    (run / "metrics.jsonl").write_text('{"epoch": 1, "train_loss": 1.0}\n{"epo')  # torn, from nowhere
    assert main(["train", "--resume", str(run), "--no-eval"]) == 0
    assert_bitwise_equal(model_state(reference), model_state(run))
    assert metric_rows(run) == metric_rows(reference)


@pytest.mark.parametrize("method,value,expected", [
    ("dpnp", float("nan"), "non-finite loss at epoch 1 step 3 (terms: loss, ce, pos"),
    ("dpnp", float("inf"), "non-finite loss at epoch 1 step 3"),
    ("adv_dpnp", float("nan"), "non-finite loss at epoch 1 step 3 (terms: loss, ce, pos"),  # the attack passes NaN on
])
def test_nan_batch_stops_training_and_keeps_last_good_checkpoint(tmp_path, monkeypatch, capsys,
                                                                  method, value, expected):
    run = tmp_path / "run"
    real_augment, calls = trainer_mod.augment, []

    def poisoned(x, *a, **k):
        x = real_augment(x, *a, **k)
        calls.append(1)
        if len(calls) == 3:
            x = x.clone()
            x[0, 0, 0, 0] = value
        return x

    monkeypatch.setattr(trainer_mod, "augment", poisoned)
    assert train_cli(run, f"method.name={method}") == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and expected in err, err
    assert f"; last good checkpoint kept in {run / 'checkpoints'};" in err, err
    state = ck.safe_load(run / "checkpoints" / "last.pt")  # checksum verified
    assert state["global_step"] == 2
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())


def test_divergence_before_any_checkpoint_says_none_was_kept(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    real_augment = trainer_mod.augment

    def poisoned(x, *a, **k):
        x = real_augment(x, *a, **k).clone()
        x[0, 0, 0, 0] = float("nan")
        return x

    monkeypatch.setattr(trainer_mod, "augment", poisoned)
    assert train_cli(run, "method.name=dpnp") == 2
    err = capsys.readouterr().err.strip()
    assert "non-finite loss at epoch 1 step 1" in err and "; no checkpoint saved yet;" in err, err
    assert err.endswith("a gentler start (lower train.lr, longer train.warmup_epochs or attack.eps_ramp_epochs) or "
                        "train.grad_clip may avoid it"), err
    assert not list((run / "checkpoints").iterdir())


def test_a_non_finite_gradient_stops_training_before_the_step(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    real_forward, calls = trainer_mod.LossModule.forward, []

    def nan_gradient(self, x, y, x_adv):
        loss, logs = real_forward(self, x, y, x_adv)
        calls.append(1)
        if len(calls) == 3:  # sqrt at 0: the loss stays finite, its gradient is inf * 0 = NaN
            loss = loss + torch.sqrt(sum(p.sum() for p in self.model.parameters()) * 0)
        return loss, logs

    monkeypatch.setattr(trainer_mod.LossModule, "forward", nan_gradient)
    assert train_cli(run, "method.name=dpnp") == 2
    err = capsys.readouterr().err.strip()
    assert f"non-finite gradient at epoch 1 step 3 (the loss was finite); last good checkpoint kept in " \
           f"{run / 'checkpoints'};" in err, err
    state = ck.safe_load(run / "checkpoints" / "last.pt")
    assert state["global_step"] == 2
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())


class Payload:
    """Unpickling this creates a file: the shape of a checkpoint that runs code."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path, reference, capsys):
    marker = tmp_path / "pwned"
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    good = ck.safe_load(reference / "checkpoints" / "last.pt")
    for name in ("last.pt", "best.pt"):
        ck.atomic_save({**good, "model": Payload(marker)}, run / "checkpoints" / name, keep_previous=False)
    with pytest.raises(UserError,
                       match=r"refusing to load .* could run code \(Unsupported global: GLOBAL _?io.open\)$"):
        ck.safe_load(run / "checkpoints" / "best.pt")
    for argv in (["eval", str(run), "--n", "8", "--device", "cpu"], ["export", str(run)],
                 ["train", "--resume", str(run), "--no-eval"]):
        assert main(argv) == 2, argv
        assert "refusing to load" in capsys.readouterr().err
    assert not marker.exists()
    torch.load(run / "checkpoints" / "best.pt", weights_only=False)  # what an unsafe load would do
    assert marker.exists()


def test_second_training_in_a_run_directory_in_use_is_refused_then_freed_by_sigkill(tmp_path, capsys):
    run = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from advdpnp.train.lock import RunLock; "
                               "lock = RunLock(sys.argv[1]).acquire(); print('locked', flush=True); time.sleep(120)",
                               str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert train_cli(run) == 2
        err = capsys.readouterr().err
        assert f"in use by another training (PID {holder.pid})" in err and "\n" not in err.strip()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with RunLock(run):  # the kernel dropped the dead holder's lock: nothing stale blocks a resume
        pass


def test_every_start_and_resume_records_its_machine(tmp_path, monkeypatch):
    """A seeded run gives other numbers on a CPU with other kernels; environment.json says which machine
    (and which kernel variables) each start and resume ran on, so such a difference can be traced."""
    import json

    run = tmp_path / "run"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert train_cli(run, "train.epochs=1") == 0
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    assert main(["train", "--resume", str(run), "--no-eval"]) == 0
    entries = json.loads((run / "environment.json").read_text())
    assert [e["resumed"] for e in entries] == [False, True]
    assert [e["kernel_variables"] for e in entries] == [{"ONEDNN_MAX_CPU_ISA": "AVX2"}, {}]
    for e in entries:
        assert e["torch"] == torch.__version__ and e["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
        assert e["cpu"] and e["device"] and "cpu_id" in e
    # resumed under other kernels, the weights come from two machines: the tables must say so
    assert trained_on(run).startswith("mixed: ") and "ONEDNN_MAX_CPU_ISA=AVX2" in trained_on(run)


def test_cpu_id_tells_two_designs_behind_one_vague_name_apart(tmp_path):
    from advdpnp.train.environment import cpu_id, machine

    block = ("processor\t: {n}\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: {m}\n"
             "model name\t: AMD EPYC\nstepping\t: 1\n")
    (info := tmp_path / "cpuinfo").write_text(block.format(n=0, m=1) + "\n" + block.format(n=1, m=17))
    assert cpu_id(info) == "AuthenticAMD family 25 model 1 stepping 1"  # the first processor's block only
    (arm := tmp_path / "arm").write_text("processor\t: 0\nBogoMIPS\t: 50.00\n")
    assert cpu_id(arm) is None and cpu_id(tmp_path / "missing") is None
    # recorded, not part of the machine: a record from before cpu_id existed is the same machine
    new = {"cpu": "AMD EPYC", "cpu_id": cpu_id(info), "cpu_capability": "AVX2", "threads": 1, "torch": "2.13.0"}
    old = {k: v for k, v in new.items() if k != "cpu_id"}
    assert machine(new) == machine(old) == "AMD EPYC (AVX2), 1 threads, torch 2.13.0"


def test_machines_summary_counts_runs_per_machine_and_warns_on_several(tmp_path):
    import json

    def run(name: str, *entries: dict) -> Path:
        (d := tmp_path / name).mkdir()
        if entries:
            (d / "environment.json").write_text(json.dumps(list(entries)))
        return d

    a = {"cpu": "Xeon", "cpu_capability": "AVX512", "threads": 1, "torch": "2.13.0", "host": "h1"}
    b = {**a, "cpu": "EPYC", "cpu_capability": "AVX2"}
    one = [run("s0", a), run("s1", {**a, "host": "h2", "resumed": True}), run("old")]
    text = machines_summary(one)
    assert "2 on Xeon (AVX512), 1 threads, torch 2.13.0" in text  # the host name does not split machines
    assert "1 without a readable record" in text and "Warning" not in text
    assert "Warning: more than one machine" in machines_summary(one + [run("s2", b)])
    assert "Warning" in machines_summary([run("resumed", a, b)])  # one run from two machines
    (tmp_path / "damaged").mkdir()
    (tmp_path / "damaged" / "environment.json").write_text("{")
    assert trained_on(tmp_path / "damaged") is None


def test_machines_summary_names_the_cpu_designs_behind_one_machine_line(tmp_path):
    """Two CPU generations can share a name and kernel level, hence one machine line; the summary must
    name them (and count runs per design) rather than merge them silently."""
    import json

    def run(name: str, *ids: str | None) -> Path:
        (d := tmp_path / name).mkdir()
        entry = {"cpu": "AMD EPYC", "cpu_capability": "AVX512", "threads": 1, "torch": "2.13.0"}
        records = [{**entry, "cpu_id": i} if i else entry for i in ids]
        (d / "environment.json").write_text(json.dumps(records))
        return d

    c, d = "AuthenticAMD family 25 model 17 stepping 1", "AuthenticAMD family 26 model 2 stepping 1"
    runs = [run("c0", c), run("c1", c), run("d0", d), run("old", None)]
    text = machines_summary(runs)
    assert text.startswith("Machines (each run's environment.json): 4 on AMD EPYC (AVX512), 1 threads, torch 2.13.0 "
                           f"(CPU designs behind this line: 2 on {c}, 1 on {d}).")
    assert "Note: one machine line covers several CPU designs" in text and "Warning" not in text
    one_design = machines_summary(runs[:2] + [runs[3], run("c2", c, None)])  # a record before cpu_id is no design
    assert "designs" not in one_design and "Note" not in one_design
    assert f"1 on {c}, 1 on {d})" in machines_summary([run("resumed", c, d)])  # a run resumed on another design
