r"""Multi-head, difference-aware attention between the features of each row, with
optional soft feature groups."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor
from torch.nn import LayerNorm, LazyLinear, Linear, Parameter
from torch.nn.modules.lazy import LazyModuleMixin
from torch.nn.parameter import is_lazy
from torch_geometric.nn.inits import glorot, zeros

from pyg_tabular.nn._fused_diff_attention import (
    NEGATIVE_SLOPE,
    FusedDiffAttention,
    fused_diff_sums,
)
from pyg_tabular.nn.functional import (
    dense_attention,
    dense_diff_score,
    sparse_diff_score,
)
from pyg_tabular.nn.pool import FeatureGroupPool
from pyg_tabular.nn.tabular._common import (
    BACKENDS,
    FEATURE_EMBEDDINGS,
    ChunkedAttention,
    check_rows,
    check_template_arg,
    dense_adjacency,
    drop_lazy_hooks,
    keras_config,
    make_projection,
    map_row_chunks,
    materialize,
    physical_memory_bytes,
    project,
    sparse_attend,
    use_dense,
)
from pyg_tabular.utils.validation import (
    check_choice,
    check_finite_output,
    check_fraction,
    check_positive_int,
    check_rank,
    to_tensor,
)

LAYER_NORM_EPS = 1e-6
# Keras' spelling of our argument, read by from_config.
_KERAS_NAMES = {"dropout_rate": "dropout"}
# Where the soft group logits lived before the hierarchical step became a
# FeatureGroupPool; state dicts saved then still load.
_OLD_GROUPING_KEY = "grouping_matrix"
_GROUPING_KEY = "group_pool.assignment_logits"


def _glorot_linear(linear: Linear) -> None:
    if not is_lazy(linear.weight):
        glorot(linear.weight)
        zeros(linear.bias)


# Numbers per row of the dense attention step at its peak, per H·F²: the fused
# shared step holds ~3 [rows, H, F, F] tensors (alpha, the gradient buffer, one
# head's rebuilt score and |x_i - x_j| among them); the per-feature step also
# holds the two cdist terms of its score.
_SHARED_SQUARES_PER_ROW = 3
_PER_FEATURE_SQUARES_PER_ROW = 6


def _rows_adjacency(adj: Tensor | None, batch_size: int) -> Tensor | None:
    # A shared [F, F] adjacency as a [B, F, F] view, so chunks slice it like x.
    if adj is None or adj.dim() == 3:
        return adj
    return adj.expand(batch_size, *adj.shape)


def _per_feature_step(
    features: Tensor,
    adj: Tensor | None,
    att_dst: Tensor,
    att_src: Tensor,
    att_diff: Tensor,
    dropout: float,
    training: bool,
) -> Tensor:
    score = dense_diff_score(features, att_dst, att_src, att_diff, NEGATIVE_SLOPE)
    return dense_attention(score, features, adj, dropout, training)[0]


class AdvancedGraphFeatureLayer(ChunkedAttention, LazyModuleMixin, torch.nn.Module):
    r"""Multi-head graph attention between the features of each row whose
    score also sees how far apart two features are, with optional soft feature
    groups, mirroring ``AdvancedGraphFeatureLayer`` of the Keras library
    ``kerasfactory``.

    Each row :math:`\mathbf{x} \in \mathbb{R}^{F}` is a graph over its
    features. With :math:`\mathbf{h}_i = \mathbf{W}_p x_i + \mathbf{b}_p \in
    \mathbb{R}^{E}` split into :math:`H` heads
    :math:`\mathbf{h}_i^{k} \in \mathbb{R}^{d}`, :math:`d = E / H`, and one
    :math:`\mathbf{u} = [\mathbf{u}_1; \mathbf{u}_2; \mathbf{u}_3] \in
    \mathbb{R}^{3d}` shared by all heads:

    .. math::
        e_{ij}^{k} &= \mathrm{LeakyReLU}_{0.2}\left(
        \mathbf{u}_1 \cdot \mathbf{h}_i^{k} + \mathbf{u}_2 \cdot \mathbf{h}_j^{k} +
        \mathbf{u}_3 \cdot \lvert \mathbf{h}_i^{k} - \mathbf{h}_j^{k} \rvert\right),
        \qquad
        \alpha_{ij}^{k} = \frac{\exp e_{ij}^{k}}{\sum_{l \in \mathcal{N}(i)} \exp e_{il}^{k}}

        \mathbf{z}_i &= \mathop{\Big\Vert}_{k=1}^{H} \sum_{j \in \mathcal{N}(i)}
        \alpha_{ij}^{k}\, \mathbf{h}_j^{k} \in \mathbb{R}^{E}

    then, with ``hierarchical=True``, :math:`G` soft groups
    (:math:`\mathbf{S} = \mathrm{softmax}_g(\mathbf{M})`,
    :math:`\mathbf{M} \in \mathbb{R}^{F \times G}`) are pooled and expanded back:

    .. math::
        \mathbf{g}_g = \sum_{i} S_{ig}\, \mathbf{z}_i, \qquad
        \mathbf{Z} \leftarrow \mathbf{Z} +
        \mathrm{reshape}_{F \times E}\left(\mathbf{W}_g\,
        \mathrm{vec}(\mathbf{g}_1, \dots, \mathbf{g}_G) + \mathbf{b}_g\right)

    and finally

    .. math::
        \mathbf{y} = \mathbf{W}_o\, \mathrm{vec}\left(
        \mathrm{LayerNorm}(\mathbf{z}_1 + \mathbf{h}_1), \dots,
        \mathrm{LayerNorm}(\mathbf{z}_F + \mathbf{h}_F)\right) + \mathbf{b}_o
        \in \mathbb{R}^{F}

    (LayerNorm over :math:`E`, :math:`\epsilon = 10^{-6}`; :math:`\mathrm{vec}`
    flattens row-major; no residual to :math:`\mathbf{x}`).
    :math:`\mathcal{N}(i)` is every feature (self included) by default;
    dropout acts on :math:`\alpha` in training mode.

    **Two paths, one function.** ``backend="dense"`` scores all pairs on
    ``[B, H, F, F]`` tensors (the :math:`\lvert \mathbf{h}_i -
    \mathbf{h}_j \rvert` term of the per-feature embedding as a weighted :math:`L_1` distance, see
    :func:`~pyg_tabular.nn.functional.dense_diff_score`; no
    ``[B, H, F, F, d]`` tensor); ``backend="sparse"`` runs the segment softmax
    over an explicit feature graph (PyG's static-graph form: one template for
    all rows; edges that touch a missing cell are left out of the softmax),
    then goes back to rows for the row-level steps (groups, LayerNorm,
    output map). ``"auto"`` takes the dense path for the complete graph and
    the sparse one when a template :obj:`edge_index` is given. Both give the
    same numbers. With the shared embedding, the attention runs on two numbers
    per feature instead of :math:`d` per head: :math:`\mathbf{h}_j^{k}` is
    affine in :math:`x_j`, so :math:`\sum_j \alpha_{ij}^{k} \mathbf{h}_j^{k} =
    \mathbf{W}_p^{k} \sum_j \alpha_{ij}^{k} x_j + \mathbf{b}_p^{k} \sum_j
    \alpha_{ij}^{k}`, and :math:`\lvert \mathbf{h}_i^{k} - \mathbf{h}_j^{k}
    \rvert = \lvert \mathbf{W}_p^{k} \rvert\, \lvert x_i - x_j \rvert`.

    **Beyond the Keras layer** (all off by default):

    * ``feature_embedding="per_feature"``: each feature its own
      :math:`\mathbf{W}_{p,i}, \mathbf{b}_{p,i}` (``projection.weight`` and
      ``projection.bias``, both ``[F, E]``);
    * ``mask`` (:meth:`forward`): ``[B, F]`` boolean, :obj:`True` for present
      cells. An absent feature is an absent node: it sends and receives no
      message, so its :math:`\mathbf{z}_i` is zero (and it adds nothing to the
      groups), and its residual :math:`\mathbf{h}_i` counts as zero. The
      output is still a function of all positions through :math:`\mathbf{W}_o`;
      absent cells may hold NaN, which never reaches an output or a gradient;
    * ``edge_index`` (:meth:`forward`): a ``[2, E]`` feature template
      (``source → target``) shared by all rows;
    * ``return_attention_weights=True``: also returns :math:`\alpha` as
      ``[B, H, F, F]`` (entry ``[b, k, i, j]`` for :math:`j \to i`).

    **Soft groups.** The hierarchical step is a
    :class:`~pyg_tabular.nn.pool.FeatureGroupPool` (``group_pool``; its
    ``assignment_logits`` are :math:`\mathbf{M}`, also readable as
    ``grouping_matrix``) followed by the ``group_expander`` linear map.
    State dicts saved with the logits under ``grouping_matrix`` still load.

    **Lazy size.** With ``num_features=None`` the sizes that depend on
    :math:`F` (``group_pool``, ``group_expander``, ``out_proj``, a
    per-feature ``projection``) are built or materialised on the first call
    (PyTorch's lazy-module protocol): run one batch, or load a state dict,
    before building an optimizer.

    **Porting from Keras.** The Keras signature is ``(embed_dim, num_heads,
    dropout_rate=0.0, hierarchical=False, num_groups=None)`` and reads
    :math:`F` from its input; here :obj:`num_features` comes first (pass the
    rest by keyword when porting) and ``dropout_rate`` is :obj:`dropout`
    (:meth:`from_config` accepts both). With the same weights both compute the
    same function; :func:`~pyg_tabular.interop.load_keras_weights` copies them
    over, following the table of Keras weight names and layouts in
    :data:`~pyg_tabular.interop.keras.KERAS_WEIGHT_TABLE`. The Keras
    ``edge_attention_dense/kernel`` :math:`(3d, 1)` is ``edge_attention``
    :math:`(3d,)` here: :math:`\mathbf{u}_1` (target),
    :math:`\mathbf{u}_2` (neighbour), :math:`\mathbf{u}_3` (difference).

    **Deviations from kerasfactory.** Keras draws every kernel and the
    grouping matrix with ``GlorotUniform(seed=42)``, so all its instances of
    one shape start equal; this module draws from the same distributions at
    random (biases zero, LayerNorm scale one and shift zero). Keras checks
    only divisibility and ``num_groups``; the stricter checks here reject
    what Keras would fail on later (``embed_dim=0``), divide by zero on
    (``num_heads=0``) or silently accept (``dropout_rate=1``,
    ``num_groups=0``). A positional Keras call ``(embed_dim, num_heads)``
    means ``(num_features, embed_dim)`` here.

    Args:
        num_features (int, optional): Number of features :math:`F`; read from
            the first input when :obj:`None`. (default: :obj:`None`)
        embed_dim (int, optional): Embedding size :math:`E`. (default: :obj:`16`)
        num_heads (int, optional): Number of heads :math:`H`, dividing
            :math:`E`. (default: :obj:`4`)
        dropout (float, optional): Dropout probability of the attention
            coefficients, in :math:`[0, 1)`. (default: :obj:`0.0`)
        hierarchical (bool, optional): Add the soft feature groups.
            (default: :obj:`False`)
        num_groups (int, optional): Number of groups :math:`G`; required when
            :obj:`hierarchical`. (default: :obj:`None`)
        feature_embedding (str, optional): ``"shared"`` or ``"per_feature"``.
            (default: :obj:`"shared"`)
        backend (str, optional): ``"auto"``, ``"dense"`` or ``"sparse"``.
            (default: :obj:`"auto"`)

    Shapes:
        - **input:** :math:`\mathbf{x}` of shape :math:`(B, F)`; optional
          ``mask`` :math:`(B, F)` (bool) and ``edge_index`` :math:`(2, |\mathcal{E}|)`
        - **output:** :math:`(B, F)`; with ``return_attention_weights=True``
          also the attention :math:`(B, H, F, F)`

    Example:
        >>> import torch
        >>> from pyg_tabular.nn.tabular import AdvancedGraphFeatureLayer
        >>> layer = AdvancedGraphFeatureLayer(10, embed_dim=16, num_heads=4,
        ...                                   hierarchical=True, num_groups=3)
        >>> layer
        AdvancedGraphFeatureLayer(10, 16, num_heads=4, hierarchical=True, num_groups=3)
        >>> x = torch.randn(32, 10)
        >>> out, attention = layer(x, return_attention_weights=True)
        >>> out.shape, attention.shape
        (torch.Size([32, 10]), torch.Size([32, 4, 10, 10]))
        >>> lazy = AdvancedGraphFeatureLayer(embed_dim=8, num_heads=2)
        >>> lazy(x).shape, lazy.num_features
        (torch.Size([32, 10]), 10)
    """

    def __init__(
        self,
        num_features: int | None = None,
        embed_dim: int = 16,
        num_heads: int = 4,
        dropout: float = 0.0,
        hierarchical: bool = False,
        num_groups: int | None = None,
        *,
        feature_embedding: str = "shared",
        backend: str = "auto",
    ) -> None:
        super().__init__()
        if num_features is not None:
            check_positive_int(num_features, "num_features")
        check_positive_int(embed_dim, "embed_dim")
        check_positive_int(num_heads, "num_heads")
        if embed_dim % num_heads != 0:
            raise ValueError(
                f"embed_dim must be divisible by num_heads (got embed_dim={embed_dim}, "
                f"num_heads={num_heads})"
            )
        dropout = check_fraction(dropout, "dropout")
        if not isinstance(hierarchical, bool):
            raise ValueError(f"hierarchical must be a bool (got {hierarchical!r})")
        if hierarchical and num_groups is None:
            raise ValueError("num_groups must be given when hierarchical is True (got None)")
        if num_groups is not None:
            check_positive_int(num_groups, "num_groups")
        check_choice(feature_embedding, "feature_embedding", FEATURE_EMBEDDINGS)
        check_choice(backend, "backend", BACKENDS)
        self.num_features = num_features
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout = dropout
        self.hierarchical = hierarchical
        self.num_groups = num_groups if hierarchical else None
        self.feature_embedding = feature_embedding
        self.backend = backend

        lazy = num_features is None
        if not lazy:
            assert num_features is not None
            self._check_parameters_fit(num_features)
        self.projection = make_projection(feature_embedding, num_features, embed_dim)
        self.edge_attention = Parameter(torch.empty(3 * self.head_dim))
        # The soft groups are a FeatureGroupPool, built once F is known.
        self.group_pool: FeatureGroupPool | None = None
        self.group_expander: Linear | None = None
        if hierarchical:
            assert num_groups is not None
            if lazy:
                self.group_expander = LazyLinear(0)
            else:
                assert num_features is not None
                self.group_pool = FeatureGroupPool(num_features, num_groups)
                self.group_expander = Linear(num_groups * embed_dim, num_features * embed_dim)
        self.layer_norm = LayerNorm(embed_dim, eps=LAYER_NORM_EPS)
        self.out_proj: Linear
        if lazy:
            self.out_proj = LazyLinear(0)
        else:
            assert num_features is not None
            self.out_proj = Linear(num_features * embed_dim, num_features)
            drop_lazy_hooks(self)
        self._register_load_state_dict_pre_hook(self._load_old_layout)
        self.reset_parameters()

    # Lazy sizes ##############################################################

    def _check_parameters_fit(self, num_features: int) -> None:
        # The output map reads the flattened [F·E] row (Keras' design), so the
        # parameters grow as E·F²: refuse a size whose weights alone cannot
        # be allocated, instead of failing inside the allocator.
        count = self.embed_dim * num_features * (num_features + 1)
        if self.hierarchical:
            assert self.num_groups is not None
            count += num_features * self.num_groups * (1 + self.embed_dim**2)
        memory = physical_memory_bytes(torch.device("cpu"))
        if memory is not None and 4 * count > memory // 2:
            raise ValueError(
                f"AdvancedGraphFeatureLayer with num_features={num_features} and "
                f"embed_dim={self.embed_dim} needs {count:,} parameters "
                f"({4 * count / 2**30:.1f} GiB in float32), more than half of this "
                f"machine's {memory / 2**30:.1f} GiB; its output map grows as "
                f"embed_dim·num_features²"
            )

    def has_uninitialized_params(self) -> bool:  # type: ignore[override]
        return any(is_lazy(p) for p in self.parameters())

    def initialize_parameters(self, x: Any, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        r"""Materialises the :math:`F`-dependent parameters from the first input."""
        if not self.has_uninitialized_params():
            return
        rows = to_tensor(x, "x")
        check_rank(rows, "x", (2,), "[batch_size, num_features]")
        num_features = rows.size(1)
        if num_features == 0:
            raise ValueError("x must have at least one feature (got shape (B, 0))")
        self._check_parameters_fit(num_features)
        embed_dim = self.embed_dim
        with torch.no_grad():
            if self.hierarchical:
                assert self.group_expander is not None and self.num_groups is not None
                self._build_group_pool(num_features)
                _materialize_linear(
                    self.group_expander, self.num_groups * embed_dim, num_features * embed_dim
                )
            _materialize_linear(self.out_proj, num_features * embed_dim, num_features)
        if not isinstance(self.projection, Linear):
            self.projection.initialize_parameters(rows)
        self.num_features = num_features

    def _lazy_load_hook(  # type: ignore[override]
        self,
        state_dict: dict[str, Any],
        prefix: str,
        *args: Any,
    ) -> None:
        _rename_old_keys(state_dict, prefix)
        super()._lazy_load_hook(state_dict, prefix, *args)
        logits = state_dict.get(prefix + _GROUPING_KEY)
        if self.hierarchical and self.group_pool is None and isinstance(logits, Tensor):
            self._build_group_pool(logits.size(0))
        bias = state_dict.get(prefix + "out_proj.bias")
        if self.num_features is None and isinstance(bias, Tensor) and not is_lazy(bias):
            num_features = bias.size(0)
            self.num_features = num_features
            # The children load their own values; their size attributes follow.
            embed_dim = self.embed_dim
            if self.group_expander is not None:
                assert self.num_groups is not None
                self.group_expander.in_features = self.num_groups * embed_dim
                self.group_expander.out_features = num_features * embed_dim
            self.out_proj.in_features = num_features * embed_dim
            self.out_proj.out_features = num_features

    def _build_group_pool(self, num_features: int) -> None:
        assert self.num_groups is not None
        reference = self.edge_attention
        pool = FeatureGroupPool(num_features, self.num_groups)
        self.group_pool = pool.to(device=reference.device, dtype=reference.dtype)

    def _load_old_layout(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        _rename_old_keys(state_dict, prefix)

    @property
    def grouping_matrix(self) -> Parameter | None:
        r"""The soft group logits :math:`\mathbf{M}` ``[F, G]`` (the Keras
        layer's ``grouping_matrix``): ``group_pool.assignment_logits``, or
        :obj:`None` without groups or before :math:`F` is known."""
        return None if self.group_pool is None else self.group_pool.assignment_logits

    # Parameters ##############################################################

    def reset_parameters(self) -> None:
        r"""Resets every parameter to Keras' initialisation scheme
        (Glorot-uniform matrices, zero biases, unit LayerNorm)."""
        if isinstance(self.projection, Linear):
            glorot(self.projection.weight)
            zeros(self.projection.bias)
        else:
            self.projection.reset_parameters()
        # edge_attention_dense is a (3d, 1) Keras kernel: fan_in 3d, fan_out 1.
        bound = math.sqrt(6.0 / (3 * self.head_dim + 1))
        with torch.no_grad():
            self.edge_attention.uniform_(-bound, bound)
        if self.group_pool is not None:
            self.group_pool.reset_parameters()
        if self.group_expander is not None:
            _glorot_linear(self.group_expander)
        self.layer_norm.reset_parameters()
        _glorot_linear(self.out_proj)

    # Forward #################################################################

    def _attend(
        self,
        x: Tensor,
        h: Tensor,
        present: Tensor | None,
        template: Tensor | None,
        need_attention: bool,
    ) -> tuple[Tensor, Tensor | None]:
        """The attention step: ``z`` ``[B, F, E]`` (heads concatenated) and α."""
        batch_size, num_features = x.shape
        heads, head_dim = self.num_heads, self.head_dim
        att_dst, att_src, att_diff = self.edge_attention.view(3, head_dim)
        if isinstance(self.projection, Linear):
            return self._attend_shared(x, present, template, need_attention)
        features = h.view(batch_size, num_features, heads, head_dim)
        attention: Tensor | None
        if use_dense(self.backend, template):
            adj = dense_adjacency(template, present, num_features)
            chunk = self._chunk_rows(batch_size, num_features, x.dtype, x.device, need_attention)
            if chunk < batch_size:
                batched = (features, _rows_adjacency(adj, batch_size))
                shared = (att_dst, att_src, att_diff, self.dropout, self.training)
                out = map_row_chunks(_per_feature_step, batched, shared, chunk)
                attention = None
            else:
                score = dense_diff_score(features, att_dst, att_src, att_diff, NEGATIVE_SLOPE)
                out, attention = dense_attention(score, features, adj, self.dropout, self.training)
        else:

            def score_fn(nodes: Tensor, edges: Tensor) -> Tensor:
                return sparse_diff_score(nodes, edges, att_dst, att_src, att_diff, NEGATIVE_SLOPE)

            out, attention = sparse_attend(
                score_fn,
                features,
                features,
                template,
                present,
                heads,
                self.dropout,
                self.training,
                need_attention,
            )
        return out.reshape(batch_size, num_features, self.embed_dim), attention

    def _attend_shared(
        self,
        x: Tensor,
        present: Tensor | None,
        template: Tensor | None,
        need_attention: bool,
    ) -> tuple[Tensor, Tensor | None]:
        """:meth:`_attend` for the shared embedding, on two numbers per feature.

        With h_j^k = W^k x_j + b^k, u_1·h_i^k = x_i (W^k·u_1) + b^k·u_1 (and
        likewise u_2), u_3·|h_i^k - h_j^k| = (|W^k|·u_3) |x_i - x_j|, and
        sum_j alpha_ij^k h_j^k = W^k sum_j alpha_ij^k x_j + b^k sum_j alpha_ij^k:
        scoring needs one |x_i - x_j| per pair (not per head or channel) and
        aggregating the basis [x_j, 1] moves 2 numbers per feature, not d per head.
        """
        assert isinstance(self.projection, Linear)
        batch_size, num_features = x.shape
        heads, head_dim = self.num_heads, self.head_dim
        weight = self.projection.weight.view(heads, head_dim)
        bias = self.projection.bias.view(heads, head_dim)
        att_dst, att_src, att_diff = self.edge_attention.view(3, head_dim)
        dst_weight, dst_bias = weight @ att_dst, bias @ att_dst  # [heads] each
        src_weight, src_bias = weight @ att_src, bias @ att_src
        diff_coef = weight.abs() @ att_diff
        attention: Tensor | None
        if use_dense(self.backend, template):
            # Contiguous [B, H, F] node terms keep every [B, H, F, F] tensor contiguous.
            node_dst = torch.addcmul(dst_bias.view(-1, 1), dst_weight.view(-1, 1), x.unsqueeze(1))
            node_src = torch.addcmul(src_bias.view(-1, 1), src_weight.view(-1, 1), x.unsqueeze(1))
            adj = dense_adjacency(template, present, num_features)
            dropout = self.dropout if self.training else 0.0
            chunk = self._chunk_rows(batch_size, num_features, x.dtype, x.device, need_attention)
            if chunk < batch_size:
                batched = (node_dst, node_src, x, _rows_adjacency(adj, batch_size))
                sums = map_row_chunks(fused_diff_sums, batched, (diff_coef, dropout), chunk)
                attention = None
            else:
                sums, attention = FusedDiffAttention.apply(
                    node_dst, node_src, diff_coef, x, adj, dropout
                )
            sums = sums.transpose(1, 2)  # [batch_size, num_features, heads, 2]
        else:

            def score_fn(nodes: Tensor, edges: Tensor) -> Tensor:
                values = nodes[..., 0]  # [..., N]
                source, target = edges[0], edges[1]
                x_j = values.index_select(-1, source).unsqueeze(-1)  # [..., E, 1]
                x_i = values.index_select(-1, target).unsqueeze(-1)
                score = torch.addcmul(dst_bias + src_bias, x_i, dst_weight)  # [..., E, H]
                score.addcmul_(x_j, src_weight).addcmul_((x_i - x_j).abs_(), diff_coef)
                return torch.nn.functional.leaky_relu(score, NEGATIVE_SLOPE, inplace=True)

            basis = torch.stack([x, torch.ones_like(x)], dim=-1)  # [batch_size, num_features, 2]
            sums, attention = sparse_attend(
                score_fn,
                x.unsqueeze(-1),
                basis.unsqueeze(2),
                template,
                present,
                heads,
                self.dropout,
                self.training,
                need_attention,
            )
        # z^k = sums^k_x W^k + sums^k_1 b^k for every head at once, as one matmul
        # with the block-diagonal [2H, E] map (broadcast multiplies over
        # [B, F, H, d] with an 8-wide inner dimension ran ~3x slower fwd+bwd).
        blocks = torch.stack([weight, bias], dim=1)  # [heads, 2, head_dim]
        eye = torch.eye(heads, dtype=blocks.dtype, device=blocks.device)
        mixing = (blocks.unsqueeze(2) * eye.view(heads, 1, heads, 1)).reshape(2 * heads, -1)
        out = sums.reshape(batch_size * num_features, 2 * heads) @ mixing
        return out.view(batch_size, num_features, self.embed_dim), attention

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
                attention :math:`(B, H, F, F)`. (default: :obj:`False`)
        """
        x, present = check_rows(x, mask, self.num_features)
        batch_size, num_features = x.shape
        template = None
        if edge_index is not None:
            template = check_template_arg(edge_index, num_features, x.device)
        h = project(self.projection, x)  # [batch_size, num_features, embed_dim]
        z, attention = self._attend(x, h, present, template, return_attention_weights)
        if self.hierarchical:
            assert self.group_pool is not None and self.group_expander is not None
            groups = self.group_pool.group_rows(z)  # [batch_size, num_groups, embed_dim]
            # Row-major (group, channel) flattening, as the Keras layer's reshape.
            expanded = self.group_expander(groups.flatten(1))
            z = z + expanded.view(batch_size, num_features, self.embed_dim)
        residual = h if present is None else h * present.unsqueeze(-1).to(h.dtype)
        z = z + residual  # [batch_size, num_features, embed_dim]
        flat = batch_size, num_features * self.embed_dim
        y = self.out_proj(self.layer_norm(z).reshape(flat))
        if not torch.compiler.is_compiling() and not bool(torch.isfinite(y).all()):
            # Past ~1e18 in float32 LayerNorm's variance overflows: redo it scale-safe.
            y = self.out_proj(_scale_safe_layer_norm(self.layer_norm, z).reshape(flat))
            check_finite_output(y, "x", x)
        if return_attention_weights:
            assert attention is not None
            return y, attention
        return y

    def _attention_heads(self) -> int:
        return self.num_heads

    def _squares_per_row(self) -> int:
        if isinstance(self.projection, Linear):
            return _SHARED_SQUARES_PER_ROW
        return _PER_FEATURE_SQUARES_PER_ROW

    # Config ##################################################################

    def get_config(self) -> dict[str, Any]:
        r"""Returns the constructor arguments, so that
        ``AdvancedGraphFeatureLayer.from_config(layer.get_config())`` rebuilds
        the layer (with fresh parameters)."""
        return {
            "num_features": self.num_features,
            "embed_dim": self.embed_dim,
            "num_heads": self.num_heads,
            "dropout": self.dropout,
            "hierarchical": self.hierarchical,
            "num_groups": self.num_groups,
            "feature_embedding": self.feature_embedding,
            "backend": self.backend,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> AdvancedGraphFeatureLayer:
        r"""Builds a layer from the output of :meth:`get_config`.

        The config of the Keras layer works too (:obj:`num_features` is then
        inferred on the first call): ``dropout_rate`` is read as
        :obj:`dropout`, and Keras' bookkeeping entries (``name``,
        ``trainable``, ``dtype``) are ignored.
        """
        return cls(**keras_config(config, _KERAS_NAMES))

    def __repr__(self) -> str:
        extra = f", num_heads={self.num_heads}"
        if self.dropout:
            extra += f", dropout={self.dropout}"
        if self.hierarchical:
            extra += f", hierarchical=True, num_groups={self.num_groups}"
        if self.feature_embedding != "shared":
            extra += f", feature_embedding={self.feature_embedding!r}"
        if self.backend != "auto":
            extra += f", backend={self.backend!r}"
        return f"{self.__class__.__name__}({self.num_features}, {self.embed_dim}{extra})"


def _materialize_linear(linear: Linear, fan_in: int, fan_out: int) -> None:
    linear.in_features, linear.out_features = fan_in, fan_out
    if is_lazy(linear.weight):
        materialize(linear.weight, (fan_out, fan_in))
        materialize(linear.bias, (fan_out,))
    _glorot_linear(linear)


def _scale_safe_layer_norm(norm: LayerNorm, z: Tensor) -> Tensor:
    # LayerNorm squares z. Dividing each vector by its largest entry s (and
    # eps by s²) is the same function, with every square at most one.
    scale = z.detach().abs().amax(dim=-1, keepdim=True).clamp_min(1.0)
    unit = z / scale
    centered = unit - unit.mean(dim=-1, keepdim=True)
    variance = centered.square().mean(dim=-1, keepdim=True)
    # eps / s² underflows to zero for the largest s; keep the root finite.
    eps = (norm.eps / scale) / scale
    tiny = torch.finfo(z.dtype).tiny
    normed = centered * torch.rsqrt((variance + eps).clamp_min(tiny))
    return torch.addcmul(norm.bias, normed, norm.weight)


def _rename_old_keys(state_dict: dict[str, Any], prefix: str) -> None:
    old = state_dict.pop(prefix + _OLD_GROUPING_KEY, None)
    if old is not None:
        state_dict.setdefault(prefix + _GROUPING_KEY, old)


__all__ = ["AdvancedGraphFeatureLayer"]
