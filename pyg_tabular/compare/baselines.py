r"""Baselines that are not torch models: scikit-learn's HistGradientBoosting."""

from __future__ import annotations

import time
from typing import Any

import torch

from pyg_tabular.compare.metrics import metrics_of, monitor_of, peak_rss_mb
from pyg_tabular.compare.tasks import Split, Task
from pyg_tabular.run_result import RunResult

#: Most boosting iterations of ``hgb``: a cap that early stopping, not the
#: cap, should end (the neural models' epoch budget does not apply to it).
HGB_MAX_ITER = 10_000
#: Boosting iterations without a lower validation loss before ``hgb`` stops.
HGB_PATIENCE = 50
# Iterations per fit call under a time budget: the budget is checked between
# calls, and each call bins the data again, so the chunks grow with the fit.
_FIRST_CHUNK = 16


def _fit_within(estimator: Any, fit: Any, time_budget: float | None) -> tuple[str, list[float]]:
    r"""Fits :obj:`estimator` (warm-started) until early stopping, the cap or
    the :obj:`time_budget`; returns the stop reason and the clock at the end
    of each fit call, as ``(iterations, seconds)`` pairs flattened."""
    start = time.perf_counter()
    marks: list[float] = [0.0, 0.0]
    while True:
        done = getattr(estimator, "n_iter_", 0)
        step = HGB_MAX_ITER if time_budget is None else max(_FIRST_CHUNK, done // 2)
        estimator.set_params(max_iter=min(HGB_MAX_ITER, done + step))
        fit()
        marks += [float(estimator.n_iter_), time.perf_counter() - start]
        if estimator.n_iter_ < estimator.max_iter:
            return "patience", marks
        if estimator.n_iter_ >= HGB_MAX_ITER:
            return "epochs", marks
        if time_budget is not None and time.perf_counter() - start >= time_budget:
            return "time", marks


def _clock(marks: list[float], iterations: int) -> list[float]:
    # Seconds at the end of each iteration, linear within a fit call: the
    # boosting loop reports no time per iteration.
    points = list(zip(marks[0::2], marks[1::2]))
    clock = []
    for i in range(1, iterations + 1):
        (i0, t0), (i1, t1) = next(
            (points[k - 1], points[k]) for k in range(1, len(points)) if points[k][0] >= i
        )
        clock.append(t0 + (t1 - t0) * (i - i0) / max(i1 - i0, 1.0))
    return clock


def train_hgb(task: Task, *, seed: int, time_budget: float | None = None) -> RunResult:
    r"""scikit-learn's HistGradientBoosting on the same splits, as a baseline
    run on its own terms.

    Categorical columns are native categories. It early-stops on *our*
    validation split (``X_val``/``y_val``, its loss, :data:`HGB_PATIENCE`
    iterations without improvement) under a cap of :data:`HGB_MAX_ITER`
    iterations that does not depend on the neural models' epochs, and stops
    at the first fit call past :obj:`time_budget` seconds, as the neural
    models do. The validation metric is read after each iteration
    (``staged_predict``) and the test metric is taken at the best one;
    :attr:`~pyg_tabular.run_result.RunResult.params` counts the tree nodes up
    to it, and :attr:`~pyg_tabular.run_result.RunResult.trees` /
    :attr:`~pyg_tabular.run_result.RunResult.leaves` give the fitted size.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    before = peak_rss_mb()
    categorical = [i >= task.num_numeric for i in range(task.train.x.size(1))]
    options = dict(
        early_stopping=True,
        n_iter_no_change=HGB_PATIENCE,
        warm_start=True,
        random_state=seed,
        categorical_features=categorical if any(categorical) else None,
    )
    estimator: Any
    if task.kind == "regression":
        estimator = HistGradientBoostingRegressor(**options)
    else:
        estimator = HistGradientBoostingClassifier(**options)
    x_train, y_train = task.train.x.numpy(), task.train.y.numpy()
    x_val, y_val = task.val.x.numpy(), task.val.y.numpy()
    stopped_by, marks = _fit_within(
        estimator, lambda: estimator.fit(x_train, y_train, X_val=x_val, y_val=y_val), time_budget
    )
    seconds = marks[-1]
    monitor, mode = monitor_of(task.kind)
    sign = 1.0 if mode == "max" else -1.0

    def metric(prediction: Any, split: Split) -> dict[str, float]:
        return metrics_of(torch.as_tensor(prediction), split, task.kind, task.target_scale)

    staged = (
        estimator.staged_predict if task.kind == "regression" else estimator.staged_predict_proba
    )
    history = [metric(p, task.val)[monitor] for p in staged(x_val)]
    best = max(range(len(history)), key=lambda i: (sign * history[i], -i))
    start = time.perf_counter()
    test_stages = staged(task.test.x.numpy())
    for _ in range(best):
        next(test_stages)
    prediction = next(test_stages)
    rows_per_second = task.test.x.size(0) / max(time.perf_counter() - start, 1e-9)
    # scikit-learn keeps the fitted trees in a private attribute only.
    kept = [tree for stage in estimator._predictors[: best + 1] for tree in stage]
    peak = peak_rss_mb()
    return RunResult(
        model="hgb",
        seed=seed,
        metrics=metric(prediction, task.test),
        params=sum(len(tree.nodes) for tree in kept),
        seconds_per_epoch=seconds / max(1, estimator.n_iter_),
        rows_per_second=rows_per_second,
        epochs_run=int(estimator.n_iter_),
        history=history,
        peak_mb=peak,
        added_mb=peak - before,
        stopped_by=stopped_by,
        train_seconds=seconds,
        best_epoch=best + 1,
        elapsed=_clock(marks, len(history)),
        trees=len(kept),
        leaves=sum(int(tree.nodes["is_leaf"].sum()) for tree in kept),
    )


__all__ = ["HGB_MAX_ITER", "HGB_PATIENCE", "train_hgb"]
