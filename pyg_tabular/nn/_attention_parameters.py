"""Parameters shared by each sparse feature-attention conv and its dense twin.

Defining them once keeps the twins' parameter names, registration order and
initialisation identical to each other and to PyG's GATConv and DenseGATConv;
shapes follow the PyG layer each family mirrors, and loading reshapes between
the two layouts, which is what lets ``load_state_dict`` move weights (and an
optimizer's state) between them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor
from torch.nn import Parameter
from torch_geometric.nn.dense.linear import Linear
from torch_geometric.nn.inits import glorot, zeros

from pyg_tabular.nn._gat_common import InChannels
from pyg_tabular.nn.functional import dense_diff_score, dense_gat_score


def init_attention_layer(
    module: Any,  # a conv or dense base; their class annotations type these attributes
    in_channels: InChannels,
    out_channels: int,
    *,
    heads: int,
    concat: bool,
    negative_slope: float,
    dropout: float,
    add_self_loops: bool,
    bias: bool,
    edge_dim: int | None = None,
    residual: bool = False,
    score_options: Mapping[str, Any],
) -> None:
    """Stores the hyperparameters and registers GATConv's projections and biases.

    Names and shapes are those of :class:`~torch_geometric.nn.conv.GATConv`:
    ``lin`` (or ``lin_src`` and ``lin_dst`` for a ``(source, target)`` pair
    of input sizes), ``lin_edge`` and ``att_edge`` with :obj:`edge_dim`,
    ``res`` with :obj:`residual`, and ``bias``. The layer's score
    parameters, registered by ``module._init_score(heads, out_channels,
    **score_options)``, come where GATConv registers ``att_src`` and
    ``att_dst``: after the projections, before ``att_edge`` and ``bias``.
    An optimizer numbers parameters in registration order, so this order is
    what lets a GATConv optimizer's state load into our layer.
    """
    module.in_channels = in_channels
    module.out_channels = out_channels
    module.heads = heads
    module.concat = concat
    module.negative_slope = float(negative_slope)
    module.dropout = float(dropout)
    module.add_self_loops = add_self_loops
    module.edge_dim = edge_dim
    module.residual = residual
    # The projections carry no bias (as in GATConv) so that no bias enters the
    # attention score; the learned offset is added after aggregation instead.
    module.lin = module.lin_src = module.lin_dst = None
    if isinstance(in_channels, tuple):
        module.lin_src = Linear(in_channels[0], heads * out_channels, False, "glorot")
        module.lin_dst = Linear(in_channels[1], heads * out_channels, False, "glorot")
    else:
        module.lin = Linear(in_channels, heads * out_channels, False, "glorot")
    module._init_score(heads, out_channels, **score_options)
    if edge_dim is not None:
        module.lin_edge = Linear(edge_dim, heads * out_channels, False, "glorot")
        module.att_edge = Parameter(torch.empty(1, heads, out_channels))
    else:
        module.lin_edge = None
        module.register_parameter("att_edge", None)
    total_out = heads * out_channels if concat else out_channels
    if residual:
        res_in = in_channels[1] if isinstance(in_channels, tuple) else in_channels
        module.res = Linear(res_in, total_out, False, "glorot")
    else:
        module.register_parameter("res", None)
    if bias:
        module.bias = Parameter(torch.empty(total_out))
    else:
        module.register_parameter("bias", None)


def reset_attention_layer(module: Any) -> None:
    """Resets what :func:`init_attention_layer` registered, in GATConv's order.

    GATConv resets its projections, then ``att_src``, ``att_dst``,
    ``att_edge`` and ``bias``; drawing the random numbers in the same order
    makes a layer built after ``torch.manual_seed(s)`` start from the weights
    GATConv (or DenseGATConv) would have drawn.
    """
    for name in ("lin", "lin_src", "lin_dst", "lin_edge", "res"):
        child = getattr(module, name)
        if child is not None:
            child.reset_parameters()
    module._reset_score()
    glorot(module.att_edge)
    zeros(module.bias)


def _reshape_loaded(
    module: torch.nn.Module, state_dict: dict[str, Any], prefix: str, names: tuple[str, ...]
) -> None:
    # GATConv stores att_* as [1, H, C] and DenseGATConv as [1, 1, H, C]: the
    # same numbers, so a tensor with our element count takes our shape.
    for name in names:
        key = prefix + name
        own = getattr(module, name, None)
        value = state_dict.get(key)
        if isinstance(own, Tensor) and isinstance(value, Tensor):
            if value.shape != own.shape and value.numel() == own.numel():
                state_dict[key] = value.reshape(own.shape)


class _ScoreMixin:
    # Mixed in before the layer's base class. The base registers and resets
    # the score through _init_score and _reset_score, where GATConv has its
    # att_src and att_dst (see init_attention_layer).
    out_channels: int
    negative_slope: float
    #: Leading dimensions of ``att_src`` / ``att_dst``: ``(1,)`` for GATConv's
    #: ``[1, H, C]``, ``(1, 1)`` for DenseGATConv's ``[1, 1, H, C]``.
    att_lead_shape: tuple[int, ...]

    if TYPE_CHECKING:

        def register_parameter(self, name: str, param: Parameter | None) -> None: ...

        def register_load_state_dict_pre_hook(self, hook: Any) -> Any: ...


class GATScoreParameters(_ScoreMixin):
    """``att_src``, ``att_dst`` and the optional ``att_bias`` of the GAT score.

    They are saved in the layout of the PyG layer each family mirrors:
    GATConv's ``[1, H, C]`` for the sparse convs, DenseGATConv's
    ``[1, 1, H, C]`` for the dense twins, so that an optimizer's state (whose
    moments have the parameters' shapes) carries over from the PyG layer.
    Loading accepts either layout, and a state without ``att_bias`` (as
    GATConv and DenseGATConv save it) loads as a zero score bias: the same
    function.
    """

    att_bias: Parameter | None

    def _init_score(self, heads: int, out_channels: int, *, att_bias: bool) -> None:
        shape = (*self.att_lead_shape, heads, out_channels)
        self.att_src = Parameter(torch.empty(shape))
        self.att_dst = Parameter(torch.empty(shape))
        if att_bias:
            self.att_bias = Parameter(torch.empty(heads))
        else:
            self.register_parameter("att_bias", None)
        self.register_load_state_dict_pre_hook(_load_gat_score)

    def _reset_score(self) -> None:
        glorot(self.att_src)
        glorot(self.att_dst)
        zeros(self.att_bias)

    def dense_score(self, h: Tensor) -> Tensor:
        """Scores ``[B, H, F, F]`` of projected features ``h [B, F, H, C]``."""
        return dense_gat_score(h, self.att_src, self.att_dst, self.att_bias, self.negative_slope)


def _load_gat_score(
    module: GATScoreParameters,
    state_dict: dict[str, Any],
    prefix: str,
    *args: Any,
) -> None:
    _reshape_loaded(module, state_dict, prefix, ("att_src", "att_dst", "att_edge"))  # type: ignore[arg-type]
    if module.att_bias is not None and prefix + "att_bias" not in state_dict:
        if prefix + "att_src" in state_dict:  # a whole GAT state, saved without the bias
            state_dict[prefix + "att_bias"] = torch.zeros_like(module.att_bias)


class DiffScoreParameters(_ScoreMixin):
    """``att`` = [u_1 (target) | u_2 (source) | u_3 (|difference|)] of the diff score."""

    def _init_score(self, heads: int, out_channels: int, *, shared_attention: bool) -> None:
        self.shared_attention = shared_attention
        self.att = Parameter(torch.empty(1 if shared_attention else heads, 3 * out_channels))
        self.register_load_state_dict_pre_hook(_load_diff_score)

    def _reset_score(self) -> None:
        glorot(self.att)

    def _split_att(self) -> tuple[Tensor, Tensor, Tensor]:
        # Each part is [1 or H, C]: one vector shared by all heads, or one per head.
        att_dst, att_src, att_diff = self.att.split(self.out_channels, dim=-1)
        return att_dst, att_src, att_diff

    def dense_score(self, h: Tensor) -> Tensor:
        """Scores ``[B, H, F, F]`` of projected features ``h [B, F, H, C]``."""
        att_dst, att_src, att_diff = self._split_att()
        return dense_diff_score(h, att_dst, att_src, att_diff, self.negative_slope)


def _load_diff_score(
    module: DiffScoreParameters, state_dict: dict[str, Any], prefix: str, *args: Any
) -> None:
    _reshape_loaded(module, state_dict, prefix, ("att_edge",))  # type: ignore[arg-type]
