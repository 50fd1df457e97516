r"""A sparse feature graph learned from the data: which pairs of features interact."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Parameter

from pyg_tabular.nn.graph._common import check_graph_size
from pyg_tabular.nn.graph._common import feature_names as feature_names_of
from pyg_tabular.nn.graph.relation_graph import RelationEdges, RelationGraph
from pyg_tabular.utils.validation import (
    check_int,
    check_non_negative_number,
    check_positive_number,
)

#: How the kept edges' weights enter the forward pass.
WEIGHTINGS = ("soft", "straight-through")


class LearnedFeatureGraph(torch.nn.Module):
    r"""A learned, sparse relation graph over the :math:`F` features of a
    table: which features each feature should listen to, shared by all rows.
    After the Graph Estimator of T2G-Former (`"T2G-Former: Organizing Tabular
    Features into Relation Graphs Promotes Heterogeneous Feature
    Interaction" <https://arxiv.org/abs/2211.16887>`_, Yan et al., AAAI
    2023), with a hard top-:math:`k` in place of its threshold.

    Every ordered pair of features has a topology score :math:`s_{ij}` for
    the edge :math:`j \to i`. By default it is a free parameter of the pair,

    .. math::
        s_{ij} = \gamma\, \theta_{ij}, \qquad \theta_{ij} \in \mathbb{R}
        \text{ (initialised to 0)},

    and with :obj:`embed_dim` :math:`d` it is T2G-Former's score, from a
    learned head embedding :math:`\mathbf{u}_i \in \mathbb{R}^d` of the
    target and tail embedding :math:`\mathbf{v}_j` of the source,

    .. math::
        s_{ij} = \gamma \left(\frac{\mathbf{u}_i^{\top} \mathbf{v}_j}
        {\lVert \mathbf{u}_i \rVert\, \lVert \mathbf{v}_j \rVert} + \beta\right).

    Either way the score belongs to the *pair*: GAT's
    :math:`\mathbf{a}_1 \cdot \mathbf{h}_i + \mathbf{a}_2 \cdot \mathbf{h}_j`
    ranks the sources :math:`j` alike for every target :math:`i` (static
    attention, Brody et al., ICLR 2022), :math:`s_{ij}` can rank them
    differently for each :math:`i`. It depends on no row: the graph is
    shared by all rows and costs :math:`O(F^2)` per call whatever the batch
    size; the per-row attention of the conv that consumes it then weights
    the kept edges row by row, as T2G-Former's FR-Graph does. The constant
    :math:`\gamma` (:obj:`score_scale`) lets the scores move :math:`\gamma`
    times faster than the network's weights under Adam, whose steps do not
    depend on the gradient's scale.

    Each target keeps the :math:`k` sources of highest score,

    .. math::
        \mathcal{N}_k(i) = \operatorname{top-}k_{\,j \neq i}\,
        \left(s_{ij} + \tau\, g_{ij}\right), \qquad
        g_{ij} \sim \mathrm{Gumbel}(0, 1) \text{ while training, } 0 \text{ otherwise},

    plus its self-loop (weight 1) when :obj:`self_loops` is set. The kept
    edge :math:`j \to i` carries the weight :math:`w_{ij} = \sigma(s_{ij})`,
    which a conv takes as ``edge_weight``: it multiplies the edge's share of
    the softmax,

    .. math::
        \alpha_{ij} = \frac{w_{ij} \exp e_{ij}}
        {\sum_{l \in \mathcal{N}_k(i) \cup \{i\}} w_{il} \exp e_{il}},

    so that :math:`\log w_{ij}` joins the conv's score :math:`e_{ij}`.

    **Estimator.** The top-:math:`k` is not differentiable; the weights
    are, and carry the gradient of the loss to the scores of the kept
    edges: :math:`\partial L / \partial \log w_{ij} = \sum_{b}
    \alpha_{b,ij} (g_{b,ij} - \sum_l \alpha_{b,il} g_{b,il})` with
    :math:`g = \partial L / \partial \alpha`, i.e. an edge gains weight when
    its message helps more than the average message of its target. With
    :obj:`weighting="straight-through"` the forward pass uses weight 1 on
    every kept edge (a plain mask, as T2G-Former's thresholded adjacency)
    and the backward pass the gradient of :math:`\sigma(s_{ij})`, the
    straight-through estimator of Bengio et al. (2013) that T2G-Former
    uses. The Gumbel noise (:obj:`noise` :math:`\tau`) makes the
    top-:math:`k` a sample from the scores, the Gumbel-top-:math:`k` trick
    (Kool et al., ICML 2019): while training, every pair is tried now and
    then and gets a gradient, so a pair the current scores leave out can
    still enter the graph, without scoring the :math:`B F^2` pairs of a
    batch. At evaluation the graph is deterministic.

    Why free pair scores by default: with shared embeddings, a gradient
    that raises one useful pair :math:`(i, j)` also raises every pair
    :math:`(i', j')` whose embeddings resemble theirs, so features that
    need no partner drift to high scores; a free score gets a gradient only when its
    own edge is in the graph. On tables with planted interactions the free
    scores recover the planted pairs and the embeddings do not (see the
    relation-graph experiment in the docs).

    Args:
        num_features (int): Number of features :math:`F`.
        k (int): Sources kept per target, :math:`0 \le k \le F - 1`.
        embed_dim (int, optional): Size :math:`d` of T2G-Former's head and
            tail embeddings; :obj:`None` for a free score per pair.
            (default: :obj:`None`)
        self_loops (bool, optional): Give every feature an edge to itself,
            of weight 1. (default: :obj:`True`)
        symmetric (bool, optional): Tie :math:`s_{ij} = s_{ji}` (one score
            per unordered pair; one embedding per feature for both roles).
            (default: :obj:`False`)
        noise (float, optional): Scale :math:`\tau \ge 0` of the Gumbel noise
            on the scores while training; ``0`` for the top-:math:`k` of the
            scores themselves. (default: :obj:`1.0`)
        score_scale (float, optional): :math:`\gamma > 0`.
            (default: :obj:`10.0`)
        weighting (str, optional): ``"soft"`` or ``"straight-through"``,
            see above. (default: :obj:`"soft"`)
        feature_names (sequence of str, optional): Names for
            :meth:`relation_graph`. (default: ``"0"``, ``"1"``, ...)

    Shapes:
        - **input:** none; the graph is a parameter of the model
        - **output:** :class:`RelationEdges` with ``edge_index``
          :math:`(2, F (k + 1))` (:math:`(2, F k)` without self-loops) and
          ``edge_weight`` :math:`(F (k + 1))`; ``.dense()`` gives the
          :math:`(F, F)` adjacency and weights, ``.batched(B)`` the
          :math:`(2, B F (k + 1))` batched form

    Example:
        >>> import torch
        >>> from pyg_tabular.nn.conv import FeatureGATConv
        >>> from pyg_tabular.nn.dense import DenseFeatureGATConv
        >>> graph = LearnedFeatureGraph(6, k=2).eval()
        >>> graph
        LearnedFeatureGraph(6, k=2)
        >>> edges = graph()
        >>> edges.edge_index.shape, edges.edge_weight.shape  # 2 sources + 1 loop each
        (torch.Size([2, 18]), torch.Size([18]))
        >>> x = torch.randn(8, 6, 4)  # 8 rows, 6 features, 4 channels
        >>> conv = FeatureGATConv(4, 16, heads=2, add_self_loops=False)
        >>> conv(x, edges.edge_index, edge_weight=edges.edge_weight).shape
        torch.Size([8, 6, 32])
        >>> dense = DenseFeatureGATConv(4, 16, heads=2, add_self_loops=False)
        >>> adj, weight = edges.dense()
        >>> dense(x, adj, edge_weight=weight).shape
        torch.Size([8, 6, 32])
        >>> len(graph.relation_graph().top_pairs(3))
        3
    """

    #: Whether the graph's edges carry weights.
    weighted = True

    pair_logits: Parameter | None
    head: Parameter | None
    tail: Parameter | None
    bias: Parameter | None

    def __init__(
        self,
        num_features: int,
        k: int,
        *,
        embed_dim: int | None = None,
        self_loops: bool = True,
        symmetric: bool = False,
        noise: float = 1.0,
        score_scale: float = 10.0,
        weighting: str = "soft",
        feature_names: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        num_features, k = check_graph_size(num_features, k)
        if embed_dim is not None:
            embed_dim = check_int(embed_dim, "embed_dim", 1)
        for name, value in (("self_loops", self_loops), ("symmetric", symmetric)):
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be a bool (got {value!r})")
        noise = check_non_negative_number(noise, "noise")
        score_scale = check_positive_number(score_scale, "score_scale")
        if weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {WEIGHTINGS} (got {weighting!r})")
        self.num_features = num_features
        self.k = k
        self.embed_dim = embed_dim
        self.self_loops = self_loops
        self.symmetric = symmetric
        self.noise = float(noise)
        self.score_scale = score_scale
        self.weighting = weighting
        self.feature_names = feature_names_of(feature_names, num_features)
        if embed_dim is None:
            self.pair_logits = Parameter(torch.empty(num_features, num_features))
            for name in ("head", "tail", "bias"):
                self.register_parameter(name, None)
        else:
            self.register_parameter("pair_logits", None)
            self.head = Parameter(torch.empty(num_features, embed_dim))
            if symmetric:
                self.register_parameter("tail", None)
            else:
                self.tail = Parameter(torch.empty(num_features, embed_dim))
            self.bias = Parameter(torch.empty(()))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Free scores to 0 (every graph equally likely); embeddings to
        random directions, bias to 0."""
        if self.pair_logits is not None:
            torch.nn.init.zeros_(self.pair_logits)
        for embedding in (self.head, self.tail):
            if embedding is not None:
                torch.nn.init.normal_(embedding)
        if self.bias is not None:
            torch.nn.init.zeros_(self.bias)

    def scores(self) -> Tensor:
        r"""The topology scores :math:`s_{ij}` ``[F, F]`` (logits; entry
        ``[i, j]`` for the edge :math:`j \to i`), diagonal included."""
        if self.pair_logits is not None:
            logits: Tensor = self.pair_logits
            if self.symmetric:
                logits = 0.5 * (logits + logits.t())
            return self.score_scale * logits  # [F, F]
        assert self.head is not None and self.bias is not None
        head = F.normalize(self.head, dim=-1)
        tail = head if self.tail is None else F.normalize(self.tail, dim=-1)
        return self.score_scale * (head @ tail.t() + self.bias)  # [F, F]

    def _sources(self, scores: Tensor) -> Tensor:
        # [F, k]: the kept sources of each target, ascending.
        rank = scores.detach()
        if self.training and self.noise > 0:
            uniform = torch.rand_like(rank).clamp_(torch.finfo(rank.dtype).tiny, 1.0)
            rank = rank - self.noise * torch.log(-torch.log(uniform))
        eye = torch.eye(self.num_features, dtype=torch.bool, device=rank.device)
        rank = rank.masked_fill(eye, float("-inf"))
        return rank.topk(self.k, dim=1).indices.sort(dim=1).values

    def forward(self) -> RelationEdges:
        r"""Samples (training) or reads (evaluation) the graph."""
        size = self.num_features
        scores = self.scores()
        sources = self._sources(scores)  # [F, k]
        probability = torch.sigmoid(scores.gather(1, sources))  # [F, k]
        if self.weighting == "straight-through":
            # Forward 1, backward d p: the kept graph as a plain mask.
            weight = probability - probability.detach() + 1.0
        else:
            weight = probability
        targets = torch.arange(size, device=sources.device).view(-1, 1)
        if self.self_loops:
            sources = torch.cat([sources, targets], dim=1)
            weight = torch.cat([weight, weight.new_ones(size, 1)], dim=1)
            sources, order = sources.sort(dim=1)
            weight = weight.gather(1, order)
        edge_index = torch.stack([sources.reshape(-1), targets.expand_as(sources).reshape(-1)])
        return RelationEdges(edge_index, weight.reshape(-1), size)

    @torch.no_grad()
    def relation_graph(self) -> RelationGraph:
        r"""The evaluation graph read back: the weighted adjacency of the
        kept edges (no self-loops, weights :math:`\sigma(s_{ij})`), the
        scores :math:`s_{ij}` of all pairs (logits, which rank pairs even
        where their weights round to 1) and the feature names.
        Deterministic whatever the module's mode."""
        scores = self.scores()
        training = self.training
        self.eval()
        try:
            sources = self._sources(scores)
        finally:
            self.train(training)
        scores = scores.float().cpu()
        sources = sources.cpu()
        adjacency = torch.zeros_like(scores)
        adjacency.scatter_(1, sources, torch.sigmoid(scores.gather(1, sources)))
        scores.fill_diagonal_(float("-inf"))
        return RelationGraph(adjacency, scores, list(self.feature_names))

    def extra_repr(self) -> str:
        extra = "" if self.embed_dim is None else f", embed_dim={self.embed_dim}"
        if not self.self_loops:
            extra += ", self_loops=False"
        return f"{self.num_features}, k={self.k}{extra}"


__all__ = ["LearnedFeatureGraph", "WEIGHTINGS"]
