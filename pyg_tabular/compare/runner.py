r"""One run of the comparison: one model trained on one seed, in this process
or in a fresh one so that its peak memory is its own.

Every torch model is trained by :func:`pyg_tabular.training.train`, the loop
the estimators use: AdamW, early stopping on the validation metric, the best
epoch's weights restored before the test metric is taken.
"""

from __future__ import annotations

import dataclasses
import queue as queue_module
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor, nn

from pyg_tabular.compare.baselines import train_hgb
from pyg_tabular.compare.metrics import evaluate, monitor_of, peak_rss_mb
from pyg_tabular.compare.models import ATTENTION_MODELS, MODELS, SKLEARN_MODELS, resolve_model
from pyg_tabular.compare.run_result import RunResult
from pyg_tabular.compare.tasks import Task, load_task
from pyg_tabular.training import train

#: Where a run's task comes from: a named dataset, or a callable
#: ``load(seed=..., max_rows=...) -> Task`` that a spawned process can pickle
#: (a :func:`functools.partial` of :func:`~pyg_tabular.compare.load_table_task`).
TaskSource = str | Callable[..., Task]


def _loss_fn(kind: str) -> Callable[[Tensor, Tensor], Tensor]:
    if kind == "regression":
        return lambda out, y: nn.functional.mse_loss(out.squeeze(-1), y.float())
    if kind == "binary":
        return lambda out, y: nn.functional.binary_cross_entropy_with_logits(
            out.squeeze(-1), y.float()
        )
    return lambda out, y: nn.functional.cross_entropy(out, y.long())


def train_one(
    name: str,
    task: Task,
    *,
    seed: int,
    epochs: int,
    batch_size: int = 128,
    lr: float = 3e-3,
    patience: int = 10,
    time_budget: float | None = None,
) -> RunResult:
    """Trains one model on one seed with early stopping on the validation split.

    Neural models: AdamW, :obj:`epochs` passes at most, stop after
    :obj:`patience` epochs without a better validation metric (or once
    :obj:`time_budget` seconds are spent) and keep the best epoch's weights.
    ``hgb``: see :func:`~pyg_tabular.compare.train_hgb`.
    """
    name = resolve_model(name)
    if name in SKLEARN_MODELS:
        return train_hgb(task, seed=seed, max_iter=10 * epochs)
    before = peak_rss_mb()
    torch.manual_seed(seed)
    model = MODELS[name](task)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-5)
    loss_of = _loss_fn(task.kind)
    monitor, mode = monitor_of(task.kind)
    generator = torch.Generator().manual_seed(seed)
    train_x, train_y = task.train.x, task.train.y
    train_seconds: list[float] = []

    def batches(epoch: int) -> Iterator[Tensor]:
        # Timed here so that s/epoch counts training, not validation.
        start = time.perf_counter()
        yield from torch.randperm(train_x.size(0), generator=generator).split(batch_size)
        train_seconds.append(time.perf_counter() - start)

    result = train(
        model,
        batches,
        lambda chunk: loss_of(model(train_x[chunk]), train_y[chunk]),
        optimizer=optimizer,
        epochs=epochs,
        validate=lambda: evaluate(model, task.val, task.kind, task.target_scale),
        monitor=monitor,
        mode=mode,
        patience=patience,
        time_budget=time_budget,
    )
    start = time.perf_counter()
    metrics = evaluate(model, task.test, task.kind, task.target_scale)
    rows_per_second = task.test.x.size(0) / max(time.perf_counter() - start, 1e-9)
    attention = None
    if name in ATTENTION_MODELS:
        with torch.no_grad():
            attention = model.feature_attention(task.test.x).tolist()  # type: ignore[operator]
    peak = peak_rss_mb()
    return RunResult(
        model=name,
        seed=seed,
        metrics=metrics,
        params=sum(p.numel() for p in model.parameters()),
        seconds_per_epoch=statistics.median(train_seconds),
        rows_per_second=rows_per_second,
        epochs_run=len(result.history),
        history=[record[monitor] for record in result.history],
        peak_mb=peak,
        added_mb=peak - before,
        attention=attention,
    )


def load_source(source: TaskSource, *, seed: int, max_rows: int | None = None) -> Task:
    r"""The :class:`Task` of :obj:`source` (see :data:`TaskSource`) for :obj:`seed`."""
    if isinstance(source, str):
        return load_task(source, seed=seed, max_rows=max_rows)
    return source(seed=seed, max_rows=max_rows)


def _isolated(queue: Any, name: str, source: TaskSource, seed: int, kwargs: dict[str, Any]) -> None:
    # Runs in a fresh "spawn" process so that its peak RSS is this model's alone.
    try:
        torch.set_num_threads(kwargs.pop("threads"))
        task = load_source(source, seed=seed, max_rows=kwargs.pop("max_rows"))
        queue.put(dataclasses.asdict(train_one(name, task, seed=seed, **kwargs)))
    except BaseException as error:  # report, don't hang the parent
        queue.put({"error": f"{type(error).__name__}: {error}"})


def train_isolated(
    name: str,
    source: TaskSource,
    *,
    seed: int,
    epochs: int,
    batch_size: int = 128,
    max_rows: int | None = None,
    threads: int = 1,
    time_budget: float | None = None,
) -> RunResult:
    """:func:`train_one` in a fresh process, so :attr:`RunResult.peak_mb` is
    the peak of that model alone (the process also holds torch and the data).

    The child is ended when this call ends for any reason (a
    :class:`KeyboardInterrupt` included), and a child that dies without a
    result raises instead of leaving the caller waiting.
    """
    import multiprocessing

    name = resolve_model(name)
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    kwargs = dict(
        epochs=epochs,
        batch_size=batch_size,
        max_rows=max_rows,
        threads=threads,
        time_budget=time_budget,
    )
    process = context.Process(target=_isolated, args=(queue, name, source, seed, kwargs))
    process.start()
    try:
        while True:
            try:
                outcome = queue.get(timeout=0.5)
                break
            except queue_module.Empty:
                if not process.is_alive():
                    try:  # it may have put its result just before exiting
                        outcome = queue.get(timeout=0.5)
                        break
                    except queue_module.Empty:
                        raise RuntimeError(
                            f"training {name!r} (seed {seed}) died with exit code "
                            f"{process.exitcode} before reporting a result"
                        ) from None
        process.join()
    finally:
        if process.is_alive():
            process.terminate()
            process.join()
    if "error" in outcome:
        raise RuntimeError(f"training {name!r} (seed {seed}) failed: {outcome['error']}")
    return RunResult(**outcome)


__all__ = ["train_one", "train_isolated", "load_source", "TaskSource"]
