"""PyG dataset transforms for feature graphs."""

from pyg_tabular.transforms.drop_missing_features import DropMissingFeatures
from pyg_tabular.transforms.feature_knn_graph import FeatureKNNGraph
from pyg_tabular.transforms.standardize_features import StandardizeFeatures
from pyg_tabular.transforms.to_feature_graph import ToFeatureGraph

__all__ = [
    "ToFeatureGraph",
    "StandardizeFeatures",
    "FeatureKNNGraph",
    "DropMissingFeatures",
]
