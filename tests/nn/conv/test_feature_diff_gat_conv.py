import pytest
import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.utils import add_self_loops, remove_self_loops

import pyg_tabular.typing as pt_typing
from pyg_tabular.data import fully_connected_edge_index, rows_to_graph, to_static_graph
from pyg_tabular.nn.conv import FeatureDiffGATConv


def brute_force(conv, x, edge_index, edge_attr=None):
    # One target at a time, straight from AdvancedGraphFeatureLayer's formula,
    # plus GATConv's surface: bipartite inputs, the edge term and the residual.
    heads, channels = conv.heads, conv.out_channels
    x_src, x_dst = x if isinstance(x, tuple) else (x, x)
    lin_src = conv.lin if conv.lin is not None else conv.lin_src
    lin_dst = conv.lin if conv.lin is not None else conv.lin_dst
    h = (x_src @ lin_src.weight.t()).view(-1, heads, channels)
    h_dst = None if x_dst is None else (x_dst @ lin_dst.weight.t()).view(-1, heads, channels)
    num_dst = int(edge_index[1].max()) + 1 if x_dst is None else x_dst.size(0)
    u = conv.att.view(-1, 3, channels).expand(heads, -1, -1)  # [H, 3, D]
    edge_term = torch.zeros(edge_index.size(1), heads, dtype=h.dtype)
    if edge_attr is not None:
        edge = conv.lin_edge(edge_attr.view(edge_index.size(1), -1)).view(-1, heads, channels)
        edge_term = (edge * conv.att_edge).sum(-1)
    out = torch.zeros(num_dst, heads, channels, dtype=h.dtype)
    alpha = torch.zeros(edge_index.size(1), heads, dtype=h.dtype)
    for i in range(num_dst):
        edges = (edge_index[1] == i).nonzero().view(-1)
        if edges.numel() == 0:
            continue
        h_j = h[edge_index[0, edges]]  # [k, H, D]
        score = (h_j * u[:, 1]).sum(-1) + edge_term[edges]
        if h_dst is not None:
            score = (
                score + (h_dst[i] * u[:, 0]).sum(-1) + ((h_dst[i] - h_j).abs() * u[:, 2]).sum(-1)
            )
        alpha[edges] = F.leaky_relu(score, conv.negative_slope).softmax(dim=0)
        out[i] = (alpha[edges].unsqueeze(-1) * h_j).sum(0)
    out = out.reshape(num_dst, -1) if conv.concat else out.mean(1)
    if conv.res is not None and x_dst is not None:
        out = out + conv.res(x_dst)
    return out + conv.bias, alpha


def gatconv_edges(edge_index, num_nodes, edge_attr=None, fill_value="mean"):
    # The graph GATConv's add_self_loops=True runs on: loops replaced, at the end.
    edge_index, edge_attr = remove_self_loops(edge_index, edge_attr)
    return add_self_loops(edge_index, edge_attr, fill_value=fill_value, num_nodes=num_nodes)


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("heads,concat", [(1, True), (3, True), (3, False)])
# One channel (|h_i - h_j| = |w| |x_i - x_j|), narrower and wider than out_channels.
@pytest.mark.parametrize("in_channels", [1, 2, 6])
@pytest.mark.parametrize("graph", ["random", "complete", "complete-no-loops"])
@pytest.mark.parametrize("add_loops", [True, False])
def test_matches_brute_force(shared, heads, concat, in_channels, graph, add_loops, random_graph):
    torch.manual_seed(0)
    if graph == "random":
        x = torch.randn(9, in_channels, dtype=torch.float64)
        edge_index = random_graph(9, 30, seed=1)
    else:
        rows = torch.randn(3, 4, in_channels, dtype=torch.float64)
        batch = rows_to_graph(rows, self_loops=graph == "complete")
        x, edge_index = batch.x, batch.edge_index
    conv = FeatureDiffGATConv(
        in_channels,
        4,
        heads=heads,
        concat=concat,
        add_self_loops=add_loops,
        shared_attention=shared,
    ).double()
    torch.nn.init.normal_(conv.bias)
    out, (ei, alpha) = conv(x, edge_index, return_attention_weights=True)
    if add_loops:
        edge_index, _ = gatconv_edges(edge_index, x.size(0))
    expected, expected_alpha = brute_force(conv, x, edge_index)
    assert torch.equal(ei, edge_index)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(alpha, expected_alpha)


