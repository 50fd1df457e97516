import pytest
import torch

from pyg_tabular.data import fully_connected_edge_index
from pyg_tabular.nn.models import LAYER_KINDS, FeatureGraphNet, register_layer
from pyg_tabular.nn.models.layer_kind import DEPRECATED_LAYERS, LAYERS

CARDS = [4, 3]


def _inputs(batch_size=6, seed=0):
    generator = torch.Generator().manual_seed(seed)
    numeric = torch.randn(batch_size, 3, generator=generator)
    categorical = torch.stack(
        [torch.randint(0, c, (batch_size,), generator=generator) for c in CARDS], dim=1
    )
    return numeric, categorical


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("out_channels", [1, 3])
def test_shapes_and_attention(layer, out_channels):
    torch.manual_seed(0)
    model = FeatureGraphNet(3, CARDS, out_channels, layer=layer, channels=8, heads=2)
    numeric, categorical = _inputs()
    out, attention = model(numeric, categorical, return_attention_weights=True)
    assert out.shape == (6, out_channels)
    heads = 2
    assert [a.shape for a in attention] == [(6, heads, 5, 5)] * 2
    for alpha in attention:
        assert torch.allclose(alpha.sum(-1), torch.ones(6, heads, 5), atol=1e-5)
    matrix = model.feature_attention(numeric, categorical)
    assert matrix.shape == (5, 5)
    assert torch.allclose(matrix.sum(-1), torch.ones(5), atol=1e-5)


@pytest.mark.parametrize("layer", ["feature-gat", "feature-diff-split", "gatconv"])
@pytest.mark.parametrize("readout", ["flatten", "mean"])
def test_an_empty_batch_gives_an_empty_output(layer, readout):
    # A DDP rank can get an empty slice of a small global batch.
    model = FeatureGraphNet(3, CARDS, 2, layer=layer, channels=8, heads=2, readout=readout)
    numeric, categorical = _inputs(0)
    out = model(numeric, categorical)
    assert out.shape == (0, 2)
    out.sum().backward()


@pytest.mark.parametrize("layer", LAYERS)
def test_gradient_reaches_every_parameter(layer):
    torch.manual_seed(0)
    model = FeatureGraphNet(3, CARDS, 2, layer=layer, channels=8, heads=2, dropout=0.1)
    numeric, categorical = _inputs(16)
    model(numeric, categorical).square().sum().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all(), name
    assert any(p.grad.abs().sum() > 0 for p in model.encoder.embeddings.parameters())


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("readout", ["flatten", "mean"])
def test_batch_equals_one_row_at_a_time(layer, readout):
    torch.manual_seed(0)
    model = FeatureGraphNet(3, CARDS, 2, layer=layer, channels=8, heads=2, readout=readout)
    model.eval()
    numeric, categorical = _inputs(5)
    batched = model(numeric, categorical)
    single = torch.cat([model(numeric[i : i + 1], categorical[i : i + 1]) for i in range(5)])
    assert torch.allclose(batched, single, atol=1e-5)


@pytest.mark.parametrize("layer", LAYERS)
def test_missing_numerics_are_absent_nodes(layer):
    torch.manual_seed(0)
    model = FeatureGraphNet(3, CARDS, 1, layer=layer, channels=8, heads=2)
    model.eval()
    numeric, categorical = _inputs(4)
    numeric[0, 1] = float("nan")
    numeric[2] = float("nan")  # a row without any numeric value
    out, attention = model(numeric, categorical, return_attention_weights=True)
    assert torch.isfinite(out).all()
    # Nobody attends to an absent feature.
    assert (attention[-1][0, :, :, 1] == 0).all()
    # Rows without missing values are unaffected by other rows' NaNs.
    clean = model(numeric[1:2], categorical[1:2])
    assert torch.allclose(clean, out[1:2], atol=1e-5)


