import copy
import functools

import pytest
import torch
import torch_geometric.typing
from torch_geometric.nn import GATConv, HeteroConv

import pyg_tabular.typing as pt_typing
from pyg_tabular.data import fully_connected_edge_index, rows_to_graph, to_static_graph
from pyg_tabular.nn.conv import FeatureGATConv


def test_repr_and_attributes():
    conv = FeatureGATConv(1, 16, heads=4, concat=False, dropout=0.1, att_bias=False)
    assert repr(conv) == "FeatureGATConv(1, 16, heads=4)"
    assert (conv.heads, conv.concat, conv.dropout) == (4, False, 0.1)
    # GATConv's defaults.
    assert (conv.add_self_loops, conv.edge_dim, conv.fill_value, conv.residual) == (
        True,
        None,
        "mean",
        False,
    )
    assert conv.lin_edge is None and conv.att_edge is None and conv.res is None
    assert conv.att_bias is None and conv.bias.shape == (16,)
    assert FeatureGATConv(3, 8, bias=False).bias is None


@pytest.mark.parametrize("heads", [1, 4])
@pytest.mark.parametrize("concat", [True, False])
@pytest.mark.parametrize("in_channels", [3, 16])  # narrower and wider than out_channels
@pytest.mark.parametrize("graph", ["random", "complete"])
def test_matches_gatconv_with_copied_weights(
    heads, concat, in_channels, graph, random_graph, check_attention
):
    torch.manual_seed(0)
    if graph == "random":
        x, edge_index = torch.randn(12, in_channels), random_graph(12, 40, seed=1)
    else:
        batch = rows_to_graph(torch.randn(4, 5, in_channels))
        x, edge_index = batch.x, batch.edge_index
    reference = GATConv(in_channels, 8, heads=heads, concat=concat, add_self_loops=False)
    conv = FeatureGATConv(
        in_channels, 8, heads=heads, concat=concat, add_self_loops=False, att_bias=False
    )
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


def test_add_self_loops_matches_gatconv(random_graph):
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


def test_state_dict_loads_back_into_gatconv(random_graph):
    conv = FeatureGATConv(3, 5, heads=2, att_bias=False)
    reference = GATConv(3, 5, heads=2)
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
def test_score_bias_matches_brute_force(graph, random_graph):
    torch.manual_seed(2)
    if graph == "random":
        x, edge_index = torch.randn(8, 2, dtype=torch.float64), random_graph(8, 20, seed=4)
    else:
        batch = rows_to_graph(torch.randn(3, 4, 2, dtype=torch.float64))
        x, edge_index = batch.x, batch.edge_index
    conv = FeatureGATConv(2, 4, heads=2, negative_slope=0.1, add_self_loops=False).double()
    with torch.no_grad():
        conv.att_bias.copy_(torch.tensor([2.0, -1.5]))  # moves scores across 0
        conv.bias.normal_()
    out, (_, alpha) = conv(x, edge_index, return_attention_weights=True)
    expected, expected_alpha = brute_force(conv, x, edge_index)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(alpha, expected_alpha)


@pytest.mark.parametrize("self_loops", [True, False])
@pytest.mark.parametrize("heads", [1, 3])
@pytest.mark.parametrize("add_self_loops", [True, False])
def test_dense_fast_path_equals_message_passing(
    self_loops, heads, add_self_loops, shuffled, check_attention, edge_alpha_to_dense
):
    # The complete graph in canonical order takes the dense path; the same
    # graph with shuffled edges takes propagate. Both must agree.
    torch.manual_seed(3)
    batch = rows_to_graph(torch.randn(5, 6, 2), self_loops=self_loops)
    conv = FeatureGATConv(2, 4, heads=heads, add_self_loops=add_self_loops).double()
    torch.nn.init.normal_(conv.att_bias)
    x = batch.x.double()
    assert conv.uses_fast_path(batch.edge_index, x.size(0))
    out, (ei, alpha) = conv(x, batch.edge_index, return_attention_weights=True)
    edge_index, order = shuffled(batch.edge_index)
    assert not conv.uses_fast_path(edge_index, x.size(0))
    out_mp, (ei_mp, alpha_mp) = conv(x, edge_index, return_attention_weights=True)
    torch.testing.assert_close(out, out_mp)
    if add_self_loops:
        torch.testing.assert_close(
            edge_alpha_to_dense(ei, alpha, 30), edge_alpha_to_dense(ei_mp, alpha_mp, 30)
        )
    else:
        assert torch.equal(ei, batch.edge_index)
        torch.testing.assert_close(alpha[order], alpha_mp)
    check_attention(ei_mp, alpha_mp, x.size(0))


def test_invariant_to_edge_order_on_any_graph(random_graph, shuffled):
    torch.manual_seed(4)
    x, edge_index = torch.randn(9, 3), random_graph(9, 30, seed=5)
    conv = FeatureGATConv(3, 4, heads=2, add_self_loops=False)
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


