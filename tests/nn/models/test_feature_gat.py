import copy

import pytest
import torch
from torch_geometric.nn import GATConv, HeteroConv, Sequential, to_hetero
from torch_geometric.nn.models import GAT

from pyg_tabular.data import rows_to_graph
from pyg_tabular.nn.conv import FeatureGATConv
from pyg_tabular.nn.models import FeatureGAT, swap_gat_convs

GAT_CONFIGS = [
    ((5, 8, 2), {"heads": 2}),
    ((5, 8, 3), {"out_channels": 2, "heads": 4, "jk": "cat"}),
    ((5, 6, 2), {"out_channels": 3, "heads": 3, "concat": False, "norm": "layer_norm"}),
    ((5, 8, 2), {"heads": 2, "edge_dim": 3, "add_self_loops": False, "residual": True}),
]


def _graph(seed=0, num_nodes=12, num_edges=40):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(num_nodes, 5, generator=generator)
    edge_index = torch.randint(0, num_nodes, (2, num_edges), generator=generator)
    edge_attr = torch.randn(num_edges, 3, generator=generator)
    return x, edge_index, edge_attr


def _call(model, kwargs, x, edge_index, edge_attr):
    if "edge_dim" in kwargs:
        return model(x, edge_index, edge_attr=edge_attr)
    return model(x, edge_index)


def _convs(model, conv_type):
    return [m for m in model.modules() if type(m) is conv_type]


@pytest.mark.parametrize("args,kwargs", GAT_CONFIGS)
def test_seeded_feature_gat_is_gat(args, kwargs):
    # GAT's convs, arguments and random numbers: one seed gives GAT's weights,
    # in GAT's parameter order, and GAT's function.
    torch.manual_seed(3)
    reference = GAT(*args, **kwargs)
    torch.manual_seed(3)
    model = FeatureGAT(*args, att_bias=False, **kwargs)
    assert len(_convs(model, FeatureGATConv)) == len(_convs(reference, GATConv)) == args[2]
    assert not _convs(model, GATConv)
    expected = [(name, p) for name, p in reference.named_parameters()]
    got = [(name, p) for name, p in model.named_parameters()]
    assert [name for name, _ in got] == [name for name, _ in expected]
    for (name, param), (_, reference_param) in zip(got, expected):
        assert torch.equal(param, reference_param), name
    for first, second in zip(_convs(model, FeatureGATConv), _convs(reference, GATConv)):
        assert (first.heads, first.concat, first.out_channels, first.dropout) == (
            second.heads,
            second.concat,
            second.out_channels,
            second.dropout,
        )
    inputs = _graph()
    torch.testing.assert_close(
        _call(model, kwargs, *inputs), _call(reference, kwargs, *inputs), rtol=0, atol=1e-6
    )


def test_score_bias_is_on_by_default_and_a_gat_state_loads_as_zero():
    reference = GAT(5, 8, 2, out_channels=2, heads=2)
    model = FeatureGAT(5, 8, 2, out_channels=2, heads=2)
    assert all(conv.att_bias is not None for conv in _convs(model, FeatureGATConv))
    model.load_state_dict(reference.state_dict())
    assert all(torch.equal(c.att_bias, torch.zeros(2)) for c in _convs(model, FeatureGATConv))
    inputs = _graph(1)
    torch.testing.assert_close(model(*inputs[:2]), reference(*inputs[:2]), rtol=0, atol=1e-6)


def test_feature_gat_takes_the_complete_graph_fast_path():
    batch = rows_to_graph(torch.randn(6, 4, 5))
    reference = GAT(5, 8, 2, out_channels=1, heads=2, dropout=0.0)
    model = FeatureGAT(5, 8, 2, out_channels=1, heads=2, att_bias=False)
    model.load_state_dict(reference.state_dict())
    assert all(c.uses_fast_path(batch.edge_index, 24) for c in _convs(model, FeatureGATConv))
    torch.testing.assert_close(
        model(batch.x, batch.edge_index), reference(batch.x, batch.edge_index), atol=1e-5, rtol=0
    )


