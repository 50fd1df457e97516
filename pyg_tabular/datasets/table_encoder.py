"""The column encoding shared by the datasets, the loaders and the estimators."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from pyg_tabular.datasets._columns import (
    IMPUTE_MODES,
    Table,
    as_int64_tensor,
    column_name,
    encode,
    sorted_values,
    unique_labels,
)

_STATE_KEYS = ("columns", "numeric_names", "categorical_names", "mean", "std", "vocabularies")

#: How :class:`TableEncoder` scales numeric cells: ``"standard"`` (mean and
#: standard deviation) or ``"robust"`` (RealMLP's robust scaling and smooth
#: clipping).
SCALINGS = ("standard", "robust")

# RealMLP's smooth clipping x / sqrt(1 + (x / 3)^2) keeps |x| < 3.
_CLIP = 3.0


class TableEncoder:
    r"""Encodes the feature columns of a table for feature-graph models, with
    statistics fitted on training rows only.

    :meth:`fit` (or :meth:`partial_fit`, chunk by chunk) learns, per numeric
    column, the NaN-aware mean and population standard deviation, and per
    categorical column the sorted vocabulary of the values seen.
    :meth:`transform` then standardizes numeric cells and codes categories
    ``1 + position`` in their vocabulary; code ``0`` stands for a missing value
    or a category never seen in fitting. Missing numeric cells stay NaN unless
    :obj:`impute` fills them.

    The statistics are computed in float64 on columns rescaled by a power of
    two, which is exact, so that any finite values work, from ``1e-300`` to
    ``1e300`` alike; a constant column is only centred. A cell is refused,
    with its column and row, when it is infinite, or when its standardized
    value does not fit :obj:`dtype`.

    With ``scaling="robust"``, numeric cells get the robust scaling and
    smooth clipping of RealMLP (Holzmüller et al., "Better by Default: Strong
    Pre-Tuned MLPs and Boosted Trees on Tabular Data", NeurIPS 2024) instead:
    :math:`z = (x - q_{1/2}) / s` with :math:`s = q_{3/4} - q_{1/4}` (or
    :math:`(\max - \min) / 2` when the quartiles coincide; a constant column
    is only centred), then :math:`z / \sqrt{1 + (z / 3)^2}`, which keeps the
    bulk of the column linear and squeezes outliers smoothly into
    :math:`(-3, 3)`, monotonically. Quantiles need every training row at
    once: :meth:`partial_fit` takes a single chunk in this mode.

    Args:
        categorical (list, optional): Columns to encode as categories (names,
            or column indices for arrays); every other column must be numeric.
            (default: :obj:`None`)
        impute (str, optional, keyword-only): :obj:`None` keeps missing numeric cells as
            NaN; ``"mean"`` fills them with the training mean (``0`` after
            standardization; the median, ``0``, with ``scaling="robust"``).
            (default: :obj:`None`)
        dtype (torch.dtype, optional, keyword-only): Floating dtype of the encoded numeric
            cells. (default: :func:`torch.get_default_dtype`)
        scaling (str, optional, keyword-only): ``"standard"`` or
            ``"robust"``, see above. (default: :obj:`"standard"`)

    Example:
        >>> import numpy as np
        >>> train = np.array([[1.0, "a"], [3.0, "b"], [np.nan, "a"]], dtype=object)
        >>> encoder = TableEncoder(categorical=[1]).fit(train)
        >>> encoder.numeric_names, encoder.vocabularies
        (['x0'], {'x1': ['a', 'b']})
        >>> numeric, codes = encoder.transform(np.array([[4.0, "c"]], dtype=object))
        >>> numeric.tolist(), codes.tolist()
        ([[2.0]], [[0]])
    """

    def __init__(
        self,
        categorical: Sequence[Any] | None = None,
        *,
        impute: str | None = None,
        dtype: torch.dtype | None = None,
        scaling: str = "standard",
    ) -> None:
        if isinstance(categorical, (str, int)):
            raise ValueError(f"categorical must be a list of columns (got {categorical!r})")
        if impute not in IMPUTE_MODES:
            raise ValueError(f"impute must be one of {IMPUTE_MODES} (got {impute!r})")
        dtype = torch.get_default_dtype() if dtype is None else dtype
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating dtype (got {dtype!r})")
        if scaling not in SCALINGS:
            raise ValueError(f"scaling must be one of {list(SCALINGS)} (got {scaling!r})")
        self.categorical = None if categorical is None else list(categorical)
        self.impute = impute
        self.dtype = dtype
        self.scaling = scaling
        self._reset()

    def _reset(self) -> None:
        self.columns: list[str] = []
        # The columns an array given to transform holds: the features and,
        # in their places, the ignored columns.
        self.input_columns: list[str] = []
        self.numeric_names: list[str] = []
        self.categorical_names: list[str] = []
        self.vocabularies: dict[str, list[Any]] = {}
        self._mean = np.zeros(0)
        self._std = np.ones(0)
        self._center = np.zeros(0)
        self._scale = np.ones(0)
        self._moments: _Moments | None = None
        self._seen: dict[str, dict[Any, None]] = {}
        self._first_missing: tuple[str, int] | None = None
        self._fitted = False

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        data: Any,
        *,
        exclude: Sequence[str] = (),
        ignore: Sequence[str] = (),
        feature_names: Sequence[str] | None = None,
    ) -> TableEncoder:
        r"""Fits the statistics on training rows, forgetting earlier fits.

        Args:
            data (torch.Tensor or numpy.ndarray or pandas.DataFrame): Training
                rows ``[N, num_columns]``.
            exclude (list of str, optional, keyword-only): Columns that are not features
                (a target column); arrays given to :meth:`transform` lack
                them. (default: :obj:`()`)
            ignore (list of str, optional, keyword-only): Columns left out of the features
                (IDs, dates); arrays given to :meth:`transform` may still
                hold them, in their place. (default: :obj:`()`)
            feature_names (list of str, optional, keyword-only): Column names of an array
                input. (default: ``x0``, ``x1``, ...)

        Returns:
            The encoder itself, fitted.
        """
        self._reset()
        return self.partial_fit(data, exclude=exclude, ignore=ignore, feature_names=feature_names)

    def partial_fit(
        self,
        data: Any,
        *,
        exclude: Sequence[str] = (),
        ignore: Sequence[str] = (),
        feature_names: Sequence[str] | None = None,
        offset: int = 0,
        name: str = "data",
    ) -> TableEncoder:
        r"""Updates the statistics with one more chunk of training rows.

        The first chunk fixes the feature columns; later chunks must hold
        them. The statistics after the last chunk equal those of :meth:`fit`
        on all the rows (up to float rounding).

        Args:
            data (torch.Tensor or numpy.ndarray or pandas.DataFrame): A chunk
                of training rows.
            exclude (list of str, optional, keyword-only): Columns that are not features.
                (default: :obj:`()`)
            ignore (list of str, optional, keyword-only): Columns left out of the
                features, see :meth:`fit`. (default: :obj:`()`)
            feature_names (list of str, optional, keyword-only): Column names of an array
                input. (default: ``x0``, ``x1``, ...)
            offset (int, optional, keyword-only): Row number of the chunk's first row, for
                error messages. (default: :obj:`0`)
            name (str, optional, keyword-only): What to call :obj:`data` in error messages.
                (default: :obj:`"data"`)

        :obj:`exclude` and :obj:`ignore` are read from the first chunk only.

        Returns:
            The encoder itself.
        """
        table = data if isinstance(data, Table) else Table(data, feature_names, name=name)
        if self._moments is not None and self.scaling == "robust":
            raise ValueError(
                "scaling='robust' takes the quantiles of all the training rows at once: "
                "call fit() with them, not partial_fit() chunk by chunk"
            )
        if self._moments is None:
            self._resolve(table, exclude, ignore, name)
            self._moments = _Moments(len(self.numeric_names))
            self._seen = {n: {} for n in self.categorical_names}
        else:
            absent = [n for n in self.columns if n not in table.names]
            if absent:
                raise ValueError(f"{name} is missing the feature columns {absent}")
        # One column at a time: the temporaries stay the size of one column.
        robust = []
        for position, column in enumerate(self.numeric_names):
            values = _numeric(table, column, offset)
            self._moments.update(position, values)
            self._note_missing(column, values, table, offset)
            if self.scaling == "robust":
                robust.append(_robust_statistics(values))
        for column in self.categorical_names:
            self._seen[column].update(dict.fromkeys(unique_labels(table.objects(column))))
        self._mean, self._std = self._moments.result(self.numeric_names)
        if self.scaling == "robust":
            self._center = np.array([c for c, _ in robust], dtype=np.float64)
            self._scale = np.array([s for _, s in robust], dtype=np.float64)
        else:
            self._center, self._scale = self._mean, self._std
        self.vocabularies = {n: sorted_values(self._seen[n]) for n in self.categorical_names}
        self._fitted = True
        return self

    def _note_missing(self, column: str, values: np.ndarray, table: Table, offset: int) -> None:
        missing = np.isnan(values)
        if missing.any():
            row = offset + table.row_number(int(np.flatnonzero(missing)[0]))
            if self._first_missing is None or row < self._first_missing[1]:
                self._first_missing = (column, row)

    def _resolve(
        self, table: Table, exclude: Sequence[str], ignore: Sequence[str], name: str
    ) -> None:
        declared = set()
        for entry in self.categorical or []:
            column = column_name(table, entry)
            if column is None:
                raise ValueError(
                    f"categorical column {entry!r} is not a column of {name} "
                    f"(columns: {table.names})"
                )
            declared.add(column)
        absent = [n for n in ignore if n not in table.names]
        if absent:
            raise ValueError(f"ignored columns {absent} are not columns of {name}")
        self.input_columns = [n for n in table.names if n not in set(exclude)]
        columns = [n for n in self.input_columns if n not in set(ignore)]
        if not columns:
            raise ValueError(f"{name} has no feature column besides the target")
        self.columns = columns
        self.numeric_names = [n for n in columns if n not in declared]
        self.categorical_names = [n for n in columns if n in declared]

    # ----------------------------------------------------------------- encoding
    def transform(self, data: Any, *, offset: int = 0, name: str = "data") -> tuple[Tensor, Tensor]:
        r"""Encodes rows with the fitted statistics.

        Args:
            data (torch.Tensor or numpy.ndarray or pandas.DataFrame): Rows to
                encode. A DataFrame needs every feature column (by name; extra
                columns are ignored); an array holds exactly the feature
                columns, in the fitted order, with or without the ignored
                ones in their places.
            offset (int, optional, keyword-only): Row number of the first row, for error
                messages. (default: :obj:`0`)
            name (str, optional, keyword-only): What to call :obj:`data` in error messages.
                (default: :obj:`"data"`)

        Returns:
            ``(numeric, categorical)``: scaled numeric cells
            ``[N, F_num]`` in :obj:`dtype`, and category codes ``[N, F_cat]``
            (``long``), columns in the order of :attr:`numeric_names` and
            :attr:`categorical_names`.
        """
        self._check_fitted()
        if isinstance(data, Table):
            table = data
        else:
            table = Table(data, name=name)
            if not table.is_frame:
                table = self._named(table, name)
        absent = [n for n in self.columns if n not in table.names]
        if absent:
            raise ValueError(f"{name} is missing the feature columns {absent}")
        limit = float(torch.finfo(self.dtype).max)
        cells = []
        for position, column in enumerate(self.numeric_names):
            raw = _numeric(table, column, offset)
            scaled = _standardize(
                raw, self._center[position], self._scale[position], column, limit, offset
            )
            if self.scaling == "robust":
                # hypot: (z / 3)^2 would overflow for |z| above 1e154.
                scaled = scaled / np.hypot(1.0, scaled / _CLIP)
            cells.append(scaled)
        if cells:
            numeric = torch.from_numpy(np.stack(cells, axis=1))
        else:
            numeric = torch.zeros(table.num_rows, 0, dtype=torch.float64)
        if self.impute == "mean":
            numeric = numeric.nan_to_num(0.0)
        codes = [encode(table.objects(n), self.vocabularies[n]) for n in self.categorical_names]
        if codes:
            categorical = as_int64_tensor(np.stack(codes, axis=1))
        else:
            categorical = torch.zeros(table.num_rows, 0, dtype=torch.long)
        return numeric.to(self.dtype), categorical

    def _named(self, table: Table, name: str) -> Table:
        r"""An array's columns under the fitted names, matched by position."""
        width = len(table.names)
        if width == len(self.input_columns):
            return table.renamed(self.input_columns)
        if width == len(self.columns):
            return table.renamed(self.columns)
        ignored = [n for n in self.input_columns if n not in self.columns]
        also = f" (or {self.input_columns}, with the ignored {ignored})" if ignored else ""
        raise ValueError(
            f"{name} must hold the {len(self.columns)} feature columns {self.columns}{also} "
            f"in this order (got shape {(table.num_rows, width)})"
        )

    def fit_transform(
        self,
        data: Any,
        *,
        exclude: Sequence[str] = (),
        ignore: Sequence[str] = (),
        feature_names: Sequence[str] | None = None,
    ) -> tuple[Tensor, Tensor]:
        r""":meth:`fit`, then :meth:`transform` of the same rows."""
        table = data if isinstance(data, Table) else Table(data, feature_names)
        return self.fit(table, exclude=exclude, ignore=ignore).transform(table)

    def _check_fitted(self) -> None:
        if not self._fitted:
            raise RuntimeError(
                "TableEncoder is not fitted; call fit() on the training rows (or "
                "load_state_dict()) first"
            )

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        r"""The fitted state as plain lists, dicts and tensors (loadable with
        ``torch.load(..., weights_only=True)``)."""
        self._check_fitted()
        return {
            "columns": list(self.columns),
            "input_columns": list(self.input_columns),
            "numeric_names": list(self.numeric_names),
            "categorical_names": list(self.categorical_names),
            "mean": torch.from_numpy(self._mean.copy()),
            "std": torch.from_numpy(self._std.copy()),
            "vocabularies": {k: list(v) for k, v in self.vocabularies.items()},
            "impute": self.impute,
            "scaling": self.scaling,
            "center": torch.from_numpy(self._center.copy()),
            "scale": torch.from_numpy(self._scale.copy()),
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> TableEncoder:
        r"""Loads a state written by :meth:`state_dict`; returns the encoder."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict must be a dict (got {type(state_dict).__name__})")
        absent = [k for k in _STATE_KEYS if k not in state_dict]
        if absent:
            raise ValueError(f"state_dict lacks the keys {absent}")
        columns = [str(c) for c in state_dict["columns"]]
        numeric = [str(c) for c in state_dict["numeric_names"]]
        categorical = [str(c) for c in state_dict["categorical_names"]]
        vocabularies = {str(k): list(v) for k, v in dict(state_dict["vocabularies"]).items()}
        if sorted(columns) != sorted(numeric + categorical) or set(vocabularies) != set(
            categorical
        ):
            raise ValueError(
                "state_dict is inconsistent: columns, numeric_names, categorical_names and "
                "vocabularies do not match"
            )
        mean = _float64_vector(state_dict["mean"])
        std = _float64_vector(state_dict["std"])
        if mean.shape != (len(numeric),) or std.shape != (len(numeric),):
            raise ValueError(
                f"state_dict's mean and std must hold {len(numeric)} values "
                f"(got {mean.shape[0]} and {std.shape[0]})"
            )
        if not (np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()):
            raise ValueError(
                f"state_dict's mean must be finite and std finite and positive "
                f"(got {mean.tolist()} and {std.tolist()})"
            )
        # States written before columns could be ignored have none.
        inputs = [str(c) for c in state_dict.get("input_columns", columns)]
        if [c for c in inputs if c in set(columns)] != columns:
            raise ValueError(
                f"state_dict is inconsistent: input_columns {inputs} do not hold the columns "
                f"{columns} in order"
            )
        impute = state_dict.get("impute", self.impute)
        if impute not in IMPUTE_MODES:
            raise ValueError(f"impute must be one of {IMPUTE_MODES} (got {impute!r})")
        # States written before robust scaling existed were standardized.
        scaling = state_dict.get("scaling", "standard")
        if scaling not in SCALINGS:
            raise ValueError(f"scaling must be one of {list(SCALINGS)} (got {scaling!r})")
        center = _float64_vector(state_dict.get("center", mean))
        scale = _float64_vector(state_dict.get("scale", std))
        if (
            center.shape != mean.shape
            or scale.shape != mean.shape
            or not (np.isfinite(center).all() and np.isfinite(scale).all() and (scale > 0).all())
        ):
            raise ValueError(
                f"state_dict's center must hold {len(numeric)} finite values and scale "
                f"{len(numeric)} finite positive ones (got {center.tolist()} and {scale.tolist()})"
            )
        self._reset()
        self.columns, self.numeric_names, self.categorical_names = columns, numeric, categorical
        self.input_columns = inputs
        self.vocabularies = vocabularies
        self._mean, self._std = mean.copy(), std.copy()
        self._center, self._scale = center.copy(), scale.copy()
        self.impute = impute
        self.scaling = scaling
        self._fitted = True
        return self

    # ------------------------------------------------------------------ access
    @property
    def is_fitted(self) -> bool:
        r"""Whether statistics were fitted or loaded."""
        return self._fitted

    @property
    def first_missing(self) -> tuple[str, int] | None:
        r"""The first missing numeric cell of the fitted rows, as ``(column,
        row)`` (:obj:`None` when there was none, or after
        :meth:`load_state_dict`)."""
        return self._first_missing

    @property
    def feature_names(self) -> list[str]:
        r"""Numeric column names, then categorical ones: the encoded column order."""
        return self.numeric_names + self.categorical_names

    @property
    def mean(self) -> Tensor:
        r"""Fitted means of the numeric columns, ``[F_num]`` (float64)."""
        return torch.from_numpy(self._mean.copy())

    @property
    def std(self) -> Tensor:
        r"""Fitted standard deviations of the numeric columns (``1`` for constant ones)."""
        return torch.from_numpy(self._std.copy())

    @property
    def center(self) -> Tensor:
        r"""What :meth:`transform` subtracts from each numeric column,
        ``[F_num]`` (float64): the mean, or the median with
        ``scaling="robust"``."""
        return torch.from_numpy(self._center.copy())

    @property
    def scale(self) -> Tensor:
        r"""What :meth:`transform` then divides by: the standard deviation,
        or the robust scale with ``scaling="robust"`` (``1`` for constant
        columns)."""
        return torch.from_numpy(self._scale.copy())

    @property
    def cardinalities(self) -> list[int]:
        r"""Codes per categorical column, the reserved ``0`` included."""
        return [len(self.vocabularies[n]) + 1 for n in self.categorical_names]

    def __repr__(self) -> str:
        if not self._fitted:
            return f"{self.__class__.__name__}()"
        return (
            f"{self.__class__.__name__}(numeric={len(self.numeric_names)}, "
            f"categorical={len(self.categorical_names)})"
        )


def _float64_vector(values: Any) -> np.ndarray:
    return torch.as_tensor(values, dtype=torch.float64).reshape(-1).numpy()


def _numeric(table: Table, column: str, offset: int) -> np.ndarray:
    r"""A numeric column as float64, NaN for missing; infinities are refused."""
    values = table.numeric(column)
    infinite = np.isinf(values)
    if infinite.any():
        row = int(np.flatnonzero(infinite)[0])
        raise ValueError(
            f"column {column!r} holds {values[row]} at row {offset + table.row_number(row)}; "
            "numeric cells must be finite or NaN"
        )
    return values


def _standardize(
    raw: np.ndarray, mean: float, std: float, column: str, limit: float, offset: int
) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        out = (raw - mean) / std
        # x - mean overflows only for cells near the float range; dividing
        # first keeps them finite.
        overflow = np.isinf(out)
        if overflow.any():
            out[overflow] = raw[overflow] / std - mean / std
    too_large = np.abs(out) > limit
    if too_large.any():
        row = int(np.flatnonzero(too_large)[0])
        raise ValueError(
            f"column {column!r} holds {raw[row]} at row {offset + row}, "
            f"{abs(out[row]):.3g} standard deviations from the training mean, beyond the "
            f"range of the encoded dtype"
        )
    return out


def _robust_statistics(values: np.ndarray) -> tuple[float, float]:
    r"""RealMLP's centre and scale of one column's observed values: the
    median, and the interquartile range, or half the range when the quartiles
    coincide; a constant (or never observed) column is only centred."""
    observed = values[~np.isnan(values)]
    if observed.size == 0:
        return 0.0, 1.0
    low, q1, median, q3, high = np.quantile(observed, [0.0, 0.25, 0.5, 0.75, 1.0])
    with np.errstate(over="ignore"):
        scale = q3 - q1 if q3 > q1 else 0.5 * (high - low)
    if not np.isfinite(scale):
        raise ValueError(
            "a numeric column spreads wider than the float64 range (its robust scale "
            "overflows); rescale it"
        )
    return float(median), float(scale) if scale > 0 else 1.0


def _power_of_two_above(value: float) -> float:
    r"""A power of two ``>= value / 2``: dividing by it is exact and keeps cells below 2."""
    if value == 0.0 or not math.isfinite(value):
        return 1.0
    return math.ldexp(1.0, math.frexp(value)[1] - 1)


class _Moments:
    r"""Count, mean, :math:`M_2`, minimum and maximum of the observed cells of
    :obj:`width` columns, merged chunk by chunk (Chan et al.), in float64.

    Each column's moments are kept in units of a power of two at least half
    its largest magnitude, so that squares neither overflow nor underflow; the
    rescaling is exact, so the results equal the unscaled formulas wherever
    those do not overflow.
    """

    def __init__(self, width: int) -> None:
        self.count = np.zeros(width)
        self.mean = np.zeros(width)
        self.m2 = np.zeros(width)
        self.scale = np.zeros(width)
        self.low = np.full(width, np.inf)
        self.high = np.full(width, -np.inf)

    def update(self, position: int, values: np.ndarray) -> None:
        observed = values[~np.isnan(values)]
        count_b = float(observed.size)
        if count_b == 0:
            return
        scale = _power_of_two_above(float(np.abs(observed).max()))
        if scale > self.scale[position]:
            if self.count[position] > 0:
                ratio = self.scale[position] / scale
                self.mean[position] *= ratio
                self.m2[position] *= ratio * ratio
            self.scale[position] = scale
        units = observed / self.scale[position]
        mean_b = float(units.mean())
        m2_b = float(np.square(units - mean_b).sum())
        count_a, mean_a = self.count[position], self.mean[position]
        count = count_a + count_b
        delta = mean_b - mean_a
        self.count[position] = count
        self.mean[position] = mean_a + delta * count_b / count
        self.m2[position] += m2_b + delta * delta * count_a * count_b / count
        self.low[position] = min(self.low[position], float(observed.min()))
        self.high[position] = max(self.high[position], float(observed.max()))

    def result(self, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        r"""Means and population standard deviations of the observed cells."""
        scale = np.where(self.count > 0, self.scale, 1.0)
        with np.errstate(over="ignore"):
            std = np.sqrt(self.m2 / np.maximum(self.count, 1)) * scale
        mean = self.mean * scale
        # A constant column is only centred, on its exact value (the merged mean
        # may be off by rounding); one never observed keeps mean 0 and std 1.
        constant = (self.count > 0) & (self.low == self.high)
        mean = np.where(constant, self.low, mean)
        if np.isinf(std).any():
            column = names[int(np.flatnonzero(np.isinf(std))[0])]
            raise ValueError(
                f"column {column!r} spreads wider than the float64 range (its standard "
                "deviation overflows); rescale it"
            )
        std = np.where(constant | ~(std > 0), 1.0, std)
        return mean, std


__all__ = ["TableEncoder", "SCALINGS"]
