"""pyg_tabular: graph attention over the features of a table, for PyTorch Geometric."""

__version__ = "0.1.0"

from pyg_tabular import data, nn, transforms, utils  # noqa: E402

__all__ = ["__version__", "data", "nn", "transforms", "utils"]
