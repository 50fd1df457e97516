"""torch.compile: every conv, dense twin, pool and module compiles with zero
graph breaks and matches eager, values and gradients.

The compiled runs use backend="aot_eager": it traces forward and backward
the way inductor does, without inductor's C++ build (15-26 s per layer here).
"""

import functools

import pytest
import torch
from torch_geometric.nn import GATConv
from torch_geometric.nn.models import GAT

import pyg_tabular.nn.functional as functional
from pyg_tabular.data import rows_to_graph
from pyg_tabular.nn.conv import FeatureDiffGATConv, FeatureGATConv
from pyg_tabular.nn.dense import DenseFeatureDiffGATConv, DenseFeatureGATConv
from pyg_tabular.nn.functional import complete_blocks
from pyg_tabular.nn.models import FeatureGAT
from pyg_tabular.nn.pool import FeatureGroupPool
from pyg_tabular.nn.tabular import (
    AdvancedGraphFeatureLayer,
    GatedFeatureFusion,
    GraphFeatureAggregation,
    RowAttention,
)

B, F, C = 4, 6, 3


def _mask():
    mask = torch.ones(B, F, dtype=torch.bool)
    mask[0, 1] = mask[2, 4] = False
    return mask


def _cases():
    torch.manual_seed(0)
    batch = rows_to_graph(torch.randn(B, F, C))
    template = batch.edge_index[:, : F * F]
    knn = torch.stack([torch.arange(F).roll(1), torch.arange(F)])  # a ring, not complete
    cases = []
    for conv_type in (FeatureGATConv, FeatureDiffGATConv):
        label = conv_type.__name__
        # GATConv's default add_self_loops=True removes loops with a boolean
        # mask, a data-dependent shape; test_default_self_loops_compile covers it.
        conv = functools.partial(conv_type, C, 4, heads=2, add_self_loops=False)
        cases += [
            (f"{label}-batched", conv(), (batch.x, batch.edge_index)),
            (f"{label}-static", conv(), (torch.randn(B, F, C), template)),
            (f"{label}-ring", conv(), (torch.randn(F, C), knn)),
        ]
    adj = torch.rand(F, F) < 0.6
    for dense_type in (DenseFeatureGATConv, DenseFeatureDiffGATConv):
        cases.append((dense_type.__name__, dense_type(C, 4, heads=2), (torch.randn(B, F, C), adj)))
    cases.append(("FeatureGroupPool", FeatureGroupPool(F, 3), (torch.randn(B, F, C),)))
    # The sparse backend with a mask scores out the edges of absent cells on
    # one static template, so it has fixed shapes and traces whole too.
    for backend, mask in (
        ("dense", None),
        ("dense", _mask()),
        ("sparse", None),
        ("sparse", _mask()),
    ):
        suffix = f"{backend}-{'mask' if mask is not None else 'full'}"
        gfa = GraphFeatureAggregation(8, backend=backend)
        agfl = AdvancedGraphFeatureLayer(F, 8, 2, hierarchical=True, num_groups=3, backend=backend)
        cases.append((f"GFA-{suffix}", gfa, (torch.randn(B, F), mask)))
        cases.append((f"AGFL-{suffix}", agfl, (torch.randn(B, F), mask)))
    cases.append(
        ("GatedFeatureFusion", GatedFeatureFusion(F), (torch.randn(B, F), torch.randn(B, F)))
    )
    cases.append(("RowAttention", RowAttention(F), (torch.randn(B, F),)))
    return cases


CASES = _cases()


