"""Removes missing cells (NaN nodes) from feature graphs."""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data
from torch_geometric.data.datapipes import functional_transform
from torch_geometric.transforms import BaseTransform

from pyg_tabular.data.feature_graph import graph_layout
from pyg_tabular.transforms._common import check_node_values

# Node-level attributes of a feature graph; everything else is per graph or per edge.
_NODE_KEYS = ("x", "feature_id", "batch")
_EDGE_KEYS = ("edge_index", "edge_attr")


@functional_transform("drop_missing_features")
class DropMissingFeatures(BaseTransform):
    r"""Removes the nodes whose features are NaN, with their edges, from a
    feature graph or a whole batch of them (functional name:
    :obj:`drop_missing_features`).

    A node with ``C > 1`` channels is missing if any channel is NaN. The
    remaining nodes keep their order and are renumbered; ``feature_id`` keeps
    each node's column, so the rows can still be scattered back with
    :func:`~pyg_tabular.data.graph_to_rows`. Applied to a
    :class:`~torch_geometric.data.Batch` it works on all rows at once and
    keeps the batch's bookkeeping (``batch``, ``ptr``, per-graph slices)
    consistent, giving what :func:`~pyg_tabular.data.rows_to_graph` with
    ``missing="drop"`` would have built from the same rows. Node-level
    attributes handled: ``x``, ``feature_id``, ``batch``; edge-level:
    ``edge_index``, ``edge_attr``.

    Example:
        >>> import torch
        >>> from torch_geometric.data import Data
        >>> from pyg_tabular.data import fully_connected_edge_index
        >>> graph = Data(
        ...     x=torch.tensor([[1.0], [float("nan")], [3.0]]),
        ...     edge_index=fully_connected_edge_index(3, self_loops=False),
        ...     feature_id=torch.arange(3),
        ...     row_width=3,
        ... )
        >>> graph = DropMissingFeatures()(graph)
        >>> graph.x.view(-1).tolist(), graph.feature_id.tolist()
        ([1.0, 3.0], [0, 2])
        >>> graph.edge_index
        tensor([[1, 0],
                [0, 1]])
    """

    def forward(self, data: Data) -> Data:
        if not isinstance(data, Data) or not isinstance(data.x, Tensor):
            raise ValueError(
                f"data must be a torch_geometric Data or Batch with node features x "
                f"(got {type(data).__name__})"
            )
        nodes = check_node_values(data)
        missing = torch.isnan(nodes) if nodes.dim() == 1 else torch.isnan(nodes).flatten(1).any(1)
        if not bool(missing.any()):
            return data
        keep = ~missing
        old_batch = data.get("batch")
        new_id = keep.cumsum(0) - 1
        edge_index = data.edge_index
        edge_keep = None
        if isinstance(edge_index, Tensor):
            edge_keep = keep[edge_index[0]] & keep[edge_index[1]]
            data.edge_index = new_id[edge_index[:, edge_keep]]
            if isinstance(data.get("edge_attr"), Tensor):
                data.edge_attr = data.edge_attr[edge_keep]
        for key in _NODE_KEYS:
            value = data.get(key)
            if isinstance(value, Tensor):
                data[key] = value[keep]

        if isinstance(data, Batch) and hasattr(data, "_slice_dict"):
            self._update_batch_slices(data, keep, old_batch, edge_index, edge_keep)
        return data

    @staticmethod
    def _update_batch_slices(
        data: Batch,
        keep: Tensor,
        old_batch: Tensor | None,
        old_edge_index: Tensor | None,
        edge_keep: Tensor | None,
    ) -> None:
        if not isinstance(old_batch, Tensor):
            return
        num_rows = graph_layout(data)[0]
        device = keep.device
        zero = torch.zeros(1, dtype=torch.long, device=device)
        node_counts = torch.bincount(old_batch[keep], minlength=num_rows)
        node_ptr = torch.cat([zero, node_counts.cumsum(0)])
        slices = dict(data._slice_dict)
        increments = dict(data._inc_dict)
        for key in _NODE_KEYS:
            if key in slices:
                slices[key] = node_ptr
        if old_edge_index is not None and edge_keep is not None:
            edge_rows = old_batch[old_edge_index[1, edge_keep]]
            edge_counts = torch.bincount(edge_rows, minlength=num_rows)
            edge_ptr = torch.cat([zero, edge_counts.cumsum(0)])
            for key in _EDGE_KEYS:
                if key in slices:
                    slices[key] = edge_ptr
            if "edge_index" in increments:
                increments["edge_index"] = node_ptr[:-1]
        data.ptr = node_ptr
        # New dicts: the shallow copy made by __call__ shares the old ones.
        data._slice_dict = slices
        data._inc_dict = increments


__all__ = ["DropMissingFeatures"]
