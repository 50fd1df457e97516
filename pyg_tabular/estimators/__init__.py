"""scikit-learn estimators on feature-graph attention.

They need scikit-learn (their base classes and input checks come from it):
without it they import, and building one raises an :class:`ImportError`.
pandas and tqdm stay optional: ``feature_attention`` returns a DataFrame, and
``fit`` shows a progress bar when tqdm is installed.
"""

from pyg_tabular.estimators._sklearn import NotFittedError
from pyg_tabular.estimators.feature_graph_classifier import FeatureGraphClassifier
from pyg_tabular.estimators.feature_graph_regressor import FeatureGraphRegressor

__all__ = ["FeatureGraphClassifier", "FeatureGraphRegressor", "NotFittedError"]
