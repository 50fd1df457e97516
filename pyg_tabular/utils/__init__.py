"""Helpers shared across pyg_tabular."""

from pyg_tabular.utils.scatter import scatter
from pyg_tabular.utils.validation import check_finite, check_rank, to_tensor

__all__ = ["scatter", "to_tensor", "check_finite", "check_rank"]
