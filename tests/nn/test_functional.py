import pytest
import torch
import torch.nn.functional as F
from torch_geometric.utils import softmax as pyg_softmax

import pyg_tabular.typing as pt_typing
from pyg_tabular.data import fully_connected_edge_index, rows_to_graph
from pyg_tabular.nn import functional as FF

DTYPE = torch.float64


def pair_scores(h, att_dst, att_src, att_diff=None, bias=None, slope=0.2):
    # Straight from the formula, one (target, source) pair tensor at a time:
    # [B, H, F, F, D] pairs, the thing the library avoids.
    heads, channels = h.size(2), h.size(3)
    h_i = h.permute(0, 2, 1, 3).unsqueeze(3)  # [B, H, F, 1, D], target
    h_j = h.permute(0, 2, 1, 3).unsqueeze(2)  # [B, H, 1, F, D], source
    u1 = att_dst.reshape(-1, channels).expand(heads, -1).view(1, heads, 1, 1, channels)
    u2 = att_src.reshape(-1, channels).expand(heads, -1).view(1, heads, 1, 1, channels)
    score = (h_i * u1).sum(-1) + (h_j * u2).sum(-1)
    if att_diff is not None:
        u3 = att_diff.reshape(-1, channels).expand(heads, -1).view(1, heads, 1, 1, channels)
        score = score + ((h_i - h_j).abs() * u3).sum(-1)
    if bias is not None:
        score = score + bias.view(1, -1, 1, 1)
    return F.leaky_relu(score, slope)


