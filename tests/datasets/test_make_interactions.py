import numpy as np
import pytest

from pyg_tabular.datasets import INTERACTIONS, make_interactions


def _term(table, pair, kind):
    a, b = (table.X[:, c].astype(np.float64) for c in pair)
    return INTERACTIONS[kind](a, b)


def _terms(table):
    # The target without noise, rebuilt from X and the planted structure.
    signal = np.zeros(len(table.y), dtype=np.float64)
    for (a, b), kind in zip(table.pairs, table.kinds):
        signal += _term(table, (a, b), kind)
    for m in table.main_effects:
        signal += table.X[:, m]
    return signal


def test_shapes_roles_and_names():
    table = make_interactions(500, 24, random_state=0)
    assert table.X.shape == (500, 24) and table.y.shape == (500,)
    assert table.X.dtype == np.float32 and table.y.dtype == np.float32
    assert table.kinds == ["product", "sine", "xor"] * 2
    assert len(table.pairs) == 6 and all(a < b for a, b in table.pairs)
    assert [len(g) for g in table.decoy_groups] == [3, 3] and len(table.main_effects) == 2
    roles = [c for pair in table.pairs for c in pair] + table.main_effects
    roles += [c for group in table.decoy_groups for c in group]
    assert len(roles) == len(set(roles)) == 20  # disjoint roles
    assert table.feature_names[:3] == ["f00", "f01", "f02"] and len(table.feature_names) == 24


def test_deterministic_per_seed():
    a, b = make_interactions(300, random_state=7), make_interactions(300, random_state=7)
    assert np.array_equal(a.X, b.X) and np.array_equal(a.y, b.y)
    assert (a.pairs, a.decoy_groups, a.main_effects) == (b.pairs, b.decoy_groups, b.main_effects)
    c = make_interactions(300, random_state=8)
    assert not np.array_equal(a.X, c.X)
    generator = make_interactions(300, random_state=np.random.default_rng(7))
    assert np.array_equal(generator.X, a.X)


def test_target_is_the_planted_terms_plus_scaled_noise():
    exact = make_interactions(2000, 24, noise=0.0, random_state=1)
    np.testing.assert_allclose(exact.y, _terms(exact), rtol=1e-5, atol=1e-5)
    noisy = make_interactions(20000, 24, noise=0.5, random_state=1)
    residual = noisy.y - _terms(noisy)
    # noise · sqrt(number of unit-variance terms) = 0.5 · sqrt(8)
    assert abs(residual.std() - 0.5 * np.sqrt(8)) < 0.05


def test_terms_have_unit_variance_and_no_main_effect():
    table = make_interactions(40000, 24, noise=0.0, random_state=2)
    for (a, b), kind in zip(table.pairs, table.kinds):
        term = _term(table, (a, b), kind)
        assert abs(term.var() - 1.0) < 0.05, kind
        # Neither feature alone predicts the target, not even through its square.
        for column in (a, b):
            for feature in (table.X[:, column], table.X[:, column] ** 2):
                assert abs(np.corrcoef(feature, table.y)[0, 1]) < 0.03
    for m in table.main_effects:
        assert np.corrcoef(table.X[:, m], table.y)[0, 1] > 0.3


def test_decoys_correlate_within_their_group_and_not_with_the_target():
    table = make_interactions(20000, 24, decoy_correlation=0.8, random_state=3)
    corr = np.corrcoef(table.X, rowvar=False)
    for group in table.decoy_groups:
        for i in group:
            for j in group:
                if i < j:
                    assert abs(corr[i, j] - 0.8) < 0.03
            assert abs(np.corrcoef(table.X[:, i], table.y)[0, 1]) < 0.03
    others = [c for c in range(24) if not any(c in g for g in table.decoy_groups)]
    off = corr[np.ix_(others, others)] - np.eye(len(others))
    assert np.abs(off).max() < 0.05


def test_custom_structure():
    table = make_interactions(
        100,
        10,
        interactions=["xor"],
        n_decoy_groups=1,
        decoy_group_size=4,
        n_main_effects=0,
        random_state=0,
    )
    assert table.kinds == ["xor"] and len(table.pairs) == 1
    assert [len(g) for g in table.decoy_groups] == [4] and table.main_effects == []


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"n_samples": 0}, "n_samples must be a positive int"),
        ({"n_features": 10}, r"n_features must be at least 20 .* \(got 10\)"),
        ({"interactions": ["cube"]}, "interactions must name kinds of"),
        ({"interactions": "product"}, "interactions must be a sequence of kinds"),
        ({"decoy_group_size": 1}, "decoy_group_size must be an int >= 2"),
        ({"decoy_correlation": 1.0}, r"decoy_correlation must be a float in \[0, 1\)"),
        ({"noise": -0.1}, "noise must be a finite number >= 0"),
        ({"n_main_effects": -1}, "n_main_effects must be an int >= 0"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_interactions(**kwargs)
