"""Regions over the feature-relation graphs: the planted-pair recovery of
``scripts/relation_recovery.py``, the wide-table cost of
``benchmarks/relation_graph.py`` and the graph choice (complete, correlation
kNN, learned) of ``scripts/graph_choice.sh``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .bench_common import Bench, BenchTable, Spread, bench_region, judged, ms_spread, ratio_spread
from .experiments import load_dataset, load_json
from .registry import MissingResults, region
from .text import NOT_RUN, markdown_table, mib, ratio, verdict

RELATION_RECOVERY = "relation_graph/recovery.json"
#: The reference subject of ``benchmarks/relation_graph.py`` and its target:
#: at F = 1024, k = 16, a step in at most 1/4 of the complete graph's time and memory.
COMPLETE = "complete"
TARGET_FEATURES, TARGET_K, TARGET_SHARE = 1024, 16, 0.25
GRAPH_CHOICE = "graph_choice"
#: The tables of the graph-choice comparison: the four full tables and the
#: widest named one (digits, 64 pixels).
GRAPH_CHOICE_DATASETS = ("california", "adult", "acs_employment", "diamonds", "digits")


@region("relation-recovery")
def relation_recovery(results: Path) -> str:
    """The planted-pair recovery table of ``scripts/relation_recovery.py``."""
    data = load_json(results, RELATION_RECOVERY)
    summary = {row["method"]: row for row in data["summary"]}
    config = data["config"]
    rows = []
    for row in data["summary"]:
        pairs = row["planted"] // row["seeds"]
        per_seed = ", ".join(str(round(r * pairs)) for r in row["recall_per_seed"])
        mse = "–" if row["test_mse"] is None else f"{row['test_mse']:.3f}"
        rows.append(
            [
                f"`{row['method']}`",
                f"{row['found']} / {row['planted']}",
                f"{row['recall']:.0%}",
                per_seed,
                mse,
            ]
        )
    table = markdown_table(
        ["method", "planted pairs in the top m", "recall", "found per seed", "test MSE"], rows
    )
    learned = summary.get("learned")
    lines = [table, ""]
    if learned is not None:
        others = [summary[m]["recall"] for m in ("knn", "complete-attention") if m in summary]
        met = learned["recall"] >= 0.9 and all(learned["recall"] > other for other in others)
        lines.append(
            f"Target, learned graph ≥ 90% of the planted pairs over {learned['seeds']} seeds "
            f"and above correlation kNN and complete-graph attention: {learned['recall']:.0%}, "
            f"{verdict(met)}."
        )
    first = data["summary"][0]
    pairs = first["planted"] // first["seeds"]
    lines.append("")
    lines.append(
        f"{config['rows']} rows (70/15/15), {config['features']} features, {pairs} planted "
        f"pairs per seed (m = {pairs}), noise-to-signal {config['noise']}; learned graph "
        f"k = {config['k']}; "
        f"≤ {config['epochs']} epochs, patience {config['patience']}, AdamW at {config['lr']}. "
        f"Command: `{data['command']}`."
    )
    return "\n".join(lines)


def _peak_share(group: dict[str, Any], name: str) -> float | None:
    """Peak memory of :obj:`name` over the complete graph's, if both were measured."""
    peaks = group.get("peak_mb", {})
    ours, base = peaks.get(name), peaks.get(COMPLETE)
    return None if ours is None or not base else ours / base


def _one_value(value: float | None) -> Spread | None:
    # Peak memory is one fresh process per case: one value, a spread without range.
    if value is None:
        return None
    return {"median": value, "min": value, "max": value, "n": 1, "values": [value]}


def _label(what: dict[str, Any]) -> str:
    if what["graph"] == COMPLETE:
        return f"complete (`{what['layer']}`)"
    return f"learned, k = {what['k']} (`{what['layer']}`)"


def _row(group: dict[str, Any], name: str, what: dict[str, Any], memory: bool) -> list[str]:
    reference = name == COMPLETE
    row = [f"{group['sizes']['F']:,}", _label(what), ms_spread(group["ms"][name])]
    row.append(
        "1 (reference)" if reference else ratio_spread(group["ratios"].get(f"{name}/{COMPLETE}"))
    )
    if memory:
        row.append(mib(group.get("peak_mb", {}).get(name)))
        row.append("1 (reference)" if reference else ratio(_peak_share(group, name)))
    return row