def test_missing_gradient_is_finite():
    torch.manual_seed(0)
    model = FeatureGraphNet(3, CARDS, 1, layer="feature-gat", channels=8, heads=2)
    numeric, categorical = _inputs(4)
    numeric[:, 0] = float("nan")
    model(numeric, categorical).sum().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is None or torch.isfinite(parameter.grad).all(), name


def test_unknown_category_code_zero():
    torch.manual_seed(0)
    model = FeatureGraphNet(3, CARDS, 1).eval()
    numeric, _ = _inputs(2)
    out = model(numeric, torch.zeros(2, 2, dtype=torch.long))
    assert torch.isfinite(out).all()
    with pytest.raises(ValueError, match="categorical column 1 holds code 3"):
        model(numeric, torch.tensor([[0, 3], [0, 0]]))


def test_numeric_embedding_and_options():
    torch.manual_seed(0)
    numeric, categorical = _inputs(3)
    shared = FeatureGraphNet(3, CARDS, numeric_embedding="shared", head_channels=0)
    assert shared.encoder.weight.shape == (1, 16)
    assert shared(numeric, categorical).shape == (3, 1)
    only_numeric = FeatureGraphNet(3, num_layers=0)
    assert only_numeric(numeric).shape == (3, 1)
    only_categorical = FeatureGraphNet(0, CARDS, 2)
    assert only_categorical(None, categorical).shape == (3, 2)
    hier = FeatureGraphNet(3, CARDS, layer="feature-diff-split", num_groups=3)
    assert hier.layers[0].pool.num_groups == 3
    assert FeatureGraphNet(3, CARDS, num_groups="auto").layers[0].pool.num_groups == 2
    assert FeatureGraphNet(3, CARDS).layers[0].pool is None


def test_user_template():
    torch.manual_seed(0)
    template = fully_connected_edge_index(5, self_loops=False)
    numeric, categorical = _inputs(3)
    for layer in ("feature-gat", "gatconv"):
        model = FeatureGraphNet(3, CARDS, layer=layer, edge_index=template)
        _, attention = model(numeric, categorical, return_attention_weights=True)
        diagonal = attention[0].diagonal(dim1=-2, dim2=-1)
        assert (diagonal == 0).all()


def _same_model(a, b, numeric, categorical):
    state_a, state_b = a.state_dict(), b.state_dict()
    assert list(state_a) == list(state_b)
    for key in state_a:
        assert torch.equal(state_a[key], state_b[key]), key
    assert torch.equal(a.eval()(numeric, categorical), b.eval()(numeric, categorical))


# The old name, the kind it stands for and the options it implied.
RENAMED = [
    ("gat", "feature-gat", {}),
    ("diff", "feature-diff", {}),
    ("gfa", "feature-gat", {"heads": 1}),
    ("advanced", "feature-diff-split", {}),
    ("advanced-hier", "feature-diff-split", {"num_groups": 2}),
    ("gatv2", "gatv2conv", {}),
    ("transformer", "transformerconv", {}),
]


@pytest.mark.parametrize("old, new, options", RENAMED)
def test_old_layer_names_build_the_same_model_and_name_the_new_kind(old, new, options):
    numeric, categorical = _inputs(4)
    torch.manual_seed(0)
    with pytest.warns(FutureWarning, match=f"use layer='{new}'"):
        legacy = FeatureGraphNet(3, CARDS, layer=old, channels=8)
    torch.manual_seed(0)
    renamed = FeatureGraphNet(3, CARDS, layer=new, channels=8, **options)
    assert legacy.layer == new and repr(legacy) == repr(renamed)
    _same_model(legacy, renamed, numeric, categorical)


def test_every_old_name_is_covered():
    assert {old for old, _, _ in RENAMED} == set(DEPRECATED_LAYERS)
    assert not set(DEPRECATED_LAYERS) & set(LAYERS)


