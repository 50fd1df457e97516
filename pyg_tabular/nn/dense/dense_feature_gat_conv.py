"""Dense GAT attention between the features of each table row."""

from __future__ import annotations

from pyg_tabular.nn._attention_parameters import GATScoreParameters
from pyg_tabular.nn.dense._base import DenseFeatureAttention


class DenseFeatureGATConv(GATScoreParameters, DenseFeatureAttention):
    r"""The dense twin of :class:`~pyg_tabular.nn.conv.FeatureGATConv`, on
    ``[B, F, C]`` tensors.

    Computes the same function as the sparse layer on the graph given by the
    adjacency ``adj`` (the complete graph with self-loops by default): with
    :math:`\mathbf{h}_i = \mathbf{\Theta} \mathbf{x}_i` split into heads,

    .. math::
        e_{ij}^{k} = \mathrm{LeakyReLU}\left(
        \mathbf{a}_{\mathrm{dst}}^{k} \cdot \mathbf{h}_i^{k} +
        \mathbf{a}_{\mathrm{src}}^{k} \cdot \mathbf{h}_j^{k} + c^{k}\right),
        \qquad
        \alpha_{ij}^{k} = \frac{A_{ij} \exp e_{ij}^{k}}{\sum_{l} A_{il} \exp e_{il}^{k}},

    .. math::
        \mathbf{x}_i' = \mathop{\Big\Vert}_{k=1}^{H}
        \sum_{j} \alpha_{ij}^{k}\, \mathbf{h}_j^{k} + \mathbf{b}.

    Pairs with :math:`A_{ij} = 0` are left out of the softmax; a feature with
    no neighbour at all gets zeros (plus bias), never NaN. Scores are built
    from two scalars per feature and head (no ``[B, F, F, 2C]`` pairs), and
    the aggregation is one batched matrix product.

    The call is :class:`~torch_geometric.nn.dense.DenseGATConv`'s,
    ``conv(x, adj, mask=None, add_loop=True)``: ``x`` of shape
    ``[B, F, C]`` or ``[F, C]``, ``mask`` zeroes the outputs of padding
    nodes, and ``add_loop`` gives every feature its self-loop. Parameters
    have DenseGATConv's names, registration order and shapes (``att_src``
    and ``att_dst`` of shape ``[1, 1, H, C]``), so that with
    :obj:`att_bias=False` both a DenseGATConv's state and its optimizer's
    state load. ``load_state_dict`` also takes the ``[1, H, C]`` tensors of
    :class:`~torch_geometric.nn.conv.GATConv` and
    :class:`~pyg_tabular.nn.conv.FeatureGATConv` (and this layer's earlier
    saves), and a state without ``att_bias`` loads as a zero score bias.
    Unlike DenseGATConv, a feature with no neighbour gets zeros (plus bias)
    instead of NaN.

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
        add_self_loops (bool, optional): Give every feature its self-loop in
            a given ``adj`` (unless a call passes :obj:`add_loop=False`), as
            the sparse layer and DenseGATConv do. (default: :obj:`True`)
        att_bias (bool, optional): Learn the score bias :math:`c^k`.
            (default: :obj:`True`)
        bias (bool, optional): Learn the output bias :math:`\mathbf{b}`.
            (default: :obj:`True`)

    Shapes:
        - **input:** features :math:`(B, F, C_{in})` or :math:`(F, C_{in})`,
          adjacency :math:`(F, F)` or :math:`(B, F, F)` (optional), node
          mask :math:`(B, F)` (optional)
        - **output:** :math:`(B, F, H \cdot C_{out})` (:math:`(B, F, C_{out})`
          if :obj:`concat=False`); with :obj:`return_attention_weights=True`
          also the attention :math:`(B, H, F, F)`, entry ``[b, k, i, j]`` for
          feature :math:`i` attending to feature :math:`j`

    Example:
        >>> import torch
        >>> conv = DenseFeatureGATConv(1, 16, heads=4)
        >>> x = torch.randn(8, 5, 1)  # 8 rows, 5 features, 1 channel
        >>> out, alpha = conv(x, return_attention_weights=True)
        >>> out.shape, alpha.shape
        (torch.Size([8, 5, 64]), torch.Size([8, 4, 5, 5]))
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        heads: int = 1,
        concat: bool = True,
        negative_slope: float = 0.2,
        dropout: float = 0.0,
        add_self_loops: bool = True,
        att_bias: bool = True,
        bias: bool = True,
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
            score_options={"att_bias": att_bias},
        )
        self.reset_parameters()


__all__ = ["DenseFeatureGATConv"]
