"""An end-to-end feature-graph network for tables: encoder, attention layers, readout, head."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from pyg_tabular.data.edge_index import check_template, fully_connected_edge_index
from pyg_tabular.nn.functional import template_to_adj
from pyg_tabular.nn.models._ensemble import EnsembleHead
from pyg_tabular.nn.models._feature_graph_block import (
    BLOCKS,
    READOUTS,
    AttentionReadout,
    FeatureGraphBlock,
)
from pyg_tabular.nn.models.column_encoder import NUMERIC_EMBEDDINGS, ColumnEncoder
from pyg_tabular.nn.models.graph_kind import accepts_edge_weight, build_graph, node_graph
from pyg_tabular.nn.models.layer_kind import LAYER_KINDS, LAYERS, resolve_layer
from pyg_tabular.utils.validation import (
    check_choice,
    check_finite,
    check_fraction,
    check_int,
    check_positive_number,
    is_int,
)


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
    That is the ``block="residual"`` shape shown with the linear numeric
    embedding; ``block="transformer"`` is the pre-norm shape of
    FT-Transformer: attention, then a per-node ReGLU feed-forward of
    :math:`\lceil \text{ffn\_factor} \cdot C \rceil` hidden channels, each
    added to the residual stream from a LayerNorm of it, and one final
    LayerNorm before the readout (see
    :class:`~pyg_tabular.nn.models.column_encoder.ColumnEncoder` for the
    numeric embeddings, :obj:`numeric_embedding`).

    The encoder gives each numeric feature its own embedding: affine
    (``"linear"``), one affine map shared by all (``"shared"``, as in
    ``GraphFeatureAggregation``), periodic (``"periodic"``, PLR) or
    piecewise-linear over quantile or target-aware bins fitted on the
    training rows (``"piecewise-linear"``, with :obj:`bins` from
    :func:`~pyg_tabular.nn.models.fit_bins`); the last two are the
    embeddings of Gorishniy et al. (NeurIPS 2022), from
    :mod:`rtdl_num_embeddings`. Each categorical column gets an
    :class:`~torch.nn.Embedding` whose row ``0`` is the learned vector of
    unknown or missing categories (the code
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
    it out (``"mean"``, ``"attention"``; the CLS node never attends to it).
    A categorical code ``0`` is not absent but the learned "unknown"
    embedding.

    **Efficient ensemble.** With :obj:`ensemble_size` :math:`k`, the model is
    :math:`k` members that share the encoder, the attention layers, the
    readout and the head's hidden layer; member :math:`m` has its own scaling
    :math:`\mathbf{r}_m \in \mathbb{R}^C` of the readout's channels
    (initialised with random signs) and its own output layer:

    .. math::
        \hat{\mathbf{y}}_{b,m} = \mathbf{W}^{(2)}_m\, \mathrm{ReLU}\left(
        \mathbf{W}^{(1)} (\mathbf{z}_b \odot (\mathbf{1} \otimes
        \mathbf{r}_m)) + \mathbf{b}^{(1)}\right) + \mathbf{b}^{(2)}_m,

    the TabM-mini scheme of Gorishniy et al., "TabM: Advancing Tabular Deep
    Learning with Parameter-Efficient Ensembling" (ICLR 2025), on the head
    (its scaling tied across the nodes of a ``"flatten"`` readout, so that
    the shared layer runs once and each member adds :math:`H \cdot C`
    multiply-adds per row; with ``head_channels=0`` each member is its own
    linear layer). The output is one prediction per member,
    ``[B, k, out_channels]``, and :attr:`ensemble_size` says so: train on
    the mean of the members' losses
    (:func:`~pyg_tabular.training.member_loss`) and predict with the mean of
    their predictions (:func:`~pyg_tabular.training.ensemble_mean`), as the
    estimators and ``pyg-tabular compare`` do. The members share the
    attention, so :meth:`feature_attention` is each member's map and their
    mean. ``benchmarks/ensemble.py`` measures what the members cost per step.

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
        numeric_embedding (str, optional): ``"linear"``, ``"shared"``,
            ``"periodic"`` or ``"piecewise-linear"`` (``"per_feature"`` is
            the old name of ``"linear"``). (default: :obj:`"linear"`)
        bins (list of torch.Tensor, optional): Bin edges of each numeric
            column from :func:`~pyg_tabular.nn.models.fit_bins` on the
            training rows; required by ``"piecewise-linear"``.
        block (str, optional): ``"residual"`` or ``"transformer"``, see
            above. (default: :obj:`"residual"`)
        ffn_factor (float, optional): Hidden width of the transformer
            block's feed-forward, in multiples of :obj:`channels`.
            (default: :obj:`2.0`)
        readout (str, optional): ``"flatten"`` (``[B, F·C]``, keeps which
            feature is which), ``"mean"`` over present features, ``"cls"``
            (the final state of a learned virtual node linked both ways to
            every feature, as FT-Transformer's CLS token) or ``"attention"``
            (attention pooling, :math:`\sum_f \alpha_f \mathbf{h}_f`); the
            last three give ``[B, C]``. (default: :obj:`"flatten"`)
        head_channels (int, optional): Hidden width of the ReLU MLP head;
            ``0`` for a linear head. (default: :obj:`64`)
        num_groups (int or str, optional): Soft feature groups of the
            hierarchical step; ``"auto"`` is :math:`\max(2, \lceil F/4 \rceil)`;
            :obj:`None` for no hierarchical step. (default: :obj:`None`)
        edge_index (torch.Tensor, optional): A ``[2, E]`` feature graph
            template over the :math:`F` features (numerics first), message
            ``j → i`` as ``(j, i)``. (default: the complete graph with
            self-loops)
        ensemble_size (int, optional): Members :math:`k` of an efficient
            ensemble, see above; :obj:`None` for one model.
            (default: :obj:`None`)
        graph (str, optional): The feature graph the layers run on, a kind
            of :data:`~pyg_tabular.nn.models.GRAPH_KINDS`: ``"complete"``,
            ``"knn"`` (each feature's :obj:`graph_k` most correlated
            features, fitted on the training rows by :meth:`fit_graph`) or
            ``"learned"`` (a :class:`~pyg_tabular.nn.graph.LearnedFeatureGraph`
            with :obj:`graph_k` sources per feature, trained with the
            network, its edge weights entering every layer's softmax; needs
            a conv that takes ``edge_weight``). One graph serves all layers;
            :meth:`relation_graph` reads it back. Not with
            :obj:`edge_index`. (default: :obj:`"complete"`)
        graph_k (int, optional): Sources per feature of a ``"knn"`` or
            ``"learned"`` graph, at most :math:`F - 1`. (default: :obj:`8`)

    Shapes:
        - **input:** :obj:`numeric` :math:`(B, F_{num})` float (NaN =
          missing), :obj:`categorical` :math:`(B, F_{cat})` long
        - **output:** :math:`(B, \text{out\_channels})`, or
          :math:`(B, k, \text{out\_channels})` with :obj:`ensemble_size`; with
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
        numeric_embedding: str = "linear",
        bins: Sequence[Tensor] | None = None,
        block: str = "residual",
        ffn_factor: float = 2.0,
        readout: str = "flatten",
        head_channels: int = 64,
        num_groups: int | str | None = None,
        edge_index: Any = None,
        ensemble_size: int | None = None,
        graph: str = "complete",
        graph_k: int = 8,
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
        if numeric_embedding == "per_feature":
            numeric_embedding = "linear"
        check_choice(block, "block", BLOCKS)
        check_positive_number(ffn_factor, "ffn_factor")
        check_choice(readout, "readout", READOUTS)
        check_int(head_channels, "head_channels", 0)
        if ensemble_size is not None:
            check_int(ensemble_size, "ensemble_size", 1)
        groups: int | None = None
        # A CLS readout adds one virtual node, linked both ways to every feature.
        num_nodes = num_features + (readout == "cls")
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
        self.block = block
        self.ffn_factor = float(ffn_factor)
        self.num_nodes = num_nodes
        self.readout = readout
        self.head_channels = head_channels
        self.num_groups = groups
        #: Members :math:`k` of the ensemble (output ``[B, k, out]``), or :obj:`None`.
        self.ensemble_size = None if ensemble_size is None else int(ensemble_size)
        check_int(graph_k, "graph_k", 1)
        self.graph = graph
        self.feature_graph = build_graph(graph, num_features, graph_k)
        if self.feature_graph is not None and edge_index is not None:
            raise ValueError(f"pass either edge_index or graph={graph!r}, not both")

        if edge_index is None:
            template = fully_connected_edge_index(num_nodes)
            adj = None
        else:
            template = check_template(edge_index, num_features)
            if num_nodes > num_features:
                features = torch.arange(num_features)
                cls = torch.full_like(features, num_features)
                template = torch.cat(
                    [
                        template,
                        torch.stack([features, cls]),
                        torch.stack([cls, features]),
                        torch.tensor([[num_features], [num_features]]),
                    ],
                    dim=1,
                )
            adj = template_to_adj(template, num_nodes)
        self.register_buffer("template", template, persistent=False)
        self.register_buffer("adj", adj, persistent=False)

        self.encoder = ColumnEncoder(
            num_numeric, cardinalities, channels, numeric_embedding=numeric_embedding, bins=bins
        )
        ffn_hidden = max(1, round(self.ffn_factor * channels))
        self.layers = torch.nn.ModuleList(
            FeatureGraphBlock(
                kind, num_nodes, channels, heads, self.dropout, groups, block, ffn_hidden
            )
            for _ in range(num_layers)
        )
        self._check_graph_weights()
        self.cls: torch.nn.Parameter | None = None
        if readout == "cls":
            self.cls = torch.nn.Parameter(torch.empty(channels))
        self.attention_readout: AttentionReadout | None = None
        if readout == "attention":
            self.attention_readout = AttentionReadout(channels)
        # Pre-norm blocks leave the residual stream unnormalized: normalize it once at the end.
        self.final_norm: torch.nn.LayerNorm | None = None
        if block == "transformer" and num_layers > 0:
            self.final_norm = torch.nn.LayerNorm(channels)
        readout_nodes = num_features if readout == "flatten" else 1
        width = readout_nodes * channels
        self.head: torch.nn.Module
        if self.ensemble_size is not None:
            self.head = EnsembleHead(
                readout_nodes,
                channels,
                head_channels,
                out_channels,
                self.ensemble_size,
                self.dropout,
            )
        elif head_channels > 0:
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
        r"""Resets all learnable parameters (a fitted ``"knn"`` graph stays)."""
        self.encoder.reset_parameters()
        reset_graph = getattr(self.feature_graph, "reset_parameters", None)
        if reset_graph is not None:
            reset_graph()
        for block in self.layers:
            block.reset_parameters()  # type: ignore[operator]
        if self.cls is not None:
            bound = self.channels**-0.5
            torch.nn.init.uniform_(self.cls, -bound, bound)
        if self.attention_readout is not None:
            self.attention_readout.reset_parameters()
        if self.final_norm is not None:
            self.final_norm.reset_parameters()
        if isinstance(self.head, EnsembleHead):
            self.head.reset_parameters()
            return
        for module in self.head.modules():
            if isinstance(module, torch.nn.Linear):
                module.reset_parameters()

    def _check_graph_weights(self) -> None:
        if self.feature_graph is None or not self.layers:
            return
        conv = self.layers[0].conv
        assert isinstance(conv, torch.nn.Module)
        if getattr(self.feature_graph, "weighted", True) and not accepts_edge_weight(conv):
            raise ValueError(
                f"graph={self.graph!r} weights its edges, and layer={self.layer!r} builds "
                f"{type(conv).__name__}, whose forward takes no edge_weight; use a layer "
                "kind of this package's convs (e.g. 'feature-gat')"
            )

    def fit_graph(self, numeric: Any, categorical: Any = None) -> FeatureGraphNet:
        r"""Fits the feature graph on the training rows, for a graph that
        needs it (``"knn"``); a no-op for the others.

        Args:
            numeric (torch.Tensor): Training numerics ``[N, F_num]`` (NaN =
                missing), as :meth:`forward` takes them.
            categorical (torch.Tensor, optional): Their category codes
                ``[N, F_cat]``, correlated as numbers.

        Returns:
            The model itself.
        """
        fit = getattr(self.feature_graph, "fit", None)
        if fit is not None:
            numeric, categorical = self._check_inputs(numeric, categorical)
            fit(torch.cat([numeric, categorical.to(numeric.dtype)], dim=1))
        return self

    def relation_graph(self) -> Any:
        r"""The feature graph read back (a
        :class:`~pyg_tabular.nn.graph.RelationGraph` over the :math:`F`
        features, numerics first, named ``"0"``, ``"1"``, ...)."""
        if self.feature_graph is None:
            raise ValueError(
                "relation_graph needs a sparse graph (graph='knn' or 'learned'); "
                f"the model runs on graph={self.graph!r}"
            )
        return self.feature_graph.relation_graph()  # type: ignore[operator]

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
        x = self.encoder(numeric, categorical)  # [B, F, C]
        num_features = self.num_features
        node_present = present
        if self.cls is not None:
            x = torch.cat([x, self.cls.to(x.dtype).expand(batch_size, 1, -1)], dim=1)  # [B, N, C]
            if present is not None:
                node_present = torch.cat([present, present.new_ones(batch_size, 1)], dim=1)
        adj, template, edge_weight = self.adj, self.template, None
        if self.feature_graph is not None:
            # One draw of the graph per step, shared by all layers.
            template, edge_weight = node_graph(self.feature_graph(), self.num_nodes)
            adj = template_to_adj(template, self.num_nodes)
        if node_present is not None:
            # Target i attends to source j only if j is present (and an edge j → i exists).
            graph_adj = adj
            adj = node_present.unsqueeze(1).expand(-1, self.num_nodes, -1)  # [B, N, N]
            if graph_adj is not None:
                adj = adj & graph_adj
        attention = []
        for block in self.layers:
            x, alpha = block(x, adj, template, node_present, need_attention, edge_weight)
            if need_attention:
                assert alpha is not None
                # The virtual CLS node is not a feature: report feature-to-feature attention.
                attention.append(alpha[..., :num_features, :num_features])
        if self.final_norm is not None:
            x = self.final_norm(x)
        if self.cls is not None:
            return self.head(x[:, num_features]), attention  # [B, C]
        if present is not None:
            # where, not a product: absent nodes must contribute exact zeros.
            x = torch.where(present.unsqueeze(-1), x, x.new_zeros(()))
        if self.attention_readout is not None:
            pooled = self.attention_readout(x, present)  # [B, C]
        elif self.readout == "flatten":
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
        to feature :math:`j`. Runs in the module's current mode. The members
        of an ensemble share the attention layers: the map is each member's,
        and their mean.

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

    @property
    def bins(self) -> list[Tensor] | None:
        r"""The piecewise-linear embedding's bin edges per numeric column, or :obj:`None`."""
        return self.encoder.bins

    def __repr__(self) -> str:
        extra = ""
        for name, default in (
            ("numeric_embedding", "linear"),
            ("block", "residual"),
            ("readout", "flatten"),
            ("graph", "complete"),
        ):
            if getattr(self, name) != default:
                extra += f", {name}={getattr(self, name)!r}"
        if self.ensemble_size is not None:
            extra += f", ensemble_size={self.ensemble_size}"
        return (
            f"{type(self).__name__}({self.num_features}, {self.out_channels}, "
            f"layer={self.layer!r}, num_layers={self.num_layers}, channels={self.channels}, "
            f"heads={self.heads}{extra})"
        )


__all__ = ["FeatureGraphNet", "LAYERS", "BLOCKS", "READOUTS"]
