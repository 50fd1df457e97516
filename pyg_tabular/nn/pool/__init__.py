"""Pooling of feature graphs."""

from pyg_tabular.nn.pool.feature_group_pool import FeatureGroupPool

__all__ = ["FeatureGroupPool"]
