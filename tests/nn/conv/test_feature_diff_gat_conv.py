import pytest
import torch
import torch.nn.functional as F

import pyg_tabular.typing as pt_typing
from pyg_tabular.data import fully_connected_edge_index, rows_to_graph, to_static_graph
from pyg_tabular.nn.conv import FeatureDiffGATConv


def random_graph(num_nodes, num_edges, seed):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, num_nodes, (2, num_edges), generator=generator)


def shuffled(edge_index, seed=0):
    order = torch.randperm(edge_index.size(1), generator=torch.Generator().manual_seed(seed))
    return edge_index[:, order], order


def brute_force(conv, x, edge_index):
    # One target at a time, straight from AdvancedGraphFeatureLayer's formula.
    heads, channels = conv.heads, conv.out_channels
    h = (x @ conv.lin.weight.t()).view(-1, heads, channels)
    u = conv.att.view(-1, 3, channels).expand(heads, -1, -1)  # [H, 3, D]
    out = torch.zeros(x.size(0), heads, channels, dtype=x.dtype)
    alpha = torch.zeros(edge_index.size(1), heads, dtype=x.dtype)
    for i in range(x.size(0)):
        edges = (edge_index[1] == i).nonzero().view(-1)
        if edges.numel() == 0:
            continue
        h_j = h[edge_index[0, edges]]  # [k, H, D]
        score = (
            (h[i] * u[:, 0]).sum(-1)
            + (h_j * u[:, 1]).sum(-1)
            + ((h[i] - h_j).abs() * u[:, 2]).sum(-1)
        )
        alpha[edges] = F.leaky_relu(score, conv.negative_slope).softmax(dim=0)
        out[i] = (alpha[edges].unsqueeze(-1) * h_j).sum(0)
    out = out.reshape(x.size(0), -1) if conv.concat else out.mean(1)
    return out + conv.bias, alpha


def test_repr_and_parameters():
    conv = FeatureDiffGATConv(1, 8, heads=4)
    assert repr(conv) == "FeatureDiffGATConv(1, 8, heads=4)"
    assert conv.att.shape == (1, 24) and conv.shared_attention
    per_head = FeatureDiffGATConv(1, 8, heads=4, shared_attention=False, concat=False)
    assert per_head.att.shape == (4, 24) and per_head.bias.shape == (8,)
    assert sorted(name for name, _ in conv.named_parameters()) == ["att", "bias", "lin.weight"]


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("heads,concat", [(1, True), (3, True), (3, False)])
# One channel (|h_i - h_j| = |w| |x_i - x_j|), narrower and wider than out_channels.
@pytest.mark.parametrize("in_channels", [1, 2, 6])
@pytest.mark.parametrize("graph", ["random", "complete", "complete-no-loops"])
def test_matches_brute_force(shared, heads, concat, in_channels, graph):
    torch.manual_seed(0)
    if graph == "random":
        x = torch.randn(9, in_channels, dtype=torch.float64)
        edge_index = random_graph(9, 30, seed=1)
    else:
        rows = torch.randn(3, 4, in_channels, dtype=torch.float64)
        batch = rows_to_graph(rows, self_loops=graph == "complete")
        x, edge_index = batch.x, batch.edge_index
    conv = FeatureDiffGATConv(
        in_channels, 4, heads=heads, concat=concat, shared_attention=shared
    ).double()
    torch.nn.init.normal_(conv.bias)
    out, (ei, alpha) = conv(x, edge_index, return_attention_weights=True)
    expected, expected_alpha = brute_force(conv, x, edge_index)
    assert torch.equal(ei, edge_index)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(alpha, expected_alpha)


def test_attention_is_a_distribution_per_target():
    torch.manual_seed(1)
    x, edge_index = torch.randn(10, 3), random_graph(10, 35, seed=2)
    conv = FeatureDiffGATConv(3, 4, heads=2)
    _, (ei, alpha) = conv(x, edge_index, return_attention_weights=True)
    assert alpha.min() >= 0 and alpha.max() <= 1
    sums = torch.zeros(10, 2).index_add_(0, ei[1], alpha)
    targets = torch.unique(ei[1])
    torch.testing.assert_close(sums[targets], torch.ones(len(targets), 2))


@pytest.mark.parametrize("self_loops", [True, False])
def test_dense_fast_path_equals_message_passing(self_loops):
    torch.manual_seed(2)
    batch = rows_to_graph(torch.randn(4, 5, 2), self_loops=self_loops)
    conv = FeatureDiffGATConv(2, 3, heads=2, shared_attention=False).double()
    x = batch.x.double()
    out, (_, alpha) = conv(x, batch.edge_index, return_attention_weights=True)
    edge_index, order = shuffled(batch.edge_index)
    out_mp, (_, alpha_mp) = conv(x, edge_index, return_attention_weights=True)
    torch.testing.assert_close(out, out_mp)
    torch.testing.assert_close(alpha[order], alpha_mp)


