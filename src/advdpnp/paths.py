"""Where things live: the bundled presets and run directories."""

from __future__ import annotations

from pathlib import Path

from .errors import UserError


def configs_dir() -> Path:
    """`configs/` of a source checkout, or the copy installed inside the package."""
    here = Path(__file__).resolve().parent
    for cand in (here / "configs", here.parent.parent / "configs"):
        if cand.is_dir():
            return cand
    return here / "configs"


def resolve_preset(name: str) -> Path:
    """A path to a YAML file, or a preset name such as `quick/digits-adv_dpnp`."""
    p = Path(name)
    if p.is_file():
        return p
    for cand in (configs_dir() / name, configs_dir() / f"{name}.yaml"):
        if cand.is_file():
            return cand
    raise UserError(f"config not found: {name} (a YAML path or a preset from `advdpnp methods`)")


def new_run_dir(out_dir: str, name: str) -> Path:
    """`out_dir/name`, or `name-2`, `name-3`... when that exists already (never overwrite a run)."""
    base = Path(out_dir)
    cand, i = base / name, 1
    while cand.exists():
        i += 1
        cand = base / f"{name}-{i}"
    return cand


def find_checkpoint(target: str, which: str = "best") -> Path:
    """RUN_DIR -> RUN_DIR/checkpoints/{which}.pt; a file path is returned as it is."""
    p = Path(target)
    if p.is_file():
        return p
    if p.is_dir():
        ck = p / "checkpoints" / f"{which}.pt"
        if ck.is_file():
            return ck
        raise UserError(f"no {which} checkpoint in {p} (expected {ck})")
    raise UserError(f"no run directory or checkpoint at {target}")
