import copy
import functools

import pytest
import torch
from torch_geometric.nn import DenseGATConv, GATConv

from pyg_tabular.data import rows_to_graph
from pyg_tabular.nn.conv import FeatureGATConv
from pyg_tabular.nn.dense import DenseFeatureGATConv


def test_repr_and_parameters_match_the_sparse_layer_and_dense_gat_conv():
    dense = DenseFeatureGATConv(1, 16, heads=4, concat=False, att_bias=False)
    sparse = FeatureGATConv(1, 16, heads=4, concat=False, att_bias=False)
    reference = DenseGATConv(1, 16, heads=4, concat=False)
    assert repr(dense) == "DenseFeatureGATConv(1, 16, heads=4)"
    # The sparse layer's names in its order; DenseGATConv's names, order and
    # shapes, which an optimizer's state needs to carry over.
    assert [k for k, _ in dense.named_parameters()] == [k for k, _ in sparse.named_parameters()]
    assert [(k, v.shape) for k, v in dense.named_parameters()] == [
        (k, v.shape) for k, v in reference.named_parameters()
    ]
    assert dense.att_src.shape == (1, 1, 4, 16) and sparse.att_src.shape == (1, 4, 16)
    assert dense.att_bias is None and dense.bias.shape == (16,)
    with_bias = [k for k, _ in DenseFeatureGATConv(1, 16, heads=4).named_parameters()]
    assert with_bias == ["att_src", "att_dst", "att_bias", "bias", "lin.weight"]


def test_seeded_construction_draws_dense_gat_conv_weights():
    # Parameters are reset in DenseGATConv's order, so one seed gives one start.
    torch.manual_seed(5)
    reference = DenseGATConv(3, 4, heads=2)
    torch.manual_seed(5)
    dense = DenseFeatureGATConv(3, 4, heads=2, att_bias=False)
    for (name, expected), (_, param) in zip(
        reference.named_parameters(), dense.named_parameters(), strict=True
    ):
        assert torch.equal(param, expected), name


@pytest.mark.parametrize("heads,concat", [(1, True), (4, True), (4, False)])
@pytest.mark.parametrize("in_channels", [1, 12])
def test_equals_sparse_layer_on_the_complete_graph(heads, concat, in_channels):
    torch.manual_seed(0)
    rows = torch.randn(5, 6, in_channels)
    sparse = FeatureGATConv(in_channels, 8, heads=heads, concat=concat)
    torch.nn.init.normal_(sparse.att_bias)
    torch.nn.init.normal_(sparse.bias)
    dense = DenseFeatureGATConv(in_channels, 8, heads=heads, concat=concat)
    dense.load_state_dict(sparse.state_dict())

    out, alpha = dense(rows, return_attention_weights=True)
    batch = rows_to_graph(rows)
    # Shuffled edges force the message-passing path of the sparse layer.
    order = torch.randperm(batch.edge_index.size(1))
    edge_index = batch.edge_index[:, order]
    expected, (edge_index, expected_alpha) = sparse(
        batch.x, edge_index, return_attention_weights=True
    )
    torch.testing.assert_close(out.reshape(-1, out.size(-1)), expected)
    b, i = edge_index[1] // 6, edge_index[1] % 6
    torch.testing.assert_close(alpha[b, :, i, edge_index[0] % 6], expected_alpha)


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("add_self_loops", [False, True])
def test_equals_sparse_layer_on_masked_graphs(
    shared, add_self_loops, adj_to_edge_index, random_adj
):
    torch.manual_seed(1)
    rows = torch.randn(4, 7, 2, dtype=torch.float64)
    adj = random_adj(1 if shared else 4, 7, seed=2)
    sparse = FeatureGATConv(2, 3, heads=2, add_self_loops=add_self_loops).double()
    torch.nn.init.normal_(sparse.att_bias)
    torch.nn.init.normal_(sparse.bias)
    dense = DenseFeatureGATConv(2, 3, heads=2, add_self_loops=add_self_loops).double()
    dense.load_state_dict(sparse.state_dict())
    out = dense(rows, adj[0] if shared else adj)
    edge_index = adj_to_edge_index(adj.expand(4, -1, -1))
    expected = sparse(rows.reshape(-1, 2), edge_index)
    torch.testing.assert_close(out.reshape(-1, 6), expected)


