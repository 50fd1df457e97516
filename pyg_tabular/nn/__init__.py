"""Feature-graph layers: sparse convs, dense twins, learned graphs, pooling and tabular modules.

As :mod:`torch_geometric.nn` does, the package exports its layers and models
by name (``from pyg_tabular.nn import FeatureGATConv``); the subpackages
(:mod:`~pyg_tabular.nn.conv`, :mod:`~pyg_tabular.nn.dense`, ...) export the
same objects.
"""

from pyg_tabular.nn import conv, dense, functional, graph, models, pool, tabular
from pyg_tabular.nn.conv import FeatureDiffGATConv, FeatureGATConv
from pyg_tabular.nn.dense import DenseFeatureDiffGATConv, DenseFeatureGATConv
from pyg_tabular.nn.graph import KNNFeatureGraph, LearnedFeatureGraph
from pyg_tabular.nn.models import FeatureGAT, FeatureGraphNet, swap_gat_convs
from pyg_tabular.nn.pool import FeatureGroupPool
from pyg_tabular.nn.tabular import (
    AdvancedGraphFeatureLayer,
    GatedFeatureFusion,
    GraphFeatureAggregation,
    RowAttention,
)

__all__ = [
    "conv",
    "dense",
    "functional",
    "graph",
    "models",
    "pool",
    "tabular",
    "FeatureGATConv",
    "FeatureDiffGATConv",
    "DenseFeatureGATConv",
    "DenseFeatureDiffGATConv",
    "LearnedFeatureGraph",
    "KNNFeatureGraph",
    "FeatureGroupPool",
    "GraphFeatureAggregation",
    "AdvancedGraphFeatureLayer",
    "GatedFeatureFusion",
    "RowAttention",
    "FeatureGraphNet",
    "FeatureGAT",
    "swap_gat_convs",
]
