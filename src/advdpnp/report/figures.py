"""Report figures (PNG, matplotlib Agg). Each function takes plain data and an output path.

Every figure carries a title, axis labels and a legend, and uses the Okabe-Ito palette (safe for
the common colour-vision deficiencies); class colours are paired with marker shapes so that
classes stay distinguishable in grey-scale as well.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
#: Okabe-Ito plus Tol's wine and a mid grey: ten distinct colours, one per class of a 10-class set.
PALETTE = OKABE_ITO + ["#882255", "#8C8C8C"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "h"]
DPI = 130


def _rc() -> dict:
    return {"font.size": 11, "axes.titlesize": 13, "axes.labelsize": 12, "legend.fontsize": 10,
            "axes.grid": True, "grid.alpha": 0.3, "axes.prop_cycle": matplotlib.cycler(color=PALETTE)}


def _save(fig: plt.Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def _style(i: int) -> tuple[str, str]:
    """Colour and marker of series i: colours cycle first, markers change every palette round."""
    return PALETTE[i % len(PALETTE)], MARKERS[(i + i // len(PALETTE)) % len(MARKERS)]


def embed_2d(points: np.ndarray, method: str = "tsne", seed: int = 0) -> tuple[np.ndarray, str]:
    """2-D embedding of the rows of `points`: UMAP when requested and installed, else t-SNE."""
    if method == "umap":
        try:
            import umap  # type: ignore[import-not-found]

            return umap.UMAP(n_components=2, random_state=seed).fit_transform(points), "UMAP"
        except ImportError:
            pass
    from sklearn.manifold import TSNE

    perplexity = float(min(30.0, max(2.0, (len(points) - 1) / 3)))
    emb = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(points)
    return emb, "t-SNE"


def embedding_figure(z: torch.Tensor, z_adv: torch.Tensor, y: torch.Tensor, anchors: torch.Tensor,
                     anchor_label: str, title: str, path: Path, method: str = "tsne") -> Path:
    """Clean and adversarial features side by side in one joint 2-D embedding, anchors as stars.

    The anchors are embedded together with the features, so their position is comparable.
    """
    n, k = len(z), len(anchors)
    present = ~anchors.isnan().any(dim=1)
    pts = torch.cat([z, z_adv, anchors[present]]).double().cpu().numpy()
    emb, used = embed_2d(pts, method)
    parts = {"clean test features": emb[:n], "adversarial (PGD) test features": emb[n:2 * n]}
    anchor_xy, anchor_cls = emb[2 * n:], torch.arange(k)[present].tolist()
    labels = y.cpu().numpy()
    many = k > 10
    with plt.rc_context(_rc()):
        fig, axes = plt.subplots(1, 2, figsize=(13, 6), sharex=True, sharey=True, layout="constrained")
        for ax, (name, xy) in zip(axes, parts.items()):
            if many:
                sc = ax.scatter(xy[:, 0], xy[:, 1], c=labels, cmap="viridis", s=10, alpha=0.7)
            else:
                for c in range(k):
                    col, mk = _style(c)
                    sel = labels == c
                    ax.scatter(xy[sel, 0], xy[sel, 1], color=col, marker=mk, s=16, alpha=0.6,
                               label=f"class {c}")
            for (ax_x, ax_y), c in zip(anchor_xy, anchor_cls):
                col = _style(c)[0] if not many else "white"
                ax.scatter([ax_x], [ax_y], marker="*", s=200 if many else 420, color=col, edgecolor="black",
                           linewidth=1.5, zorder=5)
                if k <= 20:
                    ax.annotate(str(c), (ax_x, ax_y), xytext=(7, 7), textcoords="offset points",
                                fontsize=11, fontweight="bold", zorder=6)
            ax.set_title(name)
            ax.set_xlabel(f"{used} dimension 1")
        axes[0].set_ylabel(f"{used} dimension 2")
        star = plt.Line2D([], [], marker="*", color="white", markeredgecolor="black", markersize=16,
                          linestyle="none", label=anchor_label)
        if many:
            fig.colorbar(sc, ax=axes, label="class")
            axes[1].legend(handles=[star], loc="best")
        else:
            handles, names = axes[0].get_legend_handles_labels()
            fig.legend(handles + [star], names + [anchor_label], loc="outside right center", markerscale=1.5,
                       title="legend")
        fig.suptitle(title)
        return _save(fig, path)


def cosine_heatmap(anchors: torch.Tensor, anchor_label: str, title: str, path: Path) -> Path:
    """K x K cosine similarity of the anchors, diverging colour map centred on 0, values written in."""
    from ..evaluate.latent import cosine_matrix

    cos = cosine_matrix(anchors.double()).cpu().numpy()
    k = len(cos)
    with plt.rc_context({**_rc(), "axes.grid": False}):
        fig, ax = plt.subplots(figsize=(max(5.5, 0.55 * k + 2), max(4.5, 0.5 * k + 1.5)))
        im = ax.imshow(cos, cmap="RdBu_r", vmin=-1, vmax=1)
        fig.colorbar(im, ax=ax, label="cosine similarity")
        if k <= 12:
            for i in range(k):
                for j in range(k):
                    v = cos[i, j]
                    ax.text(j, i, "–" if math.isnan(v) else f"{v:.2f}", ha="center", va="center", fontsize=9,
                            color="white" if abs(v) > 0.6 else "black")
        step = 1 if k <= 20 else math.ceil(k / 20)
        ax.set_xticks(range(0, k, step))
        ax.set_yticks(range(0, k, step))
        ax.set_xlabel(f"class ({anchor_label})")
        ax.set_ylabel(f"class ({anchor_label})")
        ax.set_title(textwrap.fill(title, 48))
        return _save(fig, path)


def eps_curves(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], path: Path,
               train_eps: float | None = None, title: str = "Robust accuracy against the attack radius") -> Path:
    """Accuracy (%) against L-inf eps, one line per run."""
    with plt.rc_context(_rc()):
        fig, ax = plt.subplots(figsize=(7.5, 5))
        for i, (name, (eps, acc)) in enumerate(curves.items()):
            col, mk = _style(i)
            ax.plot(eps, [100 * a for a in acc], marker=mk, color=col, label=name, linewidth=2)
        if train_eps is not None:
            ax.axvline(train_eps, color="grey", linestyle="--", label=f"training eps = {train_eps:g}")
        ax.set_xlabel("L-inf radius eps (pixel scale [0, 1])")
        ax.set_ylabel("accuracy under attack (%)")
        ax.set_ylim(0, 100)
        ax.set_title(title)
        ax.legend(title="run")
        return _save(fig, path)


def corruption_bars(per_severity: Mapping[str, Mapping[str, float]], path: Path,
                    title: str = "Accuracy on corrupted test images per severity") -> Path:
    """Grouped bars: severity on the x axis, one bar per run, accuracy (%) on the y axis."""
    sevs = sorted({s for d in per_severity.values() for s in d}, key=lambda s: float(s))
    width = 0.8 / max(len(per_severity), 1)
    hatches = ["", "//", "..", "xx", "\\\\", "oo", "--", "++"]
    with plt.rc_context(_rc()):
        fig, ax = plt.subplots(figsize=(max(7.5, 1.3 * len(sevs) * max(1, len(per_severity)) / 2), 5))
        for i, (name, d) in enumerate(per_severity.items()):
            xs = [j + (i - (len(per_severity) - 1) / 2) * width for j, s in enumerate(sevs) if s in d]
            vals = [100 * d[s] for s in sevs if s in d]
            bars = ax.bar(xs, vals, width=width, color=_style(i)[0], hatch=hatches[i % len(hatches)],
                          edgecolor="black", linewidth=0.6, label=name)
            ax.bar_label(bars, fmt="%.0f", fontsize=8, padding=2)
        ax.set_xticks(range(len(sevs)))
        ax.set_xticklabels(sevs)
        ax.set_xlabel("corruption severity")
        ax.set_ylabel("accuracy (%), mean over corruptions")
        ax.set_ylim(0, 105)
        ax.set_title(title)
        ax.legend(title="run", loc="upper left", bbox_to_anchor=(1.01, 1.0))
        return _save(fig, path)


def training_curves(rows: Sequence[Mapping], title: str, path: Path) -> Path:
    """Left: each training loss term per epoch; right: clean and PGD validation accuracy (%)."""
    terms = [k for k in dict.fromkeys(k for r in rows for k in r) if k.startswith("train_")]
    losses = [k for k in terms if "acc" not in k]
    accs = [k for k in terms if "acc" in k] + [k for k in ("val_clean", "val_pgd") if any(k in r for r in rows)]
    names = {"val_clean": "validation, clean", "val_pgd": "validation, PGD",
             "train_acc": "training batches, clean", "train_acc_adv": "training batches, adversarial"}
    with plt.rc_context(_rc()):
        fig, (ax_l, ax_a) = plt.subplots(1, 2, figsize=(13, 5))
        for i, k in enumerate(losses):
            ep = [r["epoch"] for r in rows if k in r]
            col, mk = _style(i)
            total = k == "train_loss"  # dashed and wider, so a term equal to the total stays visible
            ax_l.plot(ep, [r[k] for r in rows if k in r], marker=mk, color=col, linestyle="--" if total else "-",
                      linewidth=3 if total else 1.5, label="total" if total else k.removeprefix("train_"))
        ax_l.set_title("training loss terms (epoch mean)")
        ax_l.set_xlabel("epoch")
        ax_l.set_ylabel("loss value")
        if losses:
            ax_l.legend(title="term", ncol=2 if len(losses) > 5 else 1)
        for i, k in enumerate(accs):
            ep = [r["epoch"] for r in rows if k in r]
            col, mk = _style(i)
            dashed = "--" if k.startswith("train_") else "-"
            ax_a.plot(ep, [100 * r[k] for r in rows if k in r], marker=mk, color=col, linestyle=dashed,
                      linewidth=2, label=names.get(k, "training batches " + k.removeprefix("train_")))
        for ax in (ax_l, ax_a):
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax_a.set_title("accuracy")
        ax_a.set_xlabel("epoch")
        ax_a.set_ylabel("accuracy (%)")
        ax_a.set_ylim(0, 100)
        if accs:
            ax_a.legend(title="split")
        fig.suptitle(title)
        fig.tight_layout()
        return _save(fig, path)
