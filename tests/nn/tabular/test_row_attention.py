import io
import math

import pytest
import torch

from pyg_tabular.nn.tabular.row_attention import RowAttention


def randomize(module: RowAttention, seed: int = 0) -> RowAttention:
    """Non-trivial BatchNorm affine parameters and running statistics."""
    generator = torch.Generator().manual_seed(seed)
    norm = module.attention_net[2]
    with torch.no_grad():
        for tensor in (norm.weight, norm.bias, norm.running_mean, module.attention_net[3].bias):
            tensor.copy_(torch.randn(tensor.shape, generator=generator, dtype=tensor.dtype))
        norm.running_var.copy_(torch.rand(norm.running_var.shape, generator=generator) + 0.5)
    return module


def reference_row_attention(x, params, *, training, normalize):
    """The documented formula, written out with plain tensor operations."""
    w1, b1, gamma, beta, mean, var, w2, b2 = params
    hidden = torch.clamp(x @ w1.T + b1, min=0.0)
    if training:
        mean = hidden.sum(0) / hidden.shape[0]
        var = ((hidden - mean) ** 2).sum(0) / hidden.shape[0]
    normed = (hidden - mean) / torch.sqrt(var + 1e-3) * gamma + beta
    s = 1.0 / (1.0 + torch.exp(-(normed @ w2.T + b2)))[:, 0]
    if normalize == "batch":
        e = torch.exp(5.0 * s - (5.0 * s).max())
        a = e / e.sum()
    else:
        a = s
    return a[:, None] * x, a


def parameters_of(module):
    net = module.attention_net
    norm = net[2]
    return [
        t.detach().clone()
        for t in (
            net[0].weight,
            net[0].bias,
            norm.weight,
            norm.bias,
            norm.running_mean,
            norm.running_var,
            net[3].weight,
            net[3].bias,
        )
    ]


@pytest.mark.parametrize("normalize", ["batch", "sigmoid"])
@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("num_rows", [1, 2, 9])
def test_matches_formula(normalize, training, num_rows):
    torch.manual_seed(0)
    module = randomize(RowAttention(6, 4, normalize=normalize).double())
    module.train(training)
    x = torch.randn(num_rows, 6, dtype=torch.float64)
    expected, expected_weights = reference_row_attention(
        x, parameters_of(module), training=training, normalize=normalize
    )
    out, weights = module(x, return_attention_weights=True)
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(weights, expected_weights, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("feature_dim, hidden_dim", [(8, 4), (1, 1), (5, 2), (3, 1)])
def test_default_hidden_dim(feature_dim, hidden_dim):
    module = RowAttention(feature_dim)
    assert module.hidden_dim == hidden_dim
    assert module.attention_net[0].weight.shape == (hidden_dim, feature_dim)


@pytest.mark.parametrize("normalize", ["batch", "sigmoid"])
def test_shapes_and_weights(normalize):
    module = RowAttention(8, 3, normalize=normalize)
    x = torch.randn(16, 8)
    out, weights = module(x, return_attention_weights=True)
    assert out.shape == (16, 8) and weights.shape == (16,)
    assert bool(((weights > 0) & (weights < 1)).all())
    if normalize == "batch":
        torch.testing.assert_close(weights.sum(), torch.tensor(1.0))


def test_batch_mode_output_depends_on_other_rows():
    torch.manual_seed(0)
    module = randomize(RowAttention(5, normalize="batch")).eval()
    x = torch.randn(6, 5)
    together = module(x)
    alone = torch.cat([module(row[None]) for row in x])
    # One row alone gets weight 1 (it passes through); in a batch it shares the weight.
    torch.testing.assert_close(alone, x)
    assert not torch.allclose(together, alone)
    changed = x.clone()
    changed[3] += 2.0
    assert not torch.allclose(module(changed)[0], together[0])


def test_sigmoid_mode_rows_are_independent():
    torch.manual_seed(0)
    module = randomize(RowAttention(5, normalize="sigmoid")).eval()
    x = torch.randn(6, 5)
    together = module(x)
    alone = torch.cat([module(row[None]) for row in x])
    torch.testing.assert_close(together, alone, rtol=1e-6, atol=1e-7)
    changed = x.clone()
    changed[3] += 2.0
    torch.testing.assert_close(module(changed)[0], together[0])


def test_batch_mode_output_shrinks_with_batch_size():
    module = RowAttention(4).eval()
    x = torch.randn(1, 4).expand(64, 4)
    # Identical rows share the mass equally.
    torch.testing.assert_close(module(x), x / 64)


@pytest.mark.parametrize("normalize", ["batch", "sigmoid"])
def test_gradient_reaches_every_parameter(normalize):
    torch.manual_seed(0)
    module = RowAttention(6, 3, normalize=normalize)
    x = torch.randn(10, 6, requires_grad=True)
    target = torch.randn(10, 6)
    ((module(x) - target) ** 2).sum().backward()
    for name, parameter in module.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    assert x.grad.abs().sum() > 0


def test_gradcheck_float64():
    module = randomize(RowAttention(3, 2).double())
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: module.eval()(t), (x,))
    assert torch.autograd.gradcheck(lambda t: module.train()(t), (x,))


