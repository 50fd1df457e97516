"""Wide tables: the dense attention of GraphFeatureAggregation and
AdvancedGraphFeatureLayer in row chunks, and the F = 1024, B = 64 memory bound
of issue 6."""

import doctest
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pyg_tabular.nn.tabular import AdvancedGraphFeatureLayer, GraphFeatureAggregation

LAYERS = {
    "agfl": lambda **o: AdvancedGraphFeatureLayer(7, 8, 2, **o),
    "agfl-per-feature": lambda **o: AdvancedGraphFeatureLayer(
        7, 8, 2, feature_embedding="per_feature", **o
    ),
    "gfa": lambda **o: GraphFeatureAggregation(8, num_features=7, **o),
    "gfa-per-feature": lambda **o: GraphFeatureAggregation(
        8, num_features=7, feature_embedding="per_feature", **o
    ),
}


def _pair(budget_rows, kind="agfl", **options):
    # Two identical layers; the second's budget forces chunks of `budget_rows`.
    torch.manual_seed(0)
    whole = LAYERS[kind](**options).double()
    chunked = LAYERS[kind](**options).double()
    chunked.load_state_dict(whole.state_dict())
    per_row = whole.explain_backend(1, dtype=torch.float64)["attention_bytes"]
    chunked.attention_memory_bytes = per_row * budget_rows
    return whole, chunked


@pytest.mark.parametrize("kind", list(LAYERS))
@pytest.mark.parametrize("chunk_rows", [1, 2, 4])
@pytest.mark.parametrize("masked", [False, True])
def test_chunked_attention_equals_the_whole_batch(kind, chunk_rows, masked):
    whole, chunked = _pair(chunk_rows, kind)
    _check_chunked_matches(whole, chunked, chunk_rows, masked)


@pytest.mark.parametrize("chunk_rows", [1, 3])
@pytest.mark.parametrize("masked", [False, True])
def test_chunked_hierarchical_attention_equals_the_whole_batch(chunk_rows, masked):
    whole, chunked = _pair(chunk_rows, hierarchical=True, num_groups=3)
    _check_chunked_matches(whole, chunked, chunk_rows, masked)


def test_chunked_attention_with_a_template_equals_the_whole_batch():
    # A shared [F, F] adjacency is sliced per chunk like the rows.
    whole, chunked = _pair(2, "gfa", backend="dense")
    ring = torch.stack([torch.arange(7).roll(1), torch.arange(7)])
    x = torch.randn(5, 7, dtype=torch.float64)
    torch.testing.assert_close(chunked(x, edge_index=ring), whole(x, edge_index=ring))


def _check_chunked_matches(whole, chunked, chunk_rows, masked):
    plan = chunked.explain_backend(5, dtype=torch.float64)
    assert plan["path"] == "dense-chunked" and plan["chunk_rows"] == chunk_rows
    x = torch.randn(5, 7, dtype=torch.float64)
    mask = torch.rand(5, 7) > 0.3 if masked else None
    inputs = [x.clone().requires_grad_() for _ in range(2)]
    out_whole = whole(inputs[0], mask)
    out_chunked = chunked(inputs[1], mask)
    torch.testing.assert_close(out_chunked, out_whole, rtol=1e-10, atol=1e-10)
    weights = torch.randn_like(out_whole)
    (out_whole * weights).sum().backward()
    (out_chunked * weights).sum().backward()
    torch.testing.assert_close(inputs[1].grad, inputs[0].grad, rtol=1e-10, atol=1e-10)
    for (name, a), b in zip(whole.named_parameters(), chunked.parameters()):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-10, atol=1e-10, msg=name)


@pytest.mark.parametrize("kind", ["agfl", "gfa"])
def test_chunked_gradient_passes_gradcheck_with_dropout(kind):
    # Dropout inside a checkpointed chunk: backward must replay the same mask.
    _, chunked = _pair(2, kind, dropout=0.3)
    chunked.train()
    x = torch.randn(4, 7, dtype=torch.float64, requires_grad=True)

    def run(rows):
        torch.manual_seed(5)  # the same dropout draw on every evaluation
        return chunked(rows)

    assert torch.autograd.gradcheck(run, (x,), eps=1e-6, atol=1e-6)


