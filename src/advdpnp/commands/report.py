"""`advdpnp report RUN_DIR... [-o DIR]`: paper-shaped tables and figures across runs."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "report"
HELP = "write a Markdown/HTML report (tables as CSV/JSON too, figures as PNG) over one or more runs"
ORDER = 40


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("-o", "--out", default="report", help="output folder (default: ./report)")
    p.add_argument("--embedding", choices=("tsne", "umap"), default="tsne",
                   help="2-D embedding of the latent features (umap needs the umap-learn package)")


def run(args: argparse.Namespace) -> int:
    from ..report.build import build_report
    from ..report.runs import load_record
    from ..report.tables import main_table, to_markdown

    records = [load_record(d) for d in args.run_dirs]
    paths = build_report(records, Path(args.out), args.embedding)
    print(to_markdown(main_table(records)))
    print(f"written {paths['markdown']}, {paths['html']}, {paths['csv']}, {paths['json']} "
          f"and {len(paths) - 4} figures")
    return 0
