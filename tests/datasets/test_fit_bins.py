"""Piecewise-linear bins fitted from a TabularDataset or a StreamingTabularLoader."""

import numpy as np
import pytest
import torch

from pyg_tabular.datasets import StreamingTabularLoader, TabularDataset
from pyg_tabular.nn.models import FeatureGraphNet, fit_bins

pd = pytest.importorskip("pandas")


def _frame(n=300, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.exponential(size=n),
            "k": rng.choice(["x", "y", "z"], size=n),
            "y": rng.normal(size=n),
        }
    )
    frame.loc[::5, "a"] = np.nan
    return frame


def test_dataset_bins_use_the_training_rows_only():
    dataset = TabularDataset(_frame(), "y", categorical=["k"], split=(0.5, 0.25, 0.25), seed=0)
    train = dataset.index("train")
    bins = dataset.fit_bins(n_bins=8)
    expected = fit_bins(dataset.numeric[train], 8)
    assert all(torch.equal(a, b) for a, b in zip(bins, expected))
    everything = dataset.fit_bins(n_bins=8, split=None)
    assert not all(torch.equal(a, b) for a, b in zip(bins, everything))


@pytest.mark.parametrize("task", ["regression", "binary"])
def test_dataset_target_aware_bins_use_the_training_targets(task):
    frame = _frame()
    if task == "binary":
        frame["y"] = frame["a"].fillna(0.0) > 0.3
    dataset = TabularDataset(frame, "y", categorical=["k"], split=(0.5, 0.25, 0.25), seed=0)
    assert dataset.task == task
    train = dataset.index("train")
    bins = dataset.fit_bins(n_bins=8, target_aware=True, tree_kwargs={"min_samples_leaf": 5})
    expected = fit_bins(
        dataset.numeric[train],
        8,
        y=dataset.target[train],
        regression=task == "regression",
        tree_kwargs={"min_samples_leaf": 5},
    )
    assert all(torch.equal(a, b) for a, b in zip(bins, expected))
    assert not all(torch.equal(a, b) for a, b in zip(bins, dataset.fit_bins(n_bins=8)))
    with pytest.raises(ValueError, match="tree_kwargs apply to target_aware=True"):
        dataset.fit_bins(tree_kwargs={})


def test_streaming_bins_equal_the_in_memory_ones_when_the_sample_holds_every_row():
    frame = _frame()
    chunks = [frame.iloc[i : i + 64] for i in range(0, len(frame), 64)]
    loader = StreamingTabularLoader(chunks, "y", categorical=["k"], missing="drop")
    streamed = loader.fit_bins(n_bins=8)
    # The same standardization in memory; missing cells stay NaN and are skipped.
    dataset = TabularDataset(frame, "y", categorical=["k"], split=(1.0, 0.0, 0.0))
    assert dataset.numeric.isnan().any()
    expected = fit_bins(dataset.numeric, 8)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(streamed, expected))


def test_streaming_bins_from_a_bounded_sample_are_close_and_seeded():
    frame = _frame(2000)
    chunks = [frame.iloc[i : i + 100] for i in range(0, len(frame), 100)]
    options = {"categorical": ["k"], "missing": "drop", "seed": 3}
    loader = StreamingTabularLoader(chunks, "y", **options)
    sampled = loader.fit_bins(n_bins=4, max_rows=500)
    again = StreamingTabularLoader(chunks, "y", **options).fit_bins(4, 500)
    assert all(torch.equal(a, b) for a, b in zip(sampled, again))
    full = loader.fit_bins(n_bins=4)
    for a, b in zip(sampled, full):
        # Quartiles of a 500-row uniform sample sit near the full table's.
        assert a.shape == b.shape and (a[1:-1] - b[1:-1]).abs().max() < 0.3
    with pytest.raises(ValueError, match="max_rows"):
        loader.fit_bins(max_rows=1)


def test_a_piecewise_model_trains_on_streamed_batches():
    frame = _frame()
    loader = StreamingTabularLoader(
        [frame], "y", categorical=["k"], batch_size=64, static=True, impute="mean", seed=0
    )
    torch.manual_seed(0)
    model = FeatureGraphNet(
        loader.num_numeric,
        loader.cardinalities,
        numeric_embedding="piecewise-linear",
        bins=loader.fit_bins(),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for x, y in loader:
        x = x.squeeze(-1)
        numeric, categorical = x[:, : loader.num_numeric], x[:, loader.num_numeric :].long()
        loss = torch.nn.functional.mse_loss(model(numeric, categorical).squeeze(-1), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        assert torch.isfinite(loss)
