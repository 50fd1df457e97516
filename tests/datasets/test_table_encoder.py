import io
import math

import numpy as np
import pytest
import torch

from pyg_tabular.datasets import StreamingTabularLoader, TableEncoder, TabularDataset


def _frame(n=40, seed=0):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "a": rng.normal(loc=5.0, scale=3.0, size=n),
            "b": rng.integers(0, 10, size=n).astype(float),
            "color": rng.choice(["red", "green", "blue"], size=n),
            "y": rng.integers(0, 2, size=n),
        }
    )
    frame.loc[3, "a"] = np.nan
    frame.loc[5, "color"] = None
    return frame


def test_fits_on_the_given_rows_only():
    frame = _frame()
    train = frame.iloc[:30]
    encoder = TableEncoder(["color"]).fit(train, exclude=["y"])
    assert encoder.columns == ["a", "b", "color"]
    assert encoder.numeric_names == ["a", "b"] and encoder.categorical_names == ["color"]
    values = train[["a", "b"]].to_numpy()
    np.testing.assert_allclose(encoder.mean.numpy(), np.nanmean(values, 0), rtol=1e-13)
    np.testing.assert_allclose(encoder.std.numpy(), np.nanstd(values, 0), rtol=1e-13)
    assert encoder.vocabularies == {"color": sorted(set(train["color"].dropna()))}
    numeric, codes = encoder.transform(frame.iloc[30:])
    expected = (frame[["a", "b"]].to_numpy()[30:] - encoder.mean.numpy()) / encoder.std.numpy()
    np.testing.assert_allclose(numeric.numpy(), expected, rtol=1e-6)
    assert codes.dtype == torch.long and codes.shape == (10, 1)


def test_unknown_and_missing_categories_get_code_zero():
    pd = pytest.importorskip("pandas")
    encoder = TableEncoder(["c"]).fit(pd.DataFrame({"c": ["x", "y", "x"]}))
    _, codes = encoder.transform(pd.DataFrame({"c": ["y", "zzz", None, "x"]}))
    assert codes.view(-1).tolist() == [2, 0, 0, 1]
    assert encoder.cardinalities == [3]


def test_is_the_encoding_of_tabular_dataset_and_streaming_loader():
    frame = _frame()
    dataset = TabularDataset(frame, "y", categorical=["color"], seed=3)
    encoder = TableEncoder(["color"]).fit(frame.iloc[dataset.index("train").numpy()], exclude=["y"])
    numeric, codes = encoder.transform(frame)
    assert torch.equal(numeric.isnan(), dataset.numeric.isnan())
    assert torch.equal(numeric.nan_to_num(), dataset.numeric.nan_to_num())
    assert torch.equal(codes, dataset.categorical)
    loader = StreamingTabularLoader(
        [frame.iloc[:15], frame.iloc[15:]], "y", categorical=["color"], missing="drop"
    )
    whole = TableEncoder(["color"]).fit(frame, exclude=["y"])
    torch.testing.assert_close(loader.encoder.mean, whole.mean, rtol=1e-13, atol=0)
    torch.testing.assert_close(loader.encoder.std, whole.std, rtol=1e-13, atol=0)
    assert loader.encoder.vocabularies == whole.vocabularies


def test_partial_fit_over_chunks_equals_fit():
    frame = _frame(n=100)
    whole = TableEncoder(["color"]).fit(frame, exclude=["y"])
    chunked = TableEncoder(["color"])
    for start in range(0, 100, 33):
        chunked.partial_fit(frame.iloc[start : start + 33], exclude=["y"], offset=start)
    torch.testing.assert_close(chunked.mean, whole.mean, rtol=1e-13, atol=0)
    torch.testing.assert_close(chunked.std, whole.std, rtol=1e-13, atol=0)
    assert chunked.vocabularies == whole.vocabularies


@pytest.mark.parametrize("magnitude", [1e-300, 1e-30, 1.0, 1e30, 1e200, 1e300])
def test_any_finite_scale_gives_finite_exact_statistics(magnitude):
    values = np.random.default_rng(0).normal(size=(50, 1)) * magnitude
    encoder = TableEncoder().fit(values)
    # Dividing by a power of two is exact: the statistics of the rescaled
    # column, scaled back, are the exact ones.
    unit = 2.0 ** math.frexp(magnitude)[1]
    assert encoder.mean.item() == pytest.approx(values.mean() / unit * unit, rel=1e-12)
    assert encoder.std.item() == pytest.approx((values / unit).std() * unit, rel=1e-12)
    numeric, _ = encoder.transform(values)
    assert bool(torch.isfinite(numeric).all())
    assert numeric.std(unbiased=False).item() == pytest.approx(1.0, rel=1e-5)


