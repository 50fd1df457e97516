r"""Graph attention between the features of each row, mapped back to one value per feature."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Linear, Parameter
from torch.nn.modules.lazy import LazyModuleMixin
from torch.nn.parameter import UninitializedParameter
from torch_geometric.nn.inits import glorot, zeros
from torch_geometric.utils import coalesce

from pyg_tabular.data.edge_index import check_template, fully_connected_edge_index
from pyg_tabular.nn._row_chunks import (
    ChunkedAttention,
    check_sparse_fits,
    map_row_chunks,
    use_dense,
)
from pyg_tabular.nn.functional import (
    dense_attention,
    dense_gat_score,
    segment_softmax,
    sparse_aggregate,
    sparse_attention,
    sparse_gat_score,
    template_to_adj,
)
from pyg_tabular.utils.validation import check_finite, check_rank, to_tensor

# Entries of a Keras layer config that describe the Keras object rather than
# the function it computes.
_KERAS_ONLY_CONFIG_KEYS = frozenset({"name", "trainable", "dtype"})
_BACKENDS = ("auto", "dense", "sparse")
_FEATURE_EMBEDDINGS = ("shared", "per_feature")

# Shared by the feature-graph modules of this subpackage (also imported by
# advanced_graph_feature_layer.py).


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_positive_int(value: object, name: str) -> int:
    if not _is_int(value) or value <= 0:  # type: ignore[operator]
        raise ValueError(f"{name} must be a positive int (got {value!r})")
    return value  # type: ignore[return-value]


def _check_dropout(value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0.0 <= float(value) < 1.0
    ):
        raise ValueError(f"dropout must be in [0, 1) (got {value!r})")
    return float(value)


def _check_choice(value: object, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)} (got {value!r})")
    return value  # type: ignore[return-value]


def _keras_config(config: dict[str, Any]) -> dict[str, Any]:
    """Drops Keras bookkeeping and renames Keras' spellings of our arguments."""
    config = {k: v for k, v in config.items() if k not in _KERAS_ONLY_CONFIG_KEYS}
    for keras_name, ours in (("dropout_rate", "dropout"), ("leaky_relu_alpha", "negative_slope")):
        if keras_name in config:
            if ours in config:
                raise ValueError(f"config holds both {keras_name!r} and {ours!r}; pass one")
            config[ours] = config.pop(keras_name)
    return config


class _FeatureProjection(LazyModuleMixin, torch.nn.Module):
    r"""One affine map :math:`\mathbb{R} \to \mathbb{R}^E` per feature:
    ``h[b, f] = x[b, f] * weight[f] + bias[f]``, ``weight`` and ``bias`` of
    shape ``[F, E]``. :math:`F` is read from the first input when not given."""

    def __init__(self, num_features: int | None, embed_dim: int) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.weight: Parameter
        self.bias: Parameter
        if num_features is None:
            self.weight = UninitializedParameter()  # type: ignore[assignment]
            self.bias = UninitializedParameter()  # type: ignore[assignment]
        else:
            self.weight = Parameter(torch.empty(num_features, embed_dim))
            self.bias = Parameter(torch.empty(num_features, embed_dim))
            _drop_lazy_hooks(self)
        self.reset_parameters()

    @property
    def num_features(self) -> int | None:
        return None if self.has_uninitialized_params() else self.weight.size(0)

    def reset_parameters(self) -> None:
        if self.has_uninitialized_params():
            return
        # Each feature's map is a Keras Dense(E) on one input: Glorot bound sqrt(6 / (1 + E)).
        bound = math.sqrt(6.0 / (1 + self.embed_dim))
        with torch.no_grad():
            self.weight.uniform_(-bound, bound)
        zeros(self.bias)

    def initialize_parameters(self, x: Tensor) -> None:  # type: ignore[override]
        if self.has_uninitialized_params():
            num_features = x.size(-1)
            _materialize(self.weight, (num_features, self.embed_dim))
            _materialize(self.bias, (num_features, self.embed_dim))
            self.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        return x.unsqueeze(-1) * self.weight + self.bias  # [batch_size, num_features, embed_dim]

    def extra_repr(self) -> str:
        return f"num_features={self.num_features}, embed_dim={self.embed_dim}"