def test_static_form_equals_batched_form(random_graph):
    torch.manual_seed(6)
    rows = torch.randn(3, 5, 2)
    template = random_graph(5, 12, seed=7)
    conv = FeatureGATConv(2, 4, heads=2, add_self_loops=False)
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
def test_permuting_features_permutes_outputs(graph, random_graph):
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
    conv = FeatureGATConv(3, 4, heads=2, add_self_loops=False)
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
    # GATConv's defaults on an empty graph: no node, no self-loop to add.
    out, (ei, alpha) = FeatureGATConv(8, 32, heads=2)(
        torch.randn(0, 8), torch.zeros(2, 0, dtype=torch.long), return_attention_weights=True
    )
    assert out.shape == (0, 64) and ei.shape == (2, 0) and alpha.shape == (0, 2)


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
def test_gradcheck(graph, random_graph):
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
def test_with_and_without_torch_scatter(monkeypatch, use_torch_scatter, random_graph):
    if use_torch_scatter:
        pytest.importorskip("torch_scatter")
    torch.manual_seed(12)
    x, edge_index = torch.randn(10, 3, dtype=torch.float64), random_graph(10, 30, seed=10)
    conv = FeatureGATConv(3, 4, heads=2).double()
    reference = GATConv(3, 4, heads=2).double()
    reference.load_state_dict({k: v for k, v in conv.state_dict().items() if k != "att_bias"})
    monkeypatch.setattr(pt_typing, "WITH_TORCH_SCATTER", use_torch_scatter)
    torch.testing.assert_close(conv(x, edge_index), reference(x, edge_index))


@pytest.mark.slow
def test_torch_compile(shuffled):
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
        ({"dropout": 1.0}, r"dropout must be a float in \[0, 1\) \(got 1.0\)"),
        ({"in_channels": (2, 0)}, "in_channels must be a positive int, or -1"),
        ({"in_channels": (2, 3, 4)}, r"in_channels must be an int or a \(source, target\) pair"),
        ({"edge_dim": 0}, r"edge_dim must be None or a positive int \(got 0\)"),
        ({"fill_value": "median"}, r"fill_value must be a number, a tensor or one of"),
        ({"negative_slope": -0.1}, "negative_slope must be a finite non-negative number"),
        ({"aggr": "mean"}, "aggr must be 'add'"),
        ({"node_dim": 0}, "node_dim is fixed"),
    ],
)
def test_rejects_bad_hyperparameters(kwargs, message):
    args = {"in_channels": 1, "out_channels": 4, **kwargs}
    with pytest.raises(ValueError, match=message):
        FeatureGATConv(**args)


def test_rejects_bad_inputs(random_graph):
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
    with pytest.raises(ValueError, match=r"size must be None or a pair of non-negative ints"):
        conv(torch.randn(5, 3), edge_index, size=(5, -7))
    with pytest.raises(ValueError, match=r"target node indices from .* outside \[0, 2\)"):
        conv((torch.randn(5, 3), torch.randn(2, 3)), edge_index)
    with pytest.raises(ValueError, match="x_dst must have 3 channels"):
        conv((torch.randn(5, 3), torch.randn(5, 2)), edge_index)
    with pytest.raises(ValueError, match="edge_index must be an integer tensor"):
        conv(torch.randn(5, 3), edge_index.tolist())


# GATConv conformance: default for default #####################################


@pytest.fixture
def gatconv_pair(tied_pair):
    # GATConv and FeatureGATConv(att_bias=False) with one shared state.
    return functools.partial(tied_pair, GATConv, FeatureGATConv, our_kwargs={"att_bias": False})


def assert_same_call(reference, conv, x, edge_index, **kwargs):
    # Outputs and the returned (edge_index, alpha) agree to 1e-6 in float32;
    # every gradient agrees to 1e-6 in float64, where rounding does not blur
    # the comparison of gradients in the hundreds.
    def run(module, dtype):
        module = copy.deepcopy(module).to(dtype)
        inputs = tuple(None if t is None else t.detach().to(dtype).requires_grad_() for t in x)
        arg = inputs if len(inputs) == 2 else inputs[0]
        out, (ei, alpha) = module(arg, edge_index, return_attention_weights=True, **kwargs)
        (out.square().sum() + alpha.square().sum()).backward()
        grads = {name: p.grad for name, p in module.named_parameters()}
        return out, ei, alpha, grads, [t.grad for t in inputs if t is not None]

    for dtype in (torch.float32, torch.float64):
        expected, expected_ei, expected_alpha, expected_grads, expected_x_grads = run(
            reference, dtype
        )
        out, ei, alpha, grads, x_grads = run(conv, dtype)
        torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)
        assert torch.equal(ei, expected_ei)
        torch.testing.assert_close(alpha, expected_alpha, rtol=0, atol=1e-6)
    assert grads.keys() == expected_grads.keys()
    assert len(x_grads) == len(expected_x_grads) == sum(t is not None for t in x)
    for name, grad in grads.items():
        torch.testing.assert_close(grad, expected_grads[name], rtol=0, atol=1e-6, msg=name)
    for grad, expected_grad in zip(x_grads, expected_x_grads):
        torch.testing.assert_close(grad, expected_grad, rtol=0, atol=1e-6)


