"""scikit-learn style estimators on feature-graph attention.

scikit-learn, pandas and tqdm are optional here: they are imported only by the
methods that need them (``feature_attention`` returns a DataFrame; ``fit``
shows a progress bar when tqdm is installed).
"""

from pyg_tabular.estimators._base import NotFittedError
from pyg_tabular.estimators.feature_graph_classifier import FeatureGraphClassifier
from pyg_tabular.estimators.feature_graph_regressor import FeatureGraphRegressor

__all__ = ["FeatureGraphClassifier", "FeatureGraphRegressor", "NotFittedError"]