def _materialize(param: Tensor, shape: tuple[int, ...]) -> None:
    cast(UninitializedParameter, param).materialize(shape)


def _drop_lazy_hooks(module: Any) -> None:
    # A lazy module built with every size known has nothing to infer; its
    # forward pre-hook would only cost a Python call (and a torch.compile guard).
    for name in ("_initialize_hook", "_load_hook"):
        hook = getattr(module, name, None)
        if hook is not None:
            hook.remove()
            delattr(module, name)


def _make_projection(
    feature_embedding: str, num_features: int | None, embed_dim: int
) -> Linear | _FeatureProjection:
    if feature_embedding == "shared":
        return Linear(1, embed_dim)
    return _FeatureProjection(num_features, embed_dim)


def _project(projection: Linear | _FeatureProjection, x: Tensor) -> Tensor:
    """``[B, F] -> [B, F, E]`` through a shared ``Linear(1, E)`` or per-feature maps."""
    if isinstance(projection, Linear):
        # x ⊗ w + b, without Linear's [B·F, 1] @ [1, E] matmul.
        return torch.addcmul(projection.bias, x.unsqueeze(-1), projection.weight.view(-1))
    return projection(x)


def _check_rows(x: Any, mask: Any, num_features: int | None) -> tuple[Tensor, Tensor | None]:
    """Validates x ``[B, F]`` and the optional presence mask; zeroes absent cells."""
    x = to_tensor(x, "x")
    check_rank(x, "x", (2,), "[batch_size, num_features]")
    if num_features is not None and x.size(1) != num_features:
        raise ValueError(
            f"x must have num_features={num_features} columns, as the layer was built "
            f"with (got shape {tuple(x.shape)})"
        )
    if mask is None:
        check_finite(x, "x", hint="pass mask= to mark missing cells")
        return x, None
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool or mask.shape != x.shape:
        shape = tuple(mask.shape) if isinstance(mask, Tensor) else type(mask).__name__
        dtype = f", dtype {mask.dtype}" if isinstance(mask, Tensor) else ""
        raise ValueError(
            f"mask must be a bool tensor of shape {tuple(x.shape)}, True for present cells "
            f"(got {shape}{dtype})"
        )
    mask = mask.to(x.device)
    # Absent cells may hold anything (NaN included): torch.where reads them
    # nowhere and sends them zero gradient.
    x = torch.where(mask, x, torch.zeros((), dtype=x.dtype, device=x.device))
    check_finite(x, "x", hint="only cells where mask is False may be missing")
    return x, mask


def _check_template_arg(edge_index: Any, num_features: int, device: torch.device) -> Tensor:
    template = check_template(edge_index, num_features).to(device)
    # Dense adjacency collapses repeated edges; the segment softmax would count
    # them twice. Coalescing gives both paths the same graph.
    return coalesce(template, num_nodes=num_features)


def _dense_adjacency(
    template: Tensor | None, present: Tensor | None, num_features: int
) -> Tensor | None:
    """``[F, F]`` / ``[B, F, F]`` adjacency (rows are targets), or None for the complete graph."""
    adj = None if template is None else template_to_adj(template, num_features)
    if present is None:
        return adj
    # An absent feature neither sends nor receives.
    pairs = present.unsqueeze(-1) & present.unsqueeze(-2)  # [B, F, F]
    return pairs if adj is None else pairs & adj


# Numbers per row of the dense step at its peak, per F²: score, alpha, the
# dropout mask and a gradient buffer.
_SQUARES_PER_ROW = 4


def _dense_step(
    features: Tensor,
    value: Tensor,
    adj: Tensor | None,
    att_src: Tensor,
    att_dst: Tensor,
    bias: Tensor,
    negative_slope: float,
    dropout: float,
    training: bool,
) -> Tensor:
    score = dense_gat_score(features, att_src, att_dst, bias, negative_slope)
    return dense_attention(score, value, adj, dropout, training)[0]


ScoreFn = Callable[[Tensor, Tensor], Tensor]


