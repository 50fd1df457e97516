"""End-to-end models built from the feature-graph layers."""

from pyg_tabular.nn.models.feature_graph_net import FeatureGraphNet

__all__ = ["FeatureGraphNet"]