@pytest.mark.slow
@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("name, module, inputs", CASES, ids=[c[0] for c in CASES])
def test_compiles_without_graph_breaks_and_matches_eager(name, module, inputs, training):
    module.train(training)
    module.zero_grad()  # the cases are shared by the eval and train runs
    if hasattr(module, "dropout") and isinstance(module.dropout, float):
        assert module.dropout == 0.0  # dropout would make eager and compiled differ
    torch._dynamo.reset()
    explanation = torch._dynamo.explain(module)(*inputs)
    assert explanation.graph_break_count == 0, explanation.break_reasons

    def fresh(t):
        floating = isinstance(t, torch.Tensor) and t.is_floating_point()
        return t.clone().requires_grad_() if floating else t

    eager_inputs = [fresh(t) for t in inputs]
    compiled_inputs = [fresh(t) for t in inputs]
    state = {k: v.clone() for k, v in module.state_dict().items()}
    expected = module(*eager_inputs)
    expected.square().sum().backward()
    eager_grads = [p.grad.clone() for p in module.parameters()]
    module.zero_grad()
    module.load_state_dict(state)  # BatchNorm's running stats moved in training
    compiled = torch.compile(module, backend="aot_eager", fullgraph=True)
    got = compiled(*compiled_inputs)
    got.square().sum().backward()
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    for eager_grad, param in zip(eager_grads, module.parameters()):
        torch.testing.assert_close(param.grad, eager_grad, atol=1e-5, rtol=1e-4)
    for eager_input, compiled_input in zip(eager_inputs, compiled_inputs):
        if isinstance(eager_input, torch.Tensor) and eager_input.requires_grad:
            torch.testing.assert_close(compiled_input.grad, eager_input.grad, atol=1e-5, rtol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("conv_type", [FeatureGATConv, FeatureDiffGATConv])
def test_default_self_loops_compile(conv_type):
    # Removing the graph's self-loops has a data-dependent size, as in
    # GATConv; with dynamic output shapes captured, the default compiles whole.
    torch.manual_seed(0)
    conv = conv_type(C, 4, heads=2)
    x, edge_index = torch.randn(F, C), torch.stack([torch.arange(F).roll(1), torch.arange(F)])
    edge_index = torch.cat([edge_index, torch.tensor([[2], [2]])], dim=1)  # an existing loop
    expected = conv(x, edge_index)
    torch._dynamo.reset()
    with torch._dynamo.config.patch(capture_dynamic_output_shape_ops=True):
        explanation = torch._dynamo.explain(conv)(x, edge_index)
        assert explanation.graph_break_count == 0, explanation.break_reasons
        compiled = torch.compile(conv, backend="aot_eager", fullgraph=True)
        torch.testing.assert_close(compiled(x, edge_index), expected)
    torch._dynamo.reset()


class CountedSearch:
    # Counts the full searches behind complete_blocks: a cache hit runs none.
    def __init__(self, monkeypatch):
        self.calls = 0
        search = functional._find_complete_blocks

        def counted(*args):
            self.calls += 1
            return search(*args)

        monkeypatch.setattr(functional, "_find_complete_blocks", counted)


def test_complete_graph_detection_is_cached_and_sees_in_place_writes(monkeypatch):
    search = CountedSearch(monkeypatch)
    edge_index = rows_to_graph(torch.zeros(3, 4)).edge_index.clone()
    assert complete_blocks(edge_index, 12) == (4, True)
    assert search.calls == 1
    assert complete_blocks(edge_index, 12) == (4, True)
    assert search.calls == 1  # served from the cache
    edge_index[0, 0] = 1  # no longer complete: the version counter moved
    assert complete_blocks(edge_index, 12) is None
    assert search.calls == 2
    edge_index[0, 0] = 0
    assert complete_blocks(edge_index, 12) == (4, True)
    assert complete_blocks(edge_index, 24) is None  # same tensor, other node count
    assert search.calls == 4


def test_cached_detection_is_not_reused_by_another_tensor_at_the_same_id(monkeypatch):
    # A new tensor can land at a dead one's id, with the same shape, version
    # and node count. Plant the complete graph's entry under the id of another
    # graph, live or after the first one died: only the weak reference tells
    # them apart, so a cache that trusted the id would answer (3, True).
    search = CountedSearch(monkeypatch)
    complete = rows_to_graph(torch.zeros(2, 3)).edge_index.clone()
    assert complete_blocks(complete, 6) == (3, True)
    entry = functional._COMPLETE_CACHE[id(complete)]
    other = torch.stack([torch.arange(18) % 6, torch.arange(18) // 3])
    assert other.shape == complete.shape and other._version == complete._version
    functional._COMPLETE_CACHE[id(other)] = entry
    assert complete_blocks(other, 6) is None
    assert search.calls == 2

    del complete  # the planted entry now points at a dead tensor
    third = torch.stack([torch.arange(18) % 6, torch.arange(18) // 3])
    functional._COMPLETE_CACHE[id(third)] = entry
    assert complete_blocks(third, 6) is None
    assert search.calls == 3


class TwoLayers(torch.nn.Module):
    def __init__(self, conv_type, add_self_loops):
        super().__init__()
        self.conv1 = conv_type(C, 4, heads=2, add_self_loops=add_self_loops)
        self.conv2 = conv_type(8, 2, heads=2, concat=False, add_self_loops=add_self_loops)

    def forward(self, x, edge_index):
        return self.conv2(self.conv1(x, edge_index).relu(), edge_index)


MODEL_PAIRS = {
    # ours, then the same model with GATConv.
    "FeatureGAT": (
        functools.partial(FeatureGAT, C, 8, 2, out_channels=2, heads=2),
        functools.partial(GAT, C, 8, 2, out_channels=2, heads=2),
    ),
    "FeatureDiffGATConv": (
        functools.partial(TwoLayers, FeatureDiffGATConv),
        functools.partial(TwoLayers, GATConv),
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("graph", ["random", "complete"])
@pytest.mark.parametrize("add_self_loops", [True, False])
@pytest.mark.parametrize("pair", sorted(MODEL_PAIRS))
def test_two_layers_break_no_more_than_gatconv(pair, add_self_loops, graph):
    # Counted as PyG users meet it: torch.compile's default settings, a
    # second layer of another width (its frames recompile), and GATConv's
    # default self-loops, whose removal has a data-dependent size.
    torch.manual_seed(0)
    if graph == "random":
        x, edge_index = torch.randn(10, C), torch.randint(0, 10, (2, 30))
    else:
        batch = rows_to_graph(torch.randn(B, F, C))
        x, edge_index = batch.x, batch.edge_index
    breaks = []
    for model_type in MODEL_PAIRS[pair]:
        torch._dynamo.reset()
        model = model_type(add_self_loops=add_self_loops)
        breaks.append(torch._dynamo.explain(model)(x, edge_index).graph_break_count)
    torch._dynamo.reset()
    ours, gatconv = breaks
    assert ours <= gatconv, breaks
    if not add_self_loops:
        assert ours == 0
