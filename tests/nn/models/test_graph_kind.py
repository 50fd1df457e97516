import pytest
import torch

from pyg_tabular.nn.conv import FeatureDiffGATConv, FeatureGATConv
from pyg_tabular.nn.graph import KNNFeatureGraph, LearnedFeatureGraph, RelationEdges
from pyg_tabular.nn.models import GRAPH_KINDS, GRAPHS, FeatureGraphNet, register_graph
from pyg_tabular.nn.models.graph_kind import accepts_edge_weight, build_graph, node_graph
from pyg_tabular.nn.models.layer_kind import LAYER_KINDS, register_layer
from pyg_tabular.transforms import FeatureKNNGraph

CARDS = [4, 3]  # 3 numerics + 2 categoricals: 5 features


def _inputs(batch_size=6, seed=0, missing=False):
    generator = torch.Generator().manual_seed(seed)
    numeric = torch.randn(batch_size, 3, generator=generator)
    if missing:
        numeric[0, 1] = numeric[2, 0] = float("nan")
    categorical = torch.stack(
        [torch.randint(0, c, (batch_size,), generator=generator) for c in CARDS], dim=1
    )
    return numeric, categorical


@pytest.fixture
def sparse_kinds():
    # The sparse convs as layer kinds: the same parameters as the dense twins.
    register_layer(
        "test-feature-gat-sparse",
        lambda c, h, p: FeatureGATConv(c, c, h, dropout=p, add_self_loops=False, att_bias=True),
        overwrite=True,
    )
    register_layer(
        "test-feature-diff-sparse",
        lambda c, h, p: FeatureDiffGATConv(c, c, h, dropout=p, add_self_loops=False),
        overwrite=True,
    )
    yield {"feature-gat": "test-feature-gat-sparse", "feature-diff": "test-feature-diff-sparse"}
    del LAYER_KINDS["test-feature-gat-sparse"], LAYER_KINDS["test-feature-diff-sparse"]


def test_registry_and_build():
    assert GRAPHS == ("complete", "knn", "learned")
    assert build_graph("complete", 5, 2) is None
    assert isinstance(build_graph("knn", 5, 2), KNNFeatureGraph)
    learned = build_graph("learned", 5, 9)
    assert isinstance(learned, LearnedFeatureGraph) and learned.k == 4  # capped at F - 1
    with pytest.raises(ValueError, match="graph must be one of"):
        build_graph("star", 5, 2)
    register_graph("test-t2g", lambda f, k: LearnedFeatureGraph(f, k, embed_dim=3))
    try:
        assert FeatureGraphNet(3, graph="test-t2g", graph_k=1).feature_graph.embed_dim == 3
        with pytest.raises(ValueError, match="already registered"):
            register_graph("test-t2g", lambda f, k: None)
    finally:
        del GRAPH_KINDS["test-t2g"]
    with pytest.raises(TypeError, match="build must be callable"):
        register_graph("x", 3)


def test_accepts_edge_weight():
    from torch_geometric.nn import GATConv

    from pyg_tabular.nn.dense import DenseFeatureGATConv

    assert accepts_edge_weight(FeatureGATConv(2, 2))
    assert accepts_edge_weight(DenseFeatureGATConv(2, 2))
    assert not accepts_edge_weight(GATConv(2, 2))


def test_node_graph_links_the_cls_node_with_weight_one():
    edges = RelationEdges(torch.tensor([[1, 0], [0, 1]]), torch.tensor([0.5, 0.25]), 2)
    assert node_graph(edges, 2) == (edges.edge_index, edges.edge_weight)
    template, weight = node_graph(edges, 3)
    assert template.tolist() == [[1, 0, 0, 1, 2, 2, 2], [0, 1, 2, 2, 0, 1, 2]]
    assert weight.tolist() == [0.5, 0.25, 1.0, 1.0, 1.0, 1.0, 1.0]
    unweighted = node_graph(RelationEdges(edges.edge_index, None, 2), 3)
    assert unweighted[1] is None


@pytest.mark.parametrize("readout", ["flatten", "cls"])
def test_learned_graph_restricts_attention_to_its_edges(readout):
    torch.manual_seed(0)
    model = FeatureGraphNet(3, CARDS, graph="learned", graph_k=2, readout=readout).eval()
    numeric, categorical = _inputs()
    _, attention = model(numeric, categorical, return_attention_weights=True)
    adj, _ = model.feature_graph().dense()
    for alpha in attention:
        assert torch.all(alpha[..., ~adj] == 0)
        assert ((alpha > 0).sum(-1) <= 3).all()  # k = 2 sources and the self-loop
    assert repr(model).endswith("readout='cls', graph='learned')" if readout == "cls" else ")")


def test_learned_graph_trains_with_the_network():
    torch.manual_seed(0)
    model = FeatureGraphNet(3, CARDS, graph="learned", graph_k=2)
    numeric, categorical = _inputs(32)
    before = model.feature_graph.pair_logits.detach().clone()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(3):
        optimizer.zero_grad()
        model(numeric, categorical).square().mean().backward()
        optimizer.step()
    assert not torch.equal(model.feature_graph.pair_logits, before)
    relation = model.relation_graph()
    assert relation.adjacency.shape == (5, 5) and relation.feature_names == list("01234")


