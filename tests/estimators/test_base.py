import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks
from sklearn.utils.validation import check_is_fitted

from pyg_tabular.datasets import TabularDataset
from pyg_tabular.estimators import FeatureGraphClassifier, FeatureGraphRegressor

#: The shipped defaults' ensemble and weight averaging need more steps than
#: these tiny fits take; the tests here are about other things.
SINGLE = {"ensemble_size": 1, "ema_decay": None, "lr_schedule": None, "binning": "quantile"}
FAST = {
    **SINGLE,
    "channels": 8,
    "heads": 2,
    "num_layers": 1,
    "head_channels": 16,
    "epochs": 5,
    "progress": False,
    "random_state": 0,
}


# scikit-learn's own estimator checks, at a small size. Every check passes but
# one, not supported for the reason given.
UNSUPPORTED_CHECKS = {
    "FeatureGraphClassifier": {
        "check_methods_subset_invariance": (
            "float32 kernels may round a row's probabilities differently (~1e-7) in a "
            "batch and in a subset of it, above the check's 1e-7 tolerance"
        ),
    },
    "FeatureGraphRegressor": {
        "check_methods_subset_invariance": (
            "float32 kernels (the piecewise-linear embedding's batched matmul) may round "
            "a row's prediction differently (~3e-7) in a batch and in a subset of it, "
            "above the check's 1e-7 tolerance"
        ),
    },
}
CHECK_PARAMS = {**FAST, "epochs": 40, "lr": 1e-2, "batch_size": 64}


@pytest.mark.slow
@parametrize_with_checks(
    [FeatureGraphClassifier(**CHECK_PARAMS), FeatureGraphRegressor(**CHECK_PARAMS)],
    expected_failed_checks=lambda estimator: UNSUPPORTED_CHECKS[type(estimator).__name__],
)
def test_sklearn_estimator_checks(estimator, check):
    torch.set_num_threads(1)
    check(estimator)


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)


def _finite(estimator):
    return all(bool(torch.isfinite(p).all()) for p in estimator.model_.parameters())


@pytest.mark.parametrize("Estimator", [FeatureGraphClassifier, FeatureGraphRegressor])
def test_huge_finite_cell_is_fitted_and_predicted(Estimator, tmp_path):
    X, y = _data()
    X[5, 1] = 1e200
    X[7, 2] = -1e-300
    estimator = Estimator(**FAST).fit(X, y)
    std = estimator.encoder_.std
    assert bool(torch.isfinite(std).all()) and std[1].item() > 1e198
    assert np.isfinite(estimator.predict(X)).all()
    estimator.save(tmp_path / "model.pt")
    loaded = Estimator.load(tmp_path / "model.pt")
    assert np.array_equal(loaded.predict(X), estimator.predict(X))


def test_far_out_cell_at_predict_names_the_column_and_gives_no_missing_advice():
    X, y = _data()
    clf = FeatureGraphClassifier(**FAST).fit(X, y)
    bad = X[:3].copy()
    bad[1, 2] = 1e30
    with pytest.raises(ValueError, match="'x2' at row 1") as info:
        clf.predict(bad)
    assert "missing" not in str(info.value)


def test_ndarray_after_dataframe_warns_and_refit_forgets_names():
    pd = pytest.importorskip("pandas")
    X, y = _data()
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    clf = FeatureGraphClassifier(**FAST).fit(frame, y)
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        clf.predict(X)
    clf.fit(X, y)
    assert not hasattr(clf, "feature_names_in_")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.predict(X)


def test_dataframe_columns_in_another_order_are_matched_by_name():
    pd = pytest.importorskip("pandas")
    X, y = _data()
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    clf = FeatureGraphClassifier(**FAST).fit(frame, y)
    shuffled = frame[["c", "a", "b"]]
    assert np.array_equal(clf.predict_proba(shuffled), clf.predict_proba(frame))


def test_duplicate_column_names_are_named():
    pd = pytest.importorskip("pandas")
    X, y = _data()
    frame = pd.DataFrame(X, columns=["a", "b", "a"])
    with pytest.raises(ValueError, match=r"duplicated column names \['a'\]"):
        FeatureGraphClassifier(**FAST).fit(frame, y)


