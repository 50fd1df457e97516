"""Soft pooling of features into learned feature groups."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import Parameter
from torch_geometric.nn.inits import glorot

from pyg_tabular.utils.scatter import scatter
from pyg_tabular.utils.validation import check_finite, check_finite_output, check_positive_int


class FeatureGroupPool(torch.nn.Module):
    r"""Pools the :math:`F` features of each row into :math:`G` learned soft
    groups, as in the hierarchical step of the Keras library
    ``kerasfactory``'s ``AdvancedGraphFeatureLayer``.

    A learned :math:`\mathbf{M} \in \mathbb{R}^{F \times G}` gives every
    feature a distribution over groups,
    :math:`\mathbf{S} = \mathrm{softmax}_{g}(\mathbf{M})` (rows of
    :math:`\mathbf{S}` sum to one). Pooling sums each row's features into its
    groups, and :meth:`expand` sends group vectors back to the features with
    the same weights:

    .. math::
        \mathbf{g}_{b,g} = \sum_{i=1}^{F} S_{ig}\, \mathbf{z}_{b,i}
        \qquad\text{(pool)}, \qquad
        \mathbf{z}'_{b,i} = \sum_{g=1}^{G} S_{ig}\, \mathbf{g}_{b,g}
        \qquad\text{(expand)},

    i.e. ``pool`` is :math:`\mathbf{S}^{\top} \mathbf{Z}_b`, ``expand`` is
    :math:`\mathbf{S} \mathbf{G}_b` (its adjoint) and
    ``expand(pool(z))`` is :math:`\mathbf{S}\mathbf{S}^{\top}\mathbf{Z}_b`.
    Pooling is what ``AdvancedGraphFeatureLayer`` computes before its
    ``Linear`` maps the groups back; :meth:`expand` is the parameter-free
    alternative.

    The layer takes dense rows ``[B, F, C]`` (optionally with a ``[B, F]``
    mask of present features) or the nodes of a batched feature graph
    ``[N, C]`` with their ``feature_id`` and ``batch`` vectors (see
    :func:`~pyg_tabular.data.rows_to_graph`); both give the same result,
    absent features contributing nothing.

    Args:
        num_features (int): Number of features :math:`F`.
        num_groups (int): Number of groups :math:`G`.

    Shapes:
        - **input:** :math:`(B, F, C)` with an optional mask :math:`(B, F)`,
          or :math:`(N, C)` with ``feature_id`` :math:`(N)` and ``batch``
          :math:`(N)`
        - **output:** :math:`(B, G, C)`; with :obj:`return_assignment=True`
          also :math:`\mathbf{S}` of shape :math:`(F, G)`

    Example:
        >>> pool = FeatureGroupPool(num_features=6, num_groups=2)
        >>> pool
        FeatureGroupPool(6, 2)
        >>> z = torch.randn(4, 6, 8)
        >>> groups, assignment = pool(z, return_assignment=True)
        >>> groups.shape, assignment.shape, pool.expand(groups).shape
        (torch.Size([4, 2, 8]), torch.Size([6, 2]), torch.Size([4, 6, 8]))
    """

    def __init__(self, num_features: int, num_groups: int) -> None:
        super().__init__()
        self.num_features = check_positive_int(num_features, "num_features")
        self.num_groups = check_positive_int(num_groups, "num_groups")
        self.assignment_logits = Parameter(torch.empty(num_features, num_groups))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        glorot(self.assignment_logits)

    def assignment(self) -> Tensor:
        r"""The soft assignment :math:`\mathbf{S}` ``[F, G]``; each row sums to one."""
        return self.assignment_logits.softmax(dim=-1)

    def _num_rows(self, batch: Tensor | None, num_rows: int | None) -> int:
        if num_rows is not None:
            return num_rows
        if batch is None:
            return 1
        return int(batch.max()) + 1 if batch.numel() > 0 else 0

    def _cells(
        self,
        num_nodes: int,
        feature_id: Tensor,
        batch: Tensor | None,
        num_rows: int,
        device: torch.device,
    ) -> Tensor:
        if not isinstance(feature_id, Tensor) or feature_id.shape != (num_nodes,):
            shape = tuple(feature_id.shape) if isinstance(feature_id, Tensor) else feature_id
            raise ValueError(
                f"feature_id must be a tensor of shape [{num_nodes}], one entry per node "
                f"(got {shape!r})"
            )
        if batch is not None and (not isinstance(batch, Tensor) or batch.shape != (num_nodes,)):
            shape = tuple(batch.shape) if isinstance(batch, Tensor) else batch
            raise ValueError(
                f"batch must be a tensor of shape [{num_nodes}], one entry per node (got {shape!r})"
            )
        if num_nodes > 0 and not torch.compiler.is_compiling():
            low, high = torch.aminmax(feature_id)
            if int(low) < 0 or int(high) >= self.num_features:
                raise ValueError(
                    f"feature_id holds values from {int(low)} to {int(high)}, outside "
                    f"[0, {self.num_features})"
                )
            if batch is not None:
                low, high = torch.aminmax(batch)
                if int(low) < 0 or int(high) >= num_rows:
                    raise ValueError(
                        f"batch holds rows from {int(low)} to {int(high)}, outside [0, {num_rows})"
                    )
        row = torch.zeros_like(feature_id) if batch is None else batch
        return (row * self.num_features + feature_id).to(device)

    def forward(
        self,
        x: Tensor,
        feature_id: Tensor | None = None,
        batch: Tensor | None = None,
        mask: Tensor | None = None,
        num_rows: int | None = None,
        return_assignment: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        r"""Pools features into groups.

        Args:
            x (torch.Tensor): Dense rows ``[B, F, C]``, or graph nodes
                ``[N, C]`` (then :obj:`feature_id` is required).
            feature_id (torch.Tensor, optional): Feature of each node ``[N]``.
            batch (torch.Tensor, optional): Row of each node ``[N]``; all
                nodes belong to one row when :obj:`None`.
            mask (torch.Tensor, optional): Dense form only: ``[B, F]``,
                :obj:`True` for present features; absent ones are ignored.
            num_rows (int, optional): Graph form only: number of rows
                :math:`B` (inferred from :obj:`batch` when :obj:`None`).
            return_assignment (bool, optional): Also return
                :math:`\mathbf{S}`. (default: :obj:`False`)
        """
        if not isinstance(x, Tensor):
            raise ValueError(f"x must be a torch.Tensor (got {type(x).__name__})")
        if not x.is_floating_point():
            raise ValueError(f"x must have a floating dtype (got {x.dtype})")
        # Absent cells may hold NaN when a mask marks them; everything else must be finite.
        check_finite(x, "x", allow_nan=mask is not None and x.dim() == 3)
        if x.dim() == 3:
            rows = self._dense_rows(x, feature_id, batch, mask)
        elif x.dim() == 2:
            if feature_id is None:
                raise ValueError(
                    "feature_id is required for graph nodes x of shape [N, C]; pass dense "
                    "rows as [B, F, C]"
                )
            if mask is not None:
                raise ValueError("mask applies to dense rows only; drop absent nodes instead")
            count = self._num_rows(batch, num_rows)
            cells = self._cells(x.size(0), feature_id, batch, count, x.device)
            rows = scatter(x, cells, dim=0, dim_size=count * self.num_features, reduce="sum")
            rows = rows.view(count, self.num_features, x.size(-1))  # [B, F, C]
        else:
            raise ValueError(
                "x must have shape [batch_size, num_features, channels] or "
                f"[num_nodes, channels] (got {x.dim()}-D shape {tuple(x.shape)})"
            )
        groups = self.group_rows(rows)  # [B, G, C]
        check_finite_output(groups, "x", rows)
        if return_assignment:
            return groups, self.assignment().to(x.dtype)
        return groups

    def group_rows(self, rows: Tensor) -> Tensor:
        r"""Pools dense rows ``[B, F, C]`` into ``[B, G, C]`` without checking
        them: the core of :meth:`forward`, for a caller whose rows are
        already validated (absent features zeroed)."""
        assignment = self.assignment().to(rows.dtype)  # [F, G]
        # [B, C, F] @ [F, G] folds into one matrix product.
        return (rows.transpose(1, 2) @ assignment).transpose(1, 2)

    def _dense_rows(
        self,
        x: Tensor,
        feature_id: Tensor | None,
        batch: Tensor | None,
        mask: Tensor | None,
    ) -> Tensor:
        if feature_id is not None or batch is not None:
            raise ValueError("feature_id and batch apply to graph nodes [N, C] only")
        if x.size(1) != self.num_features:
            raise ValueError(
                f"x must have {self.num_features} features in dimension 1 "
                f"(got shape {tuple(x.shape)})"
            )
        if mask is None:
            return x
        if not isinstance(mask, Tensor) or mask.shape != x.shape[:2]:
            shape = tuple(mask.shape) if isinstance(mask, Tensor) else mask
            raise ValueError(f"mask must have shape {tuple(x.shape[:2])} (got {shape!r})")
        present = mask.unsqueeze(-1).bool()
        # where, not a product: NaN * 0 is NaN, and absent cells may hold NaN.
        rows = torch.where(present, x, x.new_zeros(()))
        check_finite(rows, "x", hint="NaN is allowed only where mask marks a feature absent")
        return rows

    def expand(
        self,
        groups: Tensor,
        feature_id: Tensor | None = None,
        batch: Tensor | None = None,
    ) -> Tensor:
        r"""Sends group vectors back to the features:
        :math:`\mathbf{z}'_{b,i} = \sum_g S_{ig}\, \mathbf{g}_{b,g}`.

        Args:
            groups (torch.Tensor): ``[B, G, C]``.
            feature_id (torch.Tensor, optional): If given, return one vector
                per graph node ``[N, C]`` instead of dense rows.
            batch (torch.Tensor, optional): Row of each node ``[N]``; all
                nodes belong to row 0 when :obj:`None`.

        Returns:
            ``[B, F, C]``, or ``[N, C]`` when :obj:`feature_id` is given.
        """
        if not isinstance(groups, Tensor) or groups.dim() != 3:
            shape = tuple(groups.shape) if isinstance(groups, Tensor) else groups
            raise ValueError(
                f"groups must have shape [batch_size, num_groups, channels] (got {shape!r})"
            )
        if groups.size(1) != self.num_groups:
            raise ValueError(
                f"groups must have {self.num_groups} groups in dimension 1 "
                f"(got shape {tuple(groups.shape)})"
            )
        assignment = self.assignment().to(groups.dtype)  # [F, G]
        rows = assignment @ groups  # [B, F, C]
        if feature_id is None:
            if batch is not None:
                raise ValueError("batch needs feature_id: pass both to get node vectors")
            return rows
        if not isinstance(feature_id, Tensor):
            raise ValueError(f"feature_id must be a tensor (got {type(feature_id).__name__})")
        cells = self._cells(feature_id.numel(), feature_id, batch, groups.size(0), groups.device)
        return rows.reshape(-1, groups.size(-1)).index_select(0, cells)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.num_features}, {self.num_groups})"


__all__ = ["FeatureGroupPool"]