def test_state_dict_loads_back_into_the_sparse_layer():
    dense = DenseFeatureGATConv(3, 4, heads=2)
    torch.nn.init.normal_(dense.att_bias)
    sparse = FeatureGATConv(3, 4, heads=2)
    sparse.load_state_dict(dense.state_dict())
    rows = torch.randn(2, 5, 3)
    batch = rows_to_graph(rows)
    torch.testing.assert_close(dense(rows).reshape(-1, 8), sparse(batch.x, batch.edge_index))


def test_equals_pyg_dense_gat_conv_without_score_bias(random_adj):
    torch.manual_seed(2)
    rows = torch.randn(3, 6, 4)
    adj = random_adj(3, 6, seed=3) | torch.eye(6, dtype=torch.bool)  # no empty row
    reference = DenseGATConv(4, 5, heads=3)
    dense = DenseFeatureGATConv(4, 5, heads=3, att_bias=False)
    dense.load_state_dict(reference.state_dict())  # its [1, 1, H, C] vectors reshape
    expected = reference(rows, adj.float(), add_loop=False)
    torch.testing.assert_close(dense(rows, adj), expected, rtol=0, atol=1e-6)


def test_targets_without_neighbours_get_zeros_never_nan(random_adj):
    rows = torch.randn(3, 4, 2, dtype=torch.float64, requires_grad=True)
    adj = random_adj(3, 4, seed=4)
    adj[1, 2] = False
    adj[2] = False  # a row with no edge at all
    conv = DenseFeatureGATConv(2, 3, heads=2, add_self_loops=False).double()
    torch.nn.init.normal_(conv.bias)
    out, alpha = conv(rows, adj, return_attention_weights=True)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[1, 2], conv.bias)
    torch.testing.assert_close(out[2], conv.bias.expand(4, -1))
    assert torch.equal(alpha[2], torch.zeros(2, 4, 4, dtype=torch.float64))
    has = adj.any(-1)  # [B, F]
    sums = alpha.sum(-1)  # [B, H, F]
    torch.testing.assert_close(sums, has.unsqueeze(1).expand_as(sums).double())
    assert ((alpha == 0) | adj.unsqueeze(1)).all()  # masked pairs carry no weight
    out.sum().backward()
    assert torch.isfinite(rows.grad).all()


def test_attention_shape_and_range():
    conv = DenseFeatureGATConv(1, 4, heads=3)
    out, alpha = conv(torch.randn(5, 6, 1), return_attention_weights=True)
    assert out.shape == (5, 6, 12) and alpha.shape == (5, 3, 6, 6)
    assert alpha.min() >= 0 and alpha.max() <= 1
    torch.testing.assert_close(alpha.sum(-1), torch.ones(5, 3, 6))


def test_permuting_features_permutes_outputs(random_adj):
    torch.manual_seed(5)
    rows, adj = torch.randn(3, 6, 2), random_adj(3, 6, seed=6)
    perm = torch.randperm(6)
    conv = DenseFeatureGATConv(2, 4, heads=2)
    out = conv(rows, adj)
    torch.testing.assert_close(conv(rows[:, perm], adj[:, perm][:, :, perm]), out[:, perm])


def test_empty_batch_one_feature_and_lazy_channels():
    conv = DenseFeatureGATConv(-1, 4, heads=2)
    assert conv(torch.randn(0, 5, 3)).shape == (0, 5, 8)
    out, alpha = conv(torch.randn(2, 1, 3), return_attention_weights=True)
    torch.testing.assert_close(alpha, torch.ones(2, 2, 1, 1))
    assert out.shape == (2, 1, 8)
    with pytest.raises(ValueError, match="x must have 3 channels"):
        conv(torch.randn(2, 5, 4))


def test_dropout_and_reset_parameters():
    conv = DenseFeatureGATConv(1, 4, dropout=0.5)
    rows = torch.randn(4, 8, 1)
    conv.eval()
    torch.testing.assert_close(conv(rows), conv(rows))
    conv.train()
    _, alpha = conv(rows, return_attention_weights=True)
    assert (alpha == 0).any()
    torch.manual_seed(7)
    first = DenseFeatureGATConv(2, 3, heads=2)
    torch.manual_seed(7)
    second = DenseFeatureGATConv(2, 3, heads=2)
    for a, b in zip(first.parameters(), second.parameters()):
        assert torch.equal(a, b)