@pytest.mark.parametrize("Estimator", [FeatureGraphClassifier, FeatureGraphRegressor])
def test_score_with_short_y_is_a_clear_error(Estimator):
    X, y = _data()
    estimator = Estimator(**FAST).fit(X, y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        estimator.score(X, y[:10])


@pytest.mark.parametrize("Estimator", [FeatureGraphClassifier, FeatureGraphRegressor])
def test_divergence_never_leaves_non_finite_weights(Estimator):
    X, y = _data()
    estimator = Estimator(**{**FAST, "lr": 1e6, "epochs": 20})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            estimator.fit(X, y)
    except FloatingPointError as error:
        assert "diverged" in str(error)
        with pytest.raises(NotFittedError):
            check_is_fitted(estimator)
    else:
        assert _finite(estimator)
        assert np.isfinite(estimator.predict(X).astype(float)).all()


def test_interrupted_refit_keeps_the_previous_fit(monkeypatch):
    X, y = _data()
    clf = FeatureGraphClassifier(**FAST).fit(X, y)
    before = clf.predict_proba(X)
    history, epochs = list(clf.history_), clf.n_epochs_
    calls = []
    loss = FeatureGraphClassifier._training_loss

    def interrupting(self, out, target):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return loss(self, out, target)

    monkeypatch.setattr(FeatureGraphClassifier, "_training_loss", interrupting)
    with pytest.raises(KeyboardInterrupt):
        clf.set_params(epochs=30).fit(X[:60], y[:60])
    monkeypatch.undo()
    assert clf.history_ == history and clf.n_epochs_ == epochs == len(clf.history_)
    assert np.array_equal(clf.predict_proba(X), before)

    fresh = FeatureGraphClassifier(**FAST)
    monkeypatch.setattr(FeatureGraphClassifier, "_training_loss", interrupting)
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        fresh.fit(X, y)
    with pytest.raises(NotFittedError):
        check_is_fitted(fresh)


def test_restored_weights_reproduce_the_best_validation_loss():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(90, 4))
    y = (X[:, 0] + rng.normal(scale=1.5, size=90) > 0).astype(int)  # noisy: it overfits
    params = {**FAST, "epochs": 60, "patience": 5, "lr": 1e-2, "validation_fraction": 0.3}
    clf = FeatureGraphClassifier(**params).fit(X, y)
    losses = [record["val_loss"] for record in clf.history_]
    assert losses[-1] > min(losses)  # training went past its best epoch
    assert clf.history_[clf.best_epoch_ - 1]["val_loss"] == min(losses)
    assert clf.stop_reason_ == "early_stopping" and clf.n_epochs_ == clf.best_epoch_ + 5
    dataset = TabularDataset(X, y, split=(0.7, 0.3, 0.0), seed=0, dtype=torch.float32)
    val = dataset.index("val")
    numeric, categorical = clf._encode(X[val.numpy()])
    with torch.no_grad():
        out = clf.model_(numeric, categorical)
        loss = float(clf._validation_loss(out, dataset.target[val]))
    assert loss == pytest.approx(min(losses), rel=1e-5)


def test_multiclass_probabilities_agree_with_predict_and_beat_chance():
    rng = np.random.default_rng(0)
    centers = np.array([[3.0, 0.0], [-3.0, 0.0], [0.0, 3.0]])
    labels = rng.integers(0, 3, size=300)
    X = centers[labels] + rng.normal(size=(300, 2))
    y = np.array(["left", "right", "up"])[labels]
    clf = FeatureGraphClassifier(**{**FAST, "epochs": 40, "lr": 1e-2}).fit(X[:200], y[:200])
    proba = clf.predict_proba(X[200:])
    assert np.array_equal(clf.classes_[proba.argmax(1)], clf.predict(X[200:]))
    assert clf.score(X[200:], y[200:]) > 0.8  # chance is 1/3


