import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch_geometric.data import Batch, Data
from torch_geometric.utils import subgraph

import pyg_tabular.typing as pt_typing
from pyg_tabular.data import (
    fully_connected_edge_index,
    graph_to_rows,
    rows_to_graph,
    to_static_graph,
)


def per_row_graph(row: torch.Tensor, template: torch.Tensor, y=None) -> Data:
    """One row's graph built the slow, obvious way: the reference for the converter."""
    num_features = row.size(0)
    cells = row.reshape(num_features, -1)
    present = ~torch.isnan(cells).any(-1)
    edge_index, _ = subgraph(present, template, relabel_nodes=True, num_nodes=num_features)
    data = Data(
        x=cells[present],
        edge_index=edge_index,
        feature_id=torch.arange(num_features)[present],
        row_width=num_features,
    )
    if y is not None:
        data.y = y.unsqueeze(0)
    return data


def assert_batches_equal(ours: Batch, reference: Batch) -> None:
    assert ours.num_graphs == reference.num_graphs
    for key in reference.keys():
        expected, got = reference[key], ours[key]
        if isinstance(expected, torch.Tensor):
            assert got.dtype == expected.dtype, key
            assert torch.equal(got, expected), key
        else:
            assert got == expected, key
    for i in range(reference.num_graphs):
        for key, value in reference.get_example(i).items():
            other = ours.get_example(i)[key]
            assert torch.equal(other, value) if isinstance(value, torch.Tensor) else other == value


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(5, 4), (5, 4, 3)])
def test_round_trip_is_exact(dtype, shape):
    x = torch.randn(*shape, dtype=dtype)
    batch = rows_to_graph(x)
    assert batch.x.dtype == dtype
    assert batch.x.shape == (shape[0] * shape[1], shape[2] if len(shape) == 3 else 1)
    values = batch.x.view(-1) if len(shape) == 2 else batch.x
    back = graph_to_rows(values, batch)
    assert back.dtype == dtype
    assert torch.equal(back, x)


@pytest.mark.parametrize("self_loops", [True, False])
@pytest.mark.parametrize("num_features", [1, 2, 7])
def test_edge_counts(self_loops, num_features):
    template = fully_connected_edge_index(num_features, self_loops)
    expected = num_features**2 if self_loops else num_features * (num_features - 1)
    assert template.shape == (2, expected)
    # Sorted by target, every ordered pair exactly once.
    assert bool((template[1].diff() >= 0).all())
    pairs = {tuple(p) for p in template.t().tolist()}
    assert len(pairs) == expected
    assert all((s != t) or self_loops for s, t in pairs)
    batch = rows_to_graph(torch.randn(3, num_features), self_loops=self_loops)
    assert batch.edge_index.size(1) == 3 * expected


@pytest.mark.parametrize("with_y", [False, True])
def test_equals_from_data_list(with_y):
    x = torch.randn(6, 5, 2)
    y = torch.randint(0, 3, (6,)) if with_y else None
    template = fully_connected_edge_index(5)
    reference = Batch.from_data_list(
        [per_row_graph(x[b], template, None if y is None else y[b]) for b in range(6)]
    )
    assert_batches_equal(rows_to_graph(x, y), reference)


def test_custom_template_equals_from_data_list():
    template = torch.tensor([[0, 2, 3, 1], [1, 1, 0, 3]])
    x = torch.randn(4, 4)
    reference = Batch.from_data_list([per_row_graph(x[b], template) for b in range(4)])
    assert_batches_equal(rows_to_graph(x, edge_index=template), reference)


def test_dropped_missing_matches_per_row_graphs_and_round_trips():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(8, 6, generator=generator, dtype=torch.float64)
    x[torch.rand(8, 6, generator=generator) < 0.3] = float("nan")
    x[2] = float("nan")  # a row with no feature at all
    y = torch.randn(8, 2, dtype=torch.float64)
    template = fully_connected_edge_index(6)
    reference = Batch.from_data_list([per_row_graph(x[b], template, y[b]) for b in range(8)])
    batch = rows_to_graph(x, y, missing="drop")
    assert_batches_equal(batch, reference)

    back, mask = graph_to_rows(batch.x.view(-1), batch, fill_value=-7.0, return_mask=True)
    assert torch.equal(mask, ~torch.isnan(x))
    assert torch.equal(back[mask], x[mask])
    assert bool((back[~mask] == -7.0).all())


def test_drop_with_channels_drops_whole_cell():
    x = torch.randn(2, 3, 2)
    x[0, 1, 1] = float("nan")
    batch = rows_to_graph(x, missing="drop")
    assert batch.feature_id.tolist() == [0, 2, 0, 1, 2]
    back = graph_to_rows(batch.x, batch)
    assert back.shape == (2, 3, 2)
    assert torch.equal(back[0, 1], torch.zeros(2))


def test_feature_names_travel_with_each_row():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"age": [30.0, 40.0], "income": [1.0, 2.0], "n": [1, 2]})
    batch = rows_to_graph(frame)
    assert batch.get_example(1).feature_names == ["age", "income", "n"]
    assert torch.equal(graph_to_rows(batch.x.view(-1), batch), torch.tensor(frame.values))