@pytest.mark.parametrize("layer", ["feature-gat", "feature-diff"])
@pytest.mark.parametrize("missing", [False, True])
@pytest.mark.parametrize("readout", ["flatten", "cls"])
def test_dense_and_sparse_kinds_give_the_same_model_on_a_learned_graph(
    sparse_kinds, layer, missing, readout
):
    torch.manual_seed(0)
    options = {"graph": "learned", "graph_k": 2, "readout": readout, "heads": 2}
    dense = FeatureGraphNet(3, CARDS, layer=layer, **options).double().eval()
    sparse = FeatureGraphNet(3, CARDS, layer=sparse_kinds[layer], **options).double().eval()
    with torch.no_grad():
        dense.feature_graph.pair_logits.normal_()
    sparse.load_state_dict(dense.state_dict())
    numeric, categorical = _inputs(missing=missing)
    numeric = numeric.double()
    out, attention = dense(numeric, categorical, return_attention_weights=True)
    sparse_out, sparse_attention = sparse(numeric, categorical, return_attention_weights=True)
    torch.testing.assert_close(sparse_out, out, atol=1e-10, rtol=1e-10)
    for a, b in zip(attention, sparse_attention):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)
    # And the same gradient reaches the relation scores.
    logits = dense.feature_graph.pair_logits
    (grad,) = torch.autograd.grad(dense(numeric, categorical).sum(), logits)
    (sparse_grad,) = torch.autograd.grad(
        sparse(numeric, categorical).sum(), sparse.feature_graph.pair_logits
    )
    torch.testing.assert_close(sparse_grad, grad, atol=1e-10, rtol=1e-10)


def test_batch_equals_one_row_at_a_time():
    torch.manual_seed(0)
    model = FeatureGraphNet(3, CARDS, graph="learned", graph_k=2).eval()
    numeric, categorical = _inputs(missing=True)
    out = model(numeric, categorical)
    for row in range(numeric.size(0)):
        one = model(numeric[row : row + 1], categorical[row : row + 1])
        torch.testing.assert_close(one, out[row : row + 1], atol=1e-6, rtol=1e-5)


def test_knn_graph_is_fitted_on_the_rows_and_saved_with_the_model():
    torch.manual_seed(0)
    numeric, categorical = _inputs(50)
    numeric[:, 2] = numeric[:, 0] * 2.0 + 0.01 * numeric[:, 1]  # a correlated pair
    model = FeatureGraphNet(3, CARDS, graph="knn", graph_k=2)
    with pytest.raises(RuntimeError, match="not fitted"):
        model(numeric, categorical)
    assert model.fit_graph(numeric, categorical) is model
    rows = torch.cat([numeric, categorical.float()], dim=1)
    expected = FeatureKNNGraph(k=2).fit(rows).edge_index
    assert torch.equal(model.feature_graph.template, expected)
    copy = FeatureGraphNet(3, CARDS, graph="knn", graph_k=2)
    copy.load_state_dict(model.state_dict())
    torch.testing.assert_close(copy(numeric, categorical), model(numeric, categorical))
    relation = copy.relation_graph()
    assert relation.adjacency[0, 2] > 0.99 and relation.adjacency[2, 0] > 0.99


def test_knn_graph_works_with_pyg_convs_and_learned_graphs_need_edge_weight():
    numeric, categorical = _inputs(20)
    model = FeatureGraphNet(3, CARDS, graph="knn", graph_k=2, layer="gatconv")
    assert model.fit_graph(numeric, categorical)(numeric, categorical).shape == (20, 1)
    with pytest.raises(ValueError, match="GATConv, whose forward takes no edge_weight"):
        FeatureGraphNet(3, CARDS, graph="learned", layer="gatconv")


def test_invalid_graph_arguments():
    with pytest.raises(ValueError, match="graph must be one of"):
        FeatureGraphNet(3, graph="star")
    with pytest.raises(ValueError, match="graph_k must be a positive int"):
        FeatureGraphNet(3, graph="learned", graph_k=0)
    template = torch.tensor([[0, 1], [1, 0]])
    with pytest.raises(ValueError, match="pass either edge_index or graph='knn'"):
        FeatureGraphNet(3, graph="knn", edge_index=template)
    with pytest.raises(ValueError, match="relation_graph needs a sparse graph"):
        FeatureGraphNet(3).relation_graph()
    # A graph that needs no fitting ignores fit_graph.
    model = FeatureGraphNet(3, graph="learned", graph_k=1)
    assert model.fit_graph(torch.randn(4, 3)) is model


def test_reset_parameters_resets_the_learned_graph():
    torch.manual_seed(0)
    model = FeatureGraphNet(3, CARDS, graph="learned", graph_k=2)
    with torch.no_grad():
        model.feature_graph.pair_logits.add_(1.0)
    model.reset_parameters()
    assert torch.all(model.feature_graph.pair_logits == 0)
