import pytest

from pyg_tabular.compare import load_task, train_hgb, train_one
from pyg_tabular.compare.baselines import HGB_MAX_ITER, HGB_PATIENCE


@pytest.mark.parametrize("name", ["breast_cancer", "diabetes", "wine"])
def test_hgb_beats_a_constant_predictor_on_the_same_splits(name):
    task = load_task(name, seed=1)
    result = train_one("hgb", task, seed=1, epochs=5)
    assert result.model == "hgb" and result.params > 0 and result.epochs_run >= 1
    assert len(result.history) == len(result.elapsed) == result.epochs_run
    if task.kind == "regression":
        constant = float((task.test.y - task.train.y.mean()).pow(2).mean().sqrt())
        assert result.metrics["rmse"] < 0.9 * constant * task.target_scale
    else:
        majority = float((task.test.y == task.train.y.mode().values).float().mean())
        assert result.metrics["accuracy"] > majority + 0.05
    # The reported test metric is the one at the best validation iteration.
    best = max(result.history) if task.kind != "regression" else min(result.history)
    assert result.history[result.best_epoch - 1] == best
    assert best not in result.history[: result.best_epoch - 1]


def test_hgb_early_stops_on_the_validation_split_whatever_the_epochs():
    task = load_task("breast_cancer", seed=0)
    short, long = (train_one("hgb", task, seed=0, epochs=e) for e in (1, 500))
    # The neural epoch budget does not reach boosting: the same fit either way.
    assert short.metrics == long.metrics and short.epochs_run == long.epochs_run
    # Early stopping on the validation loss, long before the cap.
    assert short.stopped_by == "patience" and short.epochs_run < HGB_MAX_ITER
    assert short.epochs_run >= HGB_PATIENCE  # it waited its patience out
    assert short.epochs_run - short.best_epoch <= 2 * HGB_PATIENCE


def test_hgb_reports_its_fitted_size_at_the_best_iteration():
    task = load_task("wine", seed=0)  # multiclass: one tree per class and iteration
    result = train_hgb(task, seed=0)
    assert result.trees == result.best_epoch * task.num_outputs
    assert result.trees <= result.leaves <= 31 * result.trees
    # Every split node has two children: nodes = 2 * leaves - 1 per tree.
    assert result.params == 2 * result.leaves - result.trees


def test_hgb_honours_the_time_budget():
    task = load_task("breast_cancer", seed=0)
    free = train_hgb(task, seed=0)
    budgeted = train_hgb(task, seed=0, time_budget=1e-6)
    assert budgeted.stopped_by == "time" and free.stopped_by == "patience"
    # Stopped after the first fit call, far short of where early stopping ends.
    assert budgeted.epochs_run < free.epochs_run
    # The anytime clock rises to the loop's total.
    assert budgeted.elapsed == sorted(budgeted.elapsed)
    assert budgeted.elapsed[-1] == pytest.approx(budgeted.train_seconds)
