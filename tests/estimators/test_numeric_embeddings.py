"""The estimators with each numeric embedding, the block shapes and a time budget."""

import numpy as np
import pytest
import torch

from pyg_tabular.estimators import FeatureGraphClassifier, FeatureGraphRegressor
from pyg_tabular.nn.models import fit_bins

#: The shipped defaults' ensemble and weight averaging need more steps than
#: these tiny fits take; the tests here are about other things.
SINGLE = {"ensemble_size": 1, "ema_decay": None, "lr_schedule": None, "binning": "quantile"}
FAST = {"channels": 8, "heads": 2, "epochs": 4, "progress": False, "random_state": 0, **SINGLE}


def _frame(n=120, seed=0):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "z": rng.exponential(size=n),
            "color": rng.choice(["red", "green", "blue"], size=n),
        }
    )
    frame.loc[::7, "x"] = np.nan
    y = 2.0 * frame["x"].fillna(0.0) + frame["z"] + (frame["color"] == "red")
    return frame, y.to_numpy()


@pytest.mark.parametrize("embedding", ["linear", "periodic", "piecewise-linear"])
@pytest.mark.parametrize("block", ["residual", "transformer"])
def test_every_embedding_fits_saves_and_loads(tmp_path, embedding, block):
    frame, y = _frame()
    reg = FeatureGraphRegressor(**FAST, numeric_embedding=embedding, block=block).fit(frame, y)
    assert reg.model_.numeric_embedding == embedding and reg.model_.block == block
    path = tmp_path / "reg.pt"
    reg.save(path)
    torch.load(path, weights_only=True)
    loaded = FeatureGraphRegressor.load(path)
    assert np.array_equal(loaded.predict(frame), reg.predict(frame))
    if embedding == "piecewise-linear":
        assert all(torch.equal(a, b) for a, b in zip(loaded.model_.bins, reg.model_.bins))


def test_bins_come_from_the_training_rows_only():
    frame, y = _frame(200)
    reg = FeatureGraphRegressor(**FAST, numeric_embedding="piecewise-linear").fit(frame, y)
    numeric, _ = reg._encode(frame)
    # The estimator's own split: refit the bins on its training rows by hand.
    from pyg_tabular.datasets import TabularDataset

    dataset = TabularDataset(
        frame, y, categorical=["color"], split=(0.85, 0.15, 0.0), seed=0, dtype=torch.float32
    )
    expected = fit_bins(numeric[dataset.index("train")])
    everything = fit_bins(numeric)
    assert all(torch.equal(a, b) for a, b in zip(reg.model_.bins, expected))
    assert not all(
        a.shape == b.shape and torch.equal(a, b) for a, b in zip(reg.model_.bins, everything)
    )


def test_a_checkpoint_without_block_loads_the_residual_network(tmp_path):
    frame, y = _frame()
    reg = FeatureGraphRegressor(**FAST, block="residual", numeric_embedding="linear").fit(frame, y)
    path = tmp_path / "old.pt"
    reg.save(path)
    state = torch.load(path, weights_only=True)
    del state["params"]["block"]  # as written before the parameter existed
    del state["bins"]
    torch.save(state, path)
    loaded = FeatureGraphRegressor.load(path)
    assert loaded.block == "residual"
    assert np.array_equal(loaded.predict(frame), reg.predict(frame))


def test_time_budget_stops_training():
    frame, y = _frame(400)
    reg = FeatureGraphRegressor(**{**FAST, "epochs": 1000, "patience": 1000}, time_budget=1e-6)
    reg.fit(frame, y)
    assert reg.n_epochs_ == 1  # the first epoch crosses the budget
    assert reg.stop_reason_ == "time_budget"
    with pytest.raises(ValueError, match="time_budget must be a positive number"):
        FeatureGraphRegressor(**FAST, time_budget=0).fit(frame, y)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"numeric_embedding": "spline"}, "numeric_embedding"),
        ({"block": "deep"}, "block"),
        ({"readout": "max"}, "readout"),
    ],
)
def test_bad_params_name_themselves(params, match):
    frame, y = _frame(40)
    with pytest.raises(ValueError, match=match):
        FeatureGraphClassifier(**{**FAST, **params}).fit(frame, y > y.mean())
