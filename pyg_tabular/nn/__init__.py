"""Feature-graph layers: sparse convs, dense twins, pooling and tabular modules."""

from pyg_tabular.nn import conv, dense, functional, models, pool, tabular

__all__ = ["conv", "dense", "functional", "models", "pool", "tabular"]
