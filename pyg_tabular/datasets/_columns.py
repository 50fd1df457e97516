"""Column access shared by the tabular datasets (private).

Columns are read one at a time as 1-D numpy arrays so that Tensor, ndarray and
DataFrame inputs go through one code path; pandas is used when it is installed
(and always for DataFrames) but is not needed for Tensor and ndarray inputs.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

import pyg_tabular.typing as _typing
from pyg_tabular._choices import TABLE_TASKS
from pyg_tabular.utils.validation import is_dataframe

TASKS = TABLE_TASKS
IMPUTE_MODES = (None, "mean")
MISSING_MODES = ("error", "drop")
# Mixes a loader's seed with the epoch number into the epoch's shuffling seed.
SEED_MIX = 0x9E3779B97F4A7C15


class Table:
    r"""A read-only view of a 2-D input as named columns."""

    def __init__(self, data: Any, names: Sequence[str] | None = None, name: str = "data"):
        self._positions: np.ndarray | None = None
        self.is_frame = is_dataframe(data)
        if self.is_frame:
            import pandas as pd

            frame = data.to_frame() if isinstance(data, pd.Series) else data
            labels = list(frame.columns)
            self.names = [str(label) for label in labels]
            duplicated = sorted({n for n in self.names if self.names.count(n) > 1})
            if duplicated:
                raise ValueError(f"{name} has duplicated column names {duplicated}")
            self._label = dict(zip(self.names, labels))
            self._frame = frame
            self.num_rows = len(frame)
            return
        if isinstance(data, Tensor):
            array = data.detach().cpu().numpy()
        elif isinstance(data, np.ndarray):
            array = data
        else:
            raise ValueError(
                f"{name} must be a torch.Tensor, numpy.ndarray or pandas.DataFrame "
                f"(got {type(data).__name__})"
            )
        if array.ndim != 2:
            raise ValueError(
                f"{name} must have shape [num_rows, num_columns] (got shape {array.shape})"
            )
        if names is None:
            names = [f"x{i}" for i in range(array.shape[1])]
        if isinstance(names, str) or len(names) != array.shape[1]:
            raise ValueError(
                f"{name} has {array.shape[1]} columns but feature_names has "
                f"{len(names)} names ({list(names)!r})"
            )
        self.names = [str(n) for n in names]
        self._array = array
        self.num_rows = array.shape[0]

    def take(self, rows: Any) -> Table:
        r"""A table of the rows :obj:`rows` (positions), with the same names."""
        positions = np.asarray(rows, dtype=np.int64)
        out = copy.copy(self)
        if self.is_frame:
            out._frame = self._frame.iloc[positions]
        else:
            out._array = self._array[positions]
        out.num_rows = len(positions)
        out._positions = positions if self._positions is None else self._positions[positions]
        return out

    def row_number(self, row: int) -> int:
        r"""The row's position in the table this one was taken from."""
        return row if self._positions is None else int(self._positions[row])

    def renamed(self, names: Sequence[str]) -> Table:
        r"""The same array under other column names (arrays only)."""
        assert not self.is_frame and len(names) == len(self.names)
        out = copy.copy(self)
        out.names = [str(n) for n in names]
        return out

    def column(self, name: str) -> Any:
        if self.is_frame:
            return self._frame[self._label[name]]
        return self._array[:, self.names.index(name)]

    def is_float(self, name: str) -> bool:
        column = self.column(name)
        if self.is_frame:
            import pandas as pd

            return bool(pd.api.types.is_float_dtype(column.dtype))
        return column.dtype.kind == "f"

    def numeric(self, name: str, what: str = "column") -> np.ndarray:
        r"""The column as float64, NaN for missing; raises if it is not numeric."""
        column = self.column(name)
        hint = (
            f"{what} {name!r} is not numeric (dtype {column.dtype}); "
            f"declare it in categorical=[...] to encode its categories"
        )
        if self.is_frame:
            import pandas as pd

            kind = column.dtype
            if not (pd.api.types.is_numeric_dtype(kind) or pd.api.types.is_bool_dtype(kind)):
                raise ValueError(hint)
            return column.to_numpy(dtype=np.float64, na_value=np.nan)
        if column.dtype.kind in "biuf":
            return column.astype(np.float64)
        if column.dtype.kind == "O":
            try:
                return np.array(
                    [np.nan if _is_missing_scalar(v) else float(v) for v in column],
                    dtype=np.float64,
                )
            except (TypeError, ValueError):
                raise ValueError(hint) from None
        raise ValueError(hint)

    def objects(self, name: str) -> np.ndarray:
        r"""The column's values as they are (numbers or labels), for encoding."""
        column = self.column(name)
        if self.is_frame:
            return column.to_numpy(dtype=object)
        return np.asarray(column)


