"""Graph builders and attention checks shared by the conv and dense tests."""

import pytest
import torch


def _random_graph(num_nodes, num_edges, seed, num_targets=None):
    # Any graph: repeated edges, self-loops and isolated nodes allowed.
    generator = torch.Generator().manual_seed(seed)
    source = torch.randint(0, num_nodes, (num_edges,), generator=generator)
    target = torch.randint(0, num_targets or num_nodes, (num_edges,), generator=generator)
    return torch.stack([source, target])


def _shuffled(edge_index, seed=0):
    order = torch.randperm(edge_index.size(1), generator=torch.Generator().manual_seed(seed))
    return edge_index[:, order], order


def _check_attention(edge_index, alpha, num_nodes):
    assert alpha.min() >= 0 and alpha.max() <= 1
    sums = torch.zeros(num_nodes, alpha.size(-1), dtype=alpha.dtype)
    sums.index_add_(0, edge_index[1], alpha)
    has_edges = torch.zeros(num_nodes, dtype=torch.bool)
    has_edges[edge_index[1]] = True
    torch.testing.assert_close(sums[has_edges], torch.ones_like(sums[has_edges]))


def _edge_alpha_to_dense(edge_index, alpha, num_nodes):
    # [N, N, H], entry [i, j] the attention of edge j -> i, whatever the edge order.
    dense = torch.zeros(num_nodes, num_nodes, alpha.size(-1), dtype=alpha.dtype)
    dense.index_put_((edge_index[1], edge_index[0]), alpha, accumulate=True)
    return dense


def _adj_to_edge_index(adj):
    # adj [B, F, F], entry [b, i, j] = edge j -> i, as one batched graph.
    b, i, j = adj.nonzero(as_tuple=True)
    num_features = adj.size(-1)
    return torch.stack([b * num_features + j, b * num_features + i])


def _random_adj(batch_size, num_features, seed, p=0.5):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch_size, num_features, num_features, generator=generator) < p


@pytest.fixture
def random_graph():
    return _random_graph


@pytest.fixture
def shuffled():
    return _shuffled


@pytest.fixture
def check_attention():
    return _check_attention


@pytest.fixture
def edge_alpha_to_dense():
    return _edge_alpha_to_dense


@pytest.fixture
def adj_to_edge_index():
    return _adj_to_edge_index


@pytest.fixture
def random_adj():
    return _random_adj


def _tied_pair(reference_type, our_type, *args, our_kwargs=None, **kwargs):
    # A PyG layer and ours built with the same arguments, sharing one state in
    # which every parameter (biases included) is non-zero, with outputs of
    # order 1, so that 1e-6 is a float32 comparison.
    torch.manual_seed(21)
    reference = _normal_parameters(reference_type(*args, **kwargs))
    ours = our_type(*args, **kwargs, **(our_kwargs or {}))
    ours.load_state_dict(reference.state_dict())
    return reference, ours


@pytest.fixture
def tied_pair():
    return _tied_pair


def _attention_edge_mask(model, x, edge_index, index=0):
    # PyG's AttentionExplainer on a node-level regression: one edge mask for a
    # homogeneous graph, one per edge type for a heterogeneous one.
    from torch_geometric.explain import AttentionExplainer, Explainer

    explainer = Explainer(
        model,
        AttentionExplainer(),
        explanation_type="model",
        edge_mask_type="object",
        model_config={"mode": "regression", "task_level": "node", "return_type": "raw"},
    )
    explanation = explainer(x, edge_index, index=index)
    if isinstance(x, dict):
        return explanation.collect("edge_mask")
    return explanation.edge_mask


def _hetero_data(seed=0):
    # Two node types of different widths, a relation each way and one within a
    # type, with repeated edges.
    from torch_geometric.data import HeteroData

    generator = torch.Generator().manual_seed(seed)
    data = HeteroData()
    data["paper"].x = torch.randn(7, 5, generator=generator)
    data["author"].x = torch.randn(4, 3, generator=generator)
    writes = torch.stack(
        [
            torch.randint(0, 4, (12,), generator=generator),
            torch.randint(0, 7, (12,), generator=generator),
        ]
    )
    data["author", "writes", "paper"].edge_index = writes
    data["paper", "rev_writes", "author"].edge_index = writes.flip(0)
    data["paper", "cites", "paper"].edge_index = torch.randint(0, 7, (2, 15), generator=generator)
    return data


def _normal_parameters(module):
    # Every parameter non-zero (biases included); a standard deviation of 0.5
    # keeps outputs of order 1.
    with torch.no_grad():
        for param in module.parameters():
            param.normal_(std=0.5)
    return module


def _randomize(module, seed=21):
    torch.manual_seed(seed)
    return _normal_parameters(module)


@pytest.fixture
def attention_edge_mask():
    return _attention_edge_mask


@pytest.fixture
def hetero_data():
    return _hetero_data


@pytest.fixture
def randomize():
    return _randomize
