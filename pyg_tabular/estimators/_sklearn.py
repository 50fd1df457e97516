"""scikit-learn's estimator protocol, or stand-ins that say it is missing (private).

Importing :mod:`pyg_tabular` never needs scikit-learn; without it, the
estimator classes still import, and constructing one raises an
:class:`ImportError` that names the extra to install.
"""

from __future__ import annotations

from typing import Any

import pyg_tabular.typing as _typing

if _typing.WITH_SKLEARN:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.multiclass import check_classification_targets, type_of_target
    from sklearn.utils.validation import (
        check_array,
        check_consistent_length,
        check_is_fitted,
        column_or_1d,
        validate_data,
    )
else:

    def _needs_sklearn(*args: Any, **kwargs: Any) -> Any:
        raise ImportError("the estimators need scikit-learn: pip install 'pyg-tabular[data]'")

    check_classification_targets = type_of_target = check_array = _needs_sklearn
    check_consistent_length = check_is_fitted = column_or_1d = validate_data = _needs_sklearn

    class BaseEstimator:  # type: ignore[no-redef]
        r"""Stands in for scikit-learn's base when scikit-learn is not installed."""

        def __new__(cls, *args: Any, **kwargs: Any) -> Any:
            raise ImportError(f"{cls.__name__} needs scikit-learn: pip install 'pyg-tabular[data]'")

    class ClassifierMixin:  # type: ignore[no-redef]
        r"""Stands in for scikit-learn's mixin when scikit-learn is not installed."""

    class RegressorMixin:  # type: ignore[no-redef]
        r"""Stands in for scikit-learn's mixin when scikit-learn is not installed."""

    class NotFittedError(ValueError, AttributeError):  # type: ignore[no-redef]
        r"""Stands in for scikit-learn's error when scikit-learn is not installed."""


__all__ = [
    "BaseEstimator",
    "ClassifierMixin",
    "RegressorMixin",
    "NotFittedError",
    "check_array",
    "check_classification_targets",
    "check_consistent_length",
    "check_is_fitted",
    "column_or_1d",
    "type_of_target",
    "validate_data",
]
