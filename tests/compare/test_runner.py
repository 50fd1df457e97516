import pytest
import torch

from pyg_tabular import compare
from pyg_tabular.compare import load_task, train_isolated, train_one


def _tiny_task():
    return load_task("breast_cancer", seed=0, max_rows=160)


def test_training_records_history_memory_and_attention():
    task = _tiny_task()
    result = train_one("feature-gat-1head", task, seed=0, epochs=3, patience=10)
    assert len(result.history) == result.epochs_run == 3
    assert all(0.0 <= value <= 1.0 for value in result.history)
    assert result.peak_mb > 0 and 0 <= result.added_mb <= result.peak_mb
    attention = torch.tensor(result.attention)
    features = task.train.x.size(1)
    assert attention.shape == (features, features)
    torch.testing.assert_close(attention.sum(-1), torch.ones(features))


def test_the_test_metric_is_taken_with_the_best_epochs_weights(monkeypatch):
    # Validation accuracy is scripted to peak at epoch 2 of 4: the weights
    # evaluated on the test split must be epoch 2's, as the shared loop keeps them.
    task = _tiny_task()
    seen = []
    scripted = iter([0.5, 0.9, 0.6, 0.7])
    evaluate = compare.runner.evaluate

    def spy(model, split, kind, target_scale=1.0):
        state = [p.detach().clone() for p in model.parameters()]
        seen.append((split is task.test, state))
        metrics = evaluate(model, split, kind, target_scale)
        return metrics if split is task.test else {**metrics, "accuracy": next(scripted)}

    monkeypatch.setattr(compare.runner, "evaluate", spy)
    result = train_one("mlp", task, seed=0, epochs=4, patience=10)
    assert result.history == [0.5, 0.9, 0.6, 0.7]
    validation = [state for is_test, state in seen if not is_test]
    (test_state,) = [state for is_test, state in seen if is_test]
    for best, used in zip(validation[1], test_state):
        assert torch.equal(best, used)
    assert not all(torch.equal(a, b) for a, b in zip(validation[3], test_state))


def test_time_budget_stops_after_the_epoch_that_crosses_it():
    result = train_one("mlp", _tiny_task(), seed=0, epochs=50, time_budget=1e-6)
    assert result.epochs_run == 1


@pytest.mark.slow
def test_a_failing_isolated_run_reports_the_error():
    with pytest.raises(RuntimeError, match="name must be one of"):
        train_isolated("mlp", "no_such_table", seed=0, epochs=1)


@pytest.mark.slow
def test_isolated_run_reports_its_own_memory_and_matches_in_process():
    task = _tiny_task()
    here = train_one("mlp", task, seed=0, epochs=2)
    there = train_isolated("mlp", "breast_cancer", seed=0, epochs=2, max_rows=160)
    assert there.metrics == pytest.approx(here.metrics)
    assert there.history == pytest.approx(here.history)
    assert there.peak_mb > there.added_mb >= 0
