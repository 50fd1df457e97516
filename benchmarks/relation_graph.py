r"""Wide tables on a learned sparse graph against the complete graph.

One training step of one attention layer of the same width (C = 16 channels
in and out per head, H = 4 heads), forward + backward of
``out.square().mean()``, B = 64 rows, F = 256 and 1024 features:

* ``complete``: :class:`DenseFeatureGATConv` on ``[B, F, C]``, the complete
  graph with self-loops (the fastest complete path: one ``[B, H, F, F]``
  score, no per-edge gather);
* ``learned-k8``, ``learned-k16``: :class:`LearnedFeatureGraph` (``k``
  sources per feature and a self-loop) feeding its template and weights to
  :class:`FeatureGATConv` in the static-graph form; the step includes drawing
  the graph (Gumbel-top-k over the ``F × F`` scores) and the gradient of the
  scores. Nothing of size ``B·F²`` exists on this path.

Times are the median of interleaved rounds in one process (each round runs
every case once, so machine noise hits all cases alike), with the 25th-75th
percentile spread; the ratio is the median against ``complete``. Peak memory
is the growth of the peak RSS over the RSS before the first step (Linux
``VmHWM``, reset through ``/proc/self/clear_refs``) in a fresh process per
case. The target: at F = 1024 and k = 16, time and memory at most 1/4 of
``complete``. Nothing here asserts a time.

Run::

    python benchmarks/relation_graph.py            # full size, on a quiet machine
    python benchmarks/relation_graph.py --small    # CI size

``--results PATH`` also writes every printed row to a JSON file.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import torch
from _results import Recorder, add_results_argument, clean

from pyg_tabular.nn.conv import FeatureGATConv
from pyg_tabular.nn.dense import DenseFeatureGATConv
from pyg_tabular.nn.graph import LearnedFeatureGraph

Step = Callable[[], None]
CHANNELS, HEADS = 16, 4
FULL = {"features": (256, 1024), "rows": 64, "ks": (8, 16), "repeats": 7}
SMALL = {"features": (32, 64), "rows": 8, "ks": (4, 8), "repeats": 3}


def complete_step(rows: int, features: int, k: int) -> Step:
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


def cases(ks: tuple[int, ...]) -> dict[str, tuple[Callable[[int, int, int], Step], int]]:
    found: dict[str, tuple[Callable[[int, int, int], Step], int]] = {"complete": (complete_step, 0)}
    for k in ks:
        found[f"learned-k{k}"] = (learned_step, k)
    return found


def time_cases(steps: dict[str, Step], repeats: int) -> dict[str, tuple[float, float, float]]:
    """(median, 25th, 75th percentile) ms per step, rounds interleaved across cases."""
    for step in steps.values():  # warm-up
        step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append((time.perf_counter() - start) * 1e3)
    spread = {}
    for name, values in times.items():
        low, _, high = statistics.quantiles(values, n=4) if len(values) > 1 else values * 3
        spread[name] = (statistics.median(values), low, high)
    return spread


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"{field} not in /proc/self/status")


def _worker(name: str, rows: int, features: int, k: int, threads: int) -> None:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    build = learned_step if name.startswith("learned") else complete_step
    step = build(rows, features, k)
    before = _status_kb("VmRSS")
    # Writing 5 resets the peak RSS to the current one: imports and inputs do not count.
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")
    for _ in range(2):
        step()
    print(json.dumps({"peak_mb": (_status_kb("VmHWM") - before) / 1024}))


def peak_memory_mb(name: str, rows: int, features: int, k: int, threads: int) -> float:
    """Peak RSS growth of two steps of one case in a fresh process (NaN if it fails)."""
    command = [sys.executable, __file__, "--worker", name, *map(str, (rows, features, k, threads))]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"memory run of {name} at F={features} failed: {last}", file=sys.stderr)
        return float("nan")
    return float(json.loads(result.stdout.strip().splitlines()[-1])["peak_mb"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="CI size: F in 32, 64; B = 8")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-memory", action="store_true", help="skip the subprocess peaks")
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    add_results_argument(parser)
    args = parser.parse_args()
    if args.worker:
        name, *numbers = args.worker
        _worker(name, *(int(n) for n in numbers))
        return
    torch.set_num_threads(args.threads)
    size = SMALL if args.small else FULL
    config: dict[str, Any] = {
        **size,
        "channels": CHANNELS,
        "heads": HEADS,
        "threads": args.threads,
        "memory": not args.no_memory,
        "statistic": "median of interleaved rounds, 25th-75th percentile spread",
    }
    recorder = Recorder(__file__, config)
    recorder.keep_on_terminate(args.results)
    rows = size["rows"]
    print(f"B={rows}, C={CHANNELS}, H={HEADS}, {args.threads} threads; ms per fwd+bwd step")
    print(f"{'F':>5} {'case':<12} {'ms':>9} {'p25-p75':>17} {'x complete':>10} {'peak MB':>9}")
    for features in size["features"]:
        torch.manual_seed(0)
        built = {
            name: (build(rows, features, k), k) for name, (build, k) in cases(size["ks"]).items()
        }
        timed = time_cases({name: step for name, (step, _) in built.items()}, size["repeats"])
        base_ms = timed["complete"][0]
        base_mb = None
        for name, (_, k) in built.items():
            median, low, high = timed[name]
            memory = float("nan")
            if not args.no_memory:
                memory = peak_memory_mb(name, rows, features, k, args.threads)
            if name == "complete":
                base_mb = memory
            row = {
                "features": features,
                "rows": rows,
                "case": name,
                "k": k or None,
                "ms": median,
                "ms_p25": low,
                "ms_p75": high,
                "time_ratio": median / base_ms,
                "peak_mb": clean(memory),
                "memory_ratio": clean(memory / base_mb) if base_mb else None,
            }
            recorder.add("steps", row)
            mem = "-" if memory != memory else f"{memory:9.0f}"
            print(
                f"{features:>5} {name:<12} {median:9.1f} {low:8.1f}-{high:<8.1f} "
                f"{median / base_ms:10.2f} {mem:>9}",
                flush=True,
            )
    recorder.write(args.results)


if __name__ == "__main__":
    main()
