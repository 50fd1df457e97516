"""PyG's GAT model built from FeatureGATConv, and the swap for models already built."""

from __future__ import annotations

from typing import Any

import torch
from torch_geometric.nn.aggr import SumAggregation
from torch_geometric.nn.conv import GATConv, MessagePassing
from torch_geometric.nn.models import GAT

from pyg_tabular.nn.conv import FeatureGATConv


class FeatureGAT(GAT):
    r"""PyG's :class:`~torch_geometric.nn.models.GAT` with
    :class:`~pyg_tabular.nn.conv.FeatureGATConv` in place of
    :class:`~torch_geometric.nn.conv.GATConv`.

    It takes GAT's arguments (``in_channels``, ``hidden_channels``,
    ``num_layers``, ``out_channels``, ``dropout``, ``act``, ``norm``, ``jk``,
    ...) and hands the keyword arguments it does not use to every conv, as
    GAT does: GATConv's (``heads``, ``concat``, ``add_self_loops``,
    ``edge_dim``, ...) and the conv's own ``att_bias``
    (default: :obj:`True`). Each conv is built as GAT builds its GATConv
    (heads, concatenation and the last layer's width included) and drawn
    from the same random numbers, so after ``torch.manual_seed(s)``,
    ``FeatureGAT(..., att_bias=False)`` starts from the weights of
    ``GAT(...)`` built after the same seed, and computes the same function.
    State dicts load both ways, and, with ``att_bias=False``, so does an
    optimizer's state.

    GAT's ``v2=True`` (:class:`~torch_geometric.nn.conv.GATv2Conv`) has no
    counterpart here and is refused. For a model that builds its GATConv
    layers itself, use :func:`swap_gat_convs`.

    Example:
        >>> import torch
        >>> from torch_geometric.nn.models import GAT
        >>> from pyg_tabular.data import rows_to_graph
        >>> batch = rows_to_graph(torch.randn(8, 5, 3))  # 8 rows, 5 features
        >>> gat = GAT(3, 16, num_layers=2, out_channels=1, heads=4)
        >>> model = FeatureGAT(3, 16, num_layers=2, out_channels=1, heads=4, att_bias=False)
        >>> _ = model.load_state_dict(gat.state_dict())
        >>> out = model(batch.x, batch.edge_index)
        >>> torch.allclose(out, gat(batch.x, batch.edge_index), atol=1e-5)
        True
    """

    def init_conv(
        self, in_channels: int | tuple[int, int], out_channels: int, **kwargs: Any
    ) -> MessagePassing:
        if kwargs.get("v2", False):
            raise ValueError(
                "FeatureGAT builds FeatureGATConv, which has no GATv2 form "
                f"(got v2={kwargs['v2']!r}); use torch_geometric.nn.models.GAT"
            )
        options = {name: kwargs.pop(name) for name in _OWN_OPTIONS if name in kwargs}
        # GAT's own init_conv decides heads, concat and widths. The GATConv
        # it builds gives its arguments and weights to ours, built on a
        # forked generator so that the random numbers drawn are GAT's.
        reference = super().init_conv(in_channels, out_channels, **kwargs)
        assert type(reference) is GATConv
        return _from_gat_conv(reference, options)


# FeatureGATConv's keyword-only options, which GATConv does not take.
_OWN_OPTIONS = ("att_bias",)


def _check_options(options: dict[str, Any]) -> None:
    unknown = sorted(set(options) - set(_OWN_OPTIONS))
    if unknown:
        raise ValueError(
            f"options must be FeatureGATConv's own keyword arguments {_OWN_OPTIONS}; the "
            f"others come from each GATConv (got {unknown})"
        )


