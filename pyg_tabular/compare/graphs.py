r"""The same graph net on each feature graph: complete, correlation kNN, learned.

For every base model of :data:`GRAPH_BASES` (a FeatureGraphNet layer kind in
the comparison's shared design), the comparison registers one model per
sparse graph of :data:`GRAPH_VARIANTS`, named ``"<base>-<graph>"``
(``"feature-gat-knn"``, ``"feature-gat-learned"``, ...): the same network
with ``graph="knn"`` (fitted on the task's training rows) or
``graph="learned"``, and :obj:`graph_k` sources per feature. The base model
itself runs on the complete graph. :func:`expand_graphs` turns
``--models feature-gat --graphs complete,knn,learned`` into the three names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from pyg_tabular._choices import GRAPH_CHOICES
from pyg_tabular.compare.models import MODELS, ModelFactory, graph_net, register_model
from pyg_tabular.compare.tasks import Task

#: The sparse graphs registered as variants of each base.
GRAPH_VARIANTS = ("knn", "learned")
#: Base model name → (FeatureGraphNet layer kind, options), as in :data:`MODELS`.
GRAPH_BASES: dict[str, tuple[str, dict[str, Any]]] = {
    "feature-gat": ("feature-gat", {}),
    "feature-gat-1head": ("feature-gat", {"heads": 1}),
    "feature-diff": ("feature-diff", {}),
    "feature-diff-split": ("feature-diff-split", {}),
}


def graph_variant(layer: str, graph: str, **options: Any) -> ModelFactory:
    r"""A factory of :func:`~pyg_tabular.compare.graph_net`'s network with
    ``graph=graph``, its graph fitted on the task's training rows
    (:meth:`~pyg_tabular.nn.models.FeatureGraphNet.fit_graph`)."""
    build = graph_net(layer, graph=graph, **options)

    def factory(task: Task, numeric_embedding: str | None = None) -> nn.Module:
        model = build(task, numeric_embedding)
        numeric = task.train.x[:, : task.num_numeric]
        categorical = task.train.x[:, task.num_numeric :].long()
        model.model.fit_graph(numeric, categorical)  # type: ignore[operator,union-attr]
        return model

    return factory


def variant_name(base: str, graph: str) -> str:
    r"""The model name of :obj:`base` on :obj:`graph` (:obj:`base` for ``"complete"``)."""
    return base if graph == "complete" else f"{base}-{graph}"


def expand_graphs(models: Sequence[str], graphs: Sequence[str]) -> list[str]:
    r"""Each model of :obj:`models` on each graph of :obj:`graphs`, in that
    order (model by model).

    Raises:
        ValueError: For an unknown graph, or a model without that variant.
    """
    unknown = [g for g in graphs if g not in GRAPH_CHOICES]
    if unknown:
        raise ValueError(f"graphs must be among {list(GRAPH_CHOICES)} (got {unknown})")
    names: list[str] = []
    for model in models:
        for graph in graphs:
            name = variant_name(model, graph)
            if name not in MODELS:
                raise ValueError(
                    f"model {model!r} has no {graph!r} variant; the models that run on "
                    f"every graph are {sorted(GRAPH_BASES)}"
                )
            if name not in names:
                names.append(name)
    return names


def register_graph_variants() -> None:
    r"""Registers ``"<base>-<graph>"`` for every base and sparse graph."""
    for base, (layer, options) in GRAPH_BASES.items():
        for graph in GRAPH_VARIANTS:
            register_model(
                variant_name(base, graph),
                graph_variant(layer, graph, **options),
                attention=True,
                numeric_embedding=True,
            )


register_graph_variants()

__all__ = ["GRAPH_CHOICES", "GRAPH_BASES", "graph_variant", "expand_graphs"]
