"""Size guard of the converter: refuse a graph that cannot fit, before building it.

A feature graph's index grows as B·E (E = F² for the complete graph): at
F = 100,000 a single row's complete graph has 10¹⁰ edges, 160 GB of int64
indices. The converter estimates what it would allocate from B, F and E alone,
and refuses with a :class:`ValueError` what exceeds the limit, instead of
failing (or swapping) inside the allocator.
"""

from __future__ import annotations

import os

import torch

from pyg_tabular.utils.validation import check_int

#: Fraction of the device's available memory a single converter call may use.
MEMORY_FRACTION = 0.5

# Below this estimate the limit is not looked up: reading the free memory
# costs more than building such a graph, and any machine holds it.
_CHECK_ABOVE_BYTES = 256 * 2**20

_INDEX_BYTES = 8  # int64
# fully_connected_edge_index holds target, source and their [2, E] stack at once.
_TEMPLATE_BYTES_PER_EDGE = 4 * _INDEX_BYTES
# Complete rows write one [2, B·E] index; dropping missing cells also gathers
# both endpoints and masks them ([B, E] each) before stacking the kept ones.
_EDGE_BYTES = {"complete": 2 * _INDEX_BYTES, "drop": 6 * _INDEX_BYTES + 1}
# feature_id and batch: one int64 per node.
_NODE_BYTES = 2 * _INDEX_BYTES


def available_memory_bytes(device: torch.device) -> int | None:
    r"""Memory that :obj:`device` can still hand out, or :obj:`None` if unknown.

    On CPU: psutil's ``available`` when installed, else ``MemAvailable`` from
    ``/proc/meminfo``, else the physical memory. On CUDA: the free memory.
    """
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type != "cpu":
        return None
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return None


def graph_bytes(
    num_rows: int,
    num_features: int,
    num_edges: int,
    *,
    builds_template: bool,
    drop: bool = False,
    batched: bool = True,
) -> int:
    r"""Estimated peak bytes the converter allocates for ``B`` rows of ``F`` features.

    Counts the batched ``edge_index`` (``E`` template edges per row), the
    per-node ``feature_id`` and ``batch`` and, when the converter builds the
    complete template itself, that template. Node values are not counted:
    complete rows keep a view of the input. The static form
    (:obj:`batched` off) shares one template among all rows and builds nothing
    per row.
    """
    edge_bytes = _EDGE_BYTES["drop" if drop else "complete"]
    total = num_rows * (num_edges * edge_bytes + num_features * _NODE_BYTES) if batched else 0
    if builds_template:
        total += num_features * num_features * _TEMPLATE_BYTES_PER_EDGE
    return total


def _gib(num_bytes: float) -> str:
    return f"{num_bytes / 2**30:.1f} GiB"


def check_graph_size(
    what: str,
    num_rows: int,
    num_features: int,
    num_edges: int,
    *,
    device: torch.device,
    builds_template: bool,
    drop: bool = False,
    batched: bool = True,
    max_bytes: int | None = None,
    limit_argument: str | None = "max_bytes",
) -> None:
    r"""Raises a :class:`ValueError` naming ``B`` and ``F`` when the graph would not fit.

    The limit is :obj:`max_bytes` when given, else :data:`MEMORY_FRACTION` of
    the device's available memory (no limit when that cannot be read).
    :obj:`limit_argument` names the caller's argument that sets the limit, if any.
    """
    if max_bytes is not None:
        check_int(max_bytes, "max_bytes", minimum=1)
    if torch.compiler.is_compiling():
        return  # reading the free memory would break the graph; eager calls check
    sizes = {"builds_template": builds_template, "drop": drop, "batched": batched}
    needed = graph_bytes(num_rows, num_features, num_edges, **sizes)
    if max_bytes is None and needed <= _CHECK_ABOVE_BYTES:
        return
    if max_bytes is not None:
        limit, source = max_bytes, "max_bytes"
    else:
        available = available_memory_bytes(device)
        if available is None:
            return
        limit = int(MEMORY_FRACTION * available)
        source = f"{MEMORY_FRACTION:g} of the {_gib(available)} available on {device}"
    if needed <= limit:
        return
    one_row = graph_bytes(min(num_rows, 1), num_features, num_edges, **sizes)
    if one_row > limit:
        advice = (
            "even one row does not fit: pass a sparsified edge_index "
            "(e.g. from FeatureKNNGraph) or fewer features"
        )
    else:
        advice = (
            "pass fewer rows at a time, a sparsified edge_index (e.g. from "
            "FeatureKNNGraph), or to_static_graph for complete rows"
        )
    if limit_argument is not None:
        advice += f" (or set {limit_argument} to allow more)"
    raise ValueError(
        f"{what} would allocate about {_gib(needed)} for B={num_rows} rows of "
        f"F={num_features} features ({num_edges} edges per row), more than the limit "
        f"of {_gib(limit)} ({source}); {advice}"
    )
