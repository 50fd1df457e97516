import pytest
import torch

from pyg_tabular.data import repeat_template
from pyg_tabular.nn.graph import RelationEdges, RelationGraph


def test_relation_edges_dense_and_batched_forms():
    edge_index = torch.tensor([[1, 2, 0, 2], [0, 0, 1, 2]])
    weight = torch.tensor([0.5, 0.25, 0.75, 1.0], requires_grad=True)
    edges = RelationEdges(edge_index, weight, 3)
    adj, matrix = edges.dense()
    assert adj.tolist() == [[False, True, True], [True, False, False], [False, False, True]]
    expected = [[0.0, 0.5, 0.25], [0.75, 0.0, 0.0], [0.0, 0.0, 1.0]]
    assert matrix.tolist() == expected
    matrix.sum().backward()
    assert weight.grad.tolist() == [1.0, 1.0, 1.0, 1.0]
    batched_index, batched_weight = edges.batched(2)
    assert torch.equal(batched_index, repeat_template(edge_index, 2, 3))
    assert batched_weight.tolist() == [0.5, 0.25, 0.75, 1.0] * 2


def test_relation_graph_ranks_unordered_pairs_by_their_stronger_direction():
    scores = torch.tensor([[0.0, 0.9, 0.1], [0.2, 0.0, 0.3], [0.8, 0.4, 0.0]])
    graph = RelationGraph(torch.zeros(3, 3), scores, ["a", "b", "c"])
    torch.testing.assert_close(graph.pair_scores(), torch.maximum(scores, scores.t()))
    pairs = graph.top_pairs()
    assert [(i, j) for i, j, _ in pairs] == [("a", "b"), ("a", "c"), ("b", "c")]
    assert [round(s, 6) for *_, s in pairs] == [0.9, 0.8, 0.4]
    assert graph.top_pairs(1) == [("a", "b", pytest.approx(0.9))]


def test_relation_graph_to_pandas():
    pd = pytest.importorskip("pandas")
    adjacency = torch.tensor([[0.0, 0.7], [0.0, 0.0]])
    frame = RelationGraph(adjacency, adjacency, ["x", "y"]).to_pandas()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.index) == ["x", "y"] and list(frame.columns) == ["x", "y"]
    assert frame.loc["x", "y"] == pytest.approx(0.7)
