"""Checkpoints: atomic writes that keep the previous good file, checksums, safe loads.

A save serialises to memory, writes a temporary file (flush + fsync), moves the current file to
`NAME.prev.pt`, renames the temporary file into place and then writes a `NAME.pt.sha256` sidecar
(`sha256sum -c` format). A crash at any point leaves at least one complete, loadable checkpoint:
a file whose sidecar disagrees is corrupt; a file without a sidecar (a crash between the rename
and the sidecar) is accepted once it parses. Loads use `weights_only=True`: tensors and plain
containers only, so a checkpoint can never run pickled code.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import pickle
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import UserError

log = logging.getLogger(__name__)


class CorruptCheckpoint(UserError):
    """A checkpoint file is truncated, altered or not a checkpoint at all."""


def previous_path(path: Path) -> Path:
    """`last.pt` -> `last.prev.pt`: where the file replaced by the latest save is kept."""
    path = Path(path)
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def sidecar_path(path: Path) -> Path:
    path = Path(path)
    return path.with_name(f"{path.name}.sha256")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_synced(data: bytes, path: Path) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def tmp_path(path: Path) -> Path:
    """The temporary file a save writes before renaming it over `path`."""
    return path.with_name(f".{path.name}.tmp")


def atomic_write_bytes(data: bytes, path: Path) -> None:
    """Write `data` to a temporary file next to `path`, flush it to disk, then rename over `path`."""
    path = Path(path)
    _write_synced(data, tmp_path(path))
    os.replace(tmp_path(path), path)


def _move(src: Path, dst: Path) -> None:
    if src.exists():
        os.replace(src, dst)


def atomic_save(obj: Any, path: Path, keep_previous: bool = True) -> None:
    """Save `obj` so that `path` is always either the old or the new complete file (never half of one).

    With `keep_previous`, the replaced file (and its sidecar) survive as `previous_path(path)`.
    """
    path = Path(path)
    buf = io.BytesIO()
    torch.save(obj, buf)
    data = buf.getvalue()
    _write_synced(data, tmp_path(path))
    if keep_previous and path.exists():
        prev = previous_path(path)
        sidecar_path(prev).unlink(missing_ok=True)  # never pair an old digest with a newer file
        os.replace(path, prev)
        _move(sidecar_path(path), sidecar_path(prev))
    else:
        sidecar_path(path).unlink(missing_ok=True)
    os.replace(tmp_path(path), path)
    atomic_write_bytes(f"{hashlib.sha256(data).hexdigest()}  {path.name}\n".encode(), sidecar_path(path))
    _fsync_dir(path.parent)


def verify(path: Path) -> None:
    """Raise `CorruptCheckpoint` when `path` disagrees with its sha256 sidecar (no sidecar: no check)."""
    path = Path(path)
    side = sidecar_path(path)
    if not side.is_file():
        return
    expected = side.read_text().split()[:1]
    got = sha256_file(path)
    if expected != [got]:
        raise CorruptCheckpoint(f"checkpoint {path} is corrupt or truncated: its sha256 {got[:12]}... does not "
                                f"match {side.name} ({(expected or ['<empty>'])[0][:12]}...; "
                                f"{path.stat().st_size} bytes on disk)")


def _first_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    # torch's weights_only refusal names the offending global; keep that, not its advice
    named = re.search(r"Unsupported global[^.]*?GLOBAL \S+(?= was|$)|Unsupported operand \d+", text)
    return (named.group(0) if named else text or type(e).__name__)[:200]


def safe_load(path: Path, map_location: str | torch.device = "cpu") -> dict:
    """Verify the checksum, then load with `weights_only=True` (tensors and plain containers only)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}")
    verify(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - every failure becomes one line for the user
        if isinstance(e, pickle.UnpicklingError) and "Unsupported global" in str(e):  # never replaced by the previous
            raise UserError(f"refusing to load {path}: it holds pickled objects other than tensors and plain "
                            f"containers, which could run code ({_first_line(e)})") from None
        # bytes that are no pickle ('Unsupported operand'), a truncated zip, ...: damaged or the wrong file
        raise CorruptCheckpoint(f"cannot load checkpoint {path} (truncated or not a checkpoint): "
                                f"{_first_line(e)}") from None


def load_latest(path: Path, map_location: str | torch.device = "cpu",
                repair: bool = False) -> tuple[dict, Path]:
    """`path`, or its previous version when `path` is missing or corrupt.

    With `repair` (a resuming trainer) the fallback is announced with a warning and the bad file is
    moved aside to `NAME.corrupt`, so the next save cannot rotate it over the good previous one.
    """
    path = Path(path)
    try:
        return safe_load(path, map_location), path
    except CorruptCheckpoint as e:
        problem = str(e)
    except UserError as e:
        if not previous_path(path).is_file():
            raise
        problem = str(e)
    prev = previous_path(path)
    if not prev.is_file():
        raise CorruptCheckpoint(f"{problem}; no previous checkpoint {prev.name} to fall back on")
    try:
        state = safe_load(prev, map_location)
    except UserError as e2:
        raise CorruptCheckpoint(f"{problem}; the previous checkpoint is unusable too: {e2}") from None
    if repair:
        log.warning("warning: %s; using the previous good checkpoint %s", problem, prev)
        if path.exists():
            os.replace(path, path.with_name(f"{path.name}.corrupt"))
            sidecar_path(path).unlink(missing_ok=True)
    return state, prev


def rng_state() -> dict:
    """Python, numpy and torch (CPU and CUDA) RNG states as tensors / plain values."""
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached": float(np_state[4])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