def _target(table: BenchTable) -> str:
    group = table.group(F=TARGET_FEATURES)
    subject = f"learned-k{TARGET_K}"
    if group is None or subject not in group["ms"]:
        return f"not measured in this run (no F = {TARGET_FEATURES}, k = {TARGET_K} configuration)."
    time = group["ratios"].get(f"{subject}/{COMPLETE}")
    share = _peak_share(group, subject)
    return (
        f"time {judged(table, time, at_most=TARGET_SHARE)} ({ratio_spread(time)}), memory "
        f"{judged(table, _one_value(share), at_most=TARGET_SHARE)} "
        f"({'not measured' if share is None else ratio(share)})."
    )


@bench_region("relation-benchmark", "relation_graph", optional=True)
def relation_benchmark(bench: Bench) -> str:
    """Learned sparse graph against the complete graph: time and memory per step."""
    table = bench.table("steps")
    if table is None or not table.timed():
        return NOT_RUN
    groups = sorted(table.timed(), key=lambda g: g["sizes"]["F"])
    memory = any(g.get("peak_mb") for g in groups)
    subjects = table.record["subjects"]
    body = [
        _row(group, name, subjects[name]["what"], memory)
        for group in groups
        for name in subjects
        if name in group["ms"]
    ]
    header = ["F", "graph", "ms per step", "time × complete"]
    if memory:
        header += ["peak MiB", "memory × complete"]
    sizes = groups[0]["sizes"]
    # "forward + backward of out.square().mean()": the expression as code.
    words, _, expression = bench.config["step"].rpartition(" ")
    intro = (
        f"B = {sizes['B']}, {sizes['in']} → {sizes['heads']} heads × {sizes['out']} channels, "
        f"one step is {words} `{expression}`; time × complete is the step's time over the complete "
        "graph's in the same round; "
        + (
            "peak MiB is the growth of the peak RSS over two steps, in a fresh process per case."
            if memory
            else "peak memory was not measured in this run."
        )
    )
    return "\n\n".join(
        [
            bench.provenance(),
            intro,
            markdown_table(header, body),
            f"Target, at F = {TARGET_FEATURES} with k = {TARGET_K} a step takes ≤ 1/4 of the "
            f"complete graph's time and memory: {_target(table)}",
            table.load_text(),
        ]
    )


@region("graph-choice")
def graph_choice(results: Path) -> str:
    """Complete vs kNN vs learned graph, same layer and budget, paired over seeds."""
    rows = []
    tally: dict[str, dict[str, int]] = {
        g: {"beats": 0, "ties with": 0, "loses to": 0} for g in ("knn", "learned")
    }
    for name in GRAPH_CHOICE_DATASETS:
        try:
            dataset = load_dataset(results, name, GRAPH_CHOICE)
        except MissingResults:
            continue
        monitor = dataset.monitor[0]
        bases = [r["model"] for r in dataset.rows if not r["model"].endswith(("-knn", "-learned"))]
        for base in bases:
            complete = dataset.model(base)
            assert complete is not None
            cells = [name, monitor, f"`{base}` {complete[monitor]}"]
            for graph in ("knn", "learned"):
                if dataset.model(f"{base}-{graph}") is None:
                    cells.append("–")
                    continue
                sentence, difference = dataset.verdict(f"{base}-{graph}", base)
                tally[graph][next(w for w in tally[graph] if f" {w} " in sentence)] += 1
                interval = (
                    f"{difference.mean:+.4f}"
                    if difference.low != difference.low
                    else f"{difference.mean:+.4f} [{difference.low:+.4f}, {difference.high:+.4f}]"
                )
                # The base model by its graph, not inside the names of its variants.
                named = re.sub(rf"(?<![\w-]){re.escape(base)}(?![\w-])", "complete", sentence)
                cells.append(f"{interval}: {named}")
            rows.append(cells)
    if not rows:
        return (
            "Not run yet: `bash scripts/graph_choice.sh` writes "
            f"`docs/results/{GRAPH_CHOICE}/<dataset>/`."
        )
    header = ["table", "metric", "complete graph", "knn − complete", "learned − complete"]
    counts = "; ".join(
        f"`{graph}` beats the complete graph on {t['beats']}, ties on {t['ties with']} and "
        f"loses on {t['loses to']} of {sum(t.values())}"
        for graph, t in tally.items()
    )
    return (
        markdown_table(header, rows)
        + "\n\nDifferences are paired by seed (the same split and initialisation): the "
        "mean with its Student-t 95% interval; a graph beats the complete one only when the "
        "interval excludes zero, and a comparison with a run stopped by the budget holds at "
        f"equal budget only. Over these tables, {counts}."
    )
