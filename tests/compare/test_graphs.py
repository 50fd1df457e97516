import pytest
import torch

from pyg_tabular import compare
from pyg_tabular.compare.graphs import GRAPH_VARIANTS
from pyg_tabular.nn.graph import KNNFeatureGraph, LearnedFeatureGraph
from pyg_tabular.transforms import FeatureKNNGraph


def test_expand_graphs_keeps_the_order_and_names_the_variants():
    names = compare.expand_graphs(["feature-gat", "feature-diff"], ["learned", "complete"])
    assert names == ["feature-gat-learned", "feature-gat", "feature-diff-learned", "feature-diff"]
    with pytest.raises(ValueError, match="graphs must be among"):
        compare.expand_graphs(["feature-gat"], ["star"])
    with pytest.raises(ValueError, match="model 'hgb' has no 'knn' variant"):
        compare.expand_graphs(["hgb"], ["knn"])


def test_every_base_has_every_variant_registered():
    for base in compare.GRAPH_BASES:
        for graph in GRAPH_VARIANTS:
            name = f"{base}-{graph}"
            assert name in compare.MODELS and name in compare.model_names()
            assert name in compare.ATTENTION_MODELS and name in compare.EMBEDDING_MODELS


def test_knn_variant_is_fitted_on_the_training_rows_only():
    task = compare.load_task("wine", seed=0)
    model = compare.build_model("feature-gat-knn", task)
    graph = model.model.feature_graph
    assert isinstance(graph, KNNFeatureGraph) and bool(graph.fitted)
    expected = FeatureKNNGraph(k=8).fit(task.train.x)
    assert torch.equal(graph.template, expected.edge_index)
    out = model(task.val.x[:5])
    assert out.shape == (5, task.num_outputs)


def test_learned_variant_trains_its_graph():
    task = compare.load_task("wine", seed=0)
    model = compare.build_model("feature-diff-split-learned", task, numeric_embedding="linear")
    graph = model.model.feature_graph
    assert isinstance(graph, LearnedFeatureGraph) and graph.k == 8
    assert model.model.layer == "feature-diff-split"
    loss = model(task.train.x[:16]).logsumexp(-1).sum()
    loss.backward()
    assert graph.pair_logits.grad.abs().sum() > 0