def test_inference_and_attention_requests_take_the_right_path():
    whole, chunked = _pair(2)
    x = torch.randn(5, 7, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(chunked(x), whole(x), rtol=1e-10, atol=1e-10)
    # Returning the attention needs every row's [H, F, F] at once: no chunks.
    plan = chunked.explain_backend(5, return_attention_weights=True, dtype=torch.float64)
    assert plan["path"] == "dense" and "returned" in plan["reason"]
    out, attention = chunked(x, return_attention_weights=True)
    assert attention.shape == (5, 2, 7, 7)
    assert (attention > 0).all()
    torch.testing.assert_close(out, whole(x), rtol=1e-10, atol=1e-10)


def test_explain_backend_reports_each_path():
    layer = AdvancedGraphFeatureLayer(16, 8, 2)
    assert layer.explain_backend(32)["path"] == "dense"
    assert layer.explain_backend(32)["attention_bytes"] == 3 * 32 * 2 * 16 * 16 * 4
    ring = torch.stack([torch.arange(16).roll(1), torch.arange(16)])
    assert layer.explain_backend(32, edge_index=ring)["path"] == "sparse"
    assert layer.explain_backend(32, edge_index=ring)["attention_bytes"] == 10 * 32 * 2 * 16 * 4
    sparse = AdvancedGraphFeatureLayer(16, 8, 2, backend="sparse")
    assert "backend='sparse'" in sparse.explain_backend(32)["reason"]
    wide = AdvancedGraphFeatureLayer(1024, 32, 4, hierarchical=True, num_groups=16)
    plan = wide.explain_backend(64)
    assert plan["path"] == "dense-chunked"
    assert plan["attention_bytes"] <= wide.attention_memory_bytes
    with pytest.raises(ValueError, match="num_features is needed"):
        AdvancedGraphFeatureLayer(None, 8, 2).explain_backend(4)
    gfa = GraphFeatureAggregation(8, num_features=16)
    assert gfa.explain_backend(32)["attention_bytes"] == 4 * 32 * 16 * 16 * 4
    assert gfa.explain_backend(32, edge_index=ring)["path"] == "sparse"


def test_a_size_no_path_can_hold_is_refused_before_allocating():
    # One row of F = 10^6 needs terabytes: a clear error names the size, no
    # allocation is attempted (the input itself is tiny: 1 x 10^6 floats).
    x = torch.zeros(1, 1_000_000)
    with pytest.raises(ValueError, match="num_features=1000000.*GiB"):
        GraphFeatureAggregation()(x)
    # The sparse path over a complete graph of 20,000 features: ~1 TB.
    with pytest.raises(ValueError, match="sparse attention over 400000000 edges"):
        GraphFeatureAggregation(backend="sparse")(torch.zeros(64, 20_000))
    # AdvancedGraphFeatureLayer's own parameters grow as E·F²: refused by name,
    # when built and when a lazy layer first sees a too-wide input.
    with pytest.raises(ValueError, match="num_features=100000 and embed_dim=8 needs"):
        AdvancedGraphFeatureLayer(100_000, 8, 2)
    with pytest.raises(ValueError, match="num_features=1000000 and embed_dim=8 needs"):
        AdvancedGraphFeatureLayer(None, 8, 2)(x)
    with pytest.raises(ValueError, match="num_features=100000.*GiB"):
        AdvancedGraphFeatureLayer(None, 8, 2).explain_backend(1, num_features=100_000)


def test_returning_every_rows_attention_is_refused_when_it_cannot_fit():
    layer = GraphFeatureAggregation(4, num_features=20_000)
    with pytest.raises(ValueError, match="return_attention_weights=True for batch_size=512"):
        layer.explain_backend(512, return_attention_weights=True)
    assert layer.explain_backend(512)["path"] == "dense-chunked"


_WIDE_RUN = """
import resource, sys, torch
from pyg_tabular.nn.tabular import AdvancedGraphFeatureLayer, GraphFeatureAggregation
torch.manual_seed(0)
F, B = 1024, 64
if sys.argv[1] == "gfa":
    layer = GraphFeatureAggregation()
else:
    layer = AdvancedGraphFeatureLayer(F, embed_dim=32, num_heads=4, hierarchical=True,
                                      num_groups=16)
x = torch.randn(B, F, requires_grad=True)
out = layer(x)
out.square().mean().backward()
assert torch.isfinite(x.grad).all()
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)  # GiB (Linux: KiB)
"""


@pytest.mark.slow
@pytest.mark.parametrize("module", ["gfa", "agfl"])
def test_1024_features_64_rows_train_under_4_gib_on_defaults(module):
    result = subprocess.run(
        [sys.executable, "-c", _WIDE_RUN, module], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-2000:]
    peak_gib = float(result.stdout.strip().splitlines()[-1])
    assert peak_gib < 4.0, f"{module} peaked at {peak_gib:.2f} GiB"


def test_limits_page_example_is_what_the_layer_says():
    limits = Path(__file__).resolve().parents[3] / "docs" / "limits.md"
    result = doctest.testfile(str(limits), module_relative=False, verbose=False)
    assert result.attempted >= 4 and result.failed == 0