def test_attention_is_a_distribution_per_target(random_graph):
    torch.manual_seed(1)
    x, edge_index = torch.randn(10, 3), random_graph(10, 35, seed=2)
    conv = FeatureDiffGATConv(3, 4, heads=2)
    _, (ei, alpha) = conv(x, edge_index, return_attention_weights=True)
    assert alpha.min() >= 0 and alpha.max() <= 1
    sums = torch.zeros(10, 2).index_add_(0, ei[1], alpha)
    targets = torch.unique(ei[1])
    torch.testing.assert_close(sums[targets], torch.ones(len(targets), 2))


@pytest.mark.parametrize("self_loops", [True, False])
@pytest.mark.parametrize("add_loops", [True, False])
def test_dense_fast_path_equals_message_passing(
    self_loops, add_loops, shuffled, edge_alpha_to_dense
):
    torch.manual_seed(2)
    batch = rows_to_graph(torch.randn(4, 5, 2), self_loops=self_loops)
    conv = FeatureDiffGATConv(
        2, 3, heads=2, add_self_loops=add_loops, shared_attention=False
    ).double()
    x = batch.x.double()
    assert conv.uses_fast_path(batch.edge_index, 20)
    out, (ei, alpha) = conv(x, batch.edge_index, return_attention_weights=True)
    edge_index, order = shuffled(batch.edge_index)
    out_mp, (ei_mp, alpha_mp) = conv(x, edge_index, return_attention_weights=True)
    torch.testing.assert_close(out, out_mp)
    if add_loops:
        # GATConv's order on both paths: the other edges as given, loops last.
        assert torch.equal(ei, gatconv_edges(batch.edge_index, 20)[0])
        assert torch.equal(ei_mp, gatconv_edges(edge_index, 20)[0])
        torch.testing.assert_close(
            edge_alpha_to_dense(ei, alpha, 20), edge_alpha_to_dense(ei_mp, alpha_mp, 20)
        )
    else:
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


def test_static_form_and_feature_permutation(random_graph):
    torch.manual_seed(4)
    rows = torch.randn(3, 5, 2)
    template = random_graph(5, 12, seed=5)
    conv = FeatureDiffGATConv(2, 3, heads=2, add_self_loops=False)
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
    conv = FeatureDiffGATConv(2, 3, heads=2, add_self_loops=False)
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
def test_gradcheck(graph, random_graph):
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
def test_with_and_without_torch_scatter(monkeypatch, use_torch_scatter, random_graph):
    if use_torch_scatter:
        pytest.importorskip("torch_scatter")
    torch.manual_seed(7)
    x, edge_index = torch.randn(8, 2, dtype=torch.float64), random_graph(8, 24, seed=8)
    conv = FeatureDiffGATConv(2, 3, heads=2).double()
    expected, _ = brute_force(conv, x, gatconv_edges(edge_index, 8)[0])
    monkeypatch.setattr(pt_typing, "WITH_TORCH_SCATTER", use_torch_scatter)
    torch.testing.assert_close(conv(x, edge_index), expected)


@pytest.mark.slow
def test_torch_compile(shuffled):
    batch = rows_to_graph(torch.randn(3, 4))
    conv = FeatureDiffGATConv(1, 4, heads=2)
    expected = conv(batch.x, batch.edge_index)
    compiled = torch.compile(conv, backend="aot_eager")
    out = compiled(batch.x, batch.edge_index)
    torch.testing.assert_close(out, expected)
    out.sum().backward()
    edge_index, _ = shuffled(batch.edge_index)
    torch.testing.assert_close(compiled(batch.x, edge_index), expected)


