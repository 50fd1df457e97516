import numpy as np
import pytest
import torch
from torch_geometric.data import Batch

from pyg_tabular.data import rows_to_graph
from pyg_tabular.datasets import TabularDataset, TabularLoader
from pyg_tabular.transforms import FeatureKNNGraph


def make_dataset(num_rows=53, missing=False, **kwargs):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(num_rows, 4, generator=generator, dtype=torch.float64)
    x[:, 3] = torch.randint(0, 3, (num_rows,), generator=generator).double()
    if missing:
        x[torch.rand(num_rows, 4, generator=generator) < 0.2] = float("nan")
        x[:, 3] = x[:, 3].nan_to_num(1.0)
    # The target is the row number, so every yielded row can be identified.
    row_id = torch.arange(num_rows, dtype=torch.float64)
    kwargs.setdefault("split", (1.0, 0.0, 0.0))
    return TabularDataset(x, row_id, categorical=[3], dtype=torch.float64, **kwargs)


def epoch_rows(loader):
    rows = []
    for item in loader:
        y = item[1] if isinstance(item, tuple) else item.y
        rows.extend(int(v) for v in y.tolist())
    return rows


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("static", [False, True])
def test_every_row_exactly_once_per_epoch(shuffle, static):
    dataset = make_dataset()
    loader = TabularLoader(dataset, batch_size=8, shuffle=shuffle, seed=1, static=static)
    assert len(loader) == 7
    for _ in range(3):
        rows = epoch_rows(loader)
        assert sorted(rows) == list(range(53))
        assert (rows == list(range(53))) != shuffle


def test_drop_last_yields_full_batches_only():
    loader = TabularLoader(make_dataset(), batch_size=8, shuffle=True, seed=0, drop_last=True)
    assert len(loader) == 6
    sizes = [batch.num_graphs for batch in loader]
    assert sizes == [8] * 6
    assert len(set(epoch_rows(loader))) == 48


def test_shuffle_is_reproducible_from_the_seed_and_changes_every_epoch():
    dataset = make_dataset()
    first = TabularLoader(dataset, batch_size=10, shuffle=True, seed=7)
    second = TabularLoader(dataset, batch_size=10, shuffle=True, seed=7)
    other = TabularLoader(dataset, batch_size=10, shuffle=True, seed=8)
    epochs = [epoch_rows(first) for _ in range(3)]
    assert [epoch_rows(second) for _ in range(3)] == epochs
    assert epochs[0] != epochs[1] != epochs[2]
    assert epoch_rows(other) != epochs[0]
    first.set_epoch(1)
    assert epoch_rows(first) == epochs[1]


def test_batches_are_rows_to_graph_of_the_slice(monkeypatch):
    dataset = make_dataset(missing=True, split=(0.6, 0.2, 0.2))

    def per_row_collation(*args, **kwargs):
        raise AssertionError("the loader must not collate one Data per row")

    monkeypatch.setattr(Batch, "from_data_list", per_row_collation)
    loader = TabularLoader(dataset, split="val", batch_size=4, missing="drop", self_loops=False)
    index = dataset.index("val")
    for position, batch in enumerate(loader):
        rows = index[position * 4 : (position + 1) * 4]
        expected = rows_to_graph(
            dataset.x[rows],
            dataset.target[rows],
            missing="drop",
            self_loops=False,
            feature_names=dataset.feature_names,
        )
        for key in ("x", "edge_index", "feature_id", "batch", "ptr", "y", "row_width"):
            assert torch.equal(batch[key], expected[key]), key
        assert batch.get_example(0).feature_names == ["x0", "x1", "x2", "x3"]
    assert position == len(loader) - 1


def test_template_and_splits():
    dataset = make_dataset(split=(0.6, 0.2, 0.2))
    knn = FeatureKNNGraph(k=1, self_loops=False).fit(dataset.x[dataset.index("train")])
    loader = TabularLoader(dataset, split="test", batch_size=100, edge_index=knn.edge_index)
    (batch,) = list(loader)
    assert batch.num_graphs == len(dataset.index("test"))
    assert batch.edge_index.size(1) == 4 * batch.num_graphs
    assert sorted(epoch_rows(loader)) == dataset.index("test").tolist()
    assert sorted(epoch_rows(TabularLoader(dataset, split=None))) == list(range(53))


def test_static_form():
    dataset = make_dataset()
    x, y = next(iter(TabularLoader(dataset, batch_size=5, static=True)))
    assert x.shape == (5, 4, 1) and y.shape == (5,)
    assert torch.equal(x[:, :, 0], dataset.x[:5])
    unlabeled = dataset.transform(np.zeros((3, 4)))
    x, y = next(iter(TabularLoader(unlabeled, split="test", static=True)))
    assert x.shape == (3, 4, 1) and y is None


def test_missing_cells_are_checked_eagerly():
    dataset = make_dataset(missing=True)
    with pytest.raises(ValueError, match="missing='drop'"):
        TabularLoader(dataset)
    with pytest.raises(ValueError, match="static=False"):
        TabularLoader(dataset, static=True)
    batch = next(iter(TabularLoader(dataset, batch_size=53, missing="drop")))
    assert batch.num_nodes == int((~torch.isnan(dataset.x)).sum())
    imputed = make_dataset(missing=True, impute="mean")
    assert len(list(TabularLoader(imputed, static=True))) == 1


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 2.0}, "batch_size"),
        ({"missing": "fill"}, "missing"),
        ({"seed": "one"}, "seed"),
        ({"split": "holdout"}, "split"),
        ({"edge_index": torch.tensor([[0], [9]])}, "edge_index"),
        ({"static": True, "edge_index": torch.tensor([[0], [1]])}, "static"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TabularLoader(make_dataset(), **kwargs)
    with pytest.raises(ValueError, match="TabularDataset"):
        TabularLoader(torch.randn(3, 2))


def test_repr():
    loader = TabularLoader(make_dataset(), batch_size=16, shuffle=True, seed=0)
    assert repr(loader) == "TabularLoader(split='train', rows=53, batch_size=16, shuffle=True)"
