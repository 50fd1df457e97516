import pytest
import torch
from torch_geometric.nn import GATConv

import pyg_tabular.typing as pt_typing
from pyg_tabular.data import fully_connected_edge_index, rows_to_graph, to_static_graph
from pyg_tabular.nn.conv import FeatureGATConv


def random_graph(num_nodes, num_edges, seed):
    # Any graph: repeated edges, self-loops and isolated nodes allowed.
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, num_nodes, (2, num_edges), generator=generator)


def shuffled(edge_index, seed=0):
    order = torch.randperm(edge_index.size(1), generator=torch.Generator().manual_seed(seed))
    return edge_index[:, order], order


def check_attention(edge_index, alpha, num_nodes):
    assert alpha.min() >= 0 and alpha.max() <= 1
    sums = torch.zeros(num_nodes, alpha.size(-1), dtype=alpha.dtype)
    sums.index_add_(0, edge_index[1], alpha)
    has_edges = torch.zeros(num_nodes, dtype=torch.bool)
    has_edges[edge_index[1]] = True
    torch.testing.assert_close(sums[has_edges], torch.ones_like(sums[has_edges]))


def test_repr_and_attributes():
    conv = FeatureGATConv(1, 16, heads=4, concat=False, dropout=0.1, att_bias=False)
    assert repr(conv) == "FeatureGATConv(1, 16, heads=4)"
    assert (conv.heads, conv.concat, conv.dropout, conv.add_self_loops) == (4, False, 0.1, False)
    assert conv.att_bias is None and conv.bias.shape == (16,)
    assert FeatureGATConv(3, 8, bias=False).bias is None


@pytest.mark.parametrize("heads", [1, 4])
@pytest.mark.parametrize("concat", [True, False])
@pytest.mark.parametrize("in_channels", [3, 16])  # narrower and wider than out_channels
@pytest.mark.parametrize("graph", ["random", "complete"])
def test_matches_gatconv_with_copied_weights(heads, concat, in_channels, graph):
    torch.manual_seed(0)
    if graph == "random":
        x, edge_index = torch.randn(12, in_channels), random_graph(12, 40, seed=1)
    else:
        batch = rows_to_graph(torch.randn(4, 5, in_channels))
        x, edge_index = batch.x, batch.edge_index
    reference = GATConv(in_channels, 8, heads=heads, concat=concat, add_self_loops=False)
    conv = FeatureGATConv(in_channels, 8, heads=heads, concat=concat, att_bias=False)
    conv.load_state_dict(reference.state_dict())
    torch.nn.init.normal_(conv.bias)  # bias is zero-initialised: give it a value
    reference.bias.data.copy_(conv.bias.data)

    out, (ei, alpha) = conv(x, edge_index, return_attention_weights=True)
    expected, (expected_ei, expected_alpha) = reference(
        x, edge_index, return_attention_weights=True
    )
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)
    assert torch.equal(ei, expected_ei)
    torch.testing.assert_close(alpha, expected_alpha, rtol=0, atol=1e-6)
    check_attention(ei, alpha, x.size(0))


def test_add_self_loops_matches_gatconv():
    torch.manual_seed(1)
    x, edge_index = torch.randn(10, 4), random_graph(10, 25, seed=2)
    reference = GATConv(4, 6, heads=2, add_self_loops=True)
    conv = FeatureGATConv(4, 6, heads=2, add_self_loops=True, att_bias=False)
    conv.load_state_dict(reference.state_dict())
    out, (ei, alpha) = conv(x, edge_index, return_attention_weights=True)
    expected, (expected_ei, expected_alpha) = reference(
        x, edge_index, return_attention_weights=True
    )
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)
    assert torch.equal(ei, expected_ei)
    torch.testing.assert_close(alpha, expected_alpha, rtol=0, atol=1e-6)


def test_state_dict_loads_back_into_gatconv():
    conv = FeatureGATConv(3, 5, heads=2, att_bias=False)
    reference = GATConv(3, 5, heads=2, add_self_loops=False)
    reference.load_state_dict(conv.state_dict())
    x, edge_index = torch.randn(7, 3), random_graph(7, 20, seed=3)
    torch.testing.assert_close(reference(x, edge_index), conv(x, edge_index))


