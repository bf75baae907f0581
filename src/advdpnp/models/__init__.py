"""Backbone registry, heads and the full classifier. Importing this package registers every backbone."""

from . import mlp, preact_resnet, resnet, small_cnn, wide_resnet  # noqa: F401  (registration side effects)
from .base import MODELS, Backbone
from .classifier import Classifier, build_model
from .heads import LinearHead, PrototypeHead

__all__ = ["MODELS", "Backbone", "Classifier", "build_model", "LinearHead", "PrototypeHead"]
