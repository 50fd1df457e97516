"""Runs an F²-sized attention step on a few rows at a time.

The dense attention of a wide table holds several ``[B, H, F, F]`` tensors at
once; at F = 1024 and B = 64 that is gigabytes. Rows are independent in that
step, so it can run on chunks of rows, each one checkpointed: its attention is
freed after the forward and rebuilt during backward. Memory then grows with the
chunk, not the batch, for one extra forward of the step.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor


def _host_memory_bytes() -> int | None:
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):  # not a POSIX system
        return None


# Read once at import: os.sysconf inside forward would break torch.compile graphs.
_HOST_MEMORY = _host_memory_bytes()


def use_dense(backend: str, edge_index: Tensor | None) -> bool:
    """Whether a layer with this ``backend`` takes its dense path for a call."""
    if backend == "auto":
        # A complete graph costs B·F² either way and the dense kernels are
        # one to two orders of magnitude faster; a template is (usually) sparse.
        return edge_index is None
    return backend == "dense"


def physical_memory_bytes(device: torch.device) -> int | None:
    """The memory of :obj:`device`, or :obj:`None` when it cannot be read."""
    if torch.compiler.is_compiling():
        return None  # sizes are fixed when tracing; the eager call checked them
    if device.type == "cuda":
        return int(torch.cuda.get_device_properties(device).total_memory)
    if device.type == "cpu":
        return _HOST_MEMORY
    return None


def rows_per_chunk(
    batch_size: int,
    bytes_per_row: int,
    budget: int,
    device: torch.device,
    what: str,
) -> int:
    """Rows per chunk so that a chunk's step stays within :obj:`budget` bytes.

    Raises a :class:`ValueError` before anything is allocated when a single row
    needs more than half the device's memory: no chunking can run that size.
    """
    memory = physical_memory_bytes(device)
    if memory is not None and 2 * bytes_per_row > memory:
        raise ValueError(
            f"{what} needs about {bytes_per_row / 2**30:.1f} GiB at once on {device}, "
            f"more than half of its {memory / 2**30:.1f} GiB; pass a sparsified "
            f"edge_index (e.g. from FeatureKNNGraph) or fewer features"
        )
    return max(1, min(batch_size, budget // max(1, bytes_per_row)))


def map_row_chunks(
    step: Callable[..., Tensor],
    batched: Sequence[Tensor | None],
    shared: Sequence[Any],
    chunk: int,
) -> Tensor:
    """``step(*batched_rows, *shared)`` on :obj:`chunk` rows at a time,
    concatenated along the rows.

    Each chunk is checkpointed when gradients are on; the RNG state is
    replayed in backward, so attention dropout draws the same mask twice.
    """
    from torch.utils.checkpoint import checkpoint

    batch_size = next(t for t in batched if t is not None).size(0)
    parts = []
    for start in range(0, batch_size, chunk):
        rows = [None if t is None else t[start : start + chunk] for t in batched]
        if torch.is_grad_enabled():
            parts.append(checkpoint(step, *rows, *shared, use_reentrant=False))
        else:  # nothing is kept for backward: chunking alone bounds the memory
            parts.append(step(*rows, *shared))
    return torch.cat(parts)


def dense_chunk_rows(
    layer: str,
    batch_size: int,
    num_features: int,
    bytes_per_row: int,
    budget: int,
    device: torch.device,
    need_attention: bool,
) -> int:
    """Rows per chunk of a layer's dense attention step; ``batch_size`` when
    it runs whole (it fits :obj:`budget`, or its attention is returned)."""
    what = f"{layer}'s dense attention at num_features={num_features}"
    if need_attention:
        # The [B, H, F, F] attention is returned, so the step runs whole.
        what += f" with return_attention_weights=True for batch_size={batch_size}"
        rows_per_chunk(1, batch_size * bytes_per_row, budget, device, what)
        return batch_size
    return rows_per_chunk(batch_size, bytes_per_row, budget, device, what + " for one row")


# Numbers the sparse path keeps per (row, edge, head) through backward: score,
# alpha, gathered node terms, messages and their gradients (measured: 8 for
# GraphFeatureAggregation, 10 for AdvancedGraphFeatureLayer, at F = 512-1024).
SPARSE_NUMBERS_PER_EDGE = 10


def check_sparse_fits(
    batch_size: int, num_edges: int, heads: int, itemsize: int, device: torch.device
) -> int:
    """The sparse path's estimated bytes; a :class:`ValueError` when it cannot fit."""
    estimate = SPARSE_NUMBERS_PER_EDGE * batch_size * num_edges * heads * itemsize
    what = (
        f"the sparse attention over {num_edges} edges for batch_size={batch_size} "
        f"and {heads} head(s)"
    )
    rows_per_chunk(1, estimate, estimate, device, what)
    return estimate


