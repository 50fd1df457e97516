import numpy as np
import pytest
import torch

from pyg_tabular.estimators import FeatureGraphClassifier, NotFittedError

#: The shipped defaults' ensemble and weight averaging need more steps than
#: these tiny fits take; the tests here are about other things.
SINGLE = {"ensemble_size": 1, "ema_decay": None, "lr_schedule": None, "binning": "quantile"}
FAST = {"channels": 8, "heads": 2, "epochs": 30, "progress": False, "random_state": 0, **SINGLE}


def _frame(n=240, seed=0):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    b = rng.normal(size=n)
    color = rng.choice(["red", "green", "blue"], size=n)
    y = np.where(a + (color == "red") * 2.0 - 1.0 > 0, "pos", "neg")
    a[::7] = np.nan
    frame = pd.DataFrame({"a": a, "b": b, "color": color, "flag": b > 0})
    frame.loc[3, "color"] = None
    return frame, y


def test_breast_cancer_accuracy():
    datasets = pytest.importorskip("sklearn.datasets")
    X, y = datasets.load_breast_cancer(return_X_y=True)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    train, test = order[:450], order[450:]
    clf = FeatureGraphClassifier(**FAST).fit(X[train], y[train])
    assert clf.score(X[test], y[test]) > 0.9
    proba = clf.predict_proba(X[test])
    assert proba.shape == (len(test), 2)
    assert np.allclose(proba.sum(1), 1.0)
    assert clf.classes_.tolist() == [0, 1]
    assert clf.n_features_in_ == 30 and clf.n_epochs_ <= 30


def test_dataframe_with_categories_missing_and_unknown():
    pd = pytest.importorskip("pandas")
    frame, y = _frame()
    clf = FeatureGraphClassifier(**FAST).fit(frame, y)
    assert clf.encoder_.categorical_names == ["color", "flag"]
    assert clf.feature_names_in_.tolist() == ["a", "b", "color", "flag"]
    assert clf.score(frame, y) > 0.8
    new = pd.DataFrame(
        {"flag": [True, False], "color": ["purple", None], "b": [0.1, np.nan], "a": [1.0, 2.0]}
    )
    prediction = clf.predict(new)  # columns reordered, unknown category, NaN
    assert prediction.shape == (2,) and set(prediction) <= {"neg", "pos"}
    attention = clf.feature_attention()
    assert list(attention.columns) == ["a", "b", "color", "flag"]
    assert np.allclose(attention.to_numpy().sum(1), 1.0, atol=1e-5)
    assert clf.feature_attention(frame.iloc[:10]).shape == (4, 4)


def test_multiclass_and_string_labels():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 2))
    y = np.array(["a", "b", "c"])[(X[:, 0] > 0).astype(int) + (X[:, 1] > 1).astype(int)]
    clf = FeatureGraphClassifier(**FAST).fit(X, y)
    assert clf.predict_proba(X).shape == (150, 3)
    assert set(clf.predict(X)) <= {"a", "b", "c"}


def test_predict_before_fit():
    with pytest.raises(NotFittedError, match="not fitted yet"):
        FeatureGraphClassifier().predict(np.zeros((2, 3)))
    assert issubclass(NotFittedError, ValueError)


def test_wrong_column_count():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), np.arange(40) % 2
    clf = FeatureGraphClassifier(**{**FAST, "epochs": 2}).fit(X, y)
    with pytest.raises(
        ValueError, match="X has 4 features, but FeatureGraphClassifier is expecting 3"
    ):
        clf.predict(np.zeros((2, 4)))


def test_missing_dataframe_column():
    frame, y = _frame(60)
    clf = FeatureGraphClassifier(**{**FAST, "epochs": 2}).fit(frame, y)
    with pytest.raises(ValueError, match=r"yet now missing:\n- color"):
        clf.predict(frame.drop(columns="color"))


