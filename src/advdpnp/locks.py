"""Exclusive locks, so two processes never write one thing at once: a run directory (two trainings) or a
results file (two evaluations, which would also share its AutoAttack resume file).

`flock` on a lock file that holds the owner's PID for the error message. The kernel drops the lock when its
process dies, even by SIGKILL, so a crash never leaves a stale lock that blocks a resume. A lock is re-entrant
within a process (the `train` command and its `Trainer` both take the run's), and under torchrun only rank 0,
which alone writes, takes it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from .errors import UserError

#: resolved lock path -> [open file descriptor, nesting count] for locks this process holds
_HELD: dict[Path, list[int]] = {}


class PathLock:
    """`with SomeLock(...): ...` holds an exclusive lock on `lock_file()`; a subclass says which file and
    what the error says when another process holds it."""

    def __init__(self) -> None:
        self.active = int(os.environ.get("RANK", "0")) == 0
        self.path: Path | None = None

    def lock_file(self) -> Path:
        raise NotImplementedError

    def in_use(self, owner: str) -> UserError:
        """The one-line error when the process with PID `owner` holds the lock."""
        raise NotImplementedError

    def acquire(self) -> "PathLock":
        if not self.active or self.path is not None:
            return self
        path = self.lock_file().resolve()
        if path in _HELD:
            _HELD[path][1] += 1
            self.path = path
            return self
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:  # e.g. a read-only results folder: one line, not a traceback
            raise UserError(f"cannot write {path.parent}: {e.strerror or e}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise self.in_use(owner) from None
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

    def __enter__(self) -> "PathLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:  # a dropped holder (e.g. a Trainer) gives its lock back
        self.release()
