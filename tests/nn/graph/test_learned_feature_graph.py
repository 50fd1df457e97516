import pytest
import torch

from pyg_tabular.data import repeat_template
from pyg_tabular.nn.conv import FeatureDiffGATConv, FeatureGATConv
from pyg_tabular.nn.dense import DenseFeatureDiffGATConv, DenseFeatureGATConv
from pyg_tabular.nn.graph import LearnedFeatureGraph

PAIRS = [(FeatureGATConv, DenseFeatureGATConv), (FeatureDiffGATConv, DenseFeatureDiffGATConv)]


def _random_scores(graph, seed=0):
    # Distinct scores, far apart: no ties, so the top-k is stable under the
    # small perturbations of gradcheck.
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        if graph.pair_logits is not None:
            size = graph.num_features
            order = torch.randperm(size * size, generator=generator)
            graph.pair_logits.copy_(order.view(size, size))
            # Scores spread over [-2, 2): the sigmoid weights are far from saturated.
            graph.pair_logits.mul_(4.0 / (size * size)).sub_(2.0).div_(graph.score_scale)
        else:
            graph.head.normal_(generator=generator)
            if graph.tail is not None:
                graph.tail.normal_(generator=generator)
    return graph


def test_repr_and_defaults():
    graph = LearnedFeatureGraph(6, k=2)
    assert repr(graph) == "LearnedFeatureGraph(6, k=2)"
    assert repr(LearnedFeatureGraph(6, 2, embed_dim=4, self_loops=False)) == (
        "LearnedFeatureGraph(6, k=2, embed_dim=4, self_loops=False)"
    )
    assert (graph.noise, graph.score_scale, graph.weighting) == (1.0, 10.0, "soft")
    assert graph.pair_logits.shape == (6, 6) and graph.head is None
    embedded = LearnedFeatureGraph(6, 2, embed_dim=4)
    assert embedded.pair_logits is None and embedded.head.shape == (6, 4)
    assert embedded.tail.shape == (6, 4)
    assert LearnedFeatureGraph(6, 2, embed_dim=4, symmetric=True).tail is None
    # Free scores start equal: every graph is as likely as any other.
    assert torch.all(graph.scores() == 0)


@pytest.mark.parametrize("embed_dim", [None, 3])
@pytest.mark.parametrize("self_loops", [True, False])
@pytest.mark.parametrize("k", [0, 1, 3, 5])
def test_at_most_k_sources_per_feature_sorted_without_repeats(embed_dim, self_loops, k):
    torch.manual_seed(0)
    graph = _random_scores(LearnedFeatureGraph(6, k, embed_dim=embed_dim, self_loops=self_loops))
    for mode in (graph.train, graph.eval):
        mode()
        edges = graph()
        source, target = edges.edge_index
        per_target = k + self_loops
        assert edges.edge_index.shape == (2, 6 * per_target)
        assert edges.edge_weight.shape == (6 * per_target,)
        assert torch.equal(target, torch.arange(6).repeat_interleave(per_target))
        others = source != target
        # Exactly k other sources per target (the sparsity), no repeats.
        assert torch.equal(torch.bincount(target[others], minlength=6), torch.full((6,), k))
        assert torch.equal((~others).sum(), torch.tensor(6 if self_loops else 0))
        keys = target * 6 + source
        assert torch.equal(keys, keys.unique())  # sorted by target, then source
        assert torch.all(edges.edge_weight > 0) and torch.all(edges.edge_weight <= 1)
        assert torch.all(edges.edge_weight[~others] == 1)


def test_eval_graph_is_the_top_k_of_the_scores_with_sigmoid_weights():
    graph = _random_scores(LearnedFeatureGraph(7, 3, self_loops=False)).eval()
    scores = graph.scores().detach()
    edges = graph()
    masked = scores.masked_fill(torch.eye(7, dtype=torch.bool), float("-inf"))
    expected = masked.topk(3, dim=1).indices.sort(dim=1).values
    assert torch.equal(edges.edge_index[0].view(7, 3), expected)
    torch.testing.assert_close(
        edges.edge_weight, torch.sigmoid(scores.gather(1, expected)).view(-1)
    )
    # Deterministic at evaluation, whatever the noise.
    assert torch.equal(graph().edge_index, edges.edge_index)


def test_training_samples_with_gumbel_noise_and_is_seeded():
    graph = LearnedFeatureGraph(12, 3).train()
    torch.manual_seed(1)
    first = [graph().edge_index for _ in range(3)]
    assert not all(torch.equal(first[0], other) for other in first[1:])
    torch.manual_seed(1)
    again = [graph().edge_index for _ in range(3)]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    quiet = _random_scores(LearnedFeatureGraph(12, 3, noise=0.0)).train()
    assert torch.equal(quiet().edge_index, quiet.eval()().edge_index)


