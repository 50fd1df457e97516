"""Feature-attention convs against PyG's GATConv and DenseGATConv, side by side.

One step is forward + backward of ``out.sum()``, float32, 2 threads. Times
are medians of interleaved rounds in one process (each round runs every case
once, so machine noise hits all cases alike);
peak memory is the growth of the peak RSS over the RSS before the first step
(Linux: ``VmHWM`` after resetting it through ``/proc/self/clear_refs``),
measured in a fresh subprocess per case.

Sections:

* **W1** (B=1024, F=32, 1 → 16 channels, 1 head): sparse
  :class:`FeatureGATConv` against :class:`GATConv`, both with GATConv's
  defaults (``add_self_loops=True``), on the batched complete graph of
  ``rows_to_graph`` (our dense fast path) and on the same graph with its
  edges shuffled (the generic message-passing path);
  :class:`DenseFeatureGATConv` against :class:`DenseGATConv`; and the fast
  path against the plain-torch floor (the decomposed GAT score on
  ``[B, F, F]``).
* **W2** (B=512, F=32, 1 → 4 heads × 8 channels): the difference-aware score,
  dense (two ``cdist`` calls) against plain torch materialising
  ``[B, H, F, F, d]``, and the sparse layer's paths; and
  :class:`FeatureGATConv` against :class:`GATConv` at these shapes.
* **scaling**: every layer at B=256 for F = 8, 32, 128, 256 (layers that
  hold per-edge messages stop at 5 M edges).

Run ``python benchmarks/convs.py`` (full, ~15 min on 2 busy cores) or
``--small`` (CI size, no memory subprocesses, well under a minute);
``--results PATH`` also writes every printed row to a JSON file.
Prints tables of medians and ratios; it never asserts a time.
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
import torch.nn.functional as F
from _results import Recorder, add_results_argument, clean
from torch_geometric.nn import DenseGATConv, GATConv

from pyg_tabular.data import rows_to_graph
from pyg_tabular.nn.conv import FeatureDiffGATConv, FeatureGATConv
from pyg_tabular.nn.dense import DenseFeatureDiffGATConv, DenseFeatureGATConv

Step = Callable[[], None]


def _graph(rows: int, features: int, channels: int, shuffle: bool) -> tuple[Any, Any]:
    batch = rows_to_graph(torch.randn(rows, features, channels))
    edge_index = batch.edge_index
    if shuffle:
        edge_index = edge_index[:, torch.randperm(edge_index.size(1))]
    return batch.x, edge_index


Factory = Callable[[int, int, int], torch.nn.Module]  # (in, out, heads) -> layer


def _sparse(make: Factory, shuffle: bool = False) -> Callable[..., Step]:
    def build(rows: int, features: int, cin: int, cout: int, heads: int) -> Step:
        module = make(cin, cout, heads)
        x, edge_index = _graph(rows, features, cin, shuffle)

        def step() -> None:
            module(x, edge_index).sum().backward()

        return step

    return build


def _dense(make: Factory, adj: bool = False) -> Callable[..., Step]:
    def build(rows: int, features: int, cin: int, cout: int, heads: int) -> Step:
        module = make(cin, cout, heads)
        x = torch.randn(rows, features, cin)
        args = (torch.ones(features, features),) if adj else ()

        def step() -> None:
            module(x, *args).sum().backward()

        return step

    return build


def _plain_floor(rows: int, features: int, cin: int, cout: int, heads: int) -> Step:
    # Plain dense torch with the decomposed GAT score: the floor any layer
    # computing this function can hope for.
    lin = torch.nn.Linear(cin, heads * cout, bias=False)
    att = torch.nn.Parameter(torch.randn(2, heads, cout) * 0.1)
    x = torch.randn(rows, features, cin)

    def step() -> None:
        h = lin(x).view(rows, features, heads, cout).transpose(1, 2)  # [B, H, F, C]
        score_dst = (h * att[0].unsqueeze(1)).sum(-1)  # [B, H, F]
        score_src = (h * att[1].unsqueeze(1)).sum(-1)
        score = F.leaky_relu(score_dst.unsqueeze(-1) + score_src.unsqueeze(-2), 0.2)
        alpha = score.softmax(-1).reshape(rows * heads, features, features)
        # bmm on 3-D views: a 4-D matmul's backward can be far slower on CPU.
        torch.bmm(alpha, h.reshape(rows * heads, features, cout)).sum().backward()

    return step


def _diff_reference(rows: int, features: int, cin: int, cout: int, heads: int) -> Step:
    # Plain torch, materialising |h_i - h_j| as [B, H, F, F, d]: the baseline
    # the cdist formulation replaces.
    lin = torch.nn.Linear(cin, heads * cout, bias=False)
    att = torch.nn.Parameter(torch.randn(3 * cout) * 0.1)
    x = torch.randn(rows, features, cin)

    def step() -> None:
        h = lin(x).view(rows, features, heads, cout).transpose(1, 2)  # [B, H, F, d]
        u1, u2, u3 = att.split(cout)
        diff = (h.unsqueeze(3) - h.unsqueeze(2)).abs()  # [B, H, F, F, d]
        score = (h @ u1).unsqueeze(-1) + (h @ u2).unsqueeze(-2) + diff @ u3
        alpha = F.leaky_relu(score, 0.2).softmax(-1)
        (alpha @ h).sum().backward()

    return step


CASES: dict[str, Callable[..., Step]] = {
    # GATConv's defaults on both sides (add_self_loops=True); ours without its
    # score bias, so that both compute the same function.
    "GATConv": _sparse(lambda i, o, h: GATConv(i, o, heads=h)),
    "FeatureGATConv": _sparse(lambda i, o, h: FeatureGATConv(i, o, heads=h, att_bias=False)),
    "GATConv shuffled": _sparse(lambda i, o, h: GATConv(i, o, heads=h), shuffle=True),
    "FeatureGATConv shuffled": _sparse(
        lambda i, o, h: FeatureGATConv(i, o, heads=h, att_bias=False), shuffle=True
    ),
    "plain torch floor": _plain_floor,
    "DenseGATConv": _dense(lambda i, o, h: DenseGATConv(i, o, heads=h), adj=True),
    "DenseFeatureGATConv": _dense(lambda i, o, h: DenseFeatureGATConv(i, o, heads=h)),
    "FeatureDiffGATConv": _sparse(lambda i, o, h: FeatureDiffGATConv(i, o, heads=h)),
    "FeatureDiffGATConv shuffled": _sparse(
        lambda i, o, h: FeatureDiffGATConv(i, o, heads=h), shuffle=True
    ),
    "DenseFeatureDiffGATConv": _dense(lambda i, o, h: DenseFeatureDiffGATConv(i, o, heads=h)),
    "diff reference": _diff_reference,
}


def time_cases(
    names: list[str], shape: tuple[int, int, int, int, int], repeats: int, warmup: int
) -> dict[str, float]:
    """Median ms per step of each case, rounds interleaved across cases."""
    torch.manual_seed(0)
    steps = {name: CASES[name](*shape) for name in names}
    for _ in range(warmup):
        for step in steps.values():
            step()
    times: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) * 1e3 for name, values in times.items()}


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"{field} not in /proc/self/status")


def _worker(name: str, shape: tuple[int, int, int, int, int]) -> None:
    torch.set_num_threads(2)
    torch.manual_seed(0)
    step = CASES[name](*shape)
    before = _status_kb("VmRSS")
    # Writing 5 to clear_refs resets the peak RSS (VmHWM) to the current RSS,
    # so importing torch and building the inputs do not count as the step's peak.
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")
    for _ in range(2):
        step()
    print(json.dumps({"peak_mb": (_status_kb("VmHWM") - before) / 1024}))


def peak_memory_mb(name: str, shape: tuple[int, int, int, int, int]) -> float:
    """Peak RSS growth of two steps of one case, in a fresh process (NaN if it fails)."""
    command = [sys.executable, __file__, "--worker", name, "--shape", *map(str, shape)]
    for _ in range(2):  # a busy machine can fail one run; retry once
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode == 0:
            return float(json.loads(result.stdout.strip().splitlines()[-1])["peak_mb"])
    last = (result.stderr.strip().splitlines() or ["no output"])[-1]
    print(f"memory run of {name} at {shape} failed: {last}", file=sys.stderr)
    return float("nan")


def _table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print(f"\n{title}")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |")


def compare(
    title: str,
    pairs: list[tuple[str, str]],
    shape: tuple[int, int, int, int, int],
    args: argparse.Namespace,
) -> None:
    names = list(dict.fromkeys(name for pair in pairs for name in pair))
    ms = time_cases(names, shape, args.repeats, args.warmup)
    mem = {name: peak_memory_mb(name, shape) for name in names} if args.memory else {}
    rows = []
    key = title.split(",")[0].lower()
    for ours, peer in pairs:
        row = [ours, peer, f"{ms[ours]:.1f}", f"{ms[peer]:.1f}", f"{ms[peer] / ms[ours]:.2f}x"]
        record: dict[str, Any] = {
            "ours": ours,
            "peer": peer,
            "ours_ms": ms[ours],
            "peer_ms": ms[peer],
            "speedup": ms[peer] / ms[ours],
        }
        if args.memory:
            row += [f"{mem[ours]:.0f}", f"{mem[peer]:.0f}", f"{mem[ours] / max(mem[peer], 1):.2f}"]
            record.update(
                ours_mb=clean(mem[ours]),
                peer_mb=clean(mem[peer]),
                memory_ratio=clean(mem[ours] / max(mem[peer], 1)),
            )
        rows.append(row)
        args.recorder.add(key, record)
    header = ["ours", "peer", "ours ms", "peer ms", "speed-up"]
    if args.memory:
        header += ["ours MB", "peer MB", "mem ratio"]
    rows_, features, cin, cout, heads = shape
    _table(f"{title} (B={rows_}, F={features}, {cin} -> {heads}x{cout})", header, rows)


# Cases that hold per-edge messages; above this many edges they are skipped in
# the scaling table (GATConv at B=256, F=256 would hold several GB of them).
MESSAGE_CASES = {"GATConv", "GATConv shuffled", "FeatureGATConv shuffled"}
MAX_MESSAGE_EDGES = 5_000_000


def scaling(args: argparse.Namespace) -> None:
    names = [
        "GATConv",
        "FeatureGATConv",
        "FeatureGATConv shuffled",
        "DenseGATConv",
        "DenseFeatureGATConv",
        "FeatureDiffGATConv",
        "DenseFeatureDiffGATConv",
    ]
    cells: dict[tuple[str, int], str] = {}
    for features in args.scale_features:
        shape = (args.scale_rows, features, 1, 16, 1)
        too_big = args.scale_rows * features * features > MAX_MESSAGE_EDGES
        run = [n for n in names if not (too_big and n in MESSAGE_CASES)]
        ms = time_cases(run, shape, args.repeats, 1)
        for name in names:
            if name not in run:
                cells[name, features] = "skipped"
                args.recorder.add(
                    "scaling",
                    {"layer": name, "features": features, "skipped": "message_edges"},
                )
                continue
            peak = peak_memory_mb(name, shape) if args.memory else None
            mem = f" / {peak:.0f}" if peak is not None else ""
            cells[name, features] = f"{ms[name]:.1f}{mem}"
            args.recorder.add(
                "scaling",
                {"layer": name, "features": features, "ms": ms[name], "mb": clean(peak)},
            )
    unit = "ms / MB" if args.memory else "ms"
    header = ["layer"] + [f"F={f} {unit}" for f in args.scale_features]
    rows = [[name] + [cells[name, f] for f in args.scale_features] for name in names]
    _table(f"Scaling with F (B={args.scale_rows}, 1 -> 16, 1 head)", header, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--small", action="store_true", help="CI size: small shapes, no memory runs (seconds)"
    )
    parser.add_argument(
        "--memory",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="measure peak memory in a subprocess per case (default: on, off with --small)",
    )
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument(
        "--only", choices=["w1", "w2", "scaling"], action="append", help="run these sections"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--shape", type=int, nargs=5, help=argparse.SUPPRESS)
    add_results_argument(parser)
    args = parser.parse_args()
    if args.worker:
        _worker(args.worker, tuple(args.shape))
        return

    torch.set_num_threads(2)
    args.warmup = 1 if args.small else 2
    if args.repeats is None:
        args.repeats = 9 if args.small else 7
    if args.memory is None:
        args.memory = not args.small
    w1 = (64, 8, 1, 16, 1) if args.small else (1024, 32, 1, 16, 1)
    w2 = (32, 8, 1, 8, 4) if args.small else (512, 32, 1, 8, 4)
    args.scale_rows = 16 if args.small else 256
    args.scale_features = [4, 8, 16] if args.small else [8, 32, 128, 256]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    sections = set(args.only or ["w1", "w2", "scaling"])
    args.recorder = Recorder(
        "convs.py",
        {
            "small": args.small,
            "sections": sorted(sections),
            "repeats": args.repeats,
            "warmup": args.warmup,
            "memory": args.memory,
            "statistic": "median of interleaved rounds",
            "shape_order": ["rows", "features", "in_channels", "out_channels", "heads"],
            "w1": list(w1),
            "w2": list(w2),
            "scale_rows": args.scale_rows,
            "scale_features": args.scale_features,
            "scale_shape": [args.scale_rows, None, 1, 16, 1],
            "max_message_edges": MAX_MESSAGE_EDGES,
            "add_self_loops": True,
        },
    )
    args.recorder.keep_on_terminate(args.results)
    if "w1" in sections:
        compare(
            "W1",
            [
                ("FeatureGATConv", "GATConv"),
                ("FeatureGATConv shuffled", "GATConv shuffled"),
                ("DenseFeatureGATConv", "DenseGATConv"),
                # A speed-up under 1x here is the fraction of the floor's speed.
                ("FeatureGATConv", "plain torch floor"),
            ],
            w1,
            args,
        )
    if "w2" in sections:
        compare(
            "W2, difference-aware score",
            [
                ("DenseFeatureDiffGATConv", "diff reference"),
                ("FeatureDiffGATConv", "diff reference"),
                ("FeatureDiffGATConv shuffled", "diff reference"),
                # The drop-in swap again, with several heads.
                ("FeatureGATConv", "GATConv"),
            ],
            w2,
            args,
        )
    if "scaling" in sections:
        scaling(args)
    args.recorder.write(args.results)


if __name__ == "__main__":
    main()
