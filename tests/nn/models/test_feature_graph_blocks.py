"""The transformer block and the CLS / attention readouts of FeatureGraphNet."""

import pytest
import torch
import torch.nn.functional as F

from pyg_tabular.data import fully_connected_edge_index
from pyg_tabular.nn.models import LAYER_KINDS, FeatureGraphNet, register_layer
from pyg_tabular.nn.models.layer_kind import LAYERS

CARDS = [4, 3]
SHAPES = [
    {"block": "transformer"},
    {"block": "transformer", "readout": "cls"},
    {"block": "transformer", "readout": "attention"},
    {"block": "residual", "readout": "cls"},
]


def _inputs(batch_size=6, seed=0):
    generator = torch.Generator().manual_seed(seed)
    numeric = torch.randn(batch_size, 3, generator=generator)
    categorical = torch.stack(
        [torch.randint(0, c, (batch_size,), generator=generator) for c in CARDS], dim=1
    )
    return numeric, categorical


def test_transformer_block_computes_its_formula():
    torch.manual_seed(0)
    model = FeatureGraphNet(3, CARDS, 2, channels=8, heads=2, block="transformer").eval()
    numeric, categorical = _inputs()
    x = model.encoder(numeric, categorical)
    for block in model.layers:
        h = block.norm(x)
        x = x + block.proj(block.conv(h, None))  # no ELU: the FFN is the nonlinearity
        value, gate = block.ffn.lin1(block.ffn_norm(x)).chunk(2, dim=-1)
        x = x + block.ffn.lin2(value * F.relu(gate))
    expected = model.head(model.final_norm(x).flatten(1))
    torch.testing.assert_close(model(numeric, categorical), expected)
    assert model.layers[0].ffn.lin2.in_features == 16  # ffn_factor 2 × 8 channels


def test_residual_block_is_unchanged():
    torch.manual_seed(0)
    model = FeatureGraphNet(3, CARDS, 2, channels=8, heads=2).eval()
    numeric, categorical = _inputs()
    x = model.encoder(numeric, categorical)
    for block in model.layers:
        x = block.norm(x + block.proj(F.elu(block.conv(x, None))))
    torch.testing.assert_close(model(numeric, categorical), model.head(x.flatten(1)))
    assert model.final_norm is None and model.layers[0].ffn is None


def test_cls_readout_is_a_virtual_node_linked_to_every_feature():
    torch.manual_seed(0)
    model = FeatureGraphNet(3, CARDS, 2, channels=8, heads=2, readout="cls").eval()
    numeric, categorical = _inputs()
    x = torch.cat([model.encoder(numeric, categorical), model.cls.expand(6, 1, -1)], dim=1)
    for block in model.layers:
        x = block.norm(x + block.proj(F.elu(block.conv(x, None))))
    torch.testing.assert_close(model(numeric, categorical), model.head(x[:, 5]))
    out, attention = model(numeric, categorical, return_attention_weights=True)
    # Feature-to-feature attention: the CLS node's share is left out.
    assert attention[0].shape == (6, 2, 5, 5)
    assert (attention[0].sum(-1) < 1).all()
    assert model.feature_attention(numeric, categorical).shape == (5, 5)


def test_cls_readout_with_a_user_template_links_the_virtual_node():
    torch.manual_seed(0)
    chain = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])
    for layer in ("feature-gat", "gatconv"):
        model = FeatureGraphNet(3, CARDS, layer=layer, readout="cls", edge_index=chain).eval()
        assert model.template.size(1) == 4 + 2 * 5 + 1
        numeric, categorical = _inputs(2)
        out = model(numeric, categorical)
        changed = numeric.clone()
        changed[:, 0] += 1.0  # feature 0 has no in-edge from the chain but reaches CLS
        assert not torch.allclose(model(changed, categorical), out)


