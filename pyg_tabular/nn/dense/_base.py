"""Shared machinery of the dense feature-attention layers (private)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, overload

import torch
from torch import Tensor
from torch_geometric.nn.dense.linear import Linear

from pyg_tabular.nn._attention_parameters import init_attention_layer, reset_attention_layer
from pyg_tabular.nn._gat_common import (
    attend_dense,
    check_hyperparameters,
    check_node_features,
    finish_heads,
    log_edge_weight,
)


class DenseFeatureAttention(torch.nn.Module):
    r"""Base of the dense twins: projection, masking, aggregation and heads,
    with :class:`~torch_geometric.nn.dense.DenseGATConv`'s call.

    Parameter names and registration order equal those of the sparse layer
    each twin mirrors; the GAT score vectors have DenseGATConv's shape
    ``[1, 1, H, C]`` where the sparse layer has GATConv's ``[1, H, C]``, and
    ``load_state_dict`` reshapes between the two, so it works in both
    directions.
    """

    # DenseGATConv's layout of att_src / att_dst: [1, 1, H, C].
    att_lead_shape: tuple[int, ...] = (1, 1)

    in_channels: int
    out_channels: int
    heads: int
    concat: bool
    negative_slope: float
    dropout: float
    add_self_loops: bool
    lin: Linear
    lin_src: Any
    lin_dst: Any
    lin_edge: Any
    res: Any
    bias: torch.nn.Parameter | None

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        heads: int = 1,
        concat: bool = True,
        negative_slope: float = 0.2,
        dropout: float = 0.0,
        add_self_loops: bool = True,
        bias: bool = True,
        *,
        score_options: Mapping[str, Any],
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
            score_options=score_options,
        )

    def reset_parameters(self) -> None:
        reset_attention_layer(self)

    def dense_score(self, h: Tensor) -> Tensor:  # pragma: no cover - abstract
        """Scores ``[B, H, F, F]`` of projected features ``h [B, F, H, C]``."""
        raise NotImplementedError

    @overload
    def forward(
        self,
        x: Tensor,
        adj: Tensor | None = None,
        mask: Tensor | None = None,
        add_loop: bool = True,
        *,
        return_attention_weights: Literal[False] = False,
        edge_weight: Tensor | None = None,
    ) -> Tensor: ...

    @overload
    def forward(
        self,
        x: Tensor,
        adj: Tensor | None = None,
        mask: Tensor | None = None,
        add_loop: bool = True,
        *,
        return_attention_weights: Literal[True],
        edge_weight: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]: ...

    def forward(
        self,
        x: Tensor,
        adj: Tensor | None = None,
        mask: Tensor | None = None,
        add_loop: bool = True,
        *,
        return_attention_weights: bool = False,
        edge_weight: Tensor | None = None,
    ) -> Tensor | tuple[Tensor, Tensor]:
        r"""Runs the layer, with :class:`~torch_geometric.nn.dense.DenseGATConv`'s call.

        Args:
            x (torch.Tensor): Features ``[B, F, C_in]``, or ``[F, C_in]``
                for one graph (then ``B = 1``).
            adj (torch.Tensor, optional): Feature adjacency ``[F, F]`` or
                ``[B, F, F]``; entry ``[i, j]`` nonzero iff feature :math:`i`
                attends to feature :math:`j` (edge :math:`j \to i`).
                :obj:`None` is the complete graph with self-loops.
                (default: :obj:`None`)
            mask (torch.Tensor, optional): ``[B, F]`` (or ``[F]``), true for
                the valid nodes; the outputs of the others are set to zero.
                (default: :obj:`None`)
            add_loop (bool, optional): Give every feature its self-loop in
                :obj:`adj`, when the layer was built with
                :obj:`add_self_loops=True`. (default: :obj:`True`)
            return_attention_weights (bool, optional): Also return the
                attention ``[B, H, F, F]``. Keyword-only, so that a positional
                :obj:`mask` lands where DenseGATConv expects it.
                (default: :obj:`False`)
        """
        check_node_features(
            x,
            self.lin.in_channels,
            (2, 3),
            "[batch_size, num_features, in_channels] or [num_features, in_channels]",
        )
        x = x.unsqueeze(0) if x.dim() == 2 else x  # [B, F, C_in]
        batch_size, num_features, _ = x.shape
        heads, channels = self.heads, self.out_channels
        if adj is not None:
            adj = self._check_adj(adj, batch_size, num_features)
            if add_loop and self.add_self_loops:
                adj = adj | torch.eye(num_features, dtype=torch.bool, device=adj.device)
        if mask is not None:
            mask = self._check_mask(mask, batch_size, num_features)
        log_weight = None
        if edge_weight is not None:
            log_weight = self._log_weight(edge_weight, adj, add_loop, batch_size, num_features)

        h = self.lin(x).view(batch_size, num_features, heads, channels)  # [B, F, H, C]
        score = self.dense_score(h)  # [B, H, F, F]
        if log_weight is not None:
            score = score + log_weight
        out, alpha = attend_dense(score, x, h, self.lin.weight, adj, self.dropout, self.training)
        out = finish_heads(out, self.concat)
        if self.bias is not None:
            out = out + self.bias
        if mask is not None:
            # As DenseGATConv: padding nodes still send, but their own output is zero.
            out = out * mask.view(-1, num_features, 1).to(out.dtype)
        if return_attention_weights:
            return out, alpha
        return out

    @staticmethod
    def _check_adj(adj: object, batch_size: int, num_features: int, name: str = "adj") -> Tensor:
        if not isinstance(adj, Tensor):
            raise ValueError(f"{name} must be a torch.Tensor or None (got {type(adj).__name__})")
        if adj.dim() not in (2, 3) or tuple(adj.shape[-2:]) != (num_features, num_features):
            raise ValueError(
                f"{name} must have shape [{num_features}, {num_features}] or "
                f"[{batch_size}, {num_features}, {num_features}] (got shape "
                f"{tuple(adj.shape)})"
            )
        if adj.dim() == 3 and adj.size(0) not in (1, batch_size):
            raise ValueError(
                f"{name} must hold one graph or one per row ({batch_size}); got shape "
                f"{tuple(adj.shape)}"
            )
        return adj if adj.dtype == torch.bool else adj != 0

    def _log_weight(
        self,
        edge_weight: object,
        adj: Tensor | None,
        add_loop: bool,
        batch_size: int,
        num_features: int,
    ) -> Tensor:
        # log w, [F, F] or [B, 1, F, F] to broadcast over the heads of the score.
        # Checked for its shape only; log_edge_weight checks the values.
        self._check_adj(edge_weight, batch_size, num_features, name="edge_weight")
        assert isinstance(edge_weight, Tensor)
        if not edge_weight.is_floating_point():
            raise ValueError(
                f"edge_weight must be a floating-point tensor (got {edge_weight.dtype})"
            )
        weight = edge_weight
        if add_loop and self.add_self_loops:
            # The sparse layer replaces self-loops by loops of weight 1.
            eye = torch.eye(num_features, dtype=torch.bool, device=weight.device)
            weight = torch.where(eye, weight.new_ones(()), weight)
        if adj is not None:
            # Only the graph's edges are read: zeros elsewhere are allowed.
            weight = torch.where(adj, weight, weight.new_ones(()))
        log_weight = log_edge_weight(weight)
        return log_weight.unsqueeze(-3) if log_weight.dim() == 3 else log_weight

    @staticmethod
    def _check_mask(mask: object, batch_size: int, num_features: int) -> Tensor:
        if not isinstance(mask, Tensor):
            raise ValueError(f"mask must be a torch.Tensor or None (got {type(mask).__name__})")
        if mask.numel() not in (num_features, batch_size * num_features) or (
            mask.dim() > 0 and mask.size(-1) != num_features
        ):
            raise ValueError(
                f"mask must have shape [{batch_size}, {num_features}] or [{num_features}] "
                f"(got shape {tuple(mask.shape)})"
            )
        return mask

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.in_channels}, {self.out_channels}, heads={self.heads})"
