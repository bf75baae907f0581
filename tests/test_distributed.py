"""Two-process CPU (gloo) training and evaluation: ranks stay identical and match one process."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.multiprocessing.spawn import ProcessException
import torch.nn.functional as F

from advdpnp.attacks import pgd
from advdpnp.cli import main
from advdpnp.config import load_config
from advdpnp.errors import ConfigError
from advdpnp.evaluate.accuracy import clean_correct, pgd_correct, sample_seeds
from advdpnp.evaluate.sharded import run_sharded
from advdpnp.models.classifier import build_model
from advdpnp.train import distributed
from advdpnp.train.trainer import LossModule, Trainer, TrainingDiverged

BASE = ["train.epochs=1", "train.progress=false", "train.val_points=40", "train.val_pgd_steps=2",
        "attack.steps=2", "data.train_subset=128", "data.test_subset=64", "train.batch_size=32",
        "train.threads=1", "train.device=cpu"]  # gloo on CPU processes, also where GPUs are visible


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, log_dir: str, fn, args) -> None:
    # A crash in C++ (gloo, a thread that cannot start) prints to fd 2 and dies by a signal; keep what it
    # printed, because torch.multiprocessing only reports the signal.
    log = open(Path(log_dir) / f"stderr{rank}.log", "w")  # noqa: SIM115 - fd 2 stays on it until exit
    os.dup2(log.fileno(), 2)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")  # one machine: never depend on how its hostname resolves
    torch.set_num_threads(1)
    distributed.init_from_env(torch.device("cpu"))
    try:
        fn(*args)
    finally:
        distributed.shutdown()  # a job may have left the group already (the CLI does, once it succeeded)


def _spawn(fn, *args, log_dir: Path, world: int = 2, timeout_s: float = 300.0) -> None:
    """Run fn(*args) on `world` gloo ranks; on a crash or a hang, raise with what the ranks wrote to stderr."""
    log_dir.mkdir(parents=True, exist_ok=True)
    context = mp.spawn(_worker, args=(world, _free_port(), str(log_dir), fn, args), nprocs=world, join=False)
    deadline = time.monotonic() + timeout_s
    try:
        while not context.join(timeout=1.0):
            if time.monotonic() > deadline:
                for process in context.processes:
                    process.kill()
                raise TimeoutError(f"{world} gloo ranks still running after {timeout_s:.0f} s")
    except (ProcessException, TimeoutError) as e:
        tails = (_stderr_tail(log_dir / f"stderr{r}.log", r) for r in range(world))
        raise RuntimeError(f"{e}\n" + "\n".join(tails)) from e


def _stderr_tail(path: Path, rank: int) -> str:
    """What a rank printed, without C++ stack frames (the message is what tells the cause)."""
    lines = path.read_text(errors="replace").splitlines() if path.exists() else []
    kept = [line for line in lines if not line.startswith(("frame #", "<omitting"))]
    return f"--- rank {rank} stderr (last 30 lines, stack frames left out) ---\n" + "\n".join(kept[-30:])


def _all_reduce_ones() -> None:
    t = torch.ones(1)
    dist.all_reduce(t)
    assert t.item() == dist.get_world_size()


ADV_DPNP = BASE + ["model.arch=small_cnn", "method.name=adv_dpnp"]
# No BatchNorm, no random start, no augmentation: the only difference is how the batch is split.
MLP_PGD_AT = BASE + ["model.arch=mlp", "model.head=linear", "method.name=pgd_at", "attack.random_start=none"]


def _train(overrides: list[str], run_dir: Path, out: Path) -> None:
    """Train and save this rank's parameters (the checkpoint only comes from rank 0)."""
    trainer = Trainer(load_config(None, overrides), run_dir)
    trainer.fit()
    torch.save({k: v.detach().clone() for k, v in trainer.model.state_dict().items()},
               out / f"rank{distributed.rank()}.pt")


