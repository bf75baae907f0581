"""Latent-space geometry (SPEC section 5) as pure functions on feature tensors.

"Anchors" are the class reference points a metric measures against: the prototypes of a prototype
head, or, for a linear head, the class centroids of clean training features. Using the same
definitions for both makes every method comparable. Distances are Euclidean in feature space;
`compactness / separation` is the scale-free summary (features of different models have different
scales, the ratio does not).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def class_centroids(z: torch.Tensor, y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(K, d) mean feature of each class; NaN rows for classes without points."""
    sums = torch.zeros(num_classes, z.shape[1], dtype=z.dtype, device=z.device).index_add_(0, y, z)
    counts = torch.bincount(y, minlength=num_classes).to(z.dtype)
    return sums / counts[:, None]


def compactness(z: torch.Tensor, y: torch.Tensor, anchors: torch.Tensor) -> float:
    """Intra-class compactness: mean distance of each feature to its own class's anchor."""
    return (z - anchors[y]).norm(dim=1).mean().item()


def _off_diagonal(m: torch.Tensor) -> torch.Tensor:
    return m[~torch.eye(len(m), dtype=torch.bool, device=m.device)]


def _present(anchors: torch.Tensor) -> torch.Tensor:
    """Anchors of classes that exist (centroids of absent classes are NaN)."""
    return anchors[~anchors.isnan().any(dim=1)]


def cosine_matrix(anchors: torch.Tensor) -> torch.Tensor:
    """(K, K) pairwise cosine similarity of the anchors."""
    a = F.normalize(anchors, dim=1)
    return a @ a.t()


def angles_deg(anchors: torch.Tensor) -> dict[str, float]:
    """Inter-class separation as angles between anchors: minimum and mean over pairs, in degrees."""
    cos = _off_diagonal(cosine_matrix(_present(anchors))).clamp(-1.0, 1.0)
    ang = torch.rad2deg(torch.arccos(cos.double()))
    return {"angle_min_deg": ang.min().item(), "angle_mean_deg": ang.mean().item()}


def distances(anchors: torch.Tensor) -> dict[str, float]:
    """Inter-class separation as Euclidean distances between anchors: minimum and mean over pairs."""
    a = _present(anchors)
    d = _off_diagonal(torch.cdist(a.double(), a.double()))
    return {"distance_min": d.min().item(), "distance_mean": d.mean().item()}


def silhouette(z: torch.Tensor, y: torch.Tensor, max_points: int = 5000, seed: int = 0) -> float:
    """sklearn's silhouette score (Euclidean) of the labelled features; NaN with fewer than 2 classes.

    Above `max_points` it is estimated on a seeded random subset (the exact score is O(N^2)).
    """
    from sklearn.metrics import silhouette_score

    labels = y.cpu().numpy()
    if len(set(labels.tolist())) < 2 or len(labels) < 3:
        return math.nan
    size = max_points if len(labels) > max_points else None
    return float(silhouette_score(z.double().cpu().numpy(), labels, sample_size=size, random_state=seed))


def nearest_anchor(z: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """Index of the closest anchor of each feature (absent classes are never chosen)."""
    d = torch.cdist(z.double(), anchors.double())
    return d.nan_to_num(math.inf).argmin(dim=1)


def drift(z: torch.Tensor, z_adv: torch.Tensor) -> dict[str, float]:
    """Clean-to-adversarial feature drift: mean ||z - z_adv||, also relative to the mean ||z||."""
    mean = (z - z_adv).norm(dim=1).mean().item()
    scale = z.norm(dim=1).mean().item()
    return {"drift_mean": mean, "drift_relative": mean / scale if scale > 0 else math.nan}


def nearest_anchor_change(z: torch.Tensor, z_adv: torch.Tensor, anchors: torch.Tensor) -> float:
    """Fraction of attacked points whose nearest anchor differs from that of their clean feature."""
    return (nearest_anchor(z, anchors) != nearest_anchor(z_adv, anchors)).double().mean().item()


def feature_geometry(z: torch.Tensor, y: torch.Tensor, anchors: torch.Tensor, num_classes: int) -> dict[str, float]:
    """Compactness, centroid separation, their ratio and the silhouette of one set of features."""
    cent = class_centroids(z, y, num_classes)
    to_centroid = compactness(z, y, cent)
    sep = distances(cent)
    out = {"compactness_anchor": compactness(z, y, anchors), "compactness_centroid": to_centroid,
           **{f"centroid_{k}": v for k, v in sep.items()},
           **{f"centroid_{k}": v for k, v in angles_deg(cent).items()},
           "silhouette": silhouette(z, y),
           "nearest_anchor_accuracy": (nearest_anchor(z, anchors) == y).double().mean().item()}
    out["compactness_separation_ratio"] = (to_centroid / sep["distance_mean"]
                                           if sep["distance_mean"] > 0 else math.nan)
    return out


def latent_metrics(z: torch.Tensor, z_adv: torch.Tensor, y: torch.Tensor, anchors: torch.Tensor) -> dict:
    """All latent metrics of clean features `z` and their attacked counterparts `z_adv` (same order).

    `anchors` (K, d): prototypes, or class centroids of clean training features for linear heads.
    """
    k = len(anchors)
    return {
        "anchors": {**angles_deg(anchors), **distances(anchors)},
        "clean": feature_geometry(z, y, anchors, k),
        "adversarial": feature_geometry(z_adv, y, anchors, k),
        "drift": {**drift(z, z_adv), "nearest_anchor_change": nearest_anchor_change(z, z_adv, anchors)},
    }
