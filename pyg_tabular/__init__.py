"""pyg_tabular: graph attention over the features of a table, for PyTorch Geometric."""

__version__ = "0.1.0"

from pyg_tabular import data, datasets, nn, transforms, utils  # noqa: E402

__all__ = ["__version__", "data", "datasets", "nn", "transforms", "utils"]