def explain_plan(
    layer: str,
    backend: str,
    dense: bool,
    batch_size: int,
    num_features: int,
    heads: int,
    squares_per_row: int,
    num_edges: int,
    dtype: torch.dtype,
    device: torch.device,
    budget: int,
    return_attention_weights: bool,
    with_template: bool,
) -> dict[str, Any]:
    """The dict behind the layers' ``explain_backend``."""
    itemsize = torch.empty((), dtype=dtype).element_size()
    if not dense:
        return {
            "path": "sparse",
            "chunk_rows": batch_size,
            "attention_bytes": check_sparse_fits(batch_size, num_edges, heads, itemsize, device),
            "reason": f"backend={backend!r}"
            + (" and an edge_index was given" if with_template else ""),
        }
    per_row = squares_per_row * heads * num_features * num_features * itemsize
    chunk = dense_chunk_rows(
        layer, batch_size, num_features, per_row, budget, device, return_attention_weights
    )
    formula = f"{squares_per_row}·B·H·F² numbers"
    if chunk >= batch_size:
        fits = batch_size * per_row <= budget
        return {
            "path": "dense",
            "chunk_rows": batch_size,
            "attention_bytes": batch_size * per_row,
            "reason": f"{formula} fit attention_memory_bytes={budget}"
            if fits
            else "the attention of every row is returned",
        }
    return {
        "path": "dense-chunked",
        "chunk_rows": chunk,
        "attention_bytes": chunk * per_row,
        "reason": f"{formula} exceed attention_memory_bytes={budget}; "
        f"chunks of {chunk} rows, recomputed in backward",
    }


class ChunkedAttention:
    r"""Row chunking of the dense attention step and :meth:`explain_backend`,
    shared by :class:`~pyg_tabular.nn.tabular.GraphFeatureAggregation` and
    :class:`~pyg_tabular.nn.tabular.AdvancedGraphFeatureLayer`."""

    #: Memory the dense attention step may hold at once, in bytes (1 GiB).
    #: Beyond it (about ``4·B·F²`` numbers for GraphFeatureAggregation,
    #: ``3·B·H·F²`` for AdvancedGraphFeatureLayer) the step runs on chunks of
    #: rows and rebuilds each chunk's attention in backward instead of keeping
    #: it. Set it on an instance to trade memory for time.
    attention_memory_bytes: int = 2**30

    backend: str

    def _attention_heads(self) -> int:
        raise NotImplementedError

    def _squares_per_row(self) -> int:
        """``[H, F, F]`` tensors one row of the dense step holds at its peak."""
        raise NotImplementedError

    def _chunk_rows(
        self,
        batch_size: int,
        num_features: int,
        dtype: torch.dtype,
        device: torch.device,
        need_attention: bool,
    ) -> int:
        """Rows per chunk of the dense attention step (``batch_size``: one piece)."""
        itemsize = torch.empty((), dtype=dtype).element_size()
        squares = self._squares_per_row() * self._attention_heads()
        return dense_chunk_rows(
            type(self).__name__,
            batch_size,
            num_features,
            squares * num_features**2 * itemsize,
            self.attention_memory_bytes,
            device,
            need_attention,
        )

    def explain_backend(
        self,
        batch_size: int,
        num_features: int | None = None,
        edge_index: Tensor | None = None,
        return_attention_weights: bool = False,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> dict[str, Any]:
        r"""Says which path ``forward`` takes for such a call, and why.

        Returns a dict with ``path`` (``"dense"``, ``"dense-chunked"`` or
        ``"sparse"``), ``chunk_rows`` (rows per chunk of the dense attention
        step), ``attention_bytes`` (the estimated peak of the attention step,
        the part of the layer that grows as :math:`F^2`) and ``reason``.
        Raises the same :class:`ValueError` as ``forward`` for a size no
        path can hold.

        Example:
            >>> from pyg_tabular.nn.tabular import AdvancedGraphFeatureLayer
            >>> layer = AdvancedGraphFeatureLayer(1024, embed_dim=32, num_heads=4)
            >>> plan = layer.explain_backend(64)
            >>> plan["path"], plan["chunk_rows"]
            ('dense-chunked', 21)
            >>> from pyg_tabular.nn.tabular import GraphFeatureAggregation
            >>> GraphFeatureAggregation(8, num_features=1024).explain_backend(64)["path"]
            'dense'
        """
        # An attribute in one layer, a property in the other: read it, don't declare it.
        features = num_features if num_features is not None else getattr(self, "num_features")  # noqa: B009
        if features is None:
            raise ValueError("num_features is needed before the layer has seen an input")
        return explain_plan(
            type(self).__name__,
            self.backend,
            use_dense(self.backend, edge_index),
            batch_size,
            features,
            self._attention_heads(),
            self._squares_per_row(),
            features * features if edge_index is None else int(edge_index.size(1)),
            dtype,
            torch.device(device),
            self.attention_memory_bytes,
            return_attention_weights,
            edge_index is not None,
        )
