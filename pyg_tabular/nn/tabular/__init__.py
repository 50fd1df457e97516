"""Ready ``(batch, features)`` modules that drop into any ``torch.nn.Sequential``."""

from pyg_tabular.nn.tabular.advanced_graph_feature_layer import AdvancedGraphFeatureLayer
from pyg_tabular.nn.tabular.gated_feature_fusion import GatedFeatureFusion
from pyg_tabular.nn.tabular.graph_feature_aggregation import GraphFeatureAggregation
from pyg_tabular.nn.tabular.row_attention import RowAttention

__all__ = [
    "GraphFeatureAggregation",
    "AdvancedGraphFeatureLayer",
    "GatedFeatureFusion",
    "RowAttention",
]
