"""The fused autograd Function behind AdvancedGraphFeatureLayer's shared-embedding path."""

import pytest
import torch
import torch.nn.functional as F

from pyg_tabular.nn._fused_diff_attention import FusedDiffAttention
from pyg_tabular.nn.functional import masked_softmax

B, H, NUM_FEATURES = 3, 2, 5


def inputs(seed=1):
    generator = torch.Generator().manual_seed(seed)

    def draw(*shape):
        values = torch.randn(*shape, generator=generator, dtype=torch.float64)
        return values.requires_grad_()

    return draw(B, H, NUM_FEATURES), draw(B, H, NUM_FEATURES), draw(H), draw(B, NUM_FEATURES)


def adjacencies():
    generator = torch.Generator().manual_seed(2)
    batched = torch.rand(B, NUM_FEATURES, NUM_FEATURES, generator=generator) > 0.4
    batched[0, 2] = False  # a target with no neighbour
    shared = torch.rand(NUM_FEATURES, NUM_FEATURES, generator=generator) > 0.3
    return [None, shared, batched]


def reference(node_dst, node_src, coef, x, adj):
    # The math written out with autograd: pair scores, LeakyReLU, masked softmax,
    # then sums over the basis [x_j, 1].
    distance = (x.unsqueeze(-1) - x.unsqueeze(-2)).abs().unsqueeze(1)
    score = node_dst.unsqueeze(-1) + node_src.unsqueeze(-2) + coef.view(1, -1, 1, 1) * distance
    alpha = masked_softmax(F.leaky_relu(score, 0.2), adj)
    basis = torch.stack([x, torch.ones_like(x)], dim=-1)
    return torch.einsum("bhij,bjc->bhic", alpha, basis), alpha


@pytest.mark.parametrize("adj_index", [0, 1, 2])
@pytest.mark.parametrize("use", ["sums", "attention", "both"])
def test_gradcheck(adj_index, use):
    adj = adjacencies()[adj_index]

    def fn(node_dst, node_src, coef, x):
        sums, alpha = FusedDiffAttention.apply(node_dst, node_src, coef, x, adj, 0.0)
        weights = torch.arange(alpha.numel(), dtype=alpha.dtype).view_as(alpha).sin()
        if use == "sums":
            return sums
        if use == "attention":
            return (alpha * weights).sum()
        return sums.sum() + (alpha * weights).sum()

    assert torch.autograd.gradcheck(fn, inputs())


@pytest.mark.parametrize("adj_index", [0, 2])
def test_matches_plain_autograd(adj_index):
    adj = adjacencies()[adj_index]
    args = inputs()
    upstream = torch.randn(B, H, NUM_FEATURES, 2, dtype=torch.float64)
    sums, alpha = FusedDiffAttention.apply(*args, adj, 0.0)
    grads = torch.autograd.grad((sums * upstream).sum(), args)
    ref_sums, ref_alpha = reference(*args, adj)
    ref_grads = torch.autograd.grad((ref_sums * upstream).sum(), args)
    torch.testing.assert_close(sums, ref_sums, atol=1e-12, rtol=0)
    torch.testing.assert_close(alpha, ref_alpha, atol=1e-12, rtol=0)
    for got, expected in zip(grads, ref_grads):
        torch.testing.assert_close(got, expected, atol=1e-12, rtol=0)


def test_dropout_gradients_match_autograd_with_the_same_mask():
    args = inputs()
    torch.manual_seed(5)
    sums, dropped = FusedDiffAttention.apply(*args, None, 0.3)
    upstream = torch.randn_like(sums)
    grads = torch.autograd.grad((sums * upstream).sum(), args)
    _, alpha = reference(*args, None)
    # The kept entries of the returned attention reveal the mask that was drawn.
    mask = (dropped != 0).to(alpha.dtype) / 0.7
    x = args[3]
    ref_sums = torch.einsum(
        "bhij,bjc->bhic", alpha * mask, torch.stack([x, torch.ones_like(x)], dim=-1)
    )
    ref_grads = torch.autograd.grad((ref_sums * upstream).sum(), args)
    torch.testing.assert_close(sums, ref_sums, atol=1e-12, rtol=0)
    for got, expected in zip(grads, ref_grads):
        torch.testing.assert_close(got, expected, atol=1e-12, rtol=0)
