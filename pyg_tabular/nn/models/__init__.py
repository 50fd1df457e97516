"""End-to-end models built from the feature-graph layers."""

from pyg_tabular.nn.models.feature_graph_net import FeatureGraphNet
from pyg_tabular.nn.models.layer_kind import LAYER_KINDS, LayerKind, register_layer

__all__ = ["FeatureGraphNet", "LayerKind", "LAYER_KINDS", "register_layer"]
