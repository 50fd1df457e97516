"""FeatureGraphNet's ensemble head: each member is the MLP its formula names."""

import pytest
import torch
import torch.nn.functional as F

from pyg_tabular.nn.models._ensemble import EnsembleHead


def _member_by_hand(head: EnsembleHead, z: torch.Tensor, member: int) -> torch.Tensor:
    # The TabM-mini member: scale the readout, then the shared hidden layer,
    # ReLU and the member's own output layer.
    assert head.adapter is not None and head.lin is not None
    scaling = head.adapter[member].repeat(head.num_nodes)  # [P * C]: tied over the nodes
    hidden = F.relu(F.linear(z * scaling, head.lin.weight, head.lin.bias))
    return hidden @ head.weight[member] + head.bias[member]


@pytest.mark.parametrize("num_nodes", [1, 5])
def test_each_member_is_a_scaled_mlp_with_its_own_output_layer(num_nodes):
    torch.manual_seed(0)
    head = EnsembleHead(num_nodes, 4, 7, 3, ensemble_size=6, dropout=0.0)
    z = torch.randn(9, num_nodes * 4, dtype=torch.float64)
    head = head.double()
    out = head(z)
    assert out.shape == (9, 6, 3)
    for member in range(6):
        torch.testing.assert_close(out[:, member], _member_by_hand(head, z, member))


def test_without_a_hidden_layer_each_member_is_its_own_linear_layer():
    torch.manual_seed(0)
    head = EnsembleHead(3, 4, 0, 2, ensemble_size=5, dropout=0.0)
    assert head.adapter is None and head.lin is None
    z = torch.randn(8, 12)
    out = head(z)
    for member in range(5):
        torch.testing.assert_close(out[:, member], z @ head.weight[member] + head.bias[member])


def test_the_adapter_starts_at_random_signs_and_members_differ():
    torch.manual_seed(0)
    head = EnsembleHead(2, 16, 8, 1, ensemble_size=8, dropout=0.0)
    assert set(head.adapter.unique().tolist()) == {-1.0, 1.0}
    assert head.adapter.unique(dim=0).size(0) == 8  # 8 distinct sign patterns
    out = head(torch.randn(4, 32))
    assert not torch.allclose(out[:, 0], out[:, 1])


def test_reset_parameters_is_deterministic_and_dropout_is_per_member():
    torch.manual_seed(1)
    a = EnsembleHead(2, 4, 8, 1, ensemble_size=3, dropout=0.5)
    torch.manual_seed(1)
    b = EnsembleHead(2, 4, 8, 1, ensemble_size=3, dropout=0.5)
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(p, q), name
    z = torch.randn(64, 8)
    a.eval()
    torch.testing.assert_close(a(z), a(z))
    a.train()
    torch.manual_seed(2)
    noisy = a(z)
    # Members are dropped out independently: with one member's weights copied
    # to another, their training outputs still differ.
    with torch.no_grad():
        a.weight[1].copy_(a.weight[0])
        a.bias[1].copy_(a.bias[0])
        a.adapter[1].copy_(a.adapter[0])
    torch.manual_seed(2)
    noisy = a(z)
    assert not torch.allclose(noisy[:, 0], noisy[:, 1])
    a.eval()
    torch.testing.assert_close(a(z)[:, 0], a(z)[:, 1])


def test_an_empty_batch_and_gradients():
    head = EnsembleHead(3, 4, 5, 2, ensemble_size=4, dropout=0.1)
    assert head(torch.zeros(0, 12)).shape == (0, 4, 2)
    head(torch.randn(6, 12)).square().sum().backward()
    for name, parameter in head.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    assert "ensemble_size=4" in repr(head)
