import pytest
import torch
from torch.utils.data import IterDataPipe
from torch_geometric.data import Batch, Data
from torch_geometric.data.datapipes import DatasetAdapter

from pyg_tabular.data import rows_to_graph
from pyg_tabular.transforms import ToFeatureGraph


def assert_batches_equal(ours: Batch, reference: Batch) -> None:
    assert ours.num_graphs == reference.num_graphs
    assert sorted(ours.keys()) == sorted(reference.keys())
    for key in reference.keys():
        expected, got = reference[key], ours[key]
        if isinstance(expected, torch.Tensor):
            assert got.dtype == expected.dtype, key
            assert got.shape == expected.shape, key
            assert torch.equal(got, expected), key
        else:
            assert got == expected, key
    for i in range(reference.num_graphs):
        mine, theirs = ours.get_example(i), reference.get_example(i)
        for key, value in theirs.items():
            other = mine[key]
            assert torch.equal(other, value) if isinstance(value, torch.Tensor) else other == value


def with_missing(x: torch.Tensor, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    x = x.clone()
    cells = torch.rand(x.shape[:2], generator=generator) < 0.3
    if x.dim() == 3:
        # Only one channel NaN: the whole cell must still count as missing.
        x[..., 0][cells] = float("nan")
    else:
        x[cells] = float("nan")
    x[1] = float("nan")  # a row with no feature left
    return x


@pytest.mark.parametrize("shape", [(6, 5), (6, 5, 2)])
@pytest.mark.parametrize("missing", ["error", "drop"])
@pytest.mark.parametrize("target", [None, "scalar", "multi"])
@pytest.mark.parametrize("graph", ["complete", "no_self_loops", "template"])
def test_batched_transform_equals_rows_to_graph(shape, missing, target, graph):
    x = torch.randn(*shape, dtype=torch.float64)
    if missing == "drop":
        x = with_missing(x, seed=3)
    y = {None: None, "scalar": torch.arange(6), "multi": torch.randn(6, 3)}[target]
    options = {"missing": missing, "feature_names": ["a", "b", "c", "d", "e"]}
    if graph == "no_self_loops":
        options["self_loops"] = False
    elif graph == "template":
        options["edge_index"] = torch.tensor([[0, 2, 4, 1, 3], [1, 1, 0, 4, 4]])
    transform = ToFeatureGraph(**options)

    rows = [Data(x=x[b]) if y is None else Data(x=x[b], y=y[b]) for b in range(6)]
    ours = Batch.from_data_list([transform(row) for row in rows])
    assert_batches_equal(ours, rows_to_graph(x, y, **options))


def test_one_row_layout_and_input_left_untouched():
    row = torch.tensor([1.0, float("nan"), 3.0, 4.0])
    data = Data(x=row.clone(), y=torch.tensor([2.5, 1.0]), tag="kept")
    graph = ToFeatureGraph(missing="drop")(data)
    assert graph.x.shape == (3, 1)
    assert graph.feature_id.tolist() == [0, 2, 3]
    assert graph.row_width == 4
    assert graph.y.shape == (1, 2)
    assert graph.tag == "kept"
    # Every kept pair of features, self-loops included, relabelled to 0..2.
    assert sorted(map(tuple, graph.edge_index.t().tolist())) == [
        (s, t) for s in range(3) for t in range(3)
    ]
    # BaseTransform works on a shallow copy: the caller's Data keeps its row.
    assert torch.equal(data.x.nan_to_num(-1.0), row.nan_to_num(-1.0))
    assert data.edge_index is None and "feature_id" not in data


@pytest.mark.parametrize(
    "y, shape",
    [(torch.tensor(1.5), (1,)), (torch.tensor([1.5]), (1,)), (torch.ones(3), (1, 3))],
)
def test_target_becomes_one_row(y, shape):
    graph = ToFeatureGraph()(Data(x=torch.randn(2), y=y))
    assert graph.y.shape == shape


def test_integer_cells_become_float():
    graph = ToFeatureGraph()(Data(x=torch.tensor([1, 2, 3])))
    assert graph.x.dtype == torch.get_default_dtype()


def test_repr_and_functional_name():
    assert repr(ToFeatureGraph()) == "ToFeatureGraph(self_loops=True, missing='error')"
    template = torch.tensor([[0, 1], [1, 0]])
    assert repr(ToFeatureGraph(template, missing="drop")) == (
        "ToFeatureGraph(edge_index=[2, 2], missing='drop')"
    )
    assert "to_feature_graph" in IterDataPipe.functions
    rows = [Data(x=torch.randn(3)) for _ in range(4)]
    graphs = list(DatasetAdapter(rows).to_feature_graph(self_loops=False))
    assert len(graphs) == 4
    assert all(g.edge_index.shape == (2, 6) for g in graphs)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: ToFeatureGraph(missing="impute"), "missing must be one of"),
        (lambda: ToFeatureGraph(self_loops=1), "self_loops"),
        (lambda: ToFeatureGraph(edge_index=torch.zeros(3, 2, dtype=torch.long)), "edge_index"),
        (lambda: ToFeatureGraph(edge_index=torch.tensor([[0], [-1]])), "edge_index"),
        (lambda: ToFeatureGraph(feature_names="abc"), "feature_names"),
    ],
)
def test_bad_options(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize(
    "transform, data, match",
    [
        (ToFeatureGraph(), Data(x=torch.tensor([1.0, float("nan")])), "missing='drop'"),
        (ToFeatureGraph(), Data(x=torch.randn(2, 3, 1)), "data.x must hold one row"),
        (ToFeatureGraph(edge_index=torch.tensor([[0], [3]])), Data(x=torch.randn(3)), "edge"),
        (ToFeatureGraph(feature_names=["a"]), Data(x=torch.randn(2)), "feature_names"),
        (ToFeatureGraph(), Data(x=torch.randn(2), y=torch.ones(2, 2)), "data.y"),
        (ToFeatureGraph(), Data(x=torch.randn(2), y=torch.tensor(float("nan"))), "data.y"),
    ],
)
def test_bad_rows(transform, data, match):
    with pytest.raises(ValueError, match=match):
        transform(data)


@pytest.mark.parametrize("layout", ["auto", "row"])
@pytest.mark.parametrize("channels", [None, 2])
def test_a_row_stored_as_graph_level_features_is_read_as_its_features(layout, channels):
    # The usual PyG way to store one row: x of shape [1, F] (or [1, F, C]), so
    # that a batch of rows stacks into [B, F].
    rows = torch.randn(3, 4) if channels is None else torch.randn(3, 4, channels)
    transform = ToFeatureGraph(layout=layout)
    graphs = [transform(Data(x=row.unsqueeze(0))) for row in rows]
    assert_batches_equal(Batch.from_data_list(graphs), rows_to_graph(rows))
    assert graphs[0].row_width == 4 and graphs[0].x.shape == (4, channels or 1)


def test_layout_nodes_reads_one_row_as_one_feature_with_channels():
    row = torch.randn(1, 4)
    graph = ToFeatureGraph(layout="nodes")(Data(x=row.clone()))
    assert graph.row_width == 1 and torch.equal(graph.x, row)
    assert graph.edge_index.tolist() == [[0], [0]]
    # [F, C] with F > 1 is node by node in both "nodes" and "auto".
    cells = torch.randn(3, 2)
    for layout in ("nodes", "auto"):
        graph = ToFeatureGraph(layout=layout)(Data(x=cells.clone()))
        assert graph.row_width == 3 and torch.equal(graph.x, cells)


@pytest.mark.parametrize(
    "layout, shape",
    [("row", (3, 2)), ("row", (2, 3, 1)), ("nodes", (1, 3, 2)), ("auto", (2, 3, 1))],
)
def test_a_shape_the_layout_cannot_read_names_both_readings(layout, shape):
    with pytest.raises(ValueError) as info:
        ToFeatureGraph(layout=layout)(Data(x=torch.randn(*shape)))
    message = str(info.value)
    assert f"got shape {shape} with layout={layout!r}" in message
    assert "layout='row'" in message and "layout='nodes'" in message


def test_layout_is_validated_and_shown():
    with pytest.raises(ValueError, match="layout must be one of"):
        ToFeatureGraph(layout="columns")
    assert repr(ToFeatureGraph(layout="row")) == (
        "ToFeatureGraph(self_loops=True, missing='error', layout='row')"
    )


@pytest.mark.parametrize("value", [float("inf"), float("-inf")])
def test_an_infinite_cell_gets_no_missing_value_advice(value):
    for missing in ("error", "drop"):
        with pytest.raises(ValueError, match=r"data.x must be finite; found -?inf") as info:
            ToFeatureGraph(missing=missing)(Data(x=torch.tensor([1.0, value, float("nan")])))
        assert "missing=" not in str(info.value)
    graph = ToFeatureGraph()(Data(x=torch.tensor([1.0, 3e38])))
    assert graph.x.view(-1).tolist() == [1.0, torch.tensor(3e38).item()]


def test_a_row_too_wide_for_memory_is_refused_before_building_its_graph():
    with pytest.raises(ValueError, match="B=1 rows of F=100000"):
        ToFeatureGraph()(Data(x=torch.zeros(100_000)))
