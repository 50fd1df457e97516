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
    # which every parameter (biases included) is non-zero. A standard
    # deviation of 0.5 keeps outputs of order 1, so that 1e-6 is a float32
    # comparison.
    torch.manual_seed(21)
    reference = reference_type(*args, **kwargs)
    with torch.no_grad():
        for param in reference.parameters():
            param.normal_(std=0.5)
    ours = our_type(*args, **kwargs, **(our_kwargs or {}))
    ours.load_state_dict(reference.state_dict())
    return reference, ours


@pytest.fixture
def tied_pair():
    return _tied_pair
