r"""The column encoder of :class:`~pyg_tabular.nn.models.FeatureGraphNet`: one
node vector per column, with linear, periodic or piecewise-linear numeric
embeddings."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import torch
from rtdl_num_embeddings import PeriodicEmbeddings, PiecewiseLinearEmbeddings, compute_bins
from torch import Tensor
from torch_geometric.nn.inits import zeros

from pyg_tabular.utils.validation import check_choice, check_finite, check_int

#: Numeric embedding kinds. ``"per_feature"`` is the old name of ``"linear"``.
NUMERIC_EMBEDDINGS = ("linear", "periodic", "piecewise-linear", "shared", "per_feature")

# torch.quantile refuses inputs above 2**24 elements; bins fitted on an evenly
# strided subset of that size differ from the full-data ones by far less than a bin.
_MAX_BIN_ROWS = 2**24


# rtdl warns that a column with one bin is min-max scaled; for a binary or
# constant column that is exactly what it should get.
_ONE_BIN = ".*only one bin"

#: The decision trees' options of target-aware bins when :func:`fit_bins`
#: gets none: those of the example in :func:`rtdl_num_embeddings.compute_bins`.
TREE_BIN_OPTIONS: dict[str, Any] = {"min_samples_leaf": 64, "min_impurity_decrease": 1e-4}


def fit_bins(
    numeric: Any,
    n_bins: int = 48,
    *,
    y: Any = None,
    regression: bool | None = None,
    tree_kwargs: dict[str, Any] | None = None,
) -> list[Tensor]:
    r"""Bin edges of each numeric column, for
    ``numeric_embedding="piecewise-linear"``: quantile bins, or with
    :obj:`y`, target-aware bins.

    Fit them on the training rows only: the edges are part of the model's
    state, like a scaler's statistics. Each column is binned on its observed
    values (NaN marks a missing cell and is skipped) with
    :func:`rtdl_num_embeddings.compute_bins`, the quantile bins of Gorishniy et
    al., "On Embeddings for Numerical Features in Tabular Deep Learning"
    (NeurIPS 2022). A column with fewer distinct values gets fewer bins; a
    constant or empty column gets the single bin ``[v - 0.5, v + 0.5]``.

    With the training targets :obj:`y`, the edges are the split thresholds
    of a decision tree with at most :obj:`n_bins` leaves fitted to predict
    :obj:`y` from the column alone (the column's minimum and maximum close
    the outer bins): the target-aware bins of the same paper, where the
    target changes fast the bins are narrow. They need scikit-learn.

    Args:
        numeric (torch.Tensor): Training numerics ``[n, F_num]``; NaN = missing.
        n_bins (int, optional): Most bins per column. (default: :obj:`48`)
        y (torch.Tensor, optional): Training targets ``[n]`` (values, or
            class indices) for target-aware bins. (default: :obj:`None`)
        regression (bool, optional): Whether :obj:`y` is a regression
            target (a regression tree) or classes (a classification tree);
            :obj:`None` infers it: floating :obj:`y` is a regression target.
            (default: :obj:`None`)
        tree_kwargs (dict, optional): Options of the scikit-learn
            ``DecisionTreeRegressor`` or ``DecisionTreeClassifier``
            (:data:`TREE_BIN_OPTIONS` when :obj:`None`).

    Returns:
        One increasing edge tensor per column (``≤ n_bins + 1`` edges each).

    Example:
        >>> import torch
        >>> bins = fit_bins(torch.tensor([[0.0, 1.0], [1.0, 1.0], [2.0, float("nan")]]))
        >>> [b.tolist() for b in bins]
        [[0.0, 1.0, 2.0], [0.5, 1.5]]
    """
    if not isinstance(numeric, Tensor) or numeric.dim() != 2 or not numeric.is_floating_point():
        found = (
            (tuple(numeric.shape), numeric.dtype)
            if isinstance(numeric, Tensor)
            else type(numeric).__name__
        )
        raise ValueError(f"numeric must be a float tensor [n, F_num] (got {found})")
    check_int(n_bins, "n_bins", 2)
    check_finite(numeric, "numeric", allow_nan=True)
    numeric = numeric.detach().to("cpu", torch.float64)
    if tree_kwargs is not None and not isinstance(tree_kwargs, dict):
        raise ValueError(f"tree_kwargs must be a dict or None (got {tree_kwargs!r})")
    target: Tensor | None = None
    tree = dict(TREE_BIN_OPTIONS if tree_kwargs is None else tree_kwargs)
    if y is not None:
        target, regression = _check_bin_target(y, numeric.size(0), regression)
    elif regression is not None or tree_kwargs is not None:
        raise ValueError("regression and tree_kwargs apply to target-aware bins: pass y as well")
    bins = []
    for column in numeric.unbind(1):
        observed = ~torch.isnan(column)
        values = column[observed]
        column_target = None if target is None else target[observed]
        if values.numel() > _MAX_BIN_ROWS:
            stride = -(-values.numel() // _MAX_BIN_ROWS)
            values = values[::stride]
            column_target = None if column_target is None else column_target[::stride]
        distinct = values.unique()
        if distinct.numel() < 2:
            centre = float(distinct[0]) if distinct.numel() else 0.0
            edges = torch.tensor([centre - 0.5, centre + 0.5], dtype=torch.float64)
        elif values.numel() < 3:
            edges = distinct
        else:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=_ONE_BIN, category=UserWarning)
                count = min(n_bins, values.numel() - 1)
                if column_target is None:
                    edges = compute_bins(values.unsqueeze(1), n_bins=count)[0]
                else:
                    edges = compute_bins(
                        values.unsqueeze(1),
                        n_bins=count,
                        tree_kwargs=tree,
                        y=column_target,
                        regression=bool(regression),
                    )[0]
        # Quantiles interpolated in float64 between neighbouring float32 values
        # can round to the same float32 edge: keep each edge once.
        edges = edges.to(torch.float32).unique()
        if edges.numel() < 2:
            centre = float(edges[0])
            edges = torch.tensor([centre - 0.5, centre + 0.5])
        bins.append(edges)
    return bins


def _check_bin_target(y: Any, rows: int, regression: bool | None) -> tuple[Tensor, bool]:
    target = torch.as_tensor(y).detach().cpu()
    if target.dim() != 1 or target.size(0) != rows:
        raise ValueError(
            f"y must hold one target per row of numeric ([{rows}]; got shape {tuple(target.shape)})"
        )
    check_finite(target, "y")
    if regression is None:
        regression = target.is_floating_point()
    elif not isinstance(regression, bool):
        raise ValueError(f"regression must be a bool or None (got {regression!r})")
    if regression:
        return target.to(torch.float64), True
    if target.is_floating_point() and not bool((target == target.round()).all()):
        raise ValueError("y must hold class indices for regression=False (got non-integer values)")
    return target.long(), False


def _check_bins(bins: Any, num_numeric: int) -> list[Tensor]:
    if not isinstance(bins, Sequence) or len(bins) != num_numeric:
        count = len(bins) if isinstance(bins, Sequence) else type(bins).__name__
        raise ValueError(
            f"bins must hold one edge tensor per numeric column ({num_numeric}), e.g. from "
            f"fit_bins(train_numeric) (got {count})"
        )
    checked = []
    for column, edges in enumerate(bins):
        if (
            not isinstance(edges, Tensor)
            or edges.dim() != 1
            or edges.numel() < 2
            or not edges.is_floating_point()
            or not bool(torch.isfinite(edges).all())
            or not bool((edges[1:] > edges[:-1]).all())
        ):
            raise ValueError(
                f"bins[{column}] must be a 1-D float tensor of at least 2 finite, strictly "
                f"increasing edges (got {edges!r})"
            )
        checked.append(edges.detach().to("cpu", torch.float32).clone())
    return checked


class ColumnEncoder(torch.nn.Module):
    r"""Numeric values and category codes ``→ [B, F, C]``, numerics first.

    Each numeric column :math:`f` gets its own embedding of the value
    :math:`x` (:obj:`numeric_embedding`):

    * ``"linear"``: :math:`x\,\mathbf{w}_f + \mathbf{b}_f`;
    * ``"shared"``: one :math:`x\,\mathbf{w} + \mathbf{b}` for all columns;
    * ``"periodic"``: PLR, :math:`\mathrm{ReLU}(\mathbf{W}_f [\cos(2\pi
      \mathbf{c}_f x), \sin(2\pi \mathbf{c}_f x)] + \mathbf{b}_f)` with
      learned frequencies :math:`\mathbf{c}_f`
      (:class:`rtdl_num_embeddings.PeriodicEmbeddings`);
    * ``"piecewise-linear"``: :math:`x\,\mathbf{w}_f + \mathbf{b}_f +
      \mathbf{V}_f\, \mathrm{PLE}_f(x)`, where :math:`\mathrm{PLE}_f(x)` is
      the piecewise-linear encoding of :math:`x` over the column's bins
      :obj:`bins` (quantile or target-aware, see :func:`fit_bins`) and
      :math:`\mathbf{V}_f` starts at zero, so training starts from the
      linear embedding
      (:class:`rtdl_num_embeddings.PiecewiseLinearEmbeddings`, version B).

    Each categorical column has an :class:`~torch.nn.Embedding` whose row
    ``0`` is the learned vector of an unknown or missing category.
    A missing numeric must be given as ``0`` here (its node is masked out
    downstream, see :class:`~pyg_tabular.nn.models.FeatureGraphNet`).

    Args:
        num_numeric (int): Numeric columns :math:`F_{num}`.
        cardinalities (sequence of int): Codes of each categorical column,
            the reserved ``0`` included.
        channels (int): Channels :math:`C` per node.
        numeric_embedding (str, optional): ``"linear"``, ``"shared"``,
            ``"periodic"`` or ``"piecewise-linear"`` (``"per_feature"`` is
            ``"linear"``). (default: :obj:`"linear"`)
        bins (list of torch.Tensor, optional): Bin edges per numeric column
            from :func:`fit_bins`, required by ``"piecewise-linear"``.
    """

    def __init__(
        self,
        num_numeric: int,
        cardinalities: Sequence[int],
        channels: int,
        numeric_embedding: str = "linear",
        bins: Sequence[Tensor] | None = None,
    ) -> None:
        super().__init__()
        check_choice(numeric_embedding, "numeric_embedding", NUMERIC_EMBEDDINGS)
        if numeric_embedding == "per_feature":
            numeric_embedding = "linear"
        self.num_numeric = num_numeric
        self.channels = channels
        self.numeric_embedding = numeric_embedding
        self.bins: list[Tensor] | None = None
        if numeric_embedding == "piecewise-linear" and num_numeric > 0:
            if bins is None:
                raise ValueError(
                    "numeric_embedding='piecewise-linear' needs bins: pass "
                    "bins=fit_bins(train_numeric), fitted on the training rows"
                )
            self.bins = _check_bins(bins, num_numeric)
        elif bins is not None:
            raise ValueError(
                f"bins apply to numeric_embedding='piecewise-linear' only (got "
                f"numeric_embedding={numeric_embedding!r} with bins)"
            )
        self.weight: torch.nn.Parameter | None = None
        self.bias: torch.nn.Parameter | None = None
        self.numeric: torch.nn.Module | None = None
        if numeric_embedding in ("linear", "shared"):
            rows = 1 if numeric_embedding == "shared" else num_numeric
            self.weight = torch.nn.Parameter(torch.empty(rows, channels))
            self.bias = torch.nn.Parameter(torch.empty(rows, channels))
        elif num_numeric > 0 and numeric_embedding == "periodic":
            self.numeric = PeriodicEmbeddings(num_numeric, channels, lite=False)
        elif num_numeric > 0:
            assert self.bins is not None
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=_ONE_BIN, category=UserWarning)
                self.numeric = PiecewiseLinearEmbeddings(
                    self.bins, channels, activation=False, version="B"
                )
        self.embeddings = torch.nn.ModuleList(
            torch.nn.Embedding(cardinality, channels) for cardinality in cardinalities
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.weight is not None and self.bias is not None:
            # Unit-variance inputs then give unit-scale embeddings, as for nn.Embedding.
            torch.nn.init.normal_(self.weight)
            zeros(self.bias)
        if self.numeric is not None:
            for module in self.numeric.modules():
                if module is not self.numeric and hasattr(module, "reset_parameters"):
                    module.reset_parameters()  # type: ignore[operator]
            if isinstance(self.numeric, PiecewiseLinearEmbeddings):
                # Version B starts as a linear embedding: the piecewise part at zero.
                torch.nn.init.zeros_(self.numeric.linear.weight)
        for embedding in self.embeddings:
            embedding.reset_parameters()  # type: ignore[operator]

    def forward(self, numeric: Tensor, categorical: Tensor) -> Tensor:
        batch_size = numeric.size(0)
        parts = []
        if self.weight is not None and self.bias is not None:
            parts.append(numeric.unsqueeze(-1) * self.weight + self.bias)  # [B, F_num, C]
        elif self.numeric is not None:
            parts.append(self.numeric(numeric))  # [B, F_num, C]
        for column, embedding in enumerate(self.embeddings):
            parts.append(embedding(categorical[:, column]).unsqueeze(1))  # [B, 1, C]
        if not parts:
            return numeric.new_zeros(batch_size, 0, self.channels)
        return torch.cat(parts, dim=1)

    def extra_repr(self) -> str:
        return (
            f"num_numeric={self.num_numeric}, categorical={len(self.embeddings)}, "
            f"channels={self.channels}, numeric_embedding={self.numeric_embedding!r}"
        )


__all__ = ["ColumnEncoder", "fit_bins", "NUMERIC_EMBEDDINGS", "TREE_BIN_OPTIONS"]
