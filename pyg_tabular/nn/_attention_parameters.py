"""Parameters shared by each sparse feature-attention conv and its dense twin.

Defining them once keeps the twins' parameter names, shapes and initialisation
identical, which is what lets ``load_state_dict`` move weights between them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor
from torch.nn import Parameter
from torch_geometric.nn.dense.linear import Linear
from torch_geometric.nn.inits import glorot, zeros

from pyg_tabular.nn.functional import dense_diff_score, dense_gat_score


def init_attention_layer(
    module: Any,  # a conv or dense base; their class annotations type these attributes
    in_channels: int,
    out_channels: int,
    *,
    heads: int,
    concat: bool,
    negative_slope: float,
    dropout: float,
    add_self_loops: bool,
    bias: bool,
) -> None:
    """Stores the hyperparameters and registers ``lin`` and the output ``bias``."""
    module.in_channels = in_channels
    module.out_channels = out_channels
    module.heads = heads
    module.concat = concat
    module.negative_slope = float(negative_slope)
    module.dropout = float(dropout)
    module.add_self_loops = add_self_loops
    # lin carries no bias (as in GATConv) so that no bias enters the attention
    # score; the learned offset is added after aggregation instead.
    module.lin = Linear(in_channels, heads * out_channels, bias=False, weight_initializer="glorot")
    total_out = heads * out_channels if concat else out_channels
    if bias:
        module.bias = Parameter(torch.empty(total_out))
    else:
        module.register_parameter("bias", None)


class _ScoreMixin:
    # Mixed in before the layer's base class, so reset_parameters chains to it.
    out_channels: int
    negative_slope: float

    if TYPE_CHECKING:

        def register_parameter(self, name: str, param: Parameter | None) -> None: ...


class GATScoreParameters(_ScoreMixin):
    """``att_src``, ``att_dst`` and the optional ``att_bias`` of the GAT score."""

    att_bias: Parameter | None

    def _init_score(self, heads: int, out_channels: int, att_bias: bool) -> None:
        # [1, H, C], PyG GATConv's layout, so its state dict loads unchanged.
        self.att_src = Parameter(torch.empty(1, heads, out_channels))
        self.att_dst = Parameter(torch.empty(1, heads, out_channels))
        if att_bias:
            self.att_bias = Parameter(torch.empty(heads))
        else:
            self.register_parameter("att_bias", None)

    def reset_parameters(self) -> None:
        super().reset_parameters()  # type: ignore[misc]
        glorot(self.att_src)
        glorot(self.att_dst)
        zeros(self.att_bias)

    def dense_score(self, h: Tensor) -> Tensor:
        """Scores ``[B, H, F, F]`` of projected features ``h [B, F, H, C]``."""
        return dense_gat_score(h, self.att_src, self.att_dst, self.att_bias, self.negative_slope)


class DiffScoreParameters(_ScoreMixin):
    """``att`` = [u_1 (target) | u_2 (source) | u_3 (|difference|)] of the diff score."""

    def _init_score(self, heads: int, out_channels: int, shared_attention: bool) -> None:
        self.shared_attention = shared_attention
        self.att = Parameter(torch.empty(1 if shared_attention else heads, 3 * out_channels))

    def reset_parameters(self) -> None:
        super().reset_parameters()  # type: ignore[misc]
        glorot(self.att)

    def _split_att(self) -> tuple[Tensor, Tensor, Tensor]:
        # Each part is [1 or H, C]: one vector shared by all heads, or one per head.
        att_dst, att_src, att_diff = self.att.split(self.out_channels, dim=-1)
        return att_dst, att_src, att_diff

    def dense_score(self, h: Tensor) -> Tensor:
        """Scores ``[B, H, F, F]`` of projected features ``h [B, F, H, C]``."""
        att_dst, att_src, att_diff = self._split_att()
        return dense_diff_score(h, att_dst, att_src, att_diff, self.negative_slope)