def graph_with_duplicates_and_loops(random_graph):
    edge_index = random_graph(12, 40, seed=1)
    # A repeated edge and existing self-loops, which add_self_loops replaces.
    extra = torch.tensor([[3, 3, 5, 7], [4, 4, 5, 7]])
    return torch.cat([edge_index, extra], dim=1)


@pytest.mark.parametrize("heads", [1, 4])
@pytest.mark.parametrize("concat", [True, False])
@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("graph", ["random", "complete", "complete-no-loops"])
def test_defaults_equal_gatconv(heads, concat, residual, graph, random_graph, gatconv_pair):
    torch.manual_seed(0)
    if graph == "random":
        x, edge_index = torch.randn(12, 5), graph_with_duplicates_and_loops(random_graph)
    else:
        batch = rows_to_graph(torch.randn(4, 5, 5), self_loops=graph == "complete")
        x, edge_index = batch.x, batch.edge_index
    reference, conv = gatconv_pair(5, 8, heads=heads, concat=concat, residual=residual)
    assert conv.uses_fast_path(edge_index, x.size(0)) == (graph != "random")
    assert_same_call(reference, conv, (x,), edge_index)


@pytest.mark.parametrize("heads", [1, 4])
@pytest.mark.parametrize("concat", [True, False])
@pytest.mark.parametrize("residual", [False, True])
def test_bipartite_equals_gatconv(heads, concat, residual, random_graph, gatconv_pair):
    torch.manual_seed(1)
    x_src, x_dst = torch.randn(9, 6), torch.randn(5, 3)
    edge_index = random_graph(9, 30, seed=2, num_targets=5)
    reference, conv = gatconv_pair((6, 3), 4, heads=heads, concat=concat, residual=residual)
    assert conv.lin is None and conv.lin_src.in_channels == 6 and conv.lin_dst.in_channels == 3
    assert repr(conv) == f"FeatureGATConv((6, 3), 4, heads={heads})"
    assert_same_call(reference, conv, (x_src, x_dst), edge_index)
    assert_same_call(reference, conv, (x_src, x_dst), edge_index, size=(9, 5))
    # Without target features, the target term drops out of the score.
    assert_same_call(reference, conv, (x_src, None), edge_index, size=(9, 5))


def test_pair_input_on_a_shared_projection_equals_gatconv(random_graph, gatconv_pair):
    x_src, x_dst = torch.randn(7, 4), torch.randn(3, 4)
    edge_index = random_graph(7, 20, seed=3, num_targets=3)
    reference, conv = gatconv_pair(4, 5, heads=2)
    assert_same_call(reference, conv, (x_src, x_dst), edge_index)


@pytest.mark.parametrize("edge_dim", [1, 3])
@pytest.mark.parametrize("fill_value", [0.5, "tensor", "mean", "add", "max"])
@pytest.mark.parametrize("heads", [1, 4])
def test_edge_attr_equals_gatconv(edge_dim, fill_value, heads, random_graph, gatconv_pair):
    torch.manual_seed(2)
    x, edge_index = torch.randn(12, 3), graph_with_duplicates_and_loops(random_graph)
    if fill_value == "tensor":
        fill_value = torch.randn(edge_dim)
    reference, conv = gatconv_pair(3, 4, heads=heads, edge_dim=edge_dim, fill_value=fill_value)
    assert conv.lin_edge.weight.shape == (heads * 4, edge_dim)
    assert conv.att_edge.shape == (1, heads, 4)
    edge_attr = torch.randn(edge_index.size(1), edge_dim)
    if edge_dim == 1:
        edge_attr = edge_attr.view(-1)  # a 1-D edge weight, as GATConv takes it
    # edge_attr is not an input of assert_same_call's gradient check; compare it here.
    out, (ei, alpha) = conv(x, edge_index, edge_attr, return_attention_weights=True)
    expected, (expected_ei, expected_alpha) = reference(
        x, edge_index, edge_attr, return_attention_weights=True
    )
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)
    assert torch.equal(ei, expected_ei)
    torch.testing.assert_close(alpha, expected_alpha, rtol=0, atol=1e-6)
    # The edge term moves the attention: without edge_attr it differs.
    assert not torch.allclose(conv(x, edge_index), out, atol=1e-4)


def test_edge_attr_on_a_complete_graph_takes_the_generic_path(gatconv_pair):
    batch = rows_to_graph(torch.randn(3, 4, 2))
    reference, conv = gatconv_pair(2, 4, heads=2, edge_dim=2)
    edge_attr = torch.randn(batch.edge_index.size(1), 2)
    torch.testing.assert_close(
        conv(batch.x, batch.edge_index, edge_attr),
        reference(batch.x, batch.edge_index, edge_attr),
        rtol=0,
        atol=1e-6,
    )


