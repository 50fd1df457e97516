"""Difference-aware graph attention between the features of each table row."""

from __future__ import annotations

from typing import Any

from torch import Tensor
from torch_geometric.typing import OptPairTensor, OptTensor

from pyg_tabular.nn._attention_parameters import DiffScoreParameters
from pyg_tabular.nn._gat_common import InChannels
from pyg_tabular.nn.conv._base import Adjacency, FeatureAttentionConv
from pyg_tabular.nn.functional import diff_edge_score


class FeatureDiffGATConv(DiffScoreParameters, FeatureAttentionConv):
    r"""Graph attention whose score also sees how far apart two features are,
    as in the ``AdvancedGraphFeatureLayer`` of the Keras library
    ``kerasfactory``.

    With :math:`\mathbf{h}_i = \mathbf{\Theta} \mathbf{x}_i` split into heads
    :math:`\mathbf{h}_i^{k} \in \mathbb{R}^{D}`, :math:`k = 1, \dots, H`, and
    :math:`\mathbf{u} = [\mathbf{u}_1; \mathbf{u}_2; \mathbf{u}_3] \in
    \mathbb{R}^{3D}`,

    .. math::
        e_{ij}^{k} = \mathrm{LeakyReLU}\left(
        \mathbf{u}_1 \cdot \mathbf{h}_i^{k} + \mathbf{u}_2 \cdot \mathbf{h}_j^{k} +
        \mathbf{u}_3 \cdot \lvert \mathbf{h}_i^{k} - \mathbf{h}_j^{k} \rvert\right),
        \qquad
        \alpha_{ij}^{k} = \frac{\exp e_{ij}^{k}}{\sum_{l \in \mathcal{N}(i)} \exp e_{il}^{k}},

    .. math::
        \mathbf{x}_i' = \mathop{\Big\Vert}_{k=1}^{H}
        \sum_{j \in \mathcal{N}(i)} \alpha_{ij}^{k}\, \mathbf{h}_j^{k} + \mathbf{b}

    for the target :math:`i` and its sources :math:`j \in \mathcal{N}(i)`.
    As in the Keras layer, one :math:`\mathbf{u}` is shared by all heads and
    the score has no bias; :obj:`shared_attention=False` gives each head its
    own :math:`\mathbf{u}^{k}`. The term
    :math:`\mathbf{u}_3 \cdot \lvert \mathbf{h}_i - \mathbf{h}_j \rvert` lets
    attention depend on the distance between two features' embeddings,
    which the GAT score (linear in :math:`\mathbf{h}_i` and
    :math:`\mathbf{h}_j`) cannot express.

    Constructor arguments, inputs, outputs, the static-graph form and the
    dense fast path for complete graphs are those of
    :class:`FeatureGATConv`, i.e. of GATConv: self-loops by default,
    bipartite pairs, sparse adjacencies, ``size``, ``residual`` and
    ``edge_attr``, whose term :math:`\mathbf{a}_{\mathrm{edge}}^{k} \cdot
    \mathbf{\Theta}_{e} \mathbf{e}_{ji}` is added to the score inside the
    LeakyReLU as GATConv adds it. Without target features
    (``x=(x_src, None)``), the terms that need :math:`\mathbf{h}_i` drop out,
    as GATConv drops :math:`\mathbf{a}_{\mathrm{dst}} \cdot \mathbf{h}_i`; the dense path
    computes the distance term with two :func:`torch.cdist` calls (see
    :func:`pyg_tabular.nn.functional.dense_diff_score`). The generic sparse
    path gathers both ends of every edge, i.e. it holds
    :math:`2 |\mathcal{E}| H D` values, except with one input channel, where
    :math:`\lvert \mathbf{h}_i - \mathbf{h}_j \rvert = \lvert \mathbf{w} \rvert\,
    \lvert x_i - x_j \rvert` needs one value per edge.

    Args:
        in_channels (int or tuple): Size of each input feature vector, or
            :obj:`-1` to infer it on the first call; or a ``(source,
            target)`` pair of sizes.
        out_channels (int): Size :math:`D` of each output vector per head.
        heads (int, optional): Number of attention heads :math:`H`.
            (default: :obj:`1`)
        concat (bool, optional): Concatenate the heads; averaged if
            :obj:`False`. (default: :obj:`True`)
        negative_slope (float, optional): LeakyReLU slope. (default: :obj:`0.2`)
        dropout (float, optional): Dropout probability of the attention
            coefficients. (default: :obj:`0.0`)
        add_self_loops (bool, optional): Replace the graph's self-loops by one
            self-loop per node, appended after the other edges.
            (default: :obj:`True`)
        edge_dim (int, optional): Size of the edge features.
            (default: :obj:`None`)
        fill_value (float or torch.Tensor or str, optional): Edge features
            of the added self-loops. (default: :obj:`"mean"`)
        bias (bool, optional): Learn the output bias :math:`\mathbf{b}`.
            (default: :obj:`True`)
        residual (bool, optional): Add a learned projection of the target's
            input to the output. (default: :obj:`False`)
        shared_attention (bool, optional): One :math:`\mathbf{u}` for all
            heads (parameter ``att`` of shape ``[1, 3D]``); if :obj:`False`,
            one per head (``[H, 3D]``). Keyword-only. (default: :obj:`True`)
        **kwargs (optional): Additional arguments of
            :class:`torch_geometric.nn.conv.MessagePassing`.

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})` and edge
          indices :math:`(2, |\mathcal{E}|)`; or static form
          :math:`(B, F, F_{in})` with a template :math:`(2, |\mathcal{E}_F|)`
        - **output:** node features :math:`(|\mathcal{V}|, H \cdot D)`
          (:math:`D` if :obj:`concat=False`), or :math:`(B, F, \cdot)` in
          static form; with :obj:`return_attention_weights=True` also
          ``(edge_index, alpha)`` with :math:`\alpha` of shape
          :math:`(|\mathcal{E}|, H)` (static form :math:`(B, |\mathcal{E}_F|, H)`)

    Example:
        >>> import torch
        >>> from pyg_tabular.data import rows_to_graph
        >>> batch = rows_to_graph(torch.randn(8, 5))  # 8 rows, 5 features
        >>> conv = FeatureDiffGATConv(1, 8, heads=4)
        >>> conv
        FeatureDiffGATConv(1, 8, heads=4)
        >>> conv(batch.x, batch.edge_index).shape
        torch.Size([40, 32])
    """

    def __init__(
        self,
        in_channels: InChannels,
        out_channels: int,
        heads: int = 1,
        concat: bool = True,
        negative_slope: float = 0.2,
        dropout: float = 0.0,
        add_self_loops: bool = True,
        edge_dim: int | None = None,
        fill_value: float | Tensor | str = "mean",
        bias: bool = True,
        residual: bool = False,
        *,
        shared_attention: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            heads=heads,
            concat=concat,
            negative_slope=negative_slope,
            dropout=dropout,
            add_self_loops=add_self_loops,
            edge_dim=edge_dim,
            fill_value=fill_value,
            bias=bias,
            residual=residual,
            score_options={"shared_attention": shared_attention},
            **kwargs,
        )
        self.reset_parameters()

    def edge_attention(
        self,
        x: OptPairTensor,
        h: OptPairTensor,
        edge_index: Adjacency,
        edge_attr: OptTensor,
        size: tuple[int | None, int | None] | None,
        edge_log_weight: Tensor | None = None,
    ) -> Tensor:
        att_dst, att_src, att_diff = self._split_att()
        (x_src, x_dst), (h_src, h_dst) = x, h
        # [..., N, H, 1]: the linear terms need one scalar per node and head.
        score_src = (h_src * att_src).sum(dim=-1, keepdim=True)
        score_dst = None if h_dst is None else (h_dst * att_dst).sum(dim=-1, keepdim=True)
        values: tuple[Tensor, Tensor | None] = (h_src, h_dst)
        diff = att_diff
        if self.lin is not None and x_dst is not None and x_src.size(-1) == 1:
            # h_i - h_j = W (x_i - x_j) and, for one input channel, |W Δx| = |w| |Δx|:
            # u_3 · |h_i - h_j| = |x_i - x_j| · (u_3 · |w^k|), one coefficient per
            # head, so no [E, H, D] tensor is gathered.
            weight = self.lin.weight.view(self.heads, self.out_channels)  # [H, D]
            values = (x_src.unsqueeze(-2), x_dst.unsqueeze(-2))  # [..., N, 1, 1]
            diff = (att_diff * weight.abs()).sum(dim=-1, keepdim=True)  # [H, 1]
        # edge_updater_type: (x: OptPairTensor, score: OptPairTensor, diff: Tensor, edge_attr: OptTensor, edge_log_weight: OptTensor)  # noqa: E501
        return self.edge_updater(
            edge_index,
            x=values,
            score=(score_src, score_dst),
            diff=diff,
            edge_attr=edge_attr,
            edge_log_weight=edge_log_weight,
            size=size,
        )

    def edge_update(
        self,
        x_i: Tensor | None,
        x_j: Tensor,
        score_i: Tensor | None,
        score_j: Tensor,
        diff: Tensor,
        edge_attr: Tensor | None,
        edge_log_weight: Tensor | None,
        index: Tensor,
        dim_size: int | None,
    ) -> Tensor:
        if edge_attr is not None and self.lin_edge is not None:
            # Inside the LeakyReLU, as GATConv adds its edge term.
            score_j = score_j + self.edge_score(edge_attr)
        if x_i is None or score_i is None:
            # Without target features, the terms that need them drop out, as
            # GATConv drops a_dst · h_i.
            score = score_j
        else:
            # Slope 1 returns the plain sum; the LeakyReLU runs once, after
            # the edge term is in.
            distance = diff_edge_score(
                x_i, x_j, score_i.squeeze(-1), score_j.squeeze(-1), diff, negative_slope=1.0
            )
            score = distance.unsqueeze(-1)  # [..., E, H, 1]
        return self.softmax_and_dropout(score, index, dim_size, edge_log_weight)


__all__ = ["FeatureDiffGATConv"]
