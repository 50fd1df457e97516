"""pyg_tabular: graph attention over the features of a table, for PyTorch Geometric."""

__version__ = "0.1.0"

from pyg_tabular import data, datasets, estimators, nn, transforms, utils  # noqa: E402
from pyg_tabular.estimators import FeatureGraphClassifier, FeatureGraphRegressor  # noqa: E402

__all__ = [
    "__version__",
    "FeatureGraphClassifier",
    "FeatureGraphRegressor",
    "data",
    "datasets",
    "estimators",
    "nn",
    "transforms",
    "utils",
]
