r"""FeatureGraphNet's pieces: one block of attention over the feature graph
(optionally with a feed-forward step) and the readouts of a row's nodes."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn import MessagePassing

from pyg_tabular.data.edge_index import repeat_template
from pyg_tabular.nn.graph import RelationEdges
from pyg_tabular.nn.models.layer_kind import LayerKind
from pyg_tabular.nn.pool import FeatureGroupPool

#: ``"residual"``: :math:`\mathrm{LN}(x + \mathrm{attn}(x))`;
#: ``"transformer"``: pre-norm attention, then a per-node feed-forward, each with a residual.
BLOCKS = ("residual", "transformer")

#: How a row's node vectors become one vector for the head.
READOUTS = ("flatten", "mean", "cls", "attention")


class _FeedForward(torch.nn.Module):
    # The per-node ReGLU feed-forward of FT-Transformer, shared by all nodes.

    def __init__(self, channels: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.dropout = dropout
        self.lin1 = torch.nn.Linear(channels, 2 * hidden)
        self.lin2 = torch.nn.Linear(hidden, channels)

    def reset_parameters(self) -> None:
        self.lin1.reset_parameters()
        self.lin2.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        value, gate = self.lin1(x).chunk(2, dim=-1)
        hidden = F.dropout(value * F.relu(gate), p=self.dropout, training=self.training)
        return self.lin2(hidden)


class FeatureGraphBlock(torch.nn.Module):
    r"""One attention layer over the feature graph, in one of two shapes.

    ``"residual"``: :math:`\mathbf{H} \gets \mathrm{LN}(\mathbf{H} +
    \mathrm{Dropout}(\mathbf{Z}))`; ``"transformer"`` (pre-norm, as in
    FT-Transformer): :math:`\mathbf{H} \gets \mathbf{H} +
    \mathrm{Dropout}(\mathbf{Z})` with :math:`\mathbf{Z}` computed from
    :math:`\mathrm{LN}(\mathbf{H})`, then :math:`\mathbf{H} \gets \mathbf{H} +
    \mathrm{Dropout}(\mathrm{FFN}(\mathrm{LN}(\mathbf{H})))`. :math:`\mathbf{Z}`
    is the conv's output (heads concatenated), projected back to :math:`C`
    (after an ELU in the residual shape), plus the hierarchical step when
    :obj:`num_groups` is set.
    """

    def __init__(
        self,
        kind: LayerKind,
        num_nodes: int,
        channels: int,
        heads: int,
        dropout: float,
        num_groups: int | None,
        block: str = "residual",
        ffn_hidden: int = 0,
    ) -> None:
        super().__init__()
        self.dropout = dropout
        self.block = block
        self.conv = kind.build(channels, heads, dropout)
        self.sparse = isinstance(self.conv, MessagePassing)
        self.proj: torch.nn.Module | None = None
        if kind.project:
            self.proj = torch.nn.Linear(self._conv_width(num_nodes, channels), channels)
        self.pool: FeatureGroupPool | None = None
        self.unpool: torch.nn.Linear | None = None
        if num_groups is not None:
            self.pool = FeatureGroupPool(num_nodes, num_groups)
            self.unpool = torch.nn.Linear(num_groups * channels, num_nodes * channels)
        self.norm = torch.nn.LayerNorm(channels)
        self.ffn: _FeedForward | None = None
        self.ffn_norm: torch.nn.LayerNorm | None = None
        if block == "transformer":
            self.ffn = _FeedForward(channels, ffn_hidden, dropout)
            self.ffn_norm = torch.nn.LayerNorm(channels)

    @torch.no_grad()
    def _conv_width(self, num_nodes: int, channels: int) -> int:
        # The conv's output width (heads concatenated) from a call on zero rows,
        # so that any registered conv can be projected back without declaring it.
        training = self.conv.training
        self.conv.eval()
        x = torch.zeros(0, num_nodes, channels)
        if self.sparse:
            out = self.conv(x.view(0, channels), torch.zeros(2, 0, dtype=torch.long))
        else:
            out = self.conv(x, None)
        self.conv.train(training)
        return int(out.size(-1))

    def reset_parameters(self) -> None:
        for module in (
            self.conv,
            self.proj,
            self.pool,
            self.unpool,
            self.norm,
            self.ffn,
            self.ffn_norm,
        ):
            if module is not None:
                module.reset_parameters()  # type: ignore[operator]

    def _attend(
        self,
        x: Tensor,
        adj: Tensor | None,
        template: Tensor,
        present: Tensor | None,
        need_attention: bool,
        edge_weight: Tensor | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        batch_size, num_nodes, channels = x.shape
        alpha: Tensor | None
        # Weights of the template's edges [E] reach the conv in its own form.
        weights: dict[str, Tensor] = {}
        if not self.sparse:
            if edge_weight is not None:
                edges = RelationEdges(template, edge_weight, num_nodes)
                weights["edge_weight"] = edges.dense()[1]  # type: ignore[assignment]
            out, alpha = self.conv(x, adj, return_attention_weights=True, **weights)  # [B, N, W]
        else:
            edge_index = repeat_template(template, batch_size, num_nodes)
            if edge_weight is not None:
                weights["edge_weight"] = edge_weight.repeat(batch_size)
            if present is not None:
                # An absent feature sends no message: drop its outgoing edges.
                kept = present.reshape(-1)[edge_index[0]]
                edge_index = edge_index[:, kept]
                if edge_weight is not None:
                    weights["edge_weight"] = weights["edge_weight"][kept]
            out, (edge_index, edge_alpha) = self.conv(
                x.reshape(-1, channels), edge_index, return_attention_weights=True, **weights
            )
            out = out.view(batch_size, num_nodes, out.size(-1))
            alpha = None
            if need_attention:
                alpha = _edge_to_dense(edge_alpha, edge_index, batch_size, num_nodes)
        if self.proj is not None:
            # ELU is GAT's nonlinearity between layers; the transformer shape
            # leaves the nonlinearity to its feed-forward step.
            out = self.proj(F.elu(out) if self.block == "residual" else out)  # [B, N, C]
        if self.pool is not None and self.unpool is not None:
            groups = self.pool(out, mask=present)  # [B, G, C]
            out = out + self.unpool(groups.flatten(1)).view(batch_size, num_nodes, channels)
        return F.dropout(out, p=self.dropout, training=self.training), alpha

    def forward(
        self,
        x: Tensor,
        adj: Tensor | None,
        template: Tensor,
        present: Tensor | None,
        need_attention: bool,
        edge_weight: Tensor | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        if self.ffn is None or self.ffn_norm is None:
            out, alpha = self._attend(x, adj, template, present, need_attention, edge_weight)
            return self.norm(x + out), alpha
        out, alpha = self._attend(self.norm(x), adj, template, present, need_attention, edge_weight)
        x = x + out
        ffn = self.ffn(self.ffn_norm(x))
        return x + F.dropout(ffn, p=self.dropout, training=self.training), alpha


def _edge_to_dense(alpha: Tensor, edge_index: Tensor, batch_size: int, num_nodes: int) -> Tensor:
    r"""Edge attention ``[E, H]`` of batched rows ``→ [B, H, N, N]`` (entry ``[b, k, i, j]``)."""
    dense = alpha.new_zeros(batch_size, alpha.size(-1), num_nodes, num_nodes)
    source, target = edge_index
    row = target // num_nodes
    dense[row, :, target % num_nodes, source % num_nodes] = alpha
    return dense


class AttentionReadout(torch.nn.Module):
    r"""Attention pooling of a row's nodes: :math:`\sum_f \alpha_f \mathbf{h}_f`
    with :math:`\alpha = \mathrm{softmax}_f(\mathbf{v}^\top \tanh(\mathbf{W}
    \mathbf{h}_f + \mathbf{b}))` over the present nodes."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(channels, channels)
        self.score = torch.nn.Linear(channels, 1, bias=False)

    def reset_parameters(self) -> None:
        self.lin.reset_parameters()
        self.score.reset_parameters()

    def forward(self, x: Tensor, present: Tensor | None) -> Tensor:
        score = self.score(torch.tanh(self.lin(x))).squeeze(-1)  # [B, N]
        if present is not None:
            score = score.masked_fill(~present, float("-inf"))
        # Rows with no present node have all -inf scores; nan_to_num gives them zeros.
        alpha = torch.softmax(score, dim=-1).nan_to_num(0.0)
        return torch.einsum("bn,bnc->bc", alpha, x)


__all__: list[str] = []
