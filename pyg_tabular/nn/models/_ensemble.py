r"""FeatureGraphNet's efficient ensemble: :math:`k` prediction heads over one
shared feature graph, in the manner of TabM-mini."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


class EnsembleHead(torch.nn.Module):
    r""":math:`k` MLP heads that share their weights but for a per-member
    input scaling and their output layers: TabM\ :sub:`mini` of Gorishniy et
    al., "TabM: Advancing Tabular Deep Learning with Parameter-Efficient
    Ensembling" (ICLR 2025), on the readout of the shared feature graph.

    The readout :math:`\mathbf{z} \in \mathbb{R}^{P \cdot C}` (the :math:`P`
    node vectors of ``"flatten"``, or :math:`P = 1` pooled vector) gives
    member :math:`m`

    .. math::
        \hat{\mathbf{y}}_m = \mathbf{W}^{(2)}_m\, \mathrm{Dropout}\left(
        \mathrm{ReLU}\left(\mathbf{W}^{(1)} (\mathbf{z} \odot
        (\mathbf{1}_P \otimes \mathbf{r}_m)) + \mathbf{b}^{(1)}\right)\right)
        + \mathbf{b}^{(2)}_m,

    :math:`\mathbf{W}^{(1)}, \mathbf{b}^{(1)}` shared, the adapter
    :math:`\mathbf{r}_m \in \mathbb{R}^C` initialised with random signs as in
    TabM, and a separate ("packed") output layer per member. As TabM-mini has
    one scaling per input dimension, this one has one per channel, shared by
    the :math:`P` nodes: summing over the nodes first,
    :math:`\mathbf{W}^{(1)} (\mathbf{z} \odot (\mathbf{1}_P \otimes
    \mathbf{r}_m)) = \mathbf{U}\mathbf{r}_m` with
    :math:`\mathbf{U}_{hc} = \sum_p \mathbf{W}^{(1)}_{h,pc} z_{pc}`, so the
    shared layer runs once and each member adds :math:`H \cdot C`
    multiply-adds (:math:`P \cdot C \cdot H` for a scaling per input
    dimension). Without a hidden layer (:obj:`hidden` ``= 0``) each member
    is its own linear layer.

    Args:
        num_nodes (int): Node vectors :math:`P` in the readout.
        channels (int): Channels :math:`C` per node vector.
        hidden (int): Hidden width :math:`H` (``0``: linear heads).
        out_channels (int): Outputs per member.
        ensemble_size (int): Members :math:`k`.
        dropout (float): Dropout on the hidden layer, per member.

    Shapes:
        - **input:** :math:`(B, P \cdot C)`
        - **output:** :math:`(B, k, \text{out\_channels})`
    """

    def __init__(
        self,
        num_nodes: int,
        channels: int,
        hidden: int,
        out_channels: int,
        ensemble_size: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.num_nodes = num_nodes
        self.channels = channels
        self.hidden = hidden
        self.out_channels = out_channels
        self.ensemble_size = ensemble_size
        self.dropout = dropout
        width = num_nodes * channels
        self.adapter: torch.nn.Parameter | None = None
        self.lin: torch.nn.Linear | None = None
        if hidden > 0:
            self.adapter = torch.nn.Parameter(torch.empty(ensemble_size, channels))
            self.lin = torch.nn.Linear(width, hidden)
        fan_in = hidden if hidden > 0 else width
        self.weight = torch.nn.Parameter(torch.empty(ensemble_size, fan_in, out_channels))
        self.bias = torch.nn.Parameter(torch.empty(ensemble_size, out_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.adapter is not None and self.lin is not None:
            with torch.no_grad():
                signs = torch.randint(0, 2, self.adapter.shape, device=self.adapter.device)
                self.adapter.copy_(2.0 * signs - 1.0)
            self.lin.reset_parameters()
        # Each member's output layer as torch.nn.Linear would draw it.
        bound = 1.0 / math.sqrt(self.weight.size(1))
        torch.nn.init.uniform_(self.weight, -bound, bound)
        torch.nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, z: Tensor) -> Tensor:
        if self.adapter is None or self.lin is None:
            return torch.einsum("bw,kwo->bko", z, self.weight) + self.bias
        batch_size = z.size(0)
        nodes = z.reshape(batch_size, self.num_nodes, self.channels)  # [B, P, C]
        weight = self.lin.weight.view(self.hidden, self.num_nodes, self.channels)
        shared = torch.einsum("bpc,hpc->bhc", nodes, weight)  # [B, H, C]
        hidden = torch.einsum("bhc,kc->bkh", shared, self.adapter) + self.lin.bias  # [B, k, H]
        hidden = F.dropout(F.relu(hidden), p=self.dropout, training=self.training)
        return torch.einsum("bkh,kho->bko", hidden, self.weight) + self.bias  # [B, k, out]

    def extra_repr(self) -> str:
        return (
            f"{self.num_nodes * self.channels}, {self.out_channels}, hidden={self.hidden}, "
            f"ensemble_size={self.ensemble_size}"
        )