def test_random_state_makes_fits_identical():
    frame, y = _frame(120)
    params = {**FAST, "epochs": 5, "dropout": 0.1}
    a = FeatureGraphClassifier(**params).fit(frame, y)
    b = FeatureGraphClassifier(**params).fit(frame, y)
    assert np.array_equal(a.predict_proba(frame), b.predict_proba(frame))
    for p, q in zip(a.model_.parameters(), b.model_.parameters()):
        assert torch.equal(p, q)
    # Fitting leaves the global RNG alone.
    torch.manual_seed(3)
    FeatureGraphClassifier(**params).fit(frame, y)
    after = torch.rand(1)
    torch.manual_seed(3)
    assert torch.equal(after, torch.rand(1))


def test_save_load_weights_only(tmp_path):
    frame, y = _frame(120)
    clf = FeatureGraphClassifier(**{**FAST, "epochs": 5}).fit(frame, y)
    path = tmp_path / "clf.pt"
    clf.save(path)
    torch.load(path, weights_only=True)  # plain types only
    loaded = FeatureGraphClassifier.load(path)
    assert np.array_equal(loaded.predict_proba(frame), clf.predict_proba(frame))
    assert np.array_equal(loaded.predict(frame), clf.predict(frame))
    assert loaded.get_params() == clf.get_params()
    assert loaded.feature_attention().equals(clf.feature_attention())
    assert loaded.stop_reason_ == clf.stop_reason_ == "max_epochs"
    from pyg_tabular.estimators import FeatureGraphRegressor

    with pytest.raises(ValueError, match="not a saved FeatureGraphRegressor"):
        FeatureGraphRegressor.load(path)


def test_encoding_matches_tabular_dataset():
    from pyg_tabular.datasets import TabularDataset

    frame, y = _frame(80)
    clf = FeatureGraphClassifier(**{**FAST, "epochs": 1}).fit(frame, y)
    dataset = TabularDataset(
        frame,
        y,
        categorical=["color", "flag"],
        split=(0.85, 0.15, 0.0),
        seed=0,
        dtype=torch.float32,
    )
    numeric, categorical = clf._encode(frame)
    assert torch.equal(numeric.isnan(), dataset.numeric.isnan())
    assert torch.allclose(numeric.nan_to_num(), dataset.numeric.nan_to_num())
    assert torch.equal(categorical, dataset.categorical)


def test_get_set_params_and_clone():
    clf = FeatureGraphClassifier(layer="diff", channels=8)
    params = clf.get_params()
    assert params["layer"] == "diff" and params["epochs"] == 50
    assert clf.set_params(epochs=3, layer="gatconv") is clf
    assert (clf.epochs, clf.layer) == (3, "gatconv")
    with pytest.raises(ValueError, match="Invalid parameter 'epoch'"):
        clf.set_params(epoch=3)
    assert repr(clf) == "FeatureGraphClassifier(channels=8, epochs=3, layer='gatconv')"
    base = pytest.importorskip("sklearn.base")
    copy = base.clone(clf)
    assert copy is not clf and copy.get_params() == clf.get_params()
    assert base.is_classifier(clf)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 1.5}, "batch_size"),
        ({"lr": 0.0}, "lr"),
        ({"validation_fraction": 1.0}, "validation_fraction"),
        ({"patience": 0}, "patience"),
        ({"random_state": "x"}, "random_state"),
        ({"layer": "gcn"}, "layer"),
        ({"channels": 0}, "channels"),
    ],
)
def test_invalid_params_raise_at_fit(params, match):
    X, y = np.zeros((20, 2)), np.arange(20) % 2
    with pytest.raises(ValueError, match=match):
        FeatureGraphClassifier(**{**FAST, **params}).fit(X, y)


