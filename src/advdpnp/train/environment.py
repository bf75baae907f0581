"""What machine a run trained on, recorded in RUN_DIR/environment.json.

A seeded run repeats bit for bit on one machine, but another CPU's kernels (AVX2 against AVX-512)
round differently and train another model from the same seed (docs/results-log.md, seventeenth pass).
Recording the machine at every start and resume lets a user tell such a difference from a bug.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections import Counter
from pathlib import Path

import torch

from .checkpoint import atomic_write_bytes

#: environment variables that change which kernels torch runs, hence the numbers a seed gives
KERNEL_VARIABLES = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS",
                    "CUBLAS_WORKSPACE_CONFIG")


def _cpuinfo(path: Path = Path("/proc/cpuinfo")) -> dict[str, str]:
    """The first processor's fields of Linux /proc/cpuinfo ({} elsewhere)."""
    fields: dict[str, str] = {}
    try:
        for line in path.read_text().splitlines():
            if not line.strip():
                break
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


def cpu_model() -> str:
    """The CPU's marketing name (Linux /proc/cpuinfo), else what `platform` knows."""
    return _cpuinfo().get("model name") or platform.processor() or platform.machine()


def cpu_id(cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    """Vendor, family, model and stepping: which CPU design this is. Virtual machines often show only a
    vague name ("AMD EPYC"); these numbers tell two CPU generations behind that name apart, so a person
    comparing two runs can check they trained on the same type (None where /proc/cpuinfo does not say).
    Tables do not group by it: see `machine`."""
    info = _cpuinfo(cpuinfo)
    if "cpu family" not in info or "model" not in info:
        return None
    return (f"{info.get('vendor_id', '?')} family {info['cpu family']} model {info['model']}"
            f" stepping {info.get('stepping', '?')}")


def describe(device: torch.device, resumed: bool) -> dict:
    entry = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "resumed": resumed,
        "host": platform.node(), "python": sys.version.split()[0], "torch": torch.__version__,
        "cpu": cpu_model(), "cpu_id": cpu_id(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(), "device": str(device),
        "kernel_variables": {k: os.environ[k] for k in KERNEL_VARIABLES if k in os.environ},
    }
    if device.type == "cuda":
        entry["gpu"] = torch.cuda.get_device_name(device)
    return entry


def record(run_dir: Path, device: torch.device, resumed: bool) -> None:
    """Append this start's machine to RUN_DIR/environment.json (one entry per start or resume)."""
    path = run_dir / "environment.json"
    try:
        entries = json.loads(path.read_text()) if path.is_file() else []
    except json.JSONDecodeError:
        entries = []  # a damaged record must not stop training; it is rewritten below
    entries.append(describe(device, resumed))
    atomic_write_bytes(json.dumps(entries, indent=2).encode(), path)


def machine(entry: dict) -> str:
    """What in one record decides which kernels run, hence the numbers a seed gives: CPU or GPU, kernel
    level, kernel variables, threads and torch version. The host name is left out because it changes
    with every fresh machine of the same kind, and such machines train the same model (docs/results-log.md,
    twenty-first pass). So is `cpu_id`: records written before it existed would otherwise split one
    machine in two, and the CPU name with the kernel level already tells apart the machines met so far
    that round differently (AMD EPYC with AVX2 or AVX-512, Intel Xeon). Two AMD EPYC generations with
    AVX-512 (family 25 model 17, family 26 model 2) share one name and train the same models from a seed
    (forty-fourth pass), so the name rightly groups them; the record keeps `cpu_id`, and `machines_summary`
    names the designs behind a line that covers several, so a merge is never silent."""
    kernels = "".join(f", {k}={v}" for k, v in sorted(entry.get("kernel_variables", {}).items()))
    hardware = entry.get("gpu") or f"{entry.get('cpu')} ({entry.get('cpu_capability')})"
    return f"{hardware}{kernels}, {entry.get('threads')} threads, torch {entry.get('torch')}"


def _entries(run_dir: Path) -> list[dict] | None:
    """RUN_DIR/environment.json's records; None where the run has none or the file is damaged."""
    try:
        return json.loads((run_dir / "environment.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None


def trained_on(run_dir: Path) -> str | None:
    """The machine a run trained on, from RUN_DIR/environment.json; None where the run has no record
    (trained before the record existed, or the file is damaged). A run resumed on another machine
    reads 'mixed: A; B', since its weights come from both."""
    return _machine_of(_entries(run_dir) or [])


def _machine_of(entries: list[dict]) -> str | None:
    """`trained_on` for records already read."""
    kinds = list(dict.fromkeys(machine(e) for e in entries))
    if not kinds:
        return None
    return kinds[0] if len(kinds) == 1 else "mixed: " + "; ".join(kinds)


def machines_summary(run_dirs: list[Path]) -> str:
    """One paragraph saying which machines the runs behind a table trained on, with a warning
    when there are several: a seeded run differs between machines, so a mean over them mixes the
    machine spread into the seed spread. Where one machine line covers runs recorded on several CPU
    designs (`cpu_id`), it names them and how many runs each trained: such designs rounded alike where
    checked, which a reader of this table can only trust, not see."""
    groups: Counter = Counter()
    designs: dict[str | None, Counter] = {}
    for run in run_dirs:
        entries = _entries(run) or []  # read once for both the machine and its designs
        kind = _machine_of(entries)
        groups[kind] += 1
        designs.setdefault(kind, Counter()).update({e.get("cpu_id") for e in entries} - {None})
    unrecorded = groups.pop(None, 0)
    parts = []
    for kind, count in groups.items():
        behind = designs[kind]
        note = (" (CPU designs behind this line: " + ", ".join(f"{n} on {d}" for d, n in sorted(behind.items()))
                + ")") if len(behind) > 1 else ""
        parts.append(f"{count} on {kind}{note}")
    if unrecorded:
        parts.append(f"{unrecorded} without a readable record (trained before environment.json existed, or the "
                     "file is damaged)")
    text = f"Machines (each run's environment.json): {'; '.join(parts) or 'no runs'}."
    if len(groups) > 1 or any(k.startswith("mixed: ") for k in groups):
        text += (" Warning: more than one machine. A seeded run differs between machines, so a mean"
                 " over these runs mixes machine spread into the seed spread.")
    if any(len(d) > 1 for d in designs.values()):
        text += (" Note: one machine line covers several CPU designs. Designs that share a name and kernel level"
                 " have trained the same models from a seed where checked (docs/results-log.md, forty-fourth pass);"
                 " compare a run per design before trusting a mean over them.")
    return text
