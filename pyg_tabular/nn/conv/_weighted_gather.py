r"""Attention-weighted aggregation over a feature template without per-edge messages (private).

.. math::
    \mathbf{o}_{b,i}^{k} = \sum_{e:\, t(e) = i} \alpha_{b,e}^{k}\, \mathbf{h}_{b,s(e)}^{k}

is what :meth:`MessagePassing.propagate` computes for the attention convs,
by writing every message ``[B, E, H, C]`` and scattering it. In the static
form (``B`` rows sharing one ``[2, E]`` template) those messages are the
largest tensors of a step, and autograd keeps them for the backward pass. This
function computes the same sum in chunks of edges, keeping only ``h``,
:math:`\alpha` and the output: the chunked backward pass recomputes what it
needs.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

# Bytes of one chunk's messages: large enough to keep the loop short, small
# enough to stay far below the tensors it replaces.
CHUNK_BYTES = 16 * 2**20


def _chunks(num_edges: int, per_edge: int, element_size: int) -> list[slice]:
    size = max(1, CHUNK_BYTES // max(1, per_edge * element_size))
    return [slice(start, min(start + size, num_edges)) for start in range(0, num_edges, size)]


class _WeightedGatherSum(torch.autograd.Function):
    # Nodes and edges are moved to the front: gathering and adding whole rows
    # of a contiguous [N, ..., H, C] tensor is several times faster on CPU than
    # indexing the node dimension in the middle of [B, N, H, C].
    @staticmethod
    def forward(  # type: ignore[override]
        ctx, h: Tensor, alpha: Tensor, source: Tensor, target: Tensor, num_targets: int
    ) -> Tensor:
        # h [..., N, H or 1, C], alpha [..., E, H] -> [..., num_targets, H, C]
        nodes = h.movedim(-3, 0).contiguous()  # [N, ..., H or 1, C]
        weights = alpha.movedim(-2, 0).contiguous()  # [E, ..., H]
        out = h.new_zeros((num_targets, *nodes.shape[1:-2], alpha.size(-1), h.size(-1)))
        per_edge = out[0].numel()
        for part in _chunks(source.numel(), per_edge, h.element_size()):
            message = nodes.index_select(0, source[part]) * weights[part].unsqueeze(-1)
            out.index_add_(0, target[part], message)
        ctx.save_for_backward(nodes, weights, source, target)
        return out.movedim(0, -3)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        nodes, weights, source, target = ctx.saved_tensors
        grad = grad.movedim(-3, 0).contiguous()  # [T, ..., H, C]
        grad_nodes = torch.zeros_like(nodes) if ctx.needs_input_grad[0] else None
        grad_weights = torch.empty_like(weights) if ctx.needs_input_grad[1] else None
        per_edge = grad[0].numel()
        for part in _chunks(source.numel(), per_edge, grad.element_size()):
            incoming = grad.index_select(0, target[part])  # [c, ..., H, C]
            if grad_nodes is not None:
                weighted = incoming * weights[part].unsqueeze(-1)
                if nodes.size(-2) == 1 and weighted.size(-2) != 1:
                    weighted = weighted.sum(dim=-2, keepdim=True)  # h shared by the heads
                grad_nodes.index_add_(0, source[part], weighted)
            if grad_weights is not None:
                values = nodes.index_select(0, source[part])
                grad_weights[part] = (incoming * values).sum(dim=-1)
        grad_h = None if grad_nodes is None else grad_nodes.movedim(0, -3)
        grad_alpha = None if grad_weights is None else grad_weights.movedim(0, -2)
        return grad_h, grad_alpha, None, None, None


def weighted_gather_sum(h: Tensor, alpha: Tensor, edge_index: Tensor, num_targets: int) -> Tensor:
    r"""``[..., num_targets, H, C]``: each target's sum of its sources' ``h``
    (``[..., N, H, C]``, or ``[..., N, 1, C]`` shared by the heads) weighted by
    the attention ``alpha`` ``[..., E, H]`` of the edges ``[2, E]``."""
    return _WeightedGatherSum.apply(h, alpha, edge_index[0], edge_index[1], num_targets)
