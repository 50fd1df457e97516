"""A sparse feature graph: each feature's k most correlated features."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data
from torch_geometric.data.datapipes import functional_transform
from torch_geometric.transforms import BaseTransform

from pyg_tabular.data.feature_graph import graph_layout
from pyg_tabular.transforms._common import (
    check_node_values,
    fit_rows,
    is_feature_graph,
)


def nan_pearson(rows: Tensor) -> Tensor:
    r"""Pearson correlation between the columns of ``rows [N, F]``, NaN-aware.

    Each pair of columns is compared on the rows where both are observed.
    Pairs with fewer than two such rows, or with a constant column on them,
    get correlation :math:`0`.
    """
    # Correlation ignores each column's scale: dividing by its largest |x|
    # keeps the squared sums below overflow for any finite float (1e200 squared
    # is inf in float64).
    scale = rows.abs().nan_to_num(0.0).amax(0).clamp(min=torch.finfo(rows.dtype).tiny)
    rows = rows / scale
    observed = ~torch.isnan(rows)
    # Centring on each column's mean first keeps the moment sums well conditioned.
    count = observed.sum(0).clamp(min=1)
    centered = rows - rows.nan_to_num(0.0).sum(0) / count
    mask = observed.to(rows.dtype)
    values = torch.where(observed, centered, torch.zeros_like(centered))
    pair_count = mask.t() @ mask  # [F, F]
    # sum_x[i, j]: Σ x_i over the rows where i and j are both observed.
    sum_x = values.t() @ mask
    sum_xx = values.square().t() @ mask
    sum_xy = values.t() @ values
    n = pair_count.clamp(min=1)
    mean_i, mean_j = sum_x / n, sum_x.t() / n
    cov = sum_xy / n - mean_i * mean_j
    var_i = (sum_xx / n - mean_i.square()).clamp(min=0)
    var_j = (sum_xx.t() / n - mean_j.square()).clamp(min=0)
    # A constant column centres to rounding noise of order eps·|x|; treat a
    # variance at that level as zero rather than dividing by it.
    magnitude = rows.abs().nan_to_num(0.0).amax(0)  # [F]
    tolerance = (64 * torch.finfo(rows.dtype).eps * magnitude).square()
    valid = (pair_count >= 2) & (var_i > tolerance.unsqueeze(1)) & (var_j > tolerance)
    scale = (var_i * var_j).sqrt().clamp(min=torch.finfo(rows.dtype).tiny)
    corr = torch.where(valid, cov / scale, torch.zeros_like(cov))
    return corr.clamp(-1.0, 1.0)


@functional_transform("feature_knn_graph")
class FeatureKNNGraph(BaseTransform):
    r"""Connects each feature to its :math:`k` most correlated features, with
    the correlations fitted on the training rows (functional name:
    :obj:`feature_knn_graph`).

    :meth:`fit` computes the Pearson correlation :math:`\rho_{ij}` between
    every two features on the rows where both are observed (NaN cells are
    skipped pair by pair). Each feature :math:`i` (a target) then receives
    edges :math:`j \to i` from the :math:`k` features :math:`j \neq i` with
    the largest :math:`|\rho_{ij}|` (ties go to the lower index), plus the
    self-loop :math:`i \to i` when :obj:`self_loops` is set. The template,
    ``[2, F·k]`` (``[2, F·(k+1)]`` with self-loops) sorted by target then
    source, is exposed as :attr:`edge_index`; pass it to
    :func:`~pyg_tabular.data.rows_to_graph` or
    :class:`~pyg_tabular.datasets.TabularLoader`, or apply this transform to
    existing feature graphs, whose :obj:`edge_index` it rebuilds (for a whole
    :class:`~torch_geometric.data.Batch` at once, dropped nodes respected).
    Message passing then costs :math:`O(B \cdot F \cdot k)` instead of
    :math:`O(B \cdot F^2)`.

    Args:
        k (int): Number of neighbours per feature, :math:`1 \le k \le F - 1`.
        self_loops (bool, optional): Whether each feature also keeps an edge to
            itself. (default: :obj:`True`)

    Example:
        >>> import torch
        >>> t = torch.linspace(-1, 1, 21)
        >>> # Odd powers of t correlate with each other, not with even ones.
        >>> train = torch.stack([t, t**2, t**3, t**4], dim=1)
        >>> knn = FeatureKNNGraph(k=1, self_loops=False).fit(train)
        >>> knn.edge_index
        tensor([[2, 3, 0, 1],
                [0, 1, 2, 3]])
    """

    correlation: Tensor | None
    _edge_index: Tensor | None

    def __init__(self, k: int, self_loops: bool = True) -> None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive int (got {k!r})")
        if not isinstance(self_loops, bool):
            raise ValueError(f"self_loops must be a bool (got {self_loops!r})")
        self.k = k
        self.self_loops = self_loops
        self.correlation = None
        self._edge_index = None

    @property
    def edge_index(self) -> Tensor:
        r"""The fitted ``[2, E]`` template over the features, sorted by target."""
        if self._edge_index is None:
            raise RuntimeError(
                f"{self.__class__.__name__} is not fitted; call fit() on the training rows first"
            )
        return self._edge_index

    @property
    def num_features(self) -> int | None:
        r"""Number of features fitted on; :obj:`None` before :meth:`fit`."""
        return None if self.correlation is None else self.correlation.size(0)

    def fit(self, x: Any) -> FeatureKNNGraph:
        r"""Fits the correlations and the neighbour template on the training rows.

        Args:
            x (torch.Tensor or torch_geometric.data.Batch): Training rows ``[N, F]`` (NaN marks
                a missing cell; an ndarray or DataFrame works too) or a batch
                of their feature graphs with one channel per node.

        Returns:
            The transform itself, fitted.
        """
        rows = fit_rows(x)  # [N, F, C]
        if rows.size(2) != 1:
            raise ValueError(
                f"x must have one channel per feature to correlate features (got {rows.size(2)})"
            )
        rows = rows.squeeze(-1)
        num_features = rows.size(1)
        if self.k > num_features - 1:
            raise ValueError(
                f"k must satisfy 1 <= k <= num_features - 1 = {num_features - 1} (got {self.k})"
            )
        corr = nan_pearson(rows)
        score = corr.abs()
        # A feature is never its own neighbour; the self-loop is added separately.
        score.fill_diagonal_(-1.0)
        order = torch.sort(score, dim=1, descending=True, stable=True).indices
        source = order[:, : self.k]  # [F, k]: row i lists the sources of target i
        if self.self_loops:
            source = torch.cat([source, torch.arange(num_features).unsqueeze(1)], dim=1)
        source = source.sort(dim=1).values
        target = torch.arange(num_features).unsqueeze(1).expand_as(source)
        self.correlation = corr
        self._edge_index = torch.stack([source.reshape(-1), target.reshape(-1)])
        return self

    def forward(self, data: Data) -> Data:
        template = self.edge_index
        if not is_feature_graph(data):
            raise ValueError(
                "data must be a feature graph with feature_id (build it with rows_to_graph "
                "or ToFeatureGraph)"
            )
        if data.get("x") is not None:
            check_node_values(data)
        if isinstance(data.get("edge_attr"), Tensor):
            raise ValueError(
                "data.edge_attr would no longer match the rebuilt edges; remove it before "
                f"applying {self.__class__.__name__}"
            )
        num_features = self.num_features
        assert num_features is not None
        num_rows, width, node_batch = graph_layout(data)
        if width != num_features:
            raise ValueError(
                f"data has rows of {width} features, but {self.__class__.__name__} was "
                f"fitted on {num_features}"
            )
        feature_id = data.feature_id
        device = feature_id.device
        template = template.to(device)

        # node_of[b, f]: node holding feature f of row b, -1 where it was dropped.
        node_of = torch.full((num_rows, num_features), -1, dtype=torch.long, device=device)
        node_of[node_batch, feature_id] = torch.arange(feature_id.numel(), device=device)
        source, target = node_of[:, template[0]], node_of[:, template[1]]  # [B, E]
        keep = (source >= 0) & (target >= 0)
        data.edge_index = torch.stack([source[keep], target[keep]])
        if isinstance(data, Batch) and hasattr(data, "_slice_dict"):
            edge_ptr = torch.zeros(num_rows + 1, dtype=torch.long, device=device)
            torch.cumsum(keep.sum(1), 0, out=edge_ptr[1:])
            # New dicts: the shallow copy made by __call__ shares the old ones.
            data._slice_dict = {**data._slice_dict, "edge_index": edge_ptr}
        return data

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(k={self.k}, self_loops={self.self_loops})"


__all__ = ["FeatureKNNGraph"]