def test_rejects_bad_arguments(random_graph):
    with pytest.raises(ValueError, match=r"heads must be a positive int \(got 2.0\)"):
        FeatureDiffGATConv(1, 4, heads=2.0)
    conv = FeatureDiffGATConv(3, 4)
    with pytest.raises(ValueError, match="x must have 3 channels"):
        conv(torch.randn(5, 1), random_graph(5, 6, seed=9))
    with pytest.raises(ValueError, match=r"x must have shape"):
        conv(torch.randn(2, 5, 3, 1), random_graph(5, 6, seed=9))


# GATConv's surface ############################################################


@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("heads,concat", [(1, True), (3, False)])
def test_bipartite_matches_brute_force(residual, heads, concat, random_graph):
    torch.manual_seed(8)
    x_src = torch.randn(8, 3, dtype=torch.float64)
    x_dst = torch.randn(5, 2, dtype=torch.float64)
    edge_index = random_graph(8, 25, seed=9, num_targets=5)
    conv = FeatureDiffGATConv(
        (3, 2), 4, heads=heads, concat=concat, residual=residual, shared_attention=False
    ).double()
    assert repr(conv) == f"FeatureDiffGATConv((3, 2), 4, heads={heads})"
    torch.nn.init.normal_(conv.bias)
    out, (ei, alpha) = conv((x_src, x_dst), edge_index, return_attention_weights=True)
    # Loops for the nodes that are both sources and targets: the first five.
    assert torch.equal(ei, gatconv_edges(edge_index, 5)[0])
    expected, expected_alpha = brute_force(conv, (x_src, x_dst), ei)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(alpha, expected_alpha)
    # Without target features, the terms that need them drop out.
    out, (ei, alpha) = conv((x_src, None), edge_index, size=(8, 5), return_attention_weights=True)
    expected, expected_alpha = brute_force(conv, (x_src, None), ei)
    assert out.shape == (5, expected.size(1))
    torch.testing.assert_close(out[: int(ei[1].max()) + 1], expected)
    torch.testing.assert_close(alpha, expected_alpha)


@pytest.mark.parametrize("fill_value", ["mean", 0.5])
@pytest.mark.parametrize("in_channels", [1, 3])
def test_edge_attr_matches_brute_force(fill_value, in_channels, random_graph):
    torch.manual_seed(10)
    x = torch.randn(9, in_channels, dtype=torch.float64)
    edge_index = random_graph(9, 30, seed=11)
    edge_attr = torch.randn(30, 2, dtype=torch.float64)
    conv = FeatureDiffGATConv(in_channels, 4, heads=2, edge_dim=2, fill_value=fill_value).double()
    out, (ei, alpha) = conv(x, edge_index, edge_attr, return_attention_weights=True)
    ei_loops, attr_loops = gatconv_edges(edge_index, 9, edge_attr, fill_value)
    assert torch.equal(ei, ei_loops)
    expected, expected_alpha = brute_force(conv, x, ei_loops, attr_loops)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(alpha, expected_alpha)
    assert not torch.allclose(conv(x, edge_index), out)  # the edge term counts


@pytest.mark.parametrize("layout", ["csr", "coo"])
def test_torch_sparse_adjacency_equals_edge_index(layout, random_graph):
    from torch_geometric.utils import coalesce, to_torch_coo_tensor, to_torch_csr_tensor

    torch.manual_seed(12)
    x = torch.randn(9, 3, dtype=torch.float64)
    edge_index = coalesce(random_graph(9, 25, seed=13).flip(0)).flip(0)  # sorted by target
    to_sparse = to_torch_csr_tensor if layout == "csr" else to_torch_coo_tensor
    adj = to_sparse(edge_index.flip(0), size=(9, 9))  # rows are targets, as adj_t
    conv = FeatureDiffGATConv(3, 4, heads=2).double()
    out, (adj_out, alpha) = conv(x, adj, return_attention_weights=True)
    expected, (ei, expected_alpha) = conv(x, edge_index, return_attention_weights=True)
    torch.testing.assert_close(out, expected)
    assert adj_out.layout == adj.layout
    dense = torch.zeros(9, 9, 2, dtype=torch.float64)
    dense[ei[1], ei[0]] = expected_alpha
    torch.testing.assert_close(adj_out.to_dense(), dense)


# PyG's machinery: explainers, Inspector, parameter order ######################


