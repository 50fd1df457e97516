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
        ({"target": "label"}, "'city' is not numeric"),
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