def test_batch_equals_one_row_at_a_time():
    torch.manual_seed(3)
    rows = torch.randn(3, 5)
    rows[0, 1] = rows[2, 3] = float("nan")
    batch = rows_to_graph(rows, missing="drop")
    conv = FeatureDiffGATConv(1, 4, heads=2)
    out = conv(batch.x, batch.edge_index)
    for b in range(3):
        graph = batch.get_example(b)
        start, end = int(batch.ptr[b]), int(batch.ptr[b + 1])
        torch.testing.assert_close(out[start:end], conv(graph.x, graph.edge_index))


def test_static_form_and_feature_permutation():
    torch.manual_seed(4)
    rows = torch.randn(3, 5, 2)
    template = random_graph(5, 12, seed=5)
    conv = FeatureDiffGATConv(2, 3, heads=2)
    x, static_template = to_static_graph(rows, edge_index=template)
    out, (_, alpha) = conv(x, static_template, return_attention_weights=True)
    batch = rows_to_graph(rows, edge_index=template)
    out_b, (_, alpha_b) = conv(batch.x, batch.edge_index, return_attention_weights=True)
    torch.testing.assert_close(out.reshape(-1, 6), out_b)
    torch.testing.assert_close(alpha.reshape(-1, 2), alpha_b)

    perm = torch.randperm(5)
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(5)
    for graph in (template, fully_connected_edge_index(5)):
        torch.testing.assert_close(conv(x[:, perm], inverse[graph]), conv(x, graph)[:, perm])


def test_empty_graph_and_one_feature():
    conv = FeatureDiffGATConv(2, 3, heads=2)
    out, (_, alpha) = conv(
        torch.randn(4, 2), torch.zeros(2, 0, dtype=torch.long), return_attention_weights=True
    )
    assert out.shape == (4, 6) and alpha.shape == (0, 2)
    batch = rows_to_graph(torch.randn(2, 1, 2))
    _, (_, alpha) = conv(batch.x, batch.edge_index, return_attention_weights=True)
    torch.testing.assert_close(alpha, torch.ones(2, 2))
    assert conv(torch.randn(0, 4, 2), fully_connected_edge_index(4)).shape == (0, 4, 6)


def test_dropout_only_in_training_and_reset_is_deterministic():
    batch = rows_to_graph(torch.randn(6, 5))
    conv = FeatureDiffGATConv(1, 4, dropout=0.5).eval()
    torch.testing.assert_close(conv(batch.x, batch.edge_index), conv(batch.x, batch.edge_index))
    conv.train()
    _, (_, alpha) = conv(batch.x, batch.edge_index, return_attention_weights=True)
    assert (alpha == 0).any()
    torch.manual_seed(5)
    first = FeatureDiffGATConv(2, 3, heads=2)
    torch.manual_seed(5)
    second = FeatureDiffGATConv(2, 3, heads=2)
    for a, b in zip(first.parameters(), second.parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("graph", ["random", "complete"])
def test_gradcheck(graph):
    torch.manual_seed(6)
    if graph == "random":
        x, edge_index = torch.randn(6, 2, dtype=torch.float64), random_graph(6, 14, seed=7)
    else:
        batch = rows_to_graph(torch.randn(2, 3, 2, dtype=torch.float64))
        x, edge_index = batch.x, batch.edge_index
    conv = FeatureDiffGATConv(2, 3, heads=2, shared_attention=False).double()
    names = [name for name, _ in conv.named_parameters()]

    def fn(inputs, *weights):
        return torch.func.functional_call(conv, dict(zip(names, weights)), (inputs, edge_index))

    assert torch.autograd.gradcheck(fn, (x.requires_grad_(), *conv.parameters()))


@pytest.mark.scatter
@pytest.mark.parametrize("use_torch_scatter", [False, True])
def test_with_and_without_torch_scatter(monkeypatch, use_torch_scatter):
    if use_torch_scatter:
        pytest.importorskip("torch_scatter")
    torch.manual_seed(7)
    x, edge_index = torch.randn(8, 2, dtype=torch.float64), random_graph(8, 24, seed=8)
    conv = FeatureDiffGATConv(2, 3, heads=2).double()
    expected, _ = brute_force(conv, x, edge_index)
    monkeypatch.setattr(pt_typing, "WITH_TORCH_SCATTER", use_torch_scatter)
    torch.testing.assert_close(conv(x, edge_index), expected)


@pytest.mark.slow
def test_torch_compile():
    batch = rows_to_graph(torch.randn(3, 4))
    conv = FeatureDiffGATConv(1, 4, heads=2)
    expected = conv(batch.x, batch.edge_index)
    compiled = torch.compile(conv, backend="aot_eager")
    out = compiled(batch.x, batch.edge_index)
    torch.testing.assert_close(out, expected)
    out.sum().backward()
    edge_index, _ = shuffled(batch.edge_index)
    torch.testing.assert_close(compiled(batch.x, edge_index), expected)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"heads must be a positive int \(got 2.0\)"):
        FeatureDiffGATConv(1, 4, heads=2.0)
    conv = FeatureDiffGATConv(3, 4)
    with pytest.raises(ValueError, match="x must have 3 channels"):
        conv(torch.randn(5, 1), random_graph(5, 6, seed=9))
    with pytest.raises(ValueError, match=r"x must have shape"):
        conv(torch.randn(2, 5, 3, 1), random_graph(5, 6, seed=9))
