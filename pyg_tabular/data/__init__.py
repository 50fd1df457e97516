"""Rows ⇄ feature graphs: the converter and feature-graph templates."""

from pyg_tabular.data.edge_index import fully_connected_edge_index, repeat_template
from pyg_tabular.data.feature_graph import graph_to_rows, rows_to_graph, to_static_graph

__all__ = [
    "fully_connected_edge_index",
    "repeat_template",
    "rows_to_graph",
    "graph_to_rows",
    "to_static_graph",
]
