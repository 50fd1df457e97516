"""Property tests of the rows ⇄ feature-graph converter (hypothesis).

Random tables (B rows, F features, C channels, float32/float64), random NaN
patterns with ``missing="drop"`` and random user templates (any subset of the
F² directed pairs, empty included, in random order) are checked against a
naive per-row construction with :func:`torch_geometric.utils.subgraph` and
:meth:`Batch.from_data_list`.
"""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_geometric.data import Batch, Data
from torch_geometric.utils import subgraph

from pyg_tabular.data import (
    fully_connected_edge_index,
    graph_to_rows,
    repeat_template,
    rows_to_graph,
    to_static_graph,
)

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True)
DTYPES = st.sampled_from([torch.float32, torch.float64])


@st.composite
def tables(draw, min_rows=0):
    """A table ``x [B, F, C]`` with NaN cells, the cells' presence and the template."""
    num_rows = draw(st.integers(min_rows, 6))
    num_features = draw(st.integers(1, 7))
    num_channels = draw(st.integers(1, 3))
    dtype = draw(DTYPES)
    seed = draw(st.integers(0, 2**31 - 1))
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(num_rows, num_features, num_channels, generator=generator, dtype=dtype)
    # One NaN flag per channel: a cell is missing if any of its channels is NaN.
    flags = draw(
        st.lists(
            st.booleans(),
            min_size=x.numel(),
            max_size=x.numel(),
        )
    )
    nan = torch.tensor(flags, dtype=torch.bool).view(x.shape)
    x = x.masked_fill(nan, float("nan"))
    present = ~nan.any(-1)  # [B, F]

    kind = draw(st.sampled_from(["default", "no_self_loops", "template"]))
    if kind == "template":
        pairs = draw(
            st.lists(st.integers(0, num_features**2 - 1), unique=True, max_size=num_features**2)
        )
        pairs_t = torch.tensor(pairs, dtype=torch.long)
        template = torch.stack([pairs_t % num_features, pairs_t // num_features])
        template = template.view(2, len(pairs))
    else:
        template = None
    self_loops = kind != "no_self_loops"
    return x, present, template, self_loops


def _naive_batch(x, present, template, self_loops):
    """One Data per row, absent nodes removed by subgraph, then from_data_list."""
    num_features = x.size(1)
    if template is None:
        template = fully_connected_edge_index(num_features, self_loops)
    graphs = []
    for row, keep in zip(x, present):
        edge_index, _ = subgraph(keep, template, relabel_nodes=True, num_nodes=num_features)
        graphs.append(
            Data(
                x=row[keep],
                edge_index=edge_index,
                feature_id=torch.arange(num_features)[keep],
            )
        )
    return Batch.from_data_list(graphs)


def _convert(x, template, self_loops, squeeze):
    rows = x.squeeze(-1) if squeeze else x
    return rows_to_graph(rows, edge_index=template, self_loops=self_loops, missing="drop")


@SETTINGS
@given(tables(), st.sampled_from([0.0, -1.0, 7.5]), st.booleans())
def test_round_trip_is_exact_on_present_cells_and_fill_elsewhere(table, fill, squeeze):
    x, present, template, self_loops = table
    squeeze = squeeze and x.size(2) == 1
    batch = _convert(x, template, self_loops, squeeze)
    assert batch.x.dtype == x.dtype

    values = batch.x.view(-1) if squeeze else batch.x
    rows, mask = graph_to_rows(values, batch, fill_value=fill, return_mask=True)
    expected = x.squeeze(-1) if squeeze else x
    assert rows.shape == expected.shape and rows.dtype == x.dtype
    assert torch.equal(mask, present)
    cell_present = present if squeeze else present.unsqueeze(-1).expand_as(x)
    assert torch.equal(rows[cell_present], expected[cell_present])
    absent = rows[~cell_present]
    assert torch.equal(absent, torch.full_like(absent, fill))
    # Without the mask, the same rows.
    assert torch.equal(graph_to_rows(values, batch, fill_value=fill), rows)


@SETTINGS
@given(tables())
def test_node_and_edge_counts(table):
    x, present, template, self_loops = table
    num_rows, num_features = present.shape
    batch = _convert(x, template, self_loops, squeeze=False)
    if template is None:
        template = fully_connected_edge_index(num_features, self_loops)
    edges_per_row = (present[:, template[0]] & present[:, template[1]]).sum(1)  # [B]

    assert batch.num_graphs == num_rows
    assert batch.num_nodes == int(present.sum())
    assert batch.edge_index.size(1) == int(edges_per_row.sum())
    assert torch.equal(batch.ptr.diff(), present.sum(1))
    assert torch.equal(batch.row_width, torch.full((num_rows,), num_features))
    # Edges stay inside their row and join present cells only.
    if batch.edge_index.numel() > 0:
        source, target = batch.edge_index
        assert torch.equal(batch.batch[source], batch.batch[target])
    assert bool(~torch.isnan(batch.x).any())
    # Each row's graph comes back out of the batch with its own counts.
    for b in range(num_rows):
        graph = batch.get_example(b)
        assert graph.num_nodes == int(present[b].sum())
        assert graph.edge_index.size(1) == int(edges_per_row[b])


@SETTINGS
@given(tables(min_rows=1))
def test_equals_from_data_list_of_naive_row_graphs(table):
    x, present, template, self_loops = table
    batch = _convert(x, template, self_loops, squeeze=False)
    naive = _naive_batch(x, present, template, self_loops)

    assert batch.num_graphs == naive.num_graphs
    for key in ("x", "edge_index", "feature_id", "batch", "ptr"):
        assert torch.equal(batch[key], naive[key]), key
    for b in range(batch.num_graphs):
        ours, theirs = batch.get_example(b), naive.get_example(b)
        for key in ("x", "edge_index", "feature_id"):
            assert torch.equal(ours[key], theirs[key]), (b, key)


@SETTINGS
@given(tables(), st.booleans())
def test_complete_rows_match_the_static_form_and_repeat_template(table, as_numpy):
    x, _, template, self_loops = table
    x = torch.nan_to_num(x, nan=0.5)  # complete rows
    source = x.numpy() if as_numpy else x
    batch = rows_to_graph(source, edge_index=template, self_loops=self_loops)
    static_x, static_template = to_static_graph(source, edge_index=template, self_loops=self_loops)
    num_rows, num_features, num_channels = x.shape

    assert torch.equal(static_x, x)
    assert torch.equal(batch.x, x.reshape(-1, num_channels))
    assert torch.equal(batch.edge_index, repeat_template(static_template, num_rows, num_features))
    # The complete form's round trip (a view, no scatter) is exact too.
    rows, mask = graph_to_rows(batch.x, batch, return_mask=True)
    assert torch.equal(rows, x) and bool(mask.all())
    assert isinstance(source, np.ndarray) == as_numpy
