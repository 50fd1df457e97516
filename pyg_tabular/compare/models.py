r"""The comparison's model registry: name → factory building a model for a :class:`Task`.

Every network over the feature graph shares one design, so that the
comparison measures the layer and nothing else: FeatureGraphNet's column
encoder (per-feature numerics, embedded categoricals), two layers of 16
channels with residual and LayerNorm, flatten readout, ReLU head. Each name
says what ran: the FeatureGraphNet layer kind (see
:data:`pyg_tabular.nn.models.LAYER_KINDS`), or the module class.

The numeric embedding is a setting of the comparison, not of one model
(:data:`NUMERIC_EMBEDDINGS`): every model that has one (the graph nets, the
MLP and TabM, listed in :data:`EMBEDDING_MODELS`) is built with the kind the
comparison names, its piecewise-linear bins fitted on the train split only.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from torch import Tensor, nn

from pyg_tabular.compare import peers
from pyg_tabular.compare.embeddings import NUMERIC_EMBEDDINGS, fit_task_bins, numeric_embeddings
from pyg_tabular.compare.mlp import MLP
from pyg_tabular.compare.tasks import Task
from pyg_tabular.utils.validation import check_choice

#: Builds a model from a :class:`Task`: ``factory(task)``, and
#: ``factory(task, numeric_embedding=kind)`` for the names in :data:`EMBEDDING_MODELS`.
ModelFactory = Callable[..., nn.Module]

#: The design every graph net shares, overridden by :func:`graph_net`'s
#: options; a ``"numeric_embedding"`` here is the graph nets' kind when the
#: comparison names none.
GRAPH_NET_OPTIONS: dict[str, Any] = {
    "channels": 16,
    "num_layers": 2,
    "heads": 4,
    "numeric_embedding": "linear",
}


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
    :obj:`layer` in the shared design, taking the task matrix ``[n, F]``.

    The options are :data:`GRAPH_NET_OPTIONS`, then the comparison's
    ``numeric_embedding``, then :obj:`options` (a model registered with its
    own ``numeric_embedding`` keeps it). A ``"piecewise-linear"`` net gets
    bins fitted on the train split (:func:`fit_task_bins`) unless
    :obj:`options` holds ``bins``.
    """

    def build(task: Task, numeric_embedding: str | None = None) -> nn.Module:
        from pyg_tabular.nn.models import FeatureGraphNet

        settings = dict(GRAPH_NET_OPTIONS)
        if numeric_embedding is not None:
            settings["numeric_embedding"] = numeric_embedding
        settings.update(options)
        if (
            settings.get("numeric_embedding") == "piecewise-linear"
            and task.num_numeric > 0
            and "bins" not in settings
        ):
            settings["bins"] = fit_task_bins(task)
        net = FeatureGraphNet(
            task.num_numeric, task.cardinalities, task.num_outputs, layer=layer, **settings
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


def _mlp(task: Task, numeric_embedding: str = "linear") -> nn.Module:
    embeddings = numeric_embeddings(numeric_embedding, task)
    return MLP(
        task.num_numeric, task.cardinalities, task.num_outputs, numeric_embeddings=embeddings
    )


#: Name → factory building the model for a :class:`Task`; ``"hgb"`` is not a
#: torch model and is trained by :func:`~pyg_tabular.compare.train_hgb`.
MODELS: dict[str, ModelFactory] = {
    "mlp": _mlp,
    # PyG's convs in FeatureGraphNet on the batched feature graph: our convs' peers.
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
    # The strongest deep tabular peers, by their authors' packages (the
    # `peers` extra, imported when the model is built).
    "ft-transformer": peers.ft_transformer,
    "tabm": peers.tabm,
}

#: Models built with the comparison's numeric embedding (their factories take
#: ``numeric_embedding=``). FT-Transformer keeps its own linear embeddings.
EMBEDDING_MODELS = [
    "mlp",
    "gatconv",
    "gatv2conv",
    "transformerconv",
    "feature-gat",
    "feature-gat-1head",
    "feature-diff",
    "feature-diff-split",
    "feature-diff-split-groups",
    "tabm",
]

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


def build_model(name: str, task: Task, *, numeric_embedding: str | None = None) -> nn.Module:
    r"""Builds model :obj:`name` for :obj:`task`.

    Args:
        name (str): A name of :data:`MODELS` (or an old name, with a warning).
        task (Task): The data the model is for.
        numeric_embedding (str, optional): One of :data:`NUMERIC_EMBEDDINGS`,
            given to the models of :data:`EMBEDDING_MODELS`; the others keep
            their own. :obj:`None` leaves every model its default.
            (default: :obj:`None`)
    """
    name = resolve_model(name)
    if name not in MODELS:
        raise ValueError(f"{name!r} is not a torch model; see train_one")
    if numeric_embedding is not None:
        check_choice(numeric_embedding, "numeric_embedding", NUMERIC_EMBEDDINGS)
        if name in EMBEDDING_MODELS:
            return MODELS[name](task, numeric_embedding=numeric_embedding)
    return MODELS[name](task)


def register_model(
    name: str,
    factory: ModelFactory,
    *,
    attention: bool = False,
    numeric_embedding: bool = False,
) -> None:
    r"""Adds a model to the comparison under :obj:`name`.

    Args:
        name (str): The model's name in reports.
        factory (callable): Builds the model from the :class:`Task`; the model
            maps the task matrix ``[n, F]`` to ``[n, num_outputs]`` (or, with
            ``ensemble_size = k``, to ``[n, k, num_outputs]``; see
            :mod:`~pyg_tabular.compare.runner` for this and the optimizer recipe).
        attention (bool, optional): Whether the model has a
            ``feature_attention(x)`` returning ``[F, F]`` to plot.
            (default: :obj:`False`)
        numeric_embedding (bool, optional): Whether :obj:`factory` takes
            ``numeric_embedding=`` (one of :data:`NUMERIC_EMBEDDINGS`), as
            :func:`graph_net`'s factories do. (default: :obj:`False`)

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
    if numeric_embedding and name not in EMBEDDING_MODELS:
        EMBEDDING_MODELS.append(name)


__all__ = [
    "MODELS",
    "SKLEARN_MODELS",
    "ATTENTION_MODELS",
    "EMBEDDING_MODELS",
    "RENAMED_MODELS",
    "GRAPH_NET_OPTIONS",
    "NUMERIC_EMBEDDINGS",
    "ModelFactory",
    "build_model",
    "fit_task_bins",
    "graph_net",
    "model_names",
    "numeric_embeddings",
    "register_model",
    "resolve_model",
]