def test_training_updates_running_stats_like_torch_batchnorm():
    torch.manual_seed(0)
    module = RowAttention(4, 3).train()
    x = torch.randn(8, 4)
    hidden = torch.relu(module.attention_net[0](x)).detach()
    module(x)
    norm = module.attention_net[2]
    torch.testing.assert_close(norm.running_mean, 0.01 * hidden.mean(0))
    torch.testing.assert_close(norm.running_var, 0.99 + 0.01 * hidden.var(0, unbiased=True))
    assert int(norm.num_batches_tracked) == 1


def test_two_row_training_batch_updates_running_stats():
    # Two rows are the fewest from which batch statistics exist: they must
    # reach the running statistics (only one row, or none, may skip them).
    torch.manual_seed(0)
    module = randomize(RowAttention(4, 3)).train()
    x = torch.randn(2, 4)
    hidden = torch.relu(module.attention_net[0](x)).detach()
    norm = module.attention_net[2]
    mean_before, var_before = norm.running_mean.clone(), norm.running_var.clone()
    module(x)
    torch.testing.assert_close(norm.running_mean, 0.99 * mean_before + 0.01 * hidden.mean(0))
    expected_var = 0.99 * var_before + 0.01 * hidden.var(0, unbiased=True)
    torch.testing.assert_close(norm.running_var, expected_var)
    assert int(norm.num_batches_tracked) == 1


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("normalize", ["batch", "sigmoid"])
def test_single_row(training, normalize):
    module = randomize(RowAttention(4, 3, normalize=normalize)).train(training)
    state_before = {k: v.clone() for k, v in module.state_dict().items()}
    x = torch.randn(1, 4, requires_grad=True)
    out, weights = module(x, return_attention_weights=True)
    assert out.shape == (1, 4)
    if normalize == "batch":
        assert torch.equal(weights, torch.ones(1))
    if training:
        # Batch statistics of one row: BN returns its shift, whatever the row is.
        other = module(torch.randn(1, 4), return_attention_weights=True)[1]
        torch.testing.assert_close(weights, other)
    out.sum().backward()
    for key, value in module.state_dict().items():
        assert torch.equal(value, state_before[key]), key


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("normalize", ["batch", "sigmoid"])
def test_empty_batch(training, normalize):
    module = randomize(RowAttention(4, normalize=normalize)).train(training)
    state_before = {k: v.clone() for k, v in module.state_dict().items()}
    out, weights = module(torch.randn(0, 4), return_attention_weights=True)
    assert out.shape == (0, 4) and weights.shape == (0,)
    out.sum().backward()
    for key, value in module.state_dict().items():
        assert torch.equal(value, state_before[key]), key


def test_eval_is_deterministic_and_train_differs():
    torch.manual_seed(0)
    module = randomize(RowAttention(5))
    x = torch.randn(7, 5)
    module.eval()
    first = module(x)
    assert torch.equal(first, module(x))
    assert not torch.allclose(module.train()(x), first)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"feature_dim": 0}, r"feature_dim must be a positive int \(got 0\)"),
        ({"feature_dim": -2}, r"feature_dim must be a positive int \(got -2\)"),
        ({"feature_dim": 4.0}, r"feature_dim must be a positive int \(got 4.0\)"),
        ({"feature_dim": 4, "hidden_dim": 0}, r"hidden_dim must be a positive int \(got 0\)"),
        ({"feature_dim": 4, "hidden_dim": -1}, r"hidden_dim must be a positive int \(got -1\)"),
        ({"feature_dim": 4, "hidden_dim": "2"}, r"hidden_dim must be a positive int \(got '2'\)"),
        ({"feature_dim": 4, "normalize": "row"}, r"normalize must be one of .*got 'row'"),
    ],
)
def test_constructor_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RowAttention(**kwargs)