def test_add_self_loops_off_equals_gatconv(random_graph, gatconv_pair):
    x, edge_index = torch.randn(12, 3), graph_with_duplicates_and_loops(random_graph)
    reference, conv = gatconv_pair(3, 4, heads=2, add_self_loops=False)
    assert_same_call(reference, conv, (x,), edge_index)


def test_fast_path_returns_gatconv_edge_order_without_gathering(gatconv_pair):
    # With add_self_loops=True, GATConv drops the graph's loops and appends one
    # per node at the end; the dense path must return that order too.
    from torch.utils._python_dispatch import TorchDispatchMode

    batch = rows_to_graph(torch.randn(6, 5, 2))
    reference, conv = gatconv_pair(2, 4, heads=3)
    assert_same_call(reference, conv, (batch.x,), batch.edge_index)
    _, (ei, _) = conv(batch.x, batch.edge_index, return_attention_weights=True)
    assert torch.equal(ei[:, -30:], torch.arange(30).repeat(2, 1))

    class Gathers(TorchDispatchMode):
        # Records ops that read or write per edge: the generic path's signature.
        names = set()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            name = func.overloadpacket.__name__
            if "index" in name or "gather" in name or "scatter" in name:
                Gathers.names.add(name)
            return func(*args, **(kwargs or {}))

    with Gathers():
        conv(batch.x, batch.edge_index)
    assert Gathers.names == set()
    with Gathers():
        conv.fast_path = False
        conv(batch.x, batch.edge_index)
    assert Gathers.names  # the generic path does gather: the check can fail


def test_static_form_with_self_loops_follows_gatconv_order():
    torch.manual_seed(3)
    rows = torch.randn(3, 5, 2)
    x, template = to_static_graph(rows)
    conv = FeatureGATConv(2, 4, heads=2)
    out, (ei, alpha) = conv(x, template, return_attention_weights=True)
    reference = GATConv(2, 4, heads=2)
    reference.load_state_dict(conv.state_dict(), strict=False)
    for b in range(3):
        expected, (expected_ei, expected_alpha) = reference(
            rows[b], template, return_attention_weights=True
        )
        assert torch.equal(ei, expected_ei)
        torch.testing.assert_close(out[b], expected, rtol=0, atol=1e-6)
        torch.testing.assert_close(alpha[b], expected_alpha, rtol=0, atol=1e-6)


@pytest.mark.parametrize("layout", ["csr", "coo"])
@pytest.mark.parametrize("bipartite", [False, True])
def test_torch_sparse_adjacency_equals_gatconv(layout, bipartite, random_graph, gatconv_pair):
    from torch_geometric.utils import coalesce, to_torch_coo_tensor, to_torch_csc_tensor

    num_dst = 5 if bipartite else 9
    # A sparse matrix holds each edge once: compare on a graph without repeats.
    edge_index = coalesce(random_graph(9, 25, seed=4, num_targets=num_dst))
    if layout == "csr":
        adj = to_torch_csc_tensor(edge_index, size=(9, num_dst)).t()
    else:
        adj = to_torch_coo_tensor(edge_index.flip(0), size=(num_dst, 9))
    if bipartite:
        reference, conv = gatconv_pair((3, 2), 4, heads=2)
        x = (torch.randn(9, 3), torch.randn(5, 2))
    else:
        reference, conv = gatconv_pair(3, 4, heads=2)
        x = torch.randn(9, 3)
    out, (adj_out, alpha) = conv(x, adj, return_attention_weights=True)
    expected, (expected_adj, expected_alpha) = reference(x, adj, return_attention_weights=True)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(conv(x, edge_index), out, rtol=0, atol=1e-6)
    assert adj_out.layout == adj.layout and adj_out.shape == expected_adj.shape
    torch.testing.assert_close(alpha, expected_alpha, rtol=0, atol=1e-6)
    torch.testing.assert_close(adj_out.to_dense(), expected_adj.to_dense(), rtol=0, atol=1e-6)


@pytest.mark.skipif(not torch_geometric.typing.WITH_TORCH_SPARSE, reason="needs torch_sparse")
def test_sparse_tensor_equals_gatconv(random_graph, gatconv_pair):
    from torch_geometric.typing import SparseTensor

    x, edge_index = torch.randn(9, 3), random_graph(9, 25, seed=5)
    adj = SparseTensor.from_edge_index(edge_index, sparse_sizes=(9, 9)).t()
    reference, conv = gatconv_pair(3, 4, heads=2)
    out, adj_out = conv(x, adj, return_attention_weights=True)
    expected, expected_adj = reference(x, adj, return_attention_weights=True)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(adj_out.to_dense(), expected_adj.to_dense(), rtol=0, atol=1e-6)
    conv_edges = FeatureGATConv(3, 4, edge_dim=2)
    edge_adj = SparseTensor.from_edge_index(edge_index, torch.randn(25, 2), (9, 9)).t()
    with pytest.raises(NotImplementedError, match="add_self_loops"):
        conv_edges(x, edge_adj)