def random_template(num_features, num_edges, generator):
    # Random graph without repeated edges (a dense mask cannot hold repeats).
    cells = torch.randperm(num_features * num_features, generator=generator)[:num_edges]
    return torch.stack([cells % num_features, cells // num_features])  # [source, target]


@pytest.mark.parametrize("heads", [1, 3])
@pytest.mark.parametrize("with_bias", [False, True])
def test_dense_gat_score_matches_pairwise_formula(heads, with_bias):
    torch.manual_seed(0)
    h = torch.randn(2, 5, heads, 4, dtype=DTYPE)
    att_src, att_dst = torch.randn(1, heads, 4, dtype=DTYPE), torch.randn(1, heads, 4, dtype=DTYPE)
    bias = torch.randn(heads, dtype=DTYPE) if with_bias else None
    out = FF.dense_gat_score(h, att_src, att_dst, bias, negative_slope=0.3)
    torch.testing.assert_close(out, pair_scores(h, att_dst, att_src, bias=bias, slope=0.3))


@pytest.mark.parametrize("slope", [0.0, -0.5])
def test_dense_scores_differentiate_for_any_slope(slope):
    h = torch.randn(2, 4, 1, 3, dtype=DTYPE, requires_grad=True)
    u = torch.randn(3, 3, dtype=DTYPE)
    for score, expected in [
        (FF.dense_gat_score(h, u[1], u[0], None, slope), pair_scores(h, u[0], u[1], slope=slope)),
        (
            FF.dense_diff_score(h, u[0], u[1], u[2], slope),
            pair_scores(h, u[0], u[1], u[2], slope=slope),
        ),
    ]:
        grad_out = torch.randn_like(score) * (1 - torch.eye(4, dtype=DTYPE))
        torch.testing.assert_close(score, expected)
        torch.testing.assert_close(
            torch.autograd.grad(score, h, grad_out), torch.autograd.grad(expected, h, grad_out)
        )


@pytest.mark.parametrize("shared", [True, False])
def test_dense_diff_score_matches_pairwise_formula_forward_and_backward(shared):
    torch.manual_seed(1)
    heads = 3
    h = torch.randn(2, 6, heads, 4, dtype=DTYPE, requires_grad=True)
    u = torch.randn(1 if shared else heads, 3, 4, dtype=DTYPE)
    u[..., 2, 0] = 0.0  # an exact zero in u_3 must not lose its gradient
    u.requires_grad_()
    grad_out = torch.randn(2, heads, 6, 6, dtype=DTYPE)

    out = FF.dense_diff_score(h, u[:, 0], u[:, 1], u[:, 2])
    grads = torch.autograd.grad(out, (h, u), grad_out)
    expected = pair_scores(h, u[:, 0], u[:, 1], u[:, 2])
    expected_grads = torch.autograd.grad(expected, (h, u), grad_out)

    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(grads[1], expected_grads[1])
    # |h_i - h_j| is not differentiable at h_i = h_j (the diagonal): compare
    # the input gradient where every pair differs, i.e. off the diagonal.
    off_diagonal = grad_out * (1 - torch.eye(6, dtype=DTYPE))
    grad_h = torch.autograd.grad(FF.dense_diff_score(h, u[:, 0], u[:, 1], u[:, 2]), h, off_diagonal)
    expected_h = torch.autograd.grad(pair_scores(h, u[:, 0], u[:, 1], u[:, 2]), h, off_diagonal)
    torch.testing.assert_close(grad_h[0], expected_h[0])


def test_dense_diff_score_never_builds_a_pair_tensor():
    from torch.utils._python_dispatch import TorchDispatchMode

    batch, features, heads, channels = 2, 16, 2, 8
    limit = batch * heads * features * features * channels

    class LargestTensor(TorchDispatchMode):
        largest = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for value in out if isinstance(out, (tuple, list)) else [out]:
                if isinstance(value, torch.Tensor):
                    LargestTensor.largest = max(LargestTensor.largest, value.numel())
            return out

    h = torch.randn(batch, features, heads, channels, requires_grad=True)
    u = torch.randn(3, channels, requires_grad=True)
    with LargestTensor():
        FF.dense_diff_score(h, u[0], u[1], u[2]).sum().backward()
    # [B, H, F, F] (scores) is the largest; [B, H, F, F, D] never appears.
    assert 0 < LargestTensor.largest <= limit // channels


def test_masked_softmax_leaves_out_masked_pairs_and_zeroes_empty_rows():
    torch.manual_seed(2)
    score = torch.randn(3, 2, 4, 4, dtype=DTYPE, requires_grad=True)
    adj = torch.rand(3, 4, 4) > 0.4
    adj[0, 1] = False  # row 0, target 1: no neighbour at all
    alpha = FF.masked_softmax(score, adj)
    for b in range(3):
        for k in range(2):
            for i in range(4):
                picked = adj[b, i]
                if picked.any():
                    expected = torch.zeros(4, dtype=DTYPE)
                    expected[picked] = score[b, k, i, picked].softmax(-1)
                    torch.testing.assert_close(alpha[b, k, i], expected)
                else:
                    assert torch.equal(alpha[b, k, i], torch.zeros(4, dtype=DTYPE))
    (grad,) = torch.autograd.grad((alpha * torch.randn_like(alpha)).sum(), score)
    assert torch.isfinite(grad).all()
    assert torch.equal(grad[0, :, 1], torch.zeros(2, 4, dtype=DTYPE))


def test_masked_softmax_accepts_shared_numeric_adjacency_and_none():
    score = torch.randn(2, 1, 3, 3)
    adj = torch.tensor([[1.0, 0.0, 2.0], [0.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    torch.testing.assert_close(FF.masked_softmax(score, adj), FF.masked_softmax(score, adj != 0))
    torch.testing.assert_close(FF.masked_softmax(score), score.softmax(-1))
    with pytest.raises(ValueError, match=r"adj must have shape \[3, 3\]"):
        FF.masked_softmax(score, torch.ones(3, 4))
    with pytest.raises(ValueError, match="adj has 5 graphs"):
        FF.masked_softmax(score, torch.ones(5, 3, 3))


@pytest.mark.parametrize("heads,value_heads,channels", [(1, 1, 1), (3, 3, 1), (3, 1, 4), (3, 3, 4)])
def test_dense_aggregate_matches_einsum(heads, value_heads, channels):
    torch.manual_seed(3)
    alpha = torch.rand(2, heads, 5, 5, dtype=DTYPE)
    h = torch.randn(2, 5, value_heads, channels, dtype=DTYPE)
    expected = torch.einsum("bkij,bjkd->bikd", alpha, h.expand(-1, -1, heads, -1))
    torch.testing.assert_close(FF.dense_aggregate(alpha, h), expected)


def test_dense_aggregate_backward_of_a_summed_output():
    # out.sum() sends back an expanded gradient; the result must not change.
    alpha = torch.rand(4, 2, 3, 3, dtype=DTYPE, requires_grad=True)
    h = torch.randn(4, 3, 2, 5, dtype=DTYPE, requires_grad=True)
    grads = torch.autograd.grad(FF.dense_aggregate(alpha, h).sum(), (alpha, h))
    expected = torch.autograd.grad(torch.einsum("bkij,bjkd->bikd", alpha, h).sum(), (alpha, h))
    torch.testing.assert_close(grads, expected)


def test_dense_aggregate_rejects_mismatched_heads():
    with pytest.raises(ValueError, match="alpha must have shape"):
        FF.dense_aggregate(torch.rand(1, 3, 2, 2), torch.randn(1, 2, 2, 4))


def test_template_to_adj_orients_rows_as_targets():
    adj = FF.template_to_adj(torch.tensor([[0, 2, 2], [1, 1, 0]]), 3)
    expected = torch.zeros(3, 3, dtype=torch.bool)
    expected[1, 0] = expected[1, 2] = expected[0, 2] = True
    assert torch.equal(adj, expected)


@pytest.mark.parametrize("diff", [False, True])
def test_sparse_attention_equals_dense_attention_on_the_same_graph(diff):
    generator = torch.Generator().manual_seed(4)
    batch, features, heads, channels = 3, 6, 2, 4
    h = torch.randn(batch, features, heads, channels, dtype=DTYPE, generator=generator)
    u = torch.randn(3, heads, channels, dtype=DTYPE, generator=generator)
    template = random_template(features, 20, generator)
    adj = FF.template_to_adj(template, features)
    if diff:
        dense_score = FF.dense_diff_score(h, u[0], u[1], u[2])
        sparse_score = FF.sparse_diff_score(h, template, u[0], u[1], u[2])
    else:
        dense_score = FF.dense_gat_score(h, u[1], u[0])
        sparse_score = FF.sparse_gat_score(h, template, u[1], u[0])
    dense_out, dense_alpha = FF.dense_attention(dense_score, h, adj)
    sparse_out, sparse_alpha = FF.sparse_attention(sparse_score, h, template)  # static form
    torch.testing.assert_close(sparse_out, dense_out)
    torch.testing.assert_close(sparse_alpha, dense_alpha[:, :, template[1], template[0]].mT)

    assert_batched_form_agrees(sparse_score, h, template, dense_out, sparse_alpha)


def assert_batched_form_agrees(edge_score, h, template, dense_out, edge_alpha):
    # The batched form of the same graph (template offset per row) gives the
    # same numbers as the static form.
    batch, features, heads, channels = h.shape
    graph = rows_to_graph(torch.zeros(batch, features), edge_index=template)
    flat_out, flat_alpha = FF.sparse_attention(
        edge_score.reshape(-1, heads), h.reshape(-1, heads, channels), graph.edge_index
    )
    torch.testing.assert_close(flat_out.view_as(dense_out), dense_out)
    torch.testing.assert_close(flat_alpha.view_as(edge_alpha), edge_alpha)


@pytest.mark.scatter
@pytest.mark.parametrize("use_torch_scatter", [False, True])
def test_segment_softmax_matches_pyg_with_and_without_torch_scatter(monkeypatch, use_torch_scatter):
    if use_torch_scatter:
        pytest.importorskip("torch_scatter")
    monkeypatch.setattr(pt_typing, "WITH_TORCH_SCATTER", use_torch_scatter)
    torch.manual_seed(5)
    src = torch.randn(30, 3, dtype=DTYPE)
    index = torch.randint(0, 8, (30,))
    out = FF.segment_softmax(src, index, 9, dim=0)
    torch.testing.assert_close(out, pyg_softmax(src, index, num_nodes=9), rtol=0, atol=1e-12)
    sums = torch.zeros(9, 3, dtype=DTYPE).index_add_(0, index, out)
    present = torch.zeros(9, dtype=torch.bool)
    present[index] = True
    torch.testing.assert_close(sums[present], torch.ones_like(sums[present]))
    # Edges along another dimension (the static form) give the same numbers.
    out_t = FF.segment_softmax(src.t().contiguous(), index, 9, dim=-1)
    torch.testing.assert_close(out_t, out.t())


def test_segment_softmax_of_no_edges():
    out = FF.segment_softmax(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long), 4)
    assert out.shape == (0, 2)


@pytest.mark.parametrize("self_loops", [True, False])
def test_complete_blocks_detects_rows_to_graph_layout(self_loops):
    graph = rows_to_graph(torch.zeros(5, 4), self_loops=self_loops)
    assert FF.complete_blocks(graph.edge_index, 20) == (4, self_loops)
    template = fully_connected_edge_index(4, self_loops)
    assert FF.complete_blocks(template, 4) == (4, self_loops)


def test_complete_blocks_rejects_other_graphs():
    edge_index = rows_to_graph(torch.zeros(5, 4)).edge_index
    shuffled = edge_index[:, torch.randperm(edge_index.size(1), generator=torch.Generator())]
    assert FF.complete_blocks(shuffled, 20) is None
    one_wrong = edge_index.clone()
    one_wrong[0, -1] = 0  # last edge's source moved to another row
    assert FF.complete_blocks(one_wrong, 20) is None
    assert FF.complete_blocks(edge_index, 21) is None  # an isolated extra node
    missing = rows_to_graph(torch.tensor([[1.0, float("nan")], [1.0, 2.0]]), missing="drop")
    assert FF.complete_blocks(missing.edge_index, 3) is None
    assert FF.complete_blocks(torch.zeros(2, 0, dtype=torch.long), 3) is None


@pytest.mark.parametrize("self_loops", [True, False])
def test_dense_to_edge_attention_follows_edge_order(self_loops):
    alpha = torch.rand(2, 3, 4, 4)
    template = fully_connected_edge_index(4, self_loops)
    expected = alpha[:, :, template[1], template[0]].mT  # [B, E, H]
    torch.testing.assert_close(FF.dense_to_edge_attention(alpha, self_loops), expected)


def test_attention_vectors_are_validated():
    h = torch.randn(2, 3, 4, 8)
    with pytest.raises(ValueError, match=r"att_src must reshape to \[heads, 8\]"):
        FF.dense_gat_score(h, torch.randn(7), torch.randn(8))
    with pytest.raises(ValueError, match="att_dst has 2 head vectors but h has 4 heads"):
        FF.dense_gat_score(h, torch.randn(8), torch.randn(2, 8))
    with pytest.raises(ValueError, match="h must have shape"):
        FF.dense_gat_score(h[0], torch.randn(8), torch.randn(8))
    with pytest.raises(ValueError, match=r"edge_index must have shape \[2, num_edges\]"):
        FF.sparse_gat_score(h[0], torch.zeros(3, 2, dtype=torch.long), torch.randn(8), h[0, 0, 0])


@pytest.mark.scatter
@pytest.mark.parametrize("use_torch_scatter", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_segment_softmax_equals_torch_softmax_on_scores_of_about_1e3(
    monkeypatch, use_torch_scatter, dtype
):
    # exp(1e3) overflows every float type: the softmax must subtract each
    # target's maximum first, as torch.softmax does.
    if use_torch_scatter:
        pytest.importorskip("torch_scatter")
    monkeypatch.setattr(pt_typing, "WITH_TORCH_SCATTER", use_torch_scatter)
    generator = torch.Generator().manual_seed(6)
    index = torch.arange(7).repeat_interleave(torch.arange(1, 8))  # target t has t + 1 edges
    index = index[torch.randperm(index.numel(), generator=generator)]
    src = torch.randn(index.numel(), 3, generator=generator, dtype=dtype)
    src = src * (1e3 / src.abs().max())
    out = FF.segment_softmax(src, index, 8, dim=0)  # target 7 has no edge
    assert torch.isfinite(out).all()
    for target in range(7):
        picked = index == target
        torch.testing.assert_close(out[picked], torch.softmax(src[picked], dim=0))
    # Edges along the last dimension: the same numbers.
    out_t = FF.segment_softmax(src.t().contiguous(), index, 8, dim=-1)
    torch.testing.assert_close(out_t, out.t())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sparse_and_dense_attention_agree_on_scores_of_about_1e3(dtype):
    generator = torch.Generator().manual_seed(7)
    batch, features, heads, channels = 3, 6, 2, 4
    h = torch.randn(batch, features, heads, channels, dtype=dtype, generator=generator)
    template = random_template(features, 24, generator)
    adj = FF.template_to_adj(template, features)
    score = torch.randn(batch, heads, features, features, dtype=dtype, generator=generator)
    score = score * (1e3 / score.abs().max())  # [B, H, target, source]
    # The same numbers, one per edge of the template: [B, E, H].
    edge_score = score[:, :, template[1], template[0]].mT

    dense_out, dense_alpha = FF.dense_attention(score, h, adj)
    sparse_out, sparse_alpha = FF.sparse_attention(edge_score, h, template)
    assert torch.isfinite(dense_out).all() and torch.isfinite(sparse_out).all()
    torch.testing.assert_close(sparse_out, dense_out)
    torch.testing.assert_close(sparse_alpha, dense_alpha[:, :, template[1], template[0]].mT)
    assert_batched_form_agrees(edge_score, h, template, dense_out, sparse_alpha)
