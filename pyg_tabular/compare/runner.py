r"""One run of the comparison: one model trained on one seed, in this process
or in a fresh one so that its peak memory is its own.

Every torch model is trained by :func:`pyg_tabular.training.train`, the loop
the estimators use: AdamW, early stopping on the validation metric, the best
epoch's weights restored before the test metric is taken.

A model tells the runner how it is trained through three optional
attributes, honoured for every model whatever its name:

- ``optimizer_options`` (dict): its AdamW keyword arguments (``lr``,
  ``weight_decay``, ...), over :data:`DEFAULT_OPTIMIZER`;
- ``optimizer_groups()``: its parameter groups (a group may set its own
  ``weight_decay``, e.g. ``0.0``), instead of ``model.parameters()``;
- ``ensemble_size`` (int :math:`k`): the model returns one prediction per
  member, ``[n, k, out]``. It is trained on the mean of the members' losses,
  each member against every target (:func:`~pyg_tabular.training.member_loss`),
  and evaluated on the mean of the members' predictions
  (:class:`~pyg_tabular.training.EnsembleMean`).

See :func:`make_optimizer`; :class:`~pyg_tabular.compare.peers.TabMNet` and
:class:`~pyg_tabular.compare.peers.FTTransformerNet` use them.
"""

from __future__ import annotations

import dataclasses
import math
import queue as queue_module
import statistics
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from pyg_tabular.compare.baselines import train_hgb
from pyg_tabular.compare.metrics import evaluate, monitor_of, peak_rss_mb
from pyg_tabular.compare.models import (
    ATTENTION_MODELS,
    SKLEARN_MODELS,
    build_model,
    resolve_model,
)
from pyg_tabular.compare.progress import Progress, epoch_reporter
from pyg_tabular.compare.tasks import Task, load_task
from pyg_tabular.run_result import RunResult
from pyg_tabular.training import EnsembleMean, member_loss, train
from pyg_tabular.utils.validation import check_positive_int

#: Where a run's task comes from: a named dataset, or a callable
#: ``load(seed=..., max_rows=...) -> Task`` that a spawned process can pickle
#: (a :func:`functools.partial` of :func:`~pyg_tabular.compare.load_table_task`).
TaskSource = str | Callable[..., Task]

#: AdamW keyword arguments of a model without ``optimizer_options``.
DEFAULT_OPTIMIZER: dict[str, Any] = {"lr": 3e-3, "weight_decay": 1e-5}

# TrainingResult.stop_reason -> RunResult.stopped_by.
_STOPPED_BY = {
    "max_epochs": "epochs",
    "early_stopping": "patience",
    "time_budget": "time",
    "diverged": "diverged",
}


def make_optimizer(
    model: nn.Module, *, lr: float | None = None, weight_decay: float | None = None
) -> torch.optim.AdamW:
    r"""AdamW over :obj:`model` with its recipe: the parameter groups of its
    ``optimizer_groups()`` (else all parameters) and the keyword arguments of
    :data:`DEFAULT_OPTIMIZER` updated by its ``optimizer_options``.

    Args:
        model (torch.nn.Module): The model to train.
        lr (float, optional): Overrides the recipe's learning rate for every
            group. (default: :obj:`None`)
        weight_decay (float, optional): Overrides the recipe's weight decay,
            except in groups that set their own. (default: :obj:`None`)
    """
    options = {**DEFAULT_OPTIMIZER, **getattr(model, "optimizer_options", {})}
    if lr is not None:
        options["lr"] = lr
    if weight_decay is not None:
        options["weight_decay"] = weight_decay
    make_groups = getattr(model, "optimizer_groups", None)
    if not callable(make_groups):
        return torch.optim.AdamW(model.parameters(), **options)
    groups: list[dict[str, Any]] = list(make_groups())
    if lr is not None:
        groups = [{**group, "lr": lr} for group in groups]
    return torch.optim.AdamW(groups, **options)


