r"""Plots of a comparison run: learning curves, metric bars and feature attention.

matplotlib is optional (``pip install pyg-tabular[plot]``) and imported by
the functions that need it, with the non-interactive ``Agg`` backend so the
plots render on machines without a display. Every function returns the
:class:`matplotlib.figure.Figure` and writes a PNG when given a path.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyg_tabular.run_result import RunResult


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ImportError("plotting needs matplotlib: pip install 'pyg-tabular[plot]'") from error
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure: Any, path: str | Path | None) -> Any:
    if path is not None:
        figure.savefig(path, dpi=120, bbox_inches="tight")
    return figure


def _mean_curve(histories: Sequence[Sequence[float]]) -> list[float]:
    # Seeds stop early at different epochs: average the seeds still running.
    length = max(len(h) for h in histories)
    return [statistics.mean(h[i] for h in histories if len(h) > i) for i in range(length)]


def plot_learning_curves(
    results: Sequence[RunResult], metric: str, path: str | Path | None = None
) -> Any:
    r"""Validation :obj:`metric` per epoch for every model, the mean over seeds.

    Gradient boosting counts boosting iterations, not epochs, so it gets its
    own panel when present.
    """
    plt = _pyplot()
    names = list(dict.fromkeys(r.model for r in results))
    boosted = [n for n in names if n == "hgb"]
    neural = [n for n in names if n != "hgb"]
    panels = [(neural, "epoch")] if neural else []
    if boosted:
        panels.append((boosted, "boosting iteration"))
    figure, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.2), squeeze=False)
    for axis, (group, unit) in zip(axes[0], panels):
        for name in group:
            curve = _mean_curve([r.history for r in results if r.model == name])
            axis.plot(range(1, len(curve) + 1), curve, label=name)
        axis.set_xlabel(unit)
        axis.set_ylabel(f"validation {metric}")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle("Learning curves (mean over seeds)")
    return _save(figure, path)


def _best_so_far(history: Sequence[float], mode: str) -> list[float]:
    pick = max if mode == "max" else min
    best: list[float] = []
    for value in history:
        best.append(value if not best else pick(best[-1], value))
    return best


def plot_anytime(
    results: Sequence[RunResult], metric: str, mode: str = "min", path: str | Path | None = None
) -> Any:
    r"""The anytime view: the best validation :obj:`metric` reached so far
    against the seconds of training, for every model and seed (``mode``
    ``"min"`` or ``"max"``: which direction is better).

    It shows which model leads at every budget, not only at the one the
    comparison stopped at. A thin line per seed, on a log time axis (boosting
    finishes in seconds, the largest nets take minutes). A run recorded
    without its clock (:attr:`~pyg_tabular.run_result.RunResult.elapsed`)
    but with its training seconds is drawn with epochs spread evenly over
    them, dashed; one without either is left out.
    """
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(8.0, 4.8))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    finals: list[float] = []
    interpolated = False
    for index, name in enumerate(dict.fromkeys(r.model for r in results)):
        color = colors[index % len(colors)]
        label: str | None = name
        for run in (r for r in results if r.model == name and r.history):
            clock, style = list(run.elapsed), "-"
            if len(clock) != len(run.history):
                if not run.train_seconds:
                    continue
                step = run.train_seconds / len(run.history)
                clock, style = [step * (i + 1) for i in range(len(run.history))], "--"
                interpolated = True
            best = _best_so_far(run.history, mode)
            finals.append(best[-1])
            axis.step(
                clock,
                best,
                where="post",
                color=color,
                linestyle=style,
                linewidth=1.2,
                alpha=0.8,
                label=label,
            )
            label = None  # one legend entry per model
    if len(finals) > 1 and max(finals) > min(finals):
        # Frame the race near the end: a model's first epochs can sit far
        # above every final value and flatten the differences that matter.
        low, high = min(finals), max(finals)
        margin = high - low
        if mode == "max":
            axis.set_ylim(low - margin, high + 0.25 * margin)
        else:
            axis.set_ylim(low - 0.25 * margin, high + margin)
    axis.set_xscale("log")
    axis.set_xlabel(
        "seconds of training (validation included)"
        + ("; dashed: epochs spread evenly over the run's seconds" if interpolated else "")
    )
    axis.set_ylabel(f"best validation {metric} so far")
    axis.grid(alpha=0.3, which="both")
    if axis.get_lines():
        axis.legend(fontsize=8)
    axis.set_title("Anytime view: who leads at every budget (one line per seed)")
    return _save(figure, path)


def plot_metric_bars(
    results: Sequence[RunResult], metric: str, path: str | Path | None = None
) -> Any:
    r"""Test :obj:`metric` per model: the mean over seeds, the std as error bar."""
    plt = _pyplot()
    names = list(dict.fromkeys(r.model for r in results))
    values = [[r.metrics[metric] for r in results if r.model == n] for n in names]
    means = [statistics.mean(v) for v in values]
    spreads = [statistics.stdev(v) if len(v) > 1 else 0.0 for v in values]
    figure, axis = plt.subplots(figsize=(max(5.0, 0.8 * len(names) + 2), 4.2))
    axis.bar(names, means, yerr=spreads, capsize=4, color="tab:blue", alpha=0.8)
    low = min(m - s for m, s in zip(means, spreads))
    high = max(m + s for m, s in zip(means, spreads))
    margin = 0.15 * (high - low) if high > low else 0.05 * abs(high) + 1e-3
    axis.set_ylim(low - margin, high + margin)  # differences, not the distance from 0
    axis.set_ylabel(f"test {metric}")
    axis.tick_params(axis="x", rotation=30)
    axis.grid(axis="y", alpha=0.3)
    axis.set_title(f"Test {metric}: mean ± std over seeds")
    return _save(figure, path)


def plot_attention(
    attention: Any, feature_names: Sequence[str], title: str = "", path: str | Path | None = None
) -> Any:
    r"""Heatmap of an ``[F, F]`` attention matrix; row ``i`` is what feature
    ``i`` attends to, labelled with the feature names on both axes."""
    import numpy as np

    plt = _pyplot()
    matrix = np.asarray(attention, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"attention must be a square [F, F] matrix (got shape {matrix.shape})")
    if len(feature_names) != matrix.shape[0]:
        raise ValueError(
            f"feature_names must name the {matrix.shape[0]} features "
            f"(got {len(feature_names)} names)"
        )
    size = min(14.0, 3.0 + 0.35 * matrix.shape[0])
    figure, axis = plt.subplots(figsize=(size + 1.5, size))
    image = axis.imshow(matrix, cmap="viridis")
    ticks = range(matrix.shape[0])
    axis.set_xticks(ticks, labels=list(feature_names), rotation=90, fontsize=7)
    axis.set_yticks(ticks, labels=list(feature_names), fontsize=7)
    axis.set_xlabel("attended feature j")
    axis.set_ylabel("attending feature i")
    axis.set_title(title or "Feature attention")
    figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04)
    return _save(figure, path)


__all__ = ["plot_learning_curves", "plot_metric_bars", "plot_anytime", "plot_attention"]
