r"""Rows ⇄ feature graphs, vectorized.

Two forms of the same graph:

* the **batched form** (:func:`rows_to_graph`): one PyG :class:`~torch_geometric.data.Batch`
  with ``B·F`` nodes and an explicit, per-row offset ``edge_index``. Rows may
  differ in size (missing cells dropped as nodes) and any feature adjacency
  works. This is what PyG's ``MessagePassing`` layers, loaders and pooling
  compose with.
* the **static form** (:func:`to_static_graph`): node features ``[B, F, C]``
  plus one ``[2, E]`` template shared by all rows, as PyG's static-graph
  convention allows. No ``B·E`` index is ever built, so it costs
  :math:`O(B \cdot F)`; it needs every row to have all of its features.

Neither form loops over rows in Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data

from pyg_tabular.data._memory import check_graph_size
from pyg_tabular.data.edge_index import (
    check_template,
    complete_template,
    repeat_template,
    template_size,
)
from pyg_tabular.utils.scatter import scatter
from pyg_tabular.utils.validation import (
    check_finite,
    check_finite_cells,
    check_int,
    is_dataframe,
    to_tensor,
)

_MISSING_MODES = ("error", "drop")
_NAN_HINT = "pass missing='drop' to treat NaN cells as absent"


def _rows_as_tensor(x: Any) -> tuple[Tensor, list[str] | None]:
    columns = [str(c) for c in x.columns] if is_dataframe(x) and x.ndim == 2 else None
    rows = to_tensor(x, "x")
    if rows.dim() not in (2, 3):
        raise ValueError(
            "x must have shape [num_rows, num_features] or "
            f"[num_rows, num_features, num_channels] (got {rows.dim()}-D shape "
            f"{tuple(rows.shape)})"
        )
    return rows, columns


def _check_feature_names(
    feature_names: Sequence[str] | None, num_features: int
) -> list[str] | None:
    if feature_names is None:
        return None
    if isinstance(feature_names, str) or len(feature_names) != num_features:
        raise ValueError(
            f"feature_names must name each of the {num_features} features (got {feature_names!r})"
        )
    return [str(name) for name in feature_names]


def _check_targets(y: Any, num_rows: int) -> Tensor:
    target = to_tensor(y, "y", allow_integer=True)
    if target.dim() == 0 or target.size(0) != num_rows:
        raise ValueError(
            f"y must have one entry per row of x ({num_rows} rows; got shape {tuple(target.shape)})"
        )
    check_finite(target, "y")
    return target


def rows_to_graph(
    x: Any,
    y: Any = None,
    *,
    edge_index: Any = None,
    self_loops: bool = True,
    missing: str = "error",
    feature_names: Sequence[str] | None = None,
    max_bytes: int | None = None,
) -> Batch:
    r"""Turns each table row into a graph over its features, all rows in one batch.

    Row :math:`b` becomes a graph whose node :math:`f` carries
    :math:`x_{b,f} \in \mathbb{R}^C`; its edges are the template
    :obj:`edge_index` (default: the complete graph), offset by the row's first
    node. The result equals :meth:`Batch.from_data_list` applied to the
    per-row graphs of :class:`~pyg_tabular.transforms.ToFeatureGraph`, built
    without a Python loop over rows.

    Args:
        x (torch.Tensor or numpy.ndarray or pandas.DataFrame): Rows of shape
            ``[B, F]`` (one channel per feature) or ``[B, F, C]``.
        y (torch.Tensor or numpy.ndarray, optional): One target per row,
            shape ``[B]`` or ``[B, T]``. (default: :obj:`None`)
        edge_index (torch.Tensor, optional): Feature adjacency template
            ``[2, E]`` over ``F`` nodes, ``source → target``. (default: the
            complete graph, see :func:`~pyg_tabular.data.fully_connected_edge_index`)
        self_loops (bool, optional): Self-loops in the default complete
            template. (default: :obj:`True`)
        missing (str, optional): ``"error"`` rejects NaN cells; ``"drop"``
            removes them as nodes together with their edges, so rows can differ
            in size. A cell with ``C > 1`` is missing if any channel is NaN.
            (default: :obj:`"error"`)
        feature_names (list of str, optional): Names of the ``F`` features; a
            DataFrame's columns are used when not given.
        max_bytes (int, optional): Most bytes the graph may take (its
            ``B·E`` edge index, per-node indices and the complete template).
            (default: half of the device's available memory)

    Raises:
        ValueError: If a cell is infinite, or NaN with ``missing="error"``
            (only then does the message suggest ``missing="drop"``); or if
            the estimated size of the graph exceeds the limit, checked before
            anything is allocated and naming ``B`` and ``F``.

    Returns:
        :class:`~torch_geometric.data.Batch` with ``x [N, C]``,
        ``feature_id [N]`` (column of each node), ``edge_index``, ``batch``,
        ``ptr``, ``row_width [B]`` (``F``, needed to scatter rows back),
        ``y`` when given and ``feature_names`` when known.

    Example:
        >>> import torch
        >>> batch = rows_to_graph(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
        >>> batch.num_graphs, batch.x.view(-1).tolist(), batch.feature_id.tolist()
        (2, [1.0, 2.0, 3.0, 4.0], [0, 1, 0, 1])
        >>> batch.edge_index
        tensor([[0, 1, 0, 1, 2, 3, 2, 3],
                [0, 0, 1, 1, 2, 2, 3, 3]])
    """
    if missing not in _MISSING_MODES:
        raise ValueError(f"missing must be one of {_MISSING_MODES} (got {missing!r})")
    rows, columns = _rows_as_tensor(x)
    num_rows, num_features = rows.size(0), rows.size(1)
    names = _check_feature_names(
        feature_names if feature_names is not None else columns, num_features
    )
    check_finite_cells(rows, "x", allow_nan=missing == "drop", nan_hint=_NAN_HINT)
    target = None if y is None else _check_targets(y, num_rows)
    drop = missing == "drop" and bool(torch.isnan(rows).any())
    template = None if edge_index is None else check_template(edge_index, num_features)
    num_edges = template_size(num_features, self_loops, template)
    check_graph_size(
        "rows_to_graph",
        num_rows,
        num_features,
        num_edges,
        device=rows.device,
        builds_template=template is None,
        drop=drop,
        max_bytes=max_bytes,
    )
    if template is None:
        template = complete_template(num_features, self_loops, device=rows.device)
    template = template.to(rows.device)

    num_channels = rows.size(2) if rows.dim() == 3 else 1
    nodes = rows.reshape(num_rows * num_features, num_channels)  # [B*F, C]
    if drop:
        return _build_sparse_rows(nodes, num_rows, num_features, template, target, names)
    return _build_complete_rows(nodes, num_rows, num_features, template, target, names)


def _finish_batch(
    *,
    nodes: Tensor,
    feature_id: Tensor,
    edge_index: Tensor,
    node_ptr: Tensor,
    edge_ptr: Tensor,
    num_features: int,
    target: Tensor | None,
    names: list[str] | None,
) -> Batch:
    num_rows = node_ptr.numel() - 1
    device = nodes.device
    counts = node_ptr.diff()
    graph_ptr = torch.arange(num_rows + 1, device=device)
    zeros = torch.zeros(num_rows, dtype=torch.long, device=device)
    store: dict[str, Any] = {
        "x": nodes,
        "edge_index": edge_index,
        "feature_id": feature_id,
        "row_width": torch.full((num_rows,), num_features, dtype=torch.long, device=device),
    }
    slices: dict[str, Tensor] = {
        "x": node_ptr,
        "edge_index": edge_ptr,
        "feature_id": node_ptr,
        "row_width": graph_ptr,
    }
    increments: dict[str, Tensor | None] = {
        "x": zeros,
        "edge_index": node_ptr[:-1],
        "feature_id": zeros,
        "row_width": zeros,
    }
    if target is not None:
        store["y"] = target
        slices["y"] = graph_ptr
        increments["y"] = zeros
    if names is not None:
        # from_data_list keeps one list per graph; sharing one list object
        # keeps that layout at O(B) pointers.
        store["feature_names"] = [names] * num_rows
        slices["feature_names"] = graph_ptr
        increments["feature_names"] = None
    store["batch"] = torch.arange(num_rows, device=device).repeat_interleave(
        counts, output_size=nodes.size(0)
    )
    store["ptr"] = node_ptr
    batch = Batch(_base_cls=Data, **store)
    batch._num_graphs = num_rows
    batch._slice_dict = slices
    batch._inc_dict = increments
    # Kept outside the store (underscore attributes are not collated) so that an
    # empty batch still knows its row width.
    batch._row_width = num_features
    return batch


def _mark_complete(batch: Batch, num_rows: int, num_features: int) -> Batch:
    # Remembers that nodes are complete rows in row-major order, so graph_to_rows
    # can return a view without re-checking feature_id (an O(N) read).
    batch._complete_rows = (num_rows, num_features)
    return batch


def _build_complete_rows(
    nodes: Tensor,
    num_rows: int,
    num_features: int,
    template: Tensor,
    target: Tensor | None,
    names: list[str] | None,
) -> Batch:
    device = nodes.device
    num_template_edges = template.size(1)
    node_ptr = torch.arange(num_rows + 1, device=device) * num_features
    edge_index = repeat_template(template, num_rows, num_features)
    feature_id = torch.arange(num_features, device=device).expand(num_rows, num_features)
    batch = _finish_batch(
        nodes=nodes,
        feature_id=feature_id.reshape(-1),
        edge_index=edge_index,
        node_ptr=node_ptr,
        edge_ptr=torch.arange(num_rows + 1, device=device) * num_template_edges,
        num_features=num_features,
        target=target,
        names=names,
    )
    return _mark_complete(batch, num_rows, num_features)


def _build_sparse_rows(
    nodes: Tensor,
    num_rows: int,
    num_features: int,
    template: Tensor,
    target: Tensor | None,
    names: list[str] | None,
) -> Batch:
    device = nodes.device
    present = ~torch.isnan(nodes).any(dim=-1).view(num_rows, num_features)  # [B, F]
    flat_present = present.view(-1)
    # Global node number of each present cell, in row-major order.
    node_number = (flat_present.cumsum(0) - 1).view(num_rows, num_features)
    source, target_node = template[0], template[1]
    edge_present = present[:, source] & present[:, target_node]  # [B, E]
    edge_index = torch.stack(
        [node_number[:, source][edge_present], node_number[:, target_node][edge_present]]
    )
    zero = torch.zeros(1, dtype=torch.long, device=device)
    node_ptr = torch.cat([zero, present.sum(1).cumsum(0)])
    edge_ptr = torch.cat([zero, edge_present.sum(1).cumsum(0)])
    feature_id = torch.arange(num_features, device=device).expand(num_rows, num_features)
    return _finish_batch(
        nodes=nodes[flat_present],
        feature_id=feature_id[present],
        edge_index=edge_index,
        node_ptr=node_ptr,
        edge_ptr=edge_ptr,
        num_features=num_features,
        target=target,
        names=names,
    )


def graph_layout(graph: Any, num_features: int | None = None) -> tuple[int, int, Tensor]:
    r"""Returns ``(num_rows, row_width, node_batch)`` of a feature graph or batch.

    The row width comes from :obj:`num_features`, else ``graph.row_width``,
    else the width remembered by :func:`rows_to_graph` (empty batches), else
    the largest ``feature_id``. A graph without ``batch`` is one row.
    """
    feature_id = graph.feature_id
    node_batch = getattr(graph, "batch", None)
    if isinstance(graph, Batch):
        num_rows = graph.num_graphs
    elif isinstance(node_batch, Tensor):
        num_rows = int(node_batch.max()) + 1 if node_batch.numel() > 0 else 0
    else:
        num_rows = 1  # a single row's graph
    if not isinstance(node_batch, Tensor):
        node_batch = torch.zeros_like(feature_id)
    return num_rows, _row_width(graph, feature_id, num_features), node_batch


def _row_width(graph: Any, feature_id: Tensor, num_features: int | None) -> int:
    if num_features is not None:
        return num_features
    width = getattr(graph, "row_width", None)
    if isinstance(width, Tensor) and width.numel() > 0:
        return int(width.max())
    if isinstance(width, int):
        return width
    hint = getattr(graph, "_row_width", None)
    if isinstance(hint, int):
        return hint
    return int(feature_id.max()) + 1 if feature_id.numel() > 0 else 0


def graph_to_rows(
    node_values: Tensor,
    graph: Any,
    fill_value: float = 0.0,
    return_mask: bool = False,
    *,
    num_features: int | None = None,
) -> Tensor | tuple[Tensor, Tensor]:
    r"""Scatters per-node values back to one row per graph.

    The inverse of :func:`rows_to_graph`: node :math:`n` of graph :math:`b`
    with ``feature_id`` :math:`f` lands at ``[b, f]``. Cells whose node was
    dropped get :obj:`fill_value`. Complete graphs in canonical node order come
    back as a view, with no copy; other graphs go through a scatter (torch_scatter
    when installed, :meth:`torch.Tensor.scatter_add_` otherwise).

    Args:
        node_values (torch.Tensor): ``[N]`` or ``[N, C]`` values, one per node.
        graph (torch_geometric.data.Batch): The graph the nodes belong to; it
            needs ``feature_id`` and ``batch`` (or a single graph without it).
        fill_value (float, optional): Value of dropped cells. (default: :obj:`0.0`)
        return_mask (bool, optional): Also return the ``[B, F]`` boolean mask
            of cells that had a node. (default: :obj:`False`)
        num_features (int, optional): Row width ``F``, a positive int at least
            one more than the largest ``feature_id``; read from
            ``graph.row_width`` when not given.

    Returns:
        ``[B, F]`` for ``[N]`` values, ``[B, F, C]`` for ``[N, C]`` values, and
        the mask when :obj:`return_mask` is set.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, float("nan")], [3.0, 4.0]])
        >>> batch = rows_to_graph(x, missing="drop")
        >>> graph_to_rows(batch.x.view(-1), batch, fill_value=-1.0)
        tensor([[ 1., -1.],
                [ 3.,  4.]])
    """
    if not isinstance(node_values, Tensor):
        raise ValueError(f"node_values must be a torch.Tensor (got {type(node_values).__name__})")
    if node_values.is_complex():
        raise ValueError(f"node_values must be real-valued (got dtype {node_values.dtype})")
    check_finite(node_values, "node_values")
    if num_features is not None:
        num_features = check_int(num_features, "num_features")
    feature_id = getattr(graph, "feature_id", None)
    if not isinstance(feature_id, Tensor):
        raise ValueError("graph must carry a feature_id tensor (build it with rows_to_graph)")
    num_nodes = feature_id.numel()
    if node_values.dim() not in (1, 2) or node_values.size(0) != num_nodes:
        raise ValueError(
            f"node_values must have shape [{num_nodes}] or [{num_nodes}, C], one row "
            f"per node of graph (got shape {tuple(node_values.shape)})"
        )
    num_rows, width, node_batch = graph_layout(graph, num_features)
    trailing = node_values.shape[1:]

    if num_nodes == num_rows * width and _is_canonical(graph, feature_id, num_rows, width):
        rows = node_values.view(num_rows, width, *trailing)
        if return_mask:
            return rows, torch.ones(num_rows, width, dtype=torch.bool, device=rows.device)
        return rows

    if num_nodes > 0 and int(feature_id.max()) >= width:
        # Such a node would land in the next row's cells.
        raise ValueError(
            f"graph has feature_id up to {int(feature_id.max())}, beyond rows of "
            f"{width} features (num_features={num_features!r})"
        )
    cell = node_batch * width + feature_id
    rows_flat = scatter(node_values, cell, dim=0, dim_size=num_rows * width, reduce="sum")
    # The mask costs a second pass over the index: build it only when it is used.
    mask = None
    if return_mask or fill_value != 0.0:
        mask = torch.zeros(num_rows * width, dtype=torch.bool, device=node_values.device)
        mask.index_fill_(0, cell, True)
    if mask is not None and fill_value != 0.0:
        rows_flat = rows_flat.masked_fill(~mask.view(-1, *([1] * len(trailing))), fill_value)
    rows = rows_flat.view(num_rows, width, *trailing)
    if return_mask:
        assert mask is not None
        return rows, mask.view(num_rows, width)
    return rows


def _is_canonical(graph: Any, feature_id: Tensor, num_rows: int, width: int) -> bool:
    # Complete, row-major rows: every graph holds F nodes and node n is feature n % F.
    # Checking ptr (O(B)) and one broadcast compare of feature_id is cheaper than
    # rebuilding both index vectors.
    if feature_id.numel() == 0 or getattr(graph, "_complete_rows", None) == (num_rows, width):
        return True
    ptr = getattr(graph, "ptr", None)
    if isinstance(ptr, Tensor):
        sizes_match = bool((ptr.diff() == width).all())
    else:
        sizes_match = num_rows == 1
    if not sizes_match:
        return False
    columns = torch.arange(width, device=feature_id.device)
    return bool((feature_id.view(num_rows, width) == columns).all())


def to_static_graph(
    x: Any,
    *,
    edge_index: Any = None,
    self_loops: bool = True,
    max_bytes: int | None = None,
) -> tuple[Tensor, Tensor]:
    r"""Returns the static form of complete rows: ``x [B, F, C]`` and one template.

    Our convs (and PyG convs that support static graphs, such as
    ``GCNConv``; not ``GATConv`` or ``GATv2Conv``, which refuse it) take node
    features ``[B, F, C]`` with a single ``[2, E]`` graph shared by all ``B``
    rows. Use this form when every
    row has all of its features: it needs no ``B·E`` edge index, so building it
    is :math:`O(B \cdot F)` (a view for tensors). Use :func:`rows_to_graph`
    when rows differ (missing values dropped) or when a PyG loader or pooling
    op needs a real :class:`~torch_geometric.data.Batch`.

    :obj:`max_bytes` bounds the complete template (:math:`F^2` edges) as in
    :func:`rows_to_graph`: a size that exceeds it is refused before it is built.

    Example:
        >>> import torch
        >>> x, template = to_static_graph(torch.ones(4, 3), self_loops=False)
        >>> tuple(x.shape), tuple(template.shape)
        ((4, 3, 1), (2, 6))
    """
    rows, _ = _rows_as_tensor(x)
    check_finite(rows, "x")
    num_features = rows.size(1)
    if edge_index is None:
        check_graph_size(
            "to_static_graph",
            rows.size(0),
            num_features,
            template_size(num_features, self_loops),
            device=rows.device,
            builds_template=True,
            batched=False,
            max_bytes=max_bytes,
        )
        template = complete_template(num_features, self_loops, device=rows.device)
    else:
        template = check_template(edge_index, num_features).to(rows.device)
    num_channels = rows.size(2) if rows.dim() == 3 else 1
    return rows.reshape(rows.size(0), num_features, num_channels), template


__all__ = ["rows_to_graph", "graph_to_rows", "to_static_graph"]
