import warnings

import numpy as np
import pytest
import torch

import pyg_tabular.typing as pt_typing
from pyg_tabular.datasets import TabularDataset

pd = pytest.importorskip("pandas")


def make_frame(num_rows=60, seed=0):
    rng = np.random.default_rng(seed)
    age = rng.normal(40, 10, num_rows)
    age[rng.random(num_rows) < 0.1] = np.nan
    return pd.DataFrame(
        {
            "age": age,
            "city": rng.choice(["Paris", "Lyon", "Nice"], num_rows),
            "income": rng.gamma(2.0, 1000.0, num_rows),
            "color": rng.choice(["red", "blue"], num_rows).astype(object),
            "label": rng.choice(["no", "yes"], num_rows),
        }
    )


def test_layout_and_metadata():
    frame = make_frame()
    ds = TabularDataset(frame, "label", categorical=["city", "color"])
    assert len(ds) == 60
    assert ds.numeric_names == ["age", "income"]
    assert ds.categorical_names == ["city", "color"]
    assert ds.feature_names == ["age", "income", "city", "color"]
    assert ds.numeric.shape == (60, 2) and ds.numeric.dtype == torch.get_default_dtype()
    assert ds.categorical.shape == (60, 2) and ds.categorical.dtype == torch.long
    assert ds.x.shape == (60, 4)
    assert ds.task == "binary" and ds.num_classes == 2 and ds.classes == ["no", "yes"]
    assert torch.equal(
        ds.target, torch.tensor((frame["label"] == "yes").to_numpy(), dtype=torch.long)
    )
    assert ds.vocabularies == {"city": ["Lyon", "Nice", "Paris"], "color": ["blue", "red"]}
    assert ds.cardinalities == [4, 3]
    # Codes follow the sorted vocabulary, 1-based.
    expected = frame["city"].map({"Lyon": 1, "Nice": 2, "Paris": 3}).to_numpy()
    assert ds.categorical[:, 0].tolist() == expected.tolist()
    x, y = ds[3]
    assert x.shape == (4,) and y.shape == ()
    assert repr(ds) == "TabularDataset(rows=60, numeric=2, categorical=2, task='binary')"


def test_numeric_columns_standardized_with_train_statistics():
    frame = make_frame()
    ds = TabularDataset(frame, "label", categorical=["city", "color"], dtype=torch.float64)
    train = ds.index("train").numpy()
    values = frame[["age", "income"]].to_numpy()[train]
    np.testing.assert_allclose(ds.mean.numpy(), np.nanmean(values, 0), rtol=1e-12)
    np.testing.assert_allclose(ds.std.numpy(), np.nanstd(values, 0), rtol=1e-12)
    expected = (frame[["age", "income"]].to_numpy() - ds.mean.numpy()) / ds.std.numpy()
    np.testing.assert_allclose(ds.numeric.numpy(), expected, rtol=1e-12)
    assert torch.equal(torch.isnan(ds.numeric[:, 0]), torch.tensor(frame["age"].isna().to_numpy()))


def test_impute_mean_fills_missing_cells_with_zero():
    frame = make_frame()
    kept = TabularDataset(frame, "label", categorical=["city", "color"])
    filled = TabularDataset(frame, "label", categorical=["city", "color"], impute="mean")
    missing = torch.isnan(kept.numeric)
    assert bool(missing.any())
    assert not bool(torch.isnan(filled.numeric).any())
    assert bool((filled.numeric[missing] == 0).all())
    assert torch.equal(filled.numeric[~missing], kept.numeric[~missing])


@pytest.mark.parametrize("split", ["fractions", "mapping"])
def test_statistics_do_not_leak_from_validation_or_test_rows(split):
    frame = make_frame(num_rows=80)
    if split == "mapping":
        split_arg = {"train": np.arange(0, 50), "val": np.arange(50, 65), "test": np.arange(65, 80)}
    else:
        split_arg = (0.6, 0.2, 0.2)
    options = {"categorical": ["city", "color"], "split": split_arg, "seed": 3}
    clean = TabularDataset(frame, "label", **options)
    held_out = torch.cat([clean.index("val"), clean.index("test")]).numpy()

    poisoned = frame.copy()
    poisoned.loc[held_out, "age"] = 1e9
    poisoned.loc[held_out, "income"] = -1e9
    poisoned.loc[held_out, "city"] = "Atlantis"
    poisoned.loc[held_out[::2], "color"] = "ultraviolet"
    ds = TabularDataset(poisoned, "label", **options)

    for key in ("train", "val", "test"):
        assert torch.equal(ds.index(key), clean.index(key))
    assert torch.equal(ds.mean, clean.mean) and torch.equal(ds.std, clean.std)
    assert ds.vocabularies == clean.vocabularies
    assert "Atlantis" not in ds.vocabularies["city"]
    # Training rows are encoded exactly as before; held-out novelties get code 0.
    train = ds.index("train")
    assert torch.equal(ds.numeric[train].nan_to_num(), clean.numeric[train].nan_to_num())
    assert bool((ds.categorical[held_out, 0] == 0).all())
    assert bool((ds.categorical[held_out[::2], 1] == 0).all())