def train_one(
    name: str,
    task: Task,
    *,
    seed: int,
    epochs: int,
    batch_size: int = 128,
    lr: float | None = None,
    weight_decay: float | None = None,
    patience: int = 10,
    time_budget: float | None = None,
    numeric_embedding: str | None = None,
    on_epoch: Callable[[Progress], None] | None = None,
) -> RunResult:
    r"""Trains one model on one seed with early stopping on the validation split.

    Neural models: AdamW with the model's recipe (see :func:`make_optimizer`;
    :data:`DEFAULT_OPTIMIZER` for the graph nets and the MLP),
    :obj:`epochs` passes at most, stop after :obj:`patience` epochs without a
    better validation metric (or after the epoch that crosses
    :obj:`time_budget` seconds) and keep the best epoch's weights. An
    ensemble (``ensemble_size``) is trained and evaluated as the module
    docstring says. ``hgb``: see :func:`~pyg_tabular.compare.train_hgb`.

    Args:
        name (str): The model (see :func:`~pyg_tabular.compare.model_names`).
        task (Task): The data.
        seed (int): Seeds the weights and the batch order.
        epochs (int): Most epochs.
        batch_size (int, optional): Rows per step. (default: :obj:`128`)
        lr (float, optional): Overrides every model's learning rate.
            (default: :obj:`None`, the model's recipe)
        weight_decay (float, optional): Overrides every model's weight decay.
            (default: :obj:`None`, the model's recipe)
        patience (int, optional): Epochs without improvement before stopping.
            (default: :obj:`10`)
        time_budget (float, optional): Seconds of training (the loop's wall
            clock, validation included). (default: :obj:`None`)
        numeric_embedding (str, optional): One of
            :data:`~pyg_tabular.compare.embeddings.NUMERIC_EMBEDDINGS`, for every
            model that has a numeric embedding. (default: :obj:`None`, each
            model's own)
        on_epoch (callable, optional): Called with the run's
            :class:`~pyg_tabular.compare.progress.Progress` after every epoch
            of a neural model. (default: :obj:`None`)
    """
    name = resolve_model(name)
    if name in SKLEARN_MODELS:
        return train_hgb(task, seed=seed, time_budget=time_budget)
    before = peak_rss_mb()
    torch.manual_seed(seed)
    model = build_model(name, task, numeric_embedding=numeric_embedding)
    optimizer = make_optimizer(model, lr=lr, weight_decay=weight_decay)
    ensemble_size: int | None = getattr(model, "ensemble_size", None)
    predictor = model if ensemble_size is None else EnsembleMean(model, task.kind)
    monitor, mode = monitor_of(task.kind)
    generator = torch.Generator().manual_seed(seed)
    train_x, train_y = task.train.x, task.train.y
    train_seconds: list[float] = []

    def batches(epoch: int) -> Iterator[Tensor]:
        # Timed here so that s/epoch counts training, not validation; the
        # finally also times an epoch the time budget ends between two steps.
        start = time.perf_counter()
        try:
            yield from torch.randperm(train_x.size(0), generator=generator).split(batch_size)
        finally:
            train_seconds.append(time.perf_counter() - start)

    result = train(
        model,
        batches,
        lambda chunk: member_loss(model(train_x[chunk]), train_y[chunk], task.kind, ensemble_size),
        optimizer=optimizer,
        epochs=epochs,
        validate=lambda: evaluate(predictor, task.val, task.kind, task.target_scale),
        monitor=monitor,
        mode=mode,
        patience=patience,
        time_budget=time_budget,
        on_epoch_end=None
        if on_epoch is None
        else epoch_reporter(on_epoch, epochs=epochs, monitor=monitor, mode=mode),
    )
    start = time.perf_counter()
    metrics = evaluate(predictor, task.test, task.kind, task.target_scale)
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
        seconds_per_epoch=statistics.median(train_seconds) if train_seconds else math.nan,
        rows_per_second=rows_per_second,
        epochs_run=len(result.history),
        history=[record[monitor] for record in result.history],
        elapsed=[record["elapsed"] for record in result.history],
        best_epoch=result.best_epoch,
        peak_mb=peak,
        added_mb=peak - before,
        attention=attention,
        stopped_by=_STOPPED_BY.get(result.stop_reason, result.stop_reason),
        train_seconds=result.seconds,
    )


