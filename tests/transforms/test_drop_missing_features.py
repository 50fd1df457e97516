import pytest
import torch
from torch.utils.data import IterDataPipe
from torch_geometric.data import Batch, Data
from torch_geometric.data.datapipes import DatasetAdapter

from pyg_tabular.data import fully_connected_edge_index, graph_to_rows, rows_to_graph
from pyg_tabular.transforms import DropMissingFeatures


def assert_batches_equal(ours: Batch, reference: Batch) -> None:
    assert ours.num_graphs == reference.num_graphs
    assert sorted(ours.keys()) == sorted(reference.keys())
    for key in reference.keys():
        expected, got = reference[key], ours[key]
        if isinstance(expected, torch.Tensor):
            assert got.dtype == expected.dtype, key
            assert torch.equal(got, expected), key
        else:
            assert got == expected, key
    for i in range(reference.num_graphs):
        mine, theirs = ours.get_example(i), reference.get_example(i)
        for key, value in theirs.items():
            other = mine[key]
            assert torch.equal(other, value) if isinstance(value, torch.Tensor) else other == value


def rows_with_missing(shape, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=generator)
    cells = torch.rand(shape[:2], generator=generator) < 0.35
    if len(shape) == 3:
        x[..., -1][cells] = float("nan")
    else:
        x[cells] = float("nan")
    x[2] = float("nan")  # an empty row
    return x


def nan_graph_batch(x, y, template):
    """Complete feature graphs that still carry their NaN cells as nodes."""
    num_features = x.size(1)
    cells = x.reshape(x.size(0), num_features, -1)
    return Batch.from_data_list(
        [
            Data(
                x=cells[b],
                edge_index=template,
                feature_id=torch.arange(num_features),
                row_width=num_features,
                y=y[b : b + 1],
            )
            for b in range(x.size(0))
        ]
    )


@pytest.mark.parametrize("shape", [(7, 5), (7, 5, 3)])
@pytest.mark.parametrize("self_loops", [True, False])
def test_batch_equals_rows_to_graph_drop(shape, self_loops):
    x = rows_with_missing(shape)
    y = torch.randn(shape[0], 2)
    template = fully_connected_edge_index(shape[1], self_loops)
    batch = nan_graph_batch(x, y, template)
    dropped = DropMissingFeatures()(batch)
    assert_batches_equal(dropped, rows_to_graph(x, y, missing="drop", self_loops=self_loops))
    # The caller's batch is untouched, bookkeeping included.
    assert batch.num_nodes == shape[0] * shape[1]
    assert batch.get_example(0).num_nodes == shape[1]


def test_custom_template_and_scatter_back():
    x = rows_with_missing((6, 4))
    template = torch.tensor([[1, 2, 3, 0], [0, 0, 2, 3]])
    batch = rows_to_graph(x.nan_to_num(0.0), edge_index=template)
    batch.x = x.reshape(-1, 1)
    dropped = DropMissingFeatures()(batch)
    assert_batches_equal(dropped, rows_to_graph(x, edge_index=template, missing="drop"))
    back, mask = graph_to_rows(dropped.x.view(-1), dropped, return_mask=True)
    assert torch.equal(mask, ~torch.isnan(x))
    assert torch.equal(back[mask], x[mask])


def test_single_graph_and_edge_attr():
    template = fully_connected_edge_index(3, self_loops=False)
    graph = Data(
        x=torch.tensor([[1.0], [float("nan")], [3.0]]),
        edge_index=template,
        edge_attr=torch.arange(6.0),
        feature_id=torch.arange(3),
        row_width=3,
    )
    out = DropMissingFeatures()(graph)
    assert out.feature_id.tolist() == [0, 2]
    # Edges 2→0 and 0→2 survive, in template order and relabelled.
    assert out.edge_index.tolist() == [[1, 0], [0, 1]]
    assert out.edge_attr.tolist() == [1.0, 4.0]
    assert out.row_width == 3


def test_complete_graph_is_returned_unchanged():
    batch = rows_to_graph(torch.randn(3, 4))
    out = DropMissingFeatures()(batch)
    assert torch.equal(out.edge_index, batch.edge_index) and torch.equal(out.x, batch.x)


def test_repr_functional_name_and_bad_input():
    assert repr(DropMissingFeatures()) == "DropMissingFeatures()"
    assert "drop_missing_features" in IterDataPipe.functions
    graphs = [
        Data(x=torch.tensor([[float("nan")], [1.0]]), feature_id=torch.arange(2), row_width=2)
    ]
    (out,) = list(DatasetAdapter(graphs).drop_missing_features())
    assert out.feature_id.tolist() == [1]
    with pytest.raises(ValueError, match="node features x"):
        DropMissingFeatures()(torch.randn(3))