def test_attention_readout_pools_present_nodes_by_softmax():
    torch.manual_seed(0)
    model = FeatureGraphNet(3, CARDS, 2, channels=8, heads=2, readout="attention").eval()
    numeric, categorical = _inputs()
    numeric[0, 2] = float("nan")
    present = ~torch.isnan(torch.cat([numeric, torch.zeros(6, 2)], dim=1))
    x = model.encoder(numeric.nan_to_num(0.0), categorical)
    adj = present.unsqueeze(1).expand(-1, 5, -1)
    for block in model.layers:
        x = block.norm(x + block.proj(F.elu(block.conv(x, adj))))
    readout = model.attention_readout
    score = readout.score(torch.tanh(readout.lin(x))).squeeze(-1)
    alpha = torch.softmax(score.masked_fill(~present, float("-inf")), dim=-1)
    assert alpha[0, 2] == 0
    pooled = (alpha.unsqueeze(-1) * x).sum(1)
    torch.testing.assert_close(model(numeric, categorical), model.head(pooled))


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("options", SHAPES)
def test_batch_equals_one_row_at_a_time(layer, options):
    torch.manual_seed(0)
    model = FeatureGraphNet(3, CARDS, 2, layer=layer, channels=8, heads=2, **options).eval()
    numeric, categorical = _inputs(5)
    numeric[1, 0] = float("nan")
    batched = model(numeric, categorical)
    single = torch.cat([model(numeric[i : i + 1], categorical[i : i + 1]) for i in range(5)])
    torch.testing.assert_close(batched, single, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("options", SHAPES)
def test_an_absent_feature_changes_nothing(layer, options):
    torch.manual_seed(0)
    model = FeatureGraphNet(3, CARDS, 2, layer=layer, channels=8, heads=2, **options).eval()
    numeric, categorical = _inputs(4)
    numeric[0, 1] = float("nan")
    out, attention = model(numeric, categorical, return_attention_weights=True)
    assert torch.isfinite(out).all()
    assert (attention[-1][0, :, :, 1] == 0).all()
    rows = torch.tensor([1, 2, 3])
    torch.testing.assert_close(model(numeric[rows], categorical[rows]), out[rows])


@pytest.mark.parametrize("options", SHAPES)
def test_gradient_reaches_every_parameter(options):
    torch.manual_seed(0)
    model = FeatureGraphNet(3, CARDS, 2, channels=8, heads=2, dropout=0.1, **options)
    numeric, categorical = _inputs(16)
    model(numeric, categorical).square().sum().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


@pytest.mark.parametrize("options", SHAPES)
def test_an_empty_batch_gives_an_empty_output(options):
    model = FeatureGraphNet(3, CARDS, 2, channels=8, heads=2, **options)
    numeric, categorical = _inputs(0)
    assert model(numeric, categorical).shape == (0, 2)


@pytest.mark.parametrize("options", SHAPES)
def test_a_sparse_conv_gives_the_dense_twins_function_in_every_shape(options):
    # FeatureGATConv (message passing on the batched graph) registered as a
    # kind: with the dense twin's weights the whole network computes the same.
    from pyg_tabular.nn.conv import FeatureGATConv
    from pyg_tabular.nn.dense import DenseFeatureGATConv

    def sparse(channels, heads, dropout):
        return FeatureGATConv(channels, channels, heads, dropout=dropout, add_self_loops=False)

    register_layer("test-sparse-feature-gat", sparse)
    try:
        torch.manual_seed(0)
        dense = FeatureGraphNet(3, CARDS, 2, channels=8, heads=2, **options).eval()
        torch.manual_seed(0)
        mine = FeatureGraphNet(
            3, CARDS, 2, layer="test-sparse-feature-gat", channels=8, heads=2, **options
        ).eval()
        assert isinstance(dense.layers[0].conv, DenseFeatureGATConv)
        mine.load_state_dict(dense.state_dict())
        numeric, categorical = _inputs(4)
        numeric[2, 0] = float("nan")
        torch.testing.assert_close(
            mine(numeric, categorical), dense(numeric, categorical), atol=1e-5, rtol=1e-4
        )
    finally:
        del LAYER_KINDS["test-sparse-feature-gat"]


def test_repr_names_the_options_that_differ_from_the_defaults():
    model = FeatureGraphNet(3, CARDS, block="transformer", readout="cls")
    assert repr(model) == (
        "FeatureGraphNet(5, 1, layer='feature-gat', num_layers=2, channels=16, heads=4, "
        "block='transformer', readout='cls')"
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"block": "dense"}, "block"),
        ({"ffn_factor": 0}, "ffn_factor"),
        ({"ffn_factor": float("nan")}, "ffn_factor"),
        ({"ffn_factor": True}, "ffn_factor"),
        ({"readout": "max"}, "readout"),
    ],
)
def test_validation_errors_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FeatureGraphNet(3, CARDS, **kwargs)


def test_user_template_without_cls_is_unchanged():
    template = fully_connected_edge_index(5, self_loops=False)
    model = FeatureGraphNet(3, CARDS, edge_index=template, block="transformer")
    assert torch.equal(model.template, template)
