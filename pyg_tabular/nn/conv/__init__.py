"""Message-passing attention layers over feature graphs (any graph, PyG ``Batch``)."""

from pyg_tabular.nn.conv.feature_diff_gat_conv import FeatureDiffGATConv
from pyg_tabular.nn.conv.feature_gat_conv import FeatureGATConv

__all__ = ["FeatureGATConv", "FeatureDiffGATConv"]
