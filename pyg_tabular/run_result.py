r"""The record of one training run of a comparison, and what a set of them says.

This module sits below :mod:`pyg_tabular.compare` and
:mod:`pyg_tabular.plotting`, which both read run records, so that neither
imports the other for them.

Seeds share their splits (seed :math:`s` draws the same split for every
model), so two models are compared *paired*, seed by seed:
:func:`paired_difference` gives the mean difference of their test metric
over the shared seeds with a Student-t 95% interval
(:func:`scipy.stats.t.interval`); :func:`verdict` says "beats" only when
that interval excludes zero, and qualifies a comparison whose runs did not
converge ("at equal budget").
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Sequence

#: What ended a run (:attr:`RunResult.stopped_by`): early stopping on the
#: validation split, the epoch (or iteration) cap, the time budget, or
#: divergence. ``"epochs"`` and ``"time"`` are budgets: a run they stop has
#: not converged.
STOP_REASONS = ("patience", "epochs", "time", "diverged")
BUDGET_STOPS = ("epochs", "time")


@dataclasses.dataclass
class RunResult:
    """One model trained on one seed."""

    model: str
    seed: int
    #: Test metrics at the best validation epoch (RMSE in target units).
    metrics: dict[str, float]
    #: Trainable parameters; for ``hgb`` the nodes of the trees it predicts
    #: with (those up to its best iteration).
    params: int
    #: Median seconds of training per epoch; for ``hgb`` the fit time per boosting iteration.
    seconds_per_epoch: float
    #: Test rows predicted per second (one pass over the test split).
    rows_per_second: float
    #: Epochs (boosting iterations for ``hgb``) run before training stopped.
    epochs_run: int
    #: Validation metric after each epoch (or boosting iteration), in target units.
    history: list[float] = dataclasses.field(default_factory=list)
    #: Peak resident memory of the process that trained the model, MiB.
    peak_mb: float = float("nan")
    #: Peak minus the resident memory before the model was built, MiB.
    added_mb: float = float("nan")
    #: Mean ``[F, F]`` attention over the test rows, for attention models.
    attention: list[list[float]] | None = None
    #: What ended training, one of :data:`STOP_REASONS`; :obj:`None` for runs
    #: recorded before this field.
    stopped_by: str | None = None
    #: Wall-clock seconds of the training loop (validation included: the
    #: clock the time budget reads); :obj:`None` for older runs.
    train_seconds: float | None = None
    #: The 1-based epoch (boosting iteration) whose weights gave
    #: :attr:`metrics`; :obj:`None` for older runs (see :meth:`best`).
    best_epoch: int | None = None
    #: Seconds since training started at each :attr:`history` entry (the
    #: training loop's clock, validation included): the anytime view's x axis.
    elapsed: list[float] = dataclasses.field(default_factory=list)
    #: ``hgb`` only: trees and leaves of the fitted model up to its best iteration.
    trees: int | None = None
    leaves: int | None = None

    def best(self, mode: str) -> int:
        r"""The 1-based best epoch: :attr:`best_epoch`, or for an older record
        the first epoch of :attr:`history` with the best value (``"min"`` or
        ``"max"`` :obj:`mode`); ``0`` without a history."""
        if self.best_epoch is not None:
            return self.best_epoch
        finite = [(v, i) for i, v in enumerate(self.history) if math.isfinite(v)]
        if not finite:
            return 0
        sign = 1.0 if mode == "max" else -1.0
        return max(finite, key=lambda pair: (sign * pair[0], -pair[1]))[1] + 1

    @property
    def converged(self) -> bool | None:
        r"""Whether early stopping (not a budget) ended the run; :obj:`None`
        when the record does not say."""
        if self.stopped_by is None:
            return None
        return self.stopped_by not in BUDGET_STOPS


def unconverged(results: Sequence[RunResult], model: str) -> bool:
    r"""Whether most of :obj:`model`'s runs were stopped by a budget (the
    epoch cap or the time budget) rather than by early stopping."""
    runs = [r for r in results if r.model == model and r.converged is not None]
    return sum(not r.converged for r in runs) * 2 > len(runs) if runs else False


@dataclasses.dataclass
class PairedDifference:
    r"""The mean over shared seeds of ``metric(a) - metric(b)``, with a
    Student-t interval at :attr:`confidence` over the :attr:`seeds`
    differences (:obj:`nan` bounds with fewer than two seeds)."""

    a: str
    b: str
    metric: str
    mean: float
    low: float
    high: float
    seeds: int
    confidence: float = 0.95

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0.0 or self.high < 0.0


def paired_difference(
    results: Sequence[RunResult],
    a: str,
    b: str,
    metric: str,
    *,
    confidence: float = 0.95,
) -> PairedDifference:
    r"""Paired ``metric(a) - metric(b)`` over the seeds both models ran.

    Raises:
        ValueError: When the two models share no seed.
    """
    from scipy import stats

    of_a = {r.seed: r.metrics[metric] for r in results if r.model == a}
    of_b = {r.seed: r.metrics[metric] for r in results if r.model == b}
    seeds = sorted(of_a.keys() & of_b.keys())
    if not seeds:
        raise ValueError(f"models {a!r} and {b!r} share no seed to compare on")
    differences = [of_a[s] - of_b[s] for s in seeds]
    mean = statistics.fmean(differences)
    low = high = math.nan
    if len(differences) > 1:
        error = statistics.stdev(differences) / math.sqrt(len(differences))
        if error > 0.0:
            low, high = stats.t.interval(confidence, len(differences) - 1, loc=mean, scale=error)
        else:  # every seed gave the same difference
            low = high = mean
    return PairedDifference(a, b, metric, mean, float(low), float(high), len(seeds), confidence)


def outcome(mean: float, excludes_zero: bool, mode: str) -> str:
    r"""The words of a paired comparison ``a - b`` with this :obj:`mean`:
    ``"beats"`` or ``"loses to"`` (by the sign of :obj:`mean` and ``mode``,
    ``"min"`` or ``"max"``: which direction is better) only when its interval
    :obj:`excludes_zero`, otherwise ``"ties with"``.

    Raises:
        ValueError: When :obj:`mode` is neither ``"min"`` nor ``"max"``.
    """
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max' (got {mode!r})")
    if not excludes_zero:
        return "ties with"
    better = mean > 0.0 if mode == "max" else mean < 0.0
    return "beats" if better else "loses to"


def verdict(
    results: Sequence[RunResult], a: str, b: str, metric: str, mode: str
) -> tuple[str, PairedDifference]:
    r"""How :obj:`a` compares with :obj:`b` on :obj:`metric` (``mode``
    ``"min"`` or ``"max"``: which direction is better), as a sentence, with
    the :class:`PairedDifference` behind it.

    ``"a beats b"`` or ``"a loses to b"`` only when the paired interval
    excludes zero, otherwise ``"a ties with b"``; prefixed by ``"at equal
    budget,"`` and followed by the unconverged models when either model's
    runs mostly stopped on a budget, since longer runs might change the order.
    """
    difference = paired_difference(results, a, b, metric)
    sentence = f"{a} {outcome(difference.mean, difference.excludes_zero, mode)} {b}"
    open_runs = [m for m in (a, b) if unconverged(results, m)]
    if open_runs:
        sentence = f"at equal budget, {sentence} ({', '.join(open_runs)} unconverged)"
    return sentence, difference


__all__ = [
    "BUDGET_STOPS",
    "STOP_REASONS",
    "PairedDifference",
    "RunResult",
    "outcome",
    "paired_difference",
    "unconverged",
    "verdict",
]