def _sparse_attend(
    score_fn: ScoreFn,
    features: Tensor,
    values: Tensor,
    template: Tensor | None,
    present: Tensor | None,
    heads: int,
    dropout: float,
    training: bool,
    need_attention: bool,
) -> tuple[Tensor, Tensor | None]:
    r"""Attention over an explicit feature graph.

    ``features`` ``[B, F, H', D']`` feed ``score_fn(features, edge_index)``
    (scores ``[..., E, H]``); ``values`` ``[B, F, H'', D'']`` are aggregated.
    PyG's static-graph form: one ``[2, E]`` template shared by the ``B``
    rows. With a mask, the edges that touch an absent cell are scored out of
    the softmax, which is the function of dropping absent cells as nodes with
    fixed shapes.

    Returns the aggregate ``[B, F, H, D'']`` (zeros for targets without
    neighbours) and, if asked, the attention as ``[B, H, F, F]``.
    """
    batch_size, num_features = features.shape[:2]
    if not torch.compiler.is_compiling():  # before the complete template is built
        edges = num_features**2 if template is None else template.size(1)
        check_sparse_fits(batch_size, edges, heads, features.element_size(), features.device)
    if template is None:
        template = fully_connected_edge_index(num_features, device=features.device)
    if present is None:
        score = score_fn(features, template)  # [B, E, H]
        out, alpha = sparse_attention(score, values, template, dropout, training)
    else:
        # One static template for every row, with the edges that touch an
        # absent cell scored out: fixed shapes (no per-batch graph to build,
        # so torch.compile traces it whole) and the same function as dropping
        # absent cells as nodes. Absent cells may hold NaN: zero them first so
        # that neither a score nor a 0-weighted message can carry it.
        absent = ~present
        features = features.masked_fill(absent.view(absent.shape + (1,) * (features.dim() - 2)), 0)
        values = values.masked_fill(absent.view(absent.shape + (1,) * (values.dim() - 2)), 0)
        source, target = template[0], template[1]
        valid = (present[:, source] & present[:, target]).unsqueeze(-1)  # [B, E, 1]
        score = score_fn(features, template)  # [B, E, H]
        # The lowest finite number, not -inf: a target with no valid edge gets
        # a uniform (finite) softmax that the masking below zeroes.
        score = score.masked_fill(~valid, torch.finfo(score.dtype).min)
        alpha = segment_softmax(score, target, num_features, dim=-2).masked_fill(~valid, 0.0)
        alpha = F.dropout(alpha, p=dropout, training=training)
        out = sparse_aggregate(alpha, values, template, num_features)
    rows = torch.arange(batch_size, device=features.device).view(-1, 1)
    index = (rows, template[1].view(1, -1), template[0].view(1, -1))
    attention = None
    if need_attention:
        dense = alpha.new_zeros(batch_size, num_features, num_features, heads)
        attention = dense.index_put(index, alpha, accumulate=True).permute(0, 3, 1, 2)
    return out, attention


