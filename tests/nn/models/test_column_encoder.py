import pytest
import torch
from rtdl_num_embeddings import PeriodicEmbeddings, PiecewiseLinearEmbeddings, compute_bins

from pyg_tabular.nn.models import ColumnEncoder, FeatureGraphNet, fit_bins
from pyg_tabular.nn.models.column_encoder import TREE_BIN_OPTIONS

CARDS = [4, 3]


def _numeric(rows=200, seed=0):
    return torch.randn(rows, 3, generator=torch.Generator().manual_seed(seed))


def test_fit_bins_matches_rtdl_on_complete_columns():
    numeric = _numeric()
    ours = fit_bins(numeric, n_bins=8)
    theirs = compute_bins(numeric.double(), n_bins=8)
    assert len(ours) == 3
    for a, b in zip(ours, theirs):
        assert torch.allclose(a, b.float())


def test_fit_bins_skips_missing_cells_and_handles_degenerate_columns():
    numeric = _numeric(50)
    numeric[::3, 0] = float("nan")
    numeric[:, 1] = 2.0  # constant
    numeric[:, 2] = float("nan")  # never observed
    numeric[0, 2] = 1.0
    bins = fit_bins(numeric, n_bins=8)
    observed = numeric[:, 0][~torch.isnan(numeric[:, 0])]
    assert torch.allclose(bins[0], compute_bins(observed.double()[:, None], n_bins=8)[0].float())
    assert bins[1].tolist() == [1.5, 2.5]
    assert bins[2].tolist() == [0.5, 1.5]
    two_values = fit_bins(torch.tensor([[0.0], [1.0], [0.0], [1.0]]), n_bins=8)[0]
    assert two_values[0] == 0.0 and two_values[-1] == 1.0


def test_fit_bins_edges_are_strictly_increasing_in_float32():
    # Many rows on two neighbouring float32 values: float64 quantiles between
    # them round back onto them, which must not give repeated edges.
    low = torch.tensor(1.0)
    high = torch.nextafter(low, torch.tensor(2.0))
    column = torch.cat([low.repeat(50), high.repeat(50), torch.linspace(2, 3, 7)])
    for n_bins in (4, 8, 48):
        edges = fit_bins(column.unsqueeze(1), n_bins=n_bins)[0]
        assert edges.dtype == torch.float32 and (edges[1:] > edges[:-1]).all()
        ColumnEncoder(1, [], 4, numeric_embedding="piecewise-linear", bins=[edges])


def test_target_aware_bins_split_where_the_class_changes():
    # The class flips at x = 0.7 and nowhere else: a classification tree needs
    # one threshold there, while quantile bins spread evenly.
    x = torch.linspace(0.0, 1.0, 2001).unsqueeze(1)
    y = (x[:, 0] > 0.7).long()
    quantile = fit_bins(x, n_bins=16)[0]
    tree = fit_bins(x, n_bins=16, y=y)[0]
    assert quantile.numel() == 17
    assert tree.tolist() == pytest.approx([0.0, 0.7, 1.0], abs=1e-3)


def test_target_aware_bins_are_narrow_where_a_regression_target_moves():
    # Flat on [0, 0.5], steep after: the regression tree puts its bins there.
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(4000, 1, generator=generator)
    y = torch.where(x[:, 0] < 0.5, 0.0, 10.0 * (x[:, 0] - 0.5) ** 2)
    quantile = fit_bins(x, n_bins=16)[0][1:-1]
    tree = fit_bins(x, n_bins=16, y=y)[0][1:-1]
    assert (quantile > 0.5).float().mean() == pytest.approx(0.5, abs=0.1)
    assert (tree > 0.5).float().mean() >= 0.9
    # Each column against its own observed rows: the same as rtdl's trees.
    theirs = compute_bins(
        x.double(), n_bins=16, tree_kwargs=TREE_BIN_OPTIONS, y=y.double(), regression=True
    )[0]
    torch.testing.assert_close(fit_bins(x, n_bins=16, y=y)[0], theirs.float())


