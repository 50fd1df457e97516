r"""The record of one comparison run."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class RunResult:
    """One model trained on one seed."""

    model: str
    seed: int
    #: Test metrics at the best validation epoch (RMSE in target units).
    metrics: dict[str, float]
    #: Trainable parameters; for ``hgb`` the number of tree nodes.
    params: int
    #: Median seconds of training per epoch; for ``hgb`` the fit time per boosting iteration.
    seconds_per_epoch: float
    #: Test rows predicted per second (one pass over the test split).
    rows_per_second: float
    #: Epochs (boosting iterations for ``hgb``) run before early stopping.
    epochs_run: int
    #: Validation metric after each epoch (or boosting iteration), in target units.
    history: list[float] = dataclasses.field(default_factory=list)
    #: Peak resident memory of the process that trained the model, MiB.
    peak_mb: float = float("nan")
    #: Peak minus the resident memory before the model was built, MiB.
    added_mb: float = float("nan")
    #: Mean ``[F, F]`` attention over the test rows, for attention models.
    attention: list[list[float]] | None = None
    #: What ended training: ``"patience"`` (early stopping), ``"epochs"``
    #: (the epoch budget), ``"time"`` (the time budget) or ``"diverged"``;
    #: :obj:`None` for ``hgb`` and for runs recorded before this field.
    stopped_by: str | None = None
    #: Wall-clock seconds of the training loop (validation included: the
    #: clock the time budget reads); :obj:`None` for ``hgb`` and older runs.
    train_seconds: float | None = None


__all__ = ["RunResult"]