def test_numpy_input_keeps_float64_and_converts_integers():
    assert rows_to_graph(np.ones((2, 3))).x.dtype == torch.float64
    assert rows_to_graph(np.ones((2, 3), dtype=np.int64)).x.dtype == torch.get_default_dtype()


def test_empty_batch():
    batch = rows_to_graph(torch.zeros(0, 4), y=torch.zeros(0))
    assert batch.num_graphs == 0
    assert batch.x.shape == (0, 1)
    assert batch.edge_index.shape == (2, 0)
    assert graph_to_rows(batch.x.view(-1), batch).shape == (0, 4)


def test_single_feature():
    x = torch.randn(3, 1)
    batch = rows_to_graph(x)
    assert batch.edge_index.tolist() == [[0, 1, 2], [0, 1, 2]]
    assert rows_to_graph(x, self_loops=False).edge_index.shape == (2, 0)
    assert torch.equal(graph_to_rows(batch.x.view(-1), batch), x)


def test_graph_to_rows_is_differentiable_on_both_paths():
    x = torch.randn(3, 4)
    x[1, 1] = float("nan")
    for missing in ("error", "drop"):
        rows = x.nan_to_num() if missing == "error" else x
        batch = rows_to_graph(rows, missing=missing)
        values = torch.randn(batch.num_nodes, requires_grad=True)
        graph_to_rows(values, batch).sum().backward()
        assert torch.equal(values.grad, torch.ones_like(values))


@pytest.mark.scatter
@pytest.mark.parametrize("use_torch_scatter", [False, True])
def test_scatter_back_with_and_without_torch_scatter(monkeypatch, use_torch_scatter):
    if use_torch_scatter:
        pytest.importorskip("torch_scatter")
    monkeypatch.setattr(pt_typing, "WITH_TORCH_SCATTER", use_torch_scatter)
    x = torch.randn(5, 4, 3)
    x[0, 0, 0] = float("nan")
    batch = rows_to_graph(x, missing="drop")
    back, mask = graph_to_rows(batch.x, batch, fill_value=float("nan"), return_mask=True)
    assert torch.equal(mask, ~torch.isnan(x).any(-1))
    assert torch.equal(back[mask], x[mask])


def test_static_form_shares_one_template():
    x, template = to_static_graph(torch.randn(5, 3, 2), self_loops=False)
    assert x.shape == (5, 3, 2)
    assert torch.equal(template, fully_connected_edge_index(3, self_loops=False))
    x2, _ = to_static_graph(np.zeros((4, 3)))
    assert x2.shape == (4, 3, 1)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: rows_to_graph(torch.randn(4)), "x must have shape"),
        (lambda: rows_to_graph(np.array([["a", "b"]], dtype=object)), "numeric dtype"),
        (lambda: rows_to_graph(torch.tensor([[1.0, float("inf")]])), "x must be finite"),
        (lambda: rows_to_graph(torch.tensor([[1.0, float("nan")]])), "missing='drop'"),
        (lambda: rows_to_graph(torch.randn(3, 2), torch.randn(4)), "y must have one entry"),
        (lambda: rows_to_graph(torch.randn(3, 2), torch.tensor([1.0, float("nan"), 0])), "y must"),
        (lambda: rows_to_graph(torch.randn(3, 2), missing="impute"), "missing must be one of"),
        (lambda: rows_to_graph(torch.randn(3, 2), feature_names=["a"]), "feature_names"),
        (
            lambda: rows_to_graph(torch.randn(3, 2), edge_index=torch.tensor([[0], [2]])),
            "edge_index",
        ),
        (lambda: rows_to_graph(torch.randn(3, 2), edge_index=torch.zeros(3, 2)), "edge_index"),
        (lambda: rows_to_graph([[1.0, 2.0]]), "x must be a torch.Tensor"),
        (lambda: fully_connected_edge_index(-1), "num_features"),
        (lambda: to_static_graph(torch.tensor([[float("nan")]])), "x must be finite"),
    ],
)
def test_bad_inputs_name_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_non_numeric_dataframe_column_is_named():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"age": [1.0], "city": ["Paris"]})
    with pytest.raises(ValueError, match="city"):
        rows_to_graph(frame)


def test_graph_to_rows_rejects_wrong_node_count():
    batch = rows_to_graph(torch.randn(2, 3))
    with pytest.raises(ValueError, match="node_values must have shape"):
        graph_to_rows(torch.randn(5), batch)


