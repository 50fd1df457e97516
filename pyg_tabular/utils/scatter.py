"""Scatter reductions that work with and without torch_scatter.

torch_scatter is an optional accelerator: when it is installed (and not
disabled through :data:`pyg_tabular.typing.WITH_TORCH_SCATTER`) the reductions
go through it, otherwise through :meth:`torch.Tensor.scatter_reduce_`, which is
the faster CPU path for ``sum``/``mean`` in recent torch releases.
"""

from __future__ import annotations

import torch
from torch import Tensor

import pyg_tabular.typing as _typing

_REDUCTIONS = ("sum", "mean", "max", "min")


def scatter(
    src: Tensor,
    index: Tensor,
    dim: int = 0,
    dim_size: int | None = None,
    reduce: str = "sum",
) -> Tensor:
    r"""Reduces the slices of :obj:`src` along :obj:`dim` that share an index.

    Args:
        src (torch.Tensor): The values to reduce.
        index (torch.Tensor): One-dimensional target index for each slice of
            :obj:`src` along :obj:`dim`.
        dim (int, optional): The dimension to reduce along. (default: :obj:`0`)
        dim_size (int, optional): Size of the output along :obj:`dim`; inferred
            as ``index.max() + 1`` when :obj:`None`. (default: :obj:`None`)
        reduce (str, optional): ``"sum"``, ``"mean"``, ``"max"`` or ``"min"``.
            Targets that receive nothing are ``0``. (default: :obj:`"sum"`)

    Example:
        >>> import torch
        >>> scatter(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0, 0, 2]))
        tensor([3., 0., 3.])
    """
    if reduce not in _REDUCTIONS:
        raise ValueError(f"reduce must be one of {_REDUCTIONS} (got {reduce!r})")
    if index.dim() != 1:
        raise ValueError(f"index must be one-dimensional (got shape {tuple(index.shape)})")
    dim = dim + src.dim() if dim < 0 else dim
    if dim_size is None:
        dim_size = int(index.max()) + 1 if index.numel() > 0 else 0

    # torch_scatter's kernels cannot run on the fake tensors torch.compile
    # traces with, so a traced graph takes the scatter_reduce form below.
    if _typing.WITH_TORCH_SCATTER and src.numel() > 0 and not torch.compiler.is_compiling():
        import torch_scatter

        return torch_scatter.scatter(src, index, dim=dim, dim_size=dim_size, reduce=reduce)

    size = list(src.shape)
    size[dim] = dim_size
    # Broadcast the index to src's shape: scatter_reduce_ wants them equal.
    view = [1] * src.dim()
    view[dim] = -1
    full_index = index.view(view).expand_as(src)
    out = src.new_zeros(size)
    if reduce == "sum":
        return out.scatter_add_(dim, full_index, src)
    torch_reduce = {"mean": "mean", "max": "amax", "min": "amin"}[reduce]
    return out.scatter_reduce_(dim, full_index, src, reduce=torch_reduce, include_self=False)


__all__ = ["scatter"]