def test_gradcheck(random_adj):
    torch.manual_seed(8)
    rows = torch.randn(2, 4, 2, dtype=torch.float64, requires_grad=True)
    adj = random_adj(2, 4, seed=9)
    adj[0, 1] = False
    conv = DenseFeatureGATConv(2, 3, heads=2).double()
    torch.nn.init.normal_(conv.att_bias)
    names = [name for name, _ in conv.named_parameters()]

    def fn(inputs, *weights):
        return torch.func.functional_call(conv, dict(zip(names, weights)), (inputs, adj))

    assert torch.autograd.gradcheck(fn, (rows, *conv.parameters()))


@pytest.mark.slow
def test_torch_compile_without_graph_breaks(random_adj):
    conv = DenseFeatureGATConv(1, 4, heads=2)
    rows, adj = torch.randn(3, 5, 1), random_adj(3, 5, seed=10)
    explanation = torch._dynamo.explain(conv)(rows, adj)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    compiled = torch.compile(conv, backend="aot_eager", fullgraph=True)
    for mask in (adj, None):
        out = compiled(rows, mask)
        torch.testing.assert_close(out, conv(rows, mask))
        out.sum().backward()


def test_rejects_bad_inputs():
    conv = DenseFeatureGATConv(1, 4)
    with pytest.raises(ValueError, match=r"x must have shape \[batch_size, num_features"):
        conv(torch.randn(5))
    with pytest.raises(ValueError, match=r"mask must have shape \[3, 5\] or \[5\]"):
        conv(torch.randn(3, 5, 1), None, torch.ones(3, 4))
    with pytest.raises(ValueError, match=r"adj must have shape \[5, 5\]"):
        conv(torch.randn(3, 5, 1), torch.ones(5, 4))
    with pytest.raises(ValueError, match="adj must hold one graph or one per row"):
        conv(torch.randn(3, 5, 1), torch.ones(2, 5, 5))
    with pytest.raises(ValueError, match="adj must be a torch.Tensor"):
        conv(torch.randn(3, 5, 1), [[1]])
    with pytest.raises(ValueError, match=r"dropout must be a float in \[0, 1\)"):
        DenseFeatureGATConv(1, 4, dropout=-0.1)


# DenseGATConv's call ##########################################################


@pytest.fixture
def dense_pair(tied_pair):
    # DenseGATConv and DenseFeatureGATConv with one shared state.
    return functools.partial(tied_pair, DenseGATConv, DenseFeatureGATConv)


@pytest.mark.parametrize("heads,concat", [(1, True), (4, True), (4, False)])
@pytest.mark.parametrize("add_loop", [True, False])
def test_equals_dense_gat_conv_call_for_call(heads, concat, add_loop, random_adj, dense_pair):
    reference, dense = dense_pair(4, 5, heads=heads, concat=concat)
    assert dense.att_src.shape == (1, 1, heads, 5)  # saved in DenseGATConv's layout
    rows = torch.randn(3, 6, 4)
    adj = random_adj(3, 6, seed=11) | torch.eye(6, dtype=torch.bool)  # no empty row
    mask = torch.ones(3, 6, dtype=torch.bool)
    mask[1, 4:] = False
    for args in ((rows, adj.float()), (rows, adj.float(), mask), (rows, adj[0].float(), None)):
        expected = reference(*args, add_loop=add_loop)
        torch.testing.assert_close(dense(*args, add_loop=add_loop), expected, rtol=0, atol=1e-6)
    # A positional mask lands in the mask slot, and add_loop is the fourth argument.
    expected = reference(rows, adj.float(), mask, add_loop)
    out = dense(rows, adj.float(), mask, add_loop)
    assert isinstance(out, torch.Tensor)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)
    assert torch.equal(out[1, 4:], torch.zeros_like(out[1, 4:]))


def test_add_loop_changes_an_adjacency_without_loops(random_adj, dense_pair):
    _, dense = dense_pair(2, 3, heads=2)
    rows, adj = torch.randn(2, 5, 2), random_adj(2, 5, seed=12)
    adj = adj & ~torch.eye(5, dtype=torch.bool)
    with_loops = adj | torch.eye(5, dtype=torch.bool)
    torch.testing.assert_close(dense(rows, adj), dense(rows, with_loops, add_loop=False))
    assert not torch.allclose(dense(rows, adj), dense(rows, adj, add_loop=False))
    # A layer built without self-loops keeps the adjacency as given.
    plain = DenseFeatureGATConv(2, 3, heads=2, add_self_loops=False)
    plain.load_state_dict(dense.state_dict())
    torch.testing.assert_close(plain(rows, adj), dense(rows, adj, add_loop=False))


