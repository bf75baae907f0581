"""Latent metrics on synthetic features whose geometry fixes every value."""

from __future__ import annotations

import math

import pytest
import torch

from advdpnp.evaluate import latent

K, R, PER_CLASS = 4, 3.0, 5


def simplex(k: int = K, r: float = R) -> torch.Tensor:
    """k prototypes of norm r on a regular simplex: every pairwise cosine is -1/(k-1)."""
    e = torch.eye(k, dtype=torch.float64)
    return r * torch.nn.functional.normalize(e - e.mean(0), dim=1)


@pytest.fixture
def at_prototypes():
    p = simplex()
    y = torch.arange(K).repeat_interleave(PER_CLASS)
    return p, p[y].clone(), y


def test_simplex_angles_and_distances(at_prototypes):
    p, _, _ = at_prototypes
    angle = math.degrees(math.acos(-1 / (K - 1)))
    side = R * math.sqrt(2 * (1 + 1 / (K - 1)))
    a, d = latent.angles_deg(p), latent.distances(p)
    assert a["angle_min_deg"] == pytest.approx(angle) and a["angle_mean_deg"] == pytest.approx(angle)
    assert d["distance_min"] == pytest.approx(side) and d["distance_mean"] == pytest.approx(side)


def test_features_at_prototypes_are_perfectly_compact(at_prototypes):
    p, z, y = at_prototypes
    g = latent.feature_geometry(z, y, p, K)
    assert g["compactness_anchor"] == pytest.approx(0, abs=1e-12)
    assert g["compactness_centroid"] == pytest.approx(0, abs=1e-12)
    assert g["compactness_separation_ratio"] == pytest.approx(0, abs=1e-12)
    assert g["silhouette"] == pytest.approx(1.0)
    assert g["nearest_anchor_accuracy"] == 1.0
    # the centroids coincide with the prototypes, so they inherit the simplex separation
    assert g["centroid_angle_min_deg"] == pytest.approx(math.degrees(math.acos(-1 / (K - 1))))


def test_compactness_to_anchor_and_to_centroid_differ_by_construction():
    """Features at +-s around a point shifted by c from the prototype: distances s to the centroid,
    sqrt(s^2 + c^2) to the prototype."""
    p = simplex(2, 1.0)
    s, c = 0.3, 0.4
    perp = torch.tensor([1.0, 1.0], dtype=torch.float64) / math.sqrt(2)  # orthogonal to p[0] - p[1]
    along = torch.nn.functional.normalize(p[0] - p[1], dim=0)
    z0 = torch.stack([p[0] + c * perp + s * along, p[0] + c * perp - s * along])
    z = torch.cat([z0, p[1:].repeat(2, 1)])
    y = torch.tensor([0, 0, 1, 1])
    cent = latent.class_centroids(z, y, 2)
    assert torch.allclose(cent[0], p[0] + c * perp)
    assert latent.compactness(z[:2], y[:2], cent) == pytest.approx(s)
    assert latent.compactness(z[:2], y[:2], p) == pytest.approx(math.hypot(s, c))


def test_drift_and_nearest_anchor_change(at_prototypes):
    p, z, y = at_prototypes
    z_adv = z.clone()
    moved = [0, 6, 7]  # three of the twenty points jump to the next class's prototype
    for i in moved:
        z_adv[i] = p[(y[i] + 1) % K]
    side = R * math.sqrt(2 * (1 + 1 / (K - 1)))
    d = latent.drift(z, z_adv)
    assert d["drift_mean"] == pytest.approx(len(moved) * side / len(z))
    assert d["drift_relative"] == pytest.approx(len(moved) * side / len(z) / R)
    assert latent.nearest_anchor_change(z, z_adv, p) == pytest.approx(len(moved) / len(z))
    assert latent.drift(z, z) == {"drift_mean": 0.0, "drift_relative": 0.0}
    # a small move that stays closest to the same prototype is drift without a change
    assert latent.nearest_anchor_change(z, z + 0.1, p) == 0.0
    # a clean point already at a wrong prototype that stays there has not changed (labels play no part)
    wrong = z.clone()
    wrong[0] = p[2]
    assert latent.nearest_anchor_change(wrong, wrong, p) == 0.0


def test_latent_metrics_bundle(at_prototypes):
    p, z, y = at_prototypes
    z_adv = z.clone()
    z_adv[:PER_CLASS] = p[1]  # all of class 0 lands on prototype 1
    m = latent.latent_metrics(z, z_adv, y, p)
    assert m["clean"]["silhouette"] == pytest.approx(1.0)
    assert m["adversarial"]["nearest_anchor_accuracy"] == pytest.approx(1 - 1 / K)
    assert m["adversarial"]["compactness_anchor"] == pytest.approx(
        R * math.sqrt(2 * (1 + 1 / (K - 1))) / K)
    assert m["drift"]["nearest_anchor_change"] == pytest.approx(1 / K)
    # class 0 and class 1 now overlap: the silhouette must drop below 1
    assert m["adversarial"]["silhouette"] < 0.9


def test_missing_class_centroid_is_ignored():
    z = torch.tensor([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    y = torch.tensor([0, 0, 2])
    cent = latent.class_centroids(z, y, 3)
    assert torch.isnan(cent[1]).all()
    assert latent.angles_deg(cent)["angle_min_deg"] == pytest.approx(90.0)
    assert latent.nearest_anchor(torch.tensor([[0.1, 0.1]], dtype=torch.float64), cent).item() in (0, 2)
    assert math.isnan(latent.silhouette(z[:2], y[:2]))
