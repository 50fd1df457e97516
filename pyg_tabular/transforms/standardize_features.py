"""Per-feature standardization fitted on the training rows."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.data.datapipes import functional_transform
from torch_geometric.transforms import BaseTransform

from pyg_tabular.transforms._common import check_node_values, fit_rows, is_feature_graph
from pyg_tabular.utils.validation import check_finite, to_tensor


@functional_transform("standardize_features")
class StandardizeFeatures(BaseTransform):
    r"""Standardizes each feature with statistics fitted on the training rows
    (functional name: :obj:`standardize_features`).

    .. math::
        x'_{b,f} = \frac{x_{b,f} - \mu_f}{\sigma_f}

    :meth:`fit` computes :math:`\mu_f` and :math:`\sigma_f` (population
    standard deviation) per feature and channel, ignoring NaN cells. A feature
    with zero variance, or with no observed cell, gets :math:`\sigma_f = 1`
    (and :math:`\mu_f = 0` when nothing was observed), so it is shifted but
    never divided by zero. NaN cells stay NaN.

    The transform applies to feature graphs (nodes are matched to their
    statistics through :obj:`feature_id`, so graphs with dropped nodes work),
    to a :class:`~torch_geometric.data.Data` holding one raw row in
    :obj:`x` (``[F]`` or ``[F, C]`` node by node, or ``[1, F]`` or
    ``[1, F, C]`` as graph-level features, the usual PyG layout, which the
    fitted shape tells apart from one feature with ``C`` channels), and to
    raw rows given directly as a tensor ``[N, F]`` or ``[N, F, C]``. Any
    finite float can be fitted on; a standardized value that the input's
    dtype cannot hold raises a :class:`ValueError`.

    Args:
        mean (torch.Tensor, optional): Already fitted means, ``[F]`` or
            ``[F, C]``; with :obj:`std`, makes the transform usable without
            :meth:`fit`. (default: :obj:`None`)
        std (torch.Tensor, optional): Already fitted standard deviations, same
            shape as :obj:`mean`, all positive. (default: :obj:`None`)

    Example:
        >>> import torch
        >>> train = torch.tensor([[1.0, 5.0], [3.0, 5.0], [float("nan"), 5.0]])
        >>> transform = StandardizeFeatures().fit(train)
        >>> transform.mean.view(-1).tolist(), transform.std.view(-1).tolist()
        ([2.0, 5.0], [1.0, 1.0])
        >>> transform(torch.tensor([[4.0, 6.0]]))
        tensor([[2., 1.]])
    """

    mean: Tensor | None
    std: Tensor | None

    def __init__(self, mean: Any = None, std: Any = None) -> None:
        self.mean = None
        self.std = None
        if (mean is None) != (std is None):
            raise ValueError(
                f"mean and std must be given together (got mean={mean!r}, std={std!r})"
            )
        if mean is not None:
            self.load_state_dict({"mean": mean, "std": std})

    @property
    def is_fitted(self) -> bool:
        r"""Whether statistics were fitted or loaded."""
        return self.mean is not None

    def fit(self, x: Any) -> StandardizeFeatures:
        r"""Fits per-feature statistics on the training rows.

        Args:
            x (torch.Tensor or torch_geometric.data.Batch): Training rows ``[N, F]`` or
                ``[N, F, C]`` (NaN marks a missing cell; an ndarray or DataFrame
                works too), or a batch of their feature graphs (dropped nodes
                count as missing).

        Returns:
            The transform itself, fitted.
        """
        rows = fit_rows(x)  # [N, F, C], float64
        observed = ~torch.isnan(rows)
        count = observed.sum(0)  # [F, C]
        # Moments of x / max|x|: a cell of 1e200 squares to inf in float64, and
        # sums of cells near the float64 maximum overflow; the scaled cells
        # stay within [-1, 1], so any finite float works.
        scale = rows.abs().nan_to_num(0.0).amax(0).clamp(min=torch.finfo(rows.dtype).tiny)
        scaled = rows / scale
        scaled_mean = scaled.nan_to_num(0.0).sum(0) / count.clamp(min=1)
        centered = torch.where(observed, scaled - scaled_mean, torch.zeros_like(rows))
        scaled_std = (centered.square().sum(0) / count.clamp(min=1)).sqrt()
        mean = scaled_mean * scale
        largest = torch.finfo(rows.dtype).max
        std = (scaled_std * scale).clamp(max=largest)
        # A constant or never-observed feature carries no scale: keep it unscaled,
        # centred on its exact value (a float sum of 1000 × 0.1 is not 100, and
        # the rounding would otherwise become a ~1e-17 std that blows cells up).
        high = rows.nan_to_num(-math.inf).amax(0)
        low = rows.nan_to_num(math.inf).amin(0)
        constant = high == low
        mean = torch.where(constant, low, mean)
        std = torch.where(constant | (std == 0), torch.ones_like(std), std)
        self.mean, self.std = mean, std
        return self

    def _fitted(self) -> tuple[Tensor, Tensor]:
        if self.mean is None or self.std is None:
            raise RuntimeError(
                f"{self.__class__.__name__} is not fitted; call fit() on the training rows "
                "(or load_state_dict()) before transforming"
            )
        return self.mean, self.std

    def _stats(self, num_features: int, num_channels: int) -> tuple[Tensor, Tensor]:
        mean, std = self._fitted()
        if mean.size(0) != num_features or mean.size(1) != num_channels:
            raise ValueError(
                f"x has {num_features} features with {num_channels} channels, but "
                f"{self.__class__.__name__} was fitted on {mean.size(0)} features with "
                f"{mean.size(1)} channels"
            )
        return mean, std

    def forward(self, data: Any) -> Any:
        if is_feature_graph(data):
            nodes = check_node_values(data)  # [N] or [N, C]
            cells = nodes.view(-1, 1) if nodes.dim() == 1 else nodes  # [N, C]
            feature_id = data.feature_id
            width = getattr(data, "row_width", None)
            if isinstance(width, Tensor):
                width = int(width.max()) if width.numel() > 0 else None
            fitted_width = self._fitted()[0].size(0)
            num_features = width if isinstance(width, int) else fitted_width
            mean, std = self._stats(num_features, cells.size(1))
            if feature_id.numel() > 0 and int(feature_id.max()) >= num_features:
                raise ValueError(
                    f"data.feature_id goes up to {int(feature_id.max())}, beyond the "
                    f"{num_features} fitted features"
                )
            mean, std = mean.to(cells.device)[feature_id], std.to(cells.device)[feature_id]
            out = _standardize(cells, mean, std, "data.x", nodes)
            data.x = out.view_as(nodes)
            return data
        if isinstance(data, Data):
            row = to_tensor(data.x, "data.x")
            fitted_shape = tuple(self._fitted()[0].shape)  # (F, C)
            if row.dim() == 3 or (
                row.dim() == 2 and row.size(0) == 1 and fitted_shape != (1, row.size(1))
            ):
                # The row stored as graph-level features, [1, F] or [1, F, C]
                # (PyG's layout); the fitted statistics tell it from one
                # feature with C channels.
                data.x = self._standardize_rows(row, "data.x")
                return data
            if row.dim() not in (1, 2):
                raise ValueError(
                    "data.x must hold one row, shape [num_features], [1, num_features], "
                    "[1, num_features, num_channels] or [num_features, num_channels] "
                    f"(got shape {tuple(row.shape)})"
                )
            data.x = self._standardize_rows(row.unsqueeze(0), "data.x")[0]
            return data
        rows = to_tensor(data, "x")
        if rows.dim() not in (2, 3):
            raise ValueError(
                "x must have shape [num_rows, num_features] or "
                f"[num_rows, num_features, num_channels] (got shape {tuple(rows.shape)})"
            )
        return self._standardize_rows(rows, "x")

    def _standardize_rows(self, rows: Tensor, name: str) -> Tensor:
        # NaN marks a missing cell and stays NaN; inf has no standardized value.
        check_finite(rows, name, allow_nan=True)
        cells = rows if rows.dim() == 3 else rows.unsqueeze(-1)  # [N, F, C]
        mean, std = self._stats(cells.size(1), cells.size(2))
        return _standardize(cells, mean, std, name, rows).view_as(rows)

    def state_dict(self) -> dict[str, Tensor]:
        r"""Returns the fitted statistics, ``{"mean": [F, C], "std": [F, C]}``."""
        mean, std = self._fitted()
        return {"mean": mean.clone(), "std": std.clone()}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> StandardizeFeatures:
        r"""Loads statistics saved by :meth:`state_dict`.

        Args:
            state_dict (dict): ``{"mean": ..., "std": ...}`` of shape ``[F]``
                or ``[F, C]``; every std must be positive.
        """
        keys = set(state_dict)
        if keys != {"mean", "std"}:
            raise ValueError(f"state_dict must have the keys ['mean', 'std'] (got {sorted(keys)})")
        mean = to_tensor(state_dict["mean"], "mean", dtype=torch.float64)
        std = to_tensor(state_dict["std"], "std", dtype=torch.float64)
        if mean.dim() not in (1, 2) or mean.shape != std.shape:
            raise ValueError(
                "mean and std must share one shape, [F] or [F, C] "
                f"(got {tuple(mean.shape)} and {tuple(std.shape)})"
            )
        if not bool(torch.isfinite(mean).all()):
            raise ValueError(f"mean must be finite (got {mean.tolist()})")
        if not bool((torch.isfinite(std) & (std > 0)).all()):
            raise ValueError(f"std must be finite and positive (got {std.tolist()})")
        if mean.dim() == 1:
            mean, std = mean.unsqueeze(-1), std.unsqueeze(-1)
        self.mean, self.std = mean.clone(), std.clone()
        return self

    def __repr__(self) -> str:
        if self.mean is None:
            return f"{self.__class__.__name__}()"
        return f"{self.__class__.__name__}(num_features={self.mean.size(0)})"


def _standardize(cells: Tensor, mean: Tensor, std: Tensor, name: str, layout: Tensor) -> Tensor:
    r"""``(cells - mean) / std`` in float64, returned in the dtype of :obj:`cells`.

    Statistics fitted on float64 rows need not fit in float32 (a mean of 1e200
    becomes inf there), so the arithmetic runs in float64 and only the result
    is cast; a result the dtype cannot hold is refused, not turned into inf.
    The offending cell is located in :obj:`layout`, the caller's input.
    """
    wide = (cells.to(torch.float64) - mean.to(cells.device)) / std.to(cells.device)
    out = wide.to(cells.dtype)
    overflow = torch.isinf(out)
    if bool(overflow.any()):
        position = tuple(int(i) for i in overflow.view(layout.shape).nonzero()[0])
        raise ValueError(
            f"{name} at index {position} holds {float(layout[position]):.6g}, whose "
            f"standardized value {float(wide.view(layout.shape)[position]):.6g} does not "
            f"fit in {cells.dtype}; pass the rows in float64"
        )
    return out


__all__ = ["StandardizeFeatures"]
