"""What a table means when its user does not say (private).

One home for the rules that :class:`~pyg_tabular.datasets.TabularDataset`,
the estimators and ``pyg-tabular compare`` apply to a table they are given
without a task or a list of categorical columns:

* the task of a target: a float column is a regression; text, bools and
  up to :data:`MAX_INFERRED_CLASSES` distinct integers are classes; more
  distinct integers than that are refused until the user says which;
* every class must reach every split: a class with fewer rows than the
  split has parts is an error that names it;
* which columns are categorical (object, string, category and bool dtypes),
  and which of those cannot carry signal as categories: IDs (nearly every
  value distinct) and dates. Those are left out with a warning that names
  them, unless the user lists them as categorical.

Each caller words the remedy in its own terms (``task='regression'``,
``--task regression``, ``FeatureGraphRegressor``), passed in as a hint.
"""

from __future__ import annotations

import datetime
import math
import re
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from pyg_tabular._choices import MAX_INFERRED_CLASSES
from pyg_tabular.datasets._columns import Table, encode, is_missing, unique_labels

#: Distinct integers per row above which a classifier's integer target looks
#: like a quantity (with more than :data:`MAX_INFERRED_CLASSES` of them):
#: a class then has fewer than 20 rows on average.
QUANTITY_SHARE = 0.05
#: A categorical column looks like an ID when more than this share of its
#: present values are distinct: most categories would then be seen once.
ID_DISTINCT_SHARE = 0.9
#: Fewest present values before a column is judged an ID: a tiny table's
#: categories are all distinct by chance.
ID_MIN_ROWS = 20

_DATE = re.compile(
    r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}"  # 2024-01-31, 2024/1/31
    r"|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}"  # 31.01.2024, 1/31/2024
)
# What may follow a date: a time of day, with seconds, AM/PM and a zone.
_TIME = re.compile(
    r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[AaPp][Mm])?(?:Z|[+-]\d{2}:?\d{2})?)?"
)


