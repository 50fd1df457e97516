r"""What the feature-graph modules of :mod:`pyg_tabular.nn.tabular` share:
argument and input checks, the scalar-to-vector feature embedding, the
adjacency of a call, the sparse attention step, reading Keras configs, and the
plan of a call (dense, dense on row chunks, or sparse).

Why row chunks: the dense attention of a wide table holds several
``[B, H, F, F]`` tensors at once; at F = 1024 and B = 64 that is gigabytes.
Rows are independent in that step, so it can run on chunks of rows, each one
checkpointed: its attention is freed after the forward and rebuilt during
backward. Memory then grows with the chunk, not the batch, for one extra
forward of the step."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Linear, Parameter
from torch.nn.modules.lazy import LazyModuleMixin
from torch.nn.parameter import UninitializedParameter
from torch_geometric.nn.inits import zeros
from torch_geometric.utils import coalesce

from pyg_tabular.data.edge_index import check_template, fully_connected_edge_index
from pyg_tabular.nn.functional import (
    segment_softmax,
    sparse_aggregate,
    sparse_attention,
    template_to_adj,
)
from pyg_tabular.utils.validation import check_finite, check_rank, to_tensor

BACKENDS = ("auto", "dense", "sparse")
FEATURE_EMBEDDINGS = ("shared", "per_feature")

# Entries of a Keras layer config that describe the Keras object rather than
# the function it computes.
KERAS_ONLY_CONFIG_KEYS = frozenset({"name", "trainable", "dtype"})


def keras_config(config: dict[str, Any], renames: dict[str, str] | None = None) -> dict[str, Any]:
    """Drops Keras bookkeeping and renames Keras' spellings of our arguments
    (``renames`` maps a Keras name to ours)."""
    config = {k: v for k, v in config.items() if k not in KERAS_ONLY_CONFIG_KEYS}
    for keras_name, ours in (renames or {}).items():
        if keras_name in config:
            if ours in config:
                raise ValueError(f"config holds both {keras_name!r} and {ours!r}; pass one")
            config[ours] = config.pop(keras_name)
    return config


class FeatureProjection(LazyModuleMixin, torch.nn.Module):
    r"""One affine map :math:`\mathbb{R} \to \mathbb{R}^E` per feature:
    ``h[b, f] = x[b, f] * weight[f] + bias[f]``, ``weight`` and ``bias`` of
    shape ``[F, E]``. :math:`F` is read from the first input when not given."""

    def __init__(self, num_features: int | None, embed_dim: int) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.weight: Parameter
        self.bias: Parameter
        if num_features is None:
            self.weight = UninitializedParameter()  # type: ignore[assignment]
            self.bias = UninitializedParameter()  # type: ignore[assignment]
        else:
            self.weight = Parameter(torch.empty(num_features, embed_dim))
            self.bias = Parameter(torch.empty(num_features, embed_dim))
            drop_lazy_hooks(self)
        self.reset_parameters()

    @property
    def num_features(self) -> int | None:
        return None if self.has_uninitialized_params() else self.weight.size(0)

    def reset_parameters(self) -> None:
        if self.has_uninitialized_params():
            return
        # Each feature's map is a Keras Dense(E) on one input: Glorot bound sqrt(6 / (1 + E)).
        bound = math.sqrt(6.0 / (1 + self.embed_dim))
        with torch.no_grad():
            self.weight.uniform_(-bound, bound)
        zeros(self.bias)

    def initialize_parameters(self, x: Tensor) -> None:  # type: ignore[override]
        if self.has_uninitialized_params():
            num_features = x.size(-1)
            materialize(self.weight, (num_features, self.embed_dim))
            materialize(self.bias, (num_features, self.embed_dim))
            self.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        return x.unsqueeze(-1) * self.weight + self.bias  # [batch_size, num_features, embed_dim]

    def extra_repr(self) -> str:
        return f"num_features={self.num_features}, embed_dim={self.embed_dim}"


def materialize(param: Tensor, shape: tuple[int, ...]) -> None:
    cast(UninitializedParameter, param).materialize(shape)


def drop_lazy_hooks(module: Any) -> None:
    # A lazy module built with every size known has nothing to infer; its
    # forward pre-hook would only cost a Python call (and a torch.compile guard).
    for name in ("_initialize_hook", "_load_hook"):
        hook = getattr(module, name, None)
        if hook is not None:
            hook.remove()
            delattr(module, name)


def make_projection(
    feature_embedding: str, num_features: int | None, embed_dim: int
) -> Linear | FeatureProjection:
    if feature_embedding == "shared":
        return Linear(1, embed_dim)
    return FeatureProjection(num_features, embed_dim)


def project(projection: Linear | FeatureProjection, x: Tensor) -> Tensor:
    """``[B, F] -> [B, F, E]`` through a shared ``Linear(1, E)`` or per-feature maps."""
    if isinstance(projection, Linear):
        # x ⊗ w + b, without Linear's [B·F, 1] @ [1, E] matmul.
        return torch.addcmul(projection.bias, x.unsqueeze(-1), projection.weight.view(-1))
    return projection(x)


def check_rows(x: Any, mask: Any, num_features: int | None) -> tuple[Tensor, Tensor | None]:
    """Validates x ``[B, F]`` and the optional presence mask; zeroes absent cells."""
    x = to_tensor(x, "x")
    check_rank(x, "x", (2,), "[batch_size, num_features]")
    if num_features is not None and x.size(1) != num_features:
        raise ValueError(
            f"x must have num_features={num_features} columns, as the layer was built "
            f"with (got shape {tuple(x.shape)})"
        )
    if mask is None:
        check_finite(x, "x", hint="pass mask= to mark missing cells")
        return x, None
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool or mask.shape != x.shape:
        shape = tuple(mask.shape) if isinstance(mask, Tensor) else type(mask).__name__
        dtype = f", dtype {mask.dtype}" if isinstance(mask, Tensor) else ""
        raise ValueError(
            f"mask must be a bool tensor of shape {tuple(x.shape)}, True for present cells "
            f"(got {shape}{dtype})"
        )
    mask = mask.to(x.device)
    # Absent cells may hold anything (NaN included): torch.where reads them
    # nowhere and sends them zero gradient.
    x = torch.where(mask, x, torch.zeros((), dtype=x.dtype, device=x.device))
    check_finite(x, "x", hint="only cells where mask is False may be missing")
    return x, mask


def check_template_arg(edge_index: Any, num_features: int, device: torch.device) -> Tensor:
    template = check_template(edge_index, num_features).to(device)
    # Dense adjacency collapses repeated edges; the segment softmax would count
    # them twice. Coalescing gives both paths the same graph.
    return coalesce(template, num_nodes=num_features)


def dense_adjacency(
    template: Tensor | None, present: Tensor | None, num_features: int
) -> Tensor | None:
    """``[F, F]`` / ``[B, F, F]`` adjacency (rows are targets), or None for the complete graph."""
    adj = None if template is None else template_to_adj(template, num_features)
    if present is None:
        return adj
    # An absent feature neither sends nor receives.
    pairs = present.unsqueeze(-1) & present.unsqueeze(-2)  # [B, F, F]
    return pairs if adj is None else pairs & adj


ScoreFn = Callable[[Tensor, Tensor], Tensor]


def sparse_attend(
    score_fn: ScoreFn,
    features: Tensor,
    values: Tensor,
    template: Tensor | None,
    present: Tensor | None,
    heads: int,
    dropout: float,
    training: bool,
    need_attention: bool,
) -> tuple[Tensor, Tensor | None]:
    r"""Attention over an explicit feature graph.

    ``features`` ``[B, F, H', D']`` feed ``score_fn(features, edge_index)``
    (scores ``[..., E, H]``); ``values`` ``[B, F, H'', D'']`` are aggregated.
    PyG's static-graph form: one ``[2, E]`` template shared by the ``B``
    rows. With a mask, the edges that touch an absent cell are scored out of
    the softmax, which is the function of dropping absent cells as nodes with
    fixed shapes.

    Returns the aggregate ``[B, F, H, D'']`` (zeros for targets without
    neighbours) and, if asked, the attention as ``[B, H, F, F]``.
    """
    batch_size, num_features = features.shape[:2]
    if not torch.compiler.is_compiling():  # before the complete template is built
        edges = num_features**2 if template is None else template.size(1)
        check_sparse_fits(batch_size, edges, heads, features.element_size(), features.device)
    if template is None:
        template = fully_connected_edge_index(num_features, device=features.device)
    if present is None:
        score = score_fn(features, template)  # [B, E, H]
        out, alpha = sparse_attention(score, values, template, dropout, training)
    else:
        # One static template for every row, with the edges that touch an
        # absent cell scored out: fixed shapes (no per-batch graph to build,
        # so torch.compile traces it whole) and the same function as dropping
        # absent cells as nodes. Absent cells may hold NaN: zero them first so
        # that neither a score nor a 0-weighted message can carry it.
        absent = ~present
        features = features.masked_fill(absent.view(absent.shape + (1,) * (features.dim() - 2)), 0)
        values = values.masked_fill(absent.view(absent.shape + (1,) * (values.dim() - 2)), 0)
        source, target = template[0], template[1]
        valid = (present[:, source] & present[:, target]).unsqueeze(-1)  # [B, E, 1]
        score = score_fn(features, template)  # [B, E, H]
        # The lowest finite number, not -inf: a target with no valid edge gets
        # a uniform (finite) softmax that the masking below zeroes.
        score = score.masked_fill(~valid, torch.finfo(score.dtype).min)
        alpha = segment_softmax(score, target, num_features, dim=-2).masked_fill(~valid, 0.0)
        alpha = F.dropout(alpha, p=dropout, training=training)
        out = sparse_aggregate(alpha, values, template, num_features)
    rows = torch.arange(batch_size, device=features.device).view(-1, 1)
    index = (rows, template[1].view(1, -1), template[0].view(1, -1))
    attention = None
    if need_attention:
        dense = alpha.new_zeros(batch_size, num_features, num_features, heads)
        attention = dense.index_put(index, alpha, accumulate=True).permute(0, 3, 1, 2)
    return out, attention


# The plan of a call: dense, dense on checkpointed row chunks, or sparse.


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
