"""Shared machinery of the sparse feature-attention convs (private)."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.nn.dense.linear import Linear
from torch_geometric.nn.inits import zeros
from torch_geometric.utils import add_self_loops as add_loops
from torch_geometric.utils import remove_self_loops

from pyg_tabular.nn._attention_parameters import init_attention_layer
from pyg_tabular.nn.functional import (
    complete_blocks,
    dense_attention,
    dense_to_edge_attention,
)
from pyg_tabular.utils.scatter import scatter
from pyg_tabular.utils.validation import check_finite

_HOOK_DICTS = (
    "_propagate_forward_pre_hooks",
    "_propagate_forward_hooks",
    "_message_forward_pre_hooks",
    "_message_forward_hooks",
    "_aggregate_forward_pre_hooks",
    "_aggregate_forward_hooks",
    "_message_and_aggregate_forward_pre_hooks",
    "_message_and_aggregate_forward_hooks",
    "_edge_update_forward_pre_hooks",
    "_edge_update_forward_hooks",
)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_hyperparameters(
    in_channels: int,
    out_channels: int,
    heads: int,
    negative_slope: float,
    dropout: float,
) -> None:
    """Raises a ValueError naming the first invalid constructor argument."""
    if not _is_int(in_channels) or (in_channels <= 0 and in_channels != -1):
        raise ValueError(
            f"in_channels must be a positive int, or -1 for lazy initialization "
            f"(got {in_channels!r})"
        )
    if not _is_int(out_channels) or out_channels <= 0:
        raise ValueError(f"out_channels must be a positive int (got {out_channels!r})")
    if not _is_int(heads) or heads <= 0:
        raise ValueError(f"heads must be a positive int (got {heads!r})")
    if (
        isinstance(negative_slope, bool)
        or not isinstance(negative_slope, (int, float))
        or not math.isfinite(negative_slope)
        or negative_slope < 0
    ):
        raise ValueError(
            f"negative_slope must be a finite non-negative number (got {negative_slope!r})"
        )
    if (
        isinstance(dropout, bool)
        or not isinstance(dropout, (int, float))
        or not 0.0 <= dropout < 1.0
    ):
        raise ValueError(f"dropout must be in [0, 1) (got {dropout!r})")


def check_node_features(x: object, in_channels: int, ranks: tuple[int, ...], layout: str) -> None:
    """Raises a ValueError unless x is a float tensor of a valid rank and width."""
    if not isinstance(x, Tensor):
        raise ValueError(f"x must be a torch.Tensor of shape {layout} (got {type(x).__name__})")
    if x.dim() not in ranks:
        raise ValueError(f"x must have shape {layout} (got {x.dim()}-D shape {tuple(x.shape)})")
    if not x.is_floating_point():
        raise ValueError(f"x must have a floating dtype (got {x.dtype})")
    if in_channels > 0 and x.size(-1) != in_channels:
        raise ValueError(
            f"x must have {in_channels} channels in its last dimension, as the layer "
            f"was built with (got shape {tuple(x.shape)})"
        )
    # A NaN or inf node would spread through every softmax it enters; missing
    # features are left out of the graph (rows_to_graph(missing="drop")) instead.
    check_finite(x, "x", hint="drop missing features as nodes with rows_to_graph(missing='drop')")


def check_edge_index(edge_index: object, num_nodes: int, check_range: bool = True) -> Tensor:
    """Raises a ValueError unless edge_index is a valid [2, E] index over num_nodes."""
    if not isinstance(edge_index, Tensor) or edge_index.layout != torch.strided:
        raise ValueError(
            "edge_index must be a dense integer tensor of shape [2, num_edges] "
            f"(got {type(edge_index).__name__})"
        )
    if edge_index.is_floating_point() or edge_index.is_complex() or edge_index.dtype == torch.bool:
        raise ValueError(
            f"edge_index must hold integer node indices (got dtype {edge_index.dtype})"
        )
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(
            f"edge_index must have shape [2, num_edges] (got shape {tuple(edge_index.shape)})"
        )
    edge_index = edge_index.long()
    # A bad index would otherwise surface as an opaque error inside index_select;
    # the check syncs, so it is skipped while compiling.
    if check_range and edge_index.numel() > 0 and not torch.compiler.is_compiling():
        low, high = torch.aminmax(edge_index)
        if int(low) < 0 or int(high) >= num_nodes:
            raise ValueError(
                f"edge_index holds node indices from {int(low)} to {int(high)}, outside "
                f"[0, {num_nodes}) for the {num_nodes} nodes of x"
            )
    return edge_index


def project_heads(aggregated: Tensor, weight: Tensor, channels: int) -> Tensor:
    r"""Maps aggregated raw inputs ``[..., N, H, C_in]`` through each head's
    block of ``weight`` (``[H·C_out, C_in]``) to ``[..., N, H, C_out]``.

    Attention is linear in the messages and the projection has no bias, so
    :math:`\sum_j \alpha_{ij} \mathbf{W} \mathbf{x}_j = \mathbf{W} \sum_j \alpha_{ij}
    \mathbf{x}_j`: aggregating the raw input moves ``C_in`` instead of
    ``C_out`` values per edge (16x fewer for one input channel and 16 outputs).
    """
    heads = aggregated.size(-2)
    weight = weight.view(heads, channels, -1)  # [H, C_out, C_in]
    if heads == 1:
        return F.linear(aggregated, weight[0])
    lead = aggregated.shape[:-2]
    per_head = aggregated.reshape(-1, heads, aggregated.size(-1)).transpose(0, 1)
    out = torch.bmm(per_head, weight.transpose(1, 2))  # [H, M, C_out]
    return out.transpose(0, 1).reshape(*lead, heads, channels)


def attend_dense(
    score: Tensor,
    x: Tensor,
    h: Tensor,
    weight: Tensor,
    adj: Tensor | None,
    dropout: float,
    training: bool,
) -> tuple[Tensor, Tensor]:
    """dense_attention on h [B, F, H, C_out], or on the raw x [B, F, C_in] when narrower."""
    channels = h.size(-1)
    if x.size(-1) < channels:
        aggregated, alpha = dense_attention(score, x.unsqueeze(2), adj, dropout, training)
        return project_heads(aggregated, weight, channels), alpha
    return dense_attention(score, h, adj, dropout, training)


class FeatureAttentionConv(MessagePassing):
    r"""Base of the sparse feature-attention convs: projection, forward contract
    and the dense fast path for complete graphs.

    Subclasses define their attention parameters, :meth:`dense_score` and
    :meth:`edge_attention` (which calls :meth:`edge_updater`).
    """

    in_channels: int
    out_channels: int
    heads: int
    concat: bool
    negative_slope: float
    dropout: float
    add_self_loops: bool
    lin: Linear
    bias: torch.nn.Parameter | None

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        heads: int = 1,
        concat: bool = True,
        negative_slope: float = 0.2,
        dropout: float = 0.0,
        add_self_loops: bool = False,
        bias: bool = True,
        **kwargs: Any,
    ) -> None:
        check_hyperparameters(in_channels, out_channels, heads, negative_slope, dropout)
        aggr = kwargs.setdefault("aggr", "add")
        if aggr not in ("add", "sum"):
            raise ValueError(f"aggr must be 'add': attention sums its messages (got {aggr!r})")
        if "node_dim" in kwargs:
            raise ValueError(
                f"node_dim is fixed by the layer (got node_dim={kwargs['node_dim']!r})"
            )
        # Node features are [..., N, H, C]: nodes sit at dim -3 for both the
        # batched form ([N, H, C]) and the static form ([B, F, H, C]).
        super().__init__(node_dim=-3, **kwargs)
        init_attention_layer(
            self,
            in_channels,
            out_channels,
            heads=heads,
            concat=concat,
            negative_slope=negative_slope,
            dropout=dropout,
            add_self_loops=add_self_loops,
            bias=bias,
        )

    def reset_parameters(self) -> None:
        super().reset_parameters()
        self.lin.reset_parameters()
        zeros(self.bias)

    # Subclass hooks ##########################################################

    def dense_score(self, h: Tensor) -> Tensor:  # pragma: no cover - abstract
        """Scores ``[B, H, F, F]`` of dense features ``h [B, F, H, C]``."""
        raise NotImplementedError

    def edge_attention(
        self, x: Tensor, h: Tensor, edge_index: Tensor, size: tuple[int, int] | None
    ) -> Tensor:  # pragma: no cover - abstract
        """Normalised (and dropped-out) attention ``[..., E, H, 1]`` from the raw
        input ``x [..., N, C_in]`` and its projection ``h [..., N, H, C]``."""
        raise NotImplementedError

    # Message passing #########################################################

    def message(self, x_j: Tensor, alpha: Tensor) -> Tensor:
        return alpha * x_j

    def aggregate(self, inputs: Tensor, index: Tensor, dim_size: int | None = None) -> Tensor:
        # Our scatter follows pyg_tabular.typing.WITH_TORCH_SCATTER.
        assert dim_size is not None  # propagate sizes it from x
        return scatter(inputs, index, dim=self.node_dim, dim_size=dim_size, reduce="sum")

    def _may_bypass_propagate(self) -> bool:
        # The dense path skips propagate; explainers, decomposition and user
        # hooks all live there, so their presence keeps the generic path. Its
        # edge order assumes PyG's default flow.
        if self.explain or self.decomposed_layers > 1 or self.flow != "source_to_target":
            return False
        return not any(len(getattr(self, name)) for name in _HOOK_DICTS)

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor,
        edge_attr: Tensor | None = None,
        size: tuple[int, int] | None = None,
        return_attention_weights: bool = False,
    ) -> Tensor | tuple[Tensor, tuple[Tensor, Tensor]]:
        r"""Runs the layer.

        Args:
            x (torch.Tensor): Node features ``[N, C_in]`` of a (batched)
                graph, or ``[B, F, C_in]`` in PyG's static-graph form, where
                :obj:`edge_index` is one template over ``F`` nodes shared by
                all ``B`` rows.
            edge_index (torch.Tensor): ``[2, E]``, row 0 sources, row 1 targets.
            edge_attr (torch.Tensor, optional): Not supported; must be
                :obj:`None`.
            size ((int, int), optional): ``(N, N)``; bipartite graphs are not
                supported.
            return_attention_weights (bool, optional): Also return
                ``(edge_index, alpha)``. (default: :obj:`False`)
        """
        name = type(self).__name__
        check_node_features(
            x,
            self.lin.in_channels,
            (2, 3),
            "[num_nodes, in_channels] or [batch_size, num_features, in_channels]",
        )
        if edge_attr is not None:
            raise ValueError(f"{name} does not use edge features; edge_attr must be None")
        num_nodes = x.size(-2)
        if size is not None and any(s is not None and s != num_nodes for s in size):
            raise ValueError(
                f"{name} does not support bipartite graphs; size must be "
                f"({num_nodes}, {num_nodes}) or None (got {tuple(size)})"
            )
        edge_index = check_edge_index(edge_index, num_nodes, check_range=False)
        heads, channels = self.heads, self.out_channels

        h = self.lin(x).view(*x.shape[:-1], heads, channels)  # [..., N, H, C]
        if self.add_self_loops:
            edge_index, _ = remove_self_loops(edge_index)
            edge_index, _ = add_loops(edge_index, num_nodes=num_nodes)

        blocks = complete_blocks(edge_index, num_nodes) if self._may_bypass_propagate() else None
        if blocks is not None:
            width, self_loops = blocks
            h_dense = h.reshape(-1, width, heads, channels)  # [rows, F, H, C]
            x_dense = x.reshape(-1, width, x.size(-1))  # [rows, F, C_in]
            adj = None
            if not self_loops:
                adj = ~torch.eye(width, dtype=torch.bool, device=x.device)
            out, dense_alpha = attend_dense(
                self.dense_score(h_dense),
                x_dense,
                h_dense,
                self.lin.weight,
                adj,
                self.dropout,
                self.training,
            )
            out = out.reshape(h.shape)
            alpha = None
            if return_attention_weights:
                edge_alpha = dense_to_edge_attention(dense_alpha, self_loops)
                alpha = edge_alpha.reshape(*x.shape[:-2], edge_index.size(1), heads)
        else:
            # complete_blocks proved a complete graph's indices valid; any
            # other graph is checked here.
            check_edge_index(edge_index, num_nodes)
            edge_alpha = self.edge_attention(x, h, edge_index, size)  # [..., E, H, 1]
            if x.size(-1) < channels:
                # Messages carry the narrower raw input; see project_heads.
                aggregated = self.propagate(
                    edge_index, x=x.unsqueeze(-2), alpha=edge_alpha, size=size
                )  # [..., N, H, C_in]
                out = project_heads(aggregated, self.lin.weight, channels)
            else:
                out = self.propagate(edge_index, x=h, alpha=edge_alpha, size=size)
            alpha = edge_alpha.squeeze(-1)

        if self.concat:
            out = out.reshape(*out.shape[:-2], heads * channels)
        else:
            out = out.mean(dim=-2)
        if self.bias is not None:
            out = out + self.bias

        if return_attention_weights:
            assert alpha is not None
            return out, (edge_index, alpha)
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.in_channels}, {self.out_channels}, heads={self.heads})"
