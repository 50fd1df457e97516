import numpy as np
import pytest
import torch
from torch.utils.data import IterDataPipe
from torch_geometric.data import Data

from pyg_tabular.data import graph_to_rows, rows_to_graph
from pyg_tabular.transforms import StandardizeFeatures, ToFeatureGraph


def train_rows(seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(40, 4, generator=generator, dtype=torch.float64) * 3 + 7
    x[torch.rand(40, 4, generator=generator) < 0.25] = float("nan")
    x[:, 2] = 5.0  # zero variance
    x[3, 2] = float("nan")
    return x


def test_fit_matches_numpy_nan_statistics():
    x = train_rows()
    transform = StandardizeFeatures().fit(x)
    values = x.numpy()
    expected_std = np.nanstd(values, axis=0)
    expected_std[expected_std == 0] = 1.0
    assert transform.mean.shape == (4, 1)
    np.testing.assert_allclose(transform.mean.view(-1).numpy(), np.nanmean(values, 0), rtol=1e-12)
    np.testing.assert_allclose(transform.std.view(-1).numpy(), expected_std, rtol=1e-12)


def test_zero_variance_and_unobserved_features_stay_finite():
    x = train_rows()
    x[:, 3] = float("nan")  # never observed
    transform = StandardizeFeatures().fit(x)
    assert transform.std[2].item() == 1.0 and transform.std[3].item() == 1.0
    assert transform.mean[3].item() == 0.0
    out = transform(torch.tensor([[7.0, 7.0, 6.0, 2.0]], dtype=torch.float64))
    assert torch.isfinite(out).all()
    assert out[0, 2].item() == 1.0 and out[0, 3].item() == 2.0


def test_rows_keep_nan_and_are_standardized():
    x = train_rows()
    transform = StandardizeFeatures().fit(x)
    out = transform(x)
    assert torch.equal(torch.isnan(out), torch.isnan(x))
    observed = out[:, [0, 1, 3]]
    means = torch.nanmean(observed, 0)
    stds = torch.sqrt(torch.nanmean((observed - means) ** 2, 0))
    torch.testing.assert_close(means, torch.zeros(3, dtype=torch.float64))
    torch.testing.assert_close(stds, torch.ones(3, dtype=torch.float64))


def test_graphs_and_rows_commute():
    x = train_rows()
    transform = StandardizeFeatures().fit(x)
    graph = transform(rows_to_graph(x, missing="drop"))
    expected = rows_to_graph(transform(x), missing="drop")
    assert torch.equal(graph.feature_id, expected.feature_id)
    torch.testing.assert_close(graph.x, expected.x)
    # A single row, as a raw Data and as a feature graph.
    row = Data(x=x[0])
    torch.testing.assert_close(transform(row).x, transform(x[:1])[0], equal_nan=True)
    one = transform(ToFeatureGraph(missing="drop")(row))
    torch.testing.assert_close(one.x.view(-1), transform(x[:1])[0][~torch.isnan(x[0])])


def test_fit_on_batch_equals_fit_on_rows():
    x = train_rows()
    from_rows = StandardizeFeatures().fit(x)
    from_graph = StandardizeFeatures().fit(rows_to_graph(x, missing="drop"))
    torch.testing.assert_close(from_graph.mean, from_rows.mean)
    torch.testing.assert_close(from_graph.std, from_rows.std)


def test_channels_have_their_own_statistics():
    x = torch.randn(30, 3, 2, dtype=torch.float64)
    x[..., 1] = x[..., 1] * 10 + 4
    transform = StandardizeFeatures().fit(x)
    assert transform.mean.shape == (3, 2)
    out = transform(x)
    torch.testing.assert_close(out.mean(0), torch.zeros(3, 2, dtype=torch.float64))
    graph = transform(rows_to_graph(x))
    torch.testing.assert_close(graph_to_rows(graph.x, graph), out)


def test_float32_input_stays_float32():
    transform = StandardizeFeatures().fit(train_rows())
    assert transform(torch.randn(2, 4)).dtype == torch.float32


def test_state_dict_round_trip():
    x = train_rows()
    transform = StandardizeFeatures().fit(x)
    state = transform.state_dict()
    assert set(state) == {"mean", "std"}
    state["mean"].add_(100.0)  # a copy: the fitted transform is unaffected
    state = transform.state_dict()
    restored = StandardizeFeatures().load_state_dict(state)
    assert torch.equal(restored(x).nan_to_num(), transform(x).nan_to_num())
    from_args = StandardizeFeatures(mean=state["mean"], std=state["std"])
    assert torch.equal(from_args(x).nan_to_num(), transform(x).nan_to_num())
    one_dim = StandardizeFeatures().load_state_dict(
        {"mean": state["mean"].view(-1), "std": state["std"].view(-1)}
    )
    assert torch.equal(one_dim.mean, transform.mean)


@pytest.mark.parametrize(
    "state, match",
    [
        ({"mean": torch.zeros(3)}, "keys"),
        ({"mean": torch.zeros(3), "std": torch.ones(2)}, "share one shape"),
        ({"mean": torch.zeros(2), "std": torch.tensor([1.0, 0.0])}, "positive"),
        ({"mean": torch.tensor([float("nan")]), "std": torch.ones(1)}, "mean must be finite"),
    ],
)
def test_bad_state(state, match):
    with pytest.raises(ValueError, match=match):
        StandardizeFeatures().load_state_dict(state)


def test_unfitted_use_raises():
    transform = StandardizeFeatures()
    for call in (
        lambda: transform(torch.randn(2, 3)),
        lambda: transform(rows_to_graph(torch.randn(2, 3))),
        transform.state_dict,
    ):
        with pytest.raises(RuntimeError, match="not fitted"):
            call()
    with pytest.raises(ValueError, match="mean and std must be given together"):
        StandardizeFeatures(mean=torch.zeros(2))


def test_shape_mismatch_and_empty_fit():
    transform = StandardizeFeatures().fit(train_rows())
    with pytest.raises(ValueError, match="fitted on 4 features"):
        transform(torch.randn(2, 3))
    with pytest.raises(ValueError, match="fitted on 4 features"):
        transform(rows_to_graph(torch.randn(2, 5)))
    with pytest.raises(ValueError, match="at least one row"):
        StandardizeFeatures().fit(torch.zeros(0, 3))
    with pytest.raises(ValueError, match="must be finite"):
        StandardizeFeatures().fit(torch.tensor([[float("inf")]]))


def test_repr_and_functional_name():
    assert repr(StandardizeFeatures()) == "StandardizeFeatures()"
    assert repr(StandardizeFeatures().fit(train_rows())) == "StandardizeFeatures(num_features=4)"
    assert "standardize_features" in IterDataPipe.functions


def test_a_constant_column_is_centred_on_its_exact_value():
    # 1000 × 0.1 sums to 100.00000000000001 in float64: without the exact
    # constant check the mean is off by ~3e-17, the "std" is ~3e-17, and every
    # cell would standardize to -1 instead of 0.
    x = torch.full((1000, 2), 0.1, dtype=torch.float64)
    x[:, 1] = torch.arange(1000.0)
    transform = StandardizeFeatures().fit(x)
    assert transform.mean[0].item() == 0.1 and transform.std[0].item() == 1.0
    out = transform(x)
    assert torch.equal(out[:, 0], torch.zeros(1000, dtype=out.dtype))
    assert transform.std[1].item() > 1.0


@pytest.mark.parametrize("huge", [1e200, 1e308, -1.7e308])
def test_any_finite_float_can_be_fitted_on(huge):
    train = torch.tensor(
        [[1.0, 0.5], [2.0, -0.5], [huge, 0.0], [3.0, float("nan")]], dtype=torch.float64
    )
    transform = StandardizeFeatures().fit(train)
    assert torch.isfinite(transform.mean).all() and torch.isfinite(transform.std).all()
    column = np.array([1.0, 2.0, huge, 3.0])
    np.testing.assert_allclose(transform.mean[0, 0].item(), column.mean(), rtol=1e-12)
    scale = np.abs(column).max()
    expected_std = np.sqrt((((column / scale) - (column / scale).mean()) ** 2).mean()) * scale
    np.testing.assert_allclose(transform.std[0, 0].item(), expected_std, rtol=1e-12)
    assert (transform.std > 0).all()
    # The statistics survive a round trip and standardize within range.
    reloaded = StandardizeFeatures().load_state_dict(transform.state_dict())
    out = reloaded(train)
    assert torch.isfinite(out[:, 0]).all()
    np.testing.assert_allclose(out[2, 0].item(), (huge - column.mean()) / expected_std)


def test_a_standardized_value_beyond_the_dtype_is_refused_not_inf():
    # Fitted in float64 with a tiny spread; a float32 cell far away standardizes
    # beyond float32's range.
    transform = StandardizeFeatures().fit(torch.tensor([[0.0], [1e-30]], dtype=torch.float64))
    with pytest.raises(ValueError, match=r"x at index \(0, 0\) holds 1e\+20.*float32"):
        transform(torch.tensor([[1e20]], dtype=torch.float32))
    out = transform(torch.tensor([[1e20]], dtype=torch.float64))
    assert torch.isfinite(out).all()


def test_a_row_stored_as_graph_level_features_is_standardized_feature_by_feature():
    train = torch.tensor([[1.0, 10.0, 100.0], [3.0, 30.0, 300.0]])
    transform = StandardizeFeatures().fit(train)
    row = torch.tensor([[2.0, 20.0, 300.0]])
    expected = transform(row)
    assert torch.allclose(expected, torch.tensor([[0.0, 0.0, 1.0]]))
    assert torch.equal(transform(Data(x=row.clone())).x, expected)  # [1, F]
    assert torch.equal(transform(Data(x=row.view(-1))).x, expected.view(-1))  # [F]
    # One feature with C channels keeps its node reading.
    channels = StandardizeFeatures().fit(torch.randn(5, 1, 3))
    out = channels(Data(x=torch.zeros(1, 3))).x
    assert torch.allclose(out, channels(torch.zeros(1, 1, 3))[0])
