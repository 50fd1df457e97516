import numpy as np
import pytest
import torch

from pyg_tabular.estimators import FeatureGraphRegressor

#: The shipped defaults' ensemble and weight averaging need more steps than
#: these tiny fits take; the tests here are about other things.
SINGLE = {"ensemble_size": 1, "ema_decay": None, "lr_schedule": None, "binning": "quantile"}
FAST = {"channels": 8, "heads": 2, "epochs": 40, "progress": False, "random_state": 0, **SINGLE}


def test_diabetes_r2():
    datasets = pytest.importorskip("sklearn.datasets")
    X, y = datasets.load_diabetes(return_X_y=True)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    train, test = order[:350], order[350:]
    reg = FeatureGraphRegressor(**FAST).fit(X[train], y[train])
    assert reg.score(X[test], y[test]) > 0.3
    prediction = reg.predict(X[test])
    assert prediction.shape == (len(test),) and prediction.dtype == np.float64
    # Predictions are in the target's units, not standardized ones.
    assert abs(prediction.mean() - y[train].mean()) < 0.3 * y[train].std()


def test_dataframe_with_categories_and_nan_save_load(tmp_path):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    n = 150
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "shop": pd.Categorical(rng.choice(["a", "b"], size=n)),
        }
    )
    y = 3.0 * frame["x"].to_numpy() + (frame["shop"] == "a").to_numpy() * 5.0
    frame.loc[::9, "x"] = np.nan
    reg = FeatureGraphRegressor(**FAST).fit(frame, pd.Series(y))
    new = pd.DataFrame({"x": [np.nan, 0.5], "shop": ["zzz", "a"]})
    assert np.isfinite(reg.predict(new)).all()
    path = tmp_path / "reg.pt"
    reg.save(path)
    loaded = FeatureGraphRegressor.load(path)
    assert np.array_equal(loaded.predict(frame), reg.predict(frame))
    assert loaded.score(frame, y) == reg.score(frame, y)


def test_random_state_and_clone():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    y = X.sum(1)
    a = FeatureGraphRegressor(**{**FAST, "epochs": 4}).fit(X, y)
    b = FeatureGraphRegressor(**{**FAST, "epochs": 4}).fit(X, y)
    assert np.array_equal(a.predict(X), b.predict(X))
    base = pytest.importorskip("sklearn.base")
    copy = base.clone(a)
    assert not hasattr(copy, "model_") and copy.get_params() == a.get_params()
    assert base.is_regressor(a)
    # The default embedding: piecewise-linear over bins fitted at fit time.
    assert a.model_.numeric_embedding == "piecewise-linear"
    assert len(a.model_.bins) == 3 and all(torch.is_tensor(edges) for edges in a.model_.bins)


def test_target_beyond_float32_is_refused_naming_the_row():
    X = np.random.default_rng(0).normal(size=(20, 2))
    y = X[:, 0].copy()
    y[4] = 1e200
    with pytest.raises(ValueError, match=r"y holds 1e\+200 at row 4"):
        FeatureGraphRegressor(**{**FAST, "epochs": 2}).fit(X, y)
