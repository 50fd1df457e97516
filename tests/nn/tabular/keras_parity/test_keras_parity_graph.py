"""Same weights, same function: our feature-graph modules against kerasfactory's layers.

Needs keras and kerasfactory (``scripts/test.sh`` installs them, so CI runs
these tests); skipped where they are missing:

    KERAS_BACKEND=torch python -m pytest tests/nn/tabular/keras_parity -q
"""

import os
import warnings

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
kf_layers = pytest.importorskip("kerasfactory.layers")
if keras.backend.backend() != "torch":
    pytest.skip("keras parity tests need KERAS_BACKEND=torch", allow_module_level=True)

from pyg_tabular.nn.tabular import (  # noqa: E402
    AdvancedGraphFeatureLayer,
    GraphFeatureAggregation,
)

ATOL = 1e-5
# kerasfactory builds LeakyReLU with Keras' deprecated `alpha` spelling.
warnings.filterwarnings("ignore", message="Argument `alpha` is deprecated")


def as_torch(variable) -> torch.Tensor:
    return torch.as_tensor(np.asarray(keras.ops.convert_to_numpy(variable))).clone()


def randomize_keras(variables, seed: int, scale: float = 0.5) -> None:
    rng = np.random.default_rng(seed)
    for variable in variables:
        values = rng.normal(scale=scale, size=tuple(variable.shape)).astype("float32")
        variable.assign(values)


def max_diff(a, b) -> float:
    return float((torch.as_tensor(a).detach() - torch.as_tensor(b).detach()).abs().max())


def load_dense(linear: torch.nn.Linear, dense) -> None:
    """Keras Dense kernel is (in, out); torch Linear weight is (out, in)."""
    with torch.no_grad():
        linear.weight.copy_(as_torch(dense.kernel).T)
        linear.bias.copy_(as_torch(dense.bias))


def load_gfa(ours: GraphFeatureAggregation, theirs) -> None:
    load_dense(ours.projection, theirs.projection)
    load_dense(ours.out_proj, theirs.out_proj)
    with torch.no_grad():
        ours.attention.copy_(as_torch(theirs.attention_a).view(-1))
        ours.attention_bias.copy_(as_torch(theirs.attention_bias).view(-1))


def load_agfl(ours: AdvancedGraphFeatureLayer, theirs) -> None:
    load_dense(ours.projection, theirs.projection)
    load_dense(ours.out_proj, theirs.out_proj)
    with torch.no_grad():
        ours.edge_attention.copy_(as_torch(theirs.edge_attention_dense.kernel).view(-1))
        ours.layer_norm.weight.copy_(as_torch(theirs.layer_norm.gamma))
        ours.layer_norm.bias.copy_(as_torch(theirs.layer_norm.beta))
        if ours.hierarchical:
            ours.grouping_matrix.copy_(as_torch(theirs.grouping_matrix))
            load_dense(ours.group_expander, theirs.group_expander)


