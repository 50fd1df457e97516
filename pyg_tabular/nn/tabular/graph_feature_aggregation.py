r"""Graph attention between the features of each row, mapped back to one value per feature."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Linear, Parameter
from torch_geometric.nn.inits import glorot, zeros

from pyg_tabular.nn.functional import (
    dense_attention,
    dense_gat_score,
    sparse_gat_score,
)
from pyg_tabular.nn.tabular._common import (
    BACKENDS,
    FEATURE_EMBEDDINGS,
    ChunkedAttention,
    FeatureProjection,
    check_rows,
    check_template_arg,
    dense_adjacency,
    keras_config,
    make_projection,
    map_row_chunks,
    project,
    sparse_attend,
    use_dense,
)
from pyg_tabular.utils.validation import (
    check_choice,
    check_finite_output,
    check_fraction,
    check_positive_int,
)

# Keras' spellings of our arguments, read by from_config.
_KERAS_NAMES = {"dropout_rate": "dropout", "leaky_relu_alpha": "negative_slope"}

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
    compute the same function; :func:`~pyg_tabular.interop.load_keras_weights`
    copies them over, following the table of Keras weight names and
    layouts in :data:`~pyg_tabular.interop.keras.KERAS_WEIGHT_TABLE`. The
    Keras attention vector ``attention_a`` :math:`(2E, 1)` is ``attention``
    here: entries :math:`0..E-1` are :math:`\mathbf{a}_1`
    (target :math:`i`), :math:`E..2E-1` are :math:`\mathbf{a}_2` (neighbour
    :math:`j`).

    **Deviations from kerasfactory.** None in the function. Initialisation
    follows Keras' distributions (Glorot-uniform matrices, zero biases) with
    random draws, not Keras' values; the arguments are named ``dropout`` and
    ``negative_slope`` (Keras: ``dropout_rate``, ``leaky_relu_alpha``), with
    Keras' rules (``0 <= dropout < 1``, a positive slope).

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
        check_positive_int(embed_dim, "embed_dim")
        dropout = check_fraction(dropout, "dropout")
        if (
            isinstance(negative_slope, bool)
            or not isinstance(negative_slope, (int, float))
            or not math.isfinite(negative_slope)
            or negative_slope <= 0
        ):
            raise ValueError(f"negative_slope must be a positive number (got {negative_slope!r})")
        check_choice(feature_embedding, "feature_embedding", FEATURE_EMBEDDINGS)
        if num_features is not None:
            check_positive_int(num_features, "num_features")
        check_choice(backend, "backend", BACKENDS)
        self.embed_dim = embed_dim
        self.dropout = dropout
        self.negative_slope = float(negative_slope)
        self.feature_embedding = feature_embedding
        self.backend = backend
        self._num_features = num_features

        self.projection = make_projection(feature_embedding, num_features, embed_dim)
        self.attention = Parameter(torch.empty(2 * embed_dim))
        self.attention_bias = Parameter(torch.empty(1))
        self.out_proj = Linear(embed_dim, 1)
        self.reset_parameters()

    @property
    def num_features(self) -> int | None:
        r"""The number of features :math:`F` the layer is built for, or
        :obj:`None` when it accepts any (shared embedding, not given)."""
        if self._num_features is None and isinstance(self.projection, FeatureProjection):
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
        x, present = check_rows(x, mask, self.num_features)
        batch_size, num_features = x.shape
        template = None
        if edge_index is not None:
            template = check_template_arg(edge_index, num_features, x.device)
        embed_dim = self.embed_dim
        h = project(self.projection, x)  # [batch_size, num_features, embed_dim]
        att_dst, att_src = self.attention[:embed_dim], self.attention[embed_dim:]
        # w_o · Σ α h_j = Σ α (w_o · h_j): one scalar per feature to aggregate.
        value = F.linear(h, self.out_proj.weight).unsqueeze(2)  # [batch_size, num_features, 1, 1]
        features = h.unsqueeze(2)  # [batch_size, num_features, 1, embed_dim]
        if use_dense(self.backend, template):
            adj = dense_adjacency(template, present, num_features)
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

            out, attention = sparse_attend(
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
        check_finite_output(y, "x", x)
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
        return cls(**keras_config(config, _KERAS_NAMES))

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
