"""Regions over the feature-relation graphs: the planted-pair recovery of
``scripts/relation_recovery.py``, the wide-table cost of
``benchmarks/relation_graph.py`` and the graph choice (complete, correlation
kNN, learned) of ``scripts/graph_choice.sh``."""

from __future__ import annotations

from pathlib import Path

from .experiments import load_dataset, load_json
from .registry import MissingResults, region
from .text import markdown_table, verdict

RELATION_RECOVERY = "relation_graph/recovery.json"
RELATION_BENCHMARK = "benchmarks/relation_graph.json"
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


@region("relation-benchmark")
def relation_benchmark(results: Path) -> str:
    """Learned sparse graph against the complete graph: time and memory per step."""
    path = results / RELATION_BENCHMARK
    if not path.is_file():
        return (
            "Not measured yet: run `python benchmarks/relation_graph.py --results "
            f"docs/results/{RELATION_BENCHMARK}` on a quiet machine."
        )
    raise MissingResults(f"{RELATION_BENCHMARK}: no renderer for its layout yet")


@region("graph-choice")
def graph_choice(results: Path) -> str:
    """Complete vs kNN vs learned graph, same layer and budget, paired over seeds."""
    rows = []
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
                interval = (
                    f"{difference.mean:+.4f}"
                    if difference.low != difference.low
                    else f"{difference.mean:+.4f} [{difference.low:+.4f}, {difference.high:+.4f}]"
                )
                # "knn ties with complete": the graphs by name, not the models.
                named = sentence.replace(f"{base}-{graph}", graph).replace(base, "complete")
                cells.append(f"{interval}: {named}")
            rows.append(cells)
    if not rows:
        return (
            "Not run yet: `bash scripts/graph_choice.sh` writes "
            f"`docs/results/{GRAPH_CHOICE}/<dataset>/`."
        )
    header = ["table", "metric", "complete graph", "knn − complete", "learned − complete"]
    return (
        markdown_table(header, rows)
        + "\n\nDifferences are paired by seed (the same split and initialisation): the "
        "mean with its Student-t 95% interval; a graph beats the complete one only when the "
        "interval excludes zero, and a comparison with a run stopped by the budget holds at "
        "equal budget only."
    )
