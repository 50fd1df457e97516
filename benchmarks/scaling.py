r"""Wide tables: time and peak memory of every path as the feature count grows.

For GraphFeatureAggregation (E = 16) and AdvancedGraphFeatureLayer (E = 32,
H = 4, hierarchical with 16 groups) at B = 64 rows and
F ∈ {8, 32, 128, 512, 1024}, one training step (forward + backward of
``out.square().mean()``) on each path:

* ``auto``: the default layer, exactly as a user builds it. Its plan (from
  ``explain_backend``) is printed: ``dense`` or ``dense-chunked``;
* ``dense-whole``: the dense path with chunking switched off (the peer that
  ``auto`` must beat on memory once F is large);
* ``sparse``: ``backend="sparse"`` on the complete feature graph (skipped when
  its own estimate exceeds a 6 GiB budget);
* ``sparse-k16``: a sparsified feature graph, each feature receiving from its
  16 ring neighbours and itself (``edge_index`` passed, so ``auto`` takes the
  sparse path).

Times are medians of steps taken in alternation in this one process (ratios
against ``dense-whole`` are printed); peak memory is the peak RSS of a fresh
subprocess per configuration (``VmHWM``), and ``+MiB`` is what the steps add
over the process once imports, inputs and the layer are in place. Nothing here
asserts a time.

Run::

    python benchmarks/scaling.py            # full size, ~10 min on 2 cores
    python benchmarks/scaling.py --small    # CI size

``--results PATH`` also writes every printed row to a JSON file.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import torch
from _results import Recorder, add_results_argument

FEATURES = (8, 32, 128, 512, 1024)
SMALL_FEATURES = (8, 32)
ROWS, SMALL_ROWS = 64, 16
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
        layer(x, edge_index=template).square().mean().backward()

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


def child(module: str, path: str, num_features: int, rows: int, steps: int) -> None:
    torch.set_num_threads(1)
    step = make_step(module, path, num_features, rows)
    built = _peak_rss_kib()
    for _ in range(steps):
        step()
    print(json.dumps({"peak_kib": _peak_rss_kib(), "built_kib": built}))


def measure_memory(module: str, path: str, num_features: int, rows: int) -> dict[str, Any]:
    steps = 1 if num_features >= 512 else 3
    command = [sys.executable, os.path.abspath(__file__), "--child", module, path]
    command += [str(num_features), str(rows), str(steps)]
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


def median_seconds(steps: dict[str, Callable[[], None]], repeats: int) -> dict[str, float]:
    for step in steps.values():  # warm-up
        step()
    samples: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():  # alternation: load hits every path alike
            start = time.perf_counter()
            step()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def run(features: tuple[int, ...], rows: int, memory: bool, recorder: Recorder) -> None:
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread, B={rows}; ms per fwd+bwd step, peak MiB (+MiB)")
    header = f"{'module':<5} {'F':>5} {'path':<12} {'plan':<14} {'ms':>10} {'x whole':>8}"
    print(header + f" {'peak MiB':>14}")
    for module in MODULES:
        for num_features in features:
            plans, steps = {}, {}
            for path in PATHS:
                plans[path] = plan(module, path, num_features, rows)
                if path == "sparse" and plans[path]["attention_bytes"] > SPARSE_BUDGET:
                    continue
                steps[path] = make_step(module, path, num_features, rows)
            repeats = 5 if num_features <= 128 else 1
            seconds = median_seconds(steps, repeats)
            steps.clear()
            whole = seconds.get("dense-whole")
            for path in PATHS:
                name = plans[path]["path"] if path != "dense-whole" else "dense"
                row: dict[str, Any] = {
                    "module": module,
                    "features": num_features,
                    "path": path,
                    "plan": name,
                }
                if path not in seconds:
                    gib = plans[path]["attention_bytes"] / 2**30
                    print(
                        f"{module:<5} {num_features:>5} {path:<12} {name:<14} skipped: "
                        f"~{gib:.0f} GiB estimated"
                    )
                    recorder.add("paths", {**row, "skipped": "memory_budget", "estimated_gib": gib})
                    continue
                ms = seconds[path] * 1e3
                ratio = f"{seconds[path] / whole:7.2f}x" if whole else f"{'-':>8}"
                measured = measure_memory(module, path, num_features, rows) if memory else {}
                mem = _memory_text(measured) if measured else "-"
                print(
                    f"{module:<5} {num_features:>5} {path:<12} {name:<14} {ms:10.1f} "
                    f"{ratio} {mem:>14}",
                    flush=True,
                )
                row.update(ms=ms, over_whole=seconds[path] / whole if whole else None)
                row.update(measured)
                recorder.add("paths", row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="CI size: F in 8, 32 and B=16")
    parser.add_argument("--no-memory", action="store_true", help="skip the subprocess peaks")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    add_results_argument(parser)
    args = parser.parse_args()
    if args.child:
        module, path, num_features, rows, steps = args.child
        child(module, path, int(num_features), int(rows), int(steps))
        return
    features, rows = (SMALL_FEATURES, SMALL_ROWS) if args.small else (FEATURES, ROWS)
    torch.set_num_threads(1)
    recorder = Recorder(
        "scaling.py",
        {
            "small": args.small,
            "rows": rows,
            "features": list(features),
            "paths": list(PATHS),
            "modules": list(MODULES),
            "gfa": {"embed_dim": 16},
            "agfl": {"embed_dim": 32, "heads": 4, "groups": 16},
            "neighbours": NEIGHBOURS,
            "sparse_budget_gib": SPARSE_BUDGET / 2**30,
            "memory": not args.no_memory,
            "statistic": "median of alternated steps (5 up to F = 128, 1 beyond)",
        },
    )
    recorder.keep_on_terminate(args.results)
    run(features, rows, not args.no_memory, recorder)
    recorder.write(args.results)


if __name__ == "__main__":
    main()
