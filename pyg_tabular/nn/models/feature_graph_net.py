"""An end-to-end feature-graph network for tables: encoder, attention layers, readout, head."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn import MessagePassing
from torch_geometric.nn.inits import zeros

from pyg_tabular.data.edge_index import check_template, fully_connected_edge_index, repeat_template
from pyg_tabular.nn.functional import template_to_adj
from pyg_tabular.nn.models.layer_kind import LAYER_KINDS, LAYERS, LayerKind, resolve_layer
from pyg_tabular.nn.pool import FeatureGroupPool
from pyg_tabular.utils.validation import (
    check_choice,
    check_finite,
    check_fraction,
    check_int,
    is_int,
)

NUMERIC_EMBEDDINGS = ("per_feature", "shared")
READOUTS = ("flatten", "mean")


class _ColumnEncoder(torch.nn.Module):
    r"""Numeric values and category codes ``→ [B, F, C]``, numerics first."""

    def __init__(
        self, num_numeric: int, cardinalities: list[int], channels: int, shared: bool
    ) -> None:
        super().__init__()
        self.num_numeric = num_numeric
        self.shared = shared
        rows = 1 if shared else num_numeric
        self.weight = torch.nn.Parameter(torch.empty(rows, channels))
        self.bias = torch.nn.Parameter(torch.empty(rows, channels))
        # Code 0 is an ordinary learned row: the embedding of "unknown or missing".
        self.embeddings = torch.nn.ModuleList(
            torch.nn.Embedding(cardinality, channels) for cardinality in cardinalities
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Unit-variance inputs then give unit-scale embeddings, as for nn.Embedding.
        torch.nn.init.normal_(self.weight)
        zeros(self.bias)
        for embedding in self.embeddings:
            embedding.reset_parameters()  # type: ignore[operator]

    def forward(self, numeric: Tensor, categorical: Tensor) -> Tensor:
        parts = [numeric.unsqueeze(-1) * self.weight + self.bias]  # [B, F_num, C]
        for column, embedding in enumerate(self.embeddings):
            parts.append(embedding(categorical[:, column]).unsqueeze(1))  # [B, 1, C]
        return torch.cat(parts, dim=1)


class _FeatureGraphBlock(torch.nn.Module):
    r"""One attention layer over the feature graph, then residual + LayerNorm."""

    def __init__(
        self,
        kind: LayerKind,
        num_features: int,
        channels: int,
        heads: int,
        dropout: float,
        num_groups: int | None,
    ) -> None:
        super().__init__()
        self.dropout = dropout
        self.conv = kind.build(channels, heads, dropout)
        self.sparse = isinstance(self.conv, MessagePassing)
        self.proj: torch.nn.Module | None = None
        if kind.project:
            self.proj = torch.nn.Linear(self._conv_width(num_features, channels), channels)
        self.pool: FeatureGroupPool | None = None
        self.unpool: torch.nn.Linear | None = None
        if num_groups is not None:
            self.pool = FeatureGroupPool(num_features, num_groups)
            self.unpool = torch.nn.Linear(num_groups * channels, num_features * channels)
        self.norm = torch.nn.LayerNorm(channels)

    @torch.no_grad()
    def _conv_width(self, num_features: int, channels: int) -> int:
        # The conv's output width (heads concatenated) from a call on zero rows,
        # so that any registered conv can be projected back without declaring it.
        training = self.conv.training
        self.conv.eval()
        x = torch.zeros(0, num_features, channels)
        if self.sparse:
            out = self.conv(x.view(0, channels), torch.zeros(2, 0, dtype=torch.long))
        else:
            out = self.conv(x, None)
        self.conv.train(training)
        return int(out.size(-1))

    def reset_parameters(self) -> None:
        for module in (self.conv, self.proj, self.pool, self.unpool, self.norm):
            if module is not None:
                module.reset_parameters()  # type: ignore[operator]

    def forward(
        self,
        x: Tensor,
        adj: Tensor | None,
        template: Tensor,
        present: Tensor | None,
        need_attention: bool,
    ) -> tuple[Tensor, Tensor | None]:
        batch_size, num_features, channels = x.shape
        alpha: Tensor | None
        if not self.sparse:
            out, alpha = self.conv(x, adj, return_attention_weights=True)  # [B, F, W]
        else:
            edge_index = repeat_template(template, batch_size, num_features)
            if present is not None:
                # An absent feature sends no message: drop its outgoing edges.
                edge_index = edge_index[:, present.reshape(-1)[edge_index[0]]]
            out, (edge_index, edge_alpha) = self.conv(
                x.reshape(-1, channels), edge_index, return_attention_weights=True
            )
            out = out.view(batch_size, num_features, out.size(-1))
            alpha = None
            if need_attention:
                alpha = _edge_to_dense(edge_alpha, edge_index, batch_size, num_features)
        if self.proj is not None:
            out = self.proj(F.elu(out))  # [B, F, C]
        if self.pool is not None and self.unpool is not None:
            groups = self.pool(out, mask=present)  # [B, G, C]
            out = out + self.unpool(groups.flatten(1)).view(batch_size, num_features, channels)
        out = F.dropout(out, p=self.dropout, training=self.training)
        return self.norm(x + out), alpha


def _edge_to_dense(alpha: Tensor, edge_index: Tensor, batch_size: int, num_features: int) -> Tensor:
    r"""Edge attention ``[E, H]`` of batched rows ``→ [B, H, F, F]`` (entry ``[b, k, i, j]``)."""
    dense = alpha.new_zeros(batch_size, alpha.size(-1), num_features, num_features)
    source, target = edge_index
    row = target // num_features
    dense[row, :, target % num_features, source % num_features] = alpha
    return dense


class FeatureGraphNet(torch.nn.Module):
    r"""A complete model for tables: each row is a graph over its features,
    refined by feature-graph attention layers and read out into predictions.

    .. math::
        \mathbf{h}^{(0)}_{b,f} = \begin{cases}
        x_{b,f}\, \mathbf{w}_f + \mathbf{b}_f & f \text{ numeric} \\
        \mathbf{E}_f[c_{b,f}] & f \text{ categorical}
        \end{cases}, \qquad
        \mathbf{H}^{(l)}_b = \mathrm{LayerNorm}\left(\mathbf{H}^{(l-1)}_b +
        \mathrm{Dropout}\left(\mathbf{W}^{(l)}\, \mathrm{ELU}\left(
        \mathrm{Conv}^{(l)}(\mathbf{H}^{(l-1)}_b)\right)\right)\right),

    then :math:`\hat{\mathbf{y}}_b = \mathrm{MLP}(\mathrm{readout}(\mathbf{H}^{(L)}_b))`.
    The encoder gives each numeric feature its own affine map
    (:obj:`numeric_embedding="per_feature"`) or one map shared by all
    (``"shared"``, as in ``GraphFeatureAggregation``), and each categorical
    column an :class:`~torch.nn.Embedding` whose row ``0`` is the learned
    vector of unknown or missing categories (the code
    :class:`~pyg_tabular.datasets.TabularDataset` gives them). A conv's
    :math:`H` heads are concatenated (``[B, F, H·C]``) and projected back to
    :math:`C` by :math:`\mathbf{W}^{(l)}`.

    Layer kinds (:obj:`layer`), each named after the conv it builds and
    taken from the registry :data:`~pyg_tabular.nn.models.LAYER_KINDS`
    (add your own with :func:`~pyg_tabular.nn.models.register_layer`):

    * ``"feature-gat"``: :class:`~pyg_tabular.nn.dense.DenseFeatureGATConv`,
      the dense twin of :class:`~pyg_tabular.nn.conv.FeatureGATConv` (same
      function, much faster on complete graphs); with ``heads=1`` it is
      ``GraphFeatureAggregation``'s score
      :math:`\mathbf{a}_1 \cdot \mathbf{h}_i + \mathbf{a}_2 \cdot \mathbf{h}_j + c`
      on :math:`C` channels;
    * ``"feature-diff"``: :class:`~pyg_tabular.nn.dense.DenseFeatureDiffGATConv`,
      the difference-aware score of ``AdvancedGraphFeatureLayer``
      (:math:`|\mathbf{h}_i - \mathbf{h}_j|` term);
    * ``"feature-diff-split"``: the same conv with the :math:`C` channels
      split into :math:`H` heads of :math:`C/H`, as
      ``AdvancedGraphFeatureLayer`` does (no ELU and no projection);
    * ``"gatconv"``, ``"gatv2conv"``, ``"transformerconv"``: PyG's
      :class:`~torch_geometric.nn.conv.GATConv`,
      :class:`~torch_geometric.nn.conv.GATv2Conv` and
      :class:`~torch_geometric.nn.conv.TransformerConv` run on the batched
      feature graph (:func:`~pyg_tabular.data.repeat_template`), the peers of
      the comparison.

    Any kind takes a hierarchical step with :obj:`num_groups`:
    :math:`\mathbf{z} \mathrel{+}= \mathrm{Linear}(\mathrm{flatten}(
    \mathrm{FeatureGroupPool}(\mathbf{z})))` over that many soft groups,
    before the residual and LayerNorm. The old names ``"gat"``, ``"diff"``,
    ``"gfa"`` (``"feature-gat"`` with one head), ``"advanced"``,
    ``"advanced-hier"`` (``"feature-diff-split"`` with
    ``num_groups="auto"``), ``"gatv2"`` and ``"transformer"`` still build the
    same models, with a :class:`FutureWarning` naming the new kind.

    **Missing values.** NaN in :obj:`numeric` marks an absent feature; every
    layer kind supports it: an absent feature sends no message (dense kinds
    mask it out of the softmax, PyG convs lose its outgoing edges), it is
    pooled by no group, and the readout sees zeros (``"flatten"``) or leaves
    it out of the average (``"mean"``). A categorical code ``0`` is not
    absent but the learned "unknown" embedding.

    Args:
        num_numeric (int): Number of numeric columns :math:`F_{num}`.
        cardinalities (sequence of int, optional): Number of codes of each
            categorical column, the reserved ``0`` included (e.g.
            :attr:`TabularDataset.cardinalities`). (default: :obj:`()`)
        out_channels (int, optional): Outputs per row: ``1`` for regression
            or a binary logit, :math:`K` class logits. (default: :obj:`1`)
        channels (int, optional): Channels :math:`C` per feature node.
            (default: :obj:`16`)
        num_layers (int, optional): Number of attention layers :math:`L`;
            ``0`` gives encoder and readout only. (default: :obj:`2`)
        layer (str, optional): Layer kind, see above.
            (default: :obj:`"feature-gat"`)
        heads (int, optional): Attention heads :math:`H` (must divide
            :obj:`channels` for ``"feature-diff-split"``). (default: :obj:`4`)
        dropout (float, optional): Dropout on attention coefficients, layer
            outputs and the head's hidden layer. (default: :obj:`0.0`)
        numeric_embedding (str, optional): ``"per_feature"`` or ``"shared"``.
            (default: :obj:`"per_feature"`)
        readout (str, optional): ``"flatten"`` (``[B, F·C]``, keeps which
            feature is which) or ``"mean"`` over present features
            (``[B, C]``). (default: :obj:`"flatten"`)
        head_channels (int, optional): Hidden width of the ReLU MLP head;
            ``0`` for a linear head. (default: :obj:`64`)
        num_groups (int or str, optional): Soft feature groups of the
            hierarchical step; ``"auto"`` is :math:`\max(2, \lceil F/4 \rceil)`;
            :obj:`None` for no hierarchical step. (default: :obj:`None`)
        edge_index (torch.Tensor, optional): A ``[2, E]`` feature graph
            template over the :math:`F` features (numerics first), message
            ``j → i`` as ``(j, i)``. (default: the complete graph with
            self-loops)

    Shapes:
        - **input:** :obj:`numeric` :math:`(B, F_{num})` float (NaN =
          missing), :obj:`categorical` :math:`(B, F_{cat})` long
        - **output:** :math:`(B, \text{out\_channels})`; with
          :obj:`return_attention_weights=True` also one attention
          :math:`(B, H, F, F)` per layer (entry ``[b, k, i, j]``: feature
          :math:`i` attending to :math:`j`)

    Example:
        >>> import torch
        >>> model = FeatureGraphNet(3, cardinalities=[4], out_channels=2)
        >>> model
        FeatureGraphNet(4, 2, layer='feature-gat', num_layers=2, channels=16, heads=4)
        >>> numeric = torch.tensor([[0.5, float("nan"), -1.0], [1.0, 2.0, 0.0]])
        >>> model(numeric, torch.tensor([[3], [0]])).shape
        torch.Size([2, 2])
        >>> model.feature_attention(numeric, torch.tensor([[3], [0]])).shape
        torch.Size([4, 4])
    """

    template: Tensor
    adj: Tensor | None

    def __init__(
        self,
        num_numeric: int,
        cardinalities: Sequence[int] = (),
        out_channels: int = 1,
        *,
        channels: int = 16,
        num_layers: int = 2,
        layer: str = "feature-gat",
        heads: int = 4,
        dropout: float = 0.0,
        numeric_embedding: str = "per_feature",
        readout: str = "flatten",
        head_channels: int = 64,
        num_groups: int | str | None = None,
        edge_index: Any = None,
    ) -> None:
        super().__init__()
        check_int(num_numeric, "num_numeric", 0)
        if isinstance(cardinalities, (str, bytes)) or not isinstance(cardinalities, Sequence):
            raise ValueError(
                f"cardinalities must be a sequence of positive ints (got {cardinalities!r})"
            )
        cardinalities = [check_int(c, "cardinalities", 1) for c in cardinalities]
        num_features = num_numeric + len(cardinalities)
        if num_features == 0:
            raise ValueError(
                "FeatureGraphNet needs at least one feature (got num_numeric=0 and no "
                "cardinalities)"
            )
        check_int(out_channels, "out_channels", 1)
        check_int(channels, "channels", 1)
        check_int(num_layers, "num_layers", 0)
        layer, implied = resolve_layer(layer)
        kind = LAYER_KINDS[layer]
        heads = implied.get("heads", heads)
        if num_groups is None:
            num_groups = implied.get("num_groups")
        check_int(heads, "heads", 1)
        if kind.split_heads and channels % heads != 0:
            raise ValueError(
                f"channels must be divisible by heads for layer={layer!r} "
                f"(got channels={channels}, heads={heads})"
            )
        dropout = check_fraction(dropout, "dropout")
        check_choice(numeric_embedding, "numeric_embedding", NUMERIC_EMBEDDINGS)
        check_choice(readout, "readout", READOUTS)
        check_int(head_channels, "head_channels", 0)
        groups: int | None = None
        if num_groups == "auto":
            groups = max(2, math.ceil(num_features / 4))
        elif num_groups is not None:
            groups = check_int(num_groups, "num_groups", 1)

        self.num_numeric = num_numeric
        self.cardinalities = cardinalities
        self.num_features = num_features
        self.out_channels = out_channels
        self.channels = channels
        self.num_layers = num_layers
        self.layer = layer
        self.heads = heads
        self.dropout = float(dropout)
        self.numeric_embedding = numeric_embedding
        self.readout = readout
        self.head_channels = head_channels
        self.num_groups = groups

        if edge_index is None:
            template = fully_connected_edge_index(num_features)
            adj = None
        else:
            template = check_template(edge_index, num_features)
            adj = template_to_adj(template, num_features)
        self.register_buffer("template", template, persistent=False)
        self.register_buffer("adj", adj, persistent=False)

        self.encoder = _ColumnEncoder(
            num_numeric, cardinalities, channels, shared=numeric_embedding == "shared"
        )
        self.layers = torch.nn.ModuleList(
            _FeatureGraphBlock(kind, num_features, channels, heads, self.dropout, groups)
            for _ in range(num_layers)
        )
        width = num_features * channels if readout == "flatten" else channels
        self.head: torch.nn.Module
        if head_channels > 0:
            self.head = torch.nn.Sequential(
                torch.nn.Linear(width, head_channels),
                torch.nn.ReLU(),
                torch.nn.Dropout(self.dropout),
                torch.nn.Linear(head_channels, out_channels),
            )
        else:
            self.head = torch.nn.Linear(width, out_channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters."""
        self.encoder.reset_parameters()
        for block in self.layers:
            block.reset_parameters()  # type: ignore[operator]
        for module in self.head.modules():
            if isinstance(module, torch.nn.Linear):
                module.reset_parameters()

    def _check_inputs(self, numeric: Any, categorical: Any) -> tuple[Tensor, Tensor]:
        if numeric is None and self.num_numeric == 0 and isinstance(categorical, Tensor):
            numeric = torch.zeros(categorical.size(0), 0, device=categorical.device)
        if not isinstance(numeric, Tensor) or numeric.dim() != 2:
            shape = tuple(numeric.shape) if isinstance(numeric, Tensor) else type(numeric).__name__
            raise ValueError(
                f"numeric must be a tensor of shape [batch_size, num_numeric] (got {shape})"
            )
        if numeric.size(1) != self.num_numeric or not numeric.is_floating_point():
            raise ValueError(
                f"numeric must be a float tensor with {self.num_numeric} columns "
                f"(got shape {tuple(numeric.shape)}, dtype {numeric.dtype})"
            )
        check_finite(numeric, "numeric", allow_nan=True)
        num_categorical = len(self.cardinalities)
        if categorical is None:
            if num_categorical:
                raise ValueError(
                    f"categorical is required: the model has {num_categorical} categorical columns"
                )
            categorical = torch.zeros(numeric.size(0), 0, dtype=torch.long, device=numeric.device)
        if (
            not isinstance(categorical, Tensor)
            or categorical.is_floating_point()
            or categorical.shape != (numeric.size(0), num_categorical)
        ):
            found: object = (
                (tuple(categorical.shape), categorical.dtype)
                if isinstance(categorical, Tensor)
                else type(categorical).__name__
            )
            raise ValueError(
                f"categorical must be an integer tensor of shape [{numeric.size(0)}, "
                f"{num_categorical}] (got {found})"
            )
        if categorical.numel() > 0 and not torch.compiler.is_compiling():
            limits = torch.tensor(self.cardinalities, device=categorical.device)
            bad = (categorical < 0) | (categorical >= limits)
            if bool(bad.any()):
                row, column = (int(i) for i in bad.nonzero()[0])
                raise ValueError(
                    f"categorical column {column} holds code {int(categorical[row, column])} "
                    f"at row {row}, outside [0, {self.cardinalities[column]}); unknown "
                    "categories must be coded 0"
                )
        return numeric, categorical.long()

    def _run(
        self, numeric: Any, categorical: Any, need_attention: bool
    ) -> tuple[Tensor, list[Tensor]]:
        numeric, categorical = self._check_inputs(numeric, categorical)
        batch_size = numeric.size(0)
        missing = torch.isnan(numeric)
        present: Tensor | None = None
        if bool(missing.any()):
            present = torch.cat(
                [~missing, missing.new_ones(batch_size, len(self.cardinalities))], dim=1
            )  # [B, F]
            numeric = numeric.masked_fill(missing, 0.0)
        adj = self.adj
        if present is not None:
            # Target i attends to source j only if j is present (and an edge j → i exists).
            adj = present.unsqueeze(1).expand(-1, self.num_features, -1)  # [B, F, F]
            if self.adj is not None:
                adj = adj & self.adj
        x = self.encoder(numeric, categorical)  # [B, F, C]
        attention = []
        for block in self.layers:
            x, alpha = block(x, adj, self.template, present, need_attention)
            if need_attention:
                assert alpha is not None
                attention.append(alpha)
        if present is not None:
            # where, not a product: absent nodes must contribute exact zeros.
            x = torch.where(present.unsqueeze(-1), x, x.new_zeros(()))
        if self.readout == "flatten":
            pooled = x.flatten(1)  # [B, F*C]; reshape(B, -1) is ambiguous at B = 0
        elif present is None:
            pooled = x.mean(dim=1)  # [B, C]
        else:
            count = present.sum(dim=1, keepdim=True).clamp_min(1)
            pooled = x.sum(dim=1) / count
        return self.head(pooled), attention

    def forward(
        self,
        numeric: Tensor | None,
        categorical: Tensor | None = None,
        return_attention_weights: bool = False,
    ) -> Tensor | tuple[Tensor, list[Tensor]]:
        r"""Predicts one output vector per row.

        Args:
            numeric (torch.Tensor): Standardized numerics ``[B, F_num]``; NaN
                marks a missing value. May be :obj:`None` when there are no
                numeric columns.
            categorical (torch.Tensor, optional): Category codes
                ``[B, F_cat]`` in ``[0, cardinality)``; required when the
                model has categorical columns.
            return_attention_weights (bool, optional): Also return the list of
                each layer's attention ``[B, H, F, F]``. (default: :obj:`False`)
        """
        out, attention = self._run(numeric, categorical, return_attention_weights)
        if return_attention_weights:
            return out, attention
        return out

    @torch.no_grad()
    def feature_attention(
        self, numeric: Tensor | None, categorical: Tensor | None = None, layer: int = -1
    ) -> Tensor:
        r"""Mean attention ``[F, F]`` of one layer (the last by default) over
        rows and heads; entry ``[i, j]`` is how much feature :math:`i` attends
        to feature :math:`j`. Runs in the module's current mode.

        Args:
            numeric (torch.Tensor): As in :meth:`forward`.
            categorical (torch.Tensor, optional): As in :meth:`forward`.
            layer (int, optional): Index of the layer. (default: :obj:`-1`)
        """
        if self.num_layers == 0:
            raise ValueError("feature_attention needs num_layers >= 1 (got num_layers=0)")
        if not is_int(layer) or not -self.num_layers <= layer < self.num_layers:
            raise ValueError(
                f"layer must index one of the {self.num_layers} layers (got {layer!r})"
            )
        _, attention = self._run(numeric, categorical, need_attention=True)
        return attention[layer].mean(dim=(0, 1))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.num_features}, {self.out_channels}, "
            f"layer={self.layer!r}, num_layers={self.num_layers}, channels={self.channels}, "
            f"heads={self.heads})"
        )


__all__ = ["FeatureGraphNet", "LAYERS"]
