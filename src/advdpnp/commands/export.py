"""`advdpnp export RUN_DIR [--checkpoint best|last] [-o DIR]`: safetensors weights + a JSON model card.

The export holds no pickle at all, so it can be shared and loaded without trusting its author;
`advdpnp eval DIR` and `advdpnp.evaluate.load.load_run` accept it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import add_checkpoint_argument, write_json

NAME = "export"
HELP = "export a run's model as safetensors plus a JSON model card (no pickle)"
ORDER = 40


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", metavar="RUN_DIR|CKPT")
    add_checkpoint_argument(p)
    p.add_argument("-o", "--out", metavar="DIR", help="output folder (default: RUN_DIR/export)")


def run(args: argparse.Namespace) -> int:
    from ..evaluate.load import CARD_NAME, WEIGHTS_NAME
    from ..paths import find_checkpoint

    ckpt = find_checkpoint(args.target, args.checkpoint)
    out = Path(args.out) if args.out else ckpt.parent.parent / "export"
    weights, card = export_checkpoint(ckpt, out)
    print(f"written {out / WEIGHTS_NAME} ({card['num_parameters']} parameters, sha256 "
          f"{card['weights_sha256'][:12]}...) and {out / CARD_NAME}")
    return 0


def export_checkpoint(ckpt: Path, out: Path) -> tuple[Path, dict]:
    """Write `out/model.safetensors` and `out/model_card.json` for checkpoint `ckpt`."""
    import hashlib

    from safetensors.torch import save

    from .. import __version__
    from ..errors import UserError
    from ..evaluate.load import CARD_NAME, WEIGHTS_NAME, load_checkpoint_model
    from ..train.checkpoint import atomic_write_bytes
    from ..train.lock import prepare_run_dir

    cfg, model, state = load_checkpoint_model(ckpt, "cpu")
    tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    data = save(tensors)
    prepare_run_dir(out)
    weights = out / WEIGHTS_NAME
    try:
        atomic_write_bytes(data, weights)
    except OSError as e:
        raise UserError(f"cannot write {weights}: {e.strerror or e}") from None
    card = {
        "format": "advdpnp-export-1", "code_version": f"advdpnp {__version__}",
        "method": cfg.method["name"], "arch": cfg.model.arch, "head": cfg.model.head,
        "has_prototypes": model.has_prototypes, "dataset": cfg.data.name, "threat_model": "Linf",
        "eps": cfg.attack.eps, "num_classes": int(state["num_classes"]),
        "image_shape": [int(s) for s in state["image_shape"]], "input_range": [0.0, 1.0],
        "normalization": "inside the model (buffers mean/std)",
        "checkpoint": ckpt.name, "epoch": int(state["epoch"]),
        "num_parameters": sum(p.numel() for p in model.parameters()),
        "weights_file": WEIGHTS_NAME, "weights_sha256": hashlib.sha256(data).hexdigest(),
        "accuracy": _accuracy(ckpt.parent.parent / "results.json"),
        "config": cfg.to_dict(),
    }
    write_json(card, out / CARD_NAME)
    return weights, card


def _accuracy(results_path: Path) -> dict | None:
    """Clean and robust test accuracy per attack from the run's results.json (None when absent)."""
    import json

    if not results_path.is_file():
        return None
    try:
        res = json.loads(results_path.read_text())
        acc = {name: r["accuracy"] for name, r in res.get("attacks", {}).items() if "accuracy" in r}
    except (ValueError, AttributeError, TypeError):
        return None
    return {"source": "results.json", "checkpoint": res.get("checkpoint"), "n": res.get("n"),
            "split": res.get("split"), "per_attack": acc}