def test_two_layers_built_with_one_seed_are_equal():
    torch.manual_seed(3)
    a = LearnedFeatureGraph(5, 2, embed_dim=4)
    torch.manual_seed(3)
    b = LearnedFeatureGraph(5, 2, embed_dim=4)
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        assert torch.equal(p, q), name
    with torch.no_grad():
        a.head.add_(1.0)
        a.bias.add_(1.0)
    torch.manual_seed(3)
    a.reset_parameters()
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        assert torch.equal(p, q), name


@pytest.mark.parametrize("embed_dim", [None, 4])
@pytest.mark.parametrize("weighting", ["soft", "straight-through"])
def test_gradient_flows_into_the_relation_scores(embed_dim, weighting):
    torch.manual_seed(0)
    graph = _random_scores(
        LearnedFeatureGraph(6, 2, embed_dim=embed_dim, weighting=weighting, noise=0.0)
    )
    conv = FeatureGATConv(1, 4, heads=2, add_self_loops=False)
    x = torch.randn(5, 6, 1)
    edges = graph()
    if weighting == "straight-through":
        assert torch.all(edges.edge_weight == 1)  # a plain mask forward
    conv(x, edges.edge_index, edge_weight=edges.edge_weight).square().sum().backward()
    if embed_dim is None:
        grad = graph.pair_logits.grad
        kept = torch.zeros(6, 6, dtype=torch.bool)
        kept[edges.edge_index[1], edges.edge_index[0]] = True
        kept.fill_diagonal_(False)
        # Exactly the kept pairs get a gradient: the cost is F², never B·F².
        assert torch.all(grad[kept] != 0) and torch.all(grad[~kept] == 0)
    else:
        assert graph.head.grad.abs().sum() > 0 and graph.tail.grad.abs().sum() > 0
        assert graph.bias.grad != 0


def test_straight_through_gradient_is_the_soft_one_at_weight_one():
    # d/ds of the loss through the mask equals dL/dw (taken at w = 1) times sigma'(s).
    torch.manual_seed(0)
    graph = _random_scores(LearnedFeatureGraph(5, 2, weighting="straight-through", noise=0.0))
    conv = FeatureGATConv(1, 3, add_self_loops=False).double()
    x = torch.randn(4, 5, 1, dtype=torch.float64)
    edges = graph.double()()
    conv(x, edges.edge_index, edge_weight=edges.edge_weight).sum().backward()
    weight = torch.ones_like(edges.edge_weight, requires_grad=True)
    conv(x, edges.edge_index, edge_weight=weight).sum().backward()
    source, target = edges.edge_index
    p = torch.sigmoid(graph.scores().detach())[target, source]
    expected = torch.zeros(5, 5, dtype=torch.float64)
    others = source != target
    expected[target[others], source[others]] = (weight.grad * p * (1 - p))[others]
    torch.testing.assert_close(graph.pair_logits.grad, graph.score_scale * expected)