def test_one_huge_cell_keeps_the_statistics_finite():
    values = np.random.default_rng(0).normal(size=(60, 2))
    values[7, 1] = 1e200
    values[8, 1] = -1.7e308
    dataset = TabularDataset(values, np.arange(60) % 2)
    assert bool(torch.isfinite(dataset.std).all()) and bool(torch.isfinite(dataset.mean).all())
    assert bool(torch.isfinite(dataset.numeric).all())


def test_infinite_cells_are_refused_with_column_and_row():
    values = np.zeros((10, 2))
    values[6, 1] = -np.inf
    with pytest.raises(ValueError, match=r"column 'x1' holds -inf at row 6"):
        TableEncoder().fit(values)
    dataset_rows = np.random.default_rng(0).normal(size=(10, 2))
    dataset_rows[6, 1] = np.inf
    # The row number is the table's, also when only some rows are fitted.
    with pytest.raises(ValueError, match=r"column 'x1' holds inf at row 6"):
        TabularDataset(dataset_rows, np.arange(10) % 2, split=(0.5, 0.5, 0.0))
    encoder = TableEncoder().fit(np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"column 'x1' holds inf at row 8"):
        encoder.transform(np.array([[0.0, np.inf]]), offset=8)


def test_a_value_beyond_the_dtype_is_refused_naming_the_column():
    encoder = TableEncoder(dtype=torch.float32).fit(np.array([[0.0], [1.0]]))
    with pytest.raises(ValueError, match=r"column 'x0' holds 1e\+300 at row 0.*standard dev"):
        encoder.transform(np.array([[1e300]]))
    wide = TableEncoder(dtype=torch.float64).fit(np.array([[0.0], [1.0]]))
    assert wide.transform(np.array([[1e300]]))[0].item() == pytest.approx(2e300)


def _reloaded(encoder):
    # The state through torch.save and a weights_only load, into a new encoder.
    buffer = io.BytesIO()
    torch.save(encoder.state_dict(), buffer)
    buffer.seek(0)
    return TableEncoder().load_state_dict(torch.load(buffer, weights_only=True))


def test_state_dict_round_trip_through_weights_only_load():
    frame = _frame()
    encoder = TableEncoder(["color"], impute="mean").fit(frame, exclude=["y"])
    loaded = _reloaded(encoder)
    assert repr(loaded) == "TableEncoder(numeric=2, categorical=1)"
    for got, want in zip(loaded.transform(frame), encoder.transform(frame)):
        assert torch.equal(got, want)
    assert loaded.impute == "mean" and not bool(loaded.transform(frame)[0].isnan().any())


def test_bad_state_dicts_and_arguments_are_named():
    encoder = TableEncoder().fit(np.zeros((3, 2)))
    state = encoder.state_dict()
    with pytest.raises(ValueError, match=r"lacks the keys \['std'\]"):
        TableEncoder().load_state_dict({k: v for k, v in state.items() if k != "std"})
    with pytest.raises(ValueError, match="std finite and positive"):
        TableEncoder().load_state_dict({**state, "std": torch.tensor([1.0, 0.0])})
    with pytest.raises(ValueError, match="must hold 2 values"):
        TableEncoder().load_state_dict({**state, "mean": torch.zeros(3)})
    with pytest.raises(TypeError, match="state_dict must be a dict"):
        TableEncoder().load_state_dict([1, 2])
    with pytest.raises(ValueError, match="impute must be one of"):
        TableEncoder(impute="median")
    with pytest.raises(ValueError, match="categorical must be a list"):
        TableEncoder("a")
    with pytest.raises(ValueError, match="dtype must be a floating dtype"):
        TableEncoder(dtype=torch.int64)
    with pytest.raises(ValueError, match=r"categorical column 'zz' is not a column of data"):
        TableEncoder(["zz"]).fit(np.zeros((3, 2)))
    with pytest.raises(RuntimeError, match="not fitted"):
        TableEncoder().transform(np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"must hold the 2 feature columns"):
        encoder.transform(np.zeros((3, 3)))


def test_missing_cells_stay_nan_or_are_imputed():
    values = np.array([[1.0], [np.nan], [3.0]])
    kept, _ = TableEncoder().fit_transform(values)
    filled, _ = TableEncoder(impute="mean").fit_transform(values)
    assert torch.isnan(kept[1, 0]) and filled[1, 0].item() == 0.0
    assert kept[0, 0].item() == filled[0, 0].item() == -1.0


# --------------------------------------------------------------------------- #
# Robust scaling and smooth clipping (RealMLP)
# --------------------------------------------------------------------------- #


def _squash(z):
    return z / np.sqrt(1.0 + (z / 3.0) ** 2)


