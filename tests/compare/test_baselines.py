import pytest

from pyg_tabular.compare import load_task, train_hgb, train_one


@pytest.mark.parametrize("name", ["breast_cancer", "diabetes", "wine"])
def test_hgb_beats_a_constant_predictor_on_the_same_splits(name):
    task = load_task(name, seed=1)
    result = train_one("hgb", task, seed=1, epochs=5)
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


def test_hgb_iterations_follow_max_iter():
    task = load_task("wine", seed=0)
    assert len(train_hgb(task, seed=0, max_iter=7).history) == 7