def test_target_aware_bins_skip_the_missing_cells_of_each_column():
    generator = torch.Generator().manual_seed(1)
    numeric = torch.rand(600, 2, generator=generator)
    y = (numeric[:, 0] + numeric[:, 1] > 1.0).long()
    numeric[::4, 0] = float("nan")
    bins = fit_bins(numeric, n_bins=8, y=y, tree_kwargs={"min_samples_leaf": 20})
    kept = ~torch.isnan(numeric[:, 0])
    expected = compute_bins(
        numeric[kept, :1].double(),
        n_bins=8,
        tree_kwargs={"min_samples_leaf": 20},
        y=y[kept],
        regression=False,
    )[0]
    torch.testing.assert_close(bins[0], expected.float())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"y": torch.zeros(3)}, r"y must hold one target per row of numeric \(\[4\]"),
        ({"y": torch.tensor([0.5, 1.0, 0.0, 1.0]), "regression": False}, "class indices"),
        ({"y": torch.tensor([0.0, 1.0, float("nan"), 1.0])}, "y"),
        ({"regression": True}, "pass y as well"),
        ({"y": torch.zeros(4), "tree_kwargs": [1]}, "tree_kwargs must be a dict"),
    ],
)
def test_target_aware_bins_reject_bad_targets(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fit_bins(torch.rand(4, 1), n_bins=2, **kwargs)


@pytest.mark.parametrize(
    "numeric, n_bins, match",
    [
        (torch.zeros(4, 2, dtype=torch.long), 8, "numeric must be a float tensor"),
        (torch.zeros(4), 8, "numeric must be a float tensor"),
        (torch.tensor([[float("inf")], [0.0]]), 8, "numeric"),
        (torch.zeros(4, 1), 1, "n_bins"),
    ],
)
def test_fit_bins_rejects_bad_input(numeric, n_bins, match):
    with pytest.raises(ValueError, match=match):
        fit_bins(numeric, n_bins=n_bins)


def test_linear_embedding_is_the_affine_map_and_per_feature_is_its_old_name():
    torch.manual_seed(0)
    encoder = ColumnEncoder(3, CARDS, 8, numeric_embedding="per_feature")
    assert encoder.numeric_embedding == "linear"
    numeric = _numeric(5)
    categorical = torch.tensor([[1, 2]] * 5)
    out = encoder(numeric, categorical)
    assert out.shape == (5, 5, 8)
    expected = numeric.unsqueeze(-1) * encoder.weight + encoder.bias
    assert torch.allclose(out[:, :3], expected)
    assert torch.equal(out[:, 3], encoder.embeddings[0].weight[1].expand(5, -1))


def test_periodic_and_piecewise_are_rtdl_modules_with_the_same_weights():
    torch.manual_seed(0)
    numeric = _numeric()
    categorical = torch.zeros(200, 2, dtype=torch.long)
    bins = fit_bins(numeric, n_bins=8)
    periodic = ColumnEncoder(3, CARDS, 8, numeric_embedding="periodic")
    reference = PeriodicEmbeddings(3, 8, lite=False)
    reference.load_state_dict(periodic.numeric.state_dict())
    assert torch.allclose(periodic(numeric, categorical)[:, :3], reference(numeric))

    piecewise = ColumnEncoder(3, CARDS, 8, numeric_embedding="piecewise-linear", bins=bins)
    with torch.no_grad():  # leave the zero start, so that the bins matter
        piecewise.numeric.linear.weight.normal_()
    reference = PiecewiseLinearEmbeddings(bins, 8, activation=False, version="B")
    reference.load_state_dict(piecewise.numeric.state_dict())
    assert torch.allclose(piecewise(numeric, categorical)[:, :3], reference(numeric))


def test_piecewise_starts_as_a_linear_embedding():
    # Version B: the piecewise part starts at zero, so the embedding is affine in x.
    torch.manual_seed(0)
    numeric = _numeric()
    encoder = ColumnEncoder(3, [], 8, numeric_embedding="piecewise-linear", bins=fit_bins(numeric))
    out = encoder(numeric, torch.zeros(200, 0, dtype=torch.long))
    twice = encoder(2 * numeric, torch.zeros(200, 0, dtype=torch.long))
    zero = encoder(torch.zeros_like(numeric), torch.zeros(200, 0, dtype=torch.long))
    assert torch.allclose(twice - zero, 2 * (out - zero), atol=1e-5)
    encoder.numeric.linear.weight.data.normal_()
    out = encoder(numeric, torch.zeros(200, 0, dtype=torch.long))
    twice = encoder(2 * numeric, torch.zeros(200, 0, dtype=torch.long))
    assert not torch.allclose(twice - zero, 2 * (out - zero), atol=1e-3)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"numeric_embedding": "piecewise-linear"}, "needs bins"),
        ({"numeric_embedding": "linear", "bins": [torch.tensor([0.0, 1.0])] * 3}, "bins apply"),
        ({"numeric_embedding": "piecewise-linear", "bins": [torch.tensor([0.0, 1.0])]}, "one edge"),
        (
            {"numeric_embedding": "piecewise-linear", "bins": [torch.tensor([1.0, 0.0])] * 3},
            r"bins\[0\] must be",
        ),
        (
            {"numeric_embedding": "piecewise-linear", "bins": [torch.tensor([0.0])] * 3},
            r"bins\[0\] must be",
        ),
        ({"numeric_embedding": "quantile"}, "numeric_embedding"),
    ],
)
def test_encoder_errors_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FeatureGraphNet(3, CARDS, **kwargs)


@pytest.mark.parametrize("embedding", ["linear", "periodic", "piecewise-linear"])
def test_every_embedding_with_categoricals_and_missing_cells(embedding):
    torch.manual_seed(0)
    numeric = _numeric(8)
    bins = fit_bins(numeric) if embedding == "piecewise-linear" else None
    model = FeatureGraphNet(3, CARDS, 2, numeric_embedding=embedding, bins=bins).eval()
    categorical = torch.tensor([[1, 2], [0, 0]] * 4)
    numeric[0, 1] = float("nan")
    out = model(numeric, categorical)
    assert torch.isfinite(out).all()
    # The missing cell is an absent node: its value never matters.
    other = numeric.clone()
    other[0, 1] = float("nan")
    assert torch.allclose(model(other, categorical), out)
    # A batch equals one row at a time.
    single = torch.cat([model(numeric[i : i + 1], categorical[i : i + 1]) for i in range(8)])
    assert torch.allclose(out, single, atol=1e-5)
    out.sum().backward()


def test_bins_are_part_of_the_state():
    torch.manual_seed(0)
    numeric = _numeric()
    model = FeatureGraphNet(3, CARDS, numeric_embedding="piecewise-linear", bins=fit_bins(numeric))
    categorical = torch.zeros(200, 2, dtype=torch.long)
    model.encoder.numeric.linear.weight.data.normal_()
    copy = FeatureGraphNet(3, CARDS, numeric_embedding="piecewise-linear", bins=model.bins)
    copy.load_state_dict(model.state_dict())
    assert torch.equal(copy(numeric, categorical), model(numeric, categorical))
    shifted = [edges + 0.5 for edges in model.bins]
    moved = FeatureGraphNet(3, CARDS, numeric_embedding="piecewise-linear", bins=shifted)
    assert not torch.allclose(moved.encoder.numeric.impl.bias, model.encoder.numeric.impl.bias)
