r"""A pytorch-frame model whose backbone is feature-graph attention."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch_frame import TensorFrame, stype
from torch_frame.nn.encoder import EmbeddingEncoder, LinearEncoder, StypeWiseFeatureEncoder

from pyg_tabular.frame.feature_graph_table_conv import FeatureGraphTableConv


class FeatureGraphFrame(torch.nn.Module):
    r"""pytorch-frame's encoder, :obj:`num_layers` :class:`FeatureGraphTableConv`
    blocks, then a mean over columns and a ``LayerNorm → ReLU → Linear``
    decoder, with the constructor of pytorch-frame's ``FTTransformer``.

    Args:
        channels (int): Channels per column.
        out_channels (int): Outputs per row.
        num_layers (int): Number of feature-graph blocks.
        col_stats (dict): Column statistics of the materialised dataset.
        col_names_dict (dict): Column names per stype
            (``tensor_frame.col_names_dict``).
        stype_encoder_dict (dict, optional): Encoder per stype (default:
            embeddings for categoricals, linear maps for numericals).
        heads (int, optional): Attention heads per block. (default: :obj:`4`)
        layer (str, optional): ``"feature-gat"`` or ``"feature-diff"``, as in
            :class:`FeatureGraphTableConv`. (default: :obj:`"feature-gat"`)
        dropout (float, optional): Dropout in the blocks. (default: :obj:`0.0`)
    """

    def __init__(
        self,
        channels: int,
        out_channels: int,
        num_layers: int,
        col_stats: dict[str, dict[Any, Any]],
        col_names_dict: dict[stype, list[str]],
        stype_encoder_dict: dict[stype, Any] | None = None,
        heads: int = 4,
        layer: str = "feature-gat",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"num_layers must be a positive int (got {num_layers!r})")
        if stype_encoder_dict is None:
            stype_encoder_dict = {
                stype.categorical: EmbeddingEncoder(),
                stype.numerical: LinearEncoder(),
            }
        self.encoder = StypeWiseFeatureEncoder(
            out_channels=channels,
            col_stats=col_stats,
            col_names_dict=col_names_dict,
            stype_encoder_dict=stype_encoder_dict,
        )
        num_cols = sum(len(names) for names in col_names_dict.values())
        self.convs = torch.nn.ModuleList(
            FeatureGraphTableConv(channels, heads, layer, dropout, num_cols=num_cols)
            for _ in range(num_layers)
        )
        self.decoder = torch.nn.Sequential(
            torch.nn.LayerNorm(channels), torch.nn.ReLU(), torch.nn.Linear(channels, out_channels)
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in (self.encoder, *self.convs, *self.decoder):
            reset = getattr(module, "reset_parameters", None)
            if callable(reset):  # ReLU has none
                reset()

    def forward(self, tf: TensorFrame) -> Tensor:
        r"""Predictions ``[batch_size, out_channels]`` for a :class:`TensorFrame`."""
        x, _ = self.encoder(tf)  # [B, num_cols, channels]
        for conv in self.convs:
            x = conv(x)
        return self.decoder(x.mean(dim=1))
