r"""The static correlation prior as a module: each feature's k most correlated features."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from pyg_tabular.nn.graph._common import check_graph_size
from pyg_tabular.nn.graph._common import feature_names as feature_names_of
from pyg_tabular.nn.graph.relation_graph import RelationEdges, RelationGraph
from pyg_tabular.transforms import FeatureKNNGraph


class KNNFeatureGraph(torch.nn.Module):
    r"""A static feature graph from the training rows: every feature listens
    to the :math:`k` features it correlates with most, as
    :class:`~pyg_tabular.transforms.FeatureKNNGraph` builds it, held as a
    module so that a model can carry it, save it and hand it to its convs
    in the form :class:`LearnedFeatureGraph` uses.

    :meth:`fit` computes the Pearson correlations :math:`\rho_{ij}` on the
    training rows (NaN-aware) and keeps, for each target :math:`i`, the
    :math:`k` sources :math:`j \ne i` of largest :math:`|\rho_{ij}|`, plus
    its self-loop. The template is a persistent buffer: it travels with the
    model's ``state_dict``. The graph has no weights and no parameters;
    correlation is a prior about which features move together, not about
    which features combine to predict.

    Args:
        num_features (int): Number of features :math:`F`.
        k (int): Sources kept per target, :math:`0 \le k \le F - 1`.
        feature_names (sequence of str, optional): Names for
            :meth:`relation_graph`. (default: ``"0"``, ``"1"``, ...)

    Example:
        >>> t = torch.linspace(-1, 1, 21)
        >>> graph = KNNFeatureGraph(4, k=1).fit(torch.stack([t, t**2, t**3, t**4], dim=1))
        >>> graph().edge_index  # odd powers together, even powers together
        tensor([[0, 2, 1, 3, 0, 2, 1, 3],
                [0, 0, 1, 1, 2, 2, 3, 3]])
        >>> graph().edge_weight is None
        True
    """

    #: Whether the graph's edges carry weights.
    weighted = False

    template: Tensor
    correlation: Tensor
    fitted: Tensor

    def __init__(
        self, num_features: int, k: int, *, feature_names: Sequence[str] | None = None
    ) -> None:
        super().__init__()
        num_features, k = check_graph_size(num_features, k)
        self.num_features = num_features
        self.k = k
        self.feature_names = feature_names_of(feature_names, num_features)
        per_target = k + 1
        # Filled by fit (or by load_state_dict); the self-loops alone until then.
        loops = torch.arange(num_features).repeat_interleave(per_target)
        self.register_buffer("template", torch.stack([loops, loops]))
        self.register_buffer("correlation", torch.eye(num_features))
        self.register_buffer("fitted", torch.tensor(k == 0))

    def fit(self, rows: Any) -> KNNFeatureGraph:
        r"""Fits the correlations and the template on the training rows
        ``[N, F]`` (NaN marks a missing cell).

        Returns:
            The module itself.
        """
        if self.k == 0:
            return self
        knn = FeatureKNNGraph(self.k, self_loops=True).fit(rows)
        if knn.num_features != self.num_features:
            raise ValueError(
                f"rows must have {self.num_features} features, one per node (got "
                f"{knn.num_features})"
            )
        assert knn.correlation is not None
        with torch.no_grad():
            self.template.copy_(knn.edge_index)
            self.correlation.copy_(knn.correlation)
            self.fitted.fill_(True)
        return self

    def forward(self) -> RelationEdges:
        r"""The fitted graph (no weights)."""
        if not bool(self.fitted):
            raise RuntimeError(
                f"{type(self).__name__} is not fitted; call fit() on the training rows first"
            )
        return RelationEdges(self.template, None, self.num_features)

    @torch.no_grad()
    def relation_graph(self) -> RelationGraph:
        r"""The graph read back: :math:`|\rho_{ij}|` on the kept edges (no
        self-loops) and as every pair's score, with the feature names."""
        edges = self()
        scores = self.correlation.abs().float().cpu()
        source, target = edges.edge_index.cpu()
        adjacency = torch.zeros_like(scores)
        adjacency[target, source] = scores[target, source]
        adjacency.fill_diagonal_(0.0)
        scores.fill_diagonal_(float("-inf"))
        return RelationGraph(adjacency, scores, list(self.feature_names))

    def extra_repr(self) -> str:
        return f"{self.num_features}, k={self.k}"


__all__ = ["KNNFeatureGraph"]
