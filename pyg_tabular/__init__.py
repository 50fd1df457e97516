"""pyg_tabular: graph attention over the features of a table, for PyTorch Geometric.

The subpackages are imported on first use (PEP 562), so that a light entry
point such as ``pyg-tabular --help`` does not pay for torch, PyTorch
Geometric and scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from pyg_tabular import data, datasets, estimators, nn, transforms, utils
    from pyg_tabular.estimators import FeatureGraphClassifier, FeatureGraphRegressor

_SUBPACKAGES = ("data", "datasets", "estimators", "nn", "transforms", "utils")
# Names exported here that live in a subpackage.
_FROM_SUBPACKAGE = {
    "FeatureGraphClassifier": "estimators",
    "FeatureGraphRegressor": "estimators",
}

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


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _FROM_SUBPACKAGE:
        value = getattr(importlib.import_module(f"{__name__}.{_FROM_SUBPACKAGE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
