"""Argument checks shared by the feature-graph modules (private)."""

from __future__ import annotations

from collections.abc import Sequence

from pyg_tabular.utils.validation import check_int


def check_graph_size(num_features: object, k: object) -> tuple[int, int]:
    """``(num_features, k)`` checked: ``F >= 1`` and ``0 <= k <= F - 1``."""
    size = check_int(num_features, "num_features", 1)
    k = check_int(k, "k", 0)
    if k > size - 1:
        raise ValueError(f"k must be at most num_features - 1 = {size - 1} (got {k})")
    return size, k


def feature_names(names: Sequence[str] | None, num_features: int) -> list[str]:
    """The names of the features, ``"0"``, ``"1"``, ... when none are given."""
    if names is None:
        return [str(i) for i in range(num_features)]
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise ValueError(f"feature_names must be a sequence of str (got {names!r})")
    found = [str(name) for name in names]
    if len(found) != num_features:
        raise ValueError(
            f"feature_names must name the {num_features} features (got {len(found)} names)"
        )
    return found
