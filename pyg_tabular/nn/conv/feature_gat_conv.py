"""GAT attention between the features of each table row."""

from __future__ import annotations

from typing import Any

from torch import Tensor
from torch_geometric.typing import OptPairTensor, OptTensor

from pyg_tabular.nn._attention_parameters import GATScoreParameters
from pyg_tabular.nn._gat_common import InChannels
from pyg_tabular.nn.conv._base import Adjacency, FeatureAttentionConv


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
    averaged instead of concatenated. With :obj:`edge_dim`, the edge term
    :math:`\mathbf{a}_{\mathrm{edge}}^{k} \cdot \mathbf{\Theta}_{e}
    \mathbf{e}_{ji}` joins the score inside the LeakyReLU, and with
    :obj:`residual=True` a projection of the target's input is added to
    its output, both as in GATConv.

    The layer is a drop-in for :class:`~torch_geometric.nn.conv.GATConv`:
    it takes the same constructor arguments with the same defaults
    (self-loops included) and the same inputs (bipartite pairs,
    ``SparseTensor`` and ``torch.sparse`` adjacencies, ``edge_attr``,
    ``size``), and with :obj:`att_bias=False` it has GATConv's parameters
    (same names, shapes and registration order), computes the same function
    and returns attention in the same edge order, so ``load_state_dict``
    works between the two and a GATConv optimizer's state resumes on it. A
    GATConv state also loads with :obj:`att_bias=True`, as a zero score
    bias. Inside PyG it passes GATConv's ``alpha`` (``[E, H]``) to
    :meth:`message`, where explainers read it, and declares GATConv's
    propagate types; :class:`~pyg_tabular.nn.models.FeatureGAT` and
    :func:`~pyg_tabular.nn.models.swap_gat_convs` bring it into PyG's model
    zoo.

    Besides a (batched) graph, the layer takes PyG's static-graph form:
    ``x`` of shape ``[B, F, C]`` with one ``[2, E]`` template over the ``F``
    features shared by all rows (see :func:`~pyg_tabular.data.to_static_graph`).
    **Fast path.** When the graph is the batched complete graph that
    :func:`~pyg_tabular.data.rows_to_graph` writes (with or without
    self-loops, so also under the default :obj:`add_self_loops=True`), the
    layer runs the dense computation of
    :class:`~pyg_tabular.nn.dense.DenseFeatureGATConv` instead of gathering
    per-edge messages, and returns attention in GATConv's edge order (the
    graph's other edges, then one self-loop per node). Other graphs,
    ``edge_attr``, bipartite inputs, explainers and propagate hooks use
    :meth:`propagate`. :meth:`uses_fast_path` tells whether a graph takes
    it; setting the attribute :attr:`fast_path` to :obj:`False` turns it
    off. In the static form on any other template (a sparse or learned
    feature graph), the same conditions let the layer sum the weighted
    sources in chunks of edges instead of writing all ``[B, E, H, C]``
    messages, which autograd would keep for the backward pass.

    Args:
        in_channels (int or tuple): Size of each input feature vector, or
            :obj:`-1` to infer it on the first call; a pair
            ``(source, target)`` gives sources and targets their own
            projections ``lin_src`` and ``lin_dst``, as in GATConv.
        out_channels (int): Size of each output vector per head.
        heads (int, optional): Number of attention heads :math:`H`.
            (default: :obj:`1`)
        concat (bool, optional): Concatenate the heads; averaged if
            :obj:`False`. (default: :obj:`True`)
        negative_slope (float, optional): LeakyReLU slope. (default: :obj:`0.2`)
        dropout (float, optional): Dropout probability of the attention
            coefficients. (default: :obj:`0.0`)
        add_self_loops (bool, optional): Replace the graph's self-loops by one
            self-loop per node, appended after the other edges, as GATConv
            does. (default: :obj:`True`)
        edge_dim (int, optional): Size of the edge features; enables the
            edge term of the score (``lin_edge``, ``att_edge``).
            (default: :obj:`None`)
        fill_value (float or torch.Tensor or str, optional): Edge features
            of the added self-loops, or how to reduce a node's incoming edge
            features into them (``"mean"``, ``"add"``, ...), as in
            :func:`torch_geometric.utils.add_self_loops`.
            (default: :obj:`"mean"`)
        bias (bool, optional): Learn the output bias :math:`\mathbf{b}`.
            (default: :obj:`True`)
        residual (bool, optional): Add a learned projection ``res`` of the
            target's input to the output. (default: :obj:`False`)
        att_bias (bool, optional): Learn the score bias :math:`c^k`, one per
            head, stored as the parameter ``att_bias`` (``None`` when off);
            GATConv has no such term. Keyword-only. (default: :obj:`True`)
        **kwargs (optional): Additional arguments of
            :class:`torch_geometric.nn.conv.MessagePassing`.

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})` and edge
          indices :math:`(2, |\mathcal{E}|)`; or static form
          :math:`(B, F, F_{in})` with a template :math:`(2, |\mathcal{E}_F|)`;
          or bipartite :math:`((|\mathcal{V}_s|, F_{s}), (|\mathcal{V}_t|, F_{t}))`;
          edge features :math:`(|\mathcal{E}|, D)` *(optional)*
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
        >>> out.shape, alpha.shape  # 200 edges with their self-loops, moved last
        (torch.Size([40, 64]), torch.Size([200, 4]))
        >>> conv.uses_fast_path(batch.edge_index, batch.num_nodes)
        True
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
        att_bias: bool = True,
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
            score_options={"att_bias": att_bias},
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
        h_src, h_dst = h
        # One scalar per node and head; [..., N, H, 1] keeps nodes at dim -3.
        score_src = (h_src * self.att_src).sum(dim=-1, keepdim=True)
        score_dst = None if h_dst is None else (h_dst * self.att_dst).sum(dim=-1, keepdim=True)
        # GATConv's declaration and the log edge weights (edge_weight) that the
        # softmax adds to the scores; the generated edge_updater takes these.
        # edge_updater_type: (alpha: OptPairTensor, edge_attr: OptTensor, edge_log_weight: OptTensor)  # noqa: E501
        return self.edge_updater(
            edge_index,
            alpha=(score_src, score_dst),
            edge_attr=edge_attr,
            edge_log_weight=edge_log_weight,
            size=size,
        )

    def edge_update(
        self,
        alpha_j: Tensor,
        alpha_i: Tensor | None,
        edge_attr: Tensor | None,
        edge_log_weight: Tensor | None,
        index: Tensor,
        dim_size: int | None,
    ) -> Tensor:
        # Summing the two node terms is GATConv's a · [h_i || h_j].
        score = alpha_j if alpha_i is None else alpha_j + alpha_i  # [..., E, H, 1]
        if edge_attr is not None and self.lin_edge is not None:
            score = score + self.edge_score(edge_attr)
        if self.att_bias is not None:
            score = score + self.att_bias.view(-1, 1)
        return self.softmax_and_dropout(score, index, dim_size, edge_log_weight)


__all__ = ["FeatureGATConv"]
