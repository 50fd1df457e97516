r"""What a learned feature graph emits (:class:`RelationEdges`) and how it
reads back (:class:`RelationGraph`)."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import Tensor

from pyg_tabular.data.edge_index import repeat_template


@dataclasses.dataclass(frozen=True)
class RelationEdges:
    r"""One sample of a feature graph with edge weights, in the forms the
    convs consume.

    The static form (:attr:`edge_index`, :attr:`edge_weight`) is one
    template over the :math:`F` features shared by all rows, for the sparse
    convs' static-graph call ``conv(x [B, F, C], edge_index,
    edge_weight=edge_weight)``; :meth:`batched` repeats it for a batched
    graph of ``B`` rows and :meth:`dense` writes it as the ``(adj, weight)``
    pair of the dense twins. All three carry the same weights, with their
    gradients.

    Attributes:
        edge_index (torch.Tensor): ``[2, E]`` template, row 0 sources, row 1
            targets, sorted by target then source.
        edge_weight (torch.Tensor or None): ``[E]`` positive weights, or
            :obj:`None` for an unweighted graph (e.g. :class:`KNNFeatureGraph`).
        num_features (int): :math:`F`.
    """

    edge_index: Tensor
    edge_weight: Tensor | None
    num_features: int

    def dense(self) -> tuple[Tensor, Tensor | None]:
        r"""``(adj [F, F] bool, weight [F, F])`` for the dense twins'
        ``conv(x, adj, edge_weight=weight)``; entry ``[i, j]`` is the edge
        :math:`j \to i`, and :obj:`weight` is zero off the graph (:obj:`None`
        for an unweighted graph)."""
        size = self.num_features
        source, target = self.edge_index
        adj = torch.zeros(size, size, dtype=torch.bool, device=self.edge_index.device)
        adj[target, source] = True
        if self.edge_weight is None:
            return adj, None
        weight = self.edge_weight.new_zeros(size, size)
        weight = weight.index_put((target, source), self.edge_weight)
        return adj, weight

    def batched(self, batch_size: int) -> tuple[Tensor, Tensor | None]:
        r"""``(edge_index [2, B·E], edge_weight [B·E])`` of :obj:`batch_size`
        rows stacked as in :func:`~pyg_tabular.data.rows_to_graph` (row
        :math:`b`'s nodes are :math:`bF, \dots, bF + F - 1`)."""
        edge_index = repeat_template(self.edge_index, batch_size, self.num_features)
        if self.edge_weight is None:
            return edge_index, None
        return edge_index, self.edge_weight.repeat(batch_size)


@dataclasses.dataclass(frozen=True)
class RelationGraph:
    r"""A feature graph read back with its feature names.

    Attributes:
        adjacency (torch.Tensor): ``[F, F]`` weights of the graph's edges
            (self-loops left out), entry ``[i, j]`` for the edge
            :math:`j \to i` (feature :math:`i` listens to :math:`j`), zero
            where there is no edge.
        scores (torch.Tensor): ``[F, F]`` the estimator's score of every
            ordered pair, kept or not, larger for a stronger relation (the
            topology logits :math:`s_{ij}` of a
            :class:`LearnedFeatureGraph`, :math:`|\rho_{ij}|` of a
            :class:`KNNFeatureGraph`); the diagonal, no pair, is
            :math:`-\infty`.
        feature_names (list of str): The name of each feature.
    """

    adjacency: Tensor
    scores: Tensor
    feature_names: list[str]

    def pair_scores(self) -> Tensor:
        r"""``[F, F]`` symmetric score of each unordered pair, the larger of
        its two directions: a pair interacts if either feature listens to
        the other."""
        return torch.maximum(self.scores, self.scores.t())

    def top_pairs(self, count: int | None = None) -> list[tuple[str, str, float]]:
        r"""The unordered pairs with the highest :meth:`pair_scores`, best
        first, as ``(name_i, name_j, score)`` with ``i < j``; all pairs when
        :obj:`count` is :obj:`None`."""
        scores = self.pair_scores()
        size = scores.size(0)
        rows, cols = torch.triu_indices(size, size, offset=1)
        values = scores[rows, cols]
        # Stable, so that ties keep the lower indices first.
        order = torch.sort(values, descending=True, stable=True).indices
        if count is not None:
            order = order[:count]
        names = self.feature_names
        return [
            (names[int(rows[o])], names[int(cols[o])], float(values[o])) for o in order.tolist()
        ]

    def to_pandas(self) -> Any:
        r"""The :attr:`adjacency` as a pandas DataFrame indexed by feature names."""
        import pandas as pd

        names = list(self.feature_names)
        return pd.DataFrame(self.adjacency.numpy(), index=names, columns=names)


__all__ = ["RelationEdges", "RelationGraph"]
