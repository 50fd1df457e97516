import pytest
import torch

import pyg_tabular.typing as pt_typing
from pyg_tabular.data import rows_to_graph
from pyg_tabular.nn.pool import FeatureGroupPool


def test_repr_and_assignment_is_a_distribution_over_groups():
    pool = FeatureGroupPool(6, 3)
    assert repr(pool) == "FeatureGroupPool(6, 3)"
    assert pool.assignment_logits.shape == (6, 3)
    assignment = pool.assignment()
    assert assignment.shape == (6, 3) and (assignment > 0).all()
    torch.testing.assert_close(assignment.sum(-1), torch.ones(6))


def test_pool_and_expand_follow_their_formulas():
    torch.manual_seed(0)
    pool = FeatureGroupPool(5, 2).double()
    z = torch.randn(3, 5, 4, dtype=torch.float64)
    groups, assignment = pool(z, return_assignment=True)
    logits = pool.assignment_logits
    expected_s = logits.exp() / logits.exp().sum(-1, keepdim=True)
    torch.testing.assert_close(assignment, expected_s)
    for b in range(3):
        for g in range(2):
            expected = sum(expected_s[i, g] * z[b, i] for i in range(5))
            torch.testing.assert_close(groups[b, g], expected)
    back = pool.expand(groups)
    for b in range(3):
        for i in range(5):
            expected = sum(expected_s[i, g] * groups[b, g] for g in range(2))
            torch.testing.assert_close(back[b, i], expected)


def test_expand_is_the_adjoint_of_pool():
    # <pool(z), g> = <z, expand(g)>: expand sends gradients' way back.
    torch.manual_seed(1)
    pool = FeatureGroupPool(7, 3).double()
    z = torch.randn(4, 7, 5, dtype=torch.float64)
    g = torch.randn(4, 3, 5, dtype=torch.float64)
    torch.testing.assert_close((pool(z) * g).sum(), (z * pool.expand(g)).sum())


@pytest.mark.parametrize("use_torch_scatter", [False, True])
@pytest.mark.scatter
def test_graph_nodes_give_the_same_result_as_dense_rows(monkeypatch, use_torch_scatter):
    if use_torch_scatter:
        pytest.importorskip("torch_scatter")
    monkeypatch.setattr(pt_typing, "WITH_TORCH_SCATTER", use_torch_scatter)
    torch.manual_seed(2)
    rows = torch.randn(4, 6, 3, dtype=torch.float64)
    rows[0, 2] = rows[3, 0] = rows[3, 5] = float("nan")  # absent features
    batch = rows_to_graph(rows, missing="drop")
    pool = FeatureGroupPool(6, 2).double()
    present = ~torch.isnan(rows).any(-1)
    dense = pool(rows.nan_to_num(), mask=present)
    graph = pool(batch.x, batch.feature_id, batch.batch)
    torch.testing.assert_close(graph, dense)
    # Expanding back to the nodes reads the dense rows at each node's cell.
    nodes = pool.expand(graph, batch.feature_id, batch.batch)
    torch.testing.assert_close(nodes, pool.expand(dense)[present])


def test_single_graph_and_explicit_row_count():
    pool = FeatureGroupPool(4, 2)
    x = torch.randn(4, 3)
    feature_id = torch.tensor([2, 0, 3, 1])  # node order need not follow features
    torch.testing.assert_close(pool(x, feature_id), pool(x[feature_id.argsort()].unsqueeze(0)))
    # Trailing rows without nodes pool to zero.
    out = pool(x, feature_id, torch.zeros(4, dtype=torch.long), num_rows=3)
    assert out.shape == (3, 2, 3) and torch.equal(out[1:], torch.zeros(2, 2, 3))


def test_permuting_features_together_with_the_assignment():
    torch.manual_seed(3)
    pool = FeatureGroupPool(5, 3)
    z = torch.randn(2, 5, 4)
    perm = torch.randperm(5)
    permuted = FeatureGroupPool(5, 3)
    permuted.load_state_dict({"assignment_logits": pool.assignment_logits[perm]})
    torch.testing.assert_close(permuted(z[:, perm]), pool(z))
    torch.testing.assert_close(permuted.expand(pool(z)), pool.expand(pool(z))[:, perm])


def test_empty_batch_and_gradients():
    pool = FeatureGroupPool(3, 2)
    assert pool(torch.randn(0, 3, 4)).shape == (0, 2, 4)
    batch = rows_to_graph(torch.randn(0, 3))
    assert pool(batch.x, batch.feature_id, batch.batch, num_rows=0).shape == (0, 2, 1)
    z = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    pool = pool.double()
    assert torch.autograd.gradcheck(lambda t: pool.expand(pool(t)), (z,))
    pool(z).sum().backward()
    assert pool.assignment_logits.grad is not None


def test_reset_parameters_is_deterministic():
    torch.manual_seed(4)
    first = FeatureGroupPool(5, 2)
    torch.manual_seed(4)
    second = FeatureGroupPool(5, 2)
    assert torch.equal(first.assignment_logits, second.assignment_logits)


@pytest.mark.slow
def test_torch_compile_without_graph_breaks():
    pool = FeatureGroupPool(5, 2)
    z = torch.randn(3, 5, 4)
    explanation = torch._dynamo.explain(pool)(z)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    compiled = torch.compile(pool, backend="aot_eager", fullgraph=True)
    torch.testing.assert_close(compiled(z), pool(z))


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"num_features must be a positive int \(got 0\)"):
        FeatureGroupPool(0, 2)
    with pytest.raises(ValueError, match=r"num_groups must be a positive int \(got 1.5\)"):
        FeatureGroupPool(3, 1.5)
    pool = FeatureGroupPool(3, 2)
    with pytest.raises(ValueError, match="x must have 3 features"):
        pool(torch.randn(2, 4, 1))
    with pytest.raises(ValueError, match="feature_id is required"):
        pool(torch.randn(5, 1))
    with pytest.raises(ValueError, match=r"feature_id holds values from 0 to 3"):
        pool(torch.randn(2, 1), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match=r"batch holds rows from 0 to 2, outside \[0, 2\)"):
        pool(torch.randn(2, 1), torch.tensor([0, 1]), torch.tensor([0, 2]), num_rows=2)
    with pytest.raises(ValueError, match=r"mask must have shape \(2, 3\)"):
        pool(torch.randn(2, 3, 1), mask=torch.ones(2, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="groups must have 2 groups"):
        pool.expand(torch.randn(2, 3, 1))
    with pytest.raises(ValueError, match="x must have shape"):
        pool(torch.randn(3))
