r"""What a comparison leaves behind: ``runs.csv`` appended run by run, and
summaries (``results.csv``, ``results.md``, PNG plots) written atomically.

A reader of the output folder never sees a half-written summary: each is
written to a temporary file beside it and renamed over the old one.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyg_tabular.typing as _typing
from pyg_tabular.compare.metrics import monitor_of
from pyg_tabular.run_result import STOP_REASONS, RunResult, unconverged, verdict

#: Every file a comparison writes into its output folder.
OUTPUT_FILES = (
    "runs.csv",
    "results.csv",
    "results.md",
    "learning_curves.png",
    "metric_bars.png",
    "anytime.png",
    "attention.png",
)

# Columns of runs.csv around the task's metrics; lists are stored as JSON.
_LEADING = ["model", "seed"]
_TRAILING = [
    "params",
    "seconds_per_epoch",
    "rows_per_second",
    "epochs_run",
    "peak_mb",
    "added_mb",
    "history",
    "attention",
    "stopped_by",
    "train_seconds",
    "best_epoch",
    "elapsed",
    "trees",
    "leaves",
]
_INTEGERS = {"seed", "params", "epochs_run", "best_epoch", "trees", "leaves"}
_LISTS = ("history", "attention", "elapsed")
# Columns added after runs.csv files were first written: a file without them
# still reads (as None, or an empty list) and takes new runs in its own columns.
_LATER = ("stopped_by", "train_seconds", "best_epoch", "elapsed", "trees", "leaves")


#: How :func:`summarize` aggregates each column over a model's seeds.
AGGREGATION = {
    "metrics": "mean ± sample std over seeds (the mean alone for one seed)",
    "epochs": "epochs run (boosting iterations for hgb): the range over seeds",
    "best epoch": "the epoch whose weights were kept: the range over seeds",
    "stopped by": "how many seeds each stop reason ended: patience (early stopping), "
    "epochs (the epoch cap), time (the time budget), diverged",
    "converged": "'no' when most seeds stopped on a budget (epochs or time) "
    "rather than by early stopping",
    "params": "trainable parameters of the first seed's model; for hgb the leaves and "
    "trees kept up to the best iteration (median seed)",
    "s/epoch": "median over seeds of each run's median training seconds per epoch",
    "infer rows/s": "median over seeds",
    "peak MiB": "the largest over seeds",
    "added MiB": "the largest over seeds",
}


def _spread(values: Sequence[float], digits: int = 4) -> str:
    mean = statistics.fmean(values)
    if len(values) < 2:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def _range(values: Sequence[int]) -> str:
    low, high = min(values), max(values)
    return f"{low}" if low == high else f"{low}–{high}"


def _stops(runs: Sequence[RunResult]) -> str:
    counts = Counter(r.stopped_by for r in runs if r.stopped_by is not None)
    return ", ".join(f"{reason} {counts[reason]}" for reason in STOP_REASONS if counts[reason])


def _size(runs: Sequence[RunResult]) -> object:
    sized = sorted((r for r in runs if r.trees is not None), key=lambda r: r.leaves or 0)
    if not sized:
        return runs[0].params
    median = sized[(len(sized) - 1) // 2]
    return f"{median.leaves:,} leaves in {median.trees:,} trees"


def summarize(results: Sequence[RunResult], kind: str | None = None) -> list[dict[str, object]]:
    r"""One row per model: the metrics over seeds, how the runs ended, size,
    speed and memory; :data:`AGGREGATION` says how each column is
    aggregated. With :obj:`kind` the best epoch of older records (that did
    not store it) is read from their validation history."""
    mode = monitor_of(kind)[1] if kind is not None else None
    rows = []
    for name in dict.fromkeys(r.model for r in results):
        runs = [r for r in results if r.model == name]
        row: dict[str, object] = {"model": name, "seeds": len(runs)}
        for metric in runs[0].metrics:
            row[metric] = _spread([r.metrics[metric] for r in runs])
        row["epochs"] = _range([r.epochs_run for r in runs])
        best = [r.best_epoch if mode is None else r.best(mode) for r in runs]
        row["best epoch"] = _range([b for b in best if b is not None]) if None not in best else ""
        row["stopped by"] = _stops(runs)
        known = [r.converged for r in runs if r.converged is not None]
        row["converged"] = ("no" if unconverged(runs, name) else "yes") if known else ""
        row["params"] = _size(runs)
        row["s/epoch"] = f"{statistics.median(r.seconds_per_epoch for r in runs):.3f}"
        row["infer rows/s"] = f"{statistics.median(r.rows_per_second for r in runs):,.0f}"
        row["peak MiB"] = f"{max(r.peak_mb for r in runs):.0f}"
        row["added MiB"] = f"{max(r.added_mb for r in runs):.0f}"
        rows.append(row)
    return rows


def paired_table(
    results: Sequence[RunResult], kind: str, reference: str | None = None
) -> list[dict[str, object]]:
    r"""Every other model against :obj:`reference` (default: the best mean
    test metric), paired over the seeds both ran: the mean difference of the
    monitored test metric (``model - reference``), its Student-t 95%
    interval, and the verdict of :func:`~pyg_tabular.run_result.verdict`."""
    monitor, mode = monitor_of(kind)
    names = list(dict.fromkeys(r.model for r in results))
    if reference is None:
        reference = best_model(results, kind, names)
    rows: list[dict[str, object]] = []
    for name in names:
        if name == reference or reference is None:
            continue
        sentence, difference = verdict(results, name, reference, monitor, mode)
        interval = (
            "n/a (one seed)"
            if math.isnan(difference.low)
            else f"[{difference.low:+.4f}, {difference.high:+.4f}]"
        )
        rows.append(
            {
                "model": name,
                f"Δ {monitor} vs {reference}": f"{difference.mean:+.4f}",
                "95% interval": interval,
                "seeds": difference.seeds,
                "verdict": sentence,
            }
        )
    return rows


def best_model(results: Sequence[RunResult], kind: str, among: Sequence[str]) -> str | None:
    """The model of :obj:`among` with the best mean test metric, if any ran."""
    monitor, mode = monitor_of(kind)
    sign = 1.0 if mode == "max" else -1.0
    means = {
        name: statistics.mean(r.metrics[monitor] for r in results if r.model == name)
        for name in among
        if any(r.model == name for r in results)
    }
    return max(means, key=lambda name: sign * means[name]) if means else None


def format_table(rows: Sequence[dict[str, object]]) -> str:
    """Renders rows as a GitHub markdown table."""
    if not rows:
        return ""
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def report_markdown(results: Sequence[RunResult], kind: str) -> str:
    r"""``results.md``: the summary table, the paired differences against
    the best model, and how each column is aggregated."""
    monitor, mode = monitor_of(kind)
    parts = [format_table(summarize(results, kind))]
    paired = paired_table(results, kind)
    if paired:
        seeds = max(int(str(r["seeds"])) for r in paired)
        parts.append(
            f"Paired test {monitor} differences ({'higher' if mode == 'max' else 'lower'} is "
            f"better): seeds share their splits, so each model is compared with the best one "
            f"seed by seed; the interval is a Student-t 95% interval over the {seeds} paired "
            "differences, and only an interval that excludes zero makes a win or a loss. A "
            "model whose seeds mostly stopped on a budget is unconverged: its comparison holds "
            "at equal budget only.\n\n" + format_table(paired)
        )
    notes = "\n".join(f"- {column}: {how}" for column, how in AGGREGATION.items())
    parts.append("How each column is aggregated over seeds:\n\n" + notes)
    return "\n\n".join(parts) + "\n"


def _temporary(path: Path) -> Path:
    # Same folder (so the rename is atomic) and same suffix (matplotlib reads it).
    return path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")


def write_atomic(path: str | Path, write: Callable[[Path], Any]) -> None:
    r"""Calls ``write(temporary_path)``, then renames the file over :obj:`path`."""
    path = Path(path)
    temporary = _temporary(path)
    try:
        write(temporary)
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> None:
    r"""Writes :obj:`text` to :obj:`path` through a temporary file and a rename."""
    write_atomic(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))


def _plot(path: Path, draw: Callable[..., Any], *args: Any) -> None:
    import matplotlib.pyplot as plt

    def write(temporary: Path) -> None:
        # Closed at once: a long comparison would otherwise pile up open figures.
        plt.close(draw(*args, temporary))

    write_atomic(path, write)


class RunLog:
    r"""``runs.csv``: one row per finished (model, seed) run, appended and
    flushed as each run ends, read back to resume or to summarise.

    Args:
        path (str or Path): The CSV file.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def read(self) -> list[RunResult]:
        r"""Every run recorded so far (none when the file does not exist)."""
        if not self.path.exists():
            return []
        with open(self.path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            fields = list(reader.fieldnames or [])
            missing = [f for f in (*_LEADING, *_TRAILING) if f not in fields and f not in _LATER]
            if missing:
                raise ValueError(
                    f"{str(self.path)!r} is not a runs.csv written by this version "
                    f"(missing columns {missing})"
                )
            metrics = [f for f in fields if f not in _LEADING and f not in _TRAILING]
            return [self._result(row, metrics) for row in reader]

    @staticmethod
    def _result(row: dict[str, str], metrics: list[str]) -> RunResult:
        values: dict[str, Any] = {}
        for field in (*_LEADING, *_TRAILING):
            text = row.get(field) or ""
            if field == "model":
                values[field] = text
            elif field in _LATER and not text:
                continue  # an older file, or a field this run does not have
            elif field == "stopped_by":
                values[field] = text
            elif field in _LISTS:
                values[field] = json.loads(text) if text else None
            elif field in _INTEGERS:
                values[field] = int(text)
            else:
                values[field] = float(text)
        values["history"] = values["history"] or []
        values["elapsed"] = values.get("elapsed") or []
        values["metrics"] = {m: float(row[m]) for m in metrics}
        return RunResult(**values)

    def append(self, result: RunResult) -> None:
        r"""Appends :obj:`result` and flushes it to disk before returning."""
        fields = [*_LEADING, *result.metrics, *_TRAILING]
        new = not self.path.exists() or self.path.stat().st_size == 0
        if not new:
            with open(self.path, newline="", encoding="utf-8") as handle:
                header = next(csv.reader(handle), [])
            absent = [f for f in fields if f not in header]
            if absent and all(f in _LATER for f in absent):
                if header == [f for f in fields if f in header]:
                    fields = header  # an older file keeps its columns
            if header != fields:
                raise ValueError(
                    f"run of {result.model!r} has columns {fields}, but {str(self.path)!r} "
                    f"holds {header}"
                )
        record: dict[str, Any] = {f: getattr(result, f) for f in (*_LEADING, *_TRAILING)}
        record.update(result.metrics)
        for field in _LISTS:
            value = getattr(result, field)
            record[field] = "" if value is None else json.dumps(value)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow(record)
        # One write of whole lines: an interrupted append cannot split a row.
        with open(self.path, "a", newline="", encoding="utf-8") as handle:
            handle.write(buffer.getvalue())
            handle.flush()
            os.fsync(handle.fileno())


def write_summaries(
    out: str | Path,
    results: Sequence[RunResult],
    *,
    kind: str,
    title: str,
    feature_names: Sequence[str],
    attention_models: Sequence[str] = (),
) -> list[str]:
    r"""Writes ``results.csv``, ``results.md`` and (with matplotlib) the plots
    of :obj:`results` into :obj:`out`, each atomically; returns the names written.

    An ``attention.png`` left from an earlier run is removed when these
    results have no attention to plot.
    """
    out = Path(out)
    written: list[str] = []
    if not results:
        return written
    rows = summarize(results, kind)

    def write_csv(path: Path) -> None:
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)

    write_atomic(out / "results.csv", write_csv)
    write_text_atomic(out / "results.md", report_markdown(results, kind))
    written += ["results.csv", "results.md"]
    if not _typing.WITH_MATPLOTLIB:  # pragma: no cover - the optional [plot] extra
        return written
    from pyg_tabular import plotting

    monitor, _ = monitor_of(kind)
    _plot(out / "learning_curves.png", plotting.plot_learning_curves, results, monitor)
    _plot(out / "metric_bars.png", plotting.plot_metric_bars, results, monitor)
    _plot(out / "anytime.png", plotting.plot_anytime, results, monitor, monitor_of(kind)[1])
    written += ["learning_curves.png", "metric_bars.png", "anytime.png"]
    best = best_model(results, kind, attention_models)
    attention = next((r.attention for r in results if r.model == best), None)
    if best is not None and attention is not None:
        heading = f"{title}: feature attention of {best} (last layer, test rows)"
        _plot(out / "attention.png", plotting.plot_attention, attention, feature_names, heading)
        written.append("attention.png")
    else:
        (out / "attention.png").unlink(missing_ok=True)
    return written


__all__ = [
    "OUTPUT_FILES",
    "RunLog",
    "AGGREGATION",
    "summarize",
    "paired_table",
    "report_markdown",
    "best_model",
    "format_table",
    "write_atomic",
    "write_text_atomic",
    "write_summaries",
]