def test_sparse_tensor_is_refused_cleanly_without_torch_sparse(monkeypatch):
    # Without torch_sparse, PyG's SparseTensor placeholder cannot be built;
    # an index-like object of another type gets a clear error.
    conv = FeatureGATConv(3, 4)
    with pytest.raises(ValueError, match="edge_index must be an integer tensor"):
        conv(torch.randn(4, 3), object())


def test_gnn_explainer_masks_match_gatconv(random_graph, gatconv_pair):
    from torch_geometric.explain.algorithm.utils import clear_masks, set_masks

    x, edge_index = torch.randn(10, 3), random_graph(10, 30, seed=6)
    reference, conv = gatconv_pair(3, 4, heads=2)
    mask = torch.randn(edge_index.size(1))
    outs = []
    for module in (reference, conv):
        set_masks(module, mask, edge_index, apply_sigmoid=True)
        outs.append(module(x, edge_index))
        clear_masks(module)
    torch.testing.assert_close(outs[1], outs[0], rtol=0, atol=1e-6)
    # The mask changes the result, and the complete graph keeps it too.
    assert not torch.allclose(outs[1], conv(x, edge_index), atol=1e-4)
    batch = rows_to_graph(torch.randn(2, 4, 3))
    mask = torch.randn(batch.edge_index.size(1))
    for module in (reference, conv):
        set_masks(module, mask, batch.edge_index, apply_sigmoid=True)
    torch.testing.assert_close(
        conv(batch.x, batch.edge_index), reference(batch.x, batch.edge_index), rtol=0, atol=1e-6
    )


def test_state_dicts_load_between_gatconv_and_ours():
    for args, kwargs in (
        ((4, 3), {"heads": 2}),
        (((4, 2), 3), {"heads": 2, "residual": True}),
        ((4, 3), {"edge_dim": 5, "concat": False}),
    ):
        reference = GATConv(*args, **kwargs)
        ours = FeatureGATConv(*args, **kwargs)  # with a score bias GATConv lacks
        ours.load_state_dict(reference.state_dict())  # loads as a zero score bias
        assert torch.equal(ours.att_bias, torch.zeros(kwargs["heads"] if "heads" in kwargs else 1))
        plain = FeatureGATConv(*args, att_bias=False, **kwargs)
        reference.load_state_dict(plain.state_dict())
        assert {k: v.shape for k, v in plain.state_dict().items()} == {
            k: v.shape for k, v in reference.state_dict().items()
        }


# PyG's machinery: explainers, Inspector, optimizer state ######################


class TwoLayers(torch.nn.Module):
    # Two attention layers, the second averaging its heads.
    def __init__(self, conv_type, in_channels, **kwargs):
        super().__init__()
        self.conv1 = conv_type(in_channels, 4, heads=2, **kwargs)
        wide = 8 if isinstance(in_channels, int) else (-1, -1)
        self.conv2 = conv_type(wide, 3, heads=2, concat=False, **kwargs)

    def forward(self, x, edge_index):
        return self.conv2(self.conv1(x, edge_index).relu(), edge_index)


def _our_conv(*args, **kwargs):
    return FeatureGATConv(*args, att_bias=False, **kwargs)


def _homogeneous_graph(graph, random_graph):
    torch.manual_seed(4)
    if graph == "random":
        return torch.randn(12, 5), graph_with_duplicates_and_loops(random_graph)
    batch = rows_to_graph(torch.randn(4, 5, 5), self_loops=graph == "complete")
    return batch.x, batch.edge_index


@pytest.mark.parametrize("add_self_loops", [True, False])
@pytest.mark.parametrize("graph", ["random", "complete", "complete-no-loops"])
def test_message_sees_gatconv_alpha(add_self_loops, graph, random_graph, gatconv_pair):
    # What message() receives is what hooks and explainers read: [E, H], as
    # GATConv hands it over, also on a graph that would take the fast path.
    x, edge_index = _homogeneous_graph(graph, random_graph)
    reference, conv = gatconv_pair(5, 4, heads=3, add_self_loops=add_self_loops)
    seen = []
    for module in (reference, conv):
        module.register_message_forward_hook(
            lambda module, inputs, out: seen.append(inputs[0]["alpha"])
        )
        module(x, edge_index)
    assert seen[1].shape == seen[0].shape and seen[0].dim() == 2
    torch.testing.assert_close(seen[1], seen[0], rtol=0, atol=1e-6)


@pytest.mark.parametrize("add_self_loops", [True, False])
@pytest.mark.parametrize("graph", ["random", "complete", "complete-no-loops"])
def test_attention_explainer_equals_gatconv(
    add_self_loops, graph, random_graph, attention_edge_mask, randomize
):
    x, edge_index = _homogeneous_graph(graph, random_graph)
    reference = randomize(TwoLayers(GATConv, 5, add_self_loops=add_self_loops))
    model = TwoLayers(_our_conv, 5, add_self_loops=add_self_loops)
    model.load_state_dict(reference.state_dict())
    expected = attention_edge_mask(reference, x, edge_index, index=3)
    mask = attention_edge_mask(model, x, edge_index, index=3)
    assert mask.shape == (edge_index.size(1),)
    assert expected.min() < expected.max()  # a mask that tells edges apart
    torch.testing.assert_close(mask, expected, rtol=0, atol=1e-6)
    # The explainer's hooks are gone again: the complete graph is back on the
    # fast path.
    if graph != "random":
        assert model.conv1.uses_fast_path(edge_index, x.size(0))


