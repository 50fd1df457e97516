r"""The comparison's model registry: name → factory building a model for a :class:`Task`.

Every network over the feature graph shares one design, so that the
comparison measures the layer and nothing else: FeatureGraphNet's column
encoder (per-feature numerics, embedded categoricals), two layers of 16
channels with residual and LayerNorm, flatten readout, ReLU head. Each name
says what ran: the FeatureGraphNet layer kind (see
:data:`pyg_tabular.nn.models.LAYER_KINDS`), or the module class.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from torch import Tensor, nn

from pyg_tabular.compare.mlp import MLP
from pyg_tabular.compare.tasks import Task

ModelFactory = Callable[[Task], nn.Module]

GRAPH_NET_OPTIONS: dict[str, Any] = {"channels": 16, "num_layers": 2, "heads": 4}


class _ColumnSplit(nn.Module):
    # Feeds a [n, F] task matrix (numerics, then category codes) to a model
    # that takes (numeric, categorical), such as FeatureGraphNet.

    def __init__(self, model: nn.Module, num_numeric: int) -> None:
        super().__init__()
        self.model = model
        self.num_numeric = num_numeric

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x[:, : self.num_numeric], x[:, self.num_numeric :].long())

    def feature_attention(self, x: Tensor) -> Tensor:
        return self.model.feature_attention(  # type: ignore[operator]
            x[:, : self.num_numeric], x[:, self.num_numeric :].long()
        )


class _ModuleNet(nn.Module):
    # module -> Linear(F, hidden) -> ReLU -> Linear(hidden, out), as the Keras
    # docs stack these layers. Category codes enter as numbers: the
    # Keras-style modules take a plain numeric row.

    def __init__(self, module: nn.Module, num_features: int, num_outputs: int, hidden: int = 64):
        super().__init__()
        self.module = module
        self.head = nn.Sequential(
            nn.Linear(num_features, hidden), nn.ReLU(), nn.Linear(hidden, num_outputs)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.module(x))


def graph_net(layer: str, **options: Any) -> ModelFactory:
    r"""A factory of :class:`~pyg_tabular.nn.models.FeatureGraphNet` with
    :obj:`layer` in the shared design (:data:`GRAPH_NET_OPTIONS`, overridden by
    :obj:`options`), taking the task matrix ``[n, F]``."""

    def build(task: Task) -> nn.Module:
        from pyg_tabular.nn.models import FeatureGraphNet

        net = FeatureGraphNet(
            task.num_numeric,
            task.cardinalities,
            task.num_outputs,
            layer=layer,
            **{**GRAPH_NET_OPTIONS, **options},
        )
        return _ColumnSplit(net, task.num_numeric)

    return build


def _graph_feature_aggregation(task: Task) -> nn.Module:
    from pyg_tabular.nn.tabular import GraphFeatureAggregation

    features = task.num_numeric + len(task.cardinalities)
    return _ModuleNet(GraphFeatureAggregation(embed_dim=16), features, task.num_outputs)


def _advanced_graph_feature_layer(task: Task) -> nn.Module:
    from pyg_tabular.nn.tabular import AdvancedGraphFeatureLayer

    features = task.num_numeric + len(task.cardinalities)
    layer = AdvancedGraphFeatureLayer(features, embed_dim=16, num_heads=4)
    return _ModuleNet(layer, features, task.num_outputs)


def _mlp(task: Task) -> nn.Module:
    return MLP(task.num_numeric, task.cardinalities, task.num_outputs)


#: Name → factory building the model for a :class:`Task`; ``"hgb"`` is not a
#: torch model and is trained by :func:`~pyg_tabular.compare.train_hgb`.
MODELS: dict[str, ModelFactory] = {
    "mlp": _mlp,
    # PyG's convs in FeatureGraphNet on the batched feature graph: the peers.
    "gatconv": graph_net("gatconv"),
    "gatv2conv": graph_net("gatv2conv"),
    "transformerconv": graph_net("transformerconv"),
    # Our dense convs in the same network.
    "feature-gat": graph_net("feature-gat"),
    "feature-gat-1head": graph_net("feature-gat", heads=1),
    "feature-diff": graph_net("feature-diff"),
    "feature-diff-split": graph_net("feature-diff-split"),
    "feature-diff-split-groups": graph_net("feature-diff-split", num_groups="auto"),
    # The Keras-style (batch, features) modules between two dense layers.
    "graph-feature-aggregation": _graph_feature_aggregation,
    "advanced-graph-feature-layer": _advanced_graph_feature_layer,
}

#: Baselines that are not torch models.
SKLEARN_MODELS = ("hgb",)

#: Models whose learned feature attention the comparison can plot.
ATTENTION_MODELS = [
    "feature-gat",
    "feature-gat-1head",
    "feature-diff",
    "feature-diff-split",
    "feature-diff-split-groups",
]

#: Old model names → the name of the same model now. Accepted with a
#: FutureWarning for one release.
RENAMED_MODELS = {
    "gatv2": "gatv2conv",
    "transformer": "transformerconv",
    "gfa": "feature-gat-1head",
    "advanced": "feature-diff-split",
    "advanced-hier": "feature-diff-split-groups",
    "gfa-module": "graph-feature-aggregation",
    "advanced-module": "advanced-graph-feature-layer",
}


def model_names() -> list[str]:
    """Every name :func:`~pyg_tabular.compare.train_one` accepts (old names aside)."""
    return [*MODELS, *SKLEARN_MODELS]


def resolve_model(name: str, *, warn: bool = True) -> str:
    r"""The current name of model :obj:`name`; an old name warns and maps to its new one."""
    if name in MODELS or name in SKLEARN_MODELS:
        return name
    if name in RENAMED_MODELS:
        new = RENAMED_MODELS[name]
        if warn:
            warnings.warn(
                f"model {name!r} is now called {new!r}; the old name goes in the next release",
                FutureWarning,
                stacklevel=2,
            )
        return new
    raise ValueError(f"name must be one of {model_names()} (got {name!r})")


def register_model(name: str, factory: ModelFactory, *, attention: bool = False) -> None:
    r"""Adds a model to the comparison under :obj:`name`.

    Args:
        name (str): The model's name in reports.
        factory (callable): Builds the model from the :class:`Task`; the model
            maps the task matrix ``[n, F]`` to ``[n, num_outputs]``.
        attention (bool, optional): Whether the model has a
            ``feature_attention(x)`` returning ``[F, F]`` to plot.
            (default: :obj:`False`)

    Example:
        >>> from pyg_tabular.compare import graph_net, register_model
        >>> from pyg_tabular.compare import MODELS
        >>> register_model("feature-gat-8ch", graph_net("feature-gat", channels=8))
        >>> "feature-gat-8ch" in MODELS
        True
        >>> del MODELS["feature-gat-8ch"]
    """
    if not isinstance(name, str) or not name or "," in name:
        raise ValueError(f"name must be a non-empty str without commas (got {name!r})")
    if name in SKLEARN_MODELS or name in RENAMED_MODELS:
        raise ValueError(f"name {name!r} is reserved")
    if not callable(factory):
        raise TypeError(f"factory must be callable (got {type(factory).__name__})")
    MODELS[name] = factory
    if attention and name not in ATTENTION_MODELS:
        ATTENTION_MODELS.append(name)


__all__ = [
    "MODELS",
    "SKLEARN_MODELS",
    "ATTENTION_MODELS",
    "RENAMED_MODELS",
    "GRAPH_NET_OPTIONS",
    "ModelFactory",
    "graph_net",
    "model_names",
    "register_model",
    "resolve_model",
]