@pytest.mark.parametrize("backend", ["dense", "sparse"])
@pytest.mark.parametrize("embed_dim,slope", [(8, 0.2), (5, 0.05)])
def test_graph_feature_aggregation_matches_keras(backend, embed_dim, slope):
    torch.manual_seed(0)
    x = torch.randn(64, 7)
    theirs = kf_layers.GraphFeatureAggregation(embed_dim=embed_dim, leaky_relu_alpha=slope)
    theirs(x)
    randomize_keras(theirs.weights, seed=1)
    ours = GraphFeatureAggregation(embed_dim, negative_slope=slope, backend=backend)
    load_gfa(ours, theirs)
    x_ours, x_theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_ours, out_theirs = ours(x_ours), theirs(x_theirs)
    diff = max_diff(out_ours, out_theirs)
    print(f"GraphFeatureAggregation[{backend}, E={embed_dim}] max |diff| = {diff:.2e}")
    torch.testing.assert_close(out_ours, out_theirs, atol=ATOL, rtol=1e-5)
    weights = torch.randn(64, 7)
    (out_ours * weights).sum().backward()
    (out_theirs * weights).sum().backward()
    torch.testing.assert_close(x_ours.grad, x_theirs.grad, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("backend", ["dense", "sparse"])
@pytest.mark.parametrize("hierarchical", [False, True])
@pytest.mark.parametrize("embed_dim,num_heads", [(16, 4), (6, 1)])
def test_advanced_graph_feature_layer_matches_keras(backend, hierarchical, embed_dim, num_heads):
    torch.manual_seed(0)
    x = torch.randn(32, 9)
    theirs = kf_layers.AdvancedGraphFeatureLayer(
        embed_dim=embed_dim,
        num_heads=num_heads,
        hierarchical=hierarchical,
        num_groups=3 if hierarchical else None,
    )
    theirs(x)
    randomize_keras(theirs.weights, seed=2, scale=0.3)
    with torch.no_grad():  # LayerNorm scale near one, as trained ones are
        theirs.layer_norm.gamma.assign(1.0 + as_torch(theirs.layer_norm.gamma).numpy())
    ours = AdvancedGraphFeatureLayer.from_config({**theirs.get_config(), "backend": backend})
    ours(x)  # materialises the lazy sizes
    load_agfl(ours, theirs)
    x_ours, x_theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_ours, out_theirs = ours(x_ours), theirs(x_theirs)
    diff = max_diff(out_ours, out_theirs)
    print(
        f"AdvancedGraphFeatureLayer[{backend}, hierarchical={hierarchical}, "
        f"E={embed_dim}, H={num_heads}] max |diff| = {diff:.2e}"
    )
    torch.testing.assert_close(out_ours, out_theirs, atol=ATOL, rtol=1e-5)
    weights = torch.randn(32, 9)
    (out_ours * weights).sum().backward()
    (out_theirs * weights).sum().backward()
    torch.testing.assert_close(x_ours.grad, x_theirs.grad, atol=1e-4, rtol=1e-4)


def test_configs_from_keras():
    gfa = GraphFeatureAggregation.from_config(
        kf_layers.GraphFeatureAggregation(
            embed_dim=12, dropout_rate=0.1, leaky_relu_alpha=0.3
        ).get_config()
    )
    assert (gfa.embed_dim, gfa.dropout, gfa.negative_slope) == (12, 0.1, 0.3)
    agfl = AdvancedGraphFeatureLayer.from_config(
        kf_layers.AdvancedGraphFeatureLayer(
            embed_dim=8, num_heads=2, dropout_rate=0.2, hierarchical=True, num_groups=3
        ).get_config()
    )
    assert (agfl.embed_dim, agfl.num_heads, agfl.dropout, agfl.num_groups) == (8, 2, 0.2, 3)


def test_sequential_model_port():
    """The docs' Sequential: Dense(32, relu) -> GFA(16) -> Dense(16, relu) -> GFA(8) -> Dense(1)."""
    torch.manual_seed(0)
    model = keras.Sequential(
        [
            keras.Input(shape=(20,)),
            keras.layers.Dense(32, activation="relu"),
            kf_layers.GraphFeatureAggregation(embed_dim=16, dropout_rate=0.1),
            keras.layers.Dense(16, activation="relu"),
            kf_layers.GraphFeatureAggregation(embed_dim=8, dropout_rate=0.1),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    d1, g1, d2, g2, d3 = model.layers
    for layer in (g1, g2):
        randomize_keras(layer.weights, seed=3)
    ported = torch.nn.Sequential(
        torch.nn.Linear(20, 32),
        torch.nn.ReLU(),
        GraphFeatureAggregation(16, 0.1),
        torch.nn.Linear(32, 16),
        torch.nn.ReLU(),
        GraphFeatureAggregation(8, 0.1),
        torch.nn.Linear(16, 1),
        torch.nn.Sigmoid(),
    ).eval()
    load_dense(ported[0], d1)
    load_gfa(ported[2], g1)
    load_dense(ported[3], d2)
    load_gfa(ported[5], g2)
    load_dense(ported[6], d3)
    x = torch.randn(64, 20)
    diff = max_diff(ported(x), model(x))
    print(f"GraphFeatureAggregation Sequential model max |diff| = {diff:.2e}")
    torch.testing.assert_close(ported(x), model(x), atol=ATOL, rtol=1e-5)


def test_hierarchical_functional_model_port():
    """The docs' Input(30) -> AGFL(32, 8, hierarchical, 6) -> Dense(64) -> AGFL(24, 6) ..."""
    torch.manual_seed(0)
    inputs = keras.Input(shape=(30,))
    a1 = kf_layers.AdvancedGraphFeatureLayer(
        embed_dim=32, num_heads=8, dropout_rate=0.1, hierarchical=True, num_groups=6
    )
    dense = keras.layers.Dense(64)
    a2 = kf_layers.AdvancedGraphFeatureLayer(
        embed_dim=24, num_heads=6, hierarchical=True, num_groups=4
    )
    head = keras.layers.Dense(1)
    model = keras.Model(inputs, head(a2(dense(a1(inputs)))))
    x = torch.randn(16, 30)
    model(x)  # builds the sublayers' weights
    randomize_keras(a1.weights + a2.weights, seed=4, scale=0.2)
    ported = torch.nn.Sequential(
        AdvancedGraphFeatureLayer(30, 32, 8, 0.1, True, 6),
        torch.nn.Linear(30, 64),
        AdvancedGraphFeatureLayer(64, 24, 6, 0.0, True, 4),
        torch.nn.Linear(64, 1),
    ).eval()
    load_agfl(ported[0], a1)
    load_dense(ported[1], dense)
    load_agfl(ported[2], a2)
    load_dense(ported[3], head)
    diff = max_diff(ported(x), model(x))
    print(f"AdvancedGraphFeatureLayer hierarchical model max |diff| = {diff:.2e}")
    torch.testing.assert_close(ported(x), model(x), atol=ATOL, rtol=1e-5)
