import io
import math

import pytest
import torch

from pyg_tabular.nn.tabular.gated_feature_fusion import _ACTIVATIONS, GatedFeatureFusion


def reference_fusion(a, b, weight, bias, gate_fn):
    """The documented formula, written out: g = act(W [a; b] + c), y = g a + (1 - g) b."""
    d = a.shape[-1]
    w_a, w_b = weight[:, :d], weight[:, d:]
    logits = torch.einsum("...i,oi->...o", a, w_a) + torch.einsum("...i,oi->...o", b, w_b) + bias
    g = gate_fn(logits)
    return g * a + (1.0 - g) * b


# Written from each activation's textbook / Keras definition, not from the module.
def _sparsemax_reference(z):
    out = torch.empty_like(z)
    flat, flat_out = z.reshape(-1, z.shape[-1]), out.view(-1, z.shape[-1])
    for r, row in enumerate(flat):
        values = sorted(row.tolist(), reverse=True)
        k, total = 0, 0.0
        for i, v in enumerate(values, start=1):
            if 1 + i * v > total + v:
                k, total = i, total + v
            else:
                break
        tau = (total - 1) / k
        flat_out[r] = torch.clamp(row - tau, min=0)
    return out


REFERENCE_ACTIVATIONS = {
    "sigmoid": lambda x: 1 / (1 + torch.exp(-x)),
    "hard_sigmoid": lambda x: torch.clamp(x / 6 + 0.5, 0, 1),
    "sparse_sigmoid": lambda x: torch.where(x <= -1, 0.0, torch.where(x >= 1, 1.0, (x + 1) / 2)),
    "log_sigmoid": lambda x: -torch.log1p(torch.exp(-x)),
    "tanh": lambda x: (torch.exp(2 * x) - 1) / (torch.exp(2 * x) + 1),
    "hard_tanh": lambda x: torch.clamp(x, -1, 1),
    "tanh_shrink": lambda x: x - torch.tanh(x),
    "relu": lambda x: torch.where(x > 0, x, 0.0),
    "relu6": lambda x: torch.clamp(x, 0, 6),
    "leaky_relu": lambda x: torch.where(x > 0, x, 0.2 * x),
    "elu": lambda x: torch.where(x > 0, x, torch.exp(x) - 1),
    "selu": lambda x: (
        1.0507009873554805 * torch.where(x > 0, x, 1.6732632423543772 * (torch.exp(x) - 1))
    ),
    "celu": lambda x: torch.where(x > 0, x, torch.exp(x) - 1),
    "gelu": lambda x: 0.5 * x * (1 + torch.erf(x / math.sqrt(2))),
    "silu": lambda x: x / (1 + torch.exp(-x)),
    "swish": lambda x: x / (1 + torch.exp(-x)),
    "hard_silu": lambda x: x * torch.clamp(x + 3, 0, 6) / 6,
    "hard_swish": lambda x: x * torch.clamp(x + 3, 0, 6) / 6,
    "mish": lambda x: x * torch.tanh(torch.log1p(torch.exp(x))),
    "softplus": lambda x: torch.log1p(torch.exp(x)),
    "softsign": lambda x: x / (1 + x.abs()),
    "squareplus": lambda x: (x + torch.sqrt(x**2 + 4)) / 2,
    "sparse_plus": lambda x: torch.where(x <= -1, 0.0, torch.where(x >= 1, x, (x + 1) ** 2 / 4)),
    "soft_shrink": lambda x: torch.where(x > 0.5, x - 0.5, torch.where(x < -0.5, x + 0.5, 0.0)),
    "hard_shrink": lambda x: torch.where(x.abs() > 0.5, x, 0.0),
    "exponential": torch.exp,
    "linear": lambda x: x,
    "softmax": lambda x: torch.exp(x) / torch.exp(x).sum(-1, keepdim=True),
    "log_softmax": lambda x: x - torch.log(torch.exp(x).sum(-1, keepdim=True)),
    "sparsemax": _sparsemax_reference,
}


def test_every_activation_has_a_reference():
    assert set(REFERENCE_ACTIVATIONS) == set(_ACTIVATIONS)


