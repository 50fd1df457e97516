import pytest
import torch

from pyg_tabular.nn.conv import FeatureGATConv, _weighted_gather
from pyg_tabular.nn.conv._weighted_gather import weighted_gather_sum
from pyg_tabular.utils.scatter import scatter


def _reference(h, alpha, edge_index, num_targets):
    # Every message written out, then scattered: what propagate computes.
    message = h.index_select(-3, edge_index[0]) * alpha.unsqueeze(-1)
    return scatter(message, edge_index[1], dim=-3, dim_size=num_targets)


@pytest.mark.parametrize("shared_heads", [False, True])
@pytest.mark.parametrize("lead", [(), (3,)])
def test_equals_the_written_out_messages_forward_and_backward(shared_heads, lead, monkeypatch):
    # Tiny chunks: several per call, so the chunk boundaries are exercised.
    monkeypatch.setattr(_weighted_gather, "CHUNK_BYTES", 64)
    generator = torch.Generator().manual_seed(0)
    edge_index = torch.randint(0, 6, (2, 40), generator=generator)
    h = torch.randn(*lead, 6, 1 if shared_heads else 2, 3, dtype=torch.float64, requires_grad=True)
    alpha = torch.rand(*lead, 40, 2, dtype=torch.float64, requires_grad=True)
    out = weighted_gather_sum(h, alpha, edge_index, 7)
    expected = _reference(h, alpha, edge_index, 7)
    torch.testing.assert_close(out, expected)
    grads = torch.autograd.grad(out.square().sum(), (h, alpha))
    expected_grads = torch.autograd.grad(expected.square().sum(), (h, alpha))
    for grad, expected_grad in zip(grads, expected_grads):
        torch.testing.assert_close(grad, expected_grad)
    assert torch.autograd.gradcheck(
        lambda a, b: weighted_gather_sum(a, b, edge_index, 7), (h, alpha)
    )


def test_no_edges():
    h = torch.randn(2, 4, 1, 3, requires_grad=True)
    alpha = torch.zeros(2, 0, 2, requires_grad=True)
    out = weighted_gather_sum(h, alpha, torch.zeros(2, 0, dtype=torch.long), 4)
    assert out.shape == (2, 4, 2, 3) and torch.all(out == 0)
    out.sum().backward()
    assert torch.all(h.grad == 0)


@pytest.mark.parametrize("in_channels", [2, 8])  # narrower and wider than out_channels
def test_static_form_of_the_conv_equals_its_propagate_path(in_channels):
    torch.manual_seed(0)
    conv = FeatureGATConv(in_channels, 4, heads=2, add_self_loops=True).double()
    x = torch.randn(3, 6, in_channels, dtype=torch.float64, requires_grad=True)
    edge_index = torch.randint(0, 6, (2, 15), generator=torch.Generator().manual_seed(1))
    weight = torch.rand(15, dtype=torch.float64) + 0.1
    out, (_, alpha) = conv(x, edge_index, edge_weight=weight, return_attention_weights=True)
    (grad,) = torch.autograd.grad(out.sum(), x)
    conv.fast_path = False  # propagate, with its per-edge messages
    expected, (_, expected_alpha) = conv(
        x, edge_index, edge_weight=weight, return_attention_weights=True
    )
    (expected_grad,) = torch.autograd.grad(expected.sum(), x)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(alpha, expected_alpha)
    torch.testing.assert_close(grad, expected_grad)
