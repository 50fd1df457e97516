"""Same weights, same function: our tabular modules against kerasfactory's layers.

Needs keras and kerasfactory (``scripts/test.sh`` installs them, so CI runs
these tests); skipped where they are missing:

    KERAS_BACKEND=torch python -m pytest tests/nn/tabular/keras_parity -q

Keras runs on its torch backend, so both sides see the same input tensors and
gradients can be compared through torch autograd.
"""

import os

import numpy as np
import pytest
import torch

# Must precede the first keras import; an explicit user choice wins, and the
# module skips below when that choice is not torch.
os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
kf_layers = pytest.importorskip("kerasfactory.layers")
if keras.backend.backend() != "torch":
    pytest.skip("keras parity tests need KERAS_BACKEND=torch", allow_module_level=True)

from pyg_tabular.nn.tabular.gated_feature_fusion import (  # noqa: E402
    _ACTIVATIONS,
    GatedFeatureFusion,
)
from pyg_tabular.nn.tabular.row_attention import RowAttention  # noqa: E402

ATOL = 1e-5


def as_torch(variable) -> torch.Tensor:
    return torch.as_tensor(np.asarray(keras.ops.convert_to_numpy(variable))).clone()


def randomize_keras(variables, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for variable in variables:
        shape = tuple(variable.shape)
        if "variance" in variable.path:
            variable.assign(rng.uniform(0.5, 1.5, size=shape).astype("float32"))
        else:
            # Half-unit scale keeps "exponential" gates and friends in a range
            # where float32 sums stay comparable to 1e-5.
            variable.assign(rng.normal(scale=0.5, size=shape).astype("float32"))


def max_diff(a, b) -> float:
    return float((torch.as_tensor(a).detach() - torch.as_tensor(b).detach()).abs().max())


def load_dense(linear: torch.nn.Linear, dense) -> None:
    """Keras Dense kernel is (in, out); torch Linear weight is (out, in)."""
    with torch.no_grad():
        linear.weight.copy_(as_torch(dense.kernel).T)
        linear.bias.copy_(as_torch(dense.bias))


def load_gated_feature_fusion(ours: GatedFeatureFusion, theirs) -> None:
    load_dense(ours.fusion_gate, theirs.fusion_gate)


def load_row_attention(ours: RowAttention, theirs) -> None:
    dense, norm, dense_out = theirs.attention_net.layers
    load_dense(ours.attention_net[0], dense)
    load_dense(ours.attention_net[3], dense_out)
    ours_norm = ours.attention_net[2]
    with torch.no_grad():
        ours_norm.weight.copy_(as_torch(norm.gamma))
        ours_norm.bias.copy_(as_torch(norm.beta))
        ours_norm.running_mean.copy_(as_torch(norm.moving_mean))
        ours_norm.running_var.copy_(as_torch(norm.moving_variance))


def assert_grads_match(pairs) -> float:
    worst = 0.0
    for ours, theirs_variable, transpose in pairs:
        theirs = theirs_variable.value.grad
        assert ours.grad is not None and theirs is not None
        theirs = theirs.T if transpose else theirs
        worst = max(worst, max_diff(ours.grad, theirs))
        # Gradients sum over the batch: the tolerance follows their scale.
        scale = max(1.0, float(theirs.abs().max()))
        torch.testing.assert_close(ours.grad, theirs, atol=ATOL * scale, rtol=1e-4)
    return worst


def keras_sparsemax_is_sparsemax() -> bool:
    """Keras <= 3.15 sums every in-support cumulative sum into the threshold."""
    probe = keras.activations.sparsemax(torch.tensor([[0.0, 0.5, 1.0]]))
    return abs(float(keras.ops.sum(probe)) - 1.0) < 1e-6


# --------------------------------------------------------------------------- #
# GatedFeatureFusion
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("activation", sorted(_ACTIVATIONS))
@pytest.mark.parametrize("shape", [(32, 8), (16, 5, 8)])
def test_gated_feature_fusion_matches_keras(activation, shape):
    if activation == "sparsemax" and not keras_sparsemax_is_sparsemax():
        pytest.xfail("this Keras' sparsemax has keras-team/keras#23425 (outputs do not sum to 1)")
    torch.manual_seed(0)
    theirs = kf_layers.GatedFeatureFusion(activation=activation)
    a, b = torch.randn(shape), torch.randn(shape)
    theirs([a, b])  # builds the Keras weights
    randomize_keras(theirs.weights, seed=1)
    ours = GatedFeatureFusion(shape[-1], activation=activation)
    load_gated_feature_fusion(ours, theirs)

    a_ours, b_ours = a.clone().requires_grad_(), b.clone().requires_grad_()
    a_theirs, b_theirs = a.clone().requires_grad_(), b.clone().requires_grad_()
    out_ours = ours(a_ours, b_ours)
    out_theirs = theirs([a_theirs, b_theirs])
    diff = max_diff(out_ours, out_theirs)
    print(f"GatedFeatureFusion[{activation}, {shape}] max |diff| = {diff:.2e}")
    torch.testing.assert_close(out_ours, out_theirs, atol=ATOL, rtol=1e-5)

    weights = torch.randn(shape)
    (out_ours * weights).sum().backward()
    (out_theirs * weights).sum().backward()
    torch.testing.assert_close(a_ours.grad, a_theirs.grad, atol=ATOL, rtol=1e-4)
    torch.testing.assert_close(b_ours.grad, b_theirs.grad, atol=ATOL, rtol=1e-4)
    gate = theirs.fusion_gate
    assert_grads_match(
        [(ours.fusion_gate.weight, gate.kernel, True), (ours.fusion_gate.bias, gate.bias, False)]
    )


def test_gated_feature_fusion_config_from_keras():
    theirs = kf_layers.GatedFeatureFusion(activation="tanh")
    ours = GatedFeatureFusion.from_config({**theirs.get_config(), "num_features": 4})
    assert ours.get_config() == {"num_features": 4, "activation": "tanh"}


def test_gated_feature_fusion_functional_model_port():
    """The documented Keras composition: two Dense paths fused, then a Dense head."""
    torch.manual_seed(0)
    inputs = keras.Input(shape=(20,))
    raw = keras.layers.Dense(32, activation="relu")(inputs)
    processed = keras.layers.Dense(32, activation="tanh")(inputs)
    fused = kf_layers.GatedFeatureFusion()([raw, processed])
    outputs = keras.layers.Dense(1, activation="sigmoid")(fused)
    model = keras.Model(inputs, outputs)
    dense_raw, dense_processed, fusion, head = (layer for layer in model.layers if layer.weights)

    class Ported(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.raw = torch.nn.Linear(20, 32)
            self.processed = torch.nn.Linear(20, 32)
            self.fusion = GatedFeatureFusion(32)
            self.head = torch.nn.Linear(32, 1)

        def forward(self, x):
            fused = self.fusion(torch.relu(self.raw(x)), torch.tanh(self.processed(x)))
            return torch.sigmoid(self.head(fused))

    ported = Ported()
    load_dense(ported.raw, dense_raw)
    load_dense(ported.processed, dense_processed)
    load_gated_feature_fusion(ported.fusion, fusion)
    load_dense(ported.head, head)
    x = torch.randn(64, 20)
    diff = max_diff(ported(x), model(x))
    print(f"GatedFeatureFusion functional model max |diff| = {diff:.2e}")
    torch.testing.assert_close(ported(x), model(x), atol=ATOL, rtol=1e-5)


# --------------------------------------------------------------------------- #
# RowAttention
# --------------------------------------------------------------------------- #


def build_row_attention_pair(feature_dim, hidden_dim, seed=0):
    theirs = kf_layers.RowAttention(feature_dim=feature_dim, hidden_dim=hidden_dim)
    theirs(torch.randn(4, feature_dim))  # builds the Keras weights (inference: no update)
    randomize_keras(theirs.weights, seed=seed)
    ours = RowAttention(feature_dim, hidden_dim)
    load_row_attention(ours, theirs)
    return ours, theirs


@pytest.mark.parametrize("num_rows", [2, 7, 256])
@pytest.mark.parametrize("training", [False, True])
def test_row_attention_matches_keras(num_rows, training):
    torch.manual_seed(0)
    ours, theirs = build_row_attention_pair(12, 5)
    ours.train(training)
    x = torch.randn(num_rows, 12)
    x_ours, x_theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_ours = ours(x_ours)
    out_theirs = theirs(x_theirs, training=training)
    # The softmax weights are ~1/B; compare relative to the output scale too.
    diff = max_diff(out_ours, out_theirs)
    print(f"RowAttention[B={num_rows}, training={training}] max |diff| = {diff:.2e}")
    torch.testing.assert_close(out_ours, out_theirs, atol=ATOL, rtol=1e-5)

    weights = torch.randn(num_rows, 12)
    (out_ours * weights).sum().backward()
    (out_theirs * weights).sum().backward()
    torch.testing.assert_close(x_ours.grad, x_theirs.grad, atol=ATOL, rtol=1e-4)
    dense, norm, dense_out = theirs.attention_net.layers
    net = ours.attention_net
    assert_grads_match(
        [
            (net[0].weight, dense.kernel, True),
            (net[0].bias, dense.bias, False),
            (net[2].weight, norm.gamma, False),
            (net[2].bias, norm.beta, False),
            (net[3].weight, dense_out.kernel, True),
            (net[3].bias, dense_out.bias, False),
        ]
    )


def test_row_attention_running_statistics_after_a_training_step():
    torch.manual_seed(0)
    ours, theirs = build_row_attention_pair(6, 3)
    norm = theirs.attention_net.layers[1]
    variance_before = as_torch(norm.moving_variance)
    x = torch.randn(10, 6)
    hidden = torch.relu(ours.attention_net[0](x)).detach()
    ours.train()(x)
    theirs(x, training=True)
    ours_norm = ours.attention_net[2]
    keras_mean = as_torch(norm.moving_mean)
    torch.testing.assert_close(ours_norm.running_mean, keras_mean, atol=ATOL, rtol=0)
    # The documented difference: Keras feeds the biased batch variance into the
    # running variance, PyTorch the unbiased one.
    n = x.shape[0]
    biased = hidden.var(0, unbiased=False)
    torch.testing.assert_close(
        as_torch(norm.moving_variance), 0.99 * variance_before + 0.01 * biased, atol=ATOL, rtol=0
    )
    unbiased = biased * n / (n - 1)
    torch.testing.assert_close(
        ours_norm.running_var, 0.99 * variance_before + 0.01 * unbiased, atol=ATOL, rtol=0
    )


@pytest.mark.parametrize("training", [False, True])
def test_row_attention_single_row_matches_keras(training):
    ours, theirs = build_row_attention_pair(5, 2)
    ours.train(training)
    x = torch.randn(1, 5)
    with pytest.warns(UserWarning, match="softmax"):
        out_theirs = theirs(x, training=training)
    torch.testing.assert_close(ours(x), out_theirs, atol=ATOL, rtol=1e-5)
    torch.testing.assert_close(ours(x), x)


def test_row_attention_empty_batch_matches_keras_shape():
    ours, theirs = build_row_attention_pair(5, 2)
    x = torch.randn(0, 5)
    assert tuple(theirs(x).shape) == tuple(ours.eval()(x).shape) == (0, 5)


def test_row_attention_config_from_keras():
    theirs = kf_layers.RowAttention(feature_dim=10)
    ours = RowAttention.from_config(theirs.get_config())
    assert ours.get_config() == {"feature_dim": 10, "hidden_dim": 5, "normalize": "batch"}
    assert repr(ours) == "RowAttention(10, hidden_dim=5)"


def test_row_attention_sequential_model_port():
    """The documented Keras composition: Dense -> RowAttention -> Dense -> Dense."""
    torch.manual_seed(0)
    model = keras.Sequential(
        [
            keras.Input(shape=(20,)),
            keras.layers.Dense(64, activation="relu"),
            kf_layers.RowAttention(feature_dim=64),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    first, attention, hidden, head = model.layers
    randomize_keras(attention.weights, seed=3)
    ported = torch.nn.Sequential(
        torch.nn.Linear(20, 64),
        torch.nn.ReLU(),
        RowAttention(64),
        torch.nn.Linear(64, 32),
        torch.nn.ReLU(),
        torch.nn.Linear(32, 1),
        torch.nn.Sigmoid(),
    )
    load_dense(ported[0], first)
    load_row_attention(ported[2], attention)
    load_dense(ported[3], hidden)
    load_dense(ported[5], head)
    x = torch.randn(128, 20)
    for training in (False, True):
        ported.train(training)
        expected = model(x, training=training)
        diff = max_diff(ported(x), expected)
        print(f"RowAttention sequential model (training={training}) max |diff| = {diff:.2e}")
        torch.testing.assert_close(ported(x), expected, atol=ATOL, rtol=1e-5)