@pytest.mark.parametrize("shape", [(7, 5), (3, 4, 5), (5,), (2, 3, 1, 5)])
def test_shapes_any_leading_dims(shape):
    fusion = GatedFeatureFusion(shape[-1])
    a, b = torch.randn(shape), torch.randn(shape)
    assert fusion(a, b).shape == shape


@pytest.mark.parametrize("activation", sorted(_ACTIVATIONS))
def test_matches_formula_for_each_activation(activation):
    torch.manual_seed(0)
    fusion = GatedFeatureFusion(6, activation=activation).double()
    with torch.no_grad():
        fusion.fusion_gate.bias.normal_()
    a, b = torch.randn(4, 3, 6, dtype=torch.float64), torch.randn(4, 3, 6, dtype=torch.float64)
    expected = reference_fusion(
        a,
        b,
        fusion.fusion_gate.weight.detach(),
        fusion.fusion_gate.bias.detach(),
        REFERENCE_ACTIVATIONS[activation],
    )
    torch.testing.assert_close(fusion(a, b), expected, rtol=1e-10, atol=1e-10)


def test_none_activation_is_linear():
    torch.manual_seed(0)
    plain, linear = GatedFeatureFusion(4, activation=None), GatedFeatureFusion(4, "linear")
    linear.load_state_dict(plain.state_dict())
    a, b = torch.randn(3, 4), torch.randn(3, 4)
    torch.testing.assert_close(plain(a, b), linear(a, b))


def test_gate_extremes_select_an_input():
    fusion = GatedFeatureFusion(3)
    a, b = torch.randn(5, 3), torch.randn(5, 3)
    with torch.no_grad():
        fusion.fusion_gate.weight.zero_()
        fusion.fusion_gate.bias.fill_(50.0)
    torch.testing.assert_close(fusion(a, b), a)
    with torch.no_grad():
        fusion.fusion_gate.bias.fill_(-50.0)
    torch.testing.assert_close(fusion(a, b), b)


def test_gradient_reaches_every_parameter_and_both_inputs():
    fusion = GatedFeatureFusion(4)
    a = torch.randn(6, 4, requires_grad=True)
    b = torch.randn(6, 4, requires_grad=True)
    (fusion(a, b) ** 2).sum().backward()
    for name, parameter in fusion.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    assert a.grad.abs().sum() > 0 and b.grad.abs().sum() > 0


def test_gradcheck_float64():
    fusion = GatedFeatureFusion(3).double()
    a = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(fusion, (a, b))


def test_empty_leading_dimension():
    fusion = GatedFeatureFusion(4)
    a = torch.randn(0, 4, requires_grad=True)
    out = fusion(a, torch.randn(0, 4))
    assert out.shape == (0, 4)
    out.sum().backward()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_features": 0}, r"num_features must be a positive int \(got 0\)"),
        ({"num_features": -3}, r"num_features must be a positive int \(got -3\)"),
        ({"num_features": 2.5}, r"num_features must be a positive int \(got 2.5\)"),
        ({"num_features": True}, r"num_features must be a positive int \(got True\)"),
        ({"num_features": 4, "activation": "glu"}, r"activation must be one of .*got 'glu'"),
        ({"num_features": 4, "activation": "nope"}, r"activation must be one of .*got 'nope'"),
    ],
)
def test_constructor_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GatedFeatureFusion(**kwargs)


def test_shape_mismatch_names_both_shapes():
    fusion = GatedFeatureFusion(4)
    with pytest.raises(ValueError, match=r"a: \(2, 4\), b: \(3, 4\)"):
        fusion(torch.randn(2, 4), torch.randn(3, 4))
    with pytest.raises(ValueError, match=r"a: \(2, 4\), b: \(2, 1, 4\)"):
        fusion(torch.randn(2, 4), torch.randn(2, 1, 4))


def test_wrong_feature_size():
    fusion = GatedFeatureFusion(4)
    with pytest.raises(ValueError, match=r"num_features=4 \(got shape \(2, 5\)\)"):
        fusion(torch.randn(2, 5), torch.randn(2, 5))


def test_scalar_inputs_rejected():
    with pytest.raises(ValueError, match="a must have shape"):
        GatedFeatureFusion(1)(torch.tensor(1.0), torch.tensor(2.0))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("which", ["a", "b"])
