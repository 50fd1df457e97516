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
from pyg_tabular.utils.validation import check_finite, to_tensor

_MISSING_MODES = ("error", "drop")


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

    The input :obj:`data.x` has shape ``[F]`` or ``[F, C]``; an optional
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
    ) -> None:
        if missing not in _MISSING_MODES:
            raise ValueError(f"missing must be one of {_MISSING_MODES} (got {missing!r})")
        if not isinstance(self_loops, bool):
            raise ValueError(f"self_loops must be a bool (got {self_loops!r})")
        if feature_names is not None and isinstance(feature_names, str):
            raise ValueError(f"feature_names must be a list of names (got {feature_names!r})")
        self.edge_index = None if edge_index is None else _check_template_shape(edge_index)
        self.self_loops = self_loops
        self.missing = missing
        self.feature_names = None if feature_names is None else [str(n) for n in feature_names]

    def forward(self, data: Data) -> Data:
        if not isinstance(data, Data):
            raise ValueError(f"data must be a torch_geometric Data (got {type(data).__name__})")
        if data.x is None:
            raise ValueError("data.x must hold the row's cells (got None)")
        row = to_tensor(data.x, "data.x")
        if row.dim() not in (1, 2):
            raise ValueError(
                "data.x must hold one row, shape [num_features] or "
                f"[num_features, num_channels] (got shape {tuple(row.shape)}); "
                "use rows_to_graph for many rows"
            )
        num_features = row.size(0)
        cells = row.view(num_features, -1)  # [F, C]
        check_finite(
            cells,
            "data.x",
            allow_nan=self.missing == "drop",
            hint="pass missing='drop' to treat NaN cells as absent",
        )
        if self.edge_index is None:
            template = fully_connected_edge_index(num_features, self.self_loops, device=row.device)
        else:
            template = check_template(self.edge_index, num_features).to(row.device)
        if self.feature_names is not None and len(self.feature_names) != num_features:
            raise ValueError(
                f"feature_names must name each of the {num_features} features "
                f"(got {self.feature_names!r})"
            )

        present = ~torch.isnan(cells).any(dim=-1)  # [F]
        feature_id = torch.arange(num_features, device=row.device)
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

    def __repr__(self) -> str:
        if self.edge_index is None:
            edges = f"self_loops={self.self_loops}"
        else:
            edges = f"edge_index=[2, {self.edge_index.size(1)}]"
        return f"{self.__class__.__name__}({edges}, missing={self.missing!r})"


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
