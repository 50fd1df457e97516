r"""The attention core shared by the feature-graph layers, as plain functions.

Every attention layer of :mod:`pyg_tabular.nn` runs the same four steps on
features :math:`\mathbf{h}` that are already projected and split into heads:

1. **score** each edge :math:`j \to i` (target :math:`i`, source :math:`j`),
   per head :math:`k`, with either

   * the GAT score (:func:`dense_gat_score`, :func:`sparse_gat_score`)

     .. math::
         e_{ij}^{k} = \mathrm{LeakyReLU}\left(
         \mathbf{a}_{\mathrm{dst}}^{k} \cdot \mathbf{h}_i^{k} +
         \mathbf{a}_{\mathrm{src}}^{k} \cdot \mathbf{h}_j^{k} + c^{k}\right)

   * or the difference-aware score (:func:`dense_diff_score`,
     :func:`sparse_diff_score`)

     .. math::
         e_{ij}^{k} = \mathrm{LeakyReLU}\left(
         \mathbf{u}_1 \cdot \mathbf{h}_i^{k} + \mathbf{u}_2 \cdot \mathbf{h}_j^{k} +
         \mathbf{u}_3 \cdot \lvert \mathbf{h}_i^{k} - \mathbf{h}_j^{k} \rvert\right);

2. **normalise** the scores over the incoming edges of each target
   (:func:`masked_softmax`, :func:`segment_softmax`); a target without any
   incoming edge receives nothing (zeros, never NaN);
3. **drop out** attention coefficients while training;
4. **aggregate** :math:`\mathbf{h}_i'^{k} = \sum_j \alpha_{ij}^{k}\,\mathbf{h}_j^{k}`
   (:func:`dense_aggregate`, :func:`sparse_aggregate`).

:func:`dense_attention` and :func:`sparse_attention` run steps 2–4 on a score.
The functions own no parameters: attention vectors are arguments, so modules
that keep their own parameters (with names of their own) reuse the same code.

Layouts used throughout:

* **dense**: features ``h`` of shape ``[B, F, H, D]`` (rows, features, heads,
  channels per head); scores and attention ``[B, H, F, F]`` where entry
  ``[b, k, i, j]`` belongs to the edge :math:`j \to i`; an adjacency ``adj``
  of shape ``[F, F]`` or ``[B, F, F]`` whose entry ``[i, j]`` is nonzero iff
  feature :math:`i` attends to feature :math:`j` (rows are targets; this is
  the *transpose* of :func:`torch_geometric.utils.to_dense_adj`, see
  :func:`template_to_adj`).
* **sparse**: features ``h`` of shape ``[..., N, H, D]``, an ``edge_index`` of
  shape ``[2, E]`` (row 0 sources, row 1 targets, PyG's ``source → target``
  flow) and per-edge scores ``[..., E, H]``. The leading ``...`` is empty for a
  batched graph and ``B`` for PyG's static-graph form, where one ``[2, E]``
  template is shared by ``B`` rows of ``N = F`` nodes.

Attention vectors (``att_src``, ``att_dst``, ``att_diff``, …) may have any shape
that reshapes to ``[H, D]`` (one vector per head) or ``[1, D]`` / ``[D]`` (one
vector shared by all heads), e.g. PyG's ``[1, H, D]``.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from pyg_tabular.data.edge_index import fully_connected_edge_index
from pyg_tabular.utils.scatter import scatter


class _ContiguousGrad(torch.autograd.Function):
    # Identity whose backward makes the incoming gradient contiguous. A loss
    # like ``out.sum()`` sends back an expanded (stride-0) gradient, on which
    # the backward of ``torch.bmm`` runs about 8x slower on CPU.
    @staticmethod
    def forward(ctx, value: Tensor) -> Tensor:  # type: ignore[override]
        return value.view_as(value)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        return grad.contiguous()


def _heads_view(att: Tensor, channels: int, name: str) -> Tensor:
    # [H, D] or [1, D], ready to broadcast against [..., H, D].
    if att.numel() % channels != 0 or att.numel() == 0:
        raise ValueError(
            f"{name} must reshape to [heads, {channels}] (got shape {tuple(att.shape)})"
        )
    return att.reshape(-1, channels)


def _check_heads(att: Tensor, heads: int, name: str) -> None:
    if att.size(0) not in (1, heads):
        raise ValueError(
            f"{name} has {att.size(0)} head vectors but h has {heads} heads "
            f"(got shape {tuple(att.shape)})"
        )


def _node_score(h: Tensor, att: Tensor, name: str) -> Tensor:
    # The score is linear in h_i and h_j before the LeakyReLU, so each node
    # contributes one scalar per head; no per-pair tensor is needed.
    vector = _heads_view(att, h.size(-1), name)
    _check_heads(vector, h.size(-2), name)
    return (h * vector).sum(dim=-1)  # [..., N, H]


def _check_dense_h(h: Tensor) -> None:
    if h.dim() != 4:
        raise ValueError(
            "h must have shape [batch_size, num_features, heads, channels] "
            f"(got {h.dim()}-D shape {tuple(h.shape)})"
        )


def _check_sparse_h(h: Tensor, edge_index: Tensor) -> None:
    if h.dim() < 3:
        raise ValueError(
            "h must have shape [..., num_nodes, heads, channels] "
            f"(got {h.dim()}-D shape {tuple(h.shape)})"
        )
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(
            f"edge_index must have shape [2, num_edges] (got shape {tuple(edge_index.shape)})"
        )


# Dense path ##################################################################


def dense_gat_score(
    h: Tensor,
    att_src: Tensor,
    att_dst: Tensor,
    att_bias: Tensor | None = None,
    negative_slope: float = 0.2,
) -> Tensor:
    r"""GAT scores of all feature pairs of every row.

    .. math::
        e_{ij}^{k} = \mathrm{LeakyReLU}\left(
        \mathbf{a}_{\mathrm{dst}}^{k} \cdot \mathbf{h}_i^{k} +
        \mathbf{a}_{\mathrm{src}}^{k} \cdot \mathbf{h}_j^{k} + c^{k}\right)

    Two scalars per node and head are broadcast against each other; the
    ``[B, F, F, 2D]`` pair tensor is never built.

    Args:
        h (torch.Tensor): Projected features ``[B, F, H, D]``.
        att_src (torch.Tensor): :math:`\mathbf{a}_{\mathrm{src}}`, applied to
            the source :math:`j`; reshapes to ``[H, D]`` or ``[1, D]``.
        att_dst (torch.Tensor): :math:`\mathbf{a}_{\mathrm{dst}}`, applied to
            the target :math:`i`; same shapes as :obj:`att_src`.
        att_bias (torch.Tensor, optional): :math:`c`, with ``H`` or one
            element. (default: :obj:`None`)
        negative_slope (float, optional): LeakyReLU slope. (default: :obj:`0.2`)

    Returns:
        Scores ``[B, H, F, F]``, entry ``[b, k, i, j]`` for the edge
        :math:`j \to i`.

    Example:
        >>> h = torch.randn(2, 3, 4, 8)
        >>> dense_gat_score(h, torch.randn(4, 8), torch.randn(4, 8)).shape
        torch.Size([2, 4, 3, 3])
    """
    _check_dense_h(h)
    # Contiguous [B, H, F] node terms give a contiguous [B, H, F, F] score;
    # a transposed view would propagate its strides, and softmax and cdist's
    # backward would then copy every [B, H, F, F] tensor they touch.
    score_src = _node_score(h, att_src, "att_src").transpose(1, 2).contiguous()  # [B, H, F]
    score_dst = _node_score(h, att_dst, "att_dst").transpose(1, 2).contiguous()  # [B, H, F]
    if att_bias is not None:
        # Added to the per-node term: one pass over [B, H, F], not [B, H, F, F].
        score_dst = score_dst + att_bias.reshape(-1, 1)
    score = score_dst.unsqueeze(-1) + score_src.unsqueeze(-2)  # [B, H, F, F]
    # In place (autograd allows it for slopes >= 0): the sum is a fresh
    # [B, H, F, F] tensor that autograd does not keep, so one fewer is alive.
    return F.leaky_relu(score, negative_slope, inplace=negative_slope >= 0)


class _WeightedL1(torch.autograd.Function):
    # dist[..., i, j] = sum_d w_d |x_id - x_jd| for x [B, H, F, D], w [H or 1, D].
    #
    # Forward: with w = w⁺ - w⁻ (both >= 0), two cdist(p=1) calls on w⁺ ⊙ x
    # and w⁻ ⊙ x. Backward: autograd through those calls would run four
    # cdist backward passes (x is both cdist inputs) and lose the gradient of
    # any w_d = 0 (sign(0 * diff) = 0). Instead, with G the incoming gradient
    # and S[k, d] = sum_j (G + Gᵀ)_kj sign(x_kd - x_jd) (one cdist backward on
    # the unscaled x, since dist is symmetric),
    #   dL/dx_kd = w_d S[k, d]      and      dL/dw_d = sum_k x_kd S[k, d],
    # the latter being sum_kj G_kj |x_kd - x_jd|, exact for every w.
    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor) -> Tensor:  # type: ignore[override]
        zero = torch.zeros((), dtype=weight.dtype, device=weight.device)
        positive = torch.where(weight >= 0, weight, zero).unsqueeze(-2)  # [H or 1, 1, D]
        negative = torch.where(weight < 0, -weight, zero).unsqueeze(-2)
        scaled_pos = (x * positive).contiguous()
        scaled_neg = (x * negative).contiguous()
        dist = torch.cdist(scaled_pos, scaled_pos, p=1) - torch.cdist(scaled_neg, scaled_neg, p=1)
        ctx.save_for_backward(x, weight, dist)
        return dist

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        x, weight, dist = ctx.saved_tensors
        symmetric = (grad + grad.mT).contiguous()
        # For p=1 the kernel reads only sign(x_k - x_j); `dist` fills the
        # argument that other norms need.
        sign_sum = torch.ops.aten._cdist_backward(symmetric, x, x, 1.0, dist)  # [B, H, F, D]
        grad_x = sign_sum * weight.unsqueeze(-2)
        grad_weight = (sign_sum * x).sum(dim=(0, 2))  # [H, D]
        if weight.size(0) == 1:
            grad_weight = grad_weight.sum(dim=0, keepdim=True)
        return grad_x, grad_weight


def dense_diff_score(
    h: Tensor,
    att_dst: Tensor,
    att_src: Tensor,
    att_diff: Tensor,
    negative_slope: float = 0.2,
) -> Tensor:
    r"""Difference-aware scores of all feature pairs of every row.

    .. math::
        e_{ij}^{k} = \mathrm{LeakyReLU}\left(
        \mathbf{u}_1 \cdot \mathbf{h}_i^{k} + \mathbf{u}_2 \cdot \mathbf{h}_j^{k} +
        \mathbf{u}_3 \cdot \lvert \mathbf{h}_i^{k} - \mathbf{h}_j^{k} \rvert\right)

    The last term is a weighted :math:`L_1` distance. Writing
    :math:`\mathbf{u}_3 = \mathbf{u}^{+} - \mathbf{u}^{-}` with non-negative
    parts,
    :math:`\mathbf{u}_3 \cdot \lvert \mathbf{h}_i - \mathbf{h}_j \rvert =
    \lVert \mathbf{u}^{+} \odot \mathbf{h}_i - \mathbf{u}^{+} \odot \mathbf{h}_j \rVert_1 -
    \lVert \mathbf{u}^{-} \odot \mathbf{h}_i - \mathbf{u}^{-} \odot \mathbf{h}_j \rVert_1`,
    i.e. two :func:`torch.cdist` calls with ``p=1``. No ``[B, H, F, F, D]``
    tensor is built, forward or backward.

    Args:
        h (torch.Tensor): Projected features ``[B, F, H, D]``.
        att_dst (torch.Tensor): :math:`\mathbf{u}_1`, applied to the target
            :math:`i`; reshapes to ``[H, D]`` or ``[1, D]``.
        att_src (torch.Tensor): :math:`\mathbf{u}_2`, applied to the source
            :math:`j`.
        att_diff (torch.Tensor): :math:`\mathbf{u}_3`, applied to
            :math:`\lvert \mathbf{h}_i - \mathbf{h}_j \rvert`.
        negative_slope (float, optional): LeakyReLU slope. (default: :obj:`0.2`)

    Returns:
        Scores ``[B, H, F, F]``, entry ``[b, k, i, j]`` for the edge
        :math:`j \to i`.

    Example:
        >>> h = torch.randn(2, 3, 4, 8)
        >>> u = torch.randn(3, 8)  # one u = [u_1; u_2; u_3] shared by all heads
        >>> dense_diff_score(h, u[0], u[1], u[2]).shape
        torch.Size([2, 4, 3, 3])
    """
    _check_dense_h(h)
    channels = h.size(-1)
    score_src = _node_score(h, att_src, "att_src").transpose(1, 2).contiguous()  # [B, H, F]
    score_dst = _node_score(h, att_dst, "att_dst").transpose(1, 2).contiguous()  # [B, H, F]
    diff = _heads_view(att_diff, channels, "att_diff")
    _check_heads(diff, h.size(-2), "att_diff")
    h_heads = h.transpose(1, 2).contiguous()  # [B, H, F, D]
    distance = _WeightedL1.apply(h_heads, diff)  # [B, H, F, F]
    score = score_dst.unsqueeze(-1) + score_src.unsqueeze(-2) + distance
    # In place (autograd allows it for slopes >= 0): the sum is a fresh
    # [B, H, F, F] tensor that autograd does not keep, so one fewer is alive.
    return F.leaky_relu(score, negative_slope, inplace=negative_slope >= 0)


def _check_adj(adj: Tensor, score: Tensor) -> Tensor:
    num_features = score.size(-1)
    if adj.dim() not in (2, 3) or tuple(adj.shape[-2:]) != (num_features, num_features):
        raise ValueError(
            f"adj must have shape [{num_features}, {num_features}] or "
            f"[batch_size, {num_features}, {num_features}] (got shape {tuple(adj.shape)})"
        )
    if adj.dim() == 3 and adj.size(0) not in (1, score.size(0)):
        raise ValueError(
            f"adj has {adj.size(0)} graphs but the batch has {score.size(0)} rows "
            f"(got shape {tuple(adj.shape)})"
        )
    return adj if adj.dtype == torch.bool else adj != 0


def masked_softmax(score: Tensor, adj: Tensor | None = None) -> Tensor:
    r"""Softmax of dense scores over the neighbours :math:`j` of each target :math:`i`.

    .. math::
        \alpha_{ij}^{k} = \frac{\exp e_{ij}^{k}}
        {\sum_{l:\, A_{il} \neq 0} \exp e_{il}^{k}}
        \quad\text{if } A_{ij} \neq 0, \qquad \alpha_{ij}^{k} = 0 \text{ otherwise.}

    A target with no neighbour at all gets an all-zero row (and zero
    gradients), never NaN. No data-dependent branch is taken, so the function
    traces under :func:`torch.compile` without graph breaks.

    Args:
        score (torch.Tensor): Scores ``[B, H, F, F]``.
        adj (torch.Tensor, optional): Adjacency ``[F, F]`` or ``[B, F, F]``;
            entry ``[i, j]`` nonzero iff :math:`i` attends to :math:`j`.
            :obj:`None` means the complete graph, self-loops included.
            (default: :obj:`None`)

    Example:
        >>> score = torch.zeros(1, 1, 2, 2)
        >>> masked_softmax(score, torch.tensor([[1, 1], [0, 0]]))
        tensor([[[[0.5000, 0.5000],
                  [0.0000, 0.0000]]]])
    """
    if adj is None:
        return score.softmax(dim=-1)
    adj = _check_adj(adj, score)
    if adj.dim() == 3:
        adj = adj.unsqueeze(1)  # [B, 1, F, F], broadcast over heads
    has_neighbour = adj.any(dim=-1, keepdim=True)
    # Empty rows keep all of their entries so that their softmax stays finite;
    # the result is zeroed afterwards.
    keep = adj | ~has_neighbour
    alpha = score.masked_fill(~keep, float("-inf")).softmax(dim=-1)
    return alpha.masked_fill(~has_neighbour, 0.0)


def dense_aggregate(alpha: Tensor, h: Tensor) -> Tensor:
    r"""Sums the sources of every target, weighted by attention, in every row.

    .. math::
        \mathbf{h}_i'^{k} = \sum_j \alpha_{ij}^{k}\, \mathbf{h}_j^{k}

    One :func:`torch.bmm`. When ``h`` has a single head it is shared by all
    heads of ``alpha`` (:math:`\mathbf{h}_j^{k} = \mathbf{h}_j`) and is not
    copied per head: the ``H`` attention matrices of a row are stacked into
    one ``[H·F, F]`` matrix.

    Args:
        alpha (torch.Tensor): Attention ``[B, H, F, F]``.
        h (torch.Tensor): Features ``[B, F, H, D]``, or ``[B, F, 1, D]`` to
            share them across heads.

    Returns:
        ``[B, F, H, D]``.

    Example:
        >>> alpha = torch.full((1, 1, 2, 2), 0.5)
        >>> dense_aggregate(alpha, torch.tensor([[[[1.0]], [[3.0]]]])).view(-1)
        tensor([2., 2.])
    """
    _check_dense_h(h)
    batch_size, num_features, h_heads, channels = h.shape
    heads = alpha.size(1) if alpha.dim() == 4 else -1
    if (
        heads < 1
        or h_heads not in (1, heads)
        or tuple(alpha.shape)
        != (
            batch_size,
            heads,
            num_features,
            num_features,
        )
    ):
        raise ValueError(
            f"alpha must have shape [{batch_size}, heads, {num_features}, {num_features}] "
            f"with h holding 1 or `heads` heads (got alpha {tuple(alpha.shape)}, "
            f"h {tuple(h.shape)})"
        )
    if channels == 1:
        # A batched matrix-vector product runs one tiny GEMM per row; a
        # broadcast multiply and a sum over the sources is ~3x faster, fwd+bwd.
        values = h.permute(0, 2, 3, 1)  # [B, H or 1, 1, F]
        # A contiguous gradient here keeps the [B, H, F, F] gradients below
        # contiguous too; softmax and cdist would copy them otherwise.
        out = _ContiguousGrad.apply((alpha * values).sum(dim=-1))  # [B, H, F]
        return out.transpose(1, 2).unsqueeze(-1)  # [B, F, H, 1]
    if h_heads == 1:
        # [B, H*F, F] @ [B, F, D]: every head reads the same source values.
        out = torch.bmm(
            alpha.reshape(batch_size, heads * num_features, num_features),
            h.reshape(batch_size, num_features, channels),
        )
        out = _ContiguousGrad.apply(out).view(batch_size, heads, num_features, channels)
        return out.transpose(1, 2)  # [B, F, H, D]
    h_heads_first = h.transpose(1, 2).reshape(batch_size * heads, num_features, channels)
    out = torch.bmm(alpha.reshape(batch_size * heads, num_features, num_features), h_heads_first)
    out = _ContiguousGrad.apply(out).view(batch_size, heads, num_features, channels)
    return out.transpose(1, 2)  # [B, F, H, D]


def dense_attention(
    score: Tensor,
    h: Tensor,
    adj: Tensor | None = None,
    dropout: float = 0.0,
    training: bool = False,
) -> tuple[Tensor, Tensor]:
    r"""Masked softmax, attention dropout and aggregation on dense scores.

    Runs :func:`masked_softmax`, :func:`torch.nn.functional.dropout` (only
    when :obj:`training`) and :func:`dense_aggregate`.

    Args:
        score (torch.Tensor): Scores ``[B, H, F, F]``, e.g. from
            :func:`dense_gat_score` or :func:`dense_diff_score`.
        h (torch.Tensor): Features to aggregate ``[B, F, H, D]``.
        adj (torch.Tensor, optional): Adjacency ``[F, F]`` or ``[B, F, F]``,
            see :func:`masked_softmax`. (default: :obj:`None`)
        dropout (float, optional): Dropout probability of attention
            coefficients. (default: :obj:`0.0`)
        training (bool, optional): Whether dropout is active.
            (default: :obj:`False`)

    Returns:
        ``(out [B, F, H, D], alpha [B, H, F, F])``; :obj:`alpha` is the
        attention after dropout, the one that weighted the sum.

    Example:
        >>> h = torch.randn(2, 3, 1, 4)
        >>> out, alpha = dense_attention(dense_gat_score(h, torch.ones(4), torch.ones(4)), h)
        >>> out.shape, alpha.shape
        (torch.Size([2, 3, 1, 4]), torch.Size([2, 1, 3, 3]))
        >>> torch.allclose(alpha.sum(-1), torch.ones(2, 1, 3))
        True
    """
    alpha = masked_softmax(score, adj)
    alpha = F.dropout(alpha, p=dropout, training=training)
    return dense_aggregate(alpha, h), alpha


def template_to_adj(edge_index: Tensor, num_features: int) -> Tensor:
    r"""Turns a ``[2, E]`` feature template into a dense boolean adjacency.

    Entry ``[i, j]`` is :obj:`True` iff the template holds the edge
    :math:`j \to i` (``edge_index[:, e] == (j, i)``), the layout used by
    :func:`masked_softmax` and the dense layers. Repeated edges collapse into
    one entry.

    Example:
        >>> template_to_adj(torch.tensor([[0, 2], [1, 1]]), 3)
        tensor([[False, False, False],
                [ True, False,  True],
                [False, False, False]])
    """
    adj = torch.zeros(num_features, num_features, dtype=torch.bool, device=edge_index.device)
    adj[edge_index[1], edge_index[0]] = True
    return adj


# Sparse path #################################################################


def sparse_gat_score(
    h: Tensor,
    edge_index: Tensor,
    att_src: Tensor,
    att_dst: Tensor,
    att_bias: Tensor | None = None,
    negative_slope: float = 0.2,
) -> Tensor:
    r"""GAT score of every edge :math:`j \to i` of a sparse graph.

    The same score as :func:`dense_gat_score`, for the edges in
    :obj:`edge_index` only: node scalars are computed once and gathered per
    edge.

    Args:
        h (torch.Tensor): Projected features ``[..., N, H, D]``.
        edge_index (torch.Tensor): ``[2, E]``, row 0 sources, row 1 targets.
        att_src (torch.Tensor): :math:`\mathbf{a}_{\mathrm{src}}`.
        att_dst (torch.Tensor): :math:`\mathbf{a}_{\mathrm{dst}}`.
        att_bias (torch.Tensor, optional): :math:`c` (``H`` or one element).
        negative_slope (float, optional): LeakyReLU slope. (default: :obj:`0.2`)

    Returns:
        Scores ``[..., E, H]``.

    Example:
        >>> h = torch.randn(3, 2, 4)
        >>> edge_index = torch.tensor([[0, 1, 2], [1, 2, 0]])
        >>> sparse_gat_score(h, edge_index, torch.randn(2, 4), torch.randn(2, 4)).shape
        torch.Size([3, 2])
    """
    _check_sparse_h(h, edge_index)
    score_src = _node_score(h, att_src, "att_src")  # [..., N, H]
    score_dst = _node_score(h, att_dst, "att_dst")
    if att_bias is not None:
        score_dst = score_dst + att_bias.reshape(-1)
    score = score_src.index_select(-2, edge_index[0]) + score_dst.index_select(-2, edge_index[1])
    return F.leaky_relu(score, negative_slope)


def diff_edge_score(
    h_i: Tensor,
    h_j: Tensor,
    score_i: Tensor,
    score_j: Tensor,
    att_diff: Tensor,
    negative_slope: float = 0.2,
) -> Tensor:
    r"""Difference-aware score from per-edge features (the sparse kernel).

    .. math::
        e_{ij}^{k} = \mathrm{LeakyReLU}\left(s_i^{k} + s_j^{k} +
        \mathbf{u}_3 \cdot \lvert \mathbf{h}_i^{k} - \mathbf{h}_j^{k} \rvert\right)

    with :math:`s_i = \mathbf{u}_1 \cdot \mathbf{h}_i` and
    :math:`s_j = \mathbf{u}_2 \cdot \mathbf{h}_j` already gathered per edge.
    :func:`sparse_diff_score` calls it; message-passing layers call it from
    ``edge_update``.

    Args:
        h_i (torch.Tensor): Target features per edge ``[..., E, H, D]``, or
            ``[..., E, 1, D]`` to share them across the heads of :obj:`att_diff`.
        h_j (torch.Tensor): Source features per edge, shaped like :obj:`h_i`.
        score_i (torch.Tensor): :math:`s_i` per edge, ``[..., E, H]``.
        score_j (torch.Tensor): :math:`s_j` per edge, ``[..., E, H]``.
        att_diff (torch.Tensor): :math:`\mathbf{u}_3`; reshapes to
            ``[H, D]`` or ``[1, D]``.
        negative_slope (float, optional): LeakyReLU slope. (default: :obj:`0.2`)

    Returns:
        Scores ``[..., E, H]``.
    """
    diff = _heads_view(att_diff, h_i.size(-1), "att_diff")
    # Features with one head are shared by every head of att_diff.
    if h_i.size(-2) != 1:
        _check_heads(diff, h_i.size(-2), "att_diff")
    distance = ((h_i - h_j).abs() * diff).sum(dim=-1)
    return F.leaky_relu(score_i + score_j + distance, negative_slope)


def sparse_diff_score(
    h: Tensor,
    edge_index: Tensor,
    att_dst: Tensor,
    att_src: Tensor,
    att_diff: Tensor,
    negative_slope: float = 0.2,
) -> Tensor:
    r"""Difference-aware score of every edge :math:`j \to i` of a sparse graph.

    The same score as :func:`dense_diff_score`, for the edges in
    :obj:`edge_index` only. It gathers ``h`` once per edge end, i.e. it holds
    two ``[..., E, H, D]`` tensors.

    Args:
        h (torch.Tensor): Projected features ``[..., N, H, D]``.
        edge_index (torch.Tensor): ``[2, E]``, row 0 sources, row 1 targets.
        att_dst (torch.Tensor): :math:`\mathbf{u}_1`, for the target.
        att_src (torch.Tensor): :math:`\mathbf{u}_2`, for the source.
        att_diff (torch.Tensor): :math:`\mathbf{u}_3`.
        negative_slope (float, optional): LeakyReLU slope. (default: :obj:`0.2`)

    Returns:
        Scores ``[..., E, H]``.

    Example:
        >>> h = torch.randn(3, 2, 4)
        >>> edge_index = torch.tensor([[0, 1, 2], [1, 2, 0]])
        >>> u = torch.randn(3, 4)
        >>> sparse_diff_score(h, edge_index, u[0], u[1], u[2]).shape
        torch.Size([3, 2])
    """
    _check_sparse_h(h, edge_index)
    source, target = edge_index[0], edge_index[1]
    score_src = _node_score(h, att_src, "att_src").index_select(-2, source)
    score_dst = _node_score(h, att_dst, "att_dst").index_select(-2, target)
    h_j = h.index_select(-3, source)
    h_i = h.index_select(-3, target)
    return diff_edge_score(h_i, h_j, score_dst, score_src, att_diff, negative_slope)


def segment_softmax(src: Tensor, index: Tensor, num_nodes: int, dim: int = -2) -> Tensor:
    r"""Softmax over the entries of :obj:`src` that share a target in :obj:`index`.

    .. math::
        \alpha_{e} = \frac{\exp(s_e - m_{t(e)})}{\sum_{e':\, t(e') = t(e)} \exp(s_{e'} - m_{t(e)})},
        \qquad m_t = \max_{e:\, t(e) = t} s_e

    Reductions go through :func:`pyg_tabular.utils.scatter`, so torch_scatter
    is used when installed. Edges can come in any order.

    Args:
        src (torch.Tensor): Scores, edges along :obj:`dim`.
        index (torch.Tensor): Target of each edge, ``[E]``.
        num_nodes (int): Number of targets.
        dim (int, optional): The edge dimension. (default: :obj:`-2`)

    Example:
        >>> segment_softmax(torch.zeros(3, 1), torch.tensor([0, 0, 1]), 2).view(-1)
        tensor([0.5000, 0.5000, 1.0000])
    """
    dim = dim + src.dim() if dim < 0 else dim
    if src.size(dim) == 0:
        return src.clone()
    src_max = scatter(src.detach(), index, dim=dim, dim_size=num_nodes, reduce="max")
    out = (src - src_max.index_select(dim, index)).exp()
    # Every target that has an edge sums to at least exp(0) = 1, so the
    # division is safe without an epsilon.
    out_sum = scatter(out, index, dim=dim, dim_size=num_nodes, reduce="sum")
    return out / out_sum.index_select(dim, index)


def sparse_aggregate(
    alpha: Tensor, h: Tensor, edge_index: Tensor, num_nodes: int | None = None
) -> Tensor:
    r"""Sums the sources of every target of a sparse graph, weighted by attention.

    .. math::
        \mathbf{h}_i'^{k} = \sum_{j:\, (j, i) \in \mathcal{E}} \alpha_{ji}^{k}\, \mathbf{h}_j^{k}

    Args:
        alpha (torch.Tensor): Attention ``[..., E, H]``.
        h (torch.Tensor): Features ``[..., N, H, D]``.
        edge_index (torch.Tensor): ``[2, E]``, row 0 sources, row 1 targets.
        num_nodes (int, optional): Number of targets; ``h``'s ``N`` when
            :obj:`None`.

    Returns:
        ``[..., N, H, D]``; nodes without incoming edges get zeros.
    """
    _check_sparse_h(h, edge_index)
    num_nodes = h.size(-3) if num_nodes is None else num_nodes
    message = h.index_select(-3, edge_index[0]) * alpha.unsqueeze(-1)  # [..., E, H, D]
    return scatter(message, edge_index[1], dim=-3, dim_size=num_nodes, reduce="sum")


def sparse_attention(
    score: Tensor,
    h: Tensor,
    edge_index: Tensor,
    dropout: float = 0.0,
    training: bool = False,
    num_nodes: int | None = None,
) -> tuple[Tensor, Tensor]:
    r"""Segment softmax, attention dropout and aggregation on sparse scores.

    The sparse counterpart of :func:`dense_attention`: runs
    :func:`segment_softmax`, :func:`torch.nn.functional.dropout` (only when
    :obj:`training`) and :func:`sparse_aggregate`.

    Args:
        score (torch.Tensor): Scores ``[..., E, H]``, e.g. from
            :func:`sparse_gat_score` or :func:`sparse_diff_score`.
        h (torch.Tensor): Features to aggregate ``[..., N, H, D]``.
        edge_index (torch.Tensor): ``[2, E]``, row 0 sources, row 1 targets.
        dropout (float, optional): Dropout probability of attention
            coefficients. (default: :obj:`0.0`)
        training (bool, optional): Whether dropout is active.
            (default: :obj:`False`)
        num_nodes (int, optional): Number of nodes; ``h``'s ``N`` when
            :obj:`None`.

    Returns:
        ``(out [..., N, H, D], alpha [..., E, H])``.

    Example:
        >>> h = torch.randn(3, 1, 4)
        >>> edge_index = torch.tensor([[0, 1, 2, 0], [1, 1, 0, 2]])
        >>> score = sparse_gat_score(h, edge_index, torch.ones(4), torch.ones(4))
        >>> out, alpha = sparse_attention(score, h, edge_index)
        >>> out.shape, alpha.shape
        (torch.Size([3, 1, 4]), torch.Size([4, 1]))
    """
    _check_sparse_h(h, edge_index)
    num_nodes = h.size(-3) if num_nodes is None else num_nodes
    alpha = segment_softmax(score, edge_index[1], num_nodes, dim=-2)
    alpha = F.dropout(alpha, p=dropout, training=training)
    return sparse_aggregate(alpha, h, edge_index, num_nodes), alpha


def complete_blocks(edge_index: Tensor, num_nodes: int) -> tuple[int, bool] | None:
    r"""Detects the batched complete graph that :func:`~pyg_tabular.data.rows_to_graph` writes.

    Returns ``(F, self_loops)`` when :obj:`edge_index` is exactly ``N / F``
    complete graphs of ``F`` consecutive nodes each, with or without
    self-loops, edges sorted by target and then source (the layout of
    :func:`~pyg_tabular.data.fully_connected_edge_index`, offset per row);
    otherwise :obj:`None`. Such a graph can run on the dense path, and its
    attention maps back to edge order with a reshape. The check costs a few
    passes over :obj:`edge_index` and no sort.

    Example:
        >>> from pyg_tabular.data import rows_to_graph
        >>> complete_blocks(rows_to_graph(torch.zeros(4, 3)).edge_index, 12)
        (3, True)
        >>> complete_blocks(torch.tensor([[1, 0], [0, 1]]), 2)
        (2, False)
        >>> complete_blocks(torch.tensor([[0, 1], [0, 1]]), 3) is None
        True
    """
    # The answer depends on the index's values; under torch.compile that
    # would break the graph, so compiled code takes the generic path.
    if torch.compiler.is_compiling():
        return None
    key = (num_nodes, edge_index._version)
    cached = _COMPLETE_CACHE.get(id(edge_index))
    # The weak reference proves it is the same tensor (ids are reused after
    # a tensor dies); the version counter proves it was not written since.
    if cached is not None and cached[0]() is edge_index and cached[1] == key:
        return cached[2]
    found = _find_complete_blocks(edge_index, num_nodes)
    if len(_COMPLETE_CACHE) >= _COMPLETE_CACHE_SIZE:
        _COMPLETE_CACHE.pop(next(iter(_COMPLETE_CACHE)))
    _COMPLETE_CACHE[id(edge_index)] = (weakref.ref(edge_index), key, found)
    return found


# id(edge_index) -> (weak reference, (num_nodes, version), result): a model
# calls several convs on one edge_index per step, and a static template is
# reused every step.
_COMPLETE_CACHE: dict[int, tuple[Any, tuple[int, int], tuple[int, bool] | None]] = {}
_COMPLETE_CACHE_SIZE = 16


def _find_complete_blocks(edge_index: Tensor, num_nodes: int) -> tuple[int, bool] | None:
    num_edges = edge_index.size(1)
    if num_nodes <= 0 or num_edges == 0 or num_edges % num_nodes != 0:
        return None
    degree = num_edges // num_nodes
    target, source = edge_index[1], edge_index[0]
    nodes = torch.arange(num_nodes, device=edge_index.device)
    # torch.equal against an expanded view reads the index once, without
    # writing a boolean mask.
    if not torch.equal(target.view(num_nodes, degree), nodes.view(-1, 1).expand(-1, degree)):
        return None
    for width, self_loops in ((degree, True), (degree + 1, False)):
        if num_nodes % width != 0:
            continue
        num_blocks = num_nodes // width
        pattern = fully_connected_edge_index(width, self_loops, device=edge_index.device)[0]
        blocks = source.view(num_blocks, width * degree)
        # The first block rejects most other graphs before the full pass.
        if not torch.equal(blocks[0], pattern):
            continue
        offset = nodes[:num_blocks].mul(width).view(-1, 1)
        if torch.equal(blocks, pattern + offset):
            return width, self_loops
    return None


def dense_to_edge_attention(alpha: Tensor, self_loops: bool) -> Tensor:
    r"""Reads dense attention back in the edge order of :func:`complete_blocks`.

    Args:
        alpha (torch.Tensor): ``[B, H, F, F]``.
        self_loops (bool): Whether the complete graph has self-loops.

    Returns:
        ``[B, E_F, H]`` with ``E_F = F²`` (or ``F(F−1)`` without self-loops),
        edges sorted by target and then source.
    """
    batch_size, heads, num_features, _ = alpha.shape
    per_edge = alpha.permute(0, 2, 3, 1)  # [B, F, F, H]
    if self_loops:
        return per_edge.reshape(batch_size, num_features * num_features, heads)
    off_diagonal = ~torch.eye(num_features, dtype=torch.bool, device=alpha.device)
    return per_edge[:, off_diagonal]  # row-major: target, then source


__all__ = [
    "dense_gat_score",
    "dense_diff_score",
    "masked_softmax",
    "dense_aggregate",
    "dense_attention",
    "template_to_adj",
    "sparse_gat_score",
    "diff_edge_score",
    "sparse_diff_score",
    "segment_softmax",
    "sparse_aggregate",
    "sparse_attention",
    "complete_blocks",
    "dense_to_edge_attention",
]
