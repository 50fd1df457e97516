"""Helpers shared by the feature-graph transforms (private)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Data

from pyg_tabular.data import graph_to_rows
from pyg_tabular.utils.validation import check_finite, check_rank, to_tensor


def is_feature_graph(data: Any) -> bool:
    return isinstance(data, Data) and isinstance(getattr(data, "feature_id", None), Tensor)


def check_node_values(data: Any, name: str = "data.x") -> Tensor:
    r"""Validates a feature graph's node values ``[N]`` or ``[N, C]``; NaN marks absent cells."""
    nodes = to_tensor(data.x, name)
    check_rank(nodes, name, (1, 2), "[num_nodes] or [num_nodes, num_channels]")
    check_finite(nodes, name, allow_nan=True)
    return nodes


def fit_rows(x_or_batch: Any, name: str = "x") -> Tensor:
    rows = _fit_rows(x_or_batch, name)
    if rows.size(0) == 0:
        raise ValueError(f"{name} must hold at least one row to fit on (got 0 rows)")
    return rows


def _fit_rows(x_or_batch: Any, name: str) -> Tensor:
    r"""Returns training rows as a float64 ``[N, F, C]`` tensor, NaN marking absent cells.

    Accepts raw rows (Tensor, ndarray or DataFrame of shape ``[N, F]`` or
    ``[N, F, C]``) or a batch of feature graphs, whose dropped nodes come back
    as NaN cells.
    """
    if is_feature_graph(x_or_batch):
        nodes = x_or_batch.x
        if not isinstance(nodes, Tensor):
            raise ValueError(f"{name} must carry node features x (got {type(nodes).__name__})")
        nodes = nodes.view(-1, 1) if nodes.dim() == 1 else nodes
        rows = graph_to_rows(
            nodes.to(torch.float64), x_or_batch, fill_value=float("nan")
        )  # [B, F, C]
        assert isinstance(rows, Tensor)
        return rows
    if isinstance(x_or_batch, Data):
        raise ValueError(
            f"{name} must be rows [N, F] or a batch of feature graphs with feature_id "
            "(got a Data object without feature_id)"
        )
    rows = to_tensor(x_or_batch, name)
    check_rank(rows, name, (2, 3), "[num_rows, num_features] or [num_rows, num_features, C]")
    rows = rows.to(torch.float64)
    check_finite(rows, name, allow_nan=True)
    return rows.unsqueeze(-1) if rows.dim() == 2 else rows