@pytest.mark.parametrize("sparse_cls,dense_cls", PAIRS)
@pytest.mark.parametrize("self_loops", [True, False])
def test_sparse_and_dense_forms_give_the_same_numbers_and_gradients(
    sparse_cls, dense_cls, self_loops
):
    torch.manual_seed(0)
    graph = _random_scores(LearnedFeatureGraph(7, 3, self_loops=self_loops)).double().eval()
    sparse = sparse_cls(2, 4, heads=2, add_self_loops=False).double()
    dense = dense_cls(2, 4, heads=2, add_self_loops=False).double()
    dense.load_state_dict(sparse.state_dict())
    x = torch.randn(5, 7, 2, dtype=torch.float64)

    edges = graph()
    static = sparse(x, edges.edge_index, edge_weight=edges.edge_weight)
    (static_grad,) = torch.autograd.grad(static.square().sum(), graph.pair_logits)

    edges = graph()
    adj, weight = edges.dense()
    assert adj.sum() == edges.edge_index.size(1)
    out = dense(x, adj, edge_weight=weight)
    (dense_grad,) = torch.autograd.grad(out.square().sum(), graph.pair_logits)
    torch.testing.assert_close(out, static, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(dense_grad, static_grad, atol=1e-10, rtol=1e-10)

    edges = graph()
    edge_index, edge_weight = edges.batched(5)
    assert torch.equal(edge_index, repeat_template(edges.edge_index, 5, 7))
    batched = sparse(x.reshape(-1, 2), edge_index, edge_weight=edge_weight)
    torch.testing.assert_close(batched.view_as(static), static, atol=1e-10, rtol=1e-10)


def test_batch_equals_one_row_at_a_time():
    torch.manual_seed(0)
    graph = _random_scores(LearnedFeatureGraph(6, 2)).eval()
    conv = FeatureGATConv(1, 4, heads=2, add_self_loops=False)
    x = torch.randn(4, 6, 1)
    edges = graph()
    out = conv(x, edges.edge_index, edge_weight=edges.edge_weight)
    for row in range(4):
        one = conv(x[row : row + 1], edges.edge_index, edge_weight=edges.edge_weight)
        torch.testing.assert_close(one[0], out[row])


def test_weights_enter_the_attention():
    torch.manual_seed(0)
    graph = _random_scores(LearnedFeatureGraph(6, 3, self_loops=False)).eval()
    conv = FeatureGATConv(1, 4, heads=1, add_self_loops=False)
    x = torch.randn(3, 6, 1)
    edges = graph()
    weighted = conv(x, edges.edge_index, edge_weight=edges.edge_weight)
    assert not torch.allclose(weighted, conv(x, edges.edge_index))


def test_gradcheck_of_the_scores_through_a_conv():
    torch.manual_seed(0)
    graph = _random_scores(LearnedFeatureGraph(5, 2, embed_dim=3, noise=0.0)).double()
    conv = FeatureGATConv(1, 3, heads=2, add_self_loops=False).double()
    x = torch.randn(3, 5, 1, dtype=torch.float64)

    def run(head, tail, bias):
        parameters = {"head": head, "tail": tail, "bias": bias}
        edges = torch.func.functional_call(graph, parameters, ())
        return conv(x, edges.edge_index, edge_weight=edges.edge_weight)

    parameters = (graph.head, graph.tail, graph.bias)
    inputs = tuple(p.detach().clone().requires_grad_() for p in parameters)
    assert torch.autograd.gradcheck(run, inputs, eps=1e-7, atol=1e-6)


def test_symmetric_scores():
    graph = _random_scores(LearnedFeatureGraph(5, 2, symmetric=True))
    torch.testing.assert_close(graph.scores(), graph.scores().t())
    embedded = _random_scores(LearnedFeatureGraph(5, 2, embed_dim=3, symmetric=True))
    torch.testing.assert_close(embedded.scores(), embedded.scores().t())


def test_one_feature():
    graph = LearnedFeatureGraph(1, 0)
    edges = graph()
    assert edges.edge_index.tolist() == [[0], [0]] and edges.edge_weight.tolist() == [1.0]
    assert graph.relation_graph().adjacency.tolist() == [[0.0]]


def test_relation_graph_reads_the_evaluation_graph_with_names():
    graph = _random_scores(LearnedFeatureGraph(5, 2, feature_names=list("abcde"))).train()
    relation = graph.relation_graph()
    assert graph.training  # the mode is restored
    assert relation.feature_names == list("abcde")
    logits = graph.scores().detach()
    expected = logits.clone().fill_diagonal_(float("-inf"))
    torch.testing.assert_close(relation.scores, expected)
    # The adjacency holds the evaluation graph's edges (no loops), weight sigma(s).
    adj, weight = graph.eval()().dense()
    adj.fill_diagonal_(False)
    assert torch.equal(relation.adjacency != 0, adj)
    torch.testing.assert_close(relation.adjacency[adj], torch.sigmoid(logits)[adj])
    torch.testing.assert_close(relation.adjacency, weight.fill_diagonal_(0))
    assert (relation.adjacency != 0).sum(1).tolist() == [2] * 5


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"num_features": 0, "k": 0}, "num_features must be a positive int"),
        ({"num_features": 4, "k": 4}, r"k must be at most num_features - 1 = 3 \(got 4\)"),
        ({"num_features": 4, "k": -1}, "k must be an int >= 0"),
        ({"num_features": 4, "k": 1, "embed_dim": 0}, "embed_dim must be a positive int"),
        ({"num_features": 4, "k": 1, "noise": -1.0}, "noise must be a finite number >= 0"),
        ({"num_features": 4, "k": 1, "score_scale": 0}, "score_scale must be a positive number"),
        ({"num_features": 4, "k": 1, "weighting": "hard"}, "weighting must be one of"),
        ({"num_features": 4, "k": 1, "self_loops": 1}, "self_loops must be a bool"),
        ({"num_features": 4, "k": 1, "feature_names": ["a"]}, "must name the 4 features"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LearnedFeatureGraph(**kwargs)