def test_non_finite_inputs(bad, which):
    fusion = GatedFeatureFusion(3)
    a, b = torch.randn(2, 3), torch.randn(2, 3)
    (a if which == "a" else b)[1, 2] = bad
    with pytest.raises(ValueError, match=rf"{which} must be finite; found {bad} at index \(1, 2\)"):
        fusion(a, b)


def test_non_tensor_input():
    with pytest.raises(ValueError, match="a must be a torch.Tensor"):
        GatedFeatureFusion(2)([1.0, 2.0], torch.randn(2))


def test_repr():
    assert repr(GatedFeatureFusion(8)) == "GatedFeatureFusion(8)"
    assert repr(GatedFeatureFusion(8, "tanh")) == "GatedFeatureFusion(8, activation='tanh')"


def test_reset_parameters_is_deterministic_and_keras_like():
    torch.manual_seed(1)
    first = GatedFeatureFusion(16)
    torch.manual_seed(1)
    second = GatedFeatureFusion(16)
    for p, q in zip(first.parameters(), second.parameters()):
        assert torch.equal(p, q)
    # Keras' glorot_uniform bound for a (2D, D) kernel, and a zero bias.
    bound = math.sqrt(6.0 / (32 + 16))
    assert first.fusion_gate.weight.abs().max() <= bound
    assert first.fusion_gate.weight.abs().max() > 0.8 * bound
    assert torch.equal(first.fusion_gate.bias, torch.zeros(16))
    with torch.no_grad():
        first.fusion_gate.weight.fill_(3.0)
    torch.manual_seed(2)
    first.reset_parameters()
    torch.manual_seed(2)
    second.reset_parameters()
    assert torch.equal(first.fusion_gate.weight, second.fusion_gate.weight)
    assert torch.equal(first.fusion_gate.bias, torch.zeros(16))


def test_eval_is_deterministic():
    fusion = GatedFeatureFusion(5).eval()
    a, b = torch.randn(4, 5), torch.randn(4, 5)
    assert torch.equal(fusion(a, b), fusion(a, b))


def test_config_round_trip():
    fusion = GatedFeatureFusion(7, activation="hard_sigmoid")
    config = fusion.get_config()
    assert config == {"num_features": 7, "activation": "hard_sigmoid"}
    rebuilt = GatedFeatureFusion.from_config(config)
    assert rebuilt.get_config() == config
    assert repr(rebuilt) == repr(fusion)


def test_from_keras_style_config():
    keras_config = {"name": "gated_feature_fusion", "trainable": True, "activation": "tanh"}
    with pytest.raises(ValueError, match="config must contain num_features"):
        GatedFeatureFusion.from_config(keras_config)
    rebuilt = GatedFeatureFusion.from_config({**keras_config, "num_features": 3})
    assert rebuilt.get_config() == {"num_features": 3, "activation": "tanh"}


def test_state_dict_round_trip_weights_only():
    torch.manual_seed(0)
    fusion = GatedFeatureFusion(6, activation="tanh")
    buffer = io.BytesIO()
    torch.save(fusion.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    assert set(state) == {"fusion_gate.weight", "fusion_gate.bias"}
    torch.manual_seed(1)
    restored = GatedFeatureFusion.from_config(fusion.get_config())
    a, b = torch.randn(3, 6), torch.randn(3, 6)
    assert not torch.equal(restored(a, b), fusion(a, b))
    restored.load_state_dict(state)
    assert torch.equal(restored(a, b), fusion(a, b))


def test_compiles_without_graph_breaks():
    torch._dynamo.reset()
    fusion = GatedFeatureFusion(4)
    a, b = torch.randn(3, 4), torch.randn(3, 4)
    explanation = torch._dynamo.explain(fusion)(a, b)
    assert explanation.graph_break_count == 0


def test_large_finite_inputs_are_accepted():
    # Their sum overflows to inf; the finiteness check must not mistake that for inf input.
    a, b = torch.full((4, 3), 3e38), torch.full((4, 3), 1e38)
    fusion = GatedFeatureFusion(3)
    with torch.no_grad():
        fusion.fusion_gate.weight.zero_()
    torch.testing.assert_close(fusion(a, b), torch.full((4, 3), 2e38))