def test_kinds_build_the_conv_they_are_named_after():
    from torch_geometric.nn import GATConv, GATv2Conv, TransformerConv

    from pyg_tabular.nn.dense import DenseFeatureDiffGATConv, DenseFeatureGATConv

    expected = {
        "feature-gat": DenseFeatureGATConv,
        "feature-diff": DenseFeatureDiffGATConv,
        "feature-diff-split": DenseFeatureDiffGATConv,
        "gatconv": GATConv,
        "gatv2conv": GATv2Conv,
        "transformerconv": TransformerConv,
    }
    assert set(expected) == set(LAYERS)
    for layer, conv_type in expected.items():
        model = FeatureGraphNet(3, CARDS, layer=layer, channels=8, heads=2)
        assert type(model.layers[0].conv) is conv_type, layer
    split = FeatureGraphNet(3, CARDS, layer="feature-diff-split", channels=8, heads=2)
    assert split.layers[0].conv.out_channels == 4 and split.layers[0].proj is None


def test_a_registered_conv_plugs_into_the_same_block():
    from torch_geometric.nn import GATConv

    def build(channels, heads, dropout):
        # GATConv with its own defaults (self-loops added): the user's choice.
        return GATConv(channels, channels, heads, dropout=dropout)

    register_layer("user-gatconv-loops", build, description="GATConv with self-loops")
    try:
        with pytest.raises(ValueError, match="already registered"):
            register_layer("user-gatconv-loops", build)
        with pytest.raises(ValueError, match="deprecated alias"):
            register_layer("gfa", build)
        torch.manual_seed(0)
        mine = FeatureGraphNet(3, CARDS, 2, layer="user-gatconv-loops", channels=8, heads=2)
        torch.manual_seed(0)
        ours = FeatureGraphNet(3, CARDS, 2, layer="gatconv", channels=8, heads=2)
        # Same parameters and the same block around the conv (projection from
        # the inferred width H*C back to C, LayerNorm, readout).
        assert [p.shape for p in mine.parameters()] == [p.shape for p in ours.parameters()]
        ours.load_state_dict(mine.state_dict())
        numeric, categorical = _inputs(3)
        # The complete template already holds the self-loops, so GATConv's
        # own self-loop handling gives the same graph and the same function.
        torch.testing.assert_close(
            mine.eval()(numeric, categorical), ours.eval()(numeric, categorical)
        )
    finally:
        del LAYER_KINDS["user-gatconv-loops"]


def test_reset_parameters_is_deterministic():
    torch.manual_seed(1)
    a = FeatureGraphNet(3, CARDS, layer="feature-diff-split", num_groups=2)
    torch.manual_seed(1)
    b = FeatureGraphNet(3, CARDS, layer="feature-diff-split", num_groups=2)
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(p, q), name


def test_repr():
    model = FeatureGraphNet(3, CARDS, 2, layer="feature-diff", heads=2)
    assert repr(model) == (
        "FeatureGraphNet(5, 2, layer='feature-diff', num_layers=2, channels=16, heads=2)"
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_numeric": -1}, "num_numeric"),
        ({"num_numeric": 0, "cardinalities": ()}, "at least one feature"),
        ({"cardinalities": [0]}, "cardinalities"),
        ({"cardinalities": "ab"}, "cardinalities"),
        ({"out_channels": 0}, "out_channels"),
        ({"channels": 0}, "channels"),
        ({"num_layers": -1}, "num_layers"),
        ({"layer": "gcn"}, "layer must be one of"),
        ({"heads": 0}, "heads"),
        ({"layer": "feature-diff-split", "channels": 10, "heads": 4}, "divisible"),
        ({"dropout": 1.0}, "dropout"),
        ({"numeric_embedding": "one"}, "numeric_embedding"),
        ({"readout": "max"}, "readout"),
        ({"head_channels": -1}, "head_channels"),
        ({"num_groups": 0}, "num_groups"),
        ({"num_groups": "many"}, "num_groups"),
        ({"edge_index": torch.tensor([[0], [9]])}, "edge_index"),
    ],
)
def test_validation_errors_name_the_argument(kwargs, match):
    arguments = {"num_numeric": 3, "cardinalities": CARDS, **kwargs}
    with pytest.raises(ValueError, match=match):
        FeatureGraphNet(**arguments)