def _hetero_pair(hetero_data, randomize, build):
    # A reference model with GATConv and ours with the same (materialised) state.
    data = hetero_data()
    reference = build(GATConv)
    reference(data.x_dict, data.edge_index_dict)  # materialise the lazy projections
    randomize(reference)
    model = build(_our_conv)
    model(data.x_dict, data.edge_index_dict)
    model.load_state_dict(reference.state_dict())
    return data, reference, model


def _assert_same_hetero_masks(data, reference, model, attention_edge_mask):
    expected = attention_edge_mask(reference, data.x_dict, data.edge_index_dict, index=2)
    masks = attention_edge_mask(model, data.x_dict, data.edge_index_dict, index=2)
    assert masks.keys() == expected.keys() == set(data.edge_types)
    for edge_type, mask in masks.items():
        assert mask.shape == (data[edge_type].num_edges,)
        torch.testing.assert_close(mask, expected[edge_type], rtol=0, atol=1e-6)
    assert any(m.min() < m.max() for m in expected.values())


def test_attention_explainer_on_a_to_hetero_model_equals_gatconv(
    hetero_data, randomize, attention_edge_mask
):
    from torch_geometric.nn import to_hetero

    metadata = hetero_data().metadata()

    def build(conv_type):
        return to_hetero(TwoLayers(conv_type, (-1, -1), add_self_loops=False), metadata)

    data, reference, model = _hetero_pair(hetero_data, randomize, build)
    assert isinstance(model.conv1["author__writes__paper"], FeatureGATConv)
    _assert_same_hetero_masks(data, reference, model, attention_edge_mask)


class HeteroLayers(torch.nn.Module):
    # Two HeteroConv layers, one attention conv per edge type.
    def __init__(self, conv_type, edge_types):
        super().__init__()
        self.conv1 = HeteroConv(
            {t: conv_type((-1, -1), 4, heads=2, add_self_loops=False) for t in edge_types}
        )
        self.conv2 = HeteroConv(
            {t: conv_type((-1, -1), 3, heads=2, add_self_loops=False) for t in edge_types},
            aggr="mean",
        )

    def forward(self, x_dict, edge_index_dict):
        x_dict = {k: v.relu() for k, v in self.conv1(x_dict, edge_index_dict).items()}
        return self.conv2(x_dict, edge_index_dict)


def test_attention_explainer_under_hetero_conv_equals_gatconv(
    hetero_data, randomize, attention_edge_mask
):
    edge_types = hetero_data().edge_types
    data, reference, model = _hetero_pair(
        hetero_data, randomize, lambda conv_type: HeteroLayers(conv_type, edge_types)
    )
    _assert_same_hetero_masks(data, reference, model, attention_edge_mask)


@pytest.mark.parametrize("method", ["propagate", "edge_updater"])
@pytest.mark.parametrize("exclude", [None, [0, "edge_index", "size"]])
def test_inspector_reads_our_calls_as_gatconv(method, exclude):
    # Read from the declared types, as for GATConv; parsing the call itself
    # would fail at the positional edge_index. The edge updater takes one
    # more argument than GATConv's: the log edge weights of edge_weight.
    from torch_geometric.inspector import Inspector
    from torch_geometric.typing import OptTensor

    expected = Inspector(GATConv).get_params_from_method_call(method, exclude=exclude)
    ours = Inspector(FeatureGATConv).get_params_from_method_call(method, exclude=exclude)
    if method == "edge_updater":
        extra = ours.pop("edge_log_weight")
        assert extra.type == OptTensor
    assert ours == expected


def test_generated_propagate_has_gatconv_signature():
    import inspect

    GATConv(3, 4), FeatureGATConv(3, 4)  # the first instance generates the methods
    for name in ("propagate", "edge_updater"):
        ours = getattr(FeatureGATConv, f"_jinja_{name}")
        # The template compiled: no fallback to MessagePassing's generic method.
        assert ours is not getattr(FeatureGATConv, f"_orig_{name}")
        assert getattr(FeatureGATConv, name) is ours
        expected = inspect.signature(getattr(GATConv, f"_jinja_{name}"))
        if name == "edge_updater":
            # GATConv's, with the log edge weights before size.
            params = list(expected.parameters.values())
            weight = inspect.Parameter(
                "edge_log_weight",
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                annotation=torch_geometric.typing.OptTensor,
            )
            expected = expected.replace(parameters=[*params[:-1], weight, params[-1]])
        assert inspect.signature(ours) == expected