def test_feature_gat_refuses_v2():
    with pytest.raises(ValueError, match=r"no GATv2 form \(got v2=True\)"):
        FeatureGAT(5, 8, 2, v2=True)
    with pytest.raises(ValueError, match="divisible by the number of heads"):
        FeatureGAT(5, 7, 2, heads=2)  # GAT's own check, unchanged


def _train(model, optimizer, inputs, steps):
    for _ in range(steps):
        optimizer.zero_grad()
        model(*inputs).square().mean().backward()
        optimizer.step()


@pytest.mark.parametrize("swap", ["FeatureGAT", "swap_gat_convs"])
def test_gat_checkpoint_with_optimizer_resumes_bit_for_bit(swap):
    # GAT trained 3 steps, checkpointed with its Adam state, trained 4 more;
    # the swapped model resumes from the checkpoint and takes the same steps.
    # Bit for bit: on a graph that is not complete our convs run GATConv's
    # operations in GATConv's order.
    inputs = _graph(2)[:2]
    reference = GAT(5, 8, 2, out_channels=3, heads=2)
    optimizer = torch.optim.Adam(reference.parameters(), lr=0.05)
    _train(reference, optimizer, inputs, 3)
    checkpoint = copy.deepcopy((reference.state_dict(), optimizer.state_dict()))
    _train(reference, optimizer, inputs, 4)

    if swap == "FeatureGAT":
        model = FeatureGAT(5, 8, 2, out_channels=3, heads=2, att_bias=False)
    else:
        model = swap_gat_convs(GAT(5, 8, 2, out_channels=3, heads=2), att_bias=False)
    model.load_state_dict(checkpoint[0])
    resumed = torch.optim.Adam(model.parameters(), lr=0.05)
    resumed.load_state_dict(checkpoint[1])
    _train(model, resumed, inputs, 4)
    for name, param in model.state_dict().items():
        assert torch.equal(param, reference.state_dict()[name]), name


@pytest.mark.parametrize("args,kwargs", GAT_CONFIGS)
def test_swap_keeps_the_function_of_gat(args, kwargs):
    torch.manual_seed(4)
    model = GAT(*args, **kwargs)
    reference = copy.deepcopy(model)
    inputs = _graph(3)
    expected = _call(reference, kwargs, *inputs)
    assert swap_gat_convs(model) is model
    assert len(_convs(model, FeatureGATConv)) == args[2] and not _convs(model, GATConv)
    # The missing score bias loads as zeros: the same function.
    torch.testing.assert_close(_call(model, kwargs, *inputs), expected, rtol=0, atol=1e-6)
    assert model.state_dict().keys() - reference.state_dict().keys() == {
        f"convs.{i}.att_bias" for i in range(args[2])
    }


def _hetero_gat(metadata, conv=GAT):
    torch.manual_seed(5)
    return to_hetero(conv((-1, -1), 8, 2, out_channels=3, heads=2, add_self_loops=False), metadata)


def test_swap_and_feature_gat_under_to_hetero(hetero_data, randomize):
    data = hetero_data()
    reference = _hetero_gat(data.metadata())
    reference(data.x_dict, data.edge_index_dict)  # materialise the lazy projections
    randomize(reference)
    expected = reference(data.x_dict, data.edge_index_dict)
    model = swap_gat_convs(copy.deepcopy(reference), att_bias=False)
    assert len(_convs(model, FeatureGATConv)) == 2 * len(data.edge_types)
    assert not _convs(model, GATConv)
    out = model(data.x_dict, data.edge_index_dict)
    assert out.keys() == expected.keys()
    for node_type, value in out.items():
        torch.testing.assert_close(value, expected[node_type], rtol=0, atol=1e-6)

    built = _hetero_gat(data.metadata(), FeatureGAT)
    built(data.x_dict, data.edge_index_dict)
    built.load_state_dict(reference.state_dict())
    out = built(data.x_dict, data.edge_index_dict)
    for node_type, value in out.items():
        torch.testing.assert_close(value, expected[node_type], rtol=0, atol=1e-6)


