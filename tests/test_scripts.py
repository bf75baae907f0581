"""The shell scripts that README and docs/results.md tell users to run as `scripts/NAME.sh`."""

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_shell_script_is_executable_and_every_documented_one_exists():
    """docs/results.md runs `scripts/reproduce_fmnist.sh` directly; committed without its executable bit it
    stopped with 'Permission denied' on a fresh clone."""
    scripts = sorted((ROOT / "scripts").glob("*.sh"))
    assert scripts
    assert [s.name for s in scripts if not os.access(s, os.X_OK)] == []
    documented = set()
    for doc in (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))):
        documented |= set(re.findall(r"scripts/[\w-]+\.sh", doc.read_text()))
    assert documented and sorted(d for d in documented if not (ROOT / d).is_file()) == []