@pytest.mark.parametrize("add_loops", [True, False])
@pytest.mark.parametrize("graph", ["random", "complete"])
def test_attention_explainer_reads_the_returned_attention(
    add_loops, graph, random_graph, attention_edge_mask
):
    # message() receives alpha [E, H], as from GATConv, so PyG's
    # AttentionExplainer reduces it over heads; on one layer its edge mask is
    # the returned attention's maximum over heads for the graph's edges (the
    # appended self-loops come last, GATConv's order, and are cut off).
    torch.manual_seed(5)
    if graph == "random":
        x = torch.randn(10, 3)
        edge_index, _ = remove_self_loops(random_graph(10, 30, seed=6))
    else:
        batch = rows_to_graph(torch.randn(3, 4, 3), self_loops=False)
        x, edge_index = batch.x, batch.edge_index
    conv = FeatureDiffGATConv(3, 4, heads=3, add_self_loops=add_loops, shared_attention=False)
    seen = []
    conv.register_message_forward_hook(lambda m, inputs, out: seen.append(inputs[0]["alpha"]))
    _, (_, alpha) = conv(x, edge_index, return_attention_weights=True)
    assert seen[0].shape == alpha.shape == (edge_index.size(1) + add_loops * x.size(0), 3)
    torch.testing.assert_close(seen[0], alpha)
    mask = attention_edge_mask(conv, x, edge_index, index=None)
    torch.testing.assert_close(mask, alpha[: edge_index.size(1)].amax(dim=-1))
    assert mask.min() < mask.max()


def test_inspector_reads_the_declared_types():
    from torch_geometric.inspector import Inspector
    from torch_geometric.nn import GATConv
    from torch_geometric.typing import OptPairTensor, OptTensor

    inspector = Inspector(FeatureDiffGATConv)
    for exclude in (None, [0, "edge_index", "size"]):
        propagate = inspector.get_params_from_method_call("propagate", exclude=exclude)
        expected = Inspector(GATConv).get_params_from_method_call("propagate", exclude=exclude)
        assert propagate == expected
        edge_updater = inspector.get_params_from_method_call("edge_updater", exclude=exclude)
        assert {name: p.type for name, p in edge_updater.items()} == {
            "x": OptPairTensor,
            "score": OptPairTensor,
            "diff": Tensor,
            "edge_attr": OptTensor,
            "edge_log_weight": OptTensor,
        }
    FeatureDiffGATConv(3, 4)  # the first instance generates the methods
    for name in ("propagate", "edge_updater"):
        assert getattr(FeatureDiffGATConv, f"_jinja_{name}") is not getattr(
            FeatureDiffGATConv, f"_orig_{name}"
        )


def test_parameters_in_gatconv_order():
    # The score where GATConv has att_src and att_dst: after the projections,
    # before att_edge and bias.
    conv = FeatureDiffGATConv((3, 5), 4, heads=2, edge_dim=2, residual=True)
    assert [name for name, _ in conv.named_parameters()] == [
        "att",
        "att_edge",
        "bias",
        "lin_src.weight",
        "lin_dst.weight",
        "lin_edge.weight",
        "res.weight",
    ]


def test_edge_weight_multiplies_the_softmax_share():
    torch.manual_seed(0)
    conv = FeatureDiffGATConv(1, 4, heads=2, add_self_loops=False).double()
    x = torch.randn(2, 6, 1, dtype=torch.float64)  # static form
    edge_index = torch.tensor([[1, 2, 0, 3, 4, 5, 0, 2], [0, 0, 1, 1, 2, 3, 4, 5]])
    weight = torch.rand(8, dtype=torch.float64) + 0.1
    _, (_, alpha) = conv(x, edge_index, edge_weight=weight, return_attention_weights=True)
    _, (_, plain) = conv(x, edge_index, return_attention_weights=True)
    scaled = plain * weight.view(1, -1, 1)
    total = torch.zeros(2, 6, 2, dtype=torch.float64).index_add_(1, edge_index[1], scaled)
    torch.testing.assert_close(alpha, scaled / total[:, edge_index[1]])
