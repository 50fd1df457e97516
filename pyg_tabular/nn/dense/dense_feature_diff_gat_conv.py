"""Dense difference-aware graph attention between the features of each table row."""

from __future__ import annotations

from pyg_tabular.nn._attention_parameters import DiffScoreParameters
from pyg_tabular.nn.dense._base import DenseFeatureAttention


class DenseFeatureDiffGATConv(DiffScoreParameters, DenseFeatureAttention):
    r"""The dense twin of :class:`~pyg_tabular.nn.conv.FeatureDiffGATConv`, on
    ``[B, F, C]`` tensors.

    With :math:`\mathbf{h}_i = \mathbf{\Theta} \mathbf{x}_i` split into heads
    :math:`\mathbf{h}_i^{k} \in \mathbb{R}^{D}` and
    :math:`\mathbf{u} = [\mathbf{u}_1; \mathbf{u}_2; \mathbf{u}_3]`
    (shared by all heads unless :obj:`shared_attention=False`),

    .. math::
        e_{ij}^{k} = \mathrm{LeakyReLU}\left(
        \mathbf{u}_1 \cdot \mathbf{h}_i^{k} + \mathbf{u}_2 \cdot \mathbf{h}_j^{k} +
        \mathbf{u}_3 \cdot \lvert \mathbf{h}_i^{k} - \mathbf{h}_j^{k} \rvert\right),
        \qquad
        \alpha_{ij}^{k} = \frac{A_{ij} \exp e_{ij}^{k}}{\sum_{l} A_{il} \exp e_{il}^{k}},

    .. math::
        \mathbf{x}_i' = \mathop{\Big\Vert}_{k=1}^{H}
        \sum_{j} \alpha_{ij}^{k}\, \mathbf{h}_j^{k} + \mathbf{b}.

    The distance term is computed as two :func:`torch.cdist` calls with
    ``p=1`` on :math:`\mathbf{u}^{+} \odot \mathbf{h}` and
    :math:`\mathbf{u}^{-} \odot \mathbf{h}`
    (:math:`\mathbf{u}_3 = \mathbf{u}^{+} - \mathbf{u}^{-}`), so no
    ``[B, H, F, F, D]`` tensor exists in the forward or the backward pass.
    The call (DenseGATConv's ``conv(x, adj, mask=None, add_loop=True)``),
    masking, empty rows and parameter names follow
    :class:`DenseFeatureGATConv` and
    :class:`~pyg_tabular.nn.conv.FeatureDiffGATConv`.

    Args:
        in_channels (int): Size of each input feature vector, or :obj:`-1`
            to infer it on the first call.
        out_channels (int): Size :math:`D` of each output vector per head.
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
        shared_attention (bool, optional): One :math:`\mathbf{u}` for all
            heads (``att`` of shape ``[1, 3D]``), else one per head
            (``[H, 3D]``). (default: :obj:`True`)
        bias (bool, optional): Learn the output bias :math:`\mathbf{b}`.
            (default: :obj:`True`)

    Shapes:
        - **input:** features :math:`(B, F, C_{in})` or :math:`(F, C_{in})`,
          adjacency :math:`(F, F)` or :math:`(B, F, F)` (optional), node
          mask :math:`(B, F)` (optional)
        - **output:** :math:`(B, F, H \cdot D)` (:math:`(B, F, D)` if
          :obj:`concat=False`); with :obj:`return_attention_weights=True`
          also the attention :math:`(B, H, F, F)`

    Example:
        >>> import torch
        >>> conv = DenseFeatureDiffGATConv(1, 8, heads=4)
        >>> conv
        DenseFeatureDiffGATConv(1, 8, heads=4)
        >>> adj = torch.ones(5, 5).triu()  # feature i attends to features j >= i
        >>> conv(torch.randn(3, 5, 1), adj).shape
        torch.Size([3, 5, 32])
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
        shared_attention: bool = True,
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
            score_options={"shared_attention": shared_attention},
        )
        self.reset_parameters()


__all__ = ["DenseFeatureDiffGATConv"]