class GraphFeatureAggregation(ChunkedAttention, torch.nn.Module):
    r"""Lets every feature of a row attend to the row's other features (GAT
    scoring) and adds the attended summary back to the input, mirroring
    ``GraphFeatureAggregation`` of the Keras library ``kerasfactory``.

    Each row :math:`\mathbf{x} \in \mathbb{R}^{F}` is a graph over its
    features. Every scalar feature is embedded, scored against every other
    feature with the GAT score (`Veličković et al., 2018
    <https://arxiv.org/abs/1710.10903>`_) and the attended embedding is mapped
    back to one value per feature:

    .. math::
        \mathbf{h}_i &= \mathbf{W}_p x_i + \mathbf{b}_p \in \mathbb{R}^{E}

        e_{ij} &= \mathrm{LeakyReLU}\left(\mathbf{a}_1 \cdot \mathbf{h}_i +
        \mathbf{a}_2 \cdot \mathbf{h}_j + c\right), \qquad
        \alpha_{ij} = \frac{\exp e_{ij}}{\sum_{l \in \mathcal{N}(i)} \exp e_{il}}

        y_i &= \mathbf{w}_o \cdot \sum_{j \in \mathcal{N}(i)} \alpha_{ij}\, \mathbf{h}_j
        + b_o + x_i

    with :math:`\mathcal{N}(i)` all features (self included) by default.
    Dropout acts on :math:`\alpha` in training mode (not renormalised).
    The layer is equivariant to permutations of the features (with the shared
    embedding): permuting the columns of :math:`\mathbf{x}` permutes those of
    :math:`\mathbf{y}`.

    **Two paths, one function.** ``backend="dense"`` runs on ``[B, F, F]``
    score tensors (:mod:`pyg_tabular.nn.functional`'s dense core);
    ``backend="sparse"`` runs the segment softmax over an explicit feature
    graph (PyG's static-graph form: one template for all rows; edges that
    touch a missing cell are left out of the softmax).
    ``"auto"`` takes the dense path for the complete graph and the sparse path
    when a template :obj:`edge_index` is passed to :meth:`forward`. Both give
    the same numbers. Neither builds the ``[B, F, F, 2E]`` pair tensor: the
    score is linear in :math:`\mathbf{h}_i` and :math:`\mathbf{h}_j` before the
    LeakyReLU, and since :math:`\mathbf{w}_o` is linear,
    :math:`\mathbf{w}_o \cdot \sum_j \alpha_{ij} \mathbf{h}_j = \sum_j \alpha_{ij}
    (\mathbf{w}_o \cdot \mathbf{h}_j)` aggregates one scalar per feature.

    **Beyond the Keras layer** (all off by default):

    * ``feature_embedding="per_feature"``: each feature its own
      :math:`\mathbf{W}_{p,i}, \mathbf{b}_{p,i}` (``projection.weight`` and
      ``projection.bias``, both ``[F, E]``), so attention can tell features
      apart; this needs :math:`F`, given or read from the first input;
    * ``mask`` (:meth:`forward`): ``[B, F]`` boolean, :obj:`True` for present
      cells. An absent feature is an absent node: it sends no message and
      receives none, and a feature left without present neighbours aggregates
      zeros. Its output is the input-free value :math:`y_i = b_o` (its input
      counts as zero); absent cells may hold NaN, which never reaches an
      output or a gradient;
    * ``edge_index`` (:meth:`forward`): a ``[2, E]`` feature template
      (``source → target``) shared by all rows, e.g. a sparsified graph;
    * ``return_attention_weights=True``: also returns :math:`\alpha` as
      ``[B, 1, F, F]`` (entry ``[b, 0, i, j]`` for :math:`j \to i`).

    **Porting from Keras.** The Keras layer reads :math:`F` from its input
    and calls its arguments ``dropout_rate`` and ``leaky_relu_alpha``
    (:meth:`from_config` accepts both spellings). With the same weights both
    compute the same function:

    ============================================  ===========================================
    Keras weight (shape)                          this module (shape)
    ============================================  ===========================================
    ``projection/kernel`` :math:`(1, E)`          ``projection.weight`` :math:`(E, 1)` =
                                                  ``kernel.T``
    ``projection/bias`` :math:`(E,)`              ``projection.bias`` :math:`(E,)`
    ``attention_a`` :math:`(2E, 1)`               ``attention`` :math:`(2E,)`: entries
                                                  :math:`0..E-1` are :math:`\mathbf{a}_1`
                                                  (target :math:`i`), :math:`E..2E-1`
                                                  :math:`\mathbf{a}_2` (neighbour :math:`j`)
    ``attention_bias`` :math:`(1,)`               ``attention_bias`` :math:`(1,)`
    ``out_proj/kernel`` :math:`(E, 1)`            ``out_proj.weight`` :math:`(1, E)` =
                                                  ``kernel.T``
    ``out_proj/bias`` :math:`(1,)`                ``out_proj.bias`` :math:`(1,)`
    ============================================  ===========================================

    Initialisation follows Keras' distributions (Glorot-uniform matrices,
    zero biases); the values are random draws, not Keras'.

    Args:
        embed_dim (int, optional): Embedding size :math:`E`. (default: :obj:`8`)
        dropout (float, optional): Dropout probability of the attention
            coefficients, in :math:`[0, 1)`. (default: :obj:`0.0`)
        negative_slope (float, optional): LeakyReLU slope, positive.
            (default: :obj:`0.2`)
        feature_embedding (str, optional): ``"shared"`` (one
            :math:`\mathbf{W}_p, \mathbf{b}_p`, as in Keras) or
            ``"per_feature"``. (default: :obj:`"shared"`)
        num_features (int, optional): Number of features :math:`F`. The shared
            embedding works for any :math:`F` when :obj:`None`; the per-feature
            one reads it from the first input. When set, inputs of another
            width are rejected. (default: :obj:`None`)
        backend (str, optional): ``"auto"``, ``"dense"`` or ``"sparse"``.
            (default: :obj:`"auto"`)

    Shapes:
        - **input:** :math:`\mathbf{x}` of shape :math:`(B, F)`; optional
          ``mask`` :math:`(B, F)` (bool) and ``edge_index`` :math:`(2, |\mathcal{E}|)`
        - **output:** :math:`(B, F)`; with ``return_attention_weights=True``
          also the attention :math:`(B, 1, F, F)`

    Example:
        >>> import torch
        >>> from pyg_tabular.nn.tabular import GraphFeatureAggregation
        >>> layer = GraphFeatureAggregation(embed_dim=16)
        >>> layer
        GraphFeatureAggregation(16)
        >>> x = torch.randn(32, 10)
        >>> out, attention = layer(x, return_attention_weights=True)
        >>> out.shape, attention.shape
        (torch.Size([32, 10]), torch.Size([32, 1, 10, 10]))
        >>> torch.allclose(attention.sum(-1), torch.ones(32, 1, 10))
        True
        >>> sparse = GraphFeatureAggregation(embed_dim=16, backend="sparse")
        >>> _ = sparse.load_state_dict(layer.state_dict())
        >>> torch.allclose(sparse(x), out, atol=1e-5)
        True
    """

    def __init__(
        self,
        embed_dim: int = 8,
        dropout: float = 0.0,
        negative_slope: float = 0.2,
        *,
        feature_embedding: str = "shared",
        num_features: int | None = None,
        backend: str = "auto",
    ) -> None:
        super().__init__()
        _check_positive_int(embed_dim, "embed_dim")
        dropout = _check_dropout(dropout)
        if (
            isinstance(negative_slope, bool)
            or not isinstance(negative_slope, (int, float))
            or not math.isfinite(negative_slope)
            or negative_slope <= 0
        ):
            raise ValueError(f"negative_slope must be a positive number (got {negative_slope!r})")
        _check_choice(feature_embedding, "feature_embedding", _FEATURE_EMBEDDINGS)
        if num_features is not None:
            _check_positive_int(num_features, "num_features")
        _check_choice(backend, "backend", _BACKENDS)
        self.embed_dim = embed_dim
        self.dropout = dropout
        self.negative_slope = float(negative_slope)
        self.feature_embedding = feature_embedding
        self.backend = backend
        self._num_features = num_features

        self.projection = _make_projection(feature_embedding, num_features, embed_dim)
        self.attention = Parameter(torch.empty(2 * embed_dim))
        self.attention_bias = Parameter(torch.empty(1))
        self.out_proj = Linear(embed_dim, 1)
        self.reset_parameters()

    @property
    def num_features(self) -> int | None:
        r"""The number of features :math:`F` the layer is built for, or
        :obj:`None` when it accepts any (shared embedding, not given)."""
        if self._num_features is None and isinstance(self.projection, _FeatureProjection):
            return self.projection.num_features
        return self._num_features

    def reset_parameters(self) -> None:
        r"""Resets every parameter to Keras' initialisation scheme
        (Glorot-uniform matrices and attention vector, zero biases)."""
        if isinstance(self.projection, Linear):
            glorot(self.projection.weight)
            zeros(self.projection.bias)
        else:
            self.projection.reset_parameters()
        # attention_a is a (2E, 1) Keras kernel: fan_in 2E, fan_out 1.
        bound = math.sqrt(6.0 / (2 * self.embed_dim + 1))
        with torch.no_grad():
            self.attention.uniform_(-bound, bound)
        zeros(self.attention_bias)
        glorot(self.out_proj.weight)
        zeros(self.out_proj.bias)

    def forward(
        self,
        x: Tensor,
        mask: Tensor | None = None,
        edge_index: Tensor | None = None,
        return_attention_weights: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        r"""Runs the layer.

        Args:
            x (torch.Tensor): Rows :math:`(B, F)`.
            mask (torch.Tensor, optional): :math:`(B, F)` bool, :obj:`True`
                for present cells; absent ones may hold NaN.
                (default: :obj:`None`, all present)
            edge_index (torch.Tensor, optional): Feature template
                :math:`(2, |\mathcal{E}|)`, row 0 sources, row 1 targets.
                (default: :obj:`None`, the complete graph with self-loops)
            return_attention_weights (bool, optional): Also return the
                attention :math:`(B, 1, F, F)`. (default: :obj:`False`)
        """
        x, present = _check_rows(x, mask, self.num_features)
        batch_size, num_features = x.shape
        template = None
        if edge_index is not None:
            template = _check_template_arg(edge_index, num_features, x.device)
        embed_dim = self.embed_dim
        h = _project(self.projection, x)  # [batch_size, num_features, embed_dim]
        att_dst, att_src = self.attention[:embed_dim], self.attention[embed_dim:]
        # w_o · Σ α h_j = Σ α (w_o · h_j): one scalar per feature to aggregate.
        value = F.linear(h, self.out_proj.weight).unsqueeze(2)  # [batch_size, num_features, 1, 1]
        features = h.unsqueeze(2)  # [batch_size, num_features, 1, embed_dim]
        if use_dense(self.backend, template):
            adj = _dense_adjacency(template, present, num_features)
            chunk = self._chunk_rows(
                batch_size, num_features, x.dtype, x.device, return_attention_weights
            )
            attention: Tensor | None = None
            if chunk < batch_size:
                if adj is not None and adj.dim() == 2:  # a view the chunks can slice
                    adj = adj.expand(batch_size, num_features, num_features)
                shared = (
                    att_src,
                    att_dst,
                    self.attention_bias,
                    self.negative_slope,
                    self.dropout,
                    self.training,
                )
                out = map_row_chunks(_dense_step, (features, value, adj), shared, chunk)
            else:
                score = dense_gat_score(
                    features, att_src, att_dst, self.attention_bias, self.negative_slope
                )  # [batch_size, 1, num_features, num_features]
                out, attention = dense_attention(score, value, adj, self.dropout, self.training)
        else:
            slope, bias = self.negative_slope, self.attention_bias

            def score_fn(nodes: Tensor, edges: Tensor) -> Tensor:
                return sparse_gat_score(nodes, edges, att_src, att_dst, bias, slope)

            out, attention = _sparse_attend(
                score_fn,
                features,
                value,
                template,
                present,
                1,
                self.dropout,
                self.training,
                return_attention_weights,
            )
        y = out.view(batch_size, num_features) + self.out_proj.bias + x
        if return_attention_weights:
            assert attention is not None
            return y, attention
        return y

    def _attention_heads(self) -> int:
        return 1

    def _squares_per_row(self) -> int:
        return _SQUARES_PER_ROW

    def get_config(self) -> dict[str, Any]:
        r"""Returns the constructor arguments, so that
        ``GraphFeatureAggregation.from_config(layer.get_config())`` rebuilds
        the layer (with fresh parameters)."""
        return {
            "embed_dim": self.embed_dim,
            "dropout": self.dropout,
            "negative_slope": self.negative_slope,
            "feature_embedding": self.feature_embedding,
            "num_features": self.num_features,
            "backend": self.backend,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> GraphFeatureAggregation:
        r"""Builds a layer from the output of :meth:`get_config`.

        The config of the Keras layer works too: ``dropout_rate`` and
        ``leaky_relu_alpha`` are read as :obj:`dropout` and
        :obj:`negative_slope`, and Keras' bookkeeping entries (``name``,
        ``trainable``, ``dtype``) are ignored.
        """
        return cls(**_keras_config(config))

    def __repr__(self) -> str:
        defaults = {
            "dropout": 0.0,
            "negative_slope": 0.2,
            "feature_embedding": "shared",
            "num_features": None,
            "backend": "auto",
        }
        extra = "".join(
            f", {key}={getattr(self, key)!r}"
            for key, default in defaults.items()
            if getattr(self, key) != default
        )
        return f"{self.__class__.__name__}({self.embed_dim}{extra})"


__all__ = ["GraphFeatureAggregation"]
