"""Dense twins of the feature-attention convs, on ``[B, F, C]`` tensors."""

from pyg_tabular.nn.dense.dense_feature_diff_gat_conv import DenseFeatureDiffGATConv
from pyg_tabular.nn.dense.dense_feature_gat_conv import DenseFeatureGATConv

__all__ = ["DenseFeatureGATConv", "DenseFeatureDiffGATConv"]