def test_continuous_target_is_refused_by_the_classifier():
    X, _ = _data()
    with pytest.raises(ValueError, match="Unknown label type"):
        FeatureGraphClassifier(**FAST).fit(X, np.linspace(0.0, 1.0, len(X)))


def test_sparse_input_is_refused_with_a_type_error():
    sparse = pytest.importorskip("scipy.sparse")
    X, y = _data()
    with pytest.raises(TypeError, match="does not accept sparse input X"):
        FeatureGraphClassifier(**FAST).fit(sparse.csr_matrix(X), y)


def test_unfitted_estimator_raises_sklearns_error():
    with pytest.raises(NotFittedError, match="not fitted yet"):
        FeatureGraphRegressor().predict(np.zeros((2, 3)))


def test_corrupt_truncated_or_foreign_checkpoints_name_the_file(tmp_path):
    X, y = _data()
    clf = FeatureGraphClassifier(**FAST).fit(X, y)
    good = tmp_path / "good.pt"
    clf.save(good)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:200])
    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint\n")
    foreign = tmp_path / "foreign.pt"
    torch.save({"estimator": "FeatureGraphClassifier", "format_version": 2}, foreign)
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    for path in [truncated, text, foreign, empty]:
        with pytest.raises(ValueError, match=str(path.name)):
            FeatureGraphClassifier.load(path)
    with pytest.raises(FileNotFoundError):
        FeatureGraphClassifier.load(tmp_path / "absent.pt")


