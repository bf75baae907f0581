"""Copy an `advdpnp report` folder into docs/: report.md, table.csv, and the PNGs as 128-colour palettes.

The palettes are about a third of the size; report.html embeds every image and stays in the run folder.
Usage: python scripts/publish_report.py REPORT_DIR DST_DIR   (e.g. runs/study/report docs/figures/digits)
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from PIL import Image


def main(src: Path, dst: Path) -> None:
    (dst / "figures").mkdir(parents=True, exist_ok=True)
    for name in ("report.md", "table.csv"):
        shutil.copyfile(src / name, dst / name)
    for png in sorted((src / "figures").glob("*.png")):
        Image.open(png).convert("RGB").quantize(colors=128).save(dst / "figures" / png.name, optimize=True)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
