import pytest
import torch

from pyg_tabular import compare


def test_binary_auc_matches_scikit_learn_with_ties():
    metrics = pytest.importorskip("sklearn.metrics")
    generator = torch.Generator().manual_seed(0)
    score = torch.randint(0, 5, (200,), generator=generator).double()  # many ties
    label = torch.randint(0, 2, (200,), generator=generator)
    expected = metrics.roc_auc_score(label.numpy(), score.numpy())
    assert compare._binary_auc(score, label) == pytest.approx(expected, abs=1e-12)


def test_regression_task_reports_rmse_in_target_units():
    task = compare.load_task("diabetes", seed=0)
    assert task.kind == "regression" and task.num_outputs == 1
    # Standardised on train: mean 0, std 1 there, and the scale is kept to undo it.
    assert abs(float(task.train.y.mean())) < 1e-5
    assert task.target_scale > 10.0

    class Constant(torch.nn.Module):
        def forward(self, x):
            return torch.zeros(x.size(0), 1)

    rmse = compare.evaluate(Constant(), task.test, task.kind, task.target_scale)["rmse"]
    expected = float((task.test.y**2).mean().sqrt()) * task.target_scale
    assert rmse == pytest.approx(expected)


def _tiny_task(name="breast_cancer", max_rows=160):
    return compare.load_task(name, seed=0, max_rows=max_rows)


@pytest.mark.parametrize("name", sorted(compare.MODELS))
def test_every_registered_model_maps_rows_to_outputs(name):
    task = _tiny_task()
    model = compare.MODELS[name](task)
    out = model(task.train.x[:4])
    assert out.shape == (4, 1)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_graph_models_batch_equals_one_row_at_a_time():
    task = _tiny_task()
    for name in ("gatconv", "advanced"):
        torch.manual_seed(0)
        model = compare.MODELS[name](task).eval()
        rows = task.test.x[:5]
        one_by_one = torch.cat([model(rows[i : i + 1]) for i in range(5)])
        torch.testing.assert_close(model(rows), one_by_one, atol=1e-5, rtol=1e-5)


@pytest.mark.realdata
def test_categorical_columns_are_embedded_not_scaled():
    # ACS Employment is almost all categorical: codes stay integers in the task
    # matrix and every model embeds them (one row per code in each table).
    from pyg_tabular.datasets import named_datasets

    try:
        named_datasets.data_files("acs_employment")
    except ImportError as error:
        pytest.skip(str(error))
    task = compare.load_task("acs_employment", seed=0, max_rows=300)
    codes = task.train.x[:, task.num_numeric :]
    assert len(task.cardinalities) == codes.size(1) > 0
    assert torch.equal(codes, codes.round()) and codes.min() >= 0
    assert (codes.max(0).values < torch.tensor(task.cardinalities)).all()
    mlp = compare.MODELS["mlp"](task)
    assert [e.num_embeddings for e in mlp.embeddings] == task.cardinalities
    graph = compare.MODELS["feature-gat"](task)
    sizes = [e.num_embeddings for e in graph.model.encoder.embeddings]
    assert sizes == task.cardinalities


@pytest.mark.parametrize("name", ["breast_cancer", "diabetes", "wine"])
def test_hgb_beats_a_constant_predictor_on_the_same_splits(name):
    task = compare.load_task(name, seed=1)
    result = compare.train_one("hgb", task, seed=1, epochs=5)
    assert result.model == "hgb" and result.params > 0 and result.epochs_run >= 1
    assert len(result.history) == 50  # ten boosting iterations per epoch of budget
    if task.kind == "regression":
        constant = float((task.test.y - task.train.y.mean()).pow(2).mean().sqrt())
        assert result.metrics["rmse"] < 0.9 * constant * task.target_scale
    else:
        majority = float((task.test.y == task.train.y.mode().values).float().mean())
        assert result.metrics["accuracy"] > majority + 0.05
    # The reported test metric is the one at the best validation iteration.
    best = max(result.history) if task.kind != "regression" else min(result.history)
    assert result.history[result.epochs_run - 1] == best


def test_training_records_history_memory_and_attention():
    task = _tiny_task()
    result = compare.train_one("gfa", task, seed=0, epochs=3, patience=10)
    assert len(result.history) == result.epochs_run == 3
    assert all(0.0 <= value <= 1.0 for value in result.history)
    assert result.peak_mb > 0 and 0 <= result.added_mb <= result.peak_mb
    attention = torch.tensor(result.attention)
    features = task.train.x.size(1)
    assert attention.shape == (features, features)
    torch.testing.assert_close(attention.sum(-1), torch.ones(features))


def test_every_model_sees_identical_splits():
    first, second = _tiny_task(), _tiny_task()
    for part in ("train", "val", "test"):
        assert torch.equal(getattr(first, part).x, getattr(second, part).x)
        assert torch.equal(getattr(first, part).y, getattr(second, part).y)
    other_seed = compare.load_task("breast_cancer", seed=1, max_rows=160)
    assert not torch.equal(first.test.x, other_seed.test.x)


@pytest.mark.slow
def test_isolated_run_reports_its_own_memory_and_matches_in_process():
    task = _tiny_task()
    here = compare.train_one("mlp", task, seed=0, epochs=2)
    there = compare.train_isolated("mlp", "breast_cancer", seed=0, epochs=2, max_rows=160)
    assert there.metrics == pytest.approx(here.metrics)
    assert there.history == pytest.approx(here.history)
    assert there.peak_mb > there.added_mb >= 0


def test_unknown_model_name_is_named():
    with pytest.raises(ValueError, match="'nope'"):
        compare.train_one("nope", _tiny_task(), seed=0, epochs=1)
    with pytest.raises(ValueError, match="reserved"):
        compare.register_model("hgb", compare.MODELS["mlp"])


def test_best_model_follows_the_metric_direction():
    def run(name, value, metric):
        return compare.RunResult(name, 0, {metric: value}, 1, 0.1, 1.0, 1)

    results = [run("a", 0.5, "rmse"), run("b", 0.4, "rmse")]
    assert compare.best_model(results, "regression", ["a", "b"]) == "b"
    results = [run("a", 0.5, "accuracy"), run("b", 0.4, "accuracy")]
    assert compare.best_model(results, "binary", ["a", "b", "absent"]) == "a"
    assert compare.best_model(results, "binary", ["absent"]) is None