def test_input_validation():
    model = FeatureGraphNet(3, CARDS)
    numeric, categorical = _inputs(2)
    with pytest.raises(ValueError, match="numeric must be a float tensor with 3 columns"):
        model(numeric[:, :2], categorical)
    with pytest.raises(ValueError, match="categorical is required"):
        model(numeric)
    with pytest.raises(ValueError, match="categorical must be an integer tensor"):
        model(numeric, categorical.float())
    with pytest.raises(ValueError, match="numeric must be finite"):
        model(numeric.fill_(float("inf")), categorical)
    with pytest.raises(ValueError, match="layer must index"):
        model.feature_attention(numeric.zero_(), categorical, layer=5)


def test_training_on_breast_cancer_lowers_the_loss():
    pytest.importorskip("sklearn")
    from pyg_tabular.datasets import load_dataset

    dataset = load_dataset("breast_cancer")
    train = dataset.index("train")
    numeric, target = dataset.numeric[train], dataset.target[train].float()
    torch.manual_seed(0)
    model = FeatureGraphNet(dataset.num_numeric, dataset.cardinalities, channels=8, heads=2)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(8):
        for chunk in torch.randperm(train.numel()).split(128):
            optimizer.zero_grad()
            out = model(numeric[chunk], dataset.categorical[train][chunk]).squeeze(-1)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(out, target[chunk])
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
    assert sum(losses[-3:]) / 3 < 0.5 * sum(losses[:3]) / 3


@pytest.mark.parametrize("readout", ["flatten", "mean", "cls", "attention"])
def test_an_ensemble_shares_the_graph_and_returns_one_prediction_per_member(readout):
    numeric, categorical = _inputs(6)
    numeric[0, 1] = float("nan")
    single = FeatureGraphNet(3, CARDS, 2, channels=8, heads=2, readout=readout)
    torch.manual_seed(0)
    model = FeatureGraphNet(3, CARDS, 2, channels=8, heads=2, readout=readout, ensemble_size=4)
    assert model.ensemble_size == 4 and single.ensemble_size is None
    out = model(numeric, categorical)
    assert out.shape == (6, 4, 2)
    assert not torch.allclose(out[:, 0], out[:, 1])
    # With the ensemble's shared weights, a single model has its attention:
    # the members share it, so it is each member's and their mean.
    shared = {k: v for k, v in model.state_dict().items() if not k.startswith("head.")}
    missing, unexpected = single.load_state_dict(shared, strict=False)
    assert not unexpected and all(k.startswith("head.") for k in missing)
    torch.testing.assert_close(
        model.feature_attention(numeric, categorical),
        single.feature_attention(numeric, categorical),
    )
    # One row at a time gives the same predictions.
    model.eval()
    rows = torch.cat([model(numeric[i : i + 1], categorical[i : i + 1]) for i in range(6)])
    torch.testing.assert_close(rows, model(numeric, categorical), atol=1e-5, rtol=1e-5)


def test_an_ensemble_trains_every_member_through_the_shared_layers():
    from pyg_tabular.training import member_loss

    torch.manual_seed(0)
    model = FeatureGraphNet(3, CARDS, 1, channels=8, heads=2, ensemble_size=3, dropout=0.1)
    numeric, categorical = _inputs(16)
    target = (numeric[:, 0] > 0).float()
    member_loss(model(numeric, categorical), target, "binary", 3).backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    assert model(*_inputs(0)).shape == (0, 3, 1)
    assert repr(model).endswith("heads=2, ensemble_size=3)")
    with pytest.raises(ValueError, match=r"ensemble_size must be .*\(got 0\)"):
        FeatureGraphNet(3, CARDS, ensemble_size=0)