def brute_force(conv, x, edge_index):
    # One target at a time, straight from the formula, score bias included.
    heads, channels = conv.heads, conv.out_channels
    h = (x @ conv.lin.weight.t()).view(-1, heads, channels)
    out = torch.zeros(x.size(0), heads, channels, dtype=x.dtype)
    alpha = torch.zeros(edge_index.size(1), heads, dtype=x.dtype)
    for i in range(x.size(0)):
        edges = (edge_index[1] == i).nonzero().view(-1)
        if edges.numel() == 0:
            continue
        h_j = h[edge_index[0, edges]]  # [k, H, C]
        score = (h[i] * conv.att_dst[0]).sum(-1) + (h_j * conv.att_src[0]).sum(-1)
        score = torch.nn.functional.leaky_relu(score + conv.att_bias, conv.negative_slope)
        alpha[edges] = score.softmax(dim=0)
        out[i] = (alpha[edges].unsqueeze(-1) * h_j).sum(0)
    out = out.reshape(x.size(0), -1) if conv.concat else out.mean(1)
    return out + conv.bias, alpha


@pytest.mark.parametrize("graph", ["random", "complete"])
def test_score_bias_matches_brute_force(graph):
    torch.manual_seed(2)
    if graph == "random":
        x, edge_index = torch.randn(8, 2, dtype=torch.float64), random_graph(8, 20, seed=4)
    else:
        batch = rows_to_graph(torch.randn(3, 4, 2, dtype=torch.float64))
        x, edge_index = batch.x, batch.edge_index
    conv = FeatureGATConv(2, 4, heads=2, negative_slope=0.1).double()
    with torch.no_grad():
        conv.att_bias.copy_(torch.tensor([2.0, -1.5]))  # moves scores across 0
        conv.bias.normal_()
    out, (_, alpha) = conv(x, edge_index, return_attention_weights=True)
    expected, expected_alpha = brute_force(conv, x, edge_index)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(alpha, expected_alpha)


@pytest.mark.parametrize("self_loops", [True, False])
@pytest.mark.parametrize("heads", [1, 3])
def test_dense_fast_path_equals_message_passing(self_loops, heads):
    # The complete graph in canonical order takes the dense path; the same
    # graph with shuffled edges takes propagate. Both must agree.
    torch.manual_seed(3)
    batch = rows_to_graph(torch.randn(5, 6, 2), self_loops=self_loops)
    conv = FeatureGATConv(2, 4, heads=heads).double()
    torch.nn.init.normal_(conv.att_bias)
    x = batch.x.double()
    out, (_, alpha) = conv(x, batch.edge_index, return_attention_weights=True)
    edge_index, order = shuffled(batch.edge_index)
    out_mp, (ei_mp, alpha_mp) = conv(x, edge_index, return_attention_weights=True)
    torch.testing.assert_close(out, out_mp)
    torch.testing.assert_close(alpha[order], alpha_mp)
    check_attention(ei_mp, alpha_mp, x.size(0))


def test_invariant_to_edge_order_on_any_graph():
    torch.manual_seed(4)
    x, edge_index = torch.randn(9, 3), random_graph(9, 30, seed=5)
    conv = FeatureGATConv(3, 4, heads=2)
    out, (_, alpha) = conv(x, edge_index, return_attention_weights=True)
    permuted, order = shuffled(edge_index, seed=1)
    out_p, (_, alpha_p) = conv(x, permuted, return_attention_weights=True)
    torch.testing.assert_close(out_p, out)
    torch.testing.assert_close(alpha_p, alpha[order])


def test_target_to_source_flow_reverses_the_edges():
    torch.manual_seed(13)
    batch = rows_to_graph(torch.randn(3, 4))
    conv = FeatureGATConv(1, 4, heads=2)
    reverse = FeatureGATConv(1, 4, heads=2, flow="target_to_source")
    reverse.load_state_dict(conv.state_dict())
    # Row 1 of the canonical complete graph is sorted, as the dense path
    # expects of targets; under target_to_source it holds the sources.
    out, (_, alpha) = reverse(batch.x, batch.edge_index, return_attention_weights=True)
    flipped = batch.edge_index.flip(0)
    expected, (_, expected_alpha) = conv(batch.x, flipped, return_attention_weights=True)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(alpha, expected_alpha)


def test_batch_equals_one_row_at_a_time():
    torch.manual_seed(5)
    rows = torch.randn(4, 5)
    rows[1, 2] = rows[3, 0] = rows[3, 4] = float("nan")  # rows of different sizes
    batch = rows_to_graph(rows, missing="drop")
    conv = FeatureGATConv(1, 6, heads=2)
    out = conv(batch.x, batch.edge_index)
    for b in range(4):
        graph = batch.get_example(b)
        start, end = int(batch.ptr[b]), int(batch.ptr[b + 1])
        torch.testing.assert_close(out[start:end], conv(graph.x, graph.edge_index))


