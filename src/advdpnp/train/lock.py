"""A run-directory lock so two trainings never write into the same run directory.

`flock` on `RUN_DIR/.lock` (which holds the owner's PID for the error message). The kernel drops the
lock when its process dies, even by SIGKILL, so a crashed run never leaves a stale lock that blocks
`--resume`. The lock is re-entrant within a process (the `train` command and its `Trainer` both take
it), and under torchrun only rank 0 (which alone writes the run directory) takes it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from ..errors import UserError

LOCK_NAME = ".lock"

#: resolved lock path -> [open file descriptor, nesting count] for locks this process holds
_HELD: dict[Path, list[int]] = {}


class RunDirInUse(UserError):
    """Another process is training into this run directory."""


def prepare_run_dir(run_dir: Path) -> Path:
    """Create `run_dir` (and parents) or fail with one line saying why it cannot be written."""
    run_dir = Path(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise UserError(f"cannot write to run directory {run_dir}: {e.strerror or e}") from None
    return run_dir


class RunLock:
    """`with RunLock(run_dir): ...` holds an exclusive lock on the run directory."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.active = int(os.environ.get("RANK", "0")) == 0
        self.path: Path | None = None

    def acquire(self) -> "RunLock":
        if not self.active or self.path is not None:
            return self
        path = (prepare_run_dir(self.run_dir) / LOCK_NAME).resolve()
        if path in _HELD:
            _HELD[path][1] += 1
            self.path = path
            return self
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RunDirInUse(f"run directory {self.run_dir} is in use by another training (PID {owner}); "
                              f"wait for it to finish or use another run directory") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        _HELD[path] = [fd, 1]
        self.path = path
        return self

    def release(self) -> None:
        if self.path is None:
            return
        held = _HELD[self.path]
        held[1] -= 1
        if held[1] == 0:
            del _HELD[self.path]
            os.close(held[0])  # closing the descriptor drops the flock
        self.path = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:  # a dropped Trainer gives its run directory back
        self.release()
