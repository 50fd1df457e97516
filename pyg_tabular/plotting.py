r"""Plots of a comparison run: learning curves, metric bars, feature attention
and feature relation graphs.

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

from pyg_tabular.utils.validation import check_int

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


def plot_relation_graph(
    graph: Any,
    feature_names: Sequence[str] | None = None,
    title: str = "",
    path: str | Path | None = None,
    *,
    highlight: Sequence[tuple[int, int]] = (),
    top: int | None = None,
) -> Any:
    r"""Draws a feature graph as a graph of named features: the features on
    a circle, one line per linked pair, thicker for a larger weight.

    A pair is drawn once, with the larger weight of its two directions
    (:math:`\max(A_{ij}, A_{ji})`): the line says the two features are
    linked, whichever listens to the other; its width and opacity grow from
    the weakest drawn pair to the strongest. Self-loops are not drawn. With
    :obj:`top`, only the :obj:`top` strongest pairs are drawn, ranked (and
    drawn) by the graph's :meth:`~pyg_tabular.nn.graph.RelationGraph.pair_scores`
    when it has them, by the adjacency otherwise.

    Args:
        graph (RelationGraph or array-like): A
            :class:`~pyg_tabular.nn.graph.RelationGraph` (from
            :meth:`~pyg_tabular.nn.graph.LearnedFeatureGraph.relation_graph`),
            whose adjacency and names are drawn, or an ``[F, F]`` weighted
            adjacency (entry ``[i, j]`` for the edge :math:`j \to i`).
        feature_names (sequence of str, optional): The names of an
            adjacency; a :class:`RelationGraph` brings its own.
        title (str, optional): The figure's title.
        path (str or Path, optional): Where to write a PNG.
        highlight (sequence of (int, int), optional): Pairs of feature
            indices to draw in a second colour (for instance planted
            interactions); a highlighted pair that is not drawn otherwise
            is drawn dashed.
        top (int, optional): Draw only the strongest :obj:`top` pairs.
            (default: :obj:`None`, every linked pair)
    """
    import numpy as np

    plt = _pyplot()
    names = getattr(graph, "feature_names", None)
    if names is not None:
        matrix = np.asarray(graph.adjacency, dtype=float)
        names = list(feature_names) if feature_names is not None else list(names)
    else:
        matrix = np.asarray(graph, dtype=float)
        names = list(feature_names) if feature_names is not None else None
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"graph must be a square [F, F] adjacency (got shape {matrix.shape})")
    size = matrix.shape[0]
    if names is None:
        names = [str(i) for i in range(size)]
    if len(names) != size:
        raise ValueError(f"feature_names must name the {size} features (got {len(names)} names)")
    marked = set()
    for pair in highlight:
        i, j = (int(v) for v in pair)
        if not (0 <= i < size and 0 <= j < size) or i == j:
            raise ValueError(f"highlight holds pair {pair!r}, not two features of {size}")
        marked.add((min(i, j), max(i, j)))
    # Pair (i < j) -> the value its line is drawn with.
    linked = np.maximum(matrix, matrix.T)
    pairs = {(i, j): linked[i, j] for i in range(size) for j in range(i + 1, size)}
    if top is None:
        values = {pair: value for pair, value in pairs.items() if value > 0}
    else:
        top = check_int(top, "top", 1)
        ranking = pairs
        if hasattr(graph, "pair_scores"):
            scores = np.asarray(graph.pair_scores(), dtype=float)
            ranking = {pair: scores[pair] for pair in pairs}
        # Stable: ties keep the lower indices first, as RelationGraph.top_pairs does.
        best = sorted(ranking, key=lambda pair: -ranking[pair])[:top]
        values = {pair: ranking[pair] for pair in best}
    angle = 2 * np.pi * np.arange(size) / max(size, 1)
    xy = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    figure, axis = plt.subplots(figsize=(7.0, 7.0))
    # Line strength from the weakest drawn value (faint) to the strongest (bold).
    low = min(values.values(), default=0.0)
    high = max(values.values(), default=1.0)
    for pair in sorted(set(values) | marked):
        i, j = pair
        strength = 0.0
        if pair in values:
            strength = 1.0 if high == low else 0.1 + 0.9 * (values[pair] - low) / (high - low)
        color = "tab:red" if pair in marked else "tab:blue"
        axis.plot(
            xy[[i, j], 0],
            xy[[i, j], 1],
            "-" if pair in values else "--",
            color=color,
            linewidth=0.5 + 4.5 * strength,
            alpha=0.15 + 0.8 * strength,
            zorder=1,
        )
    axis.scatter(xy[:, 0], xy[:, 1], s=60, color="black", zorder=2)
    for (x, y), name, theta in zip(xy, names, angle):
        axis.annotate(
            name,
            (x, y),
            xytext=(1.13 * x, 1.13 * y),
            ha="center",
            va="center",
            fontsize=8,
            rotation=np.degrees(theta) if np.cos(theta) >= 0 else np.degrees(theta) + 180,
            rotation_mode="anchor",
        )
    if marked:
        from matplotlib.lines import Line2D

        axis.legend(
            handles=[
                Line2D([], [], color="tab:blue", label="edge"),
                Line2D([], [], color="tab:red", label="highlighted pair"),
            ],
            loc="upper right",
            fontsize=8,
        )
    axis.set_xlim(-1.35, 1.35)
    axis.set_ylim(-1.35, 1.35)
    axis.set_aspect("equal")
    axis.axis("off")
    axis.set_title(title or "Feature relation graph")
    return _save(figure, path)


__all__ = [
    "plot_learning_curves",
    "plot_metric_bars",
    "plot_anytime",
    "plot_attention",
    "plot_relation_graph",
]
