r"""What ``pyg-tabular compare`` shows while a run trains: per run, the epoch,
the time so far and the best validation metric yet.

:func:`epoch_reporter` turns the training loop's epoch records into
:class:`Progress` events, in the process that trains (a worker process sends
them to the command's process, see
:func:`~pyg_tabular.compare.train_isolated`); :class:`ProgressDisplay` shows
them: a tqdm bar per running run when tqdm is installed and the output is a
terminal, plain lines otherwise.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import threading
from collections.abc import Callable
from typing import Any, TextIO

import pyg_tabular.typing as _typing


@dataclasses.dataclass
class Progress:
    r"""Where a run stands after an epoch.

    Attributes:
        epoch (int): Epochs done (1-based).
        epochs (int): The epoch limit.
        elapsed (float): Seconds since the run's training began.
        metric (str): The validation metric early stopping follows.
        best (float): Its best value so far (``nan`` before a finite one).
    """

    epoch: int
    epochs: int
    elapsed: float
    metric: str
    best: float


def epoch_reporter(
    report: Callable[[Progress], None], *, epochs: int, monitor: str, mode: str
) -> Callable[[dict[str, float]], None]:
    r"""An ``on_epoch_end`` callback for :func:`~pyg_tabular.training.train`
    that calls :obj:`report` with a :class:`Progress` after every epoch.

    Args:
        report (callable): Receives each :class:`Progress`.
        epochs (int): The epoch limit.
        monitor (str): The key of the epoch record to follow.
        mode (str): ``"min"`` or ``"max"``: whether lower or higher is better.
    """
    best = math.nan

    def on_epoch_end(record: dict[str, float]) -> None:
        nonlocal best
        value = float(record.get(monitor, math.nan))
        if math.isfinite(value) and (
            math.isnan(best) or (value < best if mode == "min" else value > best)
        ):
            best = value
        report(Progress(int(record["epoch"]), epochs, float(record["elapsed"]), monitor, best))

    return on_epoch_end


class ProgressDisplay:
    r"""Shows the :class:`Progress` of the runs of a comparison.

    With bars, each running run has a tqdm bar over its epochs (the elapsed
    time is the bar's own) that disappears when the run ends; without, a run
    prints a line each time :obj:`interval` more seconds of its training have
    passed, so that a run of a few seconds adds no line and a long one is
    never silent for long.

    Args:
        stream (file, optional): Where to show it. (default: :obj:`sys.stdout`)
        bars (bool, optional): Show bars; :obj:`None` shows them when tqdm is
            installed and :obj:`stream` is a terminal. (default: :obj:`None`)
        interval (float, optional): Seconds of training between two plain
            lines of a run. (default: :obj:`10.0`)
    """

    def __init__(
        self, stream: TextIO | None = None, *, bars: bool | None = None, interval: float = 10.0
    ) -> None:
        self.stream = sys.stdout if stream is None else stream
        if bars is None:
            bars = _typing.WITH_TQDM and bool(getattr(self.stream, "isatty", lambda: False)())
        self.bars = bars
        self.interval = interval
        # Runs may report from several threads (compare --jobs).
        self._lock = threading.Lock()
        self._runs: dict[tuple[int, str], Any] = {}

    def start(self, seed: int, name: str, epochs: int) -> Callable[[Progress], None]:
        r"""Opens the display of run (:obj:`name`, :obj:`seed`); returns the
        callback that its :class:`Progress` events go to."""
        key = (seed, name)
        with self._lock:
            if self.bars:
                from tqdm.auto import tqdm

                self._runs[key] = tqdm(
                    total=epochs,
                    desc=f"seed {seed} {name}",
                    unit="epoch",
                    leave=False,
                    file=self.stream,
                )
            else:
                self._runs[key] = 0.0  # the elapsed seconds of the run's last line

        def update(progress: Progress) -> None:
            known = not math.isnan(progress.best)
            best = f"best {progress.metric} {progress.best:.4f}" if known else ""
            with self._lock:
                if key not in self._runs:
                    return
                if self.bars:
                    bar = self._runs[key]
                    bar.n = progress.epoch
                    bar.set_postfix_str(best, refresh=False)
                    bar.refresh()
                    return
                if progress.elapsed - self._runs[key] < self.interval:
                    return
                self._runs[key] = progress.elapsed
                print(
                    f"  seed {seed} {name:>14}: epoch {progress.epoch}/{progress.epochs}, "
                    f"{progress.elapsed:.0f} s" + (f", {best}" if best else ""),
                    file=self.stream,
                    flush=True,
                )

        return update

    def finish(self, seed: int, name: str) -> None:
        r"""Closes the display of run (:obj:`name`, :obj:`seed`)."""
        with self._lock:
            run = self._runs.pop((seed, name), None)
            if self.bars and run is not None:
                run.close()

    def write(self, line: str) -> None:
        r"""Prints :obj:`line` above the bars (or as it is, without them)."""
        with self._lock:
            if self.bars:
                from tqdm.auto import tqdm

                tqdm.write(line, file=self.stream)
            else:
                print(line, file=self.stream, flush=True)


__all__ = ["Progress", "ProgressDisplay", "epoch_reporter"]