def test_unknown_and_missing_categories_map_to_reserved_code():
    frame = make_frame()
    ds = TabularDataset(frame, "label", categorical=["city", "color"])
    new = frame.head(4).copy()
    new["city"] = ["Paris", "Berlin", None, "Lyon"]
    out = ds.transform(new)
    assert out.categorical[:, 0].tolist() == [3, 0, 0, 1]
    assert out.vocabularies is ds.vocabularies


def test_transform_reproduces_encoding_of_known_rows():
    frame = make_frame()
    ds = TabularDataset(frame, "label", categorical=["city", "color"])
    shuffled = frame.sample(frac=1.0, random_state=1)
    out = ds.transform(shuffled[["color", "income", "city", "age", "label"]].assign(extra=1))
    rows = torch.tensor(shuffled.index.to_numpy())
    assert torch.equal(out.numeric.nan_to_num(-9.0), ds.numeric[rows].nan_to_num(-9.0))
    assert torch.equal(out.categorical, ds.categorical[rows])
    assert torch.equal(out.target, ds.target[rows])
    assert out.split_index["test"].tolist() == list(range(60))
    assert out.index("train").numel() == 0
    # Without the target column the new rows have no target.
    assert ds.transform(frame.drop(columns="label")).target is None


def test_transform_errors():
    frame = make_frame()
    ds = TabularDataset(frame, "label", categorical=["city", "color"])
    with pytest.raises(ValueError, match="income"):
        ds.transform(frame.drop(columns="income"))
    with pytest.raises(ValueError, match="known classes"):
        ds.transform(frame.assign(label="maybe"))
    with pytest.raises(ValueError, match="at least one row"):
        ds.transform(frame.head(0))
    with pytest.raises(ValueError, match="not numeric"):
        ds.transform(frame.assign(age="old"))


def test_splits_are_seeded_disjoint_and_stratified():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], [100, 60, 40])
    frame = pd.DataFrame({"a": rng.normal(size=200), "y": labels})
    first = TabularDataset(frame, "y", seed=5)
    again = TabularDataset(frame, "y", seed=5)
    other = TabularDataset(frame, "y", seed=6)
    parts = [first.index(k) for k in ("train", "val", "test")]
    assert torch.equal(torch.cat(parts).sort().values, torch.arange(200))
    for key in ("train", "val", "test"):
        assert torch.equal(first.index(key), again.index(key))
    assert not torch.equal(first.index("test"), other.index("test"))
    assert first.task == "multiclass" and first.num_classes == 3
    for key, fraction in (("train", 0.7), ("val", 0.15), ("test", 0.15)):
        counts = np.bincount(labels[first.index(key).numpy()], minlength=3)
        assert np.all(np.abs(counts - fraction * np.array([100, 60, 40])) <= 1), (key, counts)
    unstratified = TabularDataset(frame, "y", seed=5, stratify=False)
    assert len(unstratified.index("test")) == 30
    assert torch.equal(first.index(None), torch.arange(200))


def test_array_and_tensor_inputs_match_dataframe():
    frame = make_frame()
    frame["city_code"] = frame["city"].map({"Paris": 0.0, "Lyon": 1.0, "Nice": 2.0})
    frame["target"] = frame["income"] * 0.01 + 3.0
    numeric = frame[["age", "city_code", "income", "target"]]
    from_frame = TabularDataset(numeric, "target", categorical=["city_code"])
    array = numeric.to_numpy()
    names = ["age", "city_code", "income", "target"]
    from_array = TabularDataset(array, 3, categorical=[1], feature_names=names)
    from_tensor = TabularDataset(
        torch.from_numpy(array[:, :3]), torch.from_numpy(array[:, 3]), categorical=["x1"]
    )
    assert from_frame.task == from_array.task == from_tensor.task == "regression"
    assert from_tensor.feature_names == ["x0", "x2", "x1"]
    for ds in (from_array, from_tensor):
        assert torch.equal(ds.numeric.nan_to_num(), from_frame.numeric.nan_to_num())
        assert torch.equal(ds.categorical, from_frame.categorical)
        assert torch.equal(ds.target, from_frame.target)
    out = from_tensor.transform(torch.from_numpy(array[:5, :3]))
    assert torch.equal(out.categorical, from_frame.categorical[:5])
    with pytest.raises(ValueError, match="3 feature columns"):
        from_tensor.transform(torch.zeros(2, 4))