def _diverge_on_rank1(run_dir: Path, out: Path) -> None:
    """Rank 1's loss turns NaN at step 2 of 4; write what each rank's training ended with."""
    real, calls = LossModule.forward, []

    def forward(self, x, y, x_adv):
        loss, logs = real(self, x, y, x_adv)
        calls.append(1)
        return (loss * float("nan") if distributed.rank() == 1 and len(calls) == 2 else loss), logs

    LossModule.forward = forward
    try:
        Trainer(load_config(None, ADV_DPNP), run_dir).fit()
        outcome = "trained"
    except TrainingDiverged as e:
        outcome = str(e).split(";")[0]
    finally:
        LossModule.forward = real
    (out / f"diverged{distributed.rank()}.txt").write_text(outcome)


def _flags(data: Path, out: Path) -> None:
    """Sharded clean + PGD flags on an uneven split (37 points over 2 ranks)."""
    model, x, y = torch.load(data, weights_only=False)
    torch.save(run_sharded(lambda xs, ys, ids: _per_sample(model, xs, ys, ids, batch_size=8), x, y),
               out / f"flags{distributed.rank()}.pt")


def _per_sample(model, x, y, ids, batch_size=256) -> dict[str, torch.Tensor]:
    """Flags plus a float that depends on each sample's random start (the loss at its PGD point)."""
    x_adv = pgd(model, x, y, 0.2, 0.05, 3, sample_seeds=sample_seeds(ids, 5))
    with torch.no_grad():
        adv_loss = F.cross_entropy(model(x_adv), y, reduction="none")
    return {"clean": clean_correct(model, x, y), "adv_loss": adv_loss,
            "pgd": pgd_correct(model, x, y, 0.2, 0.05, 3, batch_size=batch_size, seed=5, indices=ids)}


def _uneven_batch(out: Path) -> None:
    try:
        Trainer(load_config(None, BASE + ["train.batch_size=33"]), out / "run")
    except ConfigError as e:
        (out / f"error{distributed.rank()}.txt").write_text(str(e))


def _all_jobs(root: str) -> None:
    """Everything the tests check, in one spawn (process start-up dominates the cost)."""
    root_ = Path(root)
    torch.save(distributed.shard(torch.arange(32)), root_ / f"shard{distributed.rank()}.pt")
    _diverge_on_rank1(root_ / "diverged", root_)
    for name, overrides in (("adv_dpnp", ADV_DPNP), ("mlp", MLP_PGD_AT)):
        (root_ / name).mkdir(exist_ok=True)
        _train(overrides, root_ / name / "run", root_ / name)
    _flags(root_ / "model.pt", root_)
    _uneven_batch(root_)
    # last: the CLI joins the group (already joined: kept) and leaves it once its command has succeeded
    rank = distributed.rank()  # before: out of the group, every process reads as rank 0
    code = main(["train", *BASE, f"out_dir={root_ / 'cli'}", "--no-eval"])
    (root_ / f"cli{rank}.txt").write_text(repr((code, dist.is_initialized())))


# All tests on one xdist worker (`--dist loadgroup` in pyproject): the two-process job then starts once.
pytestmark = pytest.mark.xdist_group("gloo")


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    root = tmp_path_factory.mktemp("dist")
    torch.manual_seed(0)
    model = build_model("small_cnn", 1, 8, 10).eval()
    x, y = torch.rand(37, 1, 8, 8), torch.randint(0, 10, (37,))
    torch.save((model, x, y), root / "model.pt")
    try:
        _spawn(_all_jobs, str(root), log_dir=root / "logs")
    except RuntimeError as job_error:
        # Tell "torch's gloo cannot run two processes here" (a sandbox without usable sockets or threads:
        # skip, saying why) from "our code failed" (fail, with both ranks' stderr).
        try:
            _spawn(_all_reduce_ones, log_dir=root / "probe", timeout_s=120.0)
        except RuntimeError as probe_error:
            pytest.skip(f"torch's gloo cannot run a 2-process all_reduce on this machine: {probe_error}")
        raise job_error
    return root


