"""Port a Keras ``kerasfactory`` model's weights to pyg_tabular, and check it.

With keras and kerasfactory installed (``KERAS_BACKEND=torch``), the script
builds the Keras layers, gives them random weights, copies those weights into
our modules with :func:`pyg_tabular.interop.load_keras_weights` and checks
that both compute the same outputs. Without Keras (as in CI) it ports a
weights file in Keras' naming and layout, ``{variable path: array}`` as
``{v.path: v.numpy() for v in layer.weights}`` would save it, and checks the
ported ``GraphFeatureAggregation`` against the layer's equations written out
in NumPy.

    KERAS_BACKEND=torch python examples/port_keras_weights.py   # real Keras
    python examples/port_keras_weights.py --tiny                # CI, no Keras
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch

from pyg_tabular.interop import load_keras_weights, to_keras_weights
from pyg_tabular.nn.tabular import (
    AdvancedGraphFeatureLayer,
    GraphFeatureAggregation,
    RowAttention,
)

TOLERANCE = 1e-5


def keras_available() -> bool:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
        import kerasfactory.layers  # noqa: F401
    except ImportError:
        return False
    return keras.backend.backend() == "torch"


def port_real_keras(rows: int, features: int) -> None:
    import keras
    from kerasfactory import layers as kf

    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, features)).astype("float32")
    pairs = [
        (kf.GraphFeatureAggregation(embed_dim=8), GraphFeatureAggregation(8)),
        (
            kf.AdvancedGraphFeatureLayer(embed_dim=8, num_heads=2, hierarchical=True, num_groups=3),
            AdvancedGraphFeatureLayer(features, 8, 2, hierarchical=True, num_groups=3),
        ),
        (kf.RowAttention(feature_dim=features), RowAttention(features)),
    ]
    for theirs, ours in pairs:
        theirs(x)  # builds the Keras weights
        for variable in theirs.weights:  # trained-looking weights, not the init
            values = rng.normal(scale=0.5, size=tuple(variable.shape)).astype("float32")
            if variable.path.endswith("moving_variance"):
                values = np.abs(values) + 0.5  # a variance is positive
            variable.assign(values)
        ours(torch.zeros(1, features))  # materialises lazy parameters
        load_keras_weights(ours, theirs).eval()
        expected = np.asarray(keras.ops.convert_to_numpy(theirs(x, training=False)))
        got = ours(torch.from_numpy(x)).detach().numpy()
        diff = float(np.abs(expected - got).max())
        print(f"{type(ours).__name__:>26}: max |keras - ours| = {diff:.2e}")
        if diff > TOLERANCE:
            raise SystemExit(f"{type(ours).__name__} does not match Keras (diff {diff:.2e})")


def saved_keras_weights(features: int, embed_dim: int, seed: int) -> dict[str, np.ndarray]:
    # What {v.path: v.numpy() for v in layer.weights} saves for kerasfactory's
    # GraphFeatureAggregation with trained-looking weights, in Keras' layout.
    torch.manual_seed(seed)
    layer = GraphFeatureAggregation(embed_dim)
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.normal_()
    return to_keras_weights(layer, "graph_feature_aggregation")


def reference_gfa(x: np.ndarray, w: dict[str, np.ndarray], slope: float = 0.2) -> np.ndarray:
    # The layer's equations, straight from the Keras weights (no torch involved).
    prefix = "graph_feature_aggregation/"
    kernel, bias = w[prefix + "projection/kernel"][0], w[prefix + "projection/bias"]
    h = x[..., None] * kernel + bias  # [B, F, E]
    a = w[prefix + "attention_a"][:, 0]
    e = h @ a[: h.shape[-1]]  # a_1 · h_i
    scores = e[:, :, None] + (h @ a[h.shape[-1] :])[:, None, :] + w[prefix + "attention_bias"][0]
    scores = np.where(scores > 0, scores, slope * scores)
    alpha = np.exp(scores - scores.max(-1, keepdims=True))
    alpha /= alpha.sum(-1, keepdims=True)
    mixed = alpha @ h  # [B, F, E]
    out = mixed @ w[prefix + "out_proj/kernel"][:, 0] + w[prefix + "out_proj/bias"][0]
    return out + x


def port_saved_weights(rows: int, features: int, directory: str) -> None:
    path = os.path.join(directory, "gfa_keras_weights.npz")
    np.savez(path, **saved_keras_weights(features, embed_dim=8, seed=0))
    saved = dict(np.load(path))  # what a user ships from the Keras side
    ours = load_keras_weights(GraphFeatureAggregation(8), saved).eval()
    x = np.random.default_rng(1).normal(size=(rows, features)).astype("float32")
    got = ours(torch.from_numpy(x)).detach().numpy()
    diff = float(np.abs(reference_gfa(x.astype("float64"), saved) - got).max())
    print(f"GraphFeatureAggregation from {path}: max |reference - ours| = {diff:.2e}")
    if diff > TOLERANCE:
        raise SystemExit(f"ported weights do not reproduce the layer (diff {diff:.2e})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="small inputs, for CI")
    parser.add_argument("--out", default=None, help="where to write the weights file")
    args = parser.parse_args()
    rows, features = (16, 5) if args.tiny else (256, 20)
    if keras_available():
        port_real_keras(rows, features)
    else:
        import tempfile

        print("keras/kerasfactory not installed: porting a saved Keras weights file")
        with tempfile.TemporaryDirectory() as scratch:
            port_saved_weights(rows, features, args.out or scratch)


if __name__ == "__main__":
    main()
