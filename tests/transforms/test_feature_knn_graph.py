import numpy as np
import pytest
import torch
from torch.utils.data import IterDataPipe
from torch_geometric.data import Batch, Data

from pyg_tabular.data import rows_to_graph
from pyg_tabular.transforms import FeatureKNNGraph, ToFeatureGraph
from pyg_tabular.transforms.feature_knn_graph import nan_pearson

# Three groups of three features: strong correlation inside a group, none across.
# Features are listed in a scrambled order so neighbours are not index neighbours.
GROUP_OF = [0, 1, 2, 0, 1, 2, 0, 1, 2]


def grouped_rows(num_rows=400, seed=0, missing=0.0):
    generator = torch.Generator().manual_seed(seed)
    latent = torch.randn(num_rows, 3, generator=generator, dtype=torch.float64)
    noise = torch.randn(num_rows, 9, generator=generator, dtype=torch.float64)
    sign = torch.tensor([1.0, -1.0, 1.0, -1.0, 1.0, 1.0, 1.0, 1.0, -1.0], dtype=torch.float64)
    x = sign * latent[:, GROUP_OF] + 0.3 * noise
    if missing:
        x[torch.rand(num_rows, 9, generator=generator) < missing] = float("nan")
    return x


def expected_sources(target, self_loops):
    same = [j for j in range(9) if GROUP_OF[j] == GROUP_OF[target] and j != target]
    return sorted(same + ([target] if self_loops else []))


@pytest.mark.parametrize("self_loops", [True, False])
@pytest.mark.parametrize("missing", [0.0, 0.2])
def test_picks_the_constructed_neighbours(self_loops, missing):
    knn = FeatureKNNGraph(k=2, self_loops=self_loops).fit(grouped_rows(missing=missing))
    edge_index = knn.edge_index
    per_target = 3 if self_loops else 2
    assert edge_index.shape == (2, 9 * per_target)
    assert bool((edge_index[1].diff() >= 0).all())
    for target in range(9):
        sources = edge_index[0, edge_index[1] == target].tolist()
        assert sources == expected_sources(target, self_loops)


def test_strength_orders_neighbours():
    # Feature 0 is closest to 3, then 2, then 1 (decreasing shared signal).
    generator = torch.Generator().manual_seed(1)
    base = torch.randn(500, generator=generator, dtype=torch.float64)
    noise = torch.randn(500, 4, generator=generator, dtype=torch.float64)
    x = torch.stack(
        [base, base + 3.0 * noise[:, 1], -base + 1.0 * noise[:, 2], base + 0.2 * noise[:, 3]],
        dim=1,
    )
    for k, expected in [(1, [3]), (2, [2, 3]), (3, [1, 2, 3])]:
        knn = FeatureKNNGraph(k=k, self_loops=False).fit(x)
        assert knn.edge_index[0, knn.edge_index[1] == 0].tolist() == expected


def test_nan_pearson_matches_pairwise_complete_numpy():
    x = grouped_rows(num_rows=60, missing=0.3)
    x[:, 4] = 2.0  # constant: no defined correlation
    corr = nan_pearson(x).numpy()
    values = x.numpy()
    for i in range(9):
        for j in range(9):
            both = ~np.isnan(values[:, i]) & ~np.isnan(values[:, j])
            if 4 in (i, j):
                assert corr[i, j] == 0.0
                continue
            expected = np.corrcoef(values[both, i], values[both, j])[0, 1]
            assert abs(corr[i, j] - expected) < 1e-10


def test_applied_to_graphs_equals_rows_to_graph_with_template():
    x = grouped_rows(num_rows=12, missing=0.25)
    x[5] = float("nan")
    knn = FeatureKNNGraph(k=2).fit(grouped_rows())
    ours = knn(rows_to_graph(x, missing="drop"))
    reference = rows_to_graph(x, missing="drop", edge_index=knn.edge_index)
    assert torch.equal(ours.edge_index, reference.edge_index)
    for i in range(reference.num_graphs):
        assert torch.equal(ours.get_example(i).edge_index, reference.get_example(i).edge_index)
    # One row at a time, through ToFeatureGraph.
    one = knn(ToFeatureGraph(missing="drop")(Data(x=x[0])))
    expected = ToFeatureGraph(edge_index=knn.edge_index, missing="drop")(Data(x=x[0]))
    assert torch.equal(one.edge_index, expected.edge_index)
    batched = Batch.from_data_list([knn(ToFeatureGraph(missing="drop")(Data(x=r))) for r in x])
    assert torch.equal(batched.edge_index, reference.edge_index)


def test_fit_on_batch_equals_fit_on_rows():
    x = grouped_rows(missing=0.1)
    from_rows = FeatureKNNGraph(k=3).fit(x)
    from_graph = FeatureKNNGraph(k=3).fit(rows_to_graph(x, missing="drop"))
    assert torch.equal(from_graph.edge_index, from_rows.edge_index)
    torch.testing.assert_close(from_graph.correlation, from_rows.correlation)


def test_validation():
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="k must be a positive int"):
            FeatureKNNGraph(k=bad)
    with pytest.raises(ValueError, match="k must satisfy 1 <= k <= num_features - 1 = 2"):
        FeatureKNNGraph(k=3).fit(torch.randn(10, 3))
    with pytest.raises(ValueError, match="one channel"):
        FeatureKNNGraph(k=1).fit(torch.randn(10, 3, 2))
    knn = FeatureKNNGraph(k=1)
    with pytest.raises(RuntimeError, match="not fitted"):
        _ = knn.edge_index
    with pytest.raises(RuntimeError, match="not fitted"):
        knn(rows_to_graph(torch.randn(2, 3)))
    knn.fit(torch.randn(10, 3))
    with pytest.raises(ValueError, match="fitted on 3"):
        knn(rows_to_graph(torch.randn(2, 4)))
    with pytest.raises(ValueError, match="feature_id"):
        knn(Data(x=torch.randn(3)))
    graph = rows_to_graph(torch.randn(2, 3))
    graph.edge_attr = torch.randn(graph.num_edges)
    with pytest.raises(ValueError, match="edge_attr"):
        knn(graph)


def test_repr_and_functional_name():
    assert repr(FeatureKNNGraph(k=3)) == "FeatureKNNGraph(k=3, self_loops=True)"
    assert repr(FeatureKNNGraph(2, self_loops=False)) == "FeatureKNNGraph(k=2, self_loops=False)"
    assert "feature_knn_graph" in IterDataPipe.functions


def test_any_finite_scale_gives_the_same_correlations():
    generator = torch.Generator().manual_seed(8)
    rows = torch.randn(40, 5, generator=generator, dtype=torch.float64)
    rows[:, 1] += rows[:, 0]
    rows[:, 3] -= 2 * rows[:, 2]
    rows[3, 4] = float("nan")
    reference = FeatureKNNGraph(k=2).fit(rows)
    scaled = rows * torch.tensor([1e200, 1e-200, 1.0, 1e300, 1e150], dtype=torch.float64)
    fitted = FeatureKNNGraph(k=2).fit(scaled)
    assert torch.isfinite(fitted.correlation).all()
    torch.testing.assert_close(fitted.correlation, reference.correlation)
    assert torch.equal(fitted.edge_index, reference.edge_index)
