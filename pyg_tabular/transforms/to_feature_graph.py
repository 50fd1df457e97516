"""One table row → its feature graph, as a PyG transform."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.data.datapipes import functional_transform
from torch_geometric.transforms import BaseTransform

from pyg_tabular.data import fully_connected_edge_index
from pyg_tabular.data.edge_index import check_template
from pyg_tabular.utils.validation import check_finite, check_finite_cells, to_tensor

_MISSING_MODES = ("error", "drop")
_LAYOUTS = ("auto", "row", "nodes")
_SHAPES = (
    "one row: [num_features] or [1, num_features] or [1, num_features, num_channels] "
    "(layout='row', PyG's graph-level layout), or [num_features] or "
    "[num_features, num_channels] (layout='nodes', one node per feature)"
)


def _check_template_shape(edge_index: Any, name: str = "edge_index") -> Tensor:
    r"""Validates a ``[2, E]`` template whose number of features is not known yet."""
    template = to_tensor(edge_index, name, allow_integer=True)
    bound = int(template.max()) + 1 if template.numel() > 0 and template.dim() == 2 else 0
    return check_template(template, max(bound, 0), name)


@functional_transform("to_feature_graph")
class ToFeatureGraph(BaseTransform):
    r"""Turns a :class:`~torch_geometric.data.Data` holding one table row into
    the row's feature graph (functional name: :obj:`to_feature_graph`).

    The row's :math:`F` cells become nodes; the edges are the template
    :obj:`edge_index` (default: the complete graph). The result has the
    attributes and layout of one graph of :func:`~pyg_tabular.data.rows_to_graph`,
    so :meth:`Batch.from_data_list` over transformed rows equals
    :func:`~pyg_tabular.data.rows_to_graph` over the same rows. Prefer
    :func:`~pyg_tabular.data.rows_to_graph` (or
    :class:`~pyg_tabular.datasets.TabularLoader`) for many rows: it builds the
    whole batch without a Python loop; this transform serves PyG datasets and
    pipelines that hold one row per :class:`~torch_geometric.data.Data`.

    Args:
        edge_index (torch.Tensor, optional): Feature adjacency template
            ``[2, E]`` over the ``F`` features, ``source → target``.
            (default: the complete graph)
        self_loops (bool, optional): Self-loops in the default complete
            template. (default: :obj:`True`)
        missing (str, optional): ``"error"`` rejects NaN cells; ``"drop"``
            removes them as nodes together with their edges. A cell with
            ``C > 1`` channels is missing if any channel is NaN.
            (default: :obj:`"error"`)
        feature_names (list of str, optional): Names of the ``F`` features,
            stored as :obj:`data.feature_names`. (default: :obj:`None`)
        layout (str, optional): How :obj:`data.x` holds the row.
            ``"row"``: ``[F]``, ``[1, F]`` or ``[1, F, C]``, the row stored as
            graph-level features (the usual PyG way, so that a batch of such
            rows is ``[B, F]``). ``"nodes"``: ``[F]`` or ``[F, C]``, one node
            per feature. ``"auto"`` reads a 2-D :obj:`data.x` with one row,
            ``[1, F]``, and any 3-D one as ``"row"``, everything else as
            ``"nodes"``; a single feature with ``C`` channels, ``[1, C]``,
            therefore needs ``layout="nodes"``. (default: :obj:`"auto"`)

    The input :obj:`data.x` holds one row, shaped as :obj:`layout` says; an optional
    :obj:`data.y` (a scalar, ``[1]``, ``[T]`` or ``[1, T]``) becomes ``[1]`` or
    ``[1, T]``. The output holds ``x [F_b, C]`` (the ``F_b`` present cells),
    ``edge_index``, ``feature_id [F_b]`` and ``row_width`` (the integer ``F``).
    Other attributes are kept as they are.

    Example:
        >>> import torch
        >>> from torch_geometric.data import Data
        >>> transform = ToFeatureGraph(self_loops=False, missing="drop")
        >>> graph = transform(Data(x=torch.tensor([1.0, float("nan"), 3.0]), y=torch.tensor(0)))
        >>> graph.x.view(-1).tolist(), graph.feature_id.tolist(), graph.row_width
        ([1.0, 3.0], [0, 2], 3)
        >>> graph.edge_index, graph.y
        (tensor([[1, 0],
                [0, 1]]), tensor([0]))
    """

    def __init__(
        self,
        edge_index: Any = None,
        self_loops: bool = True,
        missing: str = "error",
        feature_names: Sequence[str] | None = None,
        layout: str = "auto",
    ) -> None:
        if layout not in _LAYOUTS:
            raise ValueError(f"layout must be one of {_LAYOUTS} (got {layout!r})")
        if missing not in _MISSING_MODES:
            raise ValueError(f"missing must be one of {_MISSING_MODES} (got {missing!r})")
        if not isinstance(self_loops, bool):
            raise ValueError(f"self_loops must be a bool (got {self_loops!r})")
        if feature_names is not None and isinstance(feature_names, str):
            raise ValueError(f"feature_names must be a list of names (got {feature_names!r})")
        self.edge_index = None if edge_index is None else _check_template_shape(edge_index)
        self.self_loops = self_loops
        self.missing = missing
        self.layout = layout
        self.feature_names = None if feature_names is None else [str(n) for n in feature_names]

    def forward(self, data: Data) -> Data:
        if not isinstance(data, Data):
            raise ValueError(f"data must be a torch_geometric Data (got {type(data).__name__})")
        if data.x is None:
            raise ValueError("data.x must hold the row's cells (got None)")
        cells = self._cells(to_tensor(data.x, "data.x"))  # [F, C]
        num_features = cells.size(0)
        check_finite_cells(
            cells,
            "data.x",
            allow_nan=self.missing == "drop",
            nan_hint="pass missing='drop' to treat NaN cells as absent",
        )
        if self.edge_index is None:
            template = fully_connected_edge_index(
                num_features, self.self_loops, device=cells.device
            )
        else:
            template = check_template(self.edge_index, num_features).to(cells.device)
        if self.feature_names is not None and len(self.feature_names) != num_features:
            raise ValueError(
                f"feature_names must name each of the {num_features} features "
                f"(got {self.feature_names!r})"
            )

        present = ~torch.isnan(cells).any(dim=-1)  # [F]
        feature_id = torch.arange(num_features, device=cells.device)
        if bool(present.all()):
            edge_index = template.clone()
        else:
            new_id = present.cumsum(0) - 1
            keep = present[template[0]] & present[template[1]]
            edge_index = new_id[template[:, keep]]
            cells, feature_id = cells[present], feature_id[present]

        data.x = cells
        data.edge_index = edge_index
        data.feature_id = feature_id
        data.row_width = num_features
        if data.y is not None:
            data.y = _one_row_target(data.y)
        if self.feature_names is not None:
            data.feature_names = list(self.feature_names)
        return data

    def _cells(self, x: Tensor) -> Tensor:
        r"""The row's cells, ``[F, C]``, read from :obj:`data.x` as :obj:`layout` says."""
        layout = self.layout
        if layout == "auto":
            one_row = x.dim() == 3 or (x.dim() == 2 and x.size(0) == 1)
            layout = "row" if one_row else "nodes"
        if x.dim() == 1:
            return x.view(-1, 1)
        if layout == "row" and x.dim() in (2, 3) and x.size(0) == 1:
            return x[0].reshape(x.size(1), -1)
        if layout == "nodes" and x.dim() == 2:
            return x
        raise ValueError(
            f"data.x must hold {_SHAPES} (got shape {tuple(x.shape)} with "
            f"layout={self.layout!r}); use rows_to_graph for many rows"
        )

    def __repr__(self) -> str:
        if self.edge_index is None:
            edges = f"self_loops={self.self_loops}"
        else:
            edges = f"edge_index=[2, {self.edge_index.size(1)}]"
        layout = "" if self.layout == "auto" else f", layout={self.layout!r}"
        return f"{self.__class__.__name__}({edges}, missing={self.missing!r}{layout})"


def _one_row_target(y: Any) -> Tensor:
    target = to_tensor(y, "data.y", allow_integer=True)
    check_finite(target, "data.y")
    if target.dim() == 0:
        return target.view(1)
    if target.dim() == 1:
        # [1] stays one scalar target; [T] with T > 1 is one row of T targets.
        return target if target.numel() == 1 else target.view(1, -1)
    if target.dim() == 2 and target.size(0) == 1:
        return target
    raise ValueError(
        f"data.y must hold one row's target, shape [], [1], [T] or [1, T] "
        f"(got shape {tuple(target.shape)})"
    )


__all__ = ["ToFeatureGraph"]
