"""The run-directory lock, so two trainings never write into the same run directory (`RUN_DIR/.lock`,
see `advdpnp.locks`)."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import UserError
from ..locks import PathLock

LOCK_NAME = ".lock"


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


class RunLock(PathLock):
    """`with RunLock(run_dir): ...` holds an exclusive lock on the run directory."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)

    def lock_file(self) -> Path:
        return prepare_run_dir(self.run_dir) / LOCK_NAME

    def in_use(self, owner: str) -> UserError:
        return RunDirInUse(f"run directory {self.run_dir} is in use by another training (PID {owner}); "
                           f"wait for it to finish or use another run directory")
