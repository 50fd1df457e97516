"""Eager input checks shared by every public entry point.

Every check raises a :class:`ValueError` that names the offending argument and
shows the offending value, before any kernel sees the data.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

import pyg_tabular.typing as _typing


def is_dataframe(obj: Any) -> bool:
    r"""Whether :obj:`obj` is a pandas DataFrame or Series (never without pandas)."""
    if not _typing.WITH_PANDAS:
        return False
    import pandas as pd

    return isinstance(obj, (pd.DataFrame, pd.Series))


def is_int(value: object) -> bool:
    r"""Whether :obj:`value` is an integer (Python or NumPy), booleans excluded."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_int(value: object, name: str, minimum: int = 1) -> int:
    r"""Returns :obj:`value` as an :class:`int` if it is an integer ``>= minimum``."""
    if not is_int(value) or value < minimum:  # type: ignore[operator]
        what = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        raise ValueError(f"{name} must be {what} (got {value!r})")
    return int(value)  # type: ignore[call-overload]


def check_positive_int(value: object, name: str) -> int:
    r"""Returns :obj:`value` as an :class:`int` if it is an integer ``>= 1``."""
    return check_int(value, name, minimum=1)


def _check_real(value: object, name: str, *, allow_zero: bool) -> float:
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not math.isfinite(float(value))
        or float(value) < 0.0
        or (float(value) == 0.0 and not allow_zero)
    ):
        what = "a finite number >= 0" if allow_zero else "a positive number"
        raise ValueError(f"{name} must be {what} (got {value!r})")
    return float(value)


def check_positive_number(value: object, name: str) -> float:
    r"""Returns :obj:`value` as a float if it is a finite real number ``> 0``."""
    return _check_real(value, name, allow_zero=False)


def check_non_negative_number(value: object, name: str) -> float:
    r"""Returns :obj:`value` as a float if it is a finite real number ``>= 0``."""
    return _check_real(value, name, allow_zero=True)


def check_fraction(value: object, name: str) -> float:
    r"""Returns :obj:`value` as a float in ``[0, 1)`` (a dropout probability)."""
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not 0.0 <= float(value) < 1.0
    ):
        raise ValueError(f"{name} must be a float in [0, 1) (got {value!r})")
    return float(value)


def to_tensor(
    value: Any,
    name: str,
    *,
    dtype: torch.dtype | None = None,
    allow_integer: bool = False,
) -> Tensor:
    r"""Converts a Tensor, ndarray or numeric DataFrame to a tensor.

    Integer and boolean inputs become the default floating dtype unless
    :obj:`allow_integer` is set; floating inputs keep their precision unless
    :obj:`dtype` asks for another one.
    """
    if is_dataframe(value):
        import pandas as pd

        frame = value.to_frame() if isinstance(value, pd.Series) else value
        bad = [
            str(col)
            for col, kind in frame.dtypes.items()
            if not (pd.api.types.is_numeric_dtype(kind) or pd.api.types.is_bool_dtype(kind))
        ]
        if bad:
            raise ValueError(
                f"{name} must hold numbers only; non-numeric columns {bad} "
                f"(encode categorical columns first, e.g. with TabularDataset)"
            )
        array = frame.to_numpy(dtype=np.float64 if dtype is None else None, na_value=np.nan)
        if isinstance(value, pd.Series):
            array = array.reshape(-1)
        value = array
    if isinstance(value, np.ndarray):
        if value.dtype == object or not (
            np.issubdtype(value.dtype, np.number) or value.dtype == np.bool_
        ):
            raise ValueError(f"{name} must have a numeric dtype (got numpy dtype {value.dtype})")
        value = torch.from_numpy(np.ascontiguousarray(value))
    if not isinstance(value, Tensor):
        raise ValueError(
            f"{name} must be a torch.Tensor, numpy.ndarray or pandas.DataFrame "
            f"(got {type(value).__name__})"
        )
    if value.is_complex():
        raise ValueError(f"{name} must be real-valued (got dtype {value.dtype})")
    if dtype is not None:
        return value.to(dtype)
    if not value.is_floating_point() and not allow_integer:
        return value.to(torch.get_default_dtype())
    return value


def check_finite(
    value: Tensor, name: str, *, allow_nan: bool = False, hint: str | None = None
) -> None:
    r"""Raises if :obj:`value` holds inf (or NaN, unless :obj:`allow_nan`).

    Skipped while :func:`torch.compile` traces, so that the check (a host sync)
    does not break the graph.
    """
    if not value.is_floating_point() or value.numel() == 0:
        return
    if torch.compiler.is_compiling():
        return
    # One reduction first: a finite sum proves every entry finite. Only a
    # non-finite sum (which overflow can also cause) pays for the locating mask.
    if not allow_nan and bool(torch.isfinite(value.sum())):
        return
    bad = torch.isinf(value) if allow_nan else ~torch.isfinite(value)
    if bool(bad.any()):
        position = tuple(int(i) for i in bad.nonzero()[0])
        found = float(value[position])
        suffix = f" ({hint})" if hint else ""
        raise ValueError(f"{name} must be finite; found {found} at index {position}{suffix}")


def check_rank(value: Tensor, name: str, ranks: tuple[int, ...], layout: str) -> None:
    r"""Raises unless :obj:`value` has one of the given ranks."""
    if value.dim() not in ranks:
        raise ValueError(
            f"{name} must have shape {layout} (got {value.dim()}-D shape {tuple(value.shape)})"
        )


def check_finite_cells(
    value: Tensor, name: str, *, allow_nan: bool = False, nan_hint: str | None = None
) -> None:
    r"""Like :func:`check_finite`, with :obj:`nan_hint` shown only when a NaN is found.

    Advice about missing values (``missing='drop'``) is wrong for an infinite
    cell, so an inf is reported without it, even when NaN cells are there too.
    """
    if not value.is_floating_point() or value.numel() == 0 or torch.compiler.is_compiling():
        return
    if not allow_nan and bool(torch.isfinite(value.sum())):
        return
    check_finite(value, name, allow_nan=True)
    if not allow_nan:
        # Every entry is finite or NaN by now, so only a NaN can fail here.
        check_finite(value, name, hint=nan_hint)


def check_choice(value: object, name: str, choices: tuple[str, ...]) -> str:
    r"""Returns :obj:`value` if it is one of :obj:`choices`."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)} (got {value!r})")
    return value


def check_finite_output(output: Tensor, name: str, value: Tensor) -> None:
    r"""Raises when finite input :obj:`value` (the argument :obj:`name`) gave an
    :obj:`output` holding inf or NaN: its magnitude overflowed the dtype's
    arithmetic. Skipped while :func:`torch.compile` traces."""
    if not output.is_floating_point() or output.numel() == 0:
        return
    if torch.compiler.is_compiling() or bool(torch.isfinite(output.sum())):
        return
    if bool(torch.isfinite(output).all()):
        return  # only the sum overflowed
    largest = float(value.detach().abs().amax()) if value.numel() > 0 else 0.0
    raise ValueError(
        f"values of {name} are too large in magnitude for {output.dtype} arithmetic "
        f"(max {largest:.3g}); rescale them, e.g. with StandardizeFeatures"
    )


__all__ = [
    "is_int",
    "check_int",
    "check_positive_int",
    "check_fraction",
    "to_tensor",
    "check_finite",
    "check_rank",
    "check_finite_cells",
    "check_choice",
    "is_dataframe",
    "check_finite_output",
]
