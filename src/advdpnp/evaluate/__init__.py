"""Evaluation: accuracy under attacks, masking checks, latent metrics."""
