"""Under ``torch.use_deterministic_algorithms(True)``, the same seed gives bitwise-equal
outputs and gradients for every conv and tabular module (dropout on, so that the
random stream matters too)."""

from collections.abc import Callable

import pytest
import torch

from pyg_tabular.data import rows_to_graph
from pyg_tabular.nn.conv import FeatureDiffGATConv, FeatureGATConv
from pyg_tabular.nn.dense import DenseFeatureDiffGATConv, DenseFeatureGATConv
from pyg_tabular.nn.pool import FeatureGroupPool
from pyg_tabular.nn.tabular import (
    AdvancedGraphFeatureLayer,
    GatedFeatureFusion,
    GraphFeatureAggregation,
    RowAttention,
)

NUM_ROWS, NUM_FEATURES = 6, 5


def _rows() -> torch.Tensor:
    return torch.randn(NUM_ROWS, NUM_FEATURES)


def _mask() -> torch.Tensor:
    mask = torch.rand(NUM_ROWS, NUM_FEATURES) > 0.3
    mask[:, 0] = True
    return mask


def _conv(cls: type, fast: bool) -> Callable[[], tuple[torch.nn.Module, Callable]]:
    def build():
        conv = cls(1, 4, heads=2, dropout=0.3)
        rows = _rows()
        rows[1, 2] = float("nan")
        # Complete rows take the dense fast path; a dropped cell, the message passing.
        batch = rows_to_graph(rows.nan_to_num() if fast else rows, missing="drop")
        x = batch.x.requires_grad_()
        return conv, lambda: (conv(x, batch.edge_index), x)

    return build


def _dense(cls: type) -> Callable:
    def build():
        conv = cls(1, 4, heads=2, dropout=0.3)
        x = _rows().unsqueeze(-1).requires_grad_()
        adj = torch.rand(NUM_ROWS, NUM_FEATURES, NUM_FEATURES) > 0.4
        return conv, lambda: (conv(x, adj), x)

    return build


def _tabular(make: Callable[[], torch.nn.Module], masked: bool, template: bool) -> Callable:
    def build():
        module = make()
        x = _rows().requires_grad_()
        mask = _mask() if masked else None
        edge_index = torch.randint(0, NUM_FEATURES, (2, 12)) if template else None
        return module, lambda: (module(x, mask=mask, edge_index=edge_index), x)

    return build


def _pool():
    pool = FeatureGroupPool(NUM_FEATURES, 2)
    batch = rows_to_graph(torch.randn(NUM_ROWS, NUM_FEATURES, 3))
    x = batch.x.requires_grad_()
    return pool, lambda: (pool(x, feature_id=batch.feature_id, batch=batch.batch), x)


def _fusion():
    fusion = GatedFeatureFusion(NUM_FEATURES)
    a, b = _rows().requires_grad_(), _rows()
    return fusion, lambda: (fusion(a, b), a)


def _row_attention():
    layer = RowAttention(NUM_FEATURES)
    x = _rows().requires_grad_()
    return layer, lambda: (layer(x), x)


def _gfa(backend: str, embedding: str = "shared") -> Callable[[], torch.nn.Module]:
    return lambda: GraphFeatureAggregation(
        embed_dim=4,
        dropout=0.3,
        backend=backend,
        feature_embedding=embedding,
        num_features=NUM_FEATURES,
    )


def _agfl(backend: str, embedding: str = "shared") -> Callable[[], torch.nn.Module]:
    return lambda: AdvancedGraphFeatureLayer(
        NUM_FEATURES,
        embed_dim=4,
        num_heads=2,
        dropout=0.3,
        hierarchical=True,
        num_groups=2,
        feature_embedding=embedding,
        backend=backend,
    )


CASES = {
    "FeatureGATConv-dense-path": _conv(FeatureGATConv, fast=True),
    "FeatureGATConv-propagate": _conv(FeatureGATConv, fast=False),
    "FeatureDiffGATConv-dense-path": _conv(FeatureDiffGATConv, fast=True),
    "FeatureDiffGATConv-propagate": _conv(FeatureDiffGATConv, fast=False),
    "DenseFeatureGATConv": _dense(DenseFeatureGATConv),
    "DenseFeatureDiffGATConv": _dense(DenseFeatureDiffGATConv),
    "FeatureGroupPool": _pool,
    "GatedFeatureFusion": _fusion,
    "RowAttention": _row_attention,
}
for _backend in ("dense", "sparse"):
    for _embedding in ("shared", "per_feature"):
        CASES[f"GFA-{_backend}-{_embedding}"] = _tabular(
            _gfa(_backend, _embedding), masked=True, template=_backend == "sparse"
        )
        CASES[f"AGFL-{_backend}-{_embedding}"] = _tabular(
            _agfl(_backend, _embedding), masked=True, template=_backend == "sparse"
        )


def _run(build: Callable, seed: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
    torch.manual_seed(seed)
    module, forward = build()
    module.train()
    out, x = forward()
    weight = torch.randn(out.shape)
    (out * weight).sum().backward()
    grads = [x.grad] + [p.grad for p in module.parameters() if p.grad is not None]
    assert len(grads) > 1  # parameters receive gradients
    return out.detach(), grads


@pytest.fixture
def deterministic():
    enabled = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)
    assert torch.are_deterministic_algorithms_enabled() == enabled


@pytest.mark.parametrize("name", list(CASES))
def test_same_seed_gives_bitwise_equal_outputs_and_gradients(name, deterministic):
    first_out, first_grads = _run(CASES[name], seed=7)
    second_out, second_grads = _run(CASES[name], seed=7)
    assert torch.equal(first_out, second_out)
    assert len(first_grads) == len(second_grads)
    for first, second in zip(first_grads, second_grads):
        assert torch.equal(first, second)
    # The seed matters (dropout, init and inputs are all drawn from it).
    other_out, _ = _run(CASES[name], seed=8)
    assert not torch.equal(first_out, other_out)