def test_object_arrays_without_pandas(monkeypatch):
    rows = np.array(
        [[1.0, "a"], [2.0, "b"], [3.0, None], [4.0, "a"], [5.0, "c"], [6.0, "b"]], dtype=object
    )
    target = np.array([0, 1, 0, 1, 0, 1])
    split = {"train": [0, 1, 2, 3], "test": [4, 5]}
    with_pandas = TabularDataset(rows, target, categorical=[1], split=split)
    monkeypatch.setattr(pt_typing, "WITH_PANDAS", False)
    without = TabularDataset(rows, target, categorical=[1], split=split)
    assert without.vocabularies == with_pandas.vocabularies == {"x1": ["a", "b"]}
    assert without.categorical.view(-1).tolist() == [1, 2, 0, 1, 0, 2]
    assert torch.equal(without.categorical, with_pandas.categorical)
    assert torch.equal(without.numeric, with_pandas.numeric)


def test_task_inference_and_override():
    frame = make_frame()
    assert TabularDataset(frame[["age", "income"]], "income").task == "regression"
    counts = frame.assign(n=np.arange(60) % 4)[["age", "n"]]
    assert TabularDataset(counts, "n").task == "multiclass"
    as_regression = TabularDataset(counts, "n", task="regression")
    assert as_regression.task == "regression" and as_regression.num_classes is None
    assert as_regression.target.dtype == torch.get_default_dtype()
    with pytest.raises(ValueError, match="exactly two classes"):
        TabularDataset(counts, "n", task="binary")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        # A list of categorical columns is the whole list: the rest must be numbers.
        ({"target": "label", "categorical": ["color"]}, "'city' is not numeric"),
        ({"target": "label", "drop": ["town"]}, r"drop names \['town'\], not columns"),
        ({"target": None, "categorical": ["city", "color"]}, "target is required"),
        ({"target": "salary", "categorical": ["city", "color"]}, "'salary' is not a column"),
        ({"target": "label", "categorical": ["city", "colour"]}, "'colour'"),
        ({"target": "label", "categorical": "city"}, "categorical must be a list"),
        ({"target": "label", "categorical": ["city", "color"], "task": "ranking"}, "task"),
        ({"target": "label", "categorical": ["city", "color"], "impute": "zero"}, "impute"),
        ({"target": "label", "categorical": ["city", "color"], "split": (0.5, 0.5)}, "split"),
        (
            {"target": "label", "categorical": ["city", "color"], "split": (0.0, 0.5, 0.5)},
            "split",
        ),
        (
            {
                "target": "label",
                "categorical": ["city", "color"],
                "split": {"train": [0, 1], "test": [1, 2]},
            },
            "repeats rows",
        ),
        (
            {"target": "label", "categorical": ["city", "color"], "split": {"train": [0, 99]}},
            "outside",
        ),
        ({"target": "label", "categorical": ["city", "color"], "seed": 1.5}, "seed"),
        ({"target": "label", "categorical": ["city", "color"], "dtype": torch.long}, "dtype"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TabularDataset(make_frame(), **kwargs)


def test_bad_data():
    frame = make_frame()
    with pytest.raises(ValueError, match="empty"):
        TabularDataset(frame.head(0), "label", categorical=["city", "color"])
    with pytest.raises(ValueError, match="missing values"):
        TabularDataset(
            frame.assign(label=frame["label"].where(frame.index > 2)),
            "label",
            categorical=["city", "color"],
        )
    with pytest.raises(ValueError, match="'income' holds inf"):
        TabularDataset(frame.assign(income=np.inf), "label", categorical=["city", "color"])
    with pytest.raises(ValueError, match="no feature column"):
        TabularDataset(frame[["label"]], "label")
    with pytest.raises(ValueError, match="two classes"):
        TabularDataset(frame.assign(label="yes"), "label", categorical=["city", "color"])
    with pytest.raises(ValueError, match="leaves no training row"):
        TabularDataset(torch.randn(2, 2), torch.randn(2), split=(0.1, 0.45, 0.45))
    with pytest.raises(ValueError, match="one value per row"):
        TabularDataset(torch.randn(4, 2), torch.zeros(3))
    with pytest.raises(ValueError, match="torch.Tensor, numpy.ndarray or pandas.DataFrame"):
        TabularDataset([[1.0, 2.0]], [0.0])


def _mixed_frame(num_rows=60, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.normal(40, 10, num_rows),
            "city": rng.choice(["Paris", "Lyon", "Nice"], num_rows),
            "tier": pd.Categorical(rng.choice(["gold", "silver"], num_rows)),
            "member": rng.random(num_rows) > 0.5,
            "code": pd.array(rng.choice(["a", "b"], num_rows), dtype="string"),
            "label": rng.choice(["no", "yes"], num_rows),
        }
    )


