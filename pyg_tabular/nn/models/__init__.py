"""End-to-end models built from the feature-graph layers."""

from pyg_tabular.nn.models.column_encoder import (
    NUMERIC_EMBEDDINGS,
    TREE_BIN_OPTIONS,
    ColumnEncoder,
    fit_bins,
)
from pyg_tabular.nn.models.feature_gat import FeatureGAT, swap_gat_convs
from pyg_tabular.nn.models.feature_graph_net import BLOCKS, READOUTS, FeatureGraphNet
from pyg_tabular.nn.models.graph_kind import GRAPH_KINDS, GRAPHS, register_graph
from pyg_tabular.nn.models.layer_kind import LAYER_KINDS, LayerKind, register_layer

__all__ = [
    "FeatureGraphNet",
    "ColumnEncoder",
    "fit_bins",
    "NUMERIC_EMBEDDINGS",
    "TREE_BIN_OPTIONS",
    "BLOCKS",
    "READOUTS",
    "LayerKind",
    "LAYER_KINDS",
    "register_layer",
    "FeatureGAT",
    "swap_gat_convs",
    "GRAPH_KINDS",
    "GRAPHS",
    "register_graph",
]
