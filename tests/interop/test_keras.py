import numpy as np
import pytest
import torch

from pyg_tabular.interop import (
    keras_state_dict,
    keras_weight_table,
    load_keras_weights,
    to_keras_weights,
)
from pyg_tabular.nn.tabular import (
    AdvancedGraphFeatureLayer,
    GatedFeatureFusion,
    GraphFeatureAggregation,
    RowAttention,
)

F = 5


def _modules():
    hier = AdvancedGraphFeatureLayer(F, 4, 2, hierarchical=True, num_groups=3)
    return [
        GraphFeatureAggregation(4),
        AdvancedGraphFeatureLayer(F, 4, 2),
        hier,
        GatedFeatureFusion(F),
        RowAttention(F),
    ]


def _as_keras(module, prefix="layer"):
    # Writes a module's weights the way Keras stores them: (in, out) kernels,
    # (n, 1) attention kernels, numbered repeated sublayers.
    state = module.state_dict()
    seen: dict[str, int] = {}
    saved = {}
    for ours, sublayer, leaf, layout, _ in keras_weight_table(module):
        value = state[ours].numpy()
        if layout == "T":
            value = value.T
        elif layout == "flat":
            value = value.reshape(-1, 1) if leaf != "attention_bias" else value
        name = sublayer
        if sublayer and leaf in ("kernel", "gamma"):
            count = seen.get(sublayer, 0)
            seen[sublayer] = count + 1
        if sublayer and seen.get(sublayer, 1) > 1:
            name = f"{sublayer}_{seen[sublayer] - 1}"
        path = f"{prefix}/{name}/{leaf}" if sublayer else f"{prefix}/{leaf}"
        saved[path] = value
    return saved


@pytest.mark.parametrize("index", range(5))
def test_round_trip_through_the_keras_layout_restores_every_weight(index):
    torch.manual_seed(index)
    source = _modules()[index]
    torch.manual_seed(100 + index)
    target = _modules()[index]
    for value in target.state_dict().values():
        if value.is_floating_point():
            value.add_(1.0)  # make sure every entry really changes
    saved = _as_keras(source)
    if isinstance(source, RowAttention):
        assert "layer/dense/kernel" in saved and "layer/dense_1/kernel" in saved
    load_keras_weights(target, saved)
    for name, value in source.state_dict().items():
        if name.endswith("num_batches_tracked"):
            continue
        torch.testing.assert_close(target.state_dict()[name], value, msg=name)


def test_ported_weights_give_the_same_function():
    torch.manual_seed(0)
    source, target = AdvancedGraphFeatureLayer(F, 4, 2), AdvancedGraphFeatureLayer(F, 4, 2)
    load_keras_weights(target, _as_keras(source))
    x = torch.randn(7, F)
    torch.testing.assert_close(target.eval()(x), source.eval()(x))


def test_errors_name_the_weight_and_shapes():
    module = GraphFeatureAggregation(4)
    saved = _as_keras(module)
    wrong = dict(saved, **{"layer/out_proj/kernel": np.zeros((3, 1), "float32")})
    with pytest.raises(ValueError, match=r"'layer/out_proj/kernel'\] has shape \(3, 1\)"):
        keras_state_dict(module, wrong)
    extra = dict(saved, **{"layer/extra/kernel": np.zeros((1, 1))})
    with pytest.raises(ValueError, match="'layer/extra/kernel'.*no place"):
        keras_state_dict(module, extra)
    partial = {k: v for k, v in saved.items() if "attention_bias" not in k}
    with pytest.raises(ValueError, match=r"no value for \['attention_bias'\]"):
        keras_state_dict(module, partial)
    with pytest.raises(TypeError, match="module must be"):
        keras_state_dict(torch.nn.Linear(2, 2), saved)
    with pytest.raises(TypeError, match="weights must be"):
        keras_state_dict(module, 3)


def test_lazy_module_must_be_materialised_first():
    lazy = AdvancedGraphFeatureLayer(None, 4, 2)
    saved = _as_keras(AdvancedGraphFeatureLayer(F, 4, 2))
    with pytest.raises(ValueError, match="not materialised"):
        load_keras_weights(lazy, saved)
    lazy(torch.zeros(1, F))
    load_keras_weights(lazy, saved)


def test_matches_real_keras_layer():
    keras = pytest.importorskip("keras")
    kf = pytest.importorskip("kerasfactory.layers")
    if keras.backend.backend() != "torch":
        pytest.skip("needs KERAS_BACKEND=torch")
    x = np.random.default_rng(0).normal(size=(6, F)).astype("float32")
    theirs = kf.GraphFeatureAggregation(embed_dim=4)
    theirs(x)
    ours = load_keras_weights(GraphFeatureAggregation(4), theirs).eval()
    expected = np.asarray(keras.ops.convert_to_numpy(theirs(x)))
    np.testing.assert_allclose(ours(torch.from_numpy(x)).detach().numpy(), expected, atol=1e-5)


def test_lazy_hierarchical_module_names_the_unbuilt_groups():
    lazy = AdvancedGraphFeatureLayer(None, 4, 2, hierarchical=True, num_groups=3)
    saved = _as_keras(AdvancedGraphFeatureLayer(F, 4, 2, hierarchical=True, num_groups=3))
    with pytest.raises(ValueError, match="not materialised"):
        load_keras_weights(lazy, saved)
    lazy(torch.zeros(1, F))
    load_keras_weights(lazy, saved)
    torch.testing.assert_close(
        lazy.grouping_matrix, torch.as_tensor(saved["layer/grouping_matrix"])
    )


@pytest.mark.parametrize("index", range(5))
def test_to_keras_weights_writes_what_the_keras_layout_helper_writes(index):
    torch.manual_seed(index)
    module = _modules()[index]
    exported = to_keras_weights(module, "layer")
    expected = _as_keras(module)
    assert list(exported) == list(expected)
    for path, value in expected.items():
        np.testing.assert_array_equal(exported[path], value, err_msg=path)
