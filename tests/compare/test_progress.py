import io
import math

import pytest

import pyg_tabular.typing as _typing
from pyg_tabular.compare import Progress, ProgressDisplay, load_task, train_isolated, train_one
from pyg_tabular.compare.progress import epoch_reporter


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _events(metric="accuracy", values=(0.5, 0.9, 0.7, 0.95), elapsed=(3.0, 9.0, 11.0, 22.0)):
    return [
        Progress(epoch=i + 1, epochs=40, elapsed=t, metric=metric, best=v)
        for i, (v, t) in enumerate(zip(values, elapsed))
    ]


@pytest.mark.parametrize(
    "mode, values, best",
    [
        ("max", [0.5, 0.9, math.nan, 0.7], [0.5, 0.9, 0.9, 0.9]),
        ("min", [2.0, 1.5, 1.8, 1.2], [2.0, 1.5, 1.5, 1.2]),
        ("min", [math.nan, 1.0], [math.nan, 1.0]),
    ],
)
def test_epoch_reporter_keeps_the_best_metric_so_far(mode, values, best):
    seen = []
    on_epoch_end = epoch_reporter(seen.append, epochs=9, monitor="m", mode=mode)
    for epoch, value in enumerate(values, start=1):
        on_epoch_end({"epoch": float(epoch), "elapsed": 0.5 * epoch, "m": value, "other": 7.0})
    assert [p.epoch for p in seen] == list(range(1, len(values) + 1))
    assert [p.elapsed for p in seen] == [0.5 * e for e in range(1, len(values) + 1)]
    assert all(p.epochs == 9 and p.metric == "m" for p in seen)
    for got, expected in zip([p.best for p in seen], best):
        assert got == expected or (math.isnan(got) and math.isnan(expected))


def test_plain_lines_when_the_output_is_no_terminal():
    stream = io.StringIO()
    display = ProgressDisplay(stream)
    assert not display.bars
    report = display.start(0, "gatv2conv", 40)
    for progress in _events():
        report(progress)
    display.write("  seed 0      gatv2conv: accuracy=0.9500")
    display.finish(0, "gatv2conv")
    report(_events(elapsed=(99.0,))[0])  # a late event of a finished run shows nothing
    # A line each time 10 more seconds of training passed: none for the
    # first 9 s, then at 11 s and 22 s.
    assert stream.getvalue().splitlines() == [
        "  seed 0      gatv2conv: epoch 3/40, 11 s, best accuracy 0.7000",
        "  seed 0      gatv2conv: epoch 4/40, 22 s, best accuracy 0.9500",
        "  seed 0      gatv2conv: accuracy=0.9500",
    ]


def test_plain_lines_in_a_terminal_without_tqdm(monkeypatch):
    monkeypatch.setattr(_typing, "WITH_TQDM", False)
    assert not ProgressDisplay(_Terminal()).bars


def test_a_bar_per_run_in_a_terminal_with_tqdm():
    pytest.importorskip("tqdm")
    stream = _Terminal()
    display = ProgressDisplay(stream, interval=0.0)
    assert display.bars
    first = display.start(0, "mlp", 40)
    second = display.start(1, "mlp", 40)
    for progress in _events():
        first(progress)
    second(_events(values=(0.6,), elapsed=(1.0,))[0])
    shown = stream.getvalue()
    assert "seed 0 mlp" in shown and "4/40" in shown and "best accuracy 0.9500" in shown
    assert "seed 1 mlp" in shown and "1/40" in shown and "best accuracy 0.6000" in shown
    # No plain lines in this mode: the bars say it.
    assert "epoch 4/40" not in shown
    display.finish(0, "mlp")
    display.write("  seed 0            mlp: accuracy=0.9500")
    display.finish(1, "mlp")
    assert "  seed 0            mlp: accuracy=0.9500\n" in stream.getvalue()
    assert display._runs == {}


def test_an_in_process_run_reports_every_epoch():
    task = load_task("breast_cancer", seed=0, max_rows=160)
    seen = []
    result = train_one("mlp", task, seed=0, epochs=4, patience=10, on_epoch=seen.append)
    assert [p.epoch for p in seen] == list(range(1, result.epochs_run + 1))
    assert [p.best for p in seen] == [max(result.history[: i + 1]) for i in range(len(seen))]
    assert all(p.metric == "accuracy" and p.epochs == 4 for p in seen)
    assert all(a.elapsed < b.elapsed for a, b in zip(seen, seen[1:]))


@pytest.mark.slow
def test_a_worker_process_reports_every_epoch_to_the_parent():
    seen = []
    result = train_isolated(
        "mlp", "breast_cancer", seed=0, epochs=3, max_rows=160, on_epoch=seen.append
    )
    assert [p.epoch for p in seen] == [1, 2, 3] == list(range(1, result.epochs_run + 1))
    assert [p.best for p in seen] == [max(result.history[: i + 1]) for i in range(3)]
