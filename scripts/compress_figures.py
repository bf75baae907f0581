"""Copy a report's PNGs into docs/ as 128-colour palettes (about a third of the size).

report.html embeds every image and stays in the run folder; docs/ keeps only these PNGs.
Usage: python scripts/compress_figures.py SRC_FIGURES_DIR DST_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image


def main(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for png in sorted(src.glob("*.png")):
        Image.open(png).convert("RGB").quantize(colors=128).save(dst / png.name, optimize=True)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