def _from_gat_conv(conv: GATConv, options: dict[str, Any]) -> FeatureGATConv:
    """FeatureGATConv with a GATConv's arguments, weights, device and mode."""
    if not isinstance(conv.aggr_module, SumAggregation):
        raise ValueError(
            f"FeatureGATConv sums its messages, as GATConv does by default; a GATConv "
            f"built with aggr={conv.aggr!r} has no counterpart"
        )
    reference = conv.att_src
    with torch.random.fork_rng(devices=[]):
        ours = FeatureGATConv(
            conv.in_channels,
            conv.out_channels,
            heads=conv.heads,
            concat=conv.concat,
            negative_slope=conv.negative_slope,
            dropout=conv.dropout,
            add_self_loops=conv.add_self_loops,
            edge_dim=conv.edge_dim,
            fill_value=conv.fill_value,
            bias=conv.bias is not None,
            residual=conv.residual,
            flow=conv.flow,
            decomposed_layers=conv.decomposed_layers,
            **options,
        )
    ours.to(device=reference.device, dtype=reference.dtype)
    # A GATConv state has no att_bias: it loads as a zero score bias.
    ours.load_state_dict(conv.state_dict())
    return ours.train(conv.training)


def swap_gat_convs(model: torch.nn.Module, **options: Any) -> torch.nn.Module:
    r"""Replaces every :class:`~torch_geometric.nn.conv.GATConv` of a built
    model by a :class:`~pyg_tabular.nn.conv.FeatureGATConv` with the same
    arguments, weights, device, dtype and train/eval mode, in place.

    The one-line way in for a model that builds GATConv by name, PyG's
    :class:`~torch_geometric.nn.models.GAT` included, and for what
    :func:`~torch_geometric.nn.to_hetero` and
    :class:`~torch_geometric.nn.conv.HeteroConv` make of it (one conv per
    edge type). The model computes what it computed before: a GATConv state
    loads into FeatureGATConv, its missing score bias as zeros. Pass
    ``att_bias=False`` to get GATConv's parameters exactly, as resuming a
    GATConv optimizer's state needs. A conv shared by several places is
    replaced by one shared FeatureGATConv.

    Only instances of GATConv itself are replaced: a subclass may compute
    something else, and is left as it is. Hooks registered on a GATConv do
    not move to its replacement; register them after the swap.

    Args:
        model (torch.nn.Module): The model; a GATConv itself is also
            accepted, and its replacement returned.
        **options (optional): Keyword arguments of FeatureGATConv that
            GATConv does not have (``att_bias``, default :obj:`True`).

    Returns:
        The model, changed in place (or the replacement of a GATConv).

    Raises:
        ValueError: If the model holds no GATConv, if a GATConv does not sum
            its messages (another ``aggr``), or if an option is not one of
            FeatureGATConv's own.

    Example:
        >>> import torch
        >>> from torch_geometric.nn.models import GAT
        >>> model = GAT(3, 16, num_layers=2, heads=4)
        >>> x, edge_index = torch.randn(6, 3), torch.randint(0, 6, (2, 20))
        >>> expected = model(x, edge_index)
        >>> model = swap_gat_convs(model, att_bias=False)
        >>> type(model.convs[0]).__name__
        'FeatureGATConv'
        >>> torch.allclose(model(x, edge_index), expected, atol=1e-5)
        True
    """
    _check_options(options)
    if type(model) is GATConv:
        return _from_gat_conv(model, options)
    # Every place a conv sits, shared ones included (named_children would
    # list a module held under two names once).
    places = [
        (path, module)
        for path, module in model.named_modules(remove_duplicate=False)
        if type(module) is GATConv
    ]
    swapped: dict[int, FeatureGATConv] = {}
    for path, conv in places:
        if id(conv) not in swapped:
            swapped[id(conv)] = _from_gat_conv(conv, options)
        parent, _, name = path.rpartition(".")
        setattr(model.get_submodule(parent), name, swapped[id(conv)])
    if not swapped:
        # A silent no-op would hide a model that builds its convs otherwise.
        raise ValueError(
            f"model holds no GATConv to swap (got a {type(model).__name__}; subclasses "
            "of GATConv are left alone)"
        )
    return model


__all__ = ["FeatureGAT", "swap_gat_convs"]
