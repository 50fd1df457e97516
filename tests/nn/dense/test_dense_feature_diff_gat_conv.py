import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from pyg_tabular.data import rows_to_graph
from pyg_tabular.nn.conv import FeatureDiffGATConv
from pyg_tabular.nn.dense import DenseFeatureDiffGATConv


def test_repr_and_parameter_names_match_the_sparse_layer():
    for shared in (True, False):
        dense = DenseFeatureDiffGATConv(1, 8, heads=4, shared_attention=shared)
        sparse = FeatureDiffGATConv(1, 8, heads=4, shared_attention=shared)
        assert {k: v.shape for k, v in dense.state_dict().items()} == {
            k: v.shape for k, v in sparse.state_dict().items()
        }
    assert repr(dense) == "DenseFeatureDiffGATConv(1, 8, heads=4)"


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("heads,concat", [(1, True), (3, True), (3, False)])
@pytest.mark.parametrize("in_channels", [1, 6])
def test_equals_sparse_layer_on_complete_and_masked_graphs(
    shared, heads, concat, in_channels, adj_to_edge_index, random_adj
):
    torch.manual_seed(0)
    rows = torch.randn(4, 5, in_channels, dtype=torch.float64)
    sparse = FeatureDiffGATConv(
        in_channels, 4, heads=heads, concat=concat, shared_attention=shared
    ).double()
    torch.nn.init.normal_(sparse.bias)
    dense = DenseFeatureDiffGATConv(
        in_channels, 4, heads=heads, concat=concat, shared_attention=shared
    ).double()
    dense.load_state_dict(sparse.state_dict())
    width = dense.bias.numel()

    batch = rows_to_graph(rows)
    order = torch.randperm(batch.edge_index.size(1))  # the message-passing path
    expected = sparse(batch.x, batch.edge_index[:, order])
    torch.testing.assert_close(dense(rows).reshape(-1, width), expected)

    adj = random_adj(4, 5, seed=1)
    adj[0, 3] = False  # a target without neighbours
    expected = sparse(rows.reshape(-1, in_channels), adj_to_edge_index(adj))
    torch.testing.assert_close(dense(rows, adj).reshape(-1, width), expected)


def test_state_dict_loads_back_into_the_sparse_layer():
    dense = DenseFeatureDiffGATConv(2, 3, heads=2, shared_attention=False)
    sparse = FeatureDiffGATConv(2, 3, heads=2, shared_attention=False)
    sparse.load_state_dict(dense.state_dict())
    rows = torch.randn(3, 4, 2)
    batch = rows_to_graph(rows)
    torch.testing.assert_close(dense(rows).reshape(-1, 6), sparse(batch.x, batch.edge_index))


def test_no_pair_tensor_forward_or_backward(random_adj):
    batch_size, num_features, heads, channels = 4, 12, 2, 8

    class LargestTensor(TorchDispatchMode):
        largest = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for value in out if isinstance(out, (tuple, list)) else [out]:
                if isinstance(value, torch.Tensor):
                    LargestTensor.largest = max(LargestTensor.largest, value.numel())
            return out

    conv = DenseFeatureDiffGATConv(3, channels, heads=heads)
    rows = torch.randn(batch_size, num_features, 3, requires_grad=True)
    with LargestTensor():
        conv(rows, random_adj(batch_size, num_features, seed=2)).sum().backward()
    # [B, H, F, F] (scores, attention) is the largest tensor; [B, H, F, F, D] never exists.
    assert LargestTensor.largest == batch_size * heads * num_features * num_features