def _is_missing_scalar(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def is_missing(values: np.ndarray) -> np.ndarray:
    r"""Boolean mask of missing entries (None, NaN, pandas.NA, NaT)."""
    if values.dtype.kind == "f":
        return np.isnan(values)
    if values.dtype.kind in "biuUS":
        return np.zeros(values.shape, dtype=bool)
    if _typing.WITH_PANDAS:
        import pandas as pd

        return np.asarray(pd.isna(values), dtype=bool)
    return np.array([_is_missing_scalar(v) for v in values], dtype=bool)


def _python_scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def sorted_values(values: Any) -> list[Any]:
    r"""Sorts labels; mixed types sort by type name, then text."""
    items = [_python_scalar(v) for v in values]
    try:
        return sorted(items)
    except TypeError:
        return sorted(items, key=lambda v: (type(v).__name__, str(v)))


def unique_labels(values: np.ndarray) -> list[Any]:
    r"""Sorted distinct non-missing values."""
    present = values[~is_missing(values)]
    if _typing.WITH_PANDAS:
        import pandas as pd

        distinct = pd.unique(present)
    else:
        distinct = list(dict.fromkeys(present.tolist()))
    return sorted_values(distinct)


def encode(values: np.ndarray, vocabulary: Sequence[Any]) -> np.ndarray:
    r"""Codes ``1 + position`` in :obj:`vocabulary`; ``0`` for missing or unknown values."""
    if _typing.WITH_PANDAS:
        import pandas as pd

        index = pd.Index(list(vocabulary), dtype=object)
        return index.get_indexer(np.asarray(values, dtype=object)).astype(np.int64) + 1
    lookup = {value: code for code, value in enumerate(vocabulary, start=1)}
    return np.fromiter(
        (lookup.get(_python_scalar(v), 0) for v in values), dtype=np.int64, count=len(values)
    )


def column_name(table: Table, key: Any) -> str | None:
    r"""The name of the column :obj:`key` refers to, or :obj:`None` if it is not one."""
    if isinstance(key, str):
        return key if key in table.names else None
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        if table.is_frame:
            # A DataFrame's integer labels are names, not positions.
            return str(key) if str(key) in table.names else None
        if 0 <= int(key) < len(table.names):
            return table.names[int(key)]
    return None


def as_int64_tensor(array: np.ndarray) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.int64))


def class_task(task: str, classes: Sequence[Any], label: str) -> str:
    """``"binary"`` or ``"multiclass"`` for :obj:`classes` of the target named
    :obj:`label`; :obj:`task` is ``"classification"`` (either) or one of them."""
    if len(classes) < 2:
        raise ValueError(f"target {label} must have at least two classes (got {classes})")
    if task == "classification":
        task = "binary" if len(classes) == 2 else "multiclass"
    if task == "binary" and len(classes) != 2:
        raise ValueError(
            f"task='binary' needs exactly two classes; target {label} has "
            f"{len(classes)}: {list(classes)[:10]}"
        )
    return task


class ColumnSchema:
    r"""The column properties shared by :class:`TabularDataset` and
    :class:`StreamingTabularLoader`, read from their fitted
    :class:`~pyg_tabular.datasets.TableEncoder` :obj:`encoder`."""

    encoder: Any

    @property
    def numeric_names(self) -> list[str]:
        r"""Names of the numeric columns; they come first in ``x``."""
        return list(self.encoder.numeric_names)

    @property
    def categorical_names(self) -> list[str]:
        r"""Names of the categorical columns, after the numeric ones in ``x``."""
        return list(self.encoder.categorical_names)

    @property
    def vocabularies(self) -> dict[str, list[Any]]:
        r"""The categories of each categorical column, by code ``1, 2, ...``."""
        return self.encoder.vocabularies

    @property
    def feature_names(self) -> list[str]:
        r"""Numeric column names, then categorical ones: the column order of ``x``."""
        return self.encoder.feature_names

    @property
    def num_numeric(self) -> int:
        r"""Number of numeric columns; they come first in ``x``."""
        return len(self.encoder.numeric_names)

    @property
    def num_categorical(self) -> int:
        r"""Number of categorical columns."""
        return len(self.encoder.categorical_names)

    @property
    def num_features(self) -> int:
        r"""Number of feature columns :math:`F`."""
        return self.num_numeric + self.num_categorical

    @property
    def cardinalities(self) -> list[int]:
        r"""Codes per categorical column, the reserved ``0`` included."""
        return list(self.encoder.cardinalities)

    @property
    def mean(self) -> Tensor:
        r"""Fitted means of the numeric columns, ``[F_num]`` (float64)."""
        return self.encoder.mean

    @property
    def std(self) -> Tensor:
        r"""Fitted standard deviations of the numeric columns (``1`` for constant ones)."""
        return self.encoder.std
