r"""What the comparison trains on: a named dataset or a user's own table,
split with a seed and encoded on the train rows only."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from torch import Tensor

from pyg_tabular._choices import MIN_SPLIT_ROWS, TABLE_SUFFIXES, TABLE_TASKS

# The train, validation and test fractions of a user's table (the datasets' default).
_SPLIT = (0.7, 0.15, 0.15)

# Where a user of load_table_task or of `pyg-tabular compare` lists categorical columns.
_SAY_CATEGORICAL = "categorical=[...] (--categorical on the command line)"


@dataclasses.dataclass
class Split:
    """Tensors of one split: standardised features ``x [n, F]`` and targets ``y``."""

    x: Tensor
    y: Tensor


@dataclasses.dataclass
class Task:
    """A prepared dataset: three splits and what to predict."""

    name: str
    train: Split
    val: Split
    test: Split
    kind: str  # "regression", "binary" or "multiclass"
    num_outputs: int
    feature_names: list[str]
    # Columns of x: ``num_numeric`` standardised numerics, then one integer
    # code per categorical column (0 = unknown or missing).
    num_numeric: int = 0
    cardinalities: list[int] = dataclasses.field(default_factory=list)
    # Regression targets are trained standardised; RMSE is reported in the
    # target's own units by multiplying back by this train-split std.
    target_scale: float = 1.0
    # Columns of the table left out of the features (IDs, dates, asked for).
    dropped: list[str] = dataclasses.field(default_factory=list)


def load_task(name: str, *, seed: int, max_rows: int | None = None) -> Task:
    """Loads a named dataset with a seeded 70/15/15 split, fitted on the train rows.

    Missing numerics are imputed with the train mean here (every model gets the
    same input); categorical columns stay integer codes, which the neural
    models embed and HistGradientBoosting treats as native categories.
    """
    from pyg_tabular.datasets import load_dataset

    return _task_of(load_dataset(name, seed=seed, impute="mean"), name, max_rows)


def read_table(path: str | Path) -> Any:
    r"""Reads a CSV or parquet file into a :class:`pandas.DataFrame`."""
    import pandas as pd

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ValueError(f"data must be a {' or '.join(TABLE_SUFFIXES)} file (got {str(path)!r})")
    if not path.is_file():
        raise ValueError(f"data file {str(path)!r} does not exist")
    if suffix == ".csv":
        return pd.read_csv(path)
    return pd.read_parquet(path)


def load_table_task(
    path: str | Path,
    target: str,
    *,
    seed: int,
    max_rows: int | None = None,
    task: str | None = None,
    categorical: list[str] | tuple[str, ...] | None = None,
    drop: list[str] | tuple[str, ...] | None = None,
) -> Task:
    r"""A user's CSV or parquet table as a :class:`Task`, prepared like the named ones.

    The task and the categorical columns follow the rules of
    :class:`~pyg_tabular.datasets.TabularDataset`; their messages name the
    command line's options too.

    Args:
        path (str or Path): The table; its first row names the columns.
        target (str): The column to predict.
        seed (int, keyword-only): Draws the split.
        max_rows (int, optional, keyword-only): Subsample to about this many
            rows. (default: :obj:`None`)
        task (str, optional, keyword-only): ``"regression"``, ``"binary"``
            or ``"multiclass"``; inferred from the target when :obj:`None`:
            a float column is a regression; text, bools and up to 20
            distinct integers are classes; more distinct integers raise an
            error that asks for the task. (default: :obj:`None`)
        categorical (list of str, optional, keyword-only): Categorical
            columns; when :obj:`None`, the text, category, bool and date
            columns, less IDs and dates, which are left out with a warning
            (list them here to keep them). (default: :obj:`None`)
        drop (list of str, optional, keyword-only): Columns to leave out.
            (default: :obj:`None`)
    """
    from pyg_tabular.datasets import TabularDataset
    from pyg_tabular.datasets._columns import Table
    from pyg_tabular.datasets._inference import check_target, infer_columns

    frame = read_table(path)
    if target not in frame.columns:
        raise ValueError(
            f"target {target!r} is not a column of {str(path)!r} ({list(frame.columns)})"
        )
    if task is not None and task not in TABLE_TASKS:
        raise ValueError(f"task must be one of {TABLE_TASKS} or None (got {task!r})")
    for option, columns in (("categorical", categorical), ("drop", drop)):
        missing = [column for column in columns or () if column not in frame.columns]
        if missing:
            raise ValueError(
                f"{option} columns {missing} are not columns of {str(path)!r} "
                f"(columns: {list(frame.columns)})"
            )
    table = Table(frame)
    dropped = list(drop or ())
    if categorical is None:
        categorical, unusable = infer_columns(
            table, exclude=[target, *dropped], hint=_SAY_CATEGORICAL, stacklevel=4
        )
        dropped += unusable
    is_float = table.is_float(target)
    values = table.numeric(target, "target") if is_float else table.objects(target)
    task = check_target(
        values, is_float, task, _SPLIT, label=repr(target), hint="task='{task}' (--task {task})"
    )
    dataset = TabularDataset(
        frame,
        target,
        categorical=list(categorical),
        drop=dropped,
        task=task,
        split=_SPLIT,
        seed=seed,
        impute="mean",
        name=Path(path).stem,
    )
    return _task_of(dataset, Path(path).stem, max_rows, dropped)


def _task_of(
    dataset: Any, name: str, max_rows: int | None, dropped: list[str] | None = None
) -> Task:
    x, y = dataset.x, dataset.y
    assert y is not None
    splits: dict[str, Split] = {}
    for part in ("train", "val", "test"):
        index = dataset.index(part)
        if max_rows is not None:
            index = index[: int(max_rows * len(index) / len(dataset))]
        if len(index) < MIN_SPLIT_ROWS:
            raise ValueError(
                f"the {part} split of {name!r} holds {len(index)} rows, fewer than "
                f"{MIN_SPLIT_ROWS}; use more rows (max_rows={max_rows}, table of "
                f"{len(dataset)} rows)"
            )
        splits[part] = Split(x[index], y[index])
    scale = 1.0
    if dataset.task == "regression":
        center, scale = float(splits["train"].y.mean()), float(splits["train"].y.std())
        if not scale > 0.0:
            raise ValueError(f"the target of {name!r} is constant on the train split")
        for split in splits.values():
            split.y = (split.y - center) / scale
    num_outputs = 1 if dataset.task in ("regression", "binary") else int(dataset.num_classes or 0)
    return Task(
        name=name,
        train=splits["train"],
        val=splits["val"],
        test=splits["test"],
        kind=dataset.task,
        num_outputs=num_outputs,
        feature_names=list(dataset.feature_names),
        num_numeric=dataset.num_numeric,
        cardinalities=list(dataset.cardinalities),
        target_scale=scale,
        dropped=list(dropped or ()),
    )


__all__ = [
    "Split",
    "Task",
    "load_task",
    "load_table_task",
    "read_table",
    "MIN_SPLIT_ROWS",
    "TABLE_TASKS",
]
