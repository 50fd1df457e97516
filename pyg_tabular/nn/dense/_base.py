"""Shared machinery of the dense feature-attention layers (private)."""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.nn.dense.linear import Linear
from torch_geometric.nn.inits import zeros

from pyg_tabular.nn._attention_parameters import init_attention_layer
from pyg_tabular.nn.conv._base import attend_dense, check_hyperparameters, check_node_features


class DenseFeatureAttention(torch.nn.Module):
    r"""Base of the dense twins: projection, masking, aggregation and heads.

    Parameter names and shapes equal those of the sparse layer each twin
    mirrors, so ``load_state_dict`` works in both directions.
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
    ) -> None:
        check_hyperparameters(in_channels, out_channels, heads, negative_slope, dropout)
        super().__init__()
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
        self.lin.reset_parameters()
        zeros(self.bias)

    def dense_score(self, h: Tensor) -> Tensor:  # pragma: no cover - abstract
        """Scores ``[B, H, F, F]`` of projected features ``h [B, F, H, C]``."""
        raise NotImplementedError

    def forward(
        self,
        x: Tensor,
        adj: Tensor | None = None,
        return_attention_weights: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        r"""Runs the layer.

        Args:
            x (torch.Tensor): Features ``[B, F, C_in]``.
            adj (torch.Tensor, optional): Feature adjacency ``[F, F]`` or
                ``[B, F, F]``; entry ``[i, j]`` nonzero iff feature :math:`i`
                attends to feature :math:`j` (edge :math:`j \to i`).
                :obj:`None` is the complete graph with self-loops.
                (default: :obj:`None`)
            return_attention_weights (bool, optional): Also return the
                attention ``[B, H, F, F]``. (default: :obj:`False`)
        """
        check_node_features(
            x, self.lin.in_channels, (3,), "[batch_size, num_features, in_channels]"
        )
        batch_size, num_features, _ = x.shape
        heads, channels = self.heads, self.out_channels
        if adj is not None:
            if not isinstance(adj, Tensor):
                raise ValueError(f"adj must be a torch.Tensor or None (got {type(adj).__name__})")
            if adj.dim() not in (2, 3) or tuple(adj.shape[-2:]) != (num_features, num_features):
                raise ValueError(
                    f"adj must have shape [{num_features}, {num_features}] or "
                    f"[{batch_size}, {num_features}, {num_features}] (got shape "
                    f"{tuple(adj.shape)})"
                )
            if adj.dim() == 3 and adj.size(0) not in (1, batch_size):
                raise ValueError(
                    f"adj must hold one graph or one per row ({batch_size}); got shape "
                    f"{tuple(adj.shape)}"
                )
            adj = adj if adj.dtype == torch.bool else adj != 0
            if self.add_self_loops:
                adj = adj | torch.eye(num_features, dtype=torch.bool, device=adj.device)

        h = self.lin(x).view(batch_size, num_features, heads, channels)  # [B, F, H, C]
        out, alpha = attend_dense(
            self.dense_score(h), x, h, self.lin.weight, adj, self.dropout, self.training
        )
        if self.concat:
            out = out.reshape(batch_size, num_features, heads * channels)
        else:
            out = out.mean(dim=2)
        if self.bias is not None:
            out = out + self.bias
        if return_attention_weights:
            return out, alpha
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.in_channels}, {self.out_channels}, heads={self.heads})"