def test_static_form_equals_batched_form():
    torch.manual_seed(6)
    rows = torch.randn(3, 5, 2)
    template = random_graph(5, 12, seed=7)
    conv = FeatureGATConv(2, 4, heads=2)
    x, static_template = to_static_graph(rows, edge_index=template)
    out, (ei, alpha) = conv(x, static_template, return_attention_weights=True)
    batch = rows_to_graph(rows, edge_index=template)
    out_b, (_, alpha_b) = conv(batch.x, batch.edge_index, return_attention_weights=True)
    assert out.shape == (3, 5, 8) and alpha.shape == (3, 12, 2) and torch.equal(ei, template)
    torch.testing.assert_close(out.reshape(-1, 8), out_b)
    torch.testing.assert_close(alpha.reshape(-1, 2), alpha_b)
    # The complete template takes the dense path in static form too.
    x, complete = to_static_graph(rows)
    batch = rows_to_graph(rows)
    torch.testing.assert_close(conv(x, complete).reshape(-1, 8), conv(batch.x, batch.edge_index))


@pytest.mark.parametrize("graph", ["random", "complete"])
def test_permuting_features_permutes_outputs(graph):
    torch.manual_seed(7)
    num_features = 6
    template = (
        random_graph(num_features, 15, seed=8)
        if graph == "random"
        else fully_connected_edge_index(num_features)
    )
    x = torch.randn(4, num_features, 2)
    perm = torch.randperm(num_features)
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(num_features)
    conv = FeatureGATConv(2, 3, heads=2)
    out = conv(x, template)
    # Feature perm[f] becomes feature f: node n moves to inverse[n].
    out_p = conv(x[:, perm], inverse[template])
    torch.testing.assert_close(out_p, out[:, perm])


def test_empty_graphs():
    conv = FeatureGATConv(3, 4, heads=2)
    torch.nn.init.normal_(conv.bias)
    x = torch.randn(5, 3)
    out, (ei, alpha) = conv(x, torch.zeros(2, 0, dtype=torch.long), return_attention_weights=True)
    torch.testing.assert_close(out, conv.bias.expand(5, -1))  # no edges: nothing aggregated
    assert ei.shape == (2, 0) and alpha.shape == (0, 2)
    out = conv(torch.randn(0, 3), torch.zeros(2, 0, dtype=torch.long))
    assert out.shape == (0, 8)
    batch = rows_to_graph(torch.randn(0, 4))
    assert conv(batch.x.expand(-1, 3), batch.edge_index).shape == (0, 8)
    assert conv(torch.randn(0, 4, 3), fully_connected_edge_index(4)).shape == (0, 4, 8)


def test_one_feature_and_one_row():
    conv = FeatureGATConv(1, 4)
    batch = rows_to_graph(torch.randn(3, 1))  # one feature, self-loop only
    out, (_, alpha) = conv(batch.x, batch.edge_index, return_attention_weights=True)
    torch.testing.assert_close(alpha, torch.ones(3, 1))
    torch.testing.assert_close(out, conv.lin(batch.x) + conv.bias)
    batch = rows_to_graph(torch.randn(1, 5))
    assert conv(batch.x, batch.edge_index).shape == (5, 4)


def test_lazy_in_channels():
    conv = FeatureGATConv(-1, 4, heads=2)
    assert repr(conv) == "FeatureGATConv(-1, 4, heads=2)"
    batch = rows_to_graph(torch.randn(3, 4, 5))
    assert conv(batch.x, batch.edge_index).shape == (12, 8)
    assert conv.lin.weight.shape == (8, 5)
    with pytest.raises(ValueError, match="x must have 5 channels"):
        conv(torch.randn(12, 2), batch.edge_index)


def test_dropout_only_in_training():
    torch.manual_seed(8)
    batch = rows_to_graph(torch.randn(6, 5))
    conv = FeatureGATConv(1, 4, heads=2, dropout=0.5).eval()
    first = conv(batch.x, batch.edge_index)
    torch.testing.assert_close(conv(batch.x, batch.edge_index), first)
    conv.train()
    _, (_, alpha) = conv(batch.x, batch.edge_index, return_attention_weights=True)
    dropped = alpha == 0
    assert dropped.any() and not dropped.all()
    # Kept coefficients are scaled by 1 / (1 - p), so they may exceed 1.
    conv.eval()
    _, (_, clean) = conv(batch.x, batch.edge_index, return_attention_weights=True)
    torch.testing.assert_close(alpha[~dropped], 2 * clean[~dropped])


