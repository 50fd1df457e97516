r"""The fused dense attention step of a difference-aware score on a shared
scalar embedding, with a hand-written backward.

:class:`~pyg_tabular.nn.tabular.AdvancedGraphFeatureLayer` with its shared
embedding scores pairs of features from two numbers per feature (see its
docstring); this module holds that step as one :class:`torch.autograd.Function`
so that the layer's file holds the layer only.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

# The Keras layer fixes the LeakyReLU slope of its edge scores.
NEGATIVE_SLOPE = 0.2


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


class FusedDiffAttention(torch.autograd.Function):
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


def fused_diff_sums(
    node_dst: Tensor, node_src: Tensor, x: Tensor, adj: Tensor | None, coef: Tensor, dropout: float
) -> Tensor:
    """:class:`FusedDiffAttention`'s sums alone, in the argument order of a row-chunk step."""
    return FusedDiffAttention.apply(node_dst, node_src, coef, x, adj, dropout)[0]


__all__ = ["FusedDiffAttention", "fused_diff_sums"]
