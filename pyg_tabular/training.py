r"""The training loop shared by the estimators and :mod:`pyg_tabular.compare`.

:func:`train` runs epochs of optimizer steps, validates after each epoch,
stops early, keeps the weights of the best epoch and restores them on return,
whatever ended the loop: the epoch limit, early stopping, the time budget, a
diverging loss or a :class:`KeyboardInterrupt`.

Under :mod:`torch.distributed` (more than one process) the epoch's training
loss is averaged over the processes and rank 0's clock decides the time
budget, so that every process stops at the same epoch; the monitored value
must agree across processes already (the caller's :obj:`validate` can
broadcast rank 0's value).
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

import pyg_tabular.typing as _typing
from pyg_tabular.utils.validation import check_positive_int, check_positive_number


@dataclasses.dataclass
class TrainingResult:
    r"""What :func:`train` did.

    Attributes:
        history (list[dict[str, float]]): One dict per epoch run, with
            ``"epoch"`` (1-based), ``"train_loss"`` (the mean of the epoch's
            batch losses), every key returned by ``validate``, ``"seconds"``
            (the epoch's wall time, validation included) and ``"elapsed"``
            (seconds since the loop started, at the end of the epoch's
            validation: the anytime view's clock).
        best_epoch (int): The epoch whose weights the model holds on return
            (``0``: the initial weights, when no epoch finished).
        best_score (float): The monitored value at :obj:`best_epoch`
            (``nan`` without ``validate``).
        stop_reason (str): ``"max_epochs"``, ``"early_stopping"``,
            ``"time_budget"``, ``"diverged"`` or ``"interrupted"``.
        seconds (float): Wall time of the whole loop.
    """

    history: list[dict[str, float]]
    best_epoch: int
    best_score: float
    stop_reason: str
    seconds: float


def _snapshot(model: torch.nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _all_finite(state: dict[str, Tensor]) -> bool:
    return all(bool(torch.isfinite(v).all()) for v in state.values() if v.is_floating_point())


def _world_size() -> int:
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return int(dist.get_world_size())
    return 1


def _mean_over_processes(value: float) -> float:
    if _world_size() == 1:
        return value
    buffer = torch.tensor([value], dtype=torch.float64)
    torch.distributed.all_reduce(buffer)
    return float(buffer[0]) / _world_size()


def _rank0(value: float) -> float:
    if _world_size() == 1:
        return value
    buffer = torch.tensor([value], dtype=torch.float64)
    torch.distributed.broadcast(buffer, src=0)
    return float(buffer[0])


def _check_arguments(
    epochs: object,
    monitor: object,
    mode: object,
    patience: object,
    time_budget: object,
) -> None:
    check_positive_int(epochs, "epochs")
    if not isinstance(monitor, str):
        raise TypeError(f"monitor must be a str (got {type(monitor).__name__})")
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max' (got {mode!r})")
    if patience is not None:
        check_positive_int(patience, "patience")
    if time_budget is not None:
        check_positive_number(time_budget, "time_budget")


class _Divergence(Exception):
    # Ends the loop from inside an epoch: where it happened and what went non-finite.
    def __init__(self, epoch: int, what: str, value: float) -> None:
        super().__init__(epoch, what, value)
        self.epoch, self.what, self.value = epoch, what, value


class _BestWeights:
    r"""The best epoch so far, a copy of its weights, and early stopping."""

    def __init__(self, model: torch.nn.Module, mode: str, patience: int | None) -> None:
        self.model, self.mode, self.patience = model, mode, patience
        self.state = _snapshot(model)  # the initial weights until an epoch ends
        self.epoch, self.score, self.stale = 0, math.nan, 0

    def _better(self, score: float) -> bool:
        if math.isnan(self.score):
            return True
        return score < self.score if self.mode == "min" else score > self.score

    def keep_last(self, epoch: int) -> None:
        # Without validation the best epoch is the last one that ended finite.
        state = _snapshot(self.model)
        # A finite epoch loss can still end on a step that broke the weights.
        if not _all_finite(state):
            raise _Divergence(epoch, "weights", math.nan)
        self.state, self.epoch = state, epoch

    def offer(self, epoch: int, score: float) -> bool:
        r"""Keeps :obj:`epoch` if it is the best; returns whether patience ran out."""
        if self._better(score):
            self.state, self.epoch, self.score = _snapshot(self.model), epoch, score
            self.stale = 0
            return False
        self.stale += 1
        return self.patience is not None and self.stale >= self.patience

    def restore(self) -> None:
        self.model.load_state_dict(self.state)
        self.model.eval()


def _train_epoch(
    model: torch.nn.Module,
    batches: Iterable[Any],
    loss_fn: Callable[[Any], Tensor],
    optimizer: torch.optim.Optimizer,
    *,
    epoch: int,
    deadline: float | None,
) -> float:
    r"""One pass of optimizer steps; returns the mean batch loss over the
    processes. Stops early at the first step past :obj:`deadline`
    (``time.perf_counter()`` seconds): on a large table one epoch can outlast
    the whole budget."""
    model.train()
    total, count = 0.0, 0
    for batch in batches:
        optimizer.zero_grad()
        try:
            loss = loss_fn(batch)
        except FloatingPointError:
            raise _Divergence(epoch, "train_loss", math.nan) from None
        except (ValueError, RuntimeError):
            # A model that checks its activations raises once a step has
            # broken its weights: that is divergence, not a bug.
            if _all_finite(model.state_dict()):
                raise
            raise _Divergence(epoch, "weights", math.nan) from None
        loss.backward()
        optimizer.step()
        total += float(loss.detach())
        count += 1
        if deadline is not None and time.perf_counter() >= deadline:
            break
    if count == 0:
        raise ValueError(f"batches({epoch - 1}) yielded no batches")
    return _mean_over_processes(total / count)


def _validate(
    model: torch.nn.Module, validate: Callable[[], dict[str, float]], monitor: str
) -> dict[str, float]:
    model.eval()
    with torch.no_grad():
        metrics = validate()
    if monitor not in metrics:
        raise ValueError(
            f"monitor={monitor!r} is not among the keys validate returned ({sorted(metrics)})"
        )
    return {k: float(v) for k, v in metrics.items()}


def _progress_bar(progress: bool, epochs: int, desc: str) -> Any:
    if not (progress and _typing.WITH_TQDM):
        return None
    from tqdm.auto import tqdm

    return tqdm(total=epochs, desc=desc, leave=False)


def _warn_or_raise(divergence: _Divergence, best_epoch: int) -> None:
    at, what, value = divergence.epoch, divergence.what, divergence.value
    if best_epoch == 0:
        raise FloatingPointError(
            f"training diverged at epoch {at}: {what} is {value}, and no earlier epoch "
            f"ended finite; try a smaller learning rate"
        )
    warnings.warn(
        f"training diverged at epoch {at} ({what} is {value}); restored the weights "
        f"of epoch {best_epoch}",
        RuntimeWarning,
        stacklevel=3,
    )


def train(
    model: torch.nn.Module,
    batches: Callable[[int], Iterable[Any]],
    loss_fn: Callable[[Any], Tensor],
    *,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    validate: Callable[[], dict[str, float]] | None = None,
    monitor: str = "val_loss",
    mode: str = "min",
    patience: int | None = None,
    time_budget: float | None = None,
    progress: bool = False,
    progress_desc: str = "epochs",
    on_epoch_end: Callable[[dict[str, float]], None] | None = None,
) -> TrainingResult:
    r"""Trains :obj:`model` with early stopping and restores its best weights.

    Each epoch puts the model in train mode, and for every batch of
    ``batches(epoch)`` runs ``loss_fn(batch).backward()`` and
    ``optimizer.step()``. Then :obj:`validate` (if given) runs under
    ``model.eval()`` and :func:`torch.no_grad`, and its value of
    :obj:`monitor` decides which epoch is best. Without :obj:`validate` the
    best epoch is the last one whose weights are finite.

    A copy of the best weights is kept and loaded back on return, whatever
    the stop reason. A non-finite training loss or monitored value stops the
    loop (``stop_reason="diverged"``): the best finite weights are restored
    with a :class:`RuntimeWarning`, or, when no epoch had them, the initial
    weights are restored and :class:`FloatingPointError` is raised. On
    :class:`KeyboardInterrupt` the best weights so far (the initial ones
    before the first epoch ends) are restored, the
    :class:`TrainingResult` is attached to the exception as
    ``training_result`` and the exception is raised again. The model is left
    in eval mode.

    Args:
        model (torch.nn.Module): The module whose weights are trained, kept
            and restored (the unwrapped one under
            :class:`~torch.nn.parallel.DistributedDataParallel`).
        batches (callable): Maps the 0-based epoch to that epoch's batches;
            the caller shuffles and seeds.
        loss_fn (callable): Maps one batch to a scalar loss; it calls the
            model itself, and may raise :class:`FloatingPointError` when the
            model's activations overflow.
        optimizer (torch.optim.Optimizer): Steps the model's parameters.
        epochs (int): Maximum number of epochs.
        validate (callable, optional): Returns a dict of metrics after each
            epoch. (default: :obj:`None`)
        monitor (str, optional): The key of :obj:`validate`'s dict that
            decides the best epoch. (default: :obj:`"val_loss"`)
        mode (str, optional): ``"min"`` or ``"max"``: whether a lower or a
            higher :obj:`monitor` is better. (default: :obj:`"min"`)
        patience (int, optional): Epochs without improvement before
            stopping; :obj:`None` never stops early. (default: :obj:`None`)
        time_budget (float, optional): Seconds; the loop stops at the first
            step that crosses it, validates that (possibly partial) epoch and
            returns. Under :mod:`torch.distributed` it stops after the epoch
            that crosses it. (default: :obj:`None`)
        progress (bool, optional): Show a tqdm bar over epochs when tqdm is
            installed. (default: :obj:`False`)
        progress_desc (str, optional): The bar's label.
            (default: :obj:`"epochs"`)
        on_epoch_end (callable, optional): Called with each epoch's history
            record. (default: :obj:`None`)

    Returns:
        TrainingResult: The history, the best epoch and why the loop stopped.

    Example:
        >>> import torch
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> model = torch.nn.Linear(3, 1)
        >>> x, y = torch.randn(32, 3), torch.randn(32, 1)
        >>> result = train(
        ...     model,
        ...     lambda epoch: [(x, y)],
        ...     lambda batch: torch.nn.functional.mse_loss(model(batch[0]), batch[1]),
        ...     optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        ...     epochs=5,
        ...     validate=lambda: {"val_loss": float(torch.nn.functional.mse_loss(model(x), y))},
        ... )
        >>> len(result.history), result.stop_reason
        (5, 'max_epochs')
    """
    _check_arguments(epochs, monitor, mode, patience, time_budget)
    start = time.perf_counter()
    # Processes would leave an epoch at different steps and then wait on each
    # other: under torch.distributed the budget is checked between epochs only.
    deadline = start + time_budget if time_budget is not None and _world_size() == 1 else None
    history: list[dict[str, float]] = []
    best = _BestWeights(model, mode, patience)
    stop_reason = "max_epochs"
    divergence: _Divergence | None = None
    bar = _progress_bar(progress, int(epochs), progress_desc)

    try:
        for epoch in range(1, int(epochs) + 1):
            epoch_start = time.perf_counter()
            train_loss = _train_epoch(
                model, batches(epoch - 1), loss_fn, optimizer, epoch=epoch, deadline=deadline
            )
            record: dict[str, float] = {"epoch": float(epoch), "train_loss": train_loss}
            if validate is not None:
                record.update(_validate(model, validate, monitor))
            now = time.perf_counter()
            record["seconds"] = now - epoch_start
            record["elapsed"] = now - start
            history.append(record)
            if on_epoch_end is not None:
                on_epoch_end(record)
            if bar is not None:
                bar.update(1)
                bar.set_postfix({k: round(v, 4) for k, v in record.items() if k != "epoch"})

            if not math.isfinite(train_loss):
                raise _Divergence(epoch, "train_loss", train_loss)
            if validate is None:
                best.keep_last(epoch)
            elif not math.isfinite(record[monitor]):
                raise _Divergence(epoch, monitor, record[monitor])
            elif best.offer(epoch, record[monitor]):
                stop_reason = "early_stopping"
                break
            if time_budget is not None and _rank0(time.perf_counter() - start) >= time_budget:
                stop_reason = "time_budget"
                break
    except _Divergence as diverged:
        divergence, stop_reason = diverged, "diverged"
    except KeyboardInterrupt as interrupt:
        best.restore()
        interrupt.training_result = TrainingResult(  # type: ignore[attr-defined]
            history, best.epoch, best.score, "interrupted", time.perf_counter() - start
        )
        raise
    finally:
        if bar is not None:
            bar.close()

    best.restore()
    if divergence is not None:
        _warn_or_raise(divergence, best.epoch)
    return TrainingResult(history, best.epoch, best.score, stop_reason, time.perf_counter() - start)


__all__ = ["TrainingResult", "train"]