def _is_integer(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def integer_classes(values: np.ndarray) -> int | None:
    r"""The number of distinct values of an integer target (bools excluded),
    or :obj:`None` when :obj:`values` are not all integers."""
    if values.dtype.kind in "iu":
        return int(np.unique(values).size)
    if values.dtype.kind != "O" or values.size == 0:
        return None
    if not all(_is_integer(v) for v in values):
        return None
    return len(unique_labels(values))


def infer_task(
    values: np.ndarray, is_float: bool, *, label: str, hint: str, num_rows: int | None = None
) -> str:
    r"""``"regression"`` for a float target, else ``"classification"``;
    refuses an integer target with more than :data:`MAX_INFERRED_CLASSES`
    distinct values.

    Args:
        values (numpy.ndarray): The target, one value per row.
        is_float (bool): Whether the target column is a float column.
        label (str): The target's name in messages.
        hint (str): How the caller's user names a task, with ``{task}`` in
            it, e.g. ``"task='{task}'"``.
        num_rows (int, optional): Rows of the target, when :obj:`values`
            holds only its distinct values. (default: ``values.size``)
    """
    if is_float:
        return "regression"
    distinct = integer_classes(values)
    if distinct is not None and distinct > MAX_INFERRED_CLASSES:
        raise ValueError(
            f"target {label} holds {distinct} distinct integers in "
            f"{values.size if num_rows is None else num_rows} rows, more "
            f"than the {MAX_INFERRED_CLASSES} that are read as classes: say what it is, "
            f"{hint.format(task='regression')} for a quantity or "
            f"{hint.format(task='multiclass')} for classes"
        )
    return "classification"


def looks_like_quantity(values: np.ndarray) -> int | None:
    r"""The number of distinct values when :obj:`values` look like a quantity
    rather than classes: integers, more than :data:`MAX_INFERRED_CLASSES` of
    them and more than :data:`QUANTITY_SHARE` per row; else :obj:`None`."""
    distinct = integer_classes(values)
    if distinct is None or distinct <= MAX_INFERRED_CLASSES:
        return None
    return distinct if distinct > QUANTITY_SHARE * values.size else None


def part_sizes(counts: np.ndarray, fractions: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    r"""Test and validation rows of stratified groups of :obj:`counts` rows
    under the split :obj:`fractions` ``(train, val, test)``: the rounded
    fractions, and at least one row for each non-empty part in a group with
    a row for every part; the training part takes the rest."""
    size = np.asarray(counts, dtype=np.float64)
    needed = 1 + int(fractions[1] > 0) + int(fractions[2] > 0)
    test, val = np.round(size * fractions[2]), np.round(size * fractions[1])
    afford = size >= needed
    if fractions[2] > 0:
        test = np.where(afford, np.maximum(test, 1.0), test)
    if fractions[1] > 0:
        val = np.where(afford, np.maximum(val, 1.0), val)
    return test.astype(np.int64), val.astype(np.int64)


def short_groups(counts: np.ndarray, fractions: Sequence[float]) -> np.ndarray:
    r"""Which stratified groups of :obj:`counts` rows leave a non-empty part
    of the split :obj:`fractions` without a row (see :func:`part_sizes`)."""
    counts = np.asarray(counts)
    test, val = part_sizes(counts, fractions)
    short = counts - test - val < 1
    if fractions[1] > 0:
        short |= val < 1
    if fractions[2] > 0:
        short |= test < 1
    return short


def rare_class_message(
    codes: np.ndarray,
    classes: Sequence[Any],
    fractions: Sequence[float],
    *,
    label: str,
    regression: str | None = None,
) -> str | None:
    r"""What is wrong when a class of a stratified split of :obj:`fractions`
    would leave a part of the split (train, val or test) without a row of
    it, naming the rarest classes; :obj:`None` when every class reaches every
    part.

    Args:
        codes (numpy.ndarray): The class of each row, ``0..K-1``.
        classes (list): The class labels, by code.
        fractions (list of float): The split, ``(train, val, test)``.
        label (str): The target's name in messages.
        regression (str, optional): How to say the target is a quantity,
            added to the message (for integer targets). (default: :obj:`None`)
    """
    counts = np.bincount(np.asarray(codes, dtype=np.int64), minlength=len(classes))
    rare = np.flatnonzero(short_groups(counts, fractions))
    if rare.size == 0:
        return None
    rarest = int(rare[np.argmin(counts[rare])])
    shown = [classes[i] for i in rare[:10].tolist()]
    more = ", ..." if rare.size > 10 else ""
    sizes = np.arange(1, 10_001)
    enough = sizes[~short_groups(sizes, fractions)]
    needs = f", at least {int(enough[0])} rows of each class" if enough.size else ""
    advice = "drop or merge the rows of those classes"
    if regression is not None:
        advice += f", or, if the target is a quantity, {regression}"
    rows = "row" if counts[rarest] == 1 else "rows"
    return (
        f"class {classes[rarest]!r} of target {label} has {int(counts[rarest])} {rows}, too "
        f"few to reach every part of the split {tuple(float(f) for f in fractions)}: a "
        f"stratified split needs a row of every class in each part{needs}. {rare.size} of "
        f"the {len(classes)} classes are that rare ({str(shown)[1:-1]}{more}): {advice}"
    )


def check_class_sizes(
    codes: np.ndarray,
    classes: Sequence[Any],
    fractions: Sequence[float],
    *,
    label: str,
    regression: str | None = None,
) -> None:
    r"""Raises the :func:`rare_class_message` of a split, if it has one."""
    message = rare_class_message(codes, classes, fractions, label=label, regression=regression)
    if message is not None:
        raise ValueError(message)


# ----------------------------------------------------------------- columns
def _is_categorical_array_column(column: np.ndarray) -> bool:
    if column.dtype.kind == "b":
        return True
    if column.dtype.kind != "O":
        return column.dtype.kind in "USM"
    present = [v for v in column if not (v is None or (isinstance(v, float) and math.isnan(v)))]
    return any(
        isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.number))
        for v in present
    )


def is_categorical(table: Table, name: str) -> bool:
    r"""Whether column :obj:`name` holds categories rather than numbers:
    object, category, string, bool and date dtypes."""
    column = table.column(name)
    if not table.is_frame:
        return _is_categorical_array_column(column)
    import pandas as pd

    dtype = column.dtype
    return bool(
        isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_bool_dtype(dtype)
        or pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
        or pd.api.types.is_datetime64_any_dtype(dtype)
    )


