"""Flags for optional dependencies.

Each optional package sits behind one flag so that importing :mod:`pyg_tabular`
never needs it. Code that can use an accelerator checks the flag at call time
(not import time), which lets tests switch a path off with ``monkeypatch``.
"""

from __future__ import annotations

import importlib.util
import os


def _available(name: str) -> bool:
    # find_spec raises instead of returning None when a parent import fails or a
    # module was blanked out in sys.modules; both mean "not usable".
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


# ``PYG_TABULAR_NO_TORCH_SCATTER=1`` forces the pure-torch scatter path even when
# torch_scatter is installed, so both paths can be exercised from one venv.
WITH_TORCH_SCATTER: bool = _available("torch_scatter") and not os.environ.get(
    "PYG_TABULAR_NO_TORCH_SCATTER"
)
WITH_PANDAS: bool = _available("pandas")
WITH_PYARROW: bool = _available("pyarrow")
WITH_SKLEARN: bool = _available("sklearn")
WITH_MATPLOTLIB: bool = _available("matplotlib")
WITH_TQDM: bool = _available("tqdm")

__all__ = [
    "WITH_TORCH_SCATTER",
    "WITH_PANDAS",
    "WITH_PYARROW",
    "WITH_SKLEARN",
    "WITH_MATPLOTLIB",
    "WITH_TQDM",
]