def test_ranks_stay_identical_and_rank0_writes_plain_checkpoints(two_ranks):
    r0, r1 = (torch.load(two_ranks / "adv_dpnp" / f"rank{r}.pt") for r in (0, 1))
    assert "head.weight" in r0  # the prototypes' directions V
    for k in r0:
        assert torch.equal(r0[k], r1[k]), k
    run = two_ranks / "adv_dpnp" / "run"
    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert ckpt["global_step"] == 4  # 128 points / global batch 32
    assert not any(k.startswith("module.") for k in ckpt["model"])
    for k, v in ckpt["model"].items():
        assert torch.equal(v, r0[k]), k
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 1


def test_two_processes_equal_one_process_on_the_same_global_batch(two_ranks, tmp_path):
    single = Trainer(load_config(None, MLP_PGD_AT), tmp_path / "run")
    init = {k: v.clone() for k, v in single.model.state_dict().items()}
    single.fit()
    two = torch.load(two_ranks / "mlp" / "rank0.pt")
    for k, v in single.model.state_dict().items():
        torch.testing.assert_close(two[k], v, rtol=1e-4, atol=1e-5)
    for k, v in single.model.named_parameters():
        assert not torch.allclose(init[k], v), k  # training moved it: the equality is not vacuous


def test_sharded_flags_equal_single_process_flags(two_ranks):
    model, x, y = torch.load(two_ranks / "model.pt", weights_only=False)
    ref = _per_sample(model, x, y, torch.arange(len(y)))
    with torch.no_grad():
        clean_loss = F.cross_entropy(model(x), y, reduction="none")
    assert (ref["adv_loss"] > clean_loss).all()  # the attack did something, from per-sample starts
    for r in (0, 1):
        got = torch.load(two_ranks / f"flags{r}.pt")
        assert torch.equal(got["clean"], ref["clean"]) and torch.equal(got["pgd"], ref["pgd"])
        assert got["pgd"].dtype == torch.bool
        torch.testing.assert_close(got["adv_loss"], ref["adv_loss"], rtol=1e-5, atol=1e-6)


def test_each_rank_takes_a_disjoint_half_of_the_global_batch(two_ranks):
    parts = [torch.load(two_ranks / f"shard{r}.pt") for r in (0, 1)]
    assert [len(p) for p in parts] == [16, 16]
    assert torch.equal(torch.cat(parts), torch.arange(32))


def test_a_nan_loss_on_one_rank_stops_every_rank_at_that_step(two_ranks):
    for r in (0, 1):  # the other rank does not train on (and then wait forever in a collective)
        assert (two_ranks / f"diverged{r}.txt").read_text() == "non-finite loss at epoch 1 step 2 (terms: loss)"


def test_global_batch_must_split_evenly(two_ranks):
    for r in (0, 1):
        assert "divisible" in (two_ranks / f"error{r}.txt").read_text()


def test_amp_on_cpu_is_refused(tmp_path):
    cfg = load_config(None, BASE + ["train.amp=bf16", "train.device=cpu"])
    with pytest.raises(ConfigError, match="train.amp"):
        Trainer(cfg, tmp_path / "run")


def test_more_torchrun_processes_than_gpus_is_a_one_line_config_error(monkeypatch):
    """Seen on a 1-GPU machine: `torchrun --nproc_per_node=2` used to die in CUDA ('invalid device ordinal')."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", str(torch.cuda.device_count()))
    with pytest.raises(ConfigError, match=r"torchrun started local rank \d+ but this machine shows \d+ GPU\(s\): "
                                          r"use --nproc_per_node=\d+ \(one process per GPU\)"):
        distributed.init_from_env(torch.device("cuda"))
    assert not distributed.is_distributed()


def test_the_cli_leaves_the_process_group_once_its_command_succeeded(two_ranks):
    assert [(two_ranks / f"cli{r}.txt").read_text() for r in (0, 1)] == ["(0, False)"] * 2
