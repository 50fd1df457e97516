r"""Baselines that are not torch models: scikit-learn's HistGradientBoosting."""

from __future__ import annotations

import time
from typing import Any

import torch

from pyg_tabular.compare.metrics import metrics_of, monitor_of, peak_rss_mb
from pyg_tabular.compare.run_result import RunResult
from pyg_tabular.compare.tasks import Split, Task


def train_hgb(task: Task, *, seed: int, max_iter: int = 400) -> RunResult:
    """scikit-learn's HistGradientBoosting on the same splits, as a baseline.

    Categorical columns are native categories. Early stopping uses *our*
    validation split rather than scikit-learn's internal one: the model is fit
    for :obj:`max_iter` boosting iterations (:func:`~pyg_tabular.compare.train_one`
    gives it ten per epoch of the neural budget), the validation metric is read
    after each (``staged_predict``), and the test metric is taken at the best
    iteration.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    before = peak_rss_mb()
    categorical = [i >= task.num_numeric for i in range(task.train.x.size(1))]
    options = dict(
        max_iter=max_iter,
        early_stopping=False,
        random_state=seed,
        categorical_features=categorical if any(categorical) else None,
    )
    estimator: Any
    if task.kind == "regression":
        estimator = HistGradientBoostingRegressor(**options)
    else:
        estimator = HistGradientBoostingClassifier(**options)
    x_train, y_train = task.train.x.numpy(), task.train.y.numpy()
    start = time.perf_counter()
    estimator.fit(x_train, y_train)
    seconds = time.perf_counter() - start
    monitor, mode = monitor_of(task.kind)
    sign = 1.0 if mode == "max" else -1.0

    def metric(prediction: Any, split: Split) -> dict[str, float]:
        return metrics_of(torch.as_tensor(prediction), split, task.kind, task.target_scale)

    staged = (
        estimator.staged_predict if task.kind == "regression" else estimator.staged_predict_proba
    )
    history = [metric(p, task.val)[monitor] for p in staged(task.val.x.numpy())]
    best = max(range(len(history)), key=lambda i: (sign * history[i], -i))
    start = time.perf_counter()
    test_stages = staged(task.test.x.numpy())
    for _ in range(best):
        next(test_stages)
    prediction = next(test_stages)
    rows_per_second = task.test.x.size(0) / max(time.perf_counter() - start, 1e-9)
    nodes = sum(len(tree.nodes) for stage in estimator._predictors for tree in stage)
    peak = peak_rss_mb()
    return RunResult(
        model="hgb",
        seed=seed,
        metrics=metric(prediction, task.test),
        params=nodes,
        seconds_per_epoch=seconds / max(1, estimator.n_iter_),
        rows_per_second=rows_per_second,
        epochs_run=best + 1,
        history=history,
        peak_mb=peak,
        added_mb=peak - before,
    )


__all__ = ["train_hgb"]
