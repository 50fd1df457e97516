"""Shared machinery of the sparse feature-attention convs (private)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeAlias, overload

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.typing import OptPairTensor, OptTensor, SparseTensor, torch_sparse
from torch_geometric.utils import add_self_loops as add_loops
from torch_geometric.utils import is_torch_sparse_tensor, remove_self_loops
from torch_geometric.utils.sparse import set_sparse_value

from pyg_tabular.nn._attention_parameters import init_attention_layer, reset_attention_layer
from pyg_tabular.nn._gat_common import (
    InChannels,
    attend_dense,
    check_hyperparameters,
    check_node_features,
    finish_heads,
    log_edge_weight,
    project_heads,
)
from pyg_tabular.nn.conv._weighted_gather import weighted_gather_sum
from pyg_tabular.nn.functional import (
    complete_blocks,
    dense_to_edge_attention,
    segment_softmax,
)
from pyg_tabular.utils.scatter import scatter
from pyg_tabular.utils.validation import is_int

_HOOK_DICTS = (
    "_propagate_forward_pre_hooks",
    "_propagate_forward_hooks",
    "_message_forward_pre_hooks",
    "_message_forward_hooks",
    "_aggregate_forward_pre_hooks",
    "_aggregate_forward_hooks",
    "_message_and_aggregate_forward_pre_hooks",
    "_message_and_aggregate_forward_hooks",
    "_edge_update_forward_pre_hooks",
    "_edge_update_forward_hooks",
)

# The reductions torch_geometric.utils.add_self_loops accepts as fill_value.
_FILL_REDUCTIONS = ("add", "sum", "mean", "min", "max", "mul")

#: Node features: one tensor, or ``(source, target)`` with an optional target.
NodeInput: TypeAlias = Tensor | OptPairTensor
#: What ``edge_index`` may be: an index, a SparseTensor or a torch.sparse matrix.
Adjacency: TypeAlias = Tensor | SparseTensor


def check_edge_index(edge_index: object) -> Tensor:
    """Raises a ValueError unless edge_index is an integer ``[2, E]`` tensor."""
    if not isinstance(edge_index, Tensor) or edge_index.layout != torch.strided:
        raise ValueError(
            "edge_index must be an integer tensor of shape [2, num_edges], a SparseTensor "
            f"or a torch.sparse adjacency (got {type(edge_index).__name__})"
        )
    if edge_index.is_floating_point() or edge_index.is_complex() or edge_index.dtype == torch.bool:
        raise ValueError(
            f"edge_index must hold integer node indices (got dtype {edge_index.dtype})"
        )
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(
            f"edge_index must have shape [2, num_edges] (got shape {tuple(edge_index.shape)})"
        )
    return edge_index.long()


def check_edge_range(edge_index: Tensor, num_src: int, num_dst: int) -> None:
    """Raises a ValueError if an index falls outside the source or target nodes."""
    # A bad index would otherwise surface as an opaque error inside index_select;
    # the check syncs, so it is skipped while compiling.
    if edge_index.numel() == 0 or torch.compiler.is_compiling():
        return
    for row, count, role in ((0, num_src, "source"), (1, num_dst, "target")):
        low, high = torch.aminmax(edge_index[row])
        if int(low) < 0 or int(high) >= count:
            raise ValueError(
                f"edge_index holds {role} node indices from {int(low)} to {int(high)}, "
                f"outside [0, {count}) for the {count} {role} nodes"
            )


def _check_size(size: object) -> tuple[int | None, int | None] | None:
    if size is None:
        return None
    if (
        not isinstance(size, (tuple, list))
        or len(size) != 2
        or any(s is not None and (not is_int(s) or s < 0) for s in size)
    ):
        raise ValueError(f"size must be None or a pair of non-negative ints (got {size!r})")
    return (size[0], size[1])


def _check_edge_weight(edge_weight: object, edge_index: Tensor, x: Tensor) -> Tensor:
    # [E], or [*lead, E] for the static form's leading (row) dimensions.
    num_edges = edge_index.size(1)
    lead = tuple(x.shape[:-2])
    if not isinstance(edge_weight, Tensor) or not edge_weight.is_floating_point():
        found = edge_weight.dtype if isinstance(edge_weight, Tensor) else type(edge_weight).__name__
        raise ValueError(f"edge_weight must be a floating-point tensor (got {found})")
    shape = tuple(edge_weight.shape)
    if shape not in ((num_edges,), (*lead, num_edges)):
        allowed = f"[{num_edges}]" + (f" or {[*lead, num_edges]}" if lead else "")
        raise ValueError(
            f"edge_weight must have shape {allowed}, one weight per edge of edge_index "
            f"(got shape {shape})"
        )
    return edge_weight


class FeatureAttentionConv(MessagePassing):
    r"""Base of the sparse feature-attention convs: GATConv's constructor and
    forward contract, projections, and the dense fast path for complete graphs.

    Subclasses define their attention parameters (``_init_score`` and
    ``_reset_score``, called where GATConv registers and resets ``att_src``
    and ``att_dst``), :meth:`dense_score` and :meth:`edge_attention` (which
    calls :meth:`edge_updater`).
    """

    # GATConv's layout of att_src / att_dst: [1, H, C].
    att_lead_shape: tuple[int, ...] = (1,)

    in_channels: InChannels
    out_channels: int
    heads: int
    concat: bool
    negative_slope: float
    dropout: float
    add_self_loops: bool
    edge_dim: int | None
    fill_value: float | Tensor | str
    residual: bool
    fast_path: bool
    lin: Any
    lin_src: Any
    lin_dst: Any
    lin_edge: Any
    att_edge: torch.nn.Parameter | None
    res: Any
    bias: torch.nn.Parameter | None

    def __init__(
        self,
        in_channels: InChannels,
        out_channels: int,
        heads: int = 1,
        concat: bool = True,
        negative_slope: float = 0.2,
        dropout: float = 0.0,
        add_self_loops: bool = True,
        edge_dim: int | None = None,
        fill_value: float | Tensor | str = "mean",
        bias: bool = True,
        residual: bool = False,
        *,
        score_options: Mapping[str, Any],
        **kwargs: Any,
    ) -> None:
        check_hyperparameters(
            in_channels, out_channels, heads, negative_slope, dropout, bipartite=True
        )
        if edge_dim is not None and (not is_int(edge_dim) or edge_dim <= 0):
            raise ValueError(f"edge_dim must be None or a positive int (got {edge_dim!r})")
        if isinstance(fill_value, str):
            if fill_value not in _FILL_REDUCTIONS:
                raise ValueError(
                    f"fill_value must be a number, a tensor or one of {_FILL_REDUCTIONS} "
                    f"(got {fill_value!r})"
                )
        elif isinstance(fill_value, bool) or not isinstance(fill_value, (int, float, Tensor)):
            raise ValueError(
                f"fill_value must be a number, a tensor or one of {_FILL_REDUCTIONS} "
                f"(got {fill_value!r})"
            )
        aggr = kwargs.setdefault("aggr", "add")
        if aggr not in ("add", "sum"):
            raise ValueError(f"aggr must be 'add': attention sums its messages (got {aggr!r})")
        if "node_dim" in kwargs:
            raise ValueError(
                f"node_dim is fixed by the layer (got node_dim={kwargs['node_dim']!r})"
            )
        # Node features are [..., N, H, C]: nodes sit at dim -3 for both the
        # batched form ([N, H, C]) and the static form ([B, F, H, C]).
        super().__init__(node_dim=-3, **kwargs)
        init_attention_layer(
            self,
            in_channels,
            out_channels,
            heads=heads,
            concat=concat,
            negative_slope=negative_slope,
            dropout=dropout,
            add_self_loops=add_self_loops,
            bias=bias,
            edge_dim=edge_dim,
            residual=residual,
            score_options=score_options,
        )
        self.fill_value = fill_value
        self.fast_path = True

    def reset_parameters(self) -> None:
        super().reset_parameters()
        reset_attention_layer(self)

    # Subclass hooks ##########################################################

    def dense_score(self, h: Tensor) -> Tensor:  # pragma: no cover - abstract
        """Scores ``[B, H, F, F]`` of dense features ``h [B, F, H, C]``."""
        raise NotImplementedError

    def edge_attention(
        self,
        x: OptPairTensor,
        h: OptPairTensor,
        edge_index: Adjacency,
        edge_attr: OptTensor,
        size: tuple[int | None, int | None] | None,
        edge_log_weight: Tensor | None = None,
    ) -> Tensor:  # pragma: no cover - abstract
        """Normalised (and dropped-out) attention ``[..., E, H]`` from the raw
        inputs ``x`` (source, target) and their projections ``h``; the log
        edge weights ``[..., E, 1, 1]``, when given, join the score before
        the softmax (see :meth:`softmax_and_dropout`)."""
        raise NotImplementedError

    def edge_score(self, edge_attr: Tensor) -> Tensor:
        """GATConv's edge term of the score, ``[E, H, 1]``."""
        if edge_attr.dim() == 1:
            edge_attr = edge_attr.view(-1, 1)
        edge = self.lin_edge(edge_attr).view(-1, self.heads, self.out_channels)
        return (edge * self.att_edge).sum(dim=-1, keepdim=True)

    # Message passing #########################################################

    def message(self, x_j: Tensor, alpha: Tensor) -> Tensor:
        # alpha is [..., E, H], as GATConv hands it over: explainers such as
        # PyG's AttentionExplainer read it here through a message hook.
        return alpha.unsqueeze(-1) * x_j

    def aggregate(self, inputs: Tensor, index: Tensor, dim_size: int | None = None) -> Tensor:
        # Our scatter follows pyg_tabular.typing.WITH_TORCH_SCATTER.
        assert dim_size is not None  # propagate sizes it from x
        return scatter(inputs, index, dim=self.node_dim, dim_size=dim_size, reduce="sum")

    def _may_bypass_propagate(self) -> bool:
        # The dense path skips propagate; explainers, decomposition and user
        # hooks all live there, so their presence keeps the generic path. Its
        # edge order assumes PyG's default flow.
        if not self.fast_path or self.explain or self.decomposed_layers > 1:
            return False
        if self.flow != "source_to_target":
            return False
        return not any(len(getattr(self, name)) for name in _HOOK_DICTS)

    def uses_fast_path(self, edge_index: Adjacency, num_nodes: int) -> bool:
        r"""Whether a call on :obj:`edge_index` over :obj:`num_nodes` nodes
        (and no ``edge_attr``, no bipartite input) runs the dense fast path.

        That is the case for the batched complete graph that
        :func:`~pyg_tabular.data.rows_to_graph` writes, with or without
        self-loops, while :attr:`fast_path` is :obj:`True` and no explainer
        or propagate hook is attached.
        """
        if not self._may_bypass_propagate() or self.lin is None:
            return False
        if not isinstance(edge_index, Tensor) or edge_index.layout != torch.strided:
            return False
        return complete_blocks(edge_index, num_nodes) is not None

    def _split_input(self, x: object) -> tuple[Tensor, Tensor | None, bool]:
        layout = "[num_nodes, in_channels] or [batch_size, num_features, in_channels]"
        src_lin = self.lin if self.lin is not None else self.lin_src
        dst_lin = self.lin if self.lin is not None else self.lin_dst
        if isinstance(x, (tuple, list)):
            if len(x) != 2:
                raise ValueError(f"x must be a tensor or a pair (x_src, x_dst) (got {len(x)})")
            x_src = check_node_features(x[0], src_lin.in_channels, (2, 3), layout, "x_src")
            x_dst = x[1]
            if x_dst is not None:
                x_dst = check_node_features(x_dst, dst_lin.in_channels, (2, 3), layout, "x_dst")
                if x_dst.dim() != x_src.dim() or x_dst.shape[:-2] != x_src.shape[:-2]:
                    raise ValueError(
                        f"x_src and x_dst must share their leading dimensions (got shapes "
                        f"{tuple(x_src.shape)} and {tuple(x_dst.shape)})"
                    )
            return x_src, x_dst, True
        x = check_node_features(x, src_lin.in_channels, (2, 3), layout)
        if self.lin is None:
            check_node_features(x, dst_lin.in_channels, (2, 3), layout)
        return x, x, False

    @overload
    def forward(
        self,
        x: NodeInput,
        edge_index: Adjacency,
        edge_attr: Tensor | None = None,
        size: tuple[int | None, int | None] | None = None,
        return_attention_weights: Literal[False] | None = None,
        *,
        edge_weight: Tensor | None = None,
    ) -> Tensor: ...

    @overload
    def forward(
        self,
        x: NodeInput,
        edge_index: Tensor,
        edge_attr: Tensor | None = None,
        size: tuple[int | None, int | None] | None = None,
        *,
        return_attention_weights: Literal[True],
        edge_weight: Tensor | None = None,
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]: ...

    @overload
    def forward(
        self,
        x: NodeInput,
        edge_index: SparseTensor,
        edge_attr: Tensor | None = None,
        size: tuple[int | None, int | None] | None = None,
        *,
        return_attention_weights: Literal[True],
        edge_weight: Tensor | None = None,
    ) -> tuple[Tensor, SparseTensor]: ...

    def forward(
        self,
        x: NodeInput,
        edge_index: Adjacency,
        edge_attr: Tensor | None = None,
        size: tuple[int | None, int | None] | None = None,
        return_attention_weights: bool | None = None,
        *,
        edge_weight: Tensor | None = None,
    ) -> Tensor | tuple[Tensor, tuple[Tensor, Tensor]] | tuple[Tensor, SparseTensor]:
        r"""Runs the layer.

        Args:
            x (torch.Tensor or (torch.Tensor, torch.Tensor)): Node features
                ``[N, C_in]`` of a (batched) graph, or ``[B, F, C_in]`` in
                PyG's static-graph form, where :obj:`edge_index` is one
                template over ``F`` nodes shared by all ``B`` rows; or a pair
                ``(x_src, x_dst)`` for a bipartite graph, ``x_dst`` possibly
                :obj:`None`.
            edge_index (torch.Tensor or SparseTensor): ``[2, E]`` (row 0
                sources, row 1 targets), a transposed ``SparseTensor`` or a
                ``torch.sparse`` adjacency, as for
                :class:`~torch_geometric.nn.conv.GATConv`.
            edge_attr (torch.Tensor, optional): Edge features ``[E, D]`` or
                ``[E]``; they enter the score when the layer was built with
                :obj:`edge_dim`. (default: :obj:`None`)
            size ((int, int), optional): ``(num_src, num_dst)``.
                (default: :obj:`None`)
            return_attention_weights (bool, optional): Also return the
                attention: ``(edge_index, alpha)`` for an index,
                ``(adj, alpha)`` for a ``torch.sparse`` adjacency, and a
                ``SparseTensor`` holding ``alpha`` for a ``SparseTensor``.
                (default: :obj:`None`)
            edge_weight (torch.Tensor, optional): Positive weights of the
                edges of :obj:`edge_index`, ``[E]`` (in static form one
                weight per template edge shared by all rows, or
                ``[B, E]``). A weight multiplies its edge's share of the
                softmax,

                .. math::
                    \alpha_{ij}^{k} = \frac{w_{ij} \exp e_{ij}^{k}}
                    {\sum_{l \in \mathcal{N}(i)} w_{il} \exp e_{il}^{k}},

                i.e. :math:`\log w_{ij}` joins the score after the
                LeakyReLU. Added self-loops get weight 1. This is how a
                learned graph (:class:`~pyg_tabular.nn.graph.LearnedFeatureGraph`)
                reaches the layer; GATConv has no such input. Keyword-only.
                (default: :obj:`None`)
        """
        x_src, x_dst, pair = self._split_input(x)
        size = _check_size(size)
        heads, channels = self.heads, self.out_channels
        is_sparse_tensor = isinstance(edge_index, SparseTensor)
        is_torch_sparse = not is_sparse_tensor and is_torch_sparse_tensor(edge_index)
        if not is_sparse_tensor and not is_torch_sparse:
            edge_index = check_edge_index(edge_index)
        assert isinstance(edge_index, (Tensor, SparseTensor))
        if edge_weight is not None:
            if is_sparse_tensor or is_torch_sparse:
                raise ValueError(
                    "edge_weight needs edge_index as a [2, num_edges] tensor (got a "
                    f"{type(edge_index).__name__}); put the weights in the adjacency's values"
                )
            assert isinstance(edge_index, Tensor)
            edge_weight = _check_edge_weight(edge_weight, edge_index, x_src)

        res = None
        if self.res is not None and x_dst is not None:
            res = self.res(x_dst)
        src_lin = self.lin if self.lin is not None else self.lin_src
        h_src = src_lin(x_src).view(*x_src.shape[:-1], heads, channels)  # [..., N, H, C]
        h_dst: Tensor | None = None
        if x_dst is not None:
            if not pair and self.lin is not None:
                h_dst = h_src
            else:
                dst_lin = self.lin if self.lin is not None else self.lin_dst
                h_dst = dst_lin(x_dst).view(*x_dst.shape[:-1], heads, channels)

        num_nodes = x_src.size(-2)
        blocks = None
        if (
            not pair
            and not is_sparse_tensor
            and not is_torch_sparse
            and edge_attr is None
            and edge_weight is None
            and self.lin is not None
            and (size is None or tuple(size) == (num_nodes, num_nodes))
            and self._may_bypass_propagate()
        ):
            blocks = complete_blocks(edge_index, num_nodes)

        if blocks is not None:
            out, edge_index, alpha = self._dense_forward(
                x_src, h_src, edge_index, blocks, bool(return_attention_weights)
            )
        else:
            num_src, num_dst = self._num_nodes(x_src, x_dst, size)
            if isinstance(edge_index, Tensor) and edge_index.layout == torch.strided:
                check_edge_range(edge_index, num_src, num_dst)
            # The self-loops are replaced here, as GATConv does in its forward,
            # rather than in a helper: under torch.compile, removing them (a
            # data-dependent size) breaks the graph, and a break inside a
            # helper would split this frame as well.
            if self.add_self_loops and isinstance(edge_index, Tensor):
                loop_nodes = self._loop_nodes(x_src, x_dst, size)
                if edge_weight is not None:
                    # As the edges below: loops dropped, one of weight 1 per node appended.
                    edge_weight = edge_weight[..., edge_index[0] != edge_index[1]]
                    loops = edge_weight.new_ones(*edge_weight.shape[:-1], loop_nodes)
                    edge_weight = torch.cat([edge_weight, loops], dim=-1)
                edge_index, edge_attr = remove_self_loops(edge_index, edge_attr)
                edge_index, edge_attr = add_loops(
                    edge_index, edge_attr, fill_value=self.fill_value, num_nodes=loop_nodes
                )
            elif self.add_self_loops and isinstance(edge_index, SparseTensor):
                if self.edge_dim is not None:
                    raise NotImplementedError(
                        f"{type(self).__name__}: edge_attr with add_self_loops=True is not "
                        "supported for a SparseTensor edge_index (as in GATConv)"
                    )
                edge_index = torch_sparse.set_diag(edge_index)
            out, alpha = self._sparse_forward(
                x_src, x_dst, h_src, h_dst, edge_index, edge_attr, size, edge_weight
            )

        out = finish_heads(out, self.concat)
        if res is not None:
            out = out + res
        if self.bias is not None:
            out = out + self.bias

        if return_attention_weights:
            assert alpha is not None
            if isinstance(edge_index, SparseTensor):
                return out, edge_index.set_value(alpha, layout="coo")
            if is_torch_sparse_tensor(edge_index):
                return out, (set_sparse_value(edge_index, alpha), alpha)
            return out, (edge_index, alpha)
        return out

    def _dense_forward(
        self,
        x: Tensor,
        h: Tensor,
        edge_index: Tensor,
        blocks: tuple[int, bool],
        need_attention: bool,
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        # The complete graph as [rows, F, ...] tensors: no per-edge gather.
        heads, channels = self.heads, self.out_channels
        width, has_loops = blocks
        self_loops = has_loops or self.add_self_loops
        h_dense = h.reshape(-1, width, heads, channels)  # [rows, F, H, C]
        x_dense = x.reshape(-1, width, x.size(-1))  # [rows, F, C_in]
        adj = None if self_loops else ~torch.eye(width, dtype=torch.bool, device=x.device)
        out, dense_alpha = attend_dense(
            self.dense_score(h_dense),
            x_dense,
            h_dense,
            self.lin.weight,
            adj,
            self.dropout,
            self.training,
        )
        out = out.reshape(h.shape)
        if not need_attention:
            return out, edge_index, None
        lead = x.shape[:-2]
        if not self.add_self_loops:
            alpha = dense_to_edge_attention(dense_alpha, has_loops).reshape(*lead, -1, heads)
            return out, edge_index, alpha
        # GATConv's order: the other edges as given, then one loop per node.
        edge_index, _ = remove_self_loops(edge_index)
        edge_index, _ = add_loops(edge_index, num_nodes=x.size(-2))
        others = dense_to_edge_attention(dense_alpha, False).reshape(*lead, -1, heads)
        loops = dense_alpha.diagonal(dim1=-2, dim2=-1).transpose(1, 2)  # [rows, F, H]
        alpha = torch.cat([others, loops.reshape(*lead, -1, heads)], dim=-2)
        return out, edge_index, alpha

    @staticmethod
    def _num_nodes(
        x_src: Tensor, x_dst: Tensor | None, size: tuple[int | None, int | None] | None
    ) -> tuple[int, int]:
        num_src = x_src.size(-2)
        num_dst = num_src if x_dst is None else x_dst.size(-2)
        if size is not None:
            num_src = num_src if size[0] is None else size[0]
            num_dst = num_dst if size[1] is None else size[1]
        return num_src, num_dst

    @staticmethod
    def _loop_nodes(
        x_src: Tensor, x_dst: Tensor | None, size: tuple[int | None, int | None] | None
    ) -> int:
        # Loops only for nodes that are both sources and targets.
        if size is not None and size[0] is not None and size[1] is not None:
            return min(size[0], size[1])
        return x_src.size(-2) if x_dst is None else min(x_src.size(-2), x_dst.size(-2))

    def _sparse_forward(
        self,
        x_src: Tensor,
        x_dst: Tensor | None,
        h_src: Tensor,
        h_dst: Tensor | None,
        edge_index: Adjacency,
        edge_attr: OptTensor,
        size: tuple[int | None, int | None] | None,
        edge_weight: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        # Attention and aggregation over edge_index, self-loops already in place.
        edge_log_weight = None
        if edge_weight is not None:
            edge_log_weight = log_edge_weight(edge_weight)[..., None, None]  # [..., E, 1, 1]
        alpha = self.edge_attention(
            (x_src, x_dst), (h_src, h_dst), edge_index, edge_attr, size, edge_log_weight
        )  # [..., E, H]
        narrow = x_src.size(-1) < self.out_channels
        src_lin = self.lin if self.lin is not None else self.lin_src
        if (
            x_src.dim() == 3
            and isinstance(edge_index, Tensor)
            and edge_index.layout == torch.strided
            and self._may_bypass_propagate()
            and not torch.compiler.is_compiling()
        ):
            # Static form: the B rows' messages [B, E, H, C] are the largest
            # tensors of the step; summing them in chunks keeps none alive.
            num_dst = self._num_nodes(x_src, x_dst, size)[1]
            values = x_src.unsqueeze(-2) if narrow else h_src
            out = weighted_gather_sum(values, alpha, edge_index, num_dst)
            if narrow:
                out = project_heads(out, src_lin.weight, self.out_channels)
            return out, alpha
        x: OptPairTensor = (h_src, h_dst)
        if narrow:
            # Messages carry the narrower raw input; see project_heads.
            x = (x_src.unsqueeze(-2), None if x_dst is None else x_dst.unsqueeze(-2))
        # GATConv's declaration, read by PyG's Inspector; the propagate PyG
        # generates from it finds OptPairTensor in this module.
        # propagate_type: (x: OptPairTensor, alpha: Tensor)
        out = self.propagate(edge_index, x=x, alpha=alpha, size=size)  # [..., N, H, C]
        if narrow:
            out = project_heads(out, src_lin.weight, self.out_channels)
        return out, alpha

    def softmax_and_dropout(
        self,
        score: Tensor,
        index: Tensor,
        dim_size: int | None,
        edge_log_weight: Tensor | None = None,
    ) -> Tensor:
        """LeakyReLU, the log edge weights, segment softmax over each target's
        edges, and dropout: scores ``[..., E, H, 1]`` to attention
        ``[..., E, H]``, GATConv's shape."""
        score = F.leaky_relu(score, self.negative_slope)
        if edge_log_weight is not None:
            score = score + edge_log_weight
        assert dim_size is not None  # edge_updater sizes it from the node scores
        alpha = segment_softmax(score, index, dim_size, dim=-3).squeeze(-1)
        return F.dropout(alpha, p=self.dropout, training=self.training)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.in_channels}, {self.out_channels}, heads={self.heads})"