def _is_date(value: Any) -> bool:
    if isinstance(value, (datetime.date, np.datetime64)):
        return True
    if not isinstance(value, str):
        return False
    text = value.strip()
    match = _DATE.match(text)
    return match is not None and _TIME.fullmatch(text[match.end() :]) is not None


def why_unusable(table: Table, name: str) -> str | None:
    r"""Why the categorical column :obj:`name` cannot carry signal as
    categories (``"dates"``, or an ID's distinct count), or :obj:`None`."""
    column = table.column(name)
    if table.is_frame:
        import pandas as pd

        if pd.api.types.is_datetime64_any_dtype(column.dtype):
            return "dates"
        if pd.api.types.is_bool_dtype(column.dtype):
            return None
    elif column.dtype.kind == "M":
        return "dates"
    elif column.dtype.kind == "b":
        return None
    values = table.objects(name)
    present = values[~is_missing(values)]
    if present.size == 0:
        return None
    distinct = unique_labels(present)
    if all(_is_date(v) for v in distinct):
        return "dates"
    if present.size >= ID_MIN_ROWS and len(distinct) > ID_DISTINCT_SHARE * present.size:
        return f"an ID: {len(distinct)} distinct values in {present.size} rows"
    return None


def infer_columns(
    table: Table, *, exclude: Sequence[str], hint: str, stacklevel: int = 3
) -> tuple[list[str], list[str]]:
    r"""The categorical columns of :obj:`table` and the columns to leave out,
    when the user named no categorical column.

    Categorical columns (see :func:`is_categorical`) that hold dates or IDs
    (see :func:`why_unusable`) are left out, with a :class:`UserWarning`
    that names them and says how to keep them (:obj:`hint`, e.g.
    ``"categorical=[...]"``).

    Args:
        table (Table): The table.
        exclude (list of str): Columns that are not features (the target).
        hint (str): Where the caller's user lists categorical columns.
        stacklevel (int, optional): The warning's stack level, as
            :func:`warnings.warn` counts it from here (``3``: the caller's
            caller). (default: :obj:`3`)

    Returns:
        ``(categorical, dropped)``: column names, in table order.
    """
    categorical, dropped, reasons = [], [], []
    for name in table.names:
        if name in exclude or not is_categorical(table, name):
            continue
        reason = why_unusable(table, name)
        if reason is None:
            categorical.append(name)
        else:
            dropped.append(name)
            reasons.append(f"{name!r} ({reason})")
    if dropped:
        warnings.warn(
            f"column{'s' if len(dropped) > 1 else ''} {', '.join(reasons)} cannot carry "
            f"signal as categories and {'are' if len(dropped) > 1 else 'is'} left out of the "
            f"features; to keep {'them' if len(dropped) > 1 else 'it'}, list "
            f"{'them' if len(dropped) > 1 else 'it'} with the other categorical columns in "
            f"{hint}",
            UserWarning,
            stacklevel=stacklevel,
        )
    return categorical, dropped


def check_target(
    values: np.ndarray,
    is_float: bool,
    task: str | None,
    fractions: Sequence[float],
    *,
    label: str,
    hint: str,
) -> str | None:
    r"""The checks :class:`~pyg_tabular.datasets.TabularDataset` makes of a
    target, with the remedies worded by :obj:`hint` (``{task}`` in it), for a
    caller that builds the dataset for a user who names tasks otherwise:
    infers the task (:func:`infer_task`) and checks the class sizes of a
    stratified split (:func:`check_class_sizes`).

    Returns:
        ``"regression"``, or the given classification task, or :obj:`None`
        for classes whose task the dataset infers (binary or multiclass).
    """
    inferred = task if task is not None else infer_task(values, is_float, label=label, hint=hint)
    if inferred == "regression":
        return inferred
    present = values[~is_missing(values)]
    classes = unique_labels(present)
    regression = integer_classes(present) is not None
    check_class_sizes(
        encode(present, classes) - 1,
        classes,
        fractions,
        label=label,
        regression=f"pass {hint.format(task='regression')}" if regression else None,
    )
    return task