GATCONV_LAYOUTS = [
    ((3, 4), {"heads": 2}),
    (((3, 5), 4), {"heads": 2, "residual": True}),
    ((3, 4), {"heads": 3, "edge_dim": 2, "concat": False}),
    ((3, 4), {"bias": False, "edge_dim": 1, "residual": True}),
]


@pytest.mark.parametrize("args,kwargs", GATCONV_LAYOUTS)
def test_parameters_in_gatconv_order_and_shapes(args, kwargs):
    def layout(module):
        return [(name, param.shape) for name, param in module.named_parameters()]

    torch.manual_seed(6)
    reference = GATConv(*args, **kwargs)
    torch.manual_seed(6)
    conv = FeatureGATConv(*args, att_bias=False, **kwargs)
    assert layout(conv) == layout(reference)
    # Reset in GATConv's order: one seed, one starting point.
    for (name, expected), param in zip(reference.named_parameters(), conv.parameters()):
        assert torch.equal(param, expected), name
    # The score bias comes right after att_src and att_dst.
    names = [name for name, _ in FeatureGATConv(*args, **kwargs).named_parameters()]
    assert names[:3] == ["att_src", "att_dst", "att_bias"]


def _train(model, optimizer, inputs, steps):
    for _ in range(steps):
        optimizer.zero_grad()
        model(*inputs).square().mean().backward()
        optimizer.step()


def _resume(args, kwargs, optimizer_type, inputs, dtype=torch.float32):
    # A GATConv trained 3 steps is checkpointed, model and optimizer, then
    # trained 4 more; ours resumes from the checkpoint for the same 4 steps.
    reference = GATConv(*args, **kwargs).to(dtype)
    optimizer = optimizer_type(reference.parameters(), lr=0.05)
    _train(reference, optimizer, inputs, 3)
    checkpoint = copy.deepcopy((reference.state_dict(), optimizer.state_dict()))
    _train(reference, optimizer, inputs, 4)

    conv = FeatureGATConv(*args, att_bias=False, **kwargs).to(dtype)
    conv.load_state_dict(checkpoint[0])
    resumed = optimizer_type(conv.parameters(), lr=0.05)
    resumed.load_state_dict(checkpoint[1])
    # Each saved moment reached the parameter of the same name.
    names = [name for name, _ in reference.named_parameters()]
    for index, (name, param) in enumerate(conv.named_parameters()):
        assert name == names[index]
        saved = checkpoint[1]["state"][index]
        assert torch.equal(resumed.state[param]["exp_avg_sq"], saved["exp_avg_sq"]), name
    _train(conv, resumed, inputs, 4)
    return reference, conv


RESUME_LAYOUTS = [
    ((6, 4), {"heads": 2}),
    (((6, 5), 4), {"heads": 2, "residual": True}),
    ((6, 4), {"heads": 3, "edge_dim": 2, "concat": False}),
]


@pytest.mark.parametrize("args,kwargs", RESUME_LAYOUTS)
@pytest.mark.parametrize("optimizer_type", [torch.optim.Adam, torch.optim.AdamW])
def test_gatconv_checkpoint_with_optimizer_resumes_bit_for_bit(
    args, kwargs, optimizer_type, random_graph
):
    # On the message-passing path, with messages of the projected width, our
    # conv runs GATConv's operations in GATConv's order: training resumed
    # from a GATConv checkpoint takes the same steps, bit for bit.
    torch.manual_seed(7)
    x = torch.randn(12, 6) if isinstance(args[0], int) else (torch.randn(12, 6), torch.randn(12, 5))
    edge_index = random_graph(12, 40, seed=8)
    inputs = (x, edge_index, torch.randn(40, kwargs.get("edge_dim", 1)))
    reference, conv = _resume(args, kwargs, optimizer_type, inputs)
    for name, param in conv.state_dict().items():
        assert torch.equal(param, reference.state_dict()[name]), name


@pytest.mark.parametrize("graph", ["narrow-input", "complete"])
def test_gatconv_checkpoint_resumes_to_rounding_elsewhere(graph, random_graph):
    # Narrower inputs are aggregated before the projection (project_heads)
    # and the complete graph runs the dense fast path: the same function,
    # summed in another order, so steps agree to rounding (float64 here).
    torch.manual_seed(9)
    if graph == "complete":
        batch = rows_to_graph(torch.randn(4, 5, 6, dtype=torch.float64))
        inputs, args = (batch.x, batch.edge_index), (6, 4)
    else:
        inputs, args = (
            (torch.randn(12, 3, dtype=torch.float64), random_graph(12, 40, seed=8)),
            (3, 4),
        )
    reference, conv = _resume(args, {"heads": 2}, torch.optim.Adam, inputs, torch.float64)
    assert conv.uses_fast_path(inputs[1], 20) == (graph == "complete")
    for name, param in conv.state_dict().items():
        torch.testing.assert_close(param, reference.state_dict()[name], rtol=1e-10, atol=1e-12)