# The worker processes of train_isolated calls still running, so that an
# interrupt of run_all can end those whose threads it cannot interrupt.
_LIVE: set[Any] = set()
_LIVE_LOCK = threading.Lock()


def run_all(
    pending: Sequence[tuple[int, str]],
    run: Callable[[int, str], RunResult],
    finished: Callable[[int, str, RunResult | Exception], None],
    *,
    jobs: int = 1,
) -> None:
    r"""Calls ``run(seed, name)`` for every pair of :obj:`pending`, at most
    :obj:`jobs` at a time, and ``finished(seed, name, outcome)`` in the
    calling thread as each ends, with its result or the :class:`Exception`
    it raised (one failed run does not stop the others).

    With :obj:`jobs` above one the runs go to threads that each wait on a
    :func:`train_isolated` process. On an interrupt (or any other
    :class:`BaseException` here) the runs not started are dropped, the
    worker processes still running are ended, and the exception is raised
    again; the runs already passed to :obj:`finished` are kept by the caller.
    """
    check_positive_int(jobs, "jobs")
    if jobs == 1:
        for seed, name in pending:
            try:
                outcome: RunResult | Exception = run(seed, name)
            except Exception as error:
                outcome = error
            finished(seed, name, outcome)
        return
    from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

    pool = ThreadPoolExecutor(max_workers=jobs)
    running: dict[Future[RunResult], tuple[int, str]] = {}
    try:
        for seed, name in pending:
            running[pool.submit(run, seed, name)] = (seed, name)
        while running:
            ended, _ = wait(list(running), return_when=FIRST_COMPLETED)
            # In submission order, so that the log reads like a serial run's.
            for future in [f for f in running if f in ended]:
                seed, name = running.pop(future)
                failure = future.exception()
                if failure is None:
                    finished(seed, name, future.result())
                else:
                    finished(seed, name, failure)  # type: ignore[arg-type]
    except BaseException:
        for future in running:
            future.cancel()
        with _LIVE_LOCK:
            for process in list(_LIVE):
                process.terminate()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


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
        if kwargs.pop("progress"):
            kwargs["on_epoch"] = lambda progress: queue.put({"progress": progress})
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
    patience: int = 10,
    time_budget: float | None = None,
    numeric_embedding: str | None = None,
    on_epoch: Callable[[Progress], None] | None = None,
) -> RunResult:
    """:func:`train_one` in a fresh process, so :attr:`RunResult.peak_mb` is
    the peak of that model alone (the process also holds torch and the data).
    The child sends each epoch's :class:`~pyg_tabular.compare.progress.Progress`
    to :obj:`on_epoch`, called in this process.

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
        patience=patience,
        time_budget=time_budget,
        numeric_embedding=numeric_embedding,
        progress=on_epoch is not None,
    )
    process = context.Process(target=_isolated, args=(queue, name, source, seed, kwargs))
    process.start()
    with _LIVE_LOCK:
        _LIVE.add(process)
    try:
        while True:
            try:
                outcome = queue.get(timeout=0.5)
            except queue_module.Empty:
                if process.is_alive():
                    continue
                try:  # it may have put its result just before exiting
                    outcome = queue.get(timeout=0.5)
                except queue_module.Empty:
                    raise RuntimeError(
                        f"training {name!r} (seed {seed}) died with exit code "
                        f"{process.exitcode} before reporting a result"
                    ) from None
            if "progress" not in outcome:
                break
            if on_epoch is not None:
                on_epoch(outcome["progress"])
        process.join()
    finally:
        with _LIVE_LOCK:
            _LIVE.discard(process)
        if process.is_alive():
            process.terminate()
            process.join()
    if "error" in outcome:
        raise RuntimeError(f"training {name!r} (seed {seed}) failed: {outcome['error']}")
    return RunResult(**outcome)


__all__ = [
    "DEFAULT_OPTIMIZER",
    "EnsembleMean",
    "TaskSource",
    "load_source",
    "make_optimizer",
    "member_loss",
    "run_all",
    "train_isolated",
    "train_one",
]
