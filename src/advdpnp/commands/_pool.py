"""`--jobs N` of `sweep` and `eval --plan`: N jobs at a time, each in a process of its own.

On a CPU machine a small model uses a core better than extra threads, so N single-model processes with
1/N of the cores each finish a queue sooner than one process with all of them (benchmarks/bench_sweep_jobs.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Job:
    """One unit of a queue: `work(arg)` runs in a worker process with its output in `log`, and returns what
    became of it ("evaluated", "diverged", ...). `work` must be a module-level function (it is pickled)."""

    name: str  # what the progress lines and errors call it: a run folder, a results file
    log: Path
    work: Callable[[Any], str]
    arg: Any


def check_jobs(n: int) -> None:
    """`--jobs N`: at least one, and never under torchrun, whose processes are already the parallel ones."""
    from ..errors import UserError

    if n < 1:
        raise UserError(f"--jobs must be >= 1, got {n}")
    if n > 1 and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise UserError("--jobs starts processes of its own; under torchrun leave it at 1")


def _child(job: Job, threads: int) -> tuple[str, float]:
    """One job in a worker process: its torch threads set, its output (progress bars too) in its log."""
    import sys
    import time
    import traceback

    import torch

    job.log.parent.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(threads)  # a job's own --threads or train.threads, when given, set theirs later
    start = time.monotonic()
    with open(job.log, "a") as log:  # appended: a resumed queue keeps the earlier try's output above this one's
        log.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} {job.name}: started (PID {os.getpid()}) ===\n")
        log.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(log.fileno(), 1)  # file descriptors, not sys.stdout: torch's C++ warnings land there too
        os.dup2(log.fileno(), 2)
        try:
            return job.work(job.arg), time.monotonic() - start
        except BaseException:
            traceback.print_exc()  # the log the parent's error names must say what happened
            raise
        finally:
            sys.stdout.flush()
            sys.stderr.flush()


def run_in_processes(jobs: list[Job], n: int, tag: str, what: str, log_hint: str,
                     summary: Callable[[Job], str] = lambda job: "") -> None:
    """Run `jobs`, `n` at a time, one process each (spawned: a forked torch can deadlock), with an even share of
    the CPU cores as torch threads. `what` names one job in the messages ("run"), `log_hint` where each
    job's output goes, `summary` adds a finished job's headline to its progress line. The first failure cancels
    the jobs still waiting; the started ones end (runs and AutoAttack are resumable anyway), then this raises a
    one-line error naming that job and its log."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from ..errors import UserError

    n = min(n, len(jobs))
    threads = max(1, (os.cpu_count() or 1) // n)
    print(f"[{tag}] {len(jobs)} {what}s, {n} at a time with {threads} torch thread(s) each; "
          f"each {what}'s output goes to {log_hint}")
    failure = None
    with ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(_child, job, threads): job for job in jobs}
        for done, future in enumerate(as_completed(futures), 1):
            job = futures[future]
            if future.cancelled():
                continue
            try:
                status, seconds = future.result()
            except Exception as e:  # reported with its job; raised once the running ones have ended
                print(f"[{tag}] {done}/{len(jobs)} failed: {job.name} ({type(e).__name__}: {e}; log {job.log})")
                if failure is None:
                    failure = (job, e)
                    for other in futures:
                        other.cancel()
                continue
            print(f"[{tag}] {done}/{len(jobs)} {status}: {job.name} in {seconds / 60:.1f} min{summary(job)}")
    if failure is not None:
        job, e = failure
        raise UserError(f"{what} {job.name} failed ({type(e).__name__}: {e}); its output: {job.log}")
