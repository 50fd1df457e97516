r"""The plain baseline of the comparison."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class MLP(nn.Module):
    """Two hidden ReLU layers over the row, categoricals embedded.

    Each categorical column gets its own :class:`torch.nn.Embedding` (as in the
    feature-graph models), concatenated with the standardised numerics.
    """

    def __init__(
        self,
        num_numeric: int,
        cardinalities: Sequence[int],
        num_outputs: int,
        hidden: int = 128,
        embedding_dim: int = 8,
    ) -> None:
        super().__init__()
        self.num_numeric = num_numeric
        self.embeddings = nn.ModuleList(nn.Embedding(n, embedding_dim) for n in cardinalities)
        width = num_numeric + embedding_dim * len(self.embeddings)
        self.net = nn.Sequential(
            nn.Linear(width, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_outputs),
        )

    def forward(self, x: Tensor) -> Tensor:
        codes = x[:, self.num_numeric :].long()
        parts = [x[:, : self.num_numeric]]
        parts += [embed(codes[:, i]) for i, embed in enumerate(self.embeddings)]
        return self.net(torch.cat(parts, dim=-1))


__all__ = ["MLP"]
