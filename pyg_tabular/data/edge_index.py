"""Feature-graph templates: the edges of one row's graph over F feature nodes."""

from __future__ import annotations

import torch
from torch import Tensor

from pyg_tabular.data._memory import check_graph_size
from pyg_tabular.utils.validation import check_int, to_tensor


def fully_connected_edge_index(
    num_features: int,
    self_loops: bool = True,
    *,
    device: torch.device | str | None = None,
) -> Tensor:
    r"""Returns the complete feature graph over :obj:`num_features` nodes.

    Edges follow PyG's ``source → target`` convention (row 0 holds sources,
    row 1 targets) and are sorted by target, then source. A softmax over each
    target's incoming edges therefore sees contiguous blocks.

    Args:
        num_features (int): Number of feature nodes :math:`F`.
        self_loops (bool, optional): Whether each feature also attends to
            itself; gives :math:`F^2` edges, else :math:`F(F-1)`.
            (default: :obj:`True`)
        device (torch.device, optional): Device of the result.

    Raises:
        ValueError: If the template (:math:`F^2` edges) would take more than
            half of the device's available memory.

    Example:
        >>> fully_connected_edge_index(3, self_loops=False)
        tensor([[1, 2, 0, 2, 0, 1],
                [0, 0, 1, 1, 2, 2]])
    """
    num_features = check_int(num_features, "num_features", minimum=0)
    check_graph_size(
        "fully_connected_edge_index",
        1,
        num_features,
        template_size(num_features, self_loops),
        device=torch.device("cpu" if device is None else device),
        builds_template=True,
        batched=False,
        limit_argument=None,
    )
    return complete_template(num_features, self_loops, device)


def template_size(num_features: int, self_loops: bool, template: Tensor | None = None) -> int:
    r"""Edges per row: those of :obj:`template`, else of the complete graph."""
    if template is not None:
        return template.size(1)
    return num_features * num_features if self_loops else num_features * (num_features - 1)


def complete_template(
    num_features: int, self_loops: bool, device: torch.device | str | None = None
) -> Tensor:
    r""":func:`fully_connected_edge_index` without its size check, for callers
    that checked the size of everything they build from it."""
    nodes = torch.arange(num_features, device=device)
    target = nodes.repeat_interleave(num_features)
    source = nodes.repeat(num_features)
    edge_index = torch.stack([source, target], dim=0)
    if not self_loops:
        edge_index = edge_index[:, source != target]
    return edge_index


def repeat_template(template: Tensor, num_rows: int, num_features: int) -> Tensor:
    r"""Offsets a ``[2, E]`` feature template for :obj:`num_rows` stacked rows.

    Row :math:`b`'s copy is shifted by :math:`b \cdot F`, giving the
    ``[2, B·E]`` edge index of ``B`` complete rows laid out row-major, as in
    :func:`~pyg_tabular.data.rows_to_graph`.

    Example:
        >>> repeat_template(fully_connected_edge_index(2, self_loops=False), 2, 2)
        tensor([[1, 0, 3, 2],
                [0, 1, 2, 3]])
    """
    offsets = torch.arange(num_rows, device=template.device) * num_features
    # One broadcast add writes the [2, B, E] index in a single pass; it beats
    # repeat_interleave + repeat, which materialise intermediates.
    out = torch.empty((2, num_rows, template.size(1)), dtype=torch.long, device=template.device)
    torch.add(template.unsqueeze(1), offsets.view(1, -1, 1), out=out)
    return out.view(2, -1)


def check_template(edge_index: object, num_features: int, name: str = "edge_index") -> Tensor:
    r"""Validates a user-given feature adjacency template of shape ``[2, E]``."""
    template = to_tensor(edge_index, name, allow_integer=True)
    if template.dim() != 2 or template.size(0) != 2:
        raise ValueError(
            f"{name} must be a [2, num_edges] template over the features "
            f"(got shape {tuple(template.shape)})"
        )
    if template.is_floating_point() or template.dtype == torch.bool:
        raise ValueError(f"{name} must hold integer node indices (got dtype {template.dtype})")
    template = template.long()
    if template.numel() > 0:
        low, high = int(template.min()), int(template.max())
        if low < 0 or high >= num_features:
            raise ValueError(
                f"{name} indexes features outside [0, {num_features}) "
                f"(got values from {low} to {high})"
            )
    return template


__all__ = [
    "fully_connected_edge_index",
    "repeat_template",
    "check_template",
    "template_size",
    "complete_template",
]