def test_no_validation_split():
    X, y = np.random.default_rng(0).normal(size=(30, 2)), np.arange(30) % 2
    clf = FeatureGraphClassifier(**{**FAST, "epochs": 3, "validation_fraction": 0.0}).fit(X, y)
    assert "val_loss" not in clf.history_[0]
    assert clf.predict(X).shape == (30,)


def test_works_without_pandas():
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(
        """
        import sys
        for name in ["pandas", "pyarrow", "matplotlib"]:
            sys.modules[name] = None
        import numpy as np
        import torch
        torch.set_num_threads(1)
        from pyg_tabular.estimators import FeatureGraphClassifier
        X = np.random.default_rng(0).normal(size=(40, 3))
        X[0, 1] = np.nan
        clf = FeatureGraphClassifier(epochs=2, random_state=0, progress=False)
        print(clf.fit(X, np.arange(40) % 2).predict(X).shape)
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(40,)"


def test_an_integer_target_like_a_quantity_and_its_rare_classes_are_warned_about():
    # sklearn's diabetes target as integers: 214 values in 442 rows.
    datasets = pytest.importorskip("sklearn.datasets")
    X, y = datasets.load_diabetes(return_X_y=True)
    y = y.round().astype(int)
    with pytest.warns(UserWarning) as caught:
        FeatureGraphClassifier(**{**FAST, "epochs": 1}).fit(X, y)
    messages = [str(w.message) for w in caught]
    assert any(
        "y holds 214 distinct integers in 442 rows" in m and "use FeatureGraphRegressor" in m
        for m in messages
    )
    rare = [m for m in messages if m.startswith("class ")]
    assert len(rare) == 1 and "use FeatureGraphRegressor" in rare[0]
    assert "none validated" in rare[0]


def test_classes_warned_about_only_when_too_rare_for_the_validation_split():
    import warnings

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    y = np.array(["a"] * 29 + ["b"] * 29 + ["c"] * 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FeatureGraphClassifier(**{**FAST, "epochs": 1}).fit(X, y)  # two rows reach both parts
    y[-2] = "b"
    with pytest.warns(UserWarning, match=r"^class 'c' of target y has 1 row") as caught:
        clf = FeatureGraphClassifier(**{**FAST, "epochs": 1}).fit(X, y)
    assert "quantity" not in str(caught[0].message)  # text labels
    assert clf.classes_.tolist() == ["a", "b", "c"]


def test_id_and_date_columns_are_left_out_unless_listed(tmp_path):
    frame, y = _frame()
    frame["order"] = [f"O{i:04d}" for i in range(len(frame))]
    frame["day"] = [f"2024-05-{1 + i % 30:02d}" for i in range(len(frame))]
    with pytest.warns(UserWarning, match=r"'order' \(an ID.*'day' \(dates\).*categorical_features"):
        clf = FeatureGraphClassifier(**{**FAST, "epochs": 2}).fit(frame, y)
    assert clf.encoder_.columns == ["a", "b", "color", "flag"]
    assert clf.n_features_in_ == 6 and clf.feature_attention().shape == (4, 4)
    # New rows hold the left-out columns, as a DataFrame or an array.
    expected = clf.predict_proba(frame.iloc[:8])
    with pytest.warns(UserWarning, match="valid feature names"):
        as_array = clf.predict_proba(frame.iloc[:8].to_numpy(dtype=object))
    assert np.array_equal(as_array, expected)
    clf.save(tmp_path / "clf.pt")
    loaded = FeatureGraphClassifier.load(tmp_path / "clf.pt")
    assert loaded.n_features_in_ == 6
    assert np.array_equal(loaded.predict_proba(frame.iloc[:8]), expected)
    kept = FeatureGraphClassifier(
        **{**FAST, "epochs": 1}, categorical_features=["color", "flag", "day"]
    )
    with pytest.raises(ValueError, match="'order' is not numeric"):
        kept.fit(frame, y)
    kept.fit(frame.drop(columns="order"), y)
    assert kept.encoder_.categorical_names == ["color", "flag", "day"]