def test_text_category_and_bool_columns_are_detected_as_the_estimators_do():
    pytest.importorskip("sklearn")
    from pyg_tabular.estimators import FeatureGraphClassifier

    frame = _mixed_frame()
    detected = TabularDataset(frame, "label")
    declared = TabularDataset(frame, "label", categorical=["city", "tier", "member", "code"])
    assert detected.categorical_names == ["city", "tier", "member", "code"]
    assert torch.equal(detected.x, declared.x)
    estimator = FeatureGraphClassifier(epochs=1, progress=False, random_state=0)
    estimator.fit(frame.drop(columns="label"), frame["label"])
    assert estimator.encoder_.categorical_names == detected.categorical_names
    # An object array's text columns, as the estimators read them.
    array = frame.drop(columns="label").to_numpy(dtype=object)
    from_array = TabularDataset(array, frame["label"].to_numpy())
    assert from_array.categorical_names == ["x1", "x2", "x3", "x4"]


def _with_ids_and_dates(num_rows=60):
    frame = make_frame(num_rows)
    frame["customer"] = [f"C{i:04d}" for i in range(num_rows)]
    frame["signup"] = pd.date_range("2024-01-01", periods=num_rows).strftime("%Y-%m-%d")
    frame["seen"] = pd.date_range("2024-01-01", periods=num_rows, freq="h")
    return frame


def test_ids_and_dates_are_left_out_with_a_warning_that_names_them():
    frame = _with_ids_and_dates()
    with pytest.warns(UserWarning) as caught:
        ds = TabularDataset(frame, "label")
    (message,) = [str(w.message) for w in caught]
    assert "'customer' (an ID: 60 distinct values in 60 rows)" in message
    assert "'signup' (dates)" in message and "'seen' (dates)" in message
    assert "categorical=[...]" in message
    assert ds.feature_names == ["age", "income", "city", "color"]
    assert ds.encoder.input_columns == [*frame.columns.drop("label")]
    # Listed as categorical, a column is kept, without a warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kept = TabularDataset(
            frame, "label", categorical=["city", "color", "customer"], drop=["signup", "seen"]
        )
        asked = TabularDataset(
            frame, "label", categorical=["city", "color"], drop=["customer", "signup", "seen"]
        )
    assert kept.categorical_names == ["city", "color", "customer"]
    assert kept.cardinalities[-1] == len(kept.index("train")) + 1
    torch.testing.assert_close(asked.x, ds.x, rtol=0, atol=0, equal_nan=True)


