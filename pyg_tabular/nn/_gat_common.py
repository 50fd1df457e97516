"""Checks and kernels shared by the sparse convs and their dense twins (private).

Both families import from here, never from each other, so that the dense
twins do not depend on the message-passing layers.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from pyg_tabular.nn.functional import dense_attention
from pyg_tabular.utils.validation import (
    check_finite_cells,
    check_fraction,
    check_rank,
    is_int,
)

#: ``in_channels`` of a layer: one size for all nodes, or ``(source, target)``.
InChannels = int | tuple[int, int]


def _check_in_channels(value: object, name: str) -> None:
    if not is_int(value) or (value <= 0 and value != -1):  # type: ignore[operator]
        raise ValueError(
            f"{name} must be a positive int, or -1 for lazy initialization (got {value!r})"
        )


def check_hyperparameters(
    in_channels: object,
    out_channels: object,
    heads: object,
    negative_slope: object,
    dropout: object,
    *,
    bipartite: bool = False,
) -> None:
    """Raises a ValueError naming the first invalid constructor argument.

    With :obj:`bipartite`, :obj:`in_channels` may also be a ``(source,
    target)`` pair of sizes.
    """
    if bipartite and isinstance(in_channels, tuple):
        if len(in_channels) != 2:
            raise ValueError(
                f"in_channels must be an int or a (source, target) pair (got {in_channels!r})"
            )
        for value in in_channels:
            _check_in_channels(value, "in_channels")
    else:
        _check_in_channels(in_channels, "in_channels")
    if not is_int(out_channels) or out_channels <= 0:  # type: ignore[operator]
        raise ValueError(f"out_channels must be a positive int (got {out_channels!r})")
    if not is_int(heads) or heads <= 0:  # type: ignore[operator]
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
    check_fraction(dropout, "dropout")


def check_node_features(
    x: object, in_channels: int, ranks: tuple[int, ...], layout: str, name: str = "x"
) -> Tensor:
    """Raises a ValueError unless x is a finite float tensor of a valid rank and width."""
    if not isinstance(x, Tensor):
        raise ValueError(
            f"{name} must be a torch.Tensor of shape {layout} (got {type(x).__name__})"
        )
    check_rank(x, name, ranks, layout)
    if not x.is_floating_point():
        raise ValueError(f"{name} must have a floating dtype (got {x.dtype})")
    if in_channels > 0 and x.size(-1) != in_channels:
        raise ValueError(
            f"{name} must have {in_channels} channels in its last dimension, as the layer "
            f"was built with (got shape {tuple(x.shape)})"
        )
    # A NaN or inf node would spread through every softmax it enters; missing
    # features are left out of the graph (rows_to_graph(missing="drop")) instead.
    check_finite_cells(
        x, name, nan_hint="drop missing features as nodes with rows_to_graph(missing='drop')"
    )
    return x


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


def log_edge_weight(edge_weight: object, name: str = "edge_weight") -> Tensor:
    r"""The logarithm of positive edge weights, the term they add to a score.

    .. math::
        \alpha_{ij} = \frac{w_{ij} \exp e_{ij}}{\sum_l w_{il} \exp e_{il}}
        = \mathrm{softmax}_j\left(e_{ij} + \log w_{ij}\right)

    A weight multiplies an edge's share of its target's softmax before the
    renormalisation, so every attention layer takes weights as one additive
    term of its score. Weights must be positive and finite: an edge of
    weight zero is an edge to leave out of the graph.
    """
    if not isinstance(edge_weight, Tensor) or not edge_weight.is_floating_point():
        found = edge_weight.dtype if isinstance(edge_weight, Tensor) else type(edge_weight).__name__
        raise ValueError(f"{name} must be a floating-point tensor (got {found})")
    # The check syncs, so compiled code skips it, as it skips the index checks.
    if edge_weight.numel() > 0 and not torch.compiler.is_compiling():
        if not bool(torch.isfinite(edge_weight).all()) or not bool((edge_weight > 0).all()):
            low = float(edge_weight.min())
            raise ValueError(
                f"{name} must hold positive finite weights (got values down to {low:g}); "
                "leave a zero-weight edge out of the graph instead"
            )
    return edge_weight.log()


def finish_heads(out: Tensor, concat: bool) -> Tensor:
    """``[..., N, H, C]`` to ``[..., N, H·C]`` (concat) or ``[..., N, C]`` (mean)."""
    if concat:
        return out.reshape(*out.shape[:-2], out.size(-2) * out.size(-1))
    return out.mean(dim=-2)


__all__ = [
    "InChannels",
    "check_hyperparameters",
    "check_node_features",
    "project_heads",
    "attend_dense",
    "log_edge_weight",
    "finish_heads",
]
