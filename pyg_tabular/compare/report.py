r"""What a comparison leaves behind: ``runs.csv`` appended run by run, and
summaries (``results.csv``, ``results.md``, PNG plots) written atomically.

A reader of the output folder never sees a half-written summary: each is
written to a temporary file beside it and renamed over the old one.
"""

from __future__ import annotations

import csv
import io
import json
import os
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyg_tabular.typing as _typing
from pyg_tabular.compare.metrics import monitor_of
from pyg_tabular.run_result import RunResult

#: Every file a comparison writes into its output folder.
OUTPUT_FILES = (
    "runs.csv",
    "results.csv",
    "results.md",
    "learning_curves.png",
    "metric_bars.png",
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


def summarize(results: Sequence[RunResult]) -> list[dict[str, object]]:
    """One row per model: metric mean ± std over seeds, size, speed and memory."""
    rows = []
    for name in dict.fromkeys(r.model for r in results):
        runs = [r for r in results if r.model == name]
        row: dict[str, object] = {"model": name, "seeds": len(runs)}
        for metric in runs[0].metrics:
            values = [r.metrics[metric] for r in runs]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            row[metric] = f"{statistics.mean(values):.4f} ± {spread:.4f}"
        row["params"] = runs[0].params
        row["s/epoch"] = f"{statistics.median(r.seconds_per_epoch for r in runs):.3f}"
        row["infer rows/s"] = f"{statistics.median(r.rows_per_second for r in runs):,.0f}"
        row["peak MiB"] = f"{max(r.peak_mb for r in runs):.0f}"
        row["added MiB"] = f"{max(r.added_mb for r in runs):.0f}"
        rows.append(row)
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
    rows = summarize(results)

    def write_csv(path: Path) -> None:
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)

    write_atomic(out / "results.csv", write_csv)
    write_text_atomic(out / "results.md", format_table(rows) + "\n")
    written += ["results.csv", "results.md"]
    if not _typing.WITH_MATPLOTLIB:  # pragma: no cover - the optional [plot] extra
        return written
    from pyg_tabular import plotting

    monitor, _ = monitor_of(kind)
    _plot(out / "learning_curves.png", plotting.plot_learning_curves, results, monitor)
    _plot(out / "metric_bars.png", plotting.plot_metric_bars, results, monitor)
    written += ["learning_curves.png", "metric_bars.png"]
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
    "summarize",
    "best_model",
    "format_table",
    "write_atomic",
    "write_text_atomic",
    "write_summaries",
]
