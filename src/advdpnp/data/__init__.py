"""Dataset registry and readers. Importing this package registers every dataset."""

from . import cifar, digits, fashion_mnist, svhn  # noqa: F401  (registration side effects)
from .base import DATASETS, RawDataset
from .splits import DataSplits, build_data

__all__ = ["DATASETS", "RawDataset", "DataSplits", "build_data"]