def test_targets_without_neighbours_get_zeros_never_nan():
    rows = torch.randn(2, 4, 1, dtype=torch.float64, requires_grad=True)
    adj = torch.zeros(4, 4, dtype=torch.bool)
    adj[0, 1] = adj[2, 2] = True
    conv = DenseFeatureDiffGATConv(1, 3, heads=2, add_self_loops=False).double()
    out, alpha = conv(rows, adj, return_attention_weights=True)
    assert alpha.shape == (2, 2, 4, 4)
    torch.testing.assert_close(out[:, [1, 3]], conv.bias.expand(2, 2, -1))
    torch.testing.assert_close(alpha[:, :, 0, 1], torch.ones(2, 2, dtype=torch.float64))
    out.sum().backward()
    assert torch.isfinite(rows.grad).all()


def test_permuting_features_permutes_outputs(random_adj):
    torch.manual_seed(3)
    rows, adj = torch.randn(3, 6, 2), random_adj(3, 6, seed=4)
    perm = torch.randperm(6)
    conv = DenseFeatureDiffGATConv(2, 4, heads=2)
    torch.testing.assert_close(
        conv(rows[:, perm], adj[:, perm][:, :, perm]), conv(rows, adj)[:, perm]
    )


def test_empty_batch_and_one_feature():
    conv = DenseFeatureDiffGATConv(2, 4, heads=2)
    assert conv(torch.randn(0, 5, 2)).shape == (0, 5, 8)
    _, alpha = conv(torch.randn(3, 1, 2), return_attention_weights=True)
    torch.testing.assert_close(alpha, torch.ones(3, 2, 1, 1))


@pytest.mark.parametrize("shared", [True, False])
def test_gradcheck(shared, random_adj):
    torch.manual_seed(5)
    rows = torch.randn(2, 4, 2, dtype=torch.float64, requires_grad=True)
    adj = random_adj(2, 4, seed=6)
    conv = DenseFeatureDiffGATConv(2, 3, heads=2, shared_attention=shared).double()
    with torch.no_grad():
        conv.att[..., -1] = 0.0  # an exact zero in u_3 keeps its gradient
    names = [name for name, _ in conv.named_parameters()]

    def fn(inputs, *weights):
        return torch.func.functional_call(conv, dict(zip(names, weights)), (inputs, adj))

    assert torch.autograd.gradcheck(fn, (rows, *conv.parameters()))


@pytest.mark.slow
def test_torch_compile_without_graph_breaks(random_adj):
    conv = DenseFeatureDiffGATConv(1, 4, heads=2)
    rows, adj = torch.randn(3, 5, 1), random_adj(3, 5, seed=7)
    explanation = torch._dynamo.explain(conv)(rows, adj)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    compiled = torch.compile(conv, backend="aot_eager", fullgraph=True)
    for mask in (adj, None):
        out = compiled(rows, mask)
        torch.testing.assert_close(out, conv(rows, mask))
        out.sum().backward()


def test_rejects_bad_inputs():
    conv = DenseFeatureDiffGATConv(2, 4)
    with pytest.raises(ValueError, match="x must have 2 channels"):
        conv(torch.randn(3, 5, 1))
    with pytest.raises(ValueError, match=r"adj must have shape \[5, 5\]"):
        conv(torch.randn(3, 5, 2), torch.ones(3, 5))
    with pytest.raises(ValueError, match="out_channels must be a positive int"):
        DenseFeatureDiffGATConv(2, 0)


def test_dense_gat_conv_call_masks_and_adds_loops(random_adj):
    torch.manual_seed(8)
    conv = DenseFeatureDiffGATConv(2, 3, heads=2)
    torch.nn.init.normal_(conv.bias)
    rows, adj = torch.randn(3, 5, 2), random_adj(3, 5, seed=9)
    mask = torch.ones(3, 5, dtype=torch.bool)
    mask[2, 3:] = False
    out = conv(rows, adj, mask)
    assert torch.equal(out[2, 3:], torch.zeros_like(out[2, 3:]))
    torch.testing.assert_close(out[mask], conv(rows, adj)[mask])
    loops = adj | torch.eye(5, dtype=torch.bool)
    torch.testing.assert_close(conv(rows, adj), conv(rows, loops, add_loop=False))
    assert conv(rows[0], adj[0]).shape == (1, 5, 6)