def test_optimizer_state_of_gatconv_steps_on_ours_where_bias_came_first():
    # The failure this order fixes: moments of att_src ([1, H, C]) landing on
    # bias ([H * C]) broke the first step after loading.
    reference = GATConv(3, 4, heads=2)
    optimizer = torch.optim.Adam(reference.parameters())
    _train(reference, optimizer, (torch.randn(5, 3), torch.tensor([[0, 1], [1, 2]])), 1)
    conv = FeatureGATConv(3, 4, heads=2, att_bias=False)
    conv.load_state_dict(reference.state_dict())
    resumed = torch.optim.Adam(conv.parameters())
    resumed.load_state_dict(optimizer.state_dict())
    assert [p.shape for p in resumed.state] == [p.shape for p in conv.parameters()]
    assert [s["exp_avg"].shape for s in resumed.state.values()] == [
        p.shape for p in conv.parameters()
    ]


# Edge weights ################################################################


def _reweighted(edge_index, alpha, weight, num_nodes):
    # alpha_w ∝ w · alpha, renormalised per target: softmax(e + log w).
    scaled = alpha * weight.unsqueeze(-1)
    total = torch.zeros(num_nodes, alpha.size(-1), dtype=alpha.dtype)
    total.index_add_(0, edge_index[1], scaled)
    return scaled / total[edge_index[1]]


@pytest.mark.parametrize("add_self_loops", [False, True])
def test_edge_weight_multiplies_the_softmax_share(add_self_loops, random_graph):
    torch.manual_seed(0)
    conv = FeatureGATConv(3, 4, heads=2, add_self_loops=add_self_loops).double()
    x = torch.randn(10, 3, dtype=torch.float64)
    edge_index = random_graph(10, 30, seed=2)
    weight = torch.rand(30, dtype=torch.float64) + 0.1
    out, (ei, alpha) = conv(x, edge_index, edge_weight=weight, return_attention_weights=True)
    _, (ei_plain, alpha_plain) = conv(x, edge_index, return_attention_weights=True)
    assert torch.equal(ei, ei_plain)
    # The graph's loops are replaced by loops of weight 1, as the edges are.
    expected_weight = weight
    if add_self_loops:
        loops = edge_index[0] == edge_index[1]
        expected_weight = torch.cat([weight[~loops], torch.ones(10, dtype=torch.float64)])
    expected = _reweighted(ei, alpha_plain, expected_weight, 10)
    torch.testing.assert_close(alpha, expected)
    # And the output is that attention's weighted sum of the projected sources.
    h = conv.lin(x).view(10, 2, 4)
    manual = torch.zeros(10, 2, 4, dtype=torch.float64)
    manual.index_add_(0, ei[1], expected.unsqueeze(-1) * h[ei[0]])
    torch.testing.assert_close(out, manual.reshape(10, 8) + conv.bias)


def test_edge_weight_equal_weights_change_nothing_and_gradients_reach_them():
    torch.manual_seed(0)
    conv = FeatureGATConv(2, 4, heads=2, add_self_loops=False).double()
    x = torch.randn(2, 5, 2, dtype=torch.float64)  # static form
    edge_index = fully_connected_edge_index(5)
    constant = torch.full((25,), 0.3, dtype=torch.float64)
    torch.testing.assert_close(conv(x, edge_index, edge_weight=constant), conv(x, edge_index))
    weight = (torch.rand(25, dtype=torch.float64) + 0.1).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda w: conv(x, edge_index, edge_weight=w), (weight,), eps=1e-6, atol=1e-6
    )


def test_edge_weight_static_form_per_row_weights():
    torch.manual_seed(0)
    conv = FeatureGATConv(1, 4, heads=2, add_self_loops=False)
    x = torch.randn(3, 5, 1)
    edge_index = fully_connected_edge_index(5, self_loops=False)
    weight = torch.rand(3, 20) + 0.1
    out = conv(x, edge_index, edge_weight=weight)
    for row in range(3):
        torch.testing.assert_close(out[row], conv(x[row], edge_index, edge_weight=weight[row]))


def test_edge_weight_errors(random_graph):
    conv = FeatureGATConv(1, 4)
    x, edge_index = torch.randn(6, 1), random_graph(6, 10, seed=0)
    with pytest.raises(ValueError, match=r"edge_weight must have shape \[10\]"):
        conv(x, edge_index, edge_weight=torch.ones(9))
    with pytest.raises(ValueError, match="positive finite weights"):
        conv(x, edge_index, edge_weight=torch.zeros(10))
    with pytest.raises(ValueError, match="positive finite weights"):
        conv(x, edge_index, edge_weight=torch.full((10,), float("nan")))
    with pytest.raises(ValueError, match="floating-point"):
        conv(x, edge_index, edge_weight=torch.ones(10, dtype=torch.long))
    from torch_geometric.utils import to_torch_coo_tensor

    sparse = to_torch_coo_tensor(edge_index.flip(0), size=(6, 6))
    with pytest.raises(ValueError, match="edge_weight needs edge_index"):
        conv(x, sparse, edge_weight=torch.ones(10))
