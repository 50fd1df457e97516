import warnings

import pytest
import torch

from pyg_tabular import compare
from pyg_tabular.compare import MODELS, RENAMED_MODELS, load_task, register_model, resolve_model
from pyg_tabular.nn.dense import DenseFeatureDiffGATConv, DenseFeatureGATConv
from pyg_tabular.nn.tabular import AdvancedGraphFeatureLayer, GraphFeatureAggregation


def _tiny_task():
    return load_task("breast_cancer", seed=0, max_rows=160)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_registered_model_maps_rows_to_outputs(name):
    task = _tiny_task()
    model = MODELS[name](task)
    out = model(task.train.x[:4])
    # An ensemble returns one prediction per member.
    members = getattr(model, "ensemble_size", None)
    assert out.shape == ((4, 1) if members is None else (4, members, 1))
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_graph_models_batch_equals_one_row_at_a_time():
    task = _tiny_task()
    for name in ("gatconv", "feature-diff-split"):
        torch.manual_seed(0)
        model = MODELS[name](task).eval()
        rows = task.test.x[:5]
        one_by_one = torch.cat([model(rows[i : i + 1]) for i in range(5)])
        torch.testing.assert_close(model(rows), one_by_one, atol=1e-5, rtol=1e-5)


def test_each_name_says_what_ran():
    from torch_geometric.nn import GATConv, GATv2Conv, TransformerConv

    task = _tiny_task()

    def conv(name):
        return MODELS[name](task).model.layers[0].conv

    assert type(conv("gatconv")) is GATConv
    assert type(conv("gatv2conv")) is GATv2Conv
    assert type(conv("transformerconv")) is TransformerConv
    assert type(conv("feature-gat")) is DenseFeatureGATConv and conv("feature-gat").heads == 4
    assert conv("feature-gat-1head").heads == 1
    assert type(conv("feature-diff")) is DenseFeatureDiffGATConv
    split = MODELS["feature-diff-split"](task).model
    assert split.layer == "feature-diff-split" and split.num_groups is None
    groups = MODELS["feature-diff-split-groups"](task).model
    assert groups.layer == "feature-diff-split" and groups.num_groups == 8  # ceil(30 / 4)
    assert isinstance(MODELS["graph-feature-aggregation"](task).module, GraphFeatureAggregation)
    layer = MODELS["advanced-graph-feature-layer"](task).module
    assert isinstance(layer, AdvancedGraphFeatureLayer)


@pytest.mark.parametrize("old, new", sorted(RENAMED_MODELS.items()))
def test_old_model_names_map_to_the_same_model(old, new):
    with pytest.warns(FutureWarning, match=f"now called '{new}'"):
        assert resolve_model(old) == new
    task = _tiny_task()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        result = compare.train_one(old, task, seed=0, epochs=1)
    assert result.model == new


def test_unknown_and_reserved_names_are_named():
    with pytest.raises(ValueError, match="'nope'"):
        compare.train_one("nope", _tiny_task(), seed=0, epochs=1)
    with pytest.raises(ValueError, match="reserved"):
        register_model("hgb", MODELS["mlp"])
    with pytest.raises(ValueError, match="reserved"):
        register_model("gfa", MODELS["mlp"])
    with pytest.raises(ValueError, match="without commas"):
        register_model("a,b", MODELS["mlp"])


def test_a_registered_model_runs_in_the_comparison():
    # A user's conv, registered with FeatureGraphNet, compared like ours.
    from torch_geometric.nn import GATConv

    from pyg_tabular.nn.models import LAYER_KINDS, register_layer

    register_layer("user-gat", lambda c, h, p: GATConv(c, c, h, dropout=p, add_self_loops=False))
    register_model("user-gat", compare.graph_net("user-gat"), attention=True)
    try:
        task = _tiny_task()
        mine = compare.train_one("user-gat", task, seed=0, epochs=2)
        theirs = compare.train_one("gatconv", task, seed=0, epochs=2)
        # The same conv with the same arguments: the same numbers.
        assert mine.metrics == pytest.approx(theirs.metrics)
        assert mine.history == pytest.approx(theirs.history)
        assert mine.attention is not None and theirs.attention is None
    finally:
        del MODELS["user-gat"], LAYER_KINDS["user-gat"]
        compare.ATTENTION_MODELS.remove("user-gat")
