"""A table encoded for feature-graph models, with statistics fitted on its train split."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from pyg_tabular.datasets._columns import (
    IMPUTE_MODES,
    TASKS,
    ColumnSchema,
    Table,
    as_int64_tensor,
    class_task,
    column_name,
    encode,
    is_missing,
    unique_labels,
)
from pyg_tabular.datasets._inference import (
    check_class_sizes,
    infer_columns,
    infer_task,
    integer_classes,
    part_sizes,
    short_groups,
)
from pyg_tabular.datasets.table_encoder import TableEncoder
from pyg_tabular.utils.validation import check_choice, is_dataframe

SPLITS = ("train", "val", "test")
RARE_CLASSES = ("raise", "train")


class TabularDataset(ColumnSchema, Dataset):
    r"""A table of numeric and categorical columns and a target, encoded for
    feature-graph models with statistics fitted on the training split only.

    The rows are split once, seeded, into ``"train"``, ``"val"`` and
    ``"test"`` (stratified by class for classification). Then, using the
    **training rows only**:

    * each numeric column is standardized with its NaN-aware mean and
      (population) standard deviation; a constant column is only centred
      (with ``scaling="robust"``: RealMLP's robust scaling and smooth
      clipping, see :class:`~pyg_tabular.datasets.TableEncoder`).
      Missing cells stay NaN, so that feature graphs can drop them
      (``missing="drop"``), unless :obj:`impute` fills them;
    * each categorical column gets a vocabulary of the values seen in the
      training rows, sorted; value :math:`v` is coded ``1 + position``, and code
      ``0`` is reserved for missing values and for categories never seen in
      training, which can therefore appear in validation, test or new data
      without error.

    Validation, test and new rows (:meth:`transform`) are encoded with the
    same fitted statistics; nothing about them enters the fit. The set of
    classes of a classification target is read from the whole target column:
    it defines the task rather than being a statistic of the features.

    Args:
        data (torch.Tensor or numpy.ndarray or pandas.DataFrame): The table,
            ``[N, num_columns]``.
        target (str or int or array-like): The target: a column of
            :obj:`data` (a column name of a DataFrame; a name from
            :obj:`feature_names` or a column index of an array), or ``N``
            target values. Missing target values are an error.
        categorical (list, optional, keyword-only): Columns to encode as
            categories (names, or column indices for arrays); every other
            column must be numeric. When :obj:`None`, the columns of object,
            string, category, bool and date dtypes (for arrays: text, bools
            and dates), as the estimators detect them; of those, IDs (more
            than 90% of 20 or more values distinct) and dates cannot carry
            signal as categories and are left out with a warning that names
            them. List a column here to keep it. (default: :obj:`None`)
        drop (list, optional, keyword-only): Columns to leave out of the
            features (names, or column indices for arrays); rows given to
            :meth:`transform` may still hold them. (default: :obj:`None`)
        task (str, optional, keyword-only): ``"regression"``, ``"binary"``
            or ``"multiclass"``; inferred when :obj:`None`: a floating-point
            target means regression; text, bools and up to 20 distinct
            integers are classes (binary with two); more distinct integers
            than that raise an error asking which task is meant.
            (default: :obj:`None`)
        split (tuple or dict, optional, keyword-only): Fractions ``(train,
            val, test)`` summing to 1, or a mapping from ``"train"``,
            ``"val"``, ``"test"`` to disjoint row indices.
            (default: :obj:`(0.7, 0.15, 0.15)`)
        seed (int, optional, keyword-only): Seed of the random split.
            (default: :obj:`0`)
        stratify (bool, optional, keyword-only): Keep class proportions in
            every split of a classification task; every class then needs a
            row in each part of the split (see :obj:`rare_classes`).
            (default: :obj:`True`)
        rare_classes (str, optional, keyword-only): What a stratified split
            does with a class too rare to reach every part: ``"raise"`` an
            error that names it, or ``"train"``: keep all its rows in the
            training part. (default: :obj:`"raise"`)
        impute (str, optional, keyword-only): :obj:`None` keeps missing
            numeric cells as NaN; ``"mean"`` fills them with the training mean
            (``0`` after standardization). (default: :obj:`None`)
        feature_names (list of str, optional, keyword-only): Column names of
            an array input. (default: ``x0``, ``x1``, ...)
        dtype (torch.dtype, optional, keyword-only): Floating dtype of
            :attr:`numeric` and of a regression target.
            (default: :func:`torch.get_default_dtype`)
        name (str, optional, keyword-only): A name shown in the repr.
            (default: :obj:`None`)
        scaling (str, optional, keyword-only): ``"standard"`` or
            ``"robust"``: how the numeric columns are scaled, see
            :class:`~pyg_tabular.datasets.TableEncoder`.
            (default: :obj:`"standard"`)

    The encoded table is held in :attr:`numeric` (``[N, F_num]``,
    standardized), :attr:`categorical` (``[N, F_cat]`` codes, ``long``) and
    :attr:`target` (``[N]``: class codes ``0..K-1`` as ``long``, or regression
    values); :attr:`x` joins the first two in the order of
    :attr:`feature_names`. Metadata: :attr:`task`, :attr:`num_classes`
    (:obj:`None` for regression), :attr:`classes` (the original labels, by
    code), :attr:`vocabularies` (the categories of each categorical column, by
    code ``1, 2, ...``), :attr:`cardinalities`, the fitted :attr:`mean` and
    :attr:`std`, and :attr:`split_index` (row indices of ``"train"``,
    ``"val"`` and ``"test"``). The column statistics live in :attr:`encoder`,
    the fitted :class:`~pyg_tabular.datasets.TableEncoder`, which encodes new
    rows (as :meth:`transform` does) and saves with its ``state_dict``.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0], [2.0, 1.0], [3.0, 1.0], [4.0, 2.0]])
        >>> ds = TabularDataset(
        ...     x, torch.tensor([0, 1, 1, 0]), categorical=[1],
        ...     split={"train": [0, 1, 2], "val": [], "test": [3]},
        ... )
        >>> ds
        TabularDataset(rows=4, numeric=1, categorical=1, task='binary')
        >>> ds.mean.tolist(), ds.vocabularies
        ([2.0], {'x1': [0.0, 1.0]})
        >>> ds.categorical.view(-1).tolist()  # 2.0 was never seen in training
        [1, 2, 2, 0]
    """

    numeric: Tensor
    categorical: Tensor
    target: Tensor | None

    def __init__(
        self,
        data: Any,
        target: Any = None,
        *,
        categorical: Sequence[Any] | None = None,
        drop: Sequence[Any] | None = None,
        task: str | None = None,
        split: Sequence[float] | Mapping[str, Any] = (0.7, 0.15, 0.15),
        seed: int = 0,
        stratify: bool = True,
        rare_classes: str = "raise",
        impute: str | None = None,
        feature_names: Sequence[str] | None = None,
        dtype: torch.dtype | None = None,
        name: str | None = None,
        scaling: str = "standard",
    ) -> None:
        if task is not None and task not in TASKS:
            raise ValueError(f"task must be one of {TASKS} or None (got {task!r})")
        check_choice(rare_classes, "rare_classes", RARE_CLASSES)
        if impute not in IMPUTE_MODES:
            raise ValueError(f"impute must be one of {IMPUTE_MODES} (got {impute!r})")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an int (got {seed!r})")
        dtype = torch.get_default_dtype() if dtype is None else dtype
        if not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating dtype (got {dtype})")
        self.name = name
        self.impute = impute
        self.seed = seed
        self.dtype = dtype

        table = Table(data, feature_names)
        if table.num_rows == 0:
            raise ValueError("data must hold at least one row (got an empty table)")
        if target is None:
            raise ValueError(
                "target is required: name the target column of data or pass one value per row"
            )
        self.target_name, target_values, target_is_float = self._resolve_target(table, target)
        exclude = [] if self.target_name is None else [self.target_name]
        dropped = _column_names(table, drop, "drop")
        if categorical is None:
            categorical, unusable = infer_columns(
                table, exclude=[*exclude, *dropped], hint="categorical=[...]"
            )
            dropped += unusable

        self.task, self.classes, target_tensor = self._encode_target(
            target_values, target_is_float, task
        )
        self.num_classes = None if self.classes is None else len(self.classes)
        strata = target_tensor.numpy() if stratify and self.classes is not None else None
        if strata is not None and not isinstance(split, Mapping) and rare_classes == "raise":
            assert self.classes is not None
            regression = "pass task='regression'"
            check_class_sizes(
                strata,
                self.classes,
                _fractions(split),
                label=self._label,
                regression=regression if integer_classes(target_values) else None,
            )
        self.split_index = _split_rows(table.num_rows, split, seed, strata)

        # Fit on the training rows only: nothing from val/test may shape the encoding.
        self.encoder = TableEncoder(categorical, impute=impute, dtype=dtype, scaling=scaling)
        self.encoder.fit(
            table.take(self.split_index["train"].numpy()), exclude=exclude, ignore=dropped
        )
        self.numeric, self.categorical = self.encoder.transform(table)
        self.target = target_tensor

    # ------------------------------------------------------------------ reading
    @staticmethod
    def _resolve_target(table: Table, target: Any) -> tuple[str | None, np.ndarray, bool]:
        column = column_name(table, target)
        if column is not None:
            is_float = table.is_float(column)
            values = table.numeric(column, "target") if is_float else table.objects(column)
            return column, values, is_float
        if isinstance(target, (str, int)):
            raise ValueError(f"target {target!r} is not a column of data (columns: {table.names})")
        values = _as_array(target, "target")
        if values.ndim != 1 or values.shape[0] != table.num_rows:
            raise ValueError(
                f"target must hold one value per row of data ({table.num_rows} rows; "
                f"got shape {values.shape})"
            )
        is_float = values.dtype.kind == "f"
        return None, values, is_float

    @property
    def _label(self) -> str:
        return repr(self.target_name) if self.target_name is not None else "values"

    def _encode_target(
        self, values: np.ndarray, is_float: bool, task: str | None
    ) -> tuple[str, list[Any] | None, Tensor]:
        label = self._label
        if values.dtype.kind == "c":
            raise ValueError(f"target {label} must be real-valued (got dtype {values.dtype})")
        if values.dtype.kind == "f" and np.isinf(values).any():
            row = int(np.flatnonzero(np.isinf(values))[0])
            raise ValueError(f"target {label} must be finite; found {values[row]} at row {row}")
        missing = is_missing(values)
        if missing.any():
            rows = np.flatnonzero(missing)[:5].tolist()
            raise ValueError(
                f"target {label} has {int(missing.sum())} missing values (first rows {rows}); "
                "drop those rows first"
            )
        if task is None:
            task = infer_task(values, is_float, label=label, hint="task='{task}'")
        if task == "regression":
            if values.dtype.kind not in "biuf":
                try:
                    values = values.astype(np.float64)
                except (TypeError, ValueError):
                    raise ValueError(
                        f"target {label} must be numeric for task='regression' "
                        f"(got dtype {values.dtype})"
                    ) from None
            return task, None, torch.from_numpy(values.astype(np.float64)).to(self.dtype)
        classes = unique_labels(values)
        task = class_task(task, classes, label)
        codes = encode(values, classes) - 1
        return task, classes, as_int64_tensor(codes)

    # ----------------------------------------------------------------- encoding
    def transform(self, data: Any, target: Any = None) -> TabularDataset:
        r"""Encodes new rows with the statistics fitted on this dataset's train split.

        Args:
            data (torch.Tensor or numpy.ndarray or pandas.DataFrame): New rows.
                A DataFrame needs every feature column (by name; extra columns
                are ignored) and may hold the target column; an array holds
                exactly the feature columns, in the original order.
            target (array-like, optional): Targets of the new rows, when they
                are not a column of :obj:`data`. (default: :obj:`None`)

        Returns:
            A :class:`TabularDataset` sharing this one's fitted statistics; all
            its rows are in the ``"test"`` split, and its :attr:`target` is
            :obj:`None` when no target was found.
        """
        table = Table(data)
        columns = self.encoder.columns
        if not table.is_frame:
            if len(table.names) != len(columns):
                raise ValueError(
                    f"data must hold the {len(columns)} feature columns {columns} in this "
                    f"order (got shape {(table.num_rows, len(table.names))})"
                )
            table = table.renamed(columns)
        if table.num_rows == 0:
            raise ValueError("data must hold at least one row (got an empty table)")
        out = copy.copy(self)
        out.numeric, out.categorical = self.encoder.transform(table)
        out.target = self._transform_target(table, target)
        every = torch.arange(table.num_rows)
        empty = every[:0]
        out.split_index = {"train": empty, "val": empty.clone(), "test": every}
        return out

    def _transform_target(self, table: Table, target: Any) -> Tensor | None:
        if target is None:
            if self.target_name is None or self.target_name not in table.names:
                return None
            target = self.target_name
        _, values, _ = self._resolve_target(table, target)
        if self.classes is None:
            _, _, encoded = self._encode_target(values, True, "regression")
            return encoded
        missing = is_missing(values)
        codes = encode(values, self.classes) - 1
        unknown = (codes < 0) & ~missing
        if missing.any() or unknown.any():
            bad = values[missing | unknown][:5].tolist()
            raise ValueError(
                f"target holds values outside the known classes {self.classes[:10]}: {bad}"
            )
        return as_int64_tensor(codes)

    # ------------------------------------------------------------------- access
    @property
    def x(self) -> Tensor:
        r"""All features ``[N, F]``: standardized numerics, then category codes as floats."""
        return torch.cat([self.numeric, self.categorical.to(self.numeric.dtype)], dim=1)

    @property
    def y(self) -> Tensor | None:
        r"""Alias of :attr:`target`."""
        return self.target

    def index(self, split: str | None = "train") -> Tensor:
        r"""Row indices of :obj:`split` (``"train"``, ``"val"``, ``"test"``; :obj:`None`: all)."""
        if split is None:
            return torch.arange(len(self))
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS} or None (got {split!r})")
        return self.split_index[split]

    def fit_bins(
        self,
        n_bins: int = 48,
        split: str | None = "train",
        *,
        target_aware: bool = False,
        tree_kwargs: dict[str, Any] | None = None,
    ) -> list[Tensor]:
        r"""Bin edges of each encoded numeric column over the rows of
        :obj:`split`, for a piecewise-linear numeric embedding
        (:func:`~pyg_tabular.nn.models.fit_bins`): quantile bins, or with
        :obj:`target_aware`, the thresholds of a decision tree on the target
        (a regression tree for a regression task, a classification tree
        otherwise; :obj:`tree_kwargs` are its options). Fit on the training
        rows only, as the encoding was.

        Example:
            >>> import pandas as pd
            >>> dataset = TabularDataset(pd.DataFrame({"a": range(20), "y": [0.0] * 20}), "y")
            >>> len(dataset.fit_bins(n_bins=4)[0])
            5
        """
        from pyg_tabular.nn.models import fit_bins

        rows = self.index(split)
        if not target_aware:
            if tree_kwargs is not None:
                raise ValueError("tree_kwargs apply to target_aware=True bins")
            return fit_bins(self.numeric[rows], n_bins)
        if self.target is None:
            raise ValueError("target_aware bins need the dataset's target (it has none)")
        return fit_bins(
            self.numeric[rows],
            n_bins,
            y=self.target[rows],
            regression=self.task == "regression",
            tree_kwargs=tree_kwargs,
        )

    def __len__(self) -> int:
        return self.numeric.size(0)

    def __getitem__(self, index: Any) -> tuple[Tensor, Tensor | None]:
        target = None if self.target is None else self.target[index]
        return self.x[index], target

    def __repr__(self) -> str:
        head = f"name={self.name!r}, " if self.name is not None else ""
        return (
            f"{self.__class__.__name__}({head}rows={len(self)}, numeric={self.num_numeric}, "
            f"categorical={self.num_categorical}, task={self.task!r})"
        )


def _is_frame(data: Any) -> bool:
    return is_dataframe(data)


def _as_array(values: Any, name: str) -> np.ndarray:
    if isinstance(values, Tensor):
        return values.detach().cpu().numpy()
    if _is_frame(values):
        return values.to_numpy()
    try:
        return np.asarray(values)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be array-like (got {type(values).__name__})") from None


def _column_names(table: Table, keys: Sequence[Any] | None, what: str) -> list[str]:
    if keys is None:
        return []
    if isinstance(keys, (str, int)):
        raise ValueError(f"{what} must be a list of columns (got {keys!r})")
    names = [column_name(table, key) for key in keys]
    unknown = [key for key, name in zip(keys, names) if name is None]
    if unknown:
        raise ValueError(f"{what} names {unknown}, not columns of data (columns: {table.names})")
    return [name for name in names if name is not None]


def _fractions(split: Sequence[float]) -> list[float]:
    try:
        fractions = [float(f) for f in split]
    except (TypeError, ValueError):
        fractions = []
    if (
        len(fractions) != 3
        or any(not np.isfinite(f) or f < 0 for f in fractions)
        or fractions[0] <= 0
        or abs(sum(fractions) - 1.0) > 1e-6
    ):
        raise ValueError(
            "split must be fractions (train, val, test), non-negative with train > 0, "
            f"summing to 1, or a mapping of row indices (got {split!r})"
        )
    return fractions


def _split_rows(
    num_rows: int,
    split: Sequence[float] | Mapping[str, Any],
    seed: int,
    strata: np.ndarray | None,
) -> dict[str, Tensor]:
    if isinstance(split, Mapping):
        return _given_split(num_rows, split)
    fractions = _fractions(split)
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(num_rows, generator=generator)
    groups = torch.zeros(num_rows, dtype=torch.long)
    if strata is not None:
        groups = torch.from_numpy(strata)[order]
        # Stable sort by class keeps the random order inside each class.
        by_class = torch.sort(groups, stable=True).indices
        order, groups = order[by_class], groups[by_class]
    counts = torch.bincount(groups)
    start = torch.cumsum(counts, 0) - counts
    rank = torch.arange(num_rows) - start[groups]  # position of each row within its class
    test_sizes, val_sizes = part_sizes(counts.numpy(), fractions)
    if strata is not None:
        # A class too rare for every part (allowed by rare_classes="train")
        # keeps all its rows for training.
        short = short_groups(counts.numpy(), fractions)
        test_sizes[short], val_sizes[short] = 0, 0
    num_test, num_val = torch.from_numpy(test_sizes)[groups], torch.from_numpy(val_sizes)[groups]
    is_test = rank < num_test
    is_val = ~is_test & (rank < num_test + num_val)
    is_train = ~is_test & ~is_val
    if not bool(is_train.any()):
        raise ValueError(
            f"split {tuple(fractions)} leaves no training row out of {num_rows}; "
            "give the train split a larger fraction"
        )
    return {
        "train": order[is_train].sort().values,
        "val": order[is_val].sort().values,
        "test": order[is_test].sort().values,
    }


def _given_split(num_rows: int, split: Mapping[str, Any]) -> dict[str, Tensor]:
    unknown = sorted(set(split) - set(SPLITS))
    if unknown or "train" not in split:
        raise ValueError(
            f"split must map 'train' (and optionally 'val', 'test') to row indices "
            f"(got keys {sorted(split)})"
        )
    out: dict[str, Tensor] = {}
    seen = torch.zeros(num_rows, dtype=torch.bool)
    for key in SPLITS:
        rows = torch.as_tensor(np.asarray(split.get(key, []), dtype=np.int64)).view(-1)
        if rows.numel() > 0 and (int(rows.min()) < 0 or int(rows.max()) >= num_rows):
            raise ValueError(
                f"split[{key!r}] holds row indices outside [0, {num_rows}) "
                f"(got {int(rows.min())} to {int(rows.max())})"
            )
        if bool(seen[rows].any()) or rows.unique().numel() != rows.numel():
            raise ValueError(f"split[{key!r}] repeats rows of another split or of itself")
        seen[rows] = True
        out[key] = rows.sort().values
    if out["train"].numel() == 0:
        raise ValueError("split['train'] must hold at least one row")
    return out


__all__ = ["TabularDataset"]