def test_robust_scaling_is_realmlps_formula():
    rng = np.random.default_rng(0)
    train = np.column_stack([rng.lognormal(size=101), rng.normal(size=101)])
    encoder = TableEncoder(dtype=torch.float64, scaling="robust").fit(train)
    new = rng.normal(scale=4.0, size=(20, 2))
    encoded, _ = encoder.transform(new)
    q1, median, q3 = np.quantile(train, [0.25, 0.5, 0.75], axis=0)
    expected = _squash((new - median) / (q3 - q1))
    np.testing.assert_allclose(encoded.numpy(), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(encoder.center.numpy(), median)
    np.testing.assert_allclose(encoder.scale.numpy(), q3 - q1)
    # The moments are still there, as for standard scaling.
    np.testing.assert_allclose(encoder.mean.numpy(), train.mean(0))


def test_smooth_clipping_is_bounded_monotone_and_linear_near_the_centre():
    train = np.linspace(-1.0, 1.0, 201)[:, None]
    encoder = TableEncoder(dtype=torch.float64, scaling="robust").fit(train)
    x = np.concatenate([-np.logspace(6, -3, 200), [0.0], np.logspace(-3, 6, 200)])[:, None]
    encoded = encoder.transform(x)[0][:, 0]
    assert bool((encoded.abs() < 3.0).all())
    assert bool((encoded[1:] > encoded[:-1]).all())  # strictly increasing
    # Far out it rounds to the bound, never past it, and never overflows.
    far = encoder.transform(np.array([[-1e300], [-1e200], [1e200], [1e300]]))[0][:, 0]
    assert far.tolist() == [-3.0, -3.0, 3.0, 3.0]
    # Near the median the clipping is nearly the identity on (x - median) / IQR.
    inner = encoder.transform(np.array([[0.01]]))[0].item()
    assert inner == pytest.approx(0.01 / 1.0, rel=1e-5)


def test_an_outlier_moves_robust_scaling_but_not_its_bulk():
    rng = np.random.default_rng(1)
    bulk = rng.normal(size=(500, 1))
    train = np.vstack([bulk, [[1e6]]])
    robust = TableEncoder(dtype=torch.float64, scaling="robust").fit(train)
    standard = TableEncoder(dtype=torch.float64).fit(train)
    spread_robust = float(robust.transform(bulk)[0].std())
    spread_standard = float(standard.transform(bulk)[0].std())
    assert 0.5 < spread_robust < 1.0 and spread_standard < 0.01
    assert robust.transform(np.array([[1e6]]))[0].item() == pytest.approx(3.0, abs=1e-4)


def test_robust_scaling_falls_back_to_half_the_range_then_to_centring():
    # Quartiles equal (most cells are 0): s = (max - min) / 2. Constant: only centred.
    train = np.array([[0.0, 7.0]] * 9 + [[4.0, 7.0], [-2.0, 7.0]])
    encoder = TableEncoder(dtype=torch.float64, scaling="robust").fit(train)
    assert encoder.center.tolist() == [0.0, 7.0]
    assert encoder.scale.tolist() == [3.0, 1.0]
    encoded, _ = encoder.transform(np.array([[3.0, 8.0], [np.nan, 7.0]]))
    assert encoded[0].tolist() == pytest.approx(_squash(np.array([1.0, 1.0])).tolist())
    assert math.isnan(encoded[1, 0].item()) and encoded[1, 1].item() == 0.0


def test_robust_state_round_trips_and_old_states_load_as_standard():
    frame = _frame()
    encoder = TableEncoder(["color"], scaling="robust").fit(frame, exclude=["y"])
    loaded = _reloaded(encoder)
    assert loaded.scaling == "robust"
    exact = {"rtol": 0.0, "atol": 0.0, "equal_nan": True}
    torch.testing.assert_close(loaded.transform(frame)[0], encoder.transform(frame)[0], **exact)
    standard = TableEncoder(["color"]).fit(frame, exclude=["y"])
    old = {
        k: v for k, v in standard.state_dict().items() if k not in ("scaling", "center", "scale")
    }
    restored = TableEncoder().load_state_dict(old)
    assert restored.scaling == "standard"
    torch.testing.assert_close(restored.transform(frame)[0], standard.transform(frame)[0], **exact)
    with pytest.raises(ValueError, match="center must hold 2 finite values"):
        TableEncoder().load_state_dict({**encoder.state_dict(), "scale": torch.tensor([1.0, 0.0])})


def test_robust_scaling_needs_the_training_rows_at_once():
    with pytest.raises(ValueError, match=r"scaling must be one of \['standard', 'robust'\]"):
        TableEncoder(scaling="minmax")
    encoder = TableEncoder(scaling="robust").partial_fit(np.zeros((3, 1)))
    with pytest.raises(ValueError, match="scaling='robust' takes the quantiles of all"):
        encoder.partial_fit(np.ones((3, 1)))
    # fit() starts over, so refitting works.
    encoder.fit(np.arange(6.0)[:, None])
    dataset = TabularDataset(np.arange(40.0)[:, None], np.arange(40.0), scaling="robust")
    assert dataset.encoder.scaling == "robust"
    assert bool((dataset.numeric.abs() < 3.0).all())