def test_input_validation():
    module = RowAttention(4)
    with pytest.raises(ValueError, match=r"x must have shape \[batch_size, feature_dim\]"):
        module(torch.randn(4))
    with pytest.raises(ValueError, match=r"got 3-D shape \(2, 4, 1\)"):
        module(torch.randn(2, 4, 1))
    with pytest.raises(ValueError, match=r"feature_dim=4 columns \(got shape \(3, 5\)\)"):
        module(torch.randn(3, 5))
    with pytest.raises(ValueError, match="x must be a torch.Tensor"):
        module("not a tensor")


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_input(bad):
    x = torch.randn(3, 4)
    x[2, 1] = bad
    with pytest.raises(ValueError, match=rf"x must be finite; found {bad} at index \(2, 1\)"):
        RowAttention(4)(x)


def test_repr():
    assert repr(RowAttention(8)) == "RowAttention(8, hidden_dim=4)"
    assert repr(RowAttention(8, 2)) == "RowAttention(8, hidden_dim=2)"
    assert (
        repr(RowAttention(8, normalize="sigmoid"))
        == "RowAttention(8, hidden_dim=4, normalize='sigmoid')"
    )


def test_reset_parameters():
    torch.manual_seed(3)
    first = RowAttention(10, 6)
    torch.manual_seed(3)
    second = RowAttention(10, 6)
    for (name, p), q in zip(first.state_dict().items(), second.state_dict().values()):
        assert torch.equal(p, q), name
    randomize(first)
    first(torch.randn(5, 10))
    torch.manual_seed(4)
    first.reset_parameters()
    torch.manual_seed(4)
    second.reset_parameters()
    for (name, p), q in zip(first.state_dict().items(), second.state_dict().values()):
        assert torch.equal(p, q), name
    net = first.attention_net
    assert torch.equal(net[0].bias, torch.zeros(6)) and torch.equal(net[3].bias, torch.zeros(1))
    assert torch.equal(net[2].weight, torch.ones(6)) and torch.equal(net[2].bias, torch.zeros(6))
    assert torch.equal(net[2].running_mean, torch.zeros(6))
    assert torch.equal(net[2].running_var, torch.ones(6))
    assert net[0].weight.abs().max() <= math.sqrt(6.0 / 16)
    assert net[3].weight.abs().max() <= math.sqrt(6.0 / 7)


def test_config_round_trip():
    module = RowAttention(9, normalize="sigmoid")
    config = module.get_config()
    assert config == {"feature_dim": 9, "hidden_dim": 4, "normalize": "sigmoid"}
    rebuilt = RowAttention.from_config(config)
    assert rebuilt.get_config() == config and repr(rebuilt) == repr(module)


def test_from_keras_style_config():
    keras_config = {"name": "row_attention", "trainable": True, "feature_dim": 6, "hidden_dim": 3}
    rebuilt = RowAttention.from_config(keras_config)
    assert rebuilt.get_config() == {"feature_dim": 6, "hidden_dim": 3, "normalize": "batch"}


def test_state_dict_round_trip_weights_only():
    torch.manual_seed(0)
    module = randomize(RowAttention(6))
    module.train()(torch.randn(8, 6))
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    restored = RowAttention.from_config(module.get_config())
    x = torch.randn(5, 6)
    assert not torch.equal(restored.eval()(x), module.eval()(x))
    restored.load_state_dict(state)
    assert torch.equal(restored(x), module(x))


def test_in_sequential_model():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(5, 8), torch.nn.ReLU(), RowAttention(8), torch.nn.Linear(8, 1)
    )
    out = model(torch.randn(12, 5))
    assert out.shape == (12, 1)
    out.sum().backward()


@pytest.mark.parametrize("training", [False, True])
def test_compiles_without_graph_breaks(training):
    torch._dynamo.reset()
    module = RowAttention(4).train(training)
    explanation = torch._dynamo.explain(module)(torch.randn(3, 4))
    assert explanation.graph_break_count == 0


def test_large_finite_inputs_are_accepted():
    # Their sum overflows to inf; the finiteness check must not mistake that for inf input.
    x = torch.full((4, 3), 3e38)
    x[:, 1] = -1.0
    module = RowAttention(3).eval()
    with torch.no_grad():
        module.attention_net[0].weight.zero_()
    out = module(x)
    torch.testing.assert_close(out, x / 4)