def test_reset_parameters_is_deterministic():
    torch.manual_seed(9)
    first = FeatureGATConv(3, 4, heads=2)
    torch.manual_seed(9)
    second = FeatureGATConv(3, 4, heads=2)
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values()):
        assert torch.equal(a, b), name
    torch.manual_seed(10)
    first.reset_parameters()
    torch.manual_seed(10)
    second.reset_parameters()
    for a, b in zip(first.parameters(), second.parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("graph", ["random", "complete"])
def test_gradcheck(graph):
    torch.manual_seed(11)
    if graph == "random":
        x, edge_index = torch.randn(6, 2, dtype=torch.float64), random_graph(6, 14, seed=9)
    else:
        batch = rows_to_graph(torch.randn(2, 3, 2, dtype=torch.float64))
        x, edge_index = batch.x, batch.edge_index
    conv = FeatureGATConv(2, 3, heads=2).double()
    torch.nn.init.normal_(conv.att_bias)
    params = (x.clone().requires_grad_(), *conv.parameters())

    def fn(inputs, *weights):
        # functional_call keeps the weights in the autograd graph.
        names = [name for name, _ in conv.named_parameters()]
        return torch.func.functional_call(conv, dict(zip(names, weights)), (inputs, edge_index))

    assert torch.autograd.gradcheck(fn, params)


def test_propagate_hooks_see_every_graph():
    # Explainers and user hooks work through propagate; registering one must
    # keep the complete graph off the dense path.
    batch = rows_to_graph(torch.randn(2, 3))
    conv = FeatureGATConv(1, 4)
    expected = conv(batch.x, batch.edge_index)
    calls = []
    conv.register_propagate_forward_hook(lambda module, inputs, out: calls.append(out.shape))
    torch.testing.assert_close(conv(batch.x, batch.edge_index), expected)
    assert calls == [torch.Size([6, 1, 1])]  # messages carry the 1 input channel


@pytest.mark.scatter
@pytest.mark.parametrize("use_torch_scatter", [False, True])
def test_with_and_without_torch_scatter(monkeypatch, use_torch_scatter):
    if use_torch_scatter:
        pytest.importorskip("torch_scatter")
    torch.manual_seed(12)
    x, edge_index = torch.randn(10, 3, dtype=torch.float64), random_graph(10, 30, seed=10)
    conv = FeatureGATConv(3, 4, heads=2).double()
    reference = GATConv(3, 4, heads=2, add_self_loops=False).double()
    reference.load_state_dict({k: v for k, v in conv.state_dict().items() if k != "att_bias"})
    monkeypatch.setattr(pt_typing, "WITH_TORCH_SCATTER", use_torch_scatter)
    torch.testing.assert_close(conv(x, edge_index), reference(x, edge_index))


@pytest.mark.slow
def test_torch_compile():
    batch = rows_to_graph(torch.randn(3, 4))
    conv = FeatureGATConv(1, 4, heads=2)
    expected = conv(batch.x, batch.edge_index)
    compiled = torch.compile(conv, backend="aot_eager")
    out = compiled(batch.x, batch.edge_index)
    torch.testing.assert_close(out, expected)
    out.sum().backward()
    edge_index, _ = shuffled(batch.edge_index)
    torch.testing.assert_close(compiled(batch.x, edge_index), expected)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"in_channels": 0}, "in_channels must be a positive int, or -1"),
        ({"out_channels": -2}, r"out_channels must be a positive int \(got -2\)"),
        ({"heads": 0}, r"heads must be a positive int \(got 0\)"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\) \(got 1.0\)"),
        ({"negative_slope": -0.1}, "negative_slope must be a finite non-negative number"),
        ({"aggr": "mean"}, "aggr must be 'add'"),
        ({"node_dim": 0}, "node_dim is fixed"),
    ],
)
def test_rejects_bad_hyperparameters(kwargs, message):
    args = {"in_channels": 1, "out_channels": 4, **kwargs}
    with pytest.raises(ValueError, match=message):
        FeatureGATConv(**args)


def test_rejects_bad_inputs():
    conv = FeatureGATConv(3, 4)
    edge_index = random_graph(5, 8, seed=11)
    with pytest.raises(ValueError, match=r"x must have shape \[num_nodes, in_channels\]"):
        conv(torch.randn(5), edge_index)
    with pytest.raises(ValueError, match="x must have 3 channels"):
        conv(torch.randn(5, 2), edge_index)
    with pytest.raises(ValueError, match="x must have a floating dtype"):
        conv(torch.ones(5, 3, dtype=torch.long), edge_index)
    with pytest.raises(ValueError, match="edge_index must hold integer node indices"):
        conv(torch.randn(5, 3), edge_index.float())
    with pytest.raises(ValueError, match=r"edge_index must have shape \[2, num_edges\]"):
        conv(torch.randn(5, 3), edge_index[0])
    with pytest.raises(ValueError, match=r"outside \[0, 4\)"):
        conv(torch.randn(4, 3), edge_index.clamp(max=4).index_fill(1, torch.tensor([0]), 4))
    with pytest.raises(ValueError, match="does not use edge features"):
        conv(torch.randn(5, 3), edge_index, edge_attr=torch.randn(8, 2))
    with pytest.raises(ValueError, match="does not support bipartite graphs"):
        conv(torch.randn(5, 3), edge_index, size=(5, 7))
