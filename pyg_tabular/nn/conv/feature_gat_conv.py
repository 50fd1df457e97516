"""GAT attention between the features of each table row."""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor

from pyg_tabular.nn._attention_parameters import GATScoreParameters
from pyg_tabular.nn.conv._base import FeatureAttentionConv
from pyg_tabular.nn.functional import segment_softmax


class FeatureGATConv(GATScoreParameters, FeatureAttentionConv):
    r"""The graph attention operator of `"Graph Attention Networks"
    <https://arxiv.org/abs/1710.10903>`_ (PyG's
    :class:`~torch_geometric.nn.conv.GATConv`), for feature graphs.

    Each node is one feature of one table row; with
    :math:`\mathbf{h}_i = \mathbf{\Theta} \mathbf{x}_i` split into heads
    :math:`k = 1, \dots, H`,

    .. math::
        e_{ij}^{k} = \mathrm{LeakyReLU}\left(
        \mathbf{a}_{\mathrm{dst}}^{k} \cdot \mathbf{h}_i^{k} +
        \mathbf{a}_{\mathrm{src}}^{k} \cdot \mathbf{h}_j^{k} + c^{k}\right),
        \qquad
        \alpha_{ij}^{k} = \frac{\exp e_{ij}^{k}}{\sum_{l \in \mathcal{N}(i)} \exp e_{il}^{k}},

    .. math::
        \mathbf{x}_i' = \mathop{\Big\Vert}_{k=1}^{H}
        \sum_{j \in \mathcal{N}(i)} \alpha_{ij}^{k}\, \mathbf{h}_j^{k} + \mathbf{b}

    where :math:`\mathcal{N}(i)` are the sources of the edges into :math:`i`,
    :math:`c` is the optional score bias and dropout is applied to
    :math:`\alpha` while training. With :obj:`concat=False` the heads are
    averaged instead of concatenated. With :obj:`att_bias=False` the layer
    has :class:`~torch_geometric.nn.conv.GATConv`'s parameters (same names
    and shapes) and computes the same function, so
    ``load_state_dict`` works between the two.

    Besides a (batched) graph, the layer takes PyG's static-graph form:
    ``x`` of shape ``[B, F, C]`` with one ``[2, E]`` template over the ``F``
    features shared by all rows (see :func:`~pyg_tabular.data.to_static_graph`).
    When the graph is the batched complete graph that
    :func:`~pyg_tabular.data.rows_to_graph` writes (with or without
    self-loops), the layer runs the dense computation of
    :class:`~pyg_tabular.nn.dense.DenseFeatureGATConv` instead of gathering
    per-edge messages; other graphs, explainers and propagate hooks use
    :meth:`propagate`.

    Args:
        in_channels (int): Size of each input feature vector, or :obj:`-1`
            to infer it on the first call.
        out_channels (int): Size of each output vector per head.
        heads (int, optional): Number of attention heads :math:`H`.
            (default: :obj:`1`)
        concat (bool, optional): Concatenate the heads; averaged if
            :obj:`False`. (default: :obj:`True`)
        negative_slope (float, optional): LeakyReLU slope. (default: :obj:`0.2`)
        dropout (float, optional): Dropout probability of the attention
            coefficients. (default: :obj:`0.0`)
        add_self_loops (bool, optional): Replace the graph's self-loops by one
            self-loop per node. (default: :obj:`False`)
        att_bias (bool, optional): Learn the score bias :math:`c^k`, one per
            head, stored as the parameter ``att_bias`` (``None`` when off).
            (default: :obj:`True`)
        bias (bool, optional): Learn the output bias :math:`\mathbf{b}`.
            (default: :obj:`True`)
        **kwargs (optional): Additional arguments of
            :class:`torch_geometric.nn.conv.MessagePassing`.

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})` and edge
          indices :math:`(2, |\mathcal{E}|)`; or static form
          :math:`(B, F, F_{in})` with a template :math:`(2, |\mathcal{E}_F|)`
        - **output:** node features :math:`(|\mathcal{V}|, H \cdot F_{out})`
          (:math:`F_{out}` if :obj:`concat=False`), or :math:`(B, F, \cdot)`
          in static form; with :obj:`return_attention_weights=True` also
          ``(edge_index, alpha)`` with :math:`\alpha` of shape
          :math:`(|\mathcal{E}|, H)` (static form :math:`(B, |\mathcal{E}_F|, H)`)

    Example:
        >>> import torch
        >>> from pyg_tabular.data import rows_to_graph
        >>> batch = rows_to_graph(torch.randn(8, 5))  # 8 rows, 5 features
        >>> conv = FeatureGATConv(1, 16, heads=4)
        >>> out, (edge_index, alpha) = conv(
        ...     batch.x, batch.edge_index, return_attention_weights=True)
        >>> out.shape, alpha.shape
        (torch.Size([40, 64]), torch.Size([200, 4]))
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        heads: int = 1,
        concat: bool = True,
        negative_slope: float = 0.2,
        dropout: float = 0.0,
        add_self_loops: bool = False,
        att_bias: bool = True,
        bias: bool = True,
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
            bias=bias,
            **kwargs,
        )
        self._init_score(heads, out_channels, att_bias)
        self.reset_parameters()

    def edge_attention(
        self, x: Tensor, h: Tensor, edge_index: Tensor, size: tuple[int, int] | None
    ) -> Tensor:
        # One scalar per node and head; [..., N, H, 1] keeps nodes at dim -3.
        score_src = (h * self.att_src).sum(dim=-1, keepdim=True)
        score_dst = (h * self.att_dst).sum(dim=-1, keepdim=True)
        if self.att_bias is not None:
            score_dst = score_dst + self.att_bias.view(-1, 1)
        return self.edge_updater(edge_index, alpha=(score_src, score_dst), size=size)

    def edge_update(
        self, alpha_j: Tensor, alpha_i: Tensor, index: Tensor, dim_size: int | None
    ) -> Tensor:
        score = F.leaky_relu(alpha_j + alpha_i, self.negative_slope)  # [..., E, H, 1]
        assert dim_size is not None  # edge_updater sizes it from the node scores
        alpha = segment_softmax(score, index, dim_size, dim=-3)
        return F.dropout(alpha, p=self.dropout, training=self.training)


__all__ = ["FeatureGATConv"]