def test_graph_to_rows_places_nodes_by_feature_id_not_by_position():
    x = torch.randn(3, 4)
    graphs = []
    for b in range(3):
        order = torch.randperm(4)
        graphs.append(Data(x=x[b, order].view(-1, 1), feature_id=order, row_width=4))
    batch = Batch.from_data_list(graphs)
    assert torch.equal(graph_to_rows(batch.x.view(-1), batch), x)


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), 1e300])
@pytest.mark.parametrize("missing", ["error", "drop"])
def test_only_nan_cells_get_the_missing_drop_advice(value, missing):
    x = torch.tensor([[1.0, value], [float("nan"), 2.0]], dtype=torch.float64)
    if value == 1e300:
        # Finite, however large: the NaN cell is the only problem.
        if missing == "drop":
            assert rows_to_graph(x, missing=missing).x.view(-1).tolist() == [1.0, 1e300, 2.0]
        else:
            with pytest.raises(ValueError, match=r"found nan at index \(1, 0\).*missing='drop'"):
                rows_to_graph(x, missing=missing)
        return
    # An infinite cell is no missing value: the advice would be wrong, even
    # with a NaN cell elsewhere in the batch.
    with pytest.raises(ValueError, match=r"found -?inf at index \(0, 1\)") as info:
        rows_to_graph(x, missing=missing)
    assert "missing=" not in str(info.value)


def test_nan_cell_still_gets_the_missing_drop_advice():
    with pytest.raises(ValueError, match=r"found nan.*pass missing='drop'"):
        rows_to_graph(torch.tensor([[1.0, float("nan")]]))


class NoTensorLargerThan(TorchDispatchMode):
    r"""Fails the test when a torch op inside the block returns a tensor of
    more than :obj:`limit` elements."""

    def __init__(self, limit):
        super().__init__()
        self.limit = limit

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        sizes = [leaf.numel() for leaf in tree_leaves(result) if isinstance(leaf, torch.Tensor)]
        if sizes and max(sizes) > self.limit:
            pytest.fail(f"{func} built a tensor of {max(sizes)} elements (limit {self.limit})")
        return result


@pytest.mark.parametrize(
    "call",
    [
        lambda x: rows_to_graph(x),
        lambda x: rows_to_graph(x, self_loops=False),
        lambda x: to_static_graph(x),
        lambda x: fully_connected_edge_index(x.size(1)),
    ],
)
def test_a_graph_that_cannot_fit_is_refused_before_anything_is_allocated(call):
    # F = 100,000: one row's complete graph has 10^10 edges, 160 GB of indices.
    x = torch.zeros(1, 100_000)
    with NoTensorLargerThan(x.numel()), pytest.raises(ValueError, match=r"B=1 rows of F=100000"):
        call(x)


def test_the_size_limit_follows_available_memory_and_max_bytes(monkeypatch):
    from pyg_tabular.data import _memory

    x = torch.zeros(1, 20_000)  # 4·10^8 edges: about 6 GiB of edge index alone
    monkeypatch.setattr(_memory, "available_memory_bytes", lambda device: 8 * 2**30)
    with NoTensorLargerThan(x.numel()), pytest.raises(ValueError) as info:
        rows_to_graph(x)
    message = str(info.value)
    assert "B=1 rows of F=20000" in message and "of the 8.0 GiB available" in message
    assert "even one row does not fit" in message

    # Many small rows: the advice is to pass fewer at a time.
    with pytest.raises(ValueError, match="B=400 rows of F=32.*fewer rows at a time"):
        rows_to_graph(torch.zeros(400, 32), max_bytes=2**20)
    # Below the limit, max_bytes changes nothing.
    small = torch.randn(4, 3)
    assert_batches_equal(rows_to_graph(small, max_bytes=2**20), rows_to_graph(small))
    with pytest.raises(ValueError, match="max_bytes must be a positive int"):
        rows_to_graph(small, max_bytes=0)


def test_size_estimate_bounds_what_the_converter_allocates():
    from pyg_tabular.data._memory import graph_bytes

    x = torch.randn(64, 24, dtype=torch.float64)
    x[torch.rand(64, 24, generator=torch.Generator().manual_seed(0)) < 0.2] = float("nan")
    for drop in (False, True):
        rows = x if drop else x.nan_to_num()
        batch = rows_to_graph(rows, missing="drop" if drop else "error")
        built = sum(
            batch[key].numel() * batch[key].element_size()
            for key in ("edge_index", "feature_id", "batch")
        )
        estimate = graph_bytes(64, 24, 24 * 24, builds_template=True, drop=drop)
        assert built <= estimate < 8 * built


@pytest.mark.parametrize("num_features", [0, -1, 2.0, True, "3"])
def test_graph_to_rows_validates_num_features(num_features):
    batch = rows_to_graph(torch.randn(2, 3), missing="drop")
    with pytest.raises(
        ValueError, match=rf"num_features must be a positive int \(got {num_features!r}"
    ):
        graph_to_rows(batch.x.view(-1), batch, num_features=num_features)


def test_graph_to_rows_refuses_a_width_narrower_than_its_feature_ids():
    x = torch.tensor([[1.0, float("nan"), 3.0], [4.0, 5.0, 6.0]])
    batch = rows_to_graph(x, missing="drop")
    # Width 2 would put feature 2 of row 0 into row 1's first cell.
    with pytest.raises(ValueError, match="feature_id up to 2, beyond rows of 2 features"):
        graph_to_rows(batch.x.view(-1), batch, num_features=2)
    wider = graph_to_rows(batch.x.view(-1), batch, num_features=4, fill_value=-1.0)
    assert torch.equal(wider, torch.tensor([[1.0, -1.0, 3.0, -1.0], [4.0, 5.0, 6.0, -1.0]]))
