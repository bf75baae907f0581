"""What machine a run trained on, recorded in RUN_DIR/environment.json.

A seeded run repeats bit for bit on one machine, but another CPU's kernels (AVX2 against AVX-512)
round differently and train another model from the same seed (docs/results.md, seventeenth pass).
Recording the machine at every start and resume lets a user tell such a difference from a bug.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

from .checkpoint import atomic_write_bytes

#: environment variables that change which kernels torch runs, hence the numbers a seed gives
KERNEL_VARIABLES = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS",
                    "CUBLAS_WORKSPACE_CONFIG")


def cpu_model() -> str:
    """The CPU's marketing name (Linux /proc/cpuinfo), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe(device: torch.device, resumed: bool) -> dict:
    entry = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "resumed": resumed,
        "host": platform.node(), "python": sys.version.split()[0], "torch": torch.__version__,
        "cpu": cpu_model(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
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