def test_swap_under_hetero_conv(hetero_data, randomize):
    data = hetero_data()
    model = HeteroConv(
        {t: GATConv((-1, -1), 4, heads=2, add_self_loops=False) for t in data.edge_types},
        aggr="sum",
    )
    model(data.x_dict, data.edge_index_dict)
    randomize(model)
    expected = model(data.x_dict, data.edge_index_dict)
    swap_gat_convs(model)
    assert all(type(conv) is FeatureGATConv for conv in model.convs.values())
    for node_type, value in model(data.x_dict, data.edge_index_dict).items():
        torch.testing.assert_close(value, expected[node_type], rtol=0, atol=1e-6)


def test_swap_in_a_model_that_builds_gatconv_by_name():
    # PyG's Sequential, a conv shared by two places, and a GATConv subclass.
    class OwnGATConv(GATConv):
        pass

    shared = GATConv(5, 5, heads=1)
    model = Sequential(
        "x, edge_index",
        [
            (shared, "x, edge_index -> x"),
            (shared, "x, edge_index -> x"),
            (OwnGATConv(5, 2), "x, edge_index -> x"),
        ],
    )
    inputs = _graph(6)[:2]
    expected = model(*inputs)
    swap_gat_convs(model, att_bias=False)
    swapped = _convs(model, FeatureGATConv)
    assert len(swapped) == 1  # one conv, still shared
    assert model.module_0 is model.module_1 is swapped[0]
    assert type(model.module_2) is OwnGATConv  # a subclass may compute otherwise
    torch.testing.assert_close(model(*inputs), expected, rtol=0, atol=1e-6)


def test_swap_keeps_dtype_mode_and_arguments():
    conv = GATConv(
        (5, 4),
        3,
        heads=2,
        concat=False,
        negative_slope=0.1,
        dropout=0.3,
        add_self_loops=False,
        edge_dim=2,
        fill_value=0.5,
        bias=False,
        residual=True,
        flow="target_to_source",
    ).double()
    conv.eval()
    ours = swap_gat_convs(conv, att_bias=False)
    assert type(ours) is FeatureGATConv and not ours.training
    assert ours.lin_src.weight.dtype == torch.float64
    for name in (
        "in_channels",
        "out_channels",
        "heads",
        "concat",
        "negative_slope",
        "dropout",
        "add_self_loops",
        "edge_dim",
        "fill_value",
        "residual",
        "flow",
    ):
        assert getattr(ours, name) == getattr(conv, name), name
    assert ours.bias is None and ours.att_bias is None
    assert ours.state_dict().keys() == conv.state_dict().keys()


def test_swap_of_a_lazy_gatconv():
    # Not yet materialised: both draw the projection at the first call, from
    # the same random numbers.
    inputs = _graph(7)[:2]
    reference = GATConv(-1, 4, heads=2)
    ours = swap_gat_convs(copy.deepcopy(reference), att_bias=False)
    torch.manual_seed(8)
    expected = reference(*inputs)
    torch.manual_seed(8)
    torch.testing.assert_close(ours(*inputs), expected, rtol=0, atol=1e-6)


def test_swap_refuses_what_it_cannot_keep():
    with pytest.raises(ValueError, match="model holds no GATConv to swap"):
        swap_gat_convs(torch.nn.Linear(3, 4))
    with pytest.raises(ValueError, match=r"own keyword arguments \('att_bias',\).*\['heads'\]"):
        swap_gat_convs(GAT(5, 8, 2), heads=2)
    with pytest.raises(ValueError, match="aggr='mean'"):
        swap_gat_convs(GATConv(5, 8, aggr="mean"))