def test_without_sklearn_the_package_imports_and_building_says_what_to_install():
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(
        """
        import sys
        sys.modules["sklearn"] = None
        import pyg_tabular
        from pyg_tabular.estimators import FeatureGraphRegressor
        try:
            FeatureGraphRegressor()
        except ImportError as error:
            print(error)
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "needs scikit-learn: pip install 'pyg-tabular[data]'" in result.stdout


# --------------------------------------------------------------------------- #
# Ensembles, schedules, weight averaging, label smoothing, scaling, bins
# --------------------------------------------------------------------------- #


def _members(estimator, X):
    # The members' outputs [n, k, out] on X, by hand from the fitted network.
    numeric, categorical = estimator._encode(X)
    estimator.model_.eval()
    with torch.no_grad():
        return estimator.model_(numeric, categorical).double()


@pytest.mark.parametrize("classes", [2, 3])
def test_an_ensemble_classifier_predicts_its_members_mean_probability(classes, tmp_path):
    X, y = _data(150)
    y = y if classes == 2 else (X[:, 0] > 0.5).astype(int) + (X[:, 1] > 0).astype(int)
    clf = FeatureGraphClassifier(**{**FAST, "ensemble_size": 4}).fit(X, y)
    assert clf.model_.ensemble_size == 4
    out = _members(clf, X)
    assert out.shape == (150, 4, 1 if classes == 2 else 3)
    if classes == 2:
        positive = torch.sigmoid(out[..., 0]).mean(1)
        expected = torch.stack([1 - positive, positive], dim=1)
    else:
        expected = torch.softmax(out, dim=-1).mean(1)
    np.testing.assert_allclose(clf.predict_proba(X), expected.numpy(), atol=1e-6)
    assert clf.feature_attention().shape == (3, 3)
    clf.save(tmp_path / "clf.pt")
    loaded = FeatureGraphClassifier.load(tmp_path / "clf.pt")
    assert np.array_equal(loaded.predict_proba(X), clf.predict_proba(X))


def test_an_ensemble_regressor_predicts_its_members_mean_value():
    X, y = _data(120)
    target = X[:, 0] * 3.0 + 1.0
    reg = FeatureGraphRegressor(**{**FAST, "ensemble_size": 3}).fit(X, target)
    expected = _members(reg, X)[..., 0].mean(1) * reg._y_std + reg._y_mean
    np.testing.assert_allclose(reg.predict(X), expected.numpy(), rtol=1e-6, atol=1e-6)


def test_training_smooths_labels_and_validation_does_not(monkeypatch):
    from pyg_tabular.estimators import _base

    seen = []

    def spy(out, y, kind, ensemble_size=None, *, label_smoothing=0.0):
        seen.append((out.requires_grad, label_smoothing, ensemble_size))
        return _base.member_loss.__wrapped__(
            out, y, kind, ensemble_size, label_smoothing=label_smoothing
        )

    spy.__wrapped__ = _base.member_loss
    monkeypatch.setattr(_base, "member_loss", spy)
    X, y = _data()
    FeatureGraphClassifier(**{**FAST, "epochs": 2, "label_smoothing": 0.2, "ensemble_size": 2}).fit(
        X, y
    )
    training = {(s, k) for grad, s, k in seen if grad}
    validation = {(s, k) for grad, s, k in seen if not grad}
    # Training: the smoothed mean of the members' losses; validation: the
    # unsmoothed loss of their mean prediction.
    assert training == {(0.2, 2)} and validation == {(0.0, None)}
    with pytest.raises(ValueError, match="label_smoothing applies to classification"):
        FeatureGraphRegressor(**FAST, label_smoothing=0.1).fit(X, X[:, 0])
    # None is the classifier's default, set in one place.
    seen.clear()
    monkeypatch.setattr(FeatureGraphClassifier, "_default_label_smoothing", 0.05)
    FeatureGraphClassifier(**{**FAST, "epochs": 1}).fit(X, y)
    assert {s for grad, s, _ in seen if grad} == {0.05}
    seen.clear()
    FeatureGraphRegressor(**{**FAST, "epochs": 1}).fit(X, X[:, 0])
    assert {s for _, s, _ in seen} == {0.0}  # regression: never smoothed


def test_the_schedule_spans_the_epochs_and_ends_at_zero(monkeypatch):
    from pyg_tabular.estimators import _base

    made = []

    def spy(optimizer, schedule, *, total_steps, warmup):
        made.append((schedule, total_steps, warmup, optimizer))
        return _base.make_lr_scheduler.__wrapped__(
            optimizer, schedule, total_steps=total_steps, warmup=warmup
        )

    spy.__wrapped__ = _base.make_lr_scheduler
    monkeypatch.setattr(_base, "make_lr_scheduler", spy)
    X, y = _data(120)
    params = {**FAST, "epochs": 4, "patience": 10, "batch_size": 16}
    clf = FeatureGraphClassifier(**{**params, "lr_schedule": "cosine", "lr_warmup": 0.25}).fit(X, y)
    ((schedule, total_steps, warmup, optimizer),) = made
    # The estimator's own stratified split of its training rows.
    split = TabularDataset(X, y, split=(0.85, 0.15, 0.0), seed=0).index("train")
    train_rows = split.numel()
    assert (schedule, warmup) == ("cosine", 0.25)
    assert total_steps == 4 * -(-train_rows // 16) and clf.n_epochs_ == 4
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_weight_averaging_keeps_the_average(monkeypatch):
    from pyg_tabular.estimators import _base

    captured = {}

    def spy(model, *args, averaged=None, **kwargs):
        captured["averaged"] = averaged
        return _base.train.__wrapped__(model, *args, averaged=averaged, **kwargs)

    spy.__wrapped__ = _base.train
    monkeypatch.setattr(_base, "train", spy)
    X, y = _data()
    # Without a validation split the last epoch is kept: its average.
    params = {**FAST, "epochs": 3, "validation_fraction": 0.0}
    clf = FeatureGraphClassifier(**{**params, "ema_decay": 0.9}).fit(X, y)
    averaged = captured["averaged"]
    assert isinstance(averaged, torch.optim.swa_utils.AveragedModel)
    assert int(averaged.n_averaged) == 3 * -(-120 // 256)
    for (name, kept), average in zip(clf.model_.named_parameters(), averaged.module.parameters()):
        assert torch.equal(kept, average), name
    with pytest.raises(ValueError, match=r"ema_decay must be in \(0, 1\)"):
        FeatureGraphClassifier(**{**FAST, "ema_decay": 0.0}).fit(X, y)


def test_robust_scaling_reaches_the_encoder_and_tree_bins_follow_the_target():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 2))
    X[0, 0] = 1e6  # an outlier
    y = (X[:, 1] > 0.8).astype(int)
    params = {**FAST, "epochs": 1, "numeric_embedding": "piecewise-linear"}
    robust = FeatureGraphClassifier(**{**params, "scaling": "robust", "binning": "tree"}).fit(X, y)
    assert robust.encoder_.scaling == "robust"
    numeric, _ = robust._encode(X)
    assert float(numeric.abs().max()) <= 3.0  # the outlier, squeezed (float32 rounds to 3)
    quantile = FeatureGraphClassifier(**{**params, "scaling": "robust", "binning": "quantile"}).fit(
        X, y
    )
    # The target changes at one point of x1: the tree needs one split there,
    # where quantile bins spread evenly over the column.
    tree_edges, quantile_edges = robust.model_.bins[1], quantile.model_.bins[1]
    assert tree_edges.numel() == 3 and quantile_edges.numel() > 10
    threshold = robust._encode(np.array([[0.0, 0.8]]))[0][0, 1].item()
    assert tree_edges[1].item() == pytest.approx(threshold, abs=0.05)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"ensemble_size": 0}, "ensemble_size"),
        ({"lr_schedule": "step"}, "lr_schedule"),
        ({"lr_warmup": 1.0}, "lr_warmup"),
        ({"ema_decay": 1.0}, "ema_decay"),
        ({"label_smoothing": -0.1}, "label_smoothing"),
        ({"scaling": "minmax"}, "scaling"),
        ({"binning": "kmeans"}, "binning"),
    ],
)
def test_bad_regularisation_params_name_themselves(params, match):
    X, y = _data(40)
    with pytest.raises(ValueError, match=match):
        FeatureGraphClassifier(**{**FAST, **params}).fit(X, y)


@pytest.mark.parametrize("graph", ["knn", "learned"])
def test_graph_choice_fits_reads_back_in_x_order_and_saves(graph, tmp_path):
    pd = pytest.importorskip("pandas")
    from pyg_tabular.estimators import FeatureGraphRegressor

    rng = np.random.default_rng(0)
    n = 160
    frame = pd.DataFrame(
        {
            "shop": pd.Categorical(rng.choice(["a", "b", "c"], size=n)),
            "x": rng.normal(size=n),
            "z": rng.normal(size=n),
            "w": rng.normal(size=n),
        }
    )
    frame["x2"] = frame["x"] + 0.05 * rng.normal(size=n)  # x's correlated twin
    y = frame["x"].to_numpy() * frame["z"].to_numpy()
    reg = FeatureGraphRegressor(
        graph=graph, graph_k=2, channels=8, heads=2, epochs=3, progress=False, random_state=0
    ).fit(frame, y)
    assert reg.model_.graph == graph and reg.model_.feature_graph.k == 2
    relation = reg.relation_graph()
    assert relation.feature_names == ["shop", "x", "z", "w", "x2"]  # X's order, not numerics first
    assert ((relation.adjacency != 0).sum(1) == 2).all()
    if graph == "knn":
        # The correlation prior links the twins.
        assert relation.adjacency[1, 4] > 0.9 and relation.adjacency[4, 1] > 0.9
    path = tmp_path / "reg.pt"
    reg.save(path)
    loaded = FeatureGraphRegressor.load(path)
    assert np.array_equal(loaded.predict(frame), reg.predict(frame))
    assert torch.equal(loaded.relation_graph().adjacency, relation.adjacency)


def test_relation_graph_needs_a_sparse_graph():
    from pyg_tabular.estimators import FeatureGraphRegressor

    X = np.random.default_rng(0).normal(size=(40, 3))
    reg = FeatureGraphRegressor(epochs=1, progress=False, random_state=0).fit(X, X[:, 0])
    with pytest.raises(ValueError, match="relation_graph needs a sparse graph"):
        reg.relation_graph()
    with pytest.raises(ValueError, match="graph must be one of"):
        FeatureGraphRegressor(graph="star", epochs=1, progress=False).fit(X, X[:, 0])
