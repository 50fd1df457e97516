"""Feature graphs that are learned: which features of a table interact."""

from pyg_tabular.nn.graph.knn_feature_graph import KNNFeatureGraph
from pyg_tabular.nn.graph.learned_feature_graph import WEIGHTINGS, LearnedFeatureGraph
from pyg_tabular.nn.graph.relation_graph import RelationEdges, RelationGraph

__all__ = ["LearnedFeatureGraph", "KNNFeatureGraph", "RelationEdges", "RelationGraph", "WEIGHTINGS"]
