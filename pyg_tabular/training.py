r"""The training loop shared by the estimators and :mod:`pyg_tabular.compare`.

:func:`train` runs epochs of optimizer steps, validates after each epoch,
stops early, keeps the weights of the best epoch and restores them on return,
whatever ended the loop: the epoch limit, early stopping, the time budget, a
diverging loss or a :class:`KeyboardInterrupt`. It can step a learning-rate
schedule after every optimizer step (:func:`make_lr_scheduler`) and keep an
average of the weights (:class:`torch.optim.swa_utils.AveragedModel`), which
is then what it validates and restores.

Both users train the same way on the same task kinds: :data:`TASK_LOSSES`
holds the loss of each kind (with label smoothing for classification), and an
efficient ensemble (a model returning one prediction per member,
``[n, k, out]``) trains on the mean of its members' losses
(:func:`member_loss`) and predicts with their mean (:func:`ensemble_mean`,
:class:`EnsembleMean`).

Under :mod:`torch.distributed` (more than one process) the epoch's training
loss is averaged over the processes and rank 0's clock decides the time
budget, so that every process stops at the same epoch; the monitored value
must agree across processes already (the caller's :obj:`validate` can
broadcast rank 0's value).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.optim import lr_scheduler
from torch.optim.swa_utils import AveragedModel

import pyg_tabular.typing as _typing
from pyg_tabular.utils.validation import (
    check_choice,
    check_fraction,
    check_positive_int,
    check_positive_number,
)


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


# --------------------------------------------------------------------------- #
# Task losses and efficient ensembles
# --------------------------------------------------------------------------- #


def _regression_loss(out: Tensor, y: Tensor, label_smoothing: float) -> Tensor:
    return F.mse_loss(out.squeeze(-1), y.to(out.dtype))


def _binary_loss(out: Tensor, y: Tensor, label_smoothing: float) -> Tensor:
    target = y.to(out.dtype)
    if label_smoothing > 0.0:
        # One logit is the two-class softmax of [0, logit]: smoothing its
        # one-hot target by eps moves eps / 2 of the mass to the other class.
        target = target * (1.0 - label_smoothing) + 0.5 * label_smoothing
    return F.binary_cross_entropy_with_logits(out.squeeze(-1), target)


def _multiclass_loss(out: Tensor, y: Tensor, label_smoothing: float) -> Tensor:
    return F.cross_entropy(out, y.long(), label_smoothing=label_smoothing)


#: The training loss of each task kind, ``loss(out, y, label_smoothing)``
#: for outputs ``[n, out]`` and targets ``[n]``: the mean squared error of
#: ``out[:, 0]`` (``"regression"``), binary cross-entropy on the logit
#: ``out[:, 0]`` (``"binary"``) and cross-entropy on the class logits
#: (``"multiclass"``). Label smoothing :math:`\varepsilon` trains a class
#: model against :math:`(1 - \varepsilon)\,\text{one-hot} +
#: \varepsilon / K` (:math:`K = 2` for one binary logit), as
#: ``cross_entropy(label_smoothing=...)`` does.
TASK_LOSSES: dict[str, Callable[[Tensor, Tensor, float], Tensor]] = {
    "regression": _regression_loss,
    "binary": _binary_loss,
    "multiclass": _multiclass_loss,
}


def _check_label_smoothing(label_smoothing: object, kind: str) -> float:
    value = check_fraction(label_smoothing, "label_smoothing")
    if value > 0.0 and kind == "regression":
        raise ValueError(
            f"label_smoothing applies to classification, not to kind='regression' "
            f"(got label_smoothing={label_smoothing!r})"
        )
    return value


def member_loss(
    out: Tensor,
    y: Tensor,
    kind: str,
    ensemble_size: int | None = None,
    *,
    label_smoothing: float = 0.0,
) -> Tensor:
    r"""The training loss of :obj:`out` for targets :obj:`y` of a task
    :obj:`kind` (a key of :data:`TASK_LOSSES`).

    With :obj:`ensemble_size` :math:`k`, :obj:`out` is ``[n, k, out]`` and the
    loss is the mean over the :math:`k` members of each member's loss against
    all of :obj:`y`, as TabM trains (Gorishniy et al., ICLR 2025); without, it
    is the loss of ``[n, out]``.

    Args:
        out (torch.Tensor): The model's output.
        y (torch.Tensor): Targets ``[n]``: values, ``0``/``1``, or class indices.
        kind (str): ``"regression"``, ``"binary"`` or ``"multiclass"``.
        ensemble_size (int, optional): Members :math:`k` of an ensemble
            output. (default: :obj:`None`)
        label_smoothing (float, optional): :math:`\varepsilon \in [0, 1)`
            for classification. (default: :obj:`0.0`)

    Example:
        >>> out = torch.tensor([[[0.0], [2.0]]])  # one row, two members
        >>> member_loss(out, torch.tensor([1.0]), "regression", 2)
        tensor(1.)
    """
    check_choice(kind, "kind", tuple(TASK_LOSSES))
    smoothing = _check_label_smoothing(label_smoothing, kind)
    loss_of = TASK_LOSSES[kind]
    if ensemble_size is None:
        return loss_of(out, y, smoothing)
    if out.dim() != 3 or out.size(1) != ensemble_size:
        raise ValueError(
            f"an ensemble of {ensemble_size} members must return [n, {ensemble_size}, out] "
            f"(got shape {tuple(out.shape)})"
        )
    # Every member's loss is a mean over the same n rows, so the mean of the
    # members' losses is the loss over all n * k predictions at once.
    return loss_of(out.flatten(0, 1), y.repeat_interleave(ensemble_size), smoothing)


def ensemble_mean(out: Tensor, kind: str) -> Tensor:
    r"""The mean prediction of an ensemble output ``[n, k, out]``, in the
    form one model's output takes (``[n, out]``):

    - ``"regression"``: the mean of the members' values;
    - ``"binary"``: the logit of the mean of the members' probabilities;
    - ``"multiclass"``: the log of the mean of the members' class
      probabilities (log-probabilities: their softmax is that mean).

    Example:
        >>> out = torch.tensor([[[-20.0], [20.0]]])  # two sure, opposite members
        >>> torch.sigmoid(ensemble_mean(out, "binary"))
        tensor([[0.5000]])
    """
    check_choice(kind, "kind", tuple(TASK_LOSSES))
    if out.dim() != 3:
        raise ValueError(f"out must be [n, k, out] (got shape {tuple(out.shape)})")
    if kind == "regression":
        return out.mean(1)
    if kind == "binary":
        # float64: a mean probability near 0 or 1 keeps a finite logit.
        probability = torch.sigmoid(out.double()).mean(1)
        return torch.logit(probability, eps=1e-12).to(out.dtype)
    # log(mean_k p_k) without leaving log space: a tiny probability stays finite.
    return torch.logsumexp(torch.log_softmax(out, dim=-1), dim=1) - math.log(out.size(1))


class EnsembleMean(nn.Module):
    r"""The mean prediction of an ensemble :obj:`model` (``[n, k, out]``),
    as :func:`ensemble_mean` gives it (``[n, out]``), so that code written
    for one model's output reads it unchanged.

    Args:
        model (torch.nn.Module): Returns ``[n, k, out]``.
        kind (str): The task kind, a key of :data:`TASK_LOSSES`.
    """

    def __init__(self, model: nn.Module, kind: str) -> None:
        super().__init__()
        self.model = model
        self.kind = check_choice(kind, "kind", tuple(TASK_LOSSES))

    def forward(self, *args: Any, **kwargs: Any) -> Tensor:
        return ensemble_mean(self.model(*args, **kwargs), self.kind)


# --------------------------------------------------------------------------- #
# Learning-rate schedules and weight averaging
# --------------------------------------------------------------------------- #


def _cosine(
    optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int
) -> lr_scheduler.LRScheduler:
    if warmup_steps < 2:  # one step at (t + 1) / w is no warm-up
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    decay = lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(total_steps - warmup_steps, 1))
    warm = lr_scheduler.LinearLR(
        optimizer, start_factor=1.0 / warmup_steps, end_factor=1.0, total_iters=warmup_steps - 1
    )
    return lr_scheduler.SequentialLR(optimizer, [warm, decay], milestones=[warmup_steps])


def _one_cycle(
    optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int
) -> lr_scheduler.LRScheduler:
    # OneCycleLR needs two steps in each of its phases.
    warmup_steps = max(warmup_steps, 2)
    total_steps = max(total_steps, warmup_steps + 2)
    return lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=[group["lr"] for group in optimizer.param_groups],
        total_steps=total_steps,
        pct_start=warmup_steps / total_steps,
    )


#: Learning-rate schedules by name, each ``factory(optimizer, total_steps,
#: warmup_steps) -> LRScheduler``, stepped after every optimizer step; add
#: your own entry to use it by name. With :math:`T` steps, :math:`w` of them
#: warm-up, and :math:`\eta` the optimizer's learning rate:
#:
#: - ``"cosine"``: :math:`\eta\,(t + 1) / w` for :math:`t < w`, then
#:   :math:`\tfrac{\eta}{2}(1 + \cos(\pi (t - w) / (T - w)))`
#:   (:class:`~torch.optim.lr_scheduler.LinearLR` then
#:   :class:`~torch.optim.lr_scheduler.CosineAnnealingLR`; no warm-up for
#:   :math:`w < 2`);
#: - ``"one-cycle"``: :class:`~torch.optim.lr_scheduler.OneCycleLR` with
#:   :math:`\eta` as its peak and :math:`\max(w, 2)` warm-up steps (its own
#:   defaults otherwise: it starts at :math:`\eta / 25`, ends near zero, and
#:   cycles Adam's :math:`\beta_1` between 0.95 and 0.85).
LR_SCHEDULES: dict[str, Callable[[torch.optim.Optimizer, int, int], lr_scheduler.LRScheduler]] = {
    "cosine": _cosine,
    "one-cycle": _one_cycle,
}


def make_lr_scheduler(
    optimizer: torch.optim.Optimizer,
    schedule: str,
    *,
    total_steps: int,
    warmup: float = 0.05,
) -> lr_scheduler.LRScheduler:
    r"""The learning-rate schedule :obj:`schedule` (a key of
    :data:`LR_SCHEDULES`) over :obj:`total_steps` optimizer steps, for
    :func:`train`'s :obj:`scheduler`.

    Args:
        optimizer (torch.optim.Optimizer): Its learning rate is the peak.
        schedule (str): ``"cosine"`` or ``"one-cycle"``.
        total_steps (int): Steps the schedule spans (e.g. epochs times
            batches per epoch).
        warmup (float, optional): Share of :obj:`total_steps` spent warming
            up, in :math:`[0, 1)`. (default: :obj:`0.05`)

    Example:
        >>> optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> scheduler = make_lr_scheduler(optimizer, "cosine", total_steps=10, warmup=0.2)
        >>> rates = []
        >>> for _ in range(10):
        ...     rates.append(round(optimizer.param_groups[0]["lr"], 3))
        ...     optimizer.step()
        ...     scheduler.step()
        >>> rates
        [0.5, 1.0, 1.0, 0.962, 0.854, 0.691, 0.5, 0.309, 0.146, 0.038]
    """
    check_choice(schedule, "schedule", tuple(LR_SCHEDULES))
    check_positive_int(total_steps, "total_steps")
    fraction = check_fraction(warmup, "warmup")
    return LR_SCHEDULES[schedule](optimizer, int(total_steps), round(fraction * total_steps))


def exponential_moving_average(model: nn.Module, decay: float) -> AveragedModel:
    r"""An :class:`~torch.optim.swa_utils.AveragedModel` of :obj:`model` that
    keeps the exponential moving average of its weights, for :func:`train`'s
    :obj:`averaged`.

    The :math:`t`-th update (one per optimizer step) gives
    :math:`\bar{\theta}_1 = \theta_1` and :math:`\bar{\theta}_t =
    \beta_t \bar{\theta}_{t-1} + (1 - \beta_t)\, \theta_t` with
    :math:`\beta_t = \min(\text{decay}, t / (t + 9))`: the decay warms up
    as in TensorFlow's ``ExponentialMovingAverage(num_updates=...)``, so
    that a training of few steps is not averaged towards its first weights.
    Buffers are not averaged; the average's are the model's.

    Args:
        model (torch.nn.Module): The model whose weights are averaged.
        decay (float): :math:`\beta \in (0, 1)`, e.g. ``0.999``.

    Example:
        >>> model = torch.nn.Linear(1, 1, bias=False)
        >>> average = exponential_moving_average(model, 0.9)
        >>> for value in (1.0, 2.0, 3.0):
        ...     _ = model.weight.data.fill_(value)
        ...     average.update_parameters(model)
        >>> # 1, then 2/11 * 1 + 9/11 * 2, then 3/12 of that + 9/12 * 3
        >>> round(average.module.weight.item(), 4)
        2.7045
    """
    beta = check_fraction(decay, "decay")
    if beta == 0.0:
        raise ValueError(f"decay must be in (0, 1) (got {decay!r})")

    def average(averaged: list[Tensor], current: list[Tensor], count: Tensor) -> None:
        # count: updates averaged so far (t - 1 at the t-th update).
        step = float(count) + 1.0
        weight = 1.0 - min(beta, step / (step + 9.0))
        for mean, value in zip(averaged, current):
            mean.lerp_(value, weight)

    return AveragedModel(model, multi_avg_fn=average)  # type: ignore[arg-type]


def _swap_parameters(model: nn.Module, averaged: AveragedModel) -> None:
    # Exchanges the model's weights with the average's, in place: the
    # optimizer, DDP and the caller's closures keep the same tensors.
    pairs: list[tuple[Tensor, Tensor]] = list(zip(model.parameters(), averaged.module.parameters()))
    if averaged.use_buffers:
        pairs += zip(model.buffers(), averaged.module.buffers())
    with torch.no_grad():
        for own, average in pairs:
            kept = own.detach().clone()
            own.copy_(average)
            average.copy_(kept)


@contextlib.contextmanager
def _averaged_weights(model: nn.Module, averaged: AveragedModel | None) -> Iterator[None]:
    r"""The averaged weights in :obj:`model` inside the block, its own after."""
    if averaged is None:
        yield
        return
    _swap_parameters(model, averaged)
    try:
        yield
    finally:
        _swap_parameters(model, averaged)


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
    scheduler: lr_scheduler.LRScheduler | None = None,
    averaged: AveragedModel | None = None,
) -> float:
    r"""One pass of optimizer steps, each followed by the schedule's step and
    the average's update; returns the mean batch loss over the processes.
    Stops early at the first step past :obj:`deadline`
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
        if averaged is not None:
            averaged.update_parameters(model)
        if scheduler is not None:
            scheduler.step()
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
    scheduler: lr_scheduler.LRScheduler | None = None,
    averaged: AveragedModel | None = None,
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

    With :obj:`averaged` (an :class:`~torch.optim.swa_utils.AveragedModel` of
    :obj:`model`, e.g. :func:`exponential_moving_average`), the average is updated
    after every optimizer step, and at the end of each epoch the averaged
    weights are loaded into :obj:`model` for everything that reads them:
    :obj:`validate`, :obj:`on_epoch_end`, the copy of the best weights. The
    epoch's own weights come back before training goes on, so the average
    regularizes without steering the optimization, and the weights restored
    on return are the average that validated best.

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
        scheduler (torch.optim.lr_scheduler.LRScheduler, optional): Stepped
            after every optimizer step (see :func:`make_lr_scheduler`).
            (default: :obj:`None`)
        averaged (torch.optim.swa_utils.AveragedModel, optional): An average
            of :obj:`model`'s weights to update, validate and restore, see
            above. (default: :obj:`None`)

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
    if averaged is not None and not isinstance(averaged, AveragedModel):
        raise TypeError(
            f"averaged must be a torch.optim.swa_utils.AveragedModel (got "
            f"{type(averaged).__name__})"
        )
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
                model,
                batches(epoch - 1),
                loss_fn,
                optimizer,
                epoch=epoch,
                deadline=deadline,
                scheduler=scheduler,
                averaged=averaged,
            )
            record: dict[str, float] = {"epoch": float(epoch), "train_loss": train_loss}
            with _averaged_weights(model, averaged):
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


__all__ = [
    "LR_SCHEDULES",
    "TASK_LOSSES",
    "EnsembleMean",
    "TrainingResult",
    "ensemble_mean",
    "exponential_moving_average",
    "make_lr_scheduler",
    "member_loss",
    "train",
]