def test_two_dimensional_inputs_and_one_element_mask(dense_pair):
    reference, dense = dense_pair(3, 4, heads=2)
    x, adj = torch.randn(5, 3), (torch.rand(5, 5) < 0.5).float()
    out = dense(x, adj)
    assert out.shape == (1, 5, 8)  # as DenseGATConv: one graph of a batch of one
    torch.testing.assert_close(out, reference(x, adj), rtol=0, atol=1e-6)
    one_node = dense(torch.randn(1, 1, 3), torch.ones(1, 1), torch.tensor([[True]]))
    assert isinstance(one_node, torch.Tensor) and one_node.shape == (1, 1, 8)
    mask = torch.tensor([True, True, False, True, False])
    torch.testing.assert_close(dense(x, adj, mask), reference(x, adj, mask), rtol=0, atol=1e-6)


def test_loads_gatconv_dense_gatconv_and_sparse_twin_states():
    rows = torch.randn(2, 4, 3)
    batch = rows_to_graph(rows)
    sparse = GATConv(3, 4, heads=2)
    with torch.no_grad():
        sparse.att_src.normal_()
    dense = DenseFeatureGATConv(3, 4, heads=2)
    dense.load_state_dict(sparse.state_dict())  # no att_bias: a zero score bias
    assert torch.equal(dense.att_bias, torch.zeros(2))
    torch.testing.assert_close(dense(rows).reshape(-1, 8), sparse(batch.x, batch.edge_index))
    twin = FeatureGATConv(3, 4, heads=2)
    torch.nn.init.normal_(twin.att_bias)
    dense.load_state_dict(twin.state_dict())
    torch.testing.assert_close(dense(rows).reshape(-1, 8), twin(batch.x, batch.edge_index))
    # Saved in DenseGATConv's layout: its state loads into DenseGATConv as is,
    # and a state saved in the earlier [1, H, C] layout still loads.
    plain = DenseFeatureGATConv(3, 4, heads=2, att_bias=False)
    plain.load_state_dict(twin.state_dict(), strict=False)
    assert plain.att_src.shape == (1, 1, 2, 4)
    reference = DenseGATConv(3, 4, heads=2)
    reference.load_state_dict(plain.state_dict())
    adj = torch.ones(4, 4)
    torch.testing.assert_close(reference(rows, adj), plain(rows, adj), rtol=0, atol=1e-6)
    state = plain.state_dict()
    earlier = {k: v.view(1, 2, 4) if k.startswith("att_") else v for k, v in state.items()}
    reloaded = DenseFeatureGATConv(3, 4, heads=2, att_bias=False)
    reloaded.load_state_dict(earlier)
    assert torch.equal(reloaded(rows), plain(rows))


@pytest.mark.parametrize("heads,concat", [(1, True), (4, False)])
def test_padded_batch_equals_the_sparse_layer_with_defaults(heads, concat):
    # Two graphs of 3 and 2 nodes, padded to 3: the sparse layer (self-loops
    # added) and the dense twin (add_loop=True) agree on the real nodes, and
    # the padding node's output is zero.
    torch.manual_seed(9)
    sparse = FeatureGATConv(6, 5, heads=heads, concat=concat)
    torch.nn.init.normal_(sparse.att_bias)
    torch.nn.init.normal_(sparse.bias)
    dense = DenseFeatureGATConv(6, 5, heads=heads, concat=concat)
    dense.load_state_dict(sparse.state_dict())
    x = torch.randn(5, 6)
    edge_index = torch.tensor([[0, 1, 1, 2, 3, 4], [1, 0, 2, 1, 4, 3]])
    expected = sparse(x, edge_index)
    padded = torch.cat([x, x.new_zeros(1, 6)]).view(2, 3, 6)
    adj = torch.tensor([[[0, 1, 0], [1, 0, 1], [0, 1, 0]], [[0, 1, 0], [1, 0, 0], [0, 0, 0]]])
    mask = torch.tensor([[True, True, True], [True, True, False]])
    out = dense(padded, adj.float(), mask)
    assert torch.equal(out[1, 2], torch.zeros_like(out[1, 2]))
    torch.testing.assert_close(out.view(6, -1)[:-1], expected)
    # One adjacency and one mask [F] broadcast over the batch.
    shared = dense(padded, adj[0].float(), torch.tensor([True, False, True]))
    assert shared.shape == (2, 3, out.size(-1)) and (shared[:, 1] == 0).all()


