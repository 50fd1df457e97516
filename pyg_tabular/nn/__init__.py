"""Feature-graph layers: sparse convs, dense twins, learned graphs, pooling and tabular modules."""

from pyg_tabular.nn import conv, dense, functional, graph, models, pool, tabular

__all__ = ["conv", "dense", "functional", "graph", "models", "pool", "tabular"]
