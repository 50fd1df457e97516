r"""Wide tables on a learned sparse graph against the complete graph.

One training step of one attention layer of the same width (16 channels in
and out per head, 4 heads), forward + backward of ``out.square().mean()``,
B = 64 rows, F = 256 and 1024 features:

* ``complete``: :class:`DenseFeatureGATConv` on ``[B, F, C]``, the complete
  graph (the fastest complete path: one ``[B, H, F, F]`` score, no per-edge
  gather);
* ``learned-k8``, ``learned-k16``: :class:`LearnedFeatureGraph` (``k``
  sources per feature and a self-loop) feeding its template and weights to
  :class:`FeatureGATConv` in the static-graph form; the step includes drawing
  the graph (Gumbel-top-k over the ``F × F`` scores) and the gradient of the
  scores. Nothing of size ``B·F²`` exists on this path.

Timing is ``benchmarks/_results.py``'s: the three cases are timed in this one
process in interleaved rounds of ``torch.utils.benchmark.Timer``, each ratio
to ``complete`` taken within a round and reported as its median and range
over the rounds. Peak memory is the growth of the peak RSS over the RSS
before the first step (Linux ``VmHWM``, reset through
``/proc/self/clear_refs``), in a fresh process per case. The target: at
F = 1024 and k = 16, time and memory at most 1/4 of ``complete``. Nothing
here asserts a time.

Run::

    python benchmarks/relation_graph.py            # full size, on a quiet machine
    python benchmarks/relation_graph.py --small    # CI size (F = 32, 64; B = 8; no memory)

``--results PATH`` also writes every printed figure to a JSON file.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import torch
from _results import (
    Recorder,
    add_arguments,
    add_memory_arguments,
    fmt_ms,
    fmt_ratio,
    interleaved,
    memory_worker,
    peaks_mb,
    print_table,
    timing_of,
)

from pyg_tabular.nn.conv import FeatureGATConv
from pyg_tabular.nn.dense import DenseFeatureGATConv
from pyg_tabular.nn.graph import LearnedFeatureGraph

Step = Callable[[], None]
CHANNELS, HEADS = 16, 4
#: Sources per feature of the learned graphs.
KS = (8, 16)
FULL = {"features": (256, 1024), "rows": 64}
SMALL = {"features": (32, 64), "rows": 8}
COMPLETE = "complete"
STEP = "forward + backward of out.square().mean()"


def complete_step(rows: int, features: int) -> Step:
    conv = DenseFeatureGATConv(CHANNELS, CHANNELS, HEADS, add_self_loops=False)
    x = torch.randn(rows, features, CHANNELS)

    def step() -> None:
        conv.zero_grad(set_to_none=True)
        conv(x).square().mean().backward()

    return step


def learned_step(rows: int, features: int, k: int) -> Step:
    graph = LearnedFeatureGraph(features, k).train()
    conv = FeatureGATConv(CHANNELS, CHANNELS, HEADS, add_self_loops=False)
    x = torch.randn(rows, features, CHANNELS)

    def step() -> None:
        graph.zero_grad(set_to_none=True)
        conv.zero_grad(set_to_none=True)
        edges = graph()
        conv(x, edges.edge_index, edge_weight=edges.edge_weight).square().mean().backward()

    return step


def _name(k: int) -> str:
    return f"learned-k{k}"


def build(name: str, rows: int, features: int) -> Step:
    """The step of the case :obj:`name` (``complete`` or ``learned-k<k>``)."""
    if name == COMPLETE:
        return complete_step(rows, features)
    return learned_step(rows, features, int(name.removeprefix("learned-k")))


def subjects() -> dict[str, dict[str, Any]]:
    # What a case is, wherever it is timed: with the sizes and the threads, the
    # key under which the docs check compares the same configuration.
    complete = {"graph": "complete", "layer": "DenseFeatureGATConv", "step": STEP}
    learned = {
        _name(k): {
            "graph": "LearnedFeatureGraph",
            "k": k,
            "self_loops": True,
            "layer": "FeatureGATConv",
            "step": STEP,
        }
        for k in KS
    }
    return {COMPLETE: complete, **learned}


def _sizes(rows: int, features: int) -> dict[str, int]:
    return {"B": rows, "F": features, "in": CHANNELS, "out": CHANNELS, "heads": HEADS}


def run(args: argparse.Namespace, size: dict[str, Any]) -> None:
    """Every case at each F of :obj:`size`, in one table ``steps`` (a group per
    F), with the peak memory of each case when ``args.memory``."""
    names = list(subjects())
    rows = size["rows"]
    ratios = [(_name(k), COMPLETE) for k in KS]
    body = []
    grows = dict.fromkeys(names, ("B", "F"))
    with args.recorder.table("steps", subjects(), grows) as table:
        for features in size["features"]:
            torch.manual_seed(0)
            steps = {name: build(name, rows, features) for name in names}
            timings = interleaved(steps, **args.timing)
            steps.clear()
            memory = {}
            if args.memory:
                where = f"F={features}"
                memory["peak_mb"] = peaks_mb(__file__, names, (rows, features), args.threads, where)
            group = table.add_timed(_sizes(rows, features), timings, ratios, **memory)
            base = group.get("peak_mb", {}).get(COMPLETE)
            for name in names:
                row = [str(features), name, fmt_ms(group["ms"][name])]
                row.append(fmt_ratio(group["ratios"].get(f"{name}/{COMPLETE}")))
                if args.memory:
                    peak = group["peak_mb"][name]
                    row.append("-" if peak is None else f"{peak:.0f}")
                    row.append("-" if peak is None or not base else f"{peak / base:.2f}x")
                body.append(row)
    header = ["F", "case", "ms / step (range)", "x complete (range)"]
    if args.memory:
        header += ["peak MB", "x complete"]
    print_table(f"B={rows}, {CHANNELS} channels x {HEADS} heads: {STEP}", header, body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--small", action="store_true", help="CI size: F in 32, 64; B = 8; no memory runs"
    )
    add_memory_arguments(parser, shape_size=2)
    add_arguments(parser)
    args = parser.parse_args()
    if args.worker:
        memory_worker(lambda: build(args.worker, *args.shape), args.threads)
        return

    args.timing = timing_of(parser, args)
    size = SMALL if args.small else FULL
    print(f"torch {torch.__version__}, {args.threads} threads, {args.pairs} interleaved pairs")
    args.recorder = Recorder(
        "relation_graph.py",
        {
            "small": args.small,
            "memory": args.memory,
            "features": list(size["features"]),
            "rows": size["rows"],
            "ks": list(KS),
            "channels": CHANNELS,
            "heads": HEADS,
            "step": STEP,
        },
        args.timing,
        settle=args.settle,
    )
    args.recorder.keep_on_terminate(args.results)
    run(args, size)
    args.recorder.write(args.results)


if __name__ == "__main__":
    main()
