r"""Wide and long tables: time and peak memory of every path as F and B grow.

For GraphFeatureAggregation (E = 16) and AdvancedGraphFeatureLayer (E = 32,
H = 4, hierarchical with 16 groups), one training step (forward + backward of
``out.sum()``) on each path, in two tables: F ∈ {8, 32, 128, 512, 1024} at
B = 64 rows, and B ∈ {64, 256, 1024, 4096} at F = 32 (both pass through
B = 64, F = 32; the GFA point B = 1024, F = 32 is also W1 of
``benchmarks/modules.py``). The paths:

* ``auto``: the default layer, exactly as a user builds it. Its plan (from
  ``explain_backend``) is printed: ``dense`` or ``dense-chunked``;
* ``dense-whole``: the dense path with chunking switched off (the peer that
  ``auto`` must beat on memory once F is large);
* ``sparse``: ``backend="sparse"`` on the complete feature graph (skipped when
  its own estimate exceeds a 6 GiB budget);
* ``sparse-k16``: a sparsified feature graph, each feature receiving from its
  16 ring neighbours and itself (``edge_index`` passed, so ``auto`` takes the
  sparse path).

The paths of one configuration are timed in interleaved rounds in this one
process (``benchmarks/_results.py``); ratios to ``dense-whole`` are taken
within each round and reported as their median and range. Peak memory is the
peak RSS of a fresh subprocess per configuration (``VmHWM``), and ``+MiB`` is
what the steps add over the process once imports, inputs and the layer are in
place. Nothing here asserts a time.

Run::

    python benchmarks/scaling.py            # full size
    python benchmarks/scaling.py --small    # CI size

``--results PATH`` also writes every printed figure to a JSON file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import torch
from _results import (
    STEP,
    Recorder,
    Timings,
    add_arguments,
    fmt_ms,
    fmt_ratio,
    interleaved,
    print_table,
    timing_of,
)

#: (features, rows) of the two tables at full size and with ``--small``.
FEATURES, ROWS = (8, 32, 128, 512, 1024), (64, 256, 1024, 4096)
SMALL_FEATURES, SMALL_ROWS = (8, 16), (32, 128)
#: The rows of the F table and the features of the B table.
FIXED_ROWS, FIXED_FEATURES = 64, 32
SMALL_FIXED_ROWS, SMALL_FIXED_FEATURES = 32, 16
PATHS = ("auto", "dense-whole", "sparse", "sparse-k16")
MODULES = ("gfa", "agfl")
NEIGHBOURS = 16
SPARSE_BUDGET = 6 * 2**30


def build_layer(module: str, path: str, num_features: int) -> torch.nn.Module:
    from pyg_tabular.nn.tabular import AdvancedGraphFeatureLayer, GraphFeatureAggregation

    backend = "sparse" if path == "sparse" else "auto"
    layer: torch.nn.Module
    if module == "gfa":
        layer = GraphFeatureAggregation(16, num_features=num_features, backend=backend)
    else:
        layer = AdvancedGraphFeatureLayer(
            num_features, 32, 4, hierarchical=True, num_groups=16, backend=backend
        )
    if path == "dense-whole":
        layer.attention_memory_bytes = 2**62  # type: ignore[assignment]
    return layer


def ring_template(num_features: int, neighbours: int) -> torch.Tensor:
    """Each feature receives from itself and its ``neighbours`` ring neighbours."""
    half = min(neighbours // 2, (num_features - 1) // 2)
    offsets = torch.arange(-half, half + 1)
    target = torch.arange(num_features).repeat_interleave(offsets.numel())
    source = (target + offsets.repeat(num_features)) % num_features
    return torch.stack([source, target])


def make_step(module: str, path: str, num_features: int, rows: int) -> Callable[[], None]:
    torch.manual_seed(0)
    layer = build_layer(module, path, num_features).train()
    x = torch.randn(rows, num_features)
    template = ring_template(num_features, NEIGHBOURS) if path == "sparse-k16" else None

    def step() -> None:
        layer.zero_grad(set_to_none=True)
        layer(x, edge_index=template).sum().backward()

    return step


def plan(module: str, path: str, num_features: int, rows: int) -> dict[str, Any]:
    layer = build_layer(module, path, num_features)
    template = ring_template(num_features, NEIGHBOURS) if path == "sparse-k16" else None
    return layer.explain_backend(rows, edge_index=template)  # type: ignore[operator]


def _peak_rss_kib() -> int:
    # VmHWM belongs to this address space; ru_maxrss would include the parent's.
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def child(module: str, path: str, num_features: int, rows: int, steps: int, threads: int) -> None:
    torch.set_num_threads(threads)
    step = make_step(module, path, num_features, rows)
    built = _peak_rss_kib()
    for _ in range(steps):
        step()
    print(json.dumps({"peak_kib": _peak_rss_kib(), "built_kib": built}))


def measure_memory(
    module: str, path: str, num_features: int, rows: int, threads: int
) -> dict[str, Any]:
    steps = 1 if num_features >= 512 else 3
    command = [sys.executable, os.path.abspath(__file__), "--child", module, path]
    command += [str(num_features), str(rows), str(steps), "--threads", str(threads)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        return {"failed": " ".join(result.stderr.strip().splitlines()[-1:])}
    memory = json.loads(lines[-1])
    peak, added = memory["peak_kib"] / 1024, (memory["peak_kib"] - memory["built_kib"]) / 1024
    return {"peak_mib": peak, "added_mib": added}


def _memory_text(memory: dict[str, Any]) -> str:
    if "failed" in memory:
        return "failed: " + memory["failed"]
    return f"{memory['peak_mib']:.0f} (+{memory['added_mib']:.0f})"


#: What each path is, wherever it is timed: the GFA ``auto`` subject is the one
#: ``benchmarks/modules.py`` times as W1's "ours, backend=auto".
TITLES = {"gfa": "GraphFeatureAggregation", "agfl": "AdvancedGraphFeatureLayer, hierarchical"}
IMPLS = {
    "auto": "ours, backend=auto",
    "dense-whole": "ours, backend=auto, chunking off",
    "sparse": "ours, backend=sparse",
    "sparse-k16": f"ours, {NEIGHBOURS}-neighbour ring template",
}


def sizes_of(module: str, num_features: int, rows: int) -> dict[str, int]:
    if module == "gfa":
        return {"B": rows, "F": num_features, "E": 16}
    return {"B": rows, "F": num_features, "E": 32, "H": 4, "G": 16}


def run_table(
    name: str,
    module: str,
    points: list[tuple[int, int]],
    args: argparse.Namespace,
    recorder: Recorder,
    measured: dict[tuple[str, int, int], tuple[str, Timings, dict[str, Any]]],
) -> None:
    """Every path at each (features, rows) point, interleaved; ratios to dense-whole.

    A point that an earlier table already measured (the F and B sweeps share
    one) is taken from :obj:`measured`, not timed again, and its group names
    the table it comes from: two timings of one configuration minutes apart
    drift further than the rounds of one timing spread, and would show the
    same point twice with two figures."""
    subjects = {
        path: {"module": TITLES[module], "impl": IMPLS[path], "step": STEP} for path in PATHS
    }
    body = []
    with recorder.table(name, subjects, dict.fromkeys(PATHS, ("B", "F"))) as table:
        for num_features, rows in points:
            plans, steps, skipped = {}, {}, {}
            for path in PATHS:
                plans[path] = plan(module, path, num_features, rows)
                estimate = plans[path]["attention_bytes"]
                if path == "sparse" and estimate > SPARSE_BUDGET:
                    skipped[path] = {"reason": "memory_budget", "estimated_gib": estimate / 2**30}
            key = (module, num_features, rows)
            source = {}
            if key in measured:
                source_table, timings, memory = measured[key]
                source = {"measured_in": source_table}
            else:
                for path in PATHS:
                    if path not in skipped:
                        steps[path] = make_step(module, path, num_features, rows)
                timings = interleaved(steps, **args.timing)
                steps.clear()
                memory = {}
                if not args.no_memory:
                    memory = {
                        path: measure_memory(module, path, num_features, rows, args.threads)
                        for path in PATHS
                        if path not in skipped
                    }
                measured[key] = (name, timings, memory)
            group = table.add_timed(
                sizes_of(module, num_features, rows),
                timings,
                [(path, "dense-whole") for path in PATHS if path != "dense-whole"],
                plans={p: plans[p]["path"] if p != "dense-whole" else "dense" for p in PATHS},
                **({"memory": memory} if memory else {}),
                **({"skipped": skipped} if skipped else {}),
                **source,
            )
            for path in PATHS:
                head = [module, str(num_features), str(rows), path, group["plans"][path]]
                if path in skipped:
                    gib = skipped[path]["estimated_gib"]
                    body.append([*head, f"skipped: ~{gib:.0f} GiB estimated", "", ""])
                    continue
                ratio = group["ratios"].get(f"{path}/dense-whole")
                mem = _memory_text(memory[path]) if path in memory else "-"
                body.append([*head, fmt_ms(group["ms"][path]), fmt_ratio(ratio), mem])
    print_table(
        f"{name}: ms per step, median (min-max); x whole per pair; peak MiB (+MiB)",
        ["module", "F", "B", "path", "plan", "ms", "x whole", "peak MiB"],
        body,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="CI size")
    parser.add_argument("--no-memory", action="store_true", help="skip the subprocess peaks")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    add_arguments(parser)
    args = parser.parse_args()
    if args.child:
        module, path, num_features, rows, steps = args.child
        child(module, path, int(num_features), int(rows), int(steps), args.threads)
        return
    args.timing = timing_of(parser, args)
    if args.small:
        features, rows = SMALL_FEATURES, SMALL_ROWS
        fixed_rows, fixed_features = SMALL_FIXED_ROWS, SMALL_FIXED_FEATURES
    else:
        features, rows = FEATURES, ROWS
        fixed_rows, fixed_features = FIXED_ROWS, FIXED_FEATURES
    recorder = Recorder(
        "scaling.py",
        {
            "small": args.small,
            "features": list(features),
            "rows": list(rows),
            "fixed_rows": fixed_rows,
            "fixed_features": fixed_features,
            "paths": list(PATHS),
            "modules": list(MODULES),
            "gfa": {"embed_dim": 16},
            "agfl": {"embed_dim": 32, "heads": 4, "groups": 16},
            "neighbours": NEIGHBOURS,
            "sparse_budget_gib": SPARSE_BUDGET / 2**30,
            "memory": not args.no_memory,
        },
        args.timing,
        settle=args.settle,
    )
    recorder.keep_on_terminate(args.results)
    print(f"torch {torch.__version__}, {args.threads} threads, {args.pairs} interleaved pairs")
    measured: dict[tuple[str, int, int], tuple[str, Timings, dict[str, Any]]] = {}
    for module in MODULES:
        by_features = [(f, fixed_rows) for f in features]
        run_table(f"{module}_f", module, by_features, args, recorder, measured)
        by_rows = [(fixed_features, b) for b in rows]
        run_table(f"{module}_b", module, by_rows, args, recorder, measured)
    recorder.write(args.results)


if __name__ == "__main__":
    main()
