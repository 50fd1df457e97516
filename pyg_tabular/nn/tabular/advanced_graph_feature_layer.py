r"""Multi-head, difference-aware attention between the features of each row, with
optional soft feature groups."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable
from torch.nn import LayerNorm, LazyLinear, Linear, Parameter
from torch.nn.modules.lazy import LazyModuleMixin
from torch.nn.parameter import UninitializedParameter, is_lazy
from torch_geometric.nn.inits import glorot, zeros

from pyg_tabular.nn._row_chunks import (
    ChunkedAttention,
    map_row_chunks,
    physical_memory_bytes,
    use_dense,
)
from pyg_tabular.nn.functional import (
    dense_attention,
    dense_diff_score,
    sparse_diff_score,
)
from pyg_tabular.nn.tabular.graph_feature_aggregation import (
    _BACKENDS,
    _FEATURE_EMBEDDINGS,
    _check_choice,
    _check_dropout,
    _check_positive_int,
    _check_rows,
    _check_template_arg,
    _dense_adjacency,
    _drop_lazy_hooks,
    _keras_config,
    _make_projection,
    _materialize,
    _project,
    _sparse_attend,
)
from pyg_tabular.utils.validation import check_rank, to_tensor

# Keras' layer fixes the LeakyReLU slope of its edge scores.
NEGATIVE_SLOPE = 0.2
LAYER_NORM_EPS = 1e-6


def _glorot_linear(linear: Linear) -> None:
    if not is_lazy(linear.weight):
        glorot(linear.weight)
        zeros(linear.bias)


def _pair_score(node_dst: Tensor, node_src: Tensor, coef: Tensor, distance: Tensor) -> Tensor:
    # Pre-activation scores; forward builds all heads ([B, H, F, F]), backward
    # one head at a time ([B, F, F]), with the same ops in the same order so
    # that both see the same signs.
    score = node_dst.unsqueeze(-1) + node_src.unsqueeze(-2)
    return score.addcmul_(coef, distance)


def _softmax_(score: Tensor, adj: Tensor | None) -> Tensor:
    # masked_softmax's semantics (a target without neighbours gets zeros), in place.
    if adj is None:
        return torch.ops.aten._softmax.out(score, -1, False, out=score)
    adj = adj.unsqueeze(1) if adj.dim() == 3 else adj  # [B, 1, F, F], broadcast over heads
    has_neighbour = adj.any(dim=-1, keepdim=True)
    score.masked_fill_(~(adj | ~has_neighbour), float("-inf"))
    torch.ops.aten._softmax.out(score, -1, False, out=score)
    return score.masked_fill_(~has_neighbour, 0.0)


class _SharedDiffAttention(torch.autograd.Function):
    # The whole attention step of the shared embedding on the dense path:
    #   alpha^k = softmax_j(LeakyReLU(node_dst_i^k + node_src_j^k + c^k |x_i - x_j|)),
    #   dropped = dropout(alpha), sums^k = dropped^k @ [x, 1]      ([B, H, F, 2]).
    #
    # Autograd through the plain ops keeps the LeakyReLU output, alpha, the
    # dropped copy and |x_i - x_j| for backward, and its backward allocates
    # three more [B, H, F, F] tensors. Here score and softmax are computed in
    # place, only alpha (and the dropped copy, with dropout) is saved, and
    # backward works in one owned [B, H, F, F] buffer, rebuilding each head's
    # pre-activation score [B, F, F] to read its sign. With g the gradient
    # of dropped and g_s that of the pre-activation score:
    #   alpha * dL/dalpha = dropped * g   (dropout's mask and scale cancel),
    #   g_s = LeakyReLU'(s) * (dropped * g - alpha * sum_j dropped * g),
    #   dL/dc^k = sum g_s^k |x_i - x_j|,
    #   dL/dx_m = sum_j (G_mj + G_jm) sign(x_m - x_j) + (dropped^T dL/dsums)_m,
    # with G = sum_k c^k g_s^k.
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        node_dst: Tensor,
        node_src: Tensor,
        diff_coef: Tensor,
        x: Tensor,
        adj: Tensor | None,
        dropout: float,
    ) -> tuple[Tensor, Tensor]:
        batch_size, heads, num_features = node_dst.shape
        distance = (x.unsqueeze(-1) - x.unsqueeze(-2)).abs_()  # [B, F, F], shared by the heads
        score = _pair_score(node_dst, node_src, diff_coef.view(-1, 1, 1), distance.unsqueeze(1))
        del distance
        F.leaky_relu(score, NEGATIVE_SLOPE, inplace=True)
        alpha = _softmax_(score, adj)
        dropped = F.dropout(alpha, p=dropout, training=True) if dropout > 0.0 else alpha
        basis = torch.stack([x, torch.ones_like(x)], dim=-1)  # [B, F, 2]
        sums = torch.bmm(dropped.view(batch_size, heads * num_features, num_features), basis)
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(node_dst, node_src, diff_coef, x, alpha, dropped)
        return sums.view(batch_size, heads, num_features, 2), dropped

    @staticmethod
    @once_differentiable
    def backward(  # type: ignore[override]
        ctx: Any, grad_sums: Tensor | None, grad_dropped: Tensor | None
    ) -> tuple[Tensor | None, ...]:
        node_dst, node_src, diff_coef, x, alpha, dropped = ctx.saved_tensors
        batch_size, heads, num_features, _ = alpha.shape
        needs = ctx.needs_input_grad
        if grad_sums is None and grad_dropped is None:
            return None, None, None, None, None, None
        grad_x_sums = None
        if grad_sums is not None:
            # dL/ddropped_ij = g_i0 x_j + g_i1: a broadcast outer product (a K=2 bmm is slower).
            # Contiguous [B, H, F] halves: strided ones slow the broadcast below ~2x.
            grad_x_part, grad_one_part = grad_sums.permute(3, 0, 1, 2).contiguous()
            grad = torch.addcmul(
                grad_one_part.unsqueeze(-1),
                grad_x_part.unsqueeze(-1),
                x.view(batch_size, 1, 1, num_features),
            )
            if grad_dropped is not None:
                grad.add_(grad_dropped)
            if needs[3]:
                # Only the x column of the basis has a gradient: one vector-matrix product.
                flat_dropped = dropped.view(batch_size, heads * num_features, num_features)
                grad_x_part = grad_x_part.reshape(batch_size, 1, heads * num_features)
                grad_x_sums = torch.bmm(grad_x_part, flat_dropped).view(batch_size, num_features)
        else:
            assert grad_dropped is not None
            grad = grad_dropped.clone(memory_format=torch.contiguous_format)
        grad.mul_(dropped)
        grad.addcmul_(alpha, grad.sum(dim=-1, keepdim=True), value=-1.0)
        difference = x.unsqueeze(-1) - x.unsqueeze(-2)  # [B, F, F]
        distance = difference.abs()
        for k in range(heads):
            head_dst, head_src = node_dst[:, k].contiguous(), node_src[:, k].contiguous()
            score = _pair_score(head_dst, head_src, diff_coef[k].view(1, 1), distance)
            # LeakyReLU's derivative, 1 where the score is positive and the slope
            # elsewhere, built in the score's own buffer.
            slope = score.gt_(0.0).mul_(1.0 - NEGATIVE_SLOPE).add_(NEGATIVE_SLOPE)
            grad[:, k].mul_(slope)
            del score, slope
        grad_dst = grad.sum(dim=-1) if needs[0] else None
        grad_src = grad.sum(dim=-2) if needs[1] else None
        flat = grad.view(batch_size, heads, num_features * num_features)
        grad_coef = grad_x = None
        if needs[2]:
            grad_coef = (
                torch.bmm(flat, distance.view(batch_size, num_features * num_features, 1))
                .sum(dim=0)
                .view(heads)
            )
        if needs[3]:
            weighted = torch.matmul(diff_coef, flat).view(difference.shape)
            grad_x = ((weighted + weighted.mT) * difference.sign_()).sum(dim=-1)
            if grad_x_sums is not None:
                grad_x = grad_x + grad_x_sums
        return grad_dst, grad_src, grad_coef, grad_x, None, None


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


def _shared_step(
    node_dst: Tensor, node_src: Tensor, x: Tensor, adj: Tensor | None, coef: Tensor, dropout: float
) -> Tensor:
    return _SharedDiffAttention.apply(node_dst, node_src, coef, x, adj, dropout)[0]


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

    **Lazy size.** With ``num_features=None`` the sizes that depend on
    :math:`F` (``grouping_matrix``, ``group_expander``, ``out_proj``, a
    per-feature ``projection``) are :class:`~torch.nn.parameter.UninitializedParameter`
    until the first call (PyTorch's lazy-module protocol): run one batch, or
    load a state dict, before building an optimizer.

    **Porting from Keras.** The Keras signature is ``(embed_dim, num_heads,
    dropout_rate=0.0, hierarchical=False, num_groups=None)`` and reads
    :math:`F` from its input; here :obj:`num_features` comes first (pass the
    rest by keyword when porting) and ``dropout_rate`` is :obj:`dropout`
    (:meth:`from_config` accepts both). With the same weights both compute the
    same function:

    ================================================  ==========================================
    Keras weight (shape)                              this module (shape)
    ================================================  ==========================================
    ``projection/kernel`` :math:`(1, E)`              ``projection.weight`` :math:`(E, 1)` =
                                                      ``kernel.T``
    ``projection/bias`` :math:`(E,)`                  ``projection.bias`` :math:`(E,)`
    ``edge_attention_dense/kernel`` :math:`(3d, 1)`   ``edge_attention`` :math:`(3d,)`:
                                                      :math:`\mathbf{u}_1` (target),
                                                      :math:`\mathbf{u}_2` (neighbour),
                                                      :math:`\mathbf{u}_3` (difference)
    ``grouping_matrix`` :math:`(F, G)`                ``grouping_matrix`` :math:`(F, G)`
    ``group_expander/kernel`` :math:`(GE, FE)`        ``group_expander.weight`` :math:`(FE, GE)`
                                                      = ``kernel.T``
    ``group_expander/bias`` :math:`(FE,)`             ``group_expander.bias``
    ``layer_norm/gamma``, ``/beta`` :math:`(E,)`      ``layer_norm.weight``, ``.bias``
    ``out_proj/kernel`` :math:`(FE, F)`               ``out_proj.weight`` :math:`(F, FE)` =
                                                      ``kernel.T``
    ``out_proj/bias`` :math:`(F,)`                    ``out_proj.bias``
    ================================================  ==========================================

    Keras draws every kernel and the grouping matrix with
    ``GlorotUniform(seed=42)``, so all its instances of one shape start equal;
    this module draws from the same distributions at random (biases zero,
    LayerNorm scale one and shift zero). Keras checks only divisibility and
    ``num_groups``; the stricter checks here reject what Keras would fail on
    later (or silently accept, such as ``dropout_rate=1``).

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
            _check_positive_int(num_features, "num_features")
        _check_positive_int(embed_dim, "embed_dim")
        _check_positive_int(num_heads, "num_heads")
        if embed_dim % num_heads != 0:
            raise ValueError(
                f"embed_dim must be divisible by num_heads (got embed_dim={embed_dim}, "
                f"num_heads={num_heads})"
            )
        dropout = _check_dropout(dropout)
        if not isinstance(hierarchical, bool):
            raise ValueError(f"hierarchical must be a bool (got {hierarchical!r})")
        if hierarchical and num_groups is None:
            raise ValueError("num_groups must be given when hierarchical is True (got None)")
        if num_groups is not None:
            _check_positive_int(num_groups, "num_groups")
        _check_choice(feature_embedding, "feature_embedding", _FEATURE_EMBEDDINGS)
        _check_choice(backend, "backend", _BACKENDS)
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
        self.projection = _make_projection(feature_embedding, num_features, embed_dim)
        self.edge_attention = Parameter(torch.empty(3 * self.head_dim))
        self.grouping_matrix: Parameter | None
        self.group_expander: Linear | None
        if hierarchical:
            assert num_groups is not None
            if lazy:
                self.grouping_matrix = UninitializedParameter()  # type: ignore[assignment]
                self.group_expander = LazyLinear(0)
            else:
                assert num_features is not None
                self.grouping_matrix = Parameter(torch.empty(num_features, num_groups))
                self.group_expander = Linear(num_groups * embed_dim, num_features * embed_dim)
        else:
            self.register_parameter("grouping_matrix", None)
            self.group_expander = None
        self.layer_norm = LayerNorm(embed_dim, eps=LAYER_NORM_EPS)
        self.out_proj: Linear
        if lazy:
            self.out_proj = LazyLinear(0)
        else:
            assert num_features is not None
            self.out_proj = Linear(num_features * embed_dim, num_features)
            _drop_lazy_hooks(self)
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
                assert self.grouping_matrix is not None and self.group_expander is not None
                assert self.num_groups is not None
                _materialize(self.grouping_matrix, (num_features, self.num_groups))
                glorot(self.grouping_matrix)
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
        super()._lazy_load_hook(state_dict, prefix, *args)
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
        if self.grouping_matrix is not None and not is_lazy(self.grouping_matrix):
            glorot(self.grouping_matrix)
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
            adj = _dense_adjacency(template, present, num_features)
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

            out, attention = _sparse_attend(
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
            adj = _dense_adjacency(template, present, num_features)
            dropout = self.dropout if self.training else 0.0
            chunk = self._chunk_rows(batch_size, num_features, x.dtype, x.device, need_attention)
            if chunk < batch_size:
                batched = (node_dst, node_src, x, _rows_adjacency(adj, batch_size))
                sums = map_row_chunks(_shared_step, batched, (diff_coef, dropout), chunk)
                attention = None
            else:
                sums, attention = _SharedDiffAttention.apply(
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
                return F.leaky_relu(score, NEGATIVE_SLOPE, inplace=True)

            basis = torch.stack([x, torch.ones_like(x)], dim=-1)  # [batch_size, num_features, 2]
            sums, attention = _sparse_attend(
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
        x, present = _check_rows(x, mask, self.num_features)
        batch_size, num_features = x.shape
        template = None
        if edge_index is not None:
            template = _check_template_arg(edge_index, num_features, x.device)
        h = _project(self.projection, x)  # [batch_size, num_features, embed_dim]
        z, attention = self._attend(x, h, present, template, return_attention_weights)
        if self.hierarchical:
            assert self.grouping_matrix is not None and self.group_expander is not None
            assignment = self.grouping_matrix.softmax(dim=-1)  # [num_features, num_groups]
            # Row-major (group, channel) flattening, as the Keras layer's reshape.
            groups = (z.transpose(1, 2) @ assignment).transpose(1, 2)  # [batch, groups, embed]
            expanded = self.group_expander(groups.flatten(1))
            z = z + expanded.view(batch_size, num_features, self.embed_dim)
        residual = h if present is None else h * present.unsqueeze(-1).to(h.dtype)
        z = self.layer_norm(z + residual)  # [batch_size, num_features, embed_dim]
        y = self.out_proj(z.reshape(batch_size, num_features * self.embed_dim))
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
        return cls(**_keras_config(config))

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
        _materialize(linear.weight, (fan_out, fan_in))
        _materialize(linear.bias, (fan_out,))
    _glorot_linear(linear)


__all__ = ["AdvancedGraphFeatureLayer"]
