r"""The plain baseline of the comparison."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class MLP(nn.Module):
    r"""Two hidden ReLU layers over the row, categoricals embedded.

    Each categorical column gets its own :class:`torch.nn.Embedding` (as in the
    feature-graph models), concatenated with the standardised numerics. With
    :obj:`numeric_embeddings` the numerics enter embedded instead (flattened
    ``[B, F_{num} \cdot d]``): with the periodic embeddings of
    :mod:`rtdl_num_embeddings` this is the MLP-PLR of Gorishniy et al.,
    "On Embeddings for Numerical Features in Tabular Deep Learning" (2022).

    Args:
        num_numeric (int): Number of numeric columns :math:`F_{num}`.
        cardinalities (sequence of int): Number of codes of each categorical
            column, the reserved ``0`` (unknown) included.
        num_outputs (int): Outputs per row.
        hidden (int, optional): Width of the hidden layers. (default: :obj:`128`)
        embedding_dim (int, optional): Size of each categorical embedding.
            (default: :obj:`8`)
        numeric_embeddings (torch.nn.Module, optional): Maps the numerics
            ``[B, F_{num}]`` to ``[B, F_{num}, d]`` and reports
            ``get_output_shape() == (F_{num}, d)``, as the modules of
            :mod:`rtdl_num_embeddings` do; :obj:`None` feeds the numerics as
            they are. (default: :obj:`None`)

    Example:
        >>> import torch
        >>> model = MLP(2, [3], num_outputs=1)
        >>> model(torch.tensor([[0.5, -1.0, 2.0]])).shape
        torch.Size([1, 1])
    """

    def __init__(
        self,
        num_numeric: int,
        cardinalities: Sequence[int],
        num_outputs: int,
        hidden: int = 128,
        embedding_dim: int = 8,
        numeric_embeddings: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.num_numeric = num_numeric
        self.embeddings = nn.ModuleList(nn.Embedding(n, embedding_dim) for n in cardinalities)
        numeric_width = num_numeric
        if numeric_embeddings is not None:
            shape = tuple(numeric_embeddings.get_output_shape())  # type: ignore[operator]
            if len(shape) != 2 or shape[0] != num_numeric:
                raise ValueError(
                    f"numeric_embeddings must embed the {num_numeric} numeric columns "
                    f"(got output shape {shape})"
                )
            numeric_width = shape[0] * shape[1]
        self.numeric_embeddings = numeric_embeddings
        width = numeric_width + embedding_dim * len(self.embeddings)
        self.net = nn.Sequential(
            nn.Linear(width, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_outputs),
        )

    def forward(self, x: Tensor) -> Tensor:
        codes = x[:, self.num_numeric :].long()
        numeric = x[:, : self.num_numeric]
        if self.numeric_embeddings is not None:
            numeric = self.numeric_embeddings(numeric).flatten(1)  # [B, F_num * d]
        parts = [numeric]
        parts += [embed(codes[:, i]) for i, embed in enumerate(self.embeddings)]
        return self.net(torch.cat(parts, dim=-1))


__all__ = ["MLP"]
