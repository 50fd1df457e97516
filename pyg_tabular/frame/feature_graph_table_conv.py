r"""A pytorch-frame ``TableConv`` that attends over the feature graph."""

from __future__ import annotations

import warnings

import torch
from torch import Tensor
from torch_frame.nn.conv import TableConv

from pyg_tabular.nn.dense import DenseFeatureDiffGATConv, DenseFeatureGATConv


class FeatureGraphTableConv(TableConv):
    r"""Feature-graph attention as a pytorch-frame table convolution.

    The columns of a row are the nodes of a graph (complete by default, or
    the :obj:`adj` given); one block is

    .. math::
        \mathbf{H} &= \mathrm{LayerNorm}\big(\mathbf{X} + \mathrm{Dropout}(
            \mathrm{Conv}(\mathbf{X}, \mathbf{A}))\big) \\
        \mathbf{Y} &= \mathrm{LayerNorm}\big(\mathbf{H} + \mathrm{Dropout}(
            \mathbf{W}_2\,\mathrm{ReLU}(\mathbf{W}_1 \mathbf{H}))\big)

    where Conv is :class:`~pyg_tabular.nn.dense.DenseFeatureGATConv`
    (``layer="feature-gat"``) or
    :class:`~pyg_tabular.nn.dense.DenseFeatureDiffGATConv`
    (``layer="feature-diff"``), the layer kinds of
    :class:`~pyg_tabular.nn.models.FeatureGraphNet` of the same names, with
    :obj:`heads` heads averaged, so that the block keeps the
    ``[B, num_cols, channels]`` shape pytorch-frame's models expect from a
    ``TableConv`` (as ``FTTransformerConvs`` and ``ExcelFormerConv``).

    Args:
        channels (int): Channels per column, the encoder's ``out_channels``.
        heads (int, optional): Attention heads. (default: :obj:`4`)
        layer (str, optional): ``"feature-gat"`` or ``"feature-diff"`` (the
            old names ``"gat"`` and ``"diff"`` warn). (default: :obj:`"feature-gat"`)
        dropout (float, optional): Dropout on attention coefficients and both
            residual branches. (default: :obj:`0.0`)
        feedforward_channels (int, optional): Hidden width of the position-wise
            feed-forward block. (default: :obj:`2 * channels`)
        num_cols (int, optional): Number of columns; when given, inputs with
            another number of columns are rejected. (default: :obj:`None`)
        adj (torch.Tensor, optional): A ``[num_cols, num_cols]`` feature
            graph, entry ``[i, j]`` nonzero iff column :math:`i` attends to
            column :math:`j`. (default: the complete graph)

    Shapes:
        - **input:** :math:`(B, \text{num\_cols}, \text{channels})`
        - **output:** :math:`(B, \text{num\_cols}, \text{channels})`
    """

    adj: Tensor | None

    def __init__(
        self,
        channels: int,
        heads: int = 4,
        layer: str = "feature-gat",
        dropout: float = 0.0,
        feedforward_channels: int | None = None,
        num_cols: int | None = None,
        adj: Tensor | None = None,
    ) -> None:
        super().__init__()
        for name, value in (("channels", channels), ("heads", heads)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int (got {value!r})")
        layer = _resolve_layer(layer)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1) (got {dropout!r})")
        conv_type = DenseFeatureGATConv if layer == "feature-gat" else DenseFeatureDiffGATConv
        self.channels, self.heads, self.layer, self.num_cols = channels, heads, layer, num_cols
        self.conv = conv_type(channels, channels, heads, concat=False, dropout=dropout)
        hidden = feedforward_channels or 2 * channels
        self.feedforward = torch.nn.Sequential(
            torch.nn.Linear(channels, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, channels)
        )
        self.norm_attention = torch.nn.LayerNorm(channels)
        self.norm_feedforward = torch.nn.LayerNorm(channels)
        self.dropout = torch.nn.Dropout(dropout)
        self.register_buffer("adj", None if adj is None else adj.bool(), persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.conv.reset_parameters()
        for module in self.feedforward:
            if isinstance(module, torch.nn.Linear):
                module.reset_parameters()
        self.norm_attention.reset_parameters()
        self.norm_feedforward.reset_parameters()

    def forward(self, x: Tensor, return_attention_weights: bool = False):  # type: ignore[override]
        r"""Runs the block on ``x [B, num_cols, channels]``; with
        :obj:`return_attention_weights` also returns the ``[B, H, num_cols,
        num_cols]`` attention."""
        if not isinstance(x, Tensor) or x.dim() != 3 or x.size(-1) != self.channels:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(
                f"x must have shape [batch_size, num_cols, {self.channels}] (got {shape})"
            )
        if self.num_cols is not None and x.size(1) != self.num_cols:
            raise ValueError(
                f"x has {x.size(1)} columns but the conv was built with "
                f"num_cols={self.num_cols} (got shape {tuple(x.shape)})"
            )
        out, attention = self.conv(x, self.adj, return_attention_weights=True)
        hidden = self.norm_attention(x + self.dropout(out))
        y = self.norm_feedforward(hidden + self.dropout(self.feedforward(hidden)))
        return (y, attention) if return_attention_weights else y

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.channels}, heads={self.heads}, layer={self.layer!r})"


def _resolve_layer(layer: object) -> str:
    # The same names as FeatureGraphNet's layer kinds; the old short ones warn.
    old = {"gat": "feature-gat", "diff": "feature-diff"}
    if isinstance(layer, str) and layer in old:
        warnings.warn(
            f"layer={layer!r} is now called {old[layer]!r}; the old name goes in the next release",
            FutureWarning,
            stacklevel=3,
        )
        return old[layer]
    if layer not in ("feature-gat", "feature-diff"):
        raise ValueError(f"layer must be 'feature-gat' or 'feature-diff' (got {layer!r})")
    return str(layer)
