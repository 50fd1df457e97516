"""Feature-attention convs against PyG's GATConv and DenseGATConv, side by side.

One step is forward + backward of ``out.sum()``, float32, 2 threads by
default. Every figure is timed in this one process in interleaved pairs
(``benchmarks/_results.py``: ``torch.utils.benchmark.Timer``, at least seven
rounds, each ratio taken within a round and reported as its median and range).
Peak memory is the growth of the peak RSS over the RSS before the first step
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
* **scaling**: every layer and the floor at W1's B for F = 8 … 128, and at
  W1's F for B = 256 … 4096 (so W1's configuration appears in three tables;
  layers that hold per-edge messages stop at 5 M edges).

Run ``python benchmarks/convs.py`` (full) or ``--small`` (CI size, no memory
subprocesses); ``--results PATH`` also writes every printed figure to a JSON
file. Prints medians, ranges and ratios; it never asserts a time.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from _results import (
    STEP,
    Recorder,
    Table,
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
from torch_geometric.nn import DenseGATConv, GATConv

from pyg_tabular.data import rows_to_graph
from pyg_tabular.nn.conv import FeatureDiffGATConv, FeatureGATConv
from pyg_tabular.nn.dense import DenseFeatureDiffGATConv, DenseFeatureGATConv

Step = Callable[[], None]
Shape = tuple[int, int, int, int, int]  # rows, features, in channels, out channels, heads
FLOOR = "plain torch floor"


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
    FLOOR: _plain_floor,
    "DenseGATConv": _dense(lambda i, o, h: DenseGATConv(i, o, heads=h), adj=True),
    "DenseFeatureGATConv": _dense(lambda i, o, h: DenseFeatureGATConv(i, o, heads=h)),
    "FeatureDiffGATConv": _sparse(lambda i, o, h: FeatureDiffGATConv(i, o, heads=h)),
    "FeatureDiffGATConv shuffled": _sparse(
        lambda i, o, h: FeatureDiffGATConv(i, o, heads=h), shuffle=True
    ),
    "DenseFeatureDiffGATConv": _dense(lambda i, o, h: DenseFeatureDiffGATConv(i, o, heads=h)),
    "diff reference": _diff_reference,
}


def _sizes(shape: Shape) -> dict[str, int]:
    rows, features, cin, cout, heads = shape
    return {"B": rows, "F": features, "in": cin, "out": cout, "heads": heads}


def _subjects(names: list[str]) -> dict[str, dict[str, Any]]:
    # What a case is, wherever it is timed: with the sizes and the threads, the
    # key under which the docs check compares the same configuration.
    return {name: {"case": name, "step": STEP} for name in names}


def _measure(
    table: Table,
    names: list[str],
    shape: Shape,
    ratios: list[tuple[str, str]],
    args: argparse.Namespace,
) -> dict[str, Any]:
    torch.manual_seed(0)
    steps = {name: CASES[name](*shape) for name in names}
    timings = interleaved(steps, **args.timing)
    steps.clear()
    memory = {}
    if args.memory:
        memory["peak_mb"] = peaks_mb(__file__, names, shape, args.threads, where=str(shape))
    return table.add_timed(_sizes(shape), timings, ratios, **memory)


def compare(
    key: str, title: str, pairs: list[tuple[str, str]], shape: Shape, args: argparse.Namespace
) -> None:
    """One configuration, every case of :obj:`pairs` (ours, peer) interleaved."""
    names = list(dict.fromkeys(name for pair in pairs for name in pair))
    ratios = [(peer, ours) for ours, peer in pairs]
    with args.recorder.table(key, _subjects(names), pairs=[list(p) for p in pairs]) as table:
        group = _measure(table, names, shape, ratios, args)
    rows = []
    for ours, peer in pairs:
        row = [ours, peer, fmt_ms(group["ms"][ours]), fmt_ms(group["ms"][peer])]
        row.append(fmt_ratio(group["ratios"][f"{peer}/{ours}"]))
        if args.memory:
            row += [f"{group['peak_mb'][name] or float('nan'):.0f}" for name in (ours, peer)]
        rows.append(row)
    header = ["ours", "peer", "ours ms", "peer ms", "peer/ours"]
    if args.memory:
        header += ["ours MB", "peer MB"]
    rows_, features, cin, cout, heads = shape
    print_table(f"{title} (B={rows_}, F={features}, {cin} -> {heads}x{cout})", header, rows)


# Cases that hold per-edge messages; above this many edges they are skipped in
# the scaling tables (GATConv at B=1024, F=128 would hold several GB of them).
MESSAGE_CASES = {"GATConv", "GATConv shuffled", "FeatureGATConv shuffled"}
MAX_MESSAGE_EDGES = 5_000_000
SCALING_CASES = [
    "GATConv",
    "FeatureGATConv",
    "FeatureGATConv shuffled",
    "DenseGATConv",
    "DenseFeatureGATConv",
    "FeatureDiffGATConv",
    "DenseFeatureDiffGATConv",
    FLOOR,
]


def scaling(key: str, shapes: list[Shape], args: argparse.Namespace) -> None:
    """Every case and the floor at each shape; ratios to the floor."""
    grows = dict.fromkeys(SCALING_CASES, ("B", "F"))
    body = []
    with args.recorder.table(key, _subjects(SCALING_CASES), grows) as table:
        for shape in shapes:
            rows, features = shape[:2]
            too_big = rows * features * features > MAX_MESSAGE_EDGES
            run = [n for n in SCALING_CASES if not (too_big and n in MESSAGE_CASES)]
            group = _measure(table, run, shape, [(n, FLOOR) for n in run if n != FLOOR], args)
            skipped = {n: "message_edges" for n in SCALING_CASES if n not in run}
            if skipped:
                group["skipped"] = skipped
            for name in SCALING_CASES:
                cell = "skipped"
                if name in group["ms"]:
                    cell = fmt_ms(group["ms"][name])
                    if name != FLOOR:
                        cell += f" = {group['ratios'][f'{name}/{FLOOR}']['median']:.2f}x floor"
                body.append([f"B={rows} F={features}", name, cell])
    print_table(
        f"{key}: ms per step (median and range) and the median ratio to the floor",
        ["shape", "case", "ms"],
        body,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--small", action="store_true", help="CI size: small shapes, no memory runs (seconds)"
    )
    parser.add_argument(
        "--only", choices=["w1", "w2", "scaling"], action="append", help="run these sections"
    )
    add_memory_arguments(parser, shape_size=5)
    add_arguments(parser)
    args = parser.parse_args()
    if args.worker:
        memory_worker(lambda: CASES[args.worker](*args.shape), args.threads)
        return

    args.timing = timing_of(parser, args)
    w1: Shape = (64, 8, 1, 16, 1) if args.small else (1024, 32, 1, 16, 1)
    w2: Shape = (32, 8, 1, 8, 4) if args.small else (512, 32, 1, 8, 4)
    # Both scaling tables pass through W1's configuration.
    scale_features = [4, 8, 16] if args.small else [8, 16, 32, 64, 128]
    scale_rows = [16, 64, 256] if args.small else [256, 1024, 4096]
    print(f"torch {torch.__version__}, {args.threads} threads, {args.pairs} interleaved pairs")

    sections = set(args.only or ["w1", "w2", "scaling"])
    args.recorder = Recorder(
        "convs.py",
        {
            "small": args.small,
            "sections": sorted(sections),
            "memory": args.memory,
            "shape_order": ["rows", "features", "in_channels", "out_channels", "heads"],
            "w1": list(w1),
            "w2": list(w2),
            "scale_features": scale_features,
            "scale_rows": scale_rows,
            "max_message_edges": MAX_MESSAGE_EDGES,
            "add_self_loops": True,
        },
        args.timing,
        settle=args.settle,
    )
    args.recorder.keep_on_terminate(args.results)
    if "w1" in sections:
        compare(
            "w1",
            "W1",
            [
                ("FeatureGATConv", "GATConv"),
                ("FeatureGATConv shuffled", "GATConv shuffled"),
                ("DenseFeatureGATConv", "DenseGATConv"),
                # A speed-up under 1x here is the fraction of the floor's speed.
                ("FeatureGATConv", FLOOR),
            ],
            w1,
            args,
        )
    if "w2" in sections:
        compare(
            "w2",
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
        rows, features = w1[:2]
        scaling("scaling_f", [(rows, f, *w1[2:]) for f in scale_features], args)
        scaling("scaling_b", [(b, features, *w1[2:]) for b in scale_rows], args)
    args.recorder.write(args.results)


if __name__ == "__main__":
    main()
