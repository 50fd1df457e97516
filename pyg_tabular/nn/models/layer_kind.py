r"""The registry of attention layers that :class:`FeatureGraphNet` can stack.

A layer kind is a factory ``(channels, heads, dropout) -> conv`` plus how the
network wires the conv in. Any conv plugs in: a PyG
:class:`~torch_geometric.nn.conv.MessagePassing` layer runs on the batched
feature graph, anything else is called as a dense twin on ``[B, F, C]``.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from typing import Any

import torch

from pyg_tabular.nn.dense import DenseFeatureDiffGATConv, DenseFeatureGATConv

LayerFactory = Callable[[int, int, float], torch.nn.Module]


@dataclasses.dataclass(frozen=True)
class LayerKind:
    r"""One entry of :data:`LAYER_KINDS`: how to build a conv and wire it in.

    A MessagePassing conv is called as
    ``conv(x [B·F, C], edge_index, return_attention_weights=True)`` on the
    batched feature graph; any other module as
    ``conv(x [B, F, C], adj, return_attention_weights=True)`` and must return
    the attention as ``[B, H, F, F]``.

    Args:
        build (callable): ``build(channels, heads, dropout)`` returns the conv.
            Its input has :obj:`channels` channels per feature node.
        project (bool, optional): Whether ELU and a ``Linear(W, channels)``
            follow the conv, ``W`` being the conv's output width (heads
            concatenated). Without it the conv must return :obj:`channels`
            channels itself. (default: :obj:`True`)
        split_heads (bool, optional): Whether the heads divide the channels
            (``channels / heads`` each), so :obj:`channels` must be divisible
            by :obj:`heads`. (default: :obj:`False`)
        description (str, optional): What the kind builds, for docs and
            reports. (default: :obj:`""`)
    """

    build: LayerFactory
    project: bool = True
    split_heads: bool = False
    description: str = ""


def _feature_gat(channels: int, heads: int, dropout: float) -> torch.nn.Module:
    # Arguments the network relies on are passed explicitly, so that a change
    # of the conv's defaults cannot change the model.
    return DenseFeatureGATConv(
        channels, channels, heads, concat=True, dropout=dropout, add_self_loops=False, att_bias=True
    )


def _feature_diff(channels: int, heads: int, dropout: float) -> torch.nn.Module:
    return DenseFeatureDiffGATConv(
        channels, channels, heads, concat=True, dropout=dropout, add_self_loops=False
    )


def _feature_diff_split(channels: int, heads: int, dropout: float) -> torch.nn.Module:
    # As in AdvancedGraphFeatureLayer: C channels split into H heads of C / H
    # and concatenated back to C, so no projection follows.
    return DenseFeatureDiffGATConv(
        channels, channels // heads, heads, concat=True, dropout=dropout, add_self_loops=False
    )


def _gatconv(channels: int, heads: int, dropout: float) -> torch.nn.Module:
    from torch_geometric.nn import GATConv

    return GATConv(channels, channels, heads, concat=True, dropout=dropout, add_self_loops=False)


def _gatv2conv(channels: int, heads: int, dropout: float) -> torch.nn.Module:
    from torch_geometric.nn import GATv2Conv

    return GATv2Conv(channels, channels, heads, concat=True, dropout=dropout, add_self_loops=False)


def _transformerconv(channels: int, heads: int, dropout: float) -> torch.nn.Module:
    from torch_geometric.nn import TransformerConv

    return TransformerConv(channels, channels, heads, concat=True, dropout=dropout)


#: Layer kind name → :class:`LayerKind`. Extend it with :func:`register_layer`.
LAYER_KINDS: dict[str, LayerKind] = {
    "feature-gat": LayerKind(
        _feature_gat, description="DenseFeatureGATConv (FeatureGATConv's dense twin)"
    ),
    "feature-diff": LayerKind(
        _feature_diff, description="DenseFeatureDiffGATConv (FeatureDiffGATConv's dense twin)"
    ),
    "feature-diff-split": LayerKind(
        _feature_diff_split,
        project=False,
        split_heads=True,
        description="DenseFeatureDiffGATConv with the channels split into heads, no projection",
    ),
    "gatconv": LayerKind(_gatconv, description="PyG GATConv on the batched feature graph"),
    "gatv2conv": LayerKind(_gatv2conv, description="PyG GATv2Conv on the batched feature graph"),
    "transformerconv": LayerKind(
        _transformerconv, description="PyG TransformerConv on the batched feature graph"
    ),
}

#: The kinds that ship with the package, in a stable order.
LAYERS = tuple(LAYER_KINDS)

# Old name → (kind, options it implied). Accepted with a FutureWarning for one
# release. ``"auto"`` groups are max(2, ceil(F / 4)), as the old kind chose.
DEPRECATED_LAYERS: dict[str, tuple[str, dict[str, Any]]] = {
    "gat": ("feature-gat", {}),
    "diff": ("feature-diff", {}),
    "gfa": ("feature-gat", {"heads": 1}),
    "advanced": ("feature-diff-split", {}),
    "advanced-hier": ("feature-diff-split", {"num_groups": "auto"}),
    "gatv2": ("gatv2conv", {}),
    "transformer": ("transformerconv", {}),
}


def register_layer(
    name: str,
    build: LayerFactory,
    *,
    project: bool = True,
    split_heads: bool = False,
    description: str = "",
    overwrite: bool = False,
) -> LayerKind:
    r"""Registers a conv under :obj:`name`, so ``FeatureGraphNet(layer=name)`` stacks it.

    Args:
        name (str): The kind's name.
        build (callable): ``build(channels, heads, dropout)`` returning the conv.
        project (bool, optional): See :class:`LayerKind`. (default: :obj:`True`)
        split_heads (bool, optional): See :class:`LayerKind`. (default: :obj:`False`)
        description (str, optional): What it builds. (default: :obj:`""`)
        overwrite (bool, optional): Replace an existing kind of that name.
            (default: :obj:`False`)

    Example:
        >>> from torch_geometric.nn import GATConv
        >>> from pyg_tabular.nn.models import FeatureGraphNet
        >>> _ = register_layer(
        ...     "gatconv-loops", lambda c, h, p: GATConv(c, c, h, dropout=p), overwrite=True
        ... )
        >>> FeatureGraphNet(3, layer="gatconv-loops").layer
        'gatconv-loops'
        >>> del LAYER_KINDS["gatconv-loops"]
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty str (got {name!r})")
    if name in DEPRECATED_LAYERS:
        raise ValueError(f"name {name!r} is a deprecated alias of {DEPRECATED_LAYERS[name][0]!r}")
    if name in LAYER_KINDS and not overwrite:
        raise ValueError(f"layer kind {name!r} is already registered; pass overwrite=True")
    if not callable(build):
        raise TypeError(f"build must be callable (got {type(build).__name__})")
    kind = LayerKind(
        build, project=bool(project), split_heads=bool(split_heads), description=description
    )
    LAYER_KINDS[name] = kind
    return kind


def resolve_layer(name: object) -> tuple[str, dict[str, Any]]:
    r"""The registered kind :obj:`name` stands for, and the options an old name implied.

    Old names warn with a :class:`FutureWarning` naming the new kind.
    """
    if isinstance(name, str) and name in LAYER_KINDS:
        return name, {}
    if isinstance(name, str) and name in DEPRECATED_LAYERS:
        kind, options = DEPRECATED_LAYERS[name]
        implied = "".join(f", {key}={value!r}" for key, value in options.items())
        warnings.warn(
            f"layer={name!r} is deprecated and will be removed in the next release; "
            f"use layer={kind!r}{implied}, which builds the same model",
            FutureWarning,
            stacklevel=3,
        )
        return kind, dict(options)
    raise ValueError(f"layer must be one of {sorted(LAYER_KINDS)} (got {name!r})")


__all__ = ["LayerKind", "LAYER_KINDS", "LAYERS", "register_layer", "resolve_layer"]
