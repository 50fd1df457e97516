import pytest
import torch

from pyg_tabular.compare import MIN_SPLIT_ROWS, load_table_task, load_task


def _tiny_task(name="breast_cancer", max_rows=160):
    return load_task(name, seed=0, max_rows=max_rows)


def test_every_model_sees_identical_splits():
    first, second = _tiny_task(), _tiny_task()
    for part in ("train", "val", "test"):
        assert torch.equal(getattr(first, part).x, getattr(second, part).x)
        assert torch.equal(getattr(first, part).y, getattr(second, part).y)
    other_seed = load_task("breast_cancer", seed=1, max_rows=160)
    assert not torch.equal(first.test.x, other_seed.test.x)


def test_too_few_rows_per_split_is_refused():
    with pytest.raises(ValueError, match=f"fewer than {MIN_SPLIT_ROWS}"):
        load_task("breast_cancer", seed=0, max_rows=20)


@pytest.mark.realdata
def test_categorical_columns_are_embedded_not_scaled():
    # ACS Employment is almost all categorical: codes stay integers in the task
    # matrix and every model embeds them (one row per code in each table).
    from pyg_tabular.compare import MODELS
    from pyg_tabular.datasets import named_datasets

    try:
        named_datasets.data_files("acs_employment")
    except ImportError as error:
        pytest.skip(str(error))
    task = load_task("acs_employment", seed=0, max_rows=300)
    codes = task.train.x[:, task.num_numeric :]
    assert len(task.cardinalities) == codes.size(1) > 0
    assert torch.equal(codes, codes.round()) and codes.min() >= 0
    assert (codes.max(0).values < torch.tensor(task.cardinalities)).all()
    mlp = MODELS["mlp"](task)
    assert [e.num_embeddings for e in mlp.embeddings] == task.cardinalities
    graph = MODELS["feature-gat"](task)
    sizes = [e.num_embeddings for e in graph.model.encoder.embeddings]
    assert sizes == task.cardinalities


def _write_table(path, rows=120, seed=0):
    pandas = pytest.importorskip("pandas")
    generator = torch.Generator().manual_seed(seed)
    a, b = torch.randn(2, rows, generator=generator).double()
    city = ["north", "south", "east"]
    frame = pandas.DataFrame(
        {
            "a": a.numpy(),
            "b": b.numpy(),
            "city": [city[i % 3] for i in range(rows)],
            "label": ["yes" if x > 0 else "no" for x in (a + b).tolist()],
            "amount": (3 * a - b).numpy(),
        }
    )
    if str(path).endswith(".csv"):
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path)
    return frame


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_users_table_is_prepared_like_the_named_ones(tmp_path, suffix):
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    path = tmp_path / f"sales{suffix}"
    frame = _write_table(path)
    task = load_table_task(path, "label", seed=0)
    # String columns become categoricals (numerics first), the target's task is inferred.
    assert task.name == "sales" and task.kind == "binary"
    assert task.feature_names == ["a", "b", "amount", "city"]
    assert task.num_numeric == 3 and task.cardinalities == [4]  # 3 cities + "unknown"
    rows = sum(getattr(task, p).x.size(0) for p in ("train", "val", "test"))
    assert rows == len(frame)
    # Standardised on the train rows only.
    assert task.train.x[:, :3].mean(0).abs().max() < 1e-5
    again = load_table_task(path, "label", seed=0)
    assert torch.equal(again.test.x, task.test.x)
    regression = load_table_task(path, "amount", seed=0, categorical=["city", "label"])
    assert regression.kind == "regression" and regression.target_scale > 1.0
    multiclass = load_table_task(path, "city", seed=0, task="multiclass", categorical=["label"])
    assert multiclass.kind == "multiclass" and multiclass.num_outputs == 3


def test_a_users_table_gives_clear_errors(tmp_path):
    path = tmp_path / "t.csv"
    _write_table(path)
    with pytest.raises(ValueError, match="'price' is not a column"):
        load_table_task(path, "price", seed=0)
    with pytest.raises(ValueError, match=r"\['zip'\] are not columns"):
        load_table_task(path, "label", seed=0, categorical=["zip"])
    with pytest.raises(ValueError, match="task must be one of"):
        load_table_task(path, "label", seed=0, task="ranking")
    with pytest.raises(ValueError, match="does not exist"):
        load_table_task(tmp_path / "missing.csv", "label", seed=0)
    with pytest.raises(ValueError, match="csv"):
        load_table_task(tmp_path / "t.xlsx", "label", seed=0)


def test_a_users_integer_target_with_many_values_asks_for_the_task(tmp_path):
    pandas = pytest.importorskip("pandas")
    # sklearn's diabetes table with its target written as integers: 214
    # distinct values in 442 rows, a quantity that reads as classes.
    datasets = pytest.importorskip("sklearn.datasets")
    frame = datasets.load_diabetes(as_frame=True, scaled=False).frame
    frame["target"] = frame["target"].round().astype(int)
    path = tmp_path / "diabetes.csv"
    frame.to_csv(path, index=False)
    assert pandas.read_csv(path)["target"].dtype.kind == "i"
    with pytest.raises(ValueError) as error:
        load_table_task(path, "target", seed=0)
    message = str(error.value)
    assert "214 distinct integers in 442 rows" in message
    assert "task='regression' (--task regression) for a quantity" in message
    # Said to be classes, the one-row classes are named; the documented
    # 70/15/15 split is never reshuffled to fit them.
    with pytest.raises(ValueError, match=r"class 25 of target 'target' has 1 row.*--task regr"):
        load_table_task(path, "target", seed=0, task="multiclass")
    task = load_table_task(path, "target", seed=0, task="regression")
    assert task.kind == "regression"
    assert [getattr(task, p).x.size(0) for p in ("train", "val", "test")] == [310, 66, 66]


def test_a_users_id_and_date_columns_are_left_out_unless_listed(tmp_path):
    pytest.importorskip("pandas")
    path = tmp_path / "shop.csv"
    frame = _write_table(path)
    frame["order"] = [f"A-{i:05d}" for i in range(len(frame))]
    frame["day"] = [f"2024-03-{1 + i % 28:02d}" for i in range(len(frame))]
    frame.to_csv(path, index=False)
    with pytest.warns(UserWarning, match=r"'order' \(an ID.*'day' \(dates\).*--categorical"):
        task = load_table_task(path, "label", seed=0)
    assert task.feature_names == ["a", "b", "amount", "city"]
    assert task.dropped == ["order", "day"]
    kept = load_table_task(path, "label", seed=0, categorical=["city", "day"], drop=["order"])
    assert kept.feature_names == ["a", "b", "amount", "city", "day"] and kept.dropped == ["order"]
    with pytest.raises(ValueError, match=r"drop columns \['zip'\] are not columns"):
        load_table_task(path, "label", seed=0, drop=["zip"])
