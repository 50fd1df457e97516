r"""The registry of feature graphs that :class:`FeatureGraphNet` can run its layers on.

A graph kind is a factory ``(num_features, k) -> module or None``: :obj:`None`
is the complete graph; a module returns a
:class:`~pyg_tabular.nn.graph.RelationEdges` when called (a template over the
features, with or without edge weights), says in its attribute ``weighted``
whether its edges carry weights (which need a conv whose ``forward`` takes
``edge_weight``), and may have ``fit(rows)``, called by
:meth:`FeatureGraphNet.fit_graph` on the training rows, and
``relation_graph()``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch
from torch import Tensor

from pyg_tabular.nn.graph import KNNFeatureGraph, LearnedFeatureGraph, RelationEdges

GraphFactory = Callable[[int, int], "torch.nn.Module | None"]


def _complete(num_features: int, k: int) -> None:
    return None


def _knn(num_features: int, k: int) -> torch.nn.Module:
    return KNNFeatureGraph(num_features, k)


def _learned(num_features: int, k: int) -> torch.nn.Module:
    return LearnedFeatureGraph(num_features, k)


#: Graph kind name → factory ``(num_features, k)``; extend it with :func:`register_graph`.
#:
#: * ``"complete"``: every feature listens to every feature (:obj:`None`);
#: * ``"knn"``: :class:`~pyg_tabular.nn.graph.KNNFeatureGraph`, the static
#:   correlation prior, fitted on the training rows;
#: * ``"learned"``: :class:`~pyg_tabular.nn.graph.LearnedFeatureGraph`, a
#:   sparse relation graph learned with the network.
GRAPH_KINDS: dict[str, GraphFactory] = {
    "complete": _complete,
    "knn": _knn,
    "learned": _learned,
}

#: The graph kinds that ship with the package, in a stable order.
GRAPHS = tuple(GRAPH_KINDS)


def register_graph(name: str, build: GraphFactory, *, overwrite: bool = False) -> None:
    r"""Registers a graph kind, so ``FeatureGraphNet(graph=name)`` runs on it.

    Args:
        name (str): The kind's name.
        build (callable): ``build(num_features, k)`` returning a module whose
            call gives a :class:`~pyg_tabular.nn.graph.RelationEdges`, or
            :obj:`None` for the complete graph.
        overwrite (bool, optional): Replace an existing kind of that name.
            (default: :obj:`False`)

    Example:
        >>> from pyg_tabular.nn.graph import LearnedFeatureGraph
        >>> from pyg_tabular.nn.models import FeatureGraphNet
        >>> register_graph(
        ...     "learned-t2g", lambda f, k: LearnedFeatureGraph(f, k, embed_dim=8), overwrite=True
        ... )
        >>> FeatureGraphNet(5, graph="learned-t2g", graph_k=2).feature_graph
        LearnedFeatureGraph(5, k=2, embed_dim=8)
        >>> del GRAPH_KINDS["learned-t2g"]
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty str (got {name!r})")
    if name in GRAPH_KINDS and not overwrite:
        raise ValueError(f"graph kind {name!r} is already registered; pass overwrite=True")
    if not callable(build):
        raise TypeError(f"build must be callable (got {type(build).__name__})")
    GRAPH_KINDS[name] = build


def build_graph(name: object, num_features: int, k: int) -> torch.nn.Module | None:
    r"""The module of graph kind :obj:`name` over :obj:`num_features` features
    (:obj:`None` for the complete graph), with :obj:`k` capped at ``F - 1``."""
    if not isinstance(name, str) or name not in GRAPH_KINDS:
        raise ValueError(f"graph must be one of {sorted(GRAPH_KINDS)} (got {name!r})")
    return GRAPH_KINDS[name](num_features, min(k, num_features - 1))


def accepts_edge_weight(conv: torch.nn.Module) -> bool:
    r"""Whether :obj:`conv`'s ``forward`` takes an ``edge_weight`` argument."""
    return "edge_weight" in inspect.signature(conv.forward).parameters


def node_graph(edges: RelationEdges, num_nodes: int) -> tuple[Tensor, Tensor | None]:
    r"""The feature graph's template and weights over :obj:`num_nodes` nodes:
    the features' edges, then, when there is one more node (the CLS readout's
    virtual node), its links both ways to every feature and its self-loop,
    all of weight 1."""
    template, weight = edges.edge_index, edges.edge_weight
    num_features = edges.num_features
    if num_nodes == num_features:
        return template, weight
    features = torch.arange(num_features, device=template.device)
    cls = torch.full_like(features, num_features)
    loop = torch.full((2, 1), num_features, device=template.device)
    links = torch.cat([torch.stack([features, cls]), torch.stack([cls, features]), loop], dim=1)
    template = torch.cat([template, links], dim=1)
    if weight is not None:
        weight = torch.cat([weight, weight.new_ones(links.size(1))])
    return template, weight


__all__ = [
    "GRAPH_KINDS",
    "GRAPHS",
    "GraphFactory",
    "register_graph",
    "build_graph",
    "accepts_edge_weight",
    "node_graph",
]