def test_dense_gat_conv_checkpoint_with_optimizer_resumes(random_adj):
    # Same names, order and shapes as DenseGATConv, so its optimizer's state
    # loads and training resumes. Our score is computed from two per-node
    # scalars instead of DenseGATConv's pairwise sum, so steps agree to
    # rounding (float64 here), not bit for bit.
    torch.manual_seed(4)
    rows = torch.randn(3, 6, 4, dtype=torch.float64)
    adj = (random_adj(3, 6, seed=5) | torch.eye(6, dtype=torch.bool)).double()
    mask = torch.ones(3, 6, dtype=torch.bool)
    mask[2, 5] = False

    def train(module, optimizer, steps):
        for _ in range(steps):
            optimizer.zero_grad()
            module(rows, adj, mask).square().mean().backward()
            optimizer.step()

    reference = DenseGATConv(4, 5, heads=3).double()
    optimizer = torch.optim.Adam(reference.parameters(), lr=0.05)
    train(reference, optimizer, 3)
    checkpoint = copy.deepcopy((reference.state_dict(), optimizer.state_dict()))
    train(reference, optimizer, 4)
    dense = DenseFeatureGATConv(4, 5, heads=3, att_bias=False).double()
    dense.load_state_dict(checkpoint[0])
    resumed = torch.optim.Adam(dense.parameters(), lr=0.05)
    resumed.load_state_dict(checkpoint[1])
    train(dense, resumed, 4)
    for name, param in dense.state_dict().items():
        torch.testing.assert_close(param, reference.state_dict()[name], rtol=1e-10, atol=1e-12)


# Edge weights ################################################################


@pytest.mark.parametrize("add_self_loops", [False, True])
@pytest.mark.parametrize("per_row", [False, True])
def test_edge_weight_multiplies_the_softmax_share(add_self_loops, per_row):
    torch.manual_seed(0)
    conv = DenseFeatureGATConv(2, 4, heads=2, add_self_loops=add_self_loops).double()
    x = torch.randn(3, 5, 2, dtype=torch.float64)
    adj = torch.rand(5, 5) < 0.6
    shape = (3, 5, 5) if per_row else (5, 5)
    # Zero off the graph: those entries are never read.
    weight = (torch.rand(*shape, dtype=torch.float64) + 0.1) * adj
    out, alpha = conv(x, adj, edge_weight=weight, return_attention_weights=True)
    _, plain = conv(x, adj, return_attention_weights=True)
    if add_self_loops:  # loops the layer adds weigh 1
        weight = torch.where(torch.eye(5, dtype=torch.bool), 1.0, weight)
    weight = weight.expand(3, 5, 5).unsqueeze(1)
    expected = plain * weight
    expected = expected / expected.sum(-1, keepdim=True).clamp_min(1e-300)
    torch.testing.assert_close(alpha, expected)
    h = conv.lin(x).view(3, 5, 2, 4)
    manual = torch.einsum("bkij,bjkc->bikc", expected, h).reshape(3, 5, 8) + conv.bias
    torch.testing.assert_close(out, manual)


def test_edge_weight_on_the_complete_graph_and_errors():
    torch.manual_seed(0)
    conv = DenseFeatureGATConv(1, 4, heads=2, add_self_loops=False)
    x = torch.randn(2, 4, 1)
    torch.testing.assert_close(conv(x, edge_weight=torch.full((4, 4), 2.0)), conv(x))
    assert not torch.allclose(conv(x, edge_weight=torch.rand(4, 4) + 0.1), conv(x))
    with pytest.raises(ValueError, match=r"edge_weight must have shape \[4, 4\]"):
        conv(x, edge_weight=torch.ones(3, 3))
    with pytest.raises(ValueError, match="positive finite weights"):
        conv(x, edge_weight=torch.zeros(4, 4))  # adj None: every pair is an edge
    with pytest.raises(ValueError, match="floating-point"):
        conv(x, edge_weight=torch.ones(4, 4, dtype=torch.long))