def test_an_id_needs_most_values_distinct_on_enough_rows():
    frame = make_frame(60)
    # 54 distinct of 60 (90%) is a vocabulary, 55 (more than 90%) an ID.
    for distinct, is_id in ((54, False), (55, True)):
        names = [f"n{i % distinct}" for i in range(60)]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = TabularDataset(frame.assign(name=names), "label")
        assert ("name" not in ds.categorical_names) is is_id
        assert len(caught) == int(is_id)
    # Every value distinct, but too few rows to call it an ID.
    small = make_frame(19).assign(name=[f"n{i}" for i in range(19)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert "name" in TabularDataset(small, "label").categorical_names


@pytest.mark.parametrize(
    "values, is_date",
    [
        (["2024-01-31", "2023-12-01"], True),
        (["2024/1/31", "31.01.2024", "1/31/2024"], True),
        (["2024-01-31T10:00:00Z", "2024-01-31 10:00", "2024-01-31 10:00:05.5+02:00"], True),
        (["2024-01-31", "soon"], False),
        (["2024", "2023"], False),
        (["10:00", "11:30"], False),
    ],
)
def test_which_text_columns_are_dates(values, is_date):
    frame = make_frame(60).assign(when=[values[i % len(values)] for i in range(60)])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = TabularDataset(frame, "label")
    assert ("when" not in ds.categorical_names) is is_date
    assert any("'when' (dates)" in str(w.message) for w in caught) is is_date


def test_new_rows_may_hold_the_left_out_columns():
    frame = _with_ids_and_dates()
    with pytest.warns(UserWarning, match="cannot carry signal"):
        ds = TabularDataset(frame, "label")
    new = frame.iloc[:5]
    numeric, codes = ds.encoder.transform(new.drop(columns=["customer", "signup", "seen"]))
    torch.testing.assert_close(ds.transform(new).x, ds.x[:5], rtol=0, atol=0, equal_nan=True)
    without_id = ds.transform(new.drop(columns="customer")).numeric
    torch.testing.assert_close(without_id, numeric, rtol=0, atol=0, equal_nan=True)
    # An array holds the features, with or without the left-out columns in their places.
    features = new.drop(columns="label")
    with_left_out = features.to_numpy(dtype=object)
    without = features.drop(columns=["customer", "signup", "seen"]).to_numpy(dtype=object)
    for rows in (with_left_out, without):
        assert torch.equal(ds.encoder.transform(rows)[1], codes)
    with pytest.raises(ValueError, match=r"feature columns .* \(or .*, with the ignored"):
        ds.encoder.transform(with_left_out[:, :5])
    state = ds.encoder.state_dict()
    assert state["input_columns"] == ds.encoder.input_columns
    from pyg_tabular.datasets import TableEncoder

    loaded = TableEncoder().load_state_dict(state)
    assert torch.equal(loaded.transform(with_left_out)[1], codes)
    older = {k: v for k, v in state.items() if k != "input_columns"}
    assert TableEncoder().load_state_dict(older).input_columns == ds.encoder.columns


def test_integer_targets_are_classes_up_to_a_limit_then_the_task_must_be_said():
    rng = np.random.default_rng(0)
    rows = 400
    frame = pd.DataFrame({"a": rng.normal(size=rows)})
    twenty = frame.assign(y=np.arange(rows) % 20)
    assert TabularDataset(twenty, "y").task == "multiclass"
    many = frame.assign(y=np.arange(rows) % 21)
    with pytest.raises(ValueError) as error:
        TabularDataset(many, "y")
    message = str(error.value)
    assert "holds 21 distinct integers in 400 rows" in message
    assert "task='regression' for a quantity" in message
    assert "task='multiclass' for classes" in message
    assert TabularDataset(many, "y", task="regression").task == "regression"
    assert TabularDataset(many, "y", task="multiclass").num_classes == 21
    # Text labels are classes however many there are; floats a regression.
    labels = frame.assign(y=[f"c{i % 40}" for i in range(rows)])
    assert TabularDataset(labels, "y").num_classes == 40
    assert TabularDataset(frame.assign(y=np.arange(rows) % 21 * 1.0), "y").task == "regression"


def test_a_class_too_rare_for_every_split_is_an_error_that_names_it():
    rng = np.random.default_rng(0)
    counts = {"common": 50, "three": 3, "pair": 2, "one": 1}
    labels = np.repeat(list(counts), list(counts.values()))
    frame = pd.DataFrame({"a": rng.normal(size=labels.size), "y": labels})
    with pytest.raises(ValueError) as error:
        TabularDataset(frame, "y")
    message = str(error.value)
    assert message.startswith("class 'one' of target 'y' has 1 row, too few")
    assert "at least 3 rows of each class" in message
    assert "2 of the 4 classes are that rare ('one', 'pair')" in message
    assert "regression" not in message  # text labels are no quantity
    # Three rows reach all three parts, one each.
    kept = TabularDataset(frame[frame["y"].isin(["common", "three"])], "y")
    three = kept.classes.index("three")
    for part in ("train", "val", "test"):
        assert int((kept.target[kept.index(part)] == three).sum()) == 1
    # Without a test part, two rows are enough.
    TabularDataset(frame[frame["y"] != "one"], "y", split=(0.85, 0.15, 0.0))
    # rare_classes="train" keeps a rare class's rows for training.
    trained = TabularDataset(frame, "y", rare_classes="train")
    for name in ("one", "pair"):
        code = trained.classes.index(name)
        rows = torch.nonzero(trained.target == code).view(-1)
        assert set(rows.tolist()) <= set(trained.index("train").tolist())
    with pytest.raises(ValueError, match="rare_classes must be one of"):
        TabularDataset(frame, "y", rare_classes="drop")
    # An integer target may be a quantity: the message says how to say so.
    integers = frame.assign(y=frame["y"].map({"common": 0, "three": 1, "pair": 2, "one": 3}))
    with pytest.raises(ValueError, match=r"class 3 .* if the target is a quantity, pass task="):
        TabularDataset(integers, "y")
