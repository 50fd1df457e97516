r"""The ``(batch, features)`` modules against their peers, side by side.

Every workload is timed in this one process against the peers that compute the
same function (or the same shapes):

* ``kerasfactory``: the Keras 3 layer the module mirrors, on Keras' torch
  backend (so forward and backward are torch ops too);
* PyG's ``DenseGATConv`` and ``GATConv`` where the math fits (W1);
* plain torch written straight from the formula (the floor to beat).

One step is forward + backward of ``out.sum()`` in training mode; the figure is
the median of at least five timed steps after warm-up (peers sampled in
alternation, so that a shared machine's load hits them alike), with
``torch.set_num_threads(2)`` by default. Peak memory comes from a fresh
subprocess per configuration: its peak RSS after three steps (``VmHWM`` on
Linux, ``ru_maxrss`` elsewhere), and the growth over the peak reached once the
imports, inputs and module are in place (``+MB``: what the steps themselves
allocate).

A peer whose module does not exist yet prints "not available yet"; without
keras + kerasfactory the Keras peers print a note and are skipped. The script
never asserts a time; it prints the ratios the targets are stated in.

Run::

    KERAS_BACKEND=torch python benchmarks/modules.py            # full size
    KERAS_BACKEND=torch python benchmarks/modules.py --small    # CI size
    python benchmarks/modules.py --scaling-only                 # time/memory vs F
    python benchmarks/modules.py --only W3,W4 --no-memory

``--results PATH`` also writes every printed row to a JSON file.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Keras picks its backend at first import; every Keras peer here must run on
# torch for the comparison to mean anything.
os.environ["KERAS_BACKEND"] = "torch"

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from _results import Recorder, add_results_argument  # noqa: E402

Step = Callable[[], None]
Sizes = dict[str, int]


class NotAvailable(Exception):
    """A peer that cannot run here; the message says why."""


# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #


def _backward_step(forward: Callable[[], torch.Tensor], params: list[torch.Tensor]) -> Step:
    def step() -> None:
        for p in params:
            p.grad = None
        forward().sum().backward()

    return step


def _keras_layers() -> Any:
    try:
        import keras
        import kerasfactory.layers as kf_layers
        from loguru import logger
    except ImportError as error:
        raise NotAvailable(
            f"kerasfactory not installed ({error.name}): skipped "
            "(pip install keras loguru pandas; pip install --no-deps kerasfactory)"
        ) from None
    if keras.backend.backend() != "torch":
        raise NotAvailable(f"keras runs on {keras.backend.backend()!r}, not torch: skipped")
    # kerasfactory logs every layer construction at DEBUG level, and builds
    # LeakyReLU with Keras' deprecated ``alpha`` spelling.
    logger.disable("kerasfactory")
    warnings.filterwarnings("ignore", message="Argument `alpha` is deprecated")
    return kf_layers


def _keras_step(layer: Any, inputs: Any) -> Step:
    def forward() -> torch.Tensor:
        return layer(inputs, training=True)

    forward()  # builds the Keras weights
    params = [v.value for v in layer.trainable_weights]
    return _backward_step(forward, params)


def _ours(module_path: str, class_name: str) -> Any:
    """Our class, from the subpackage if exported there, else from its module."""
    import importlib

    package = importlib.import_module("pyg_tabular.nn.tabular")
    cls = getattr(package, class_name, None)
    if cls is None:
        try:
            cls = getattr(importlib.import_module(module_path), class_name)
        except (ImportError, AttributeError):
            raise NotAvailable("not available yet") from None
    return cls


def _module_step(module: torch.nn.Module, *inputs: torch.Tensor) -> Step:
    module.train()
    return _backward_step(lambda: module(*inputs), list(module.parameters()))


def _build_ours(cls: Any, attempts: list[dict[str, Any]]) -> torch.nn.Module:
    """Instantiates with the first keyword set the constructor accepts."""
    errors = []
    for kwargs in attempts:
        try:
            return cls(**kwargs)
        except TypeError as error:
            errors.append(str(error))
    raise NotAvailable(f"constructor not as expected: {errors[-1]}")


# --------------------------------------------------------------------------- #
# W1: GraphFeatureAggregation
# --------------------------------------------------------------------------- #


def _w1_input(s: Sizes) -> torch.Tensor:
    return torch.randn(s["B"], s["F"], generator=torch.Generator().manual_seed(0))


def w1_plain_dense(s: Sizes) -> Step:
    """The decomposed GAT score on (B, F, F): a_1·h_i + a_2·h_j, no pair tensor."""
    x, e = _w1_input(s), s["E"]
    params = [torch.randn(*shape).mul_(0.3).requires_grad_() for shape in [(e,), (e,), (e,), (e,)]]
    w_p, b_p, a_1, a_2 = params
    c = torch.zeros((), requires_grad=True)
    w_o, b_o = torch.randn(e).mul_(0.3).requires_grad_(), torch.zeros((), requires_grad=True)

    def forward() -> torch.Tensor:
        h = x.unsqueeze(-1) * w_p + b_p  # [B, F, E]
        score = (h @ a_1).unsqueeze(-1) + (h @ a_2).unsqueeze(-2) + c  # [B, F, F]
        alpha = F.leaky_relu(score, 0.2).softmax(dim=-1)
        return torch.bmm(alpha, h) @ w_o + b_o + x

    return _backward_step(forward, [*params, c, w_o, b_o])


def w1_dense_gat_conv(s: Sizes) -> Step:
    from torch_geometric.nn import DenseGATConv

    x = _w1_input(s)
    conv, out = DenseGATConv(1, s["E"]), torch.nn.Linear(s["E"], 1)
    adj = torch.ones(s["F"], s["F"])
    params = [*conv.parameters(), *out.parameters()]
    return _backward_step(lambda: out(conv(x.unsqueeze(-1), adj)).squeeze(-1) + x, params)


def w1_gat_conv(s: Sizes) -> Step:
    from torch_geometric.nn import GATConv

    from pyg_tabular.data import rows_to_graph

    x = _w1_input(s)
    edge_index = rows_to_graph(x).edge_index  # B·F² edges, self-loops included
    conv, out = GATConv(1, s["E"], add_self_loops=False), torch.nn.Linear(s["E"], 1)
    params = [*conv.parameters(), *out.parameters()]
    nodes = x.reshape(-1, 1)
    return _backward_step(lambda: out(conv(nodes, edge_index)).view_as(x) + x, params)


def _w1_ours(backend: str | None) -> Callable[[Sizes], Step]:
    def build(s: Sizes) -> Step:
        cls = _ours("pyg_tabular.nn.tabular.graph_feature_aggregation", "GraphFeatureAggregation")
        base: dict[str, Any] = {"embed_dim": s["E"]}
        if backend is not None:
            base["backend"] = backend
        module = _build_ours(cls, [base, {"num_features": s["F"], **base}])
        return _module_step(module, _w1_input(s))

    return build


def w1_kerasfactory(s: Sizes) -> Step:
    layers = _keras_layers()
    return _keras_step(layers.GraphFeatureAggregation(embed_dim=s["E"]), _w1_input(s))


# --------------------------------------------------------------------------- #
# W2: AdvancedGraphFeatureLayer (hierarchical)
# --------------------------------------------------------------------------- #


def _w2_input(s: Sizes) -> torch.Tensor:
    return torch.randn(s["B"], s["F"], generator=torch.Generator().manual_seed(0))


def w2_plain_dense(s: Sizes) -> Step:
    """The layer's math with the (B, H, F, F, d) |h_i − h_j| tensor materialised."""
    x = _w2_input(s)
    b, f, e, heads, groups = s["B"], s["F"], s["E"], s["H"], s["G"]
    d = e // heads
    proj = torch.nn.Linear(1, e)
    u = torch.nn.Parameter(torch.randn(3, d) * 0.3)
    grouping = torch.nn.Parameter(torch.randn(f, groups) * 0.3)
    expander = torch.nn.Linear(groups * e, f * e)
    norm = torch.nn.LayerNorm(e, eps=1e-6)
    out = torch.nn.Linear(f * e, f)
    modules = [proj, expander, norm, out]
    params = [u, grouping, *(p for m in modules for p in m.parameters())]

    def forward() -> torch.Tensor:
        h = proj(x.unsqueeze(-1))  # [B, F, E]
        hh = h.view(b, f, heads, d).transpose(1, 2)  # [B, H, F, d]
        h_i, h_j = hh.unsqueeze(3), hh.unsqueeze(2)
        score = h_i @ u[0] + h_j @ u[1] + (h_i - h_j).abs() @ u[2]  # [B, H, F, F]
        alpha = F.leaky_relu(score, 0.2).softmax(dim=-1)
        z = torch.matmul(alpha, hh).transpose(1, 2).reshape(b, f, e)
        pooled = torch.einsum("bfe,fg->bge", z, grouping.softmax(dim=-1))  # [B, G, E]
        z = z + expander(pooled.reshape(b, -1)).view(b, f, e) + h
        return out(norm(z).reshape(b, -1))

    return _backward_step(forward, params)


def _w2_ours(backend: str | None) -> Callable[[Sizes], Step]:
    def build(s: Sizes) -> Step:
        cls = _ours(
            "pyg_tabular.nn.tabular.advanced_graph_feature_layer", "AdvancedGraphFeatureLayer"
        )
        kwargs: dict[str, Any] = {
            "embed_dim": s["E"],
            "num_heads": s["H"],
            "hierarchical": s.get("G", 0) > 0,
            "num_groups": s.get("G") or None,
        }
        if backend is not None:
            kwargs["backend"] = backend
        module = _build_ours(cls, [{"num_features": s["F"], **kwargs}, kwargs])
        return _module_step(module, _w2_input(s))

    return build


w2_ours = _w2_ours(None)


def w2_kerasfactory(s: Sizes) -> Step:
    layers = _keras_layers()
    layer = layers.AdvancedGraphFeatureLayer(
        embed_dim=s["E"], num_heads=s["H"], hierarchical=True, num_groups=s["G"]
    )
    return _keras_step(layer, _w2_input(s))


# --------------------------------------------------------------------------- #
# W3: GatedFeatureFusion, W4: RowAttention
# --------------------------------------------------------------------------- #


def _pair(s: Sizes) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return (
        torch.randn(s["B"], s["F"], generator=generator),
        torch.randn(s["B"], s["F"], generator=generator),
    )


def w3_plain(s: Sizes) -> Step:
    a, b = _pair(s)
    gate = torch.nn.Linear(2 * s["F"], s["F"])

    def forward() -> torch.Tensor:
        g = torch.sigmoid(gate(torch.cat([a, b], dim=-1)))
        return g * a + (1 - g) * b

    return _backward_step(forward, list(gate.parameters()))


def w3_ours(s: Sizes) -> Step:
    cls = _ours("pyg_tabular.nn.tabular.gated_feature_fusion", "GatedFeatureFusion")
    return _module_step(cls(s["F"]), *_pair(s))


def w3_kerasfactory(s: Sizes) -> Step:
    layers = _keras_layers()
    return _keras_step(layers.GatedFeatureFusion(), list(_pair(s)))


def _w4_ours(normalize: str) -> Callable[[Sizes], Step]:
    def build(s: Sizes) -> Step:
        cls = _ours("pyg_tabular.nn.tabular.row_attention", "RowAttention")
        return _module_step(cls(s["F"], normalize=normalize), _pair(s)[0])

    return build


def w4_plain(s: Sizes) -> Step:
    x = _pair(s)[0]
    hidden = max(s["F"] // 2, 1)
    net = torch.nn.Sequential(
        torch.nn.Linear(s["F"], hidden),
        torch.nn.ReLU(),
        torch.nn.BatchNorm1d(hidden, eps=1e-3, momentum=0.01),
        torch.nn.Linear(hidden, 1),
        torch.nn.Sigmoid(),
    ).train()
    return _backward_step(
        lambda: x * torch.softmax(5.0 * net(x).squeeze(-1), dim=0).unsqueeze(-1),
        list(net.parameters()),
    )


def w4_kerasfactory(s: Sizes) -> Step:
    layers = _keras_layers()
    return _keras_step(layers.RowAttention(feature_dim=s["F"]), _pair(s)[0])


# --------------------------------------------------------------------------- #
# Registry
# --------------------------------------------------------------------------- #


@dataclass
class Peer:
    name: str
    build: Callable[[Sizes], Step]
    reference: bool = False  # the plain-torch floor the ratios are taken against


@dataclass
class Workload:
    key: str
    title: str
    sizes: Sizes
    small: Sizes
    peers: list[Peer] = field(default_factory=list)
    inner: int = 1  # steps per timed sample, for sub-millisecond workloads


KERAS = "kerasfactory (Keras 3, torch)"

WORKLOADS: list[Workload] = [
    Workload(
        "W1",
        "GraphFeatureAggregation",
        {"B": 1024, "F": 32, "E": 16},
        {"B": 128, "F": 16, "E": 8},
        [
            Peer("plain dense torch", w1_plain_dense, reference=True),
            Peer("ours, backend=auto", _w1_ours(None)),
            Peer("ours, backend=dense", _w1_ours("dense")),
            Peer("ours, backend=sparse", _w1_ours("sparse")),
            Peer("PyG DenseGATConv + Linear", w1_dense_gat_conv),
            Peer("PyG GATConv (B·F² edges) + Linear", w1_gat_conv),
            Peer(KERAS, w1_kerasfactory),
        ],
    ),
    Workload(
        "W2",
        "AdvancedGraphFeatureLayer, hierarchical",
        {"B": 512, "F": 32, "E": 32, "H": 4, "G": 8},
        {"B": 64, "F": 16, "E": 16, "H": 4, "G": 4},
        [
            Peer("plain torch, (B,H,F,F,d) materialised", w2_plain_dense, reference=True),
            Peer("ours, backend=auto", _w2_ours(None)),
            Peer("ours, backend=sparse", _w2_ours("sparse")),
            Peer(KERAS, w2_kerasfactory),
        ],
    ),
    Workload(
        "W3",
        "GatedFeatureFusion",
        {"B": 1024, "F": 32},
        {"B": 256, "F": 16},
        [
            Peer("plain torch", w3_plain, reference=True),
            Peer("ours", w3_ours),
            Peer(KERAS, w3_kerasfactory),
        ],
        inner=20,
    ),
    Workload(
        "W4",
        "RowAttention",
        {"B": 1024, "F": 32},
        {"B": 256, "F": 16},
        [
            Peer("plain torch", w4_plain, reference=True),
            Peer("ours, normalize=batch", _w4_ours("batch")),
            Peer("ours, normalize=sigmoid", _w4_ours("sigmoid")),
            Peer(KERAS, w4_kerasfactory),
        ],
        inner=20,
    ),
]


# Scaling with the number of features: both modules, both paths, B fixed.
SCALING_FEATURES = (8, 32, 128, 512)
SCALING_ROWS = 64
# Rough bytes per (row, edge, head) the sparse path keeps alive through the
# backward pass (scores, attention, gathered messages and their gradients);
# configurations above the budget are skipped rather than swapped.
_SPARSE_BYTES_PER_EDGE_HEAD = 64
_MEMORY_BUDGET = 4 * 2**30


def _scaling_workloads() -> list[Workload]:
    out = []
    for f in SCALING_FEATURES:
        gfa = {"B": SCALING_ROWS, "F": f, "E": 16}
        agfl = {"B": SCALING_ROWS, "F": f, "E": 32, "H": 4, "G": 8}
        out.append(
            Workload(
                f"S-GFA-{f}",
                "GraphFeatureAggregation",
                gfa,
                gfa,
                [Peer("dense", _w1_ours("dense")), Peer("sparse", _w1_ours("sparse"))],
            )
        )
        out.append(
            Workload(
                f"S-AGFL-{f}",
                "AdvancedGraphFeatureLayer, hierarchical",
                agfl,
                agfl,
                [Peer("dense", _w2_ours("dense")), Peer("sparse", _w2_ours("sparse"))],
            )
        )
    return out


SCALING = _scaling_workloads()


def _sparse_too_big(sizes: Sizes) -> bool:
    edges_heads = sizes["B"] * sizes["F"] ** 2 * sizes.get("H", 1)
    return edges_heads * _SPARSE_BYTES_PER_EDGE_HEAD > _MEMORY_BUDGET


def run_scaling(args: argparse.Namespace, recorder: Recorder) -> None:
    torch.set_num_threads(args.threads)
    repeats = max(args.repeats, 5)
    print(
        f"\nscaling with F (B={SCALING_ROWS}; GFA E=16; AGFL E=32, H=4, G=8): "
        f"median ms per fwd+bwd step, peak RSS MB (+MB the steps add)"
    )
    print(
        f"  {'module':<6} {'F':>5} {'dense ms':>10} {'sparse ms':>10} {'dense MB':>14} "
        f"{'sparse MB':>14}"
    )
    for workload in SCALING:
        steps: dict[str, Step] = {}
        notes = []
        for peer in workload.peers:
            if peer.name == "sparse" and _sparse_too_big(workload.sizes):
                notes.append(
                    f"sparse skipped: ~{workload.sizes['B'] * workload.sizes['F'] ** 2:,} "
                    f"edges x heads exceed the {_MEMORY_BUDGET // 2**30} GB budget"
                )
                continue
            torch.manual_seed(0)
            steps[peer.name] = peer.build(workload.sizes)
        timings = interleaved_median_ms(steps, repeats, 1)
        steps.clear()
        cells = []
        module = workload.key.split("-")[1]
        for name in ("dense", "sparse"):
            row: dict[str, Any] = {
                "module": module.lower(),
                "features": workload.sizes["F"],
                "path": name,
                "sizes": workload.sizes,
            }
            if name not in timings:
                cells.append((f"{'-':>10}", f"{'-':>14}"))
                recorder.add("scaling", {**row, "skipped": "memory_budget"})
                continue
            memory = (
                {} if args.no_memory else measure_memory(workload.key, name, False, args.threads)
            )
            mb = "-"
            row["ms"] = timings[name]
            if "peak_kb" in memory:
                grown = (memory["peak_kb"] - memory["built_kb"]) / 1024
                mb = f"{memory['peak_kb'] / 1024:6.0f} (+{grown:.0f})"
                row.update(peak_mb=memory["peak_kb"] / 1024, added_mb=grown)
            cells.append((f"{timings[name]:10.2f}", f"{mb:>14}"))
            recorder.add("scaling", row)
        print(
            f"  {module:<6} {workload.sizes['F']:>5} {cells[0][0]} {cells[1][0]} "
            f"{cells[0][1]} {cells[1][1]}" + (f"   ({'; '.join(notes)})" if notes else "")
        )


def _find(key: str, peer_name: str) -> tuple[Workload, Peer]:
    for workload in WORKLOADS + SCALING:
        if workload.key == key:
            for peer in workload.peers:
                if peer.name == peer_name:
                    return workload, peer
    raise SystemExit(f"unknown configuration {key}/{peer_name}")


# --------------------------------------------------------------------------- #
# Measuring
# --------------------------------------------------------------------------- #


def interleaved_median_ms(
    steps: dict[str, Step], repeats: int, inner: int, warmup: int = 2
) -> dict[str, float]:
    """Median ms per step of each peer, timed in alternation.

    Round-robin sampling spreads the load of a shared machine evenly over the
    peers, so their ratios stay meaningful even when absolute times drift.
    """
    for step in steps.values():
        for _ in range(warmup):
            step()
    samples: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            for _ in range(inner):
                step()
            samples[name].append((time.perf_counter() - start) / inner)
    return {name: statistics.median(values) * 1e3 for name, values in samples.items()}


def _peak_rss_kb() -> int:
    """Peak resident set size of this process, in KiB.

    On Linux ``ru_maxrss`` survives ``exec``: a child forked from a large
    parent starts with the parent's peak. ``VmHWM`` belongs to the current
    address space, which ``exec`` replaces, so it is the child's own peak.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child_memory(key: str, peer_name: str, small: bool, threads: int) -> None:
    """Runs in a fresh process: builds one configuration, steps it, reports RSS."""
    torch.set_num_threads(threads)
    # A common baseline: every peer pays for torch_geometric and our package,
    # whether or not it uses them; only Keras stays specific to its peers.
    import torch_geometric.nn  # noqa: F401

    import pyg_tabular.nn.tabular  # noqa: F401

    workload, peer = _find(key, peer_name)
    sizes = workload.small if small else workload.sizes
    try:
        step = peer.build(sizes)
    except NotAvailable as error:
        print(json.dumps({"error": str(error)}))
        return
    built_kb = _peak_rss_kb()
    for _ in range(3):
        step()
    print(json.dumps({"peak_kb": _peak_rss_kb(), "built_kb": built_kb}))


def measure_memory(key: str, peer_name: str, small: bool, threads: int) -> dict[str, Any]:
    command = [sys.executable, os.path.abspath(__file__), "--child", key, peer_name]
    command += ["--threads", str(threads)] + (["--small"] if small else [])
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        return {"error": f"subprocess failed: {result.stderr.strip().splitlines()[-1:]}"}
    return json.loads(lines[-1])


def _fmt_ratio(value: float | None) -> str:
    return f"{value:8.1f}x" if value is not None else f"{'-':>9}"


def run(args: argparse.Namespace, recorder: Recorder) -> None:
    torch.set_num_threads(args.threads)
    selected = {k.strip() for k in args.only.split(",")} if args.only else None
    repeats = max(args.repeats, 5)
    results: dict[tuple[str, str], dict[str, Any]] = {}
    notes: set[str] = set()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"median of {repeats} fwd+bwd steps after warm-up, training mode"
    )
    for workload in WORKLOADS:
        if selected is not None and workload.key not in selected:
            continue
        sizes = workload.small if args.small else workload.sizes
        shape = ", ".join(f"{k}={v}" for k, v in sizes.items())
        print(f"\n{workload.key}  {workload.title}  ({shape})")
        print(
            f"  {'implementation':<40} {'ms/step':>9} {'keras/this':>10} {'this/plain':>10} "
            f"{'peak MB':>8} {'+MB':>7}"
        )
        steps: dict[str, Step] = {}
        for peer in workload.peers:
            try:
                torch.manual_seed(0)
                steps[peer.name] = peer.build(sizes)
            except NotAvailable as error:
                message = str(error)
                if message.startswith("kerasfactory not installed"):
                    notes.add(message)
                    message = "skipped: kerasfactory not installed"
                print(f"  {peer.name:<40} {message}")
                recorder.add(
                    "workloads",
                    {"workload": workload.key, "implementation": peer.name, "skipped": message},
                )
        timings = interleaved_median_ms(steps, repeats, workload.inner)
        steps.clear()
        keras_ms = timings.get(KERAS)
        plain_ms = next((timings.get(p.name) for p in workload.peers if p.reference), None)
        for peer in workload.peers:
            if peer.name not in timings:
                continue
            ms = timings[peer.name]
            memory = (
                {}
                if args.no_memory
                else measure_memory(workload.key, peer.name, args.small, args.threads)
            )
            if "peak_kb" in memory:
                memory["grown_kb"] = memory["peak_kb"] - memory["built_kb"]
            results[(workload.key, peer.name)] = {"ms": ms, **memory}
            peak = f"{memory['peak_kb'] / 1024:8.0f}" if "peak_kb" in memory else f"{'-':>8}"
            grown = f"{memory['grown_kb'] / 1024:7.0f}" if "grown_kb" in memory else f"{'-':>7}"
            print(
                f"  {peer.name:<40} {ms:9.3f} "
                f"{_fmt_ratio(keras_ms / ms if keras_ms else None):>10} "
                f"{_fmt_ratio(ms / plain_ms if plain_ms else None):>10} {peak} {grown}"
            )
            recorder.add(
                "workloads",
                {
                    "workload": workload.key,
                    "title": workload.title,
                    "sizes": sizes,
                    "implementation": peer.name,
                    "reference": peer.reference,
                    "ms": ms,
                    "keras_over_this": keras_ms / ms if keras_ms else None,
                    "this_over_plain": ms / plain_ms if plain_ms else None,
                    "peak_mb": memory["peak_kb"] / 1024 if "peak_kb" in memory else None,
                    "added_mb": memory["grown_kb"] / 1024 if "grown_kb" in memory else None,
                },
            )
    for label, value in print_targets(results):
        recorder.add("targets", {"target": label.strip(), "ratio": value})
    for note in sorted(notes):
        print(f"\nnote: {note}")


def print_targets(
    results: dict[tuple[str, str], dict[str, Any]],
) -> list[tuple[str, float | None]]:
    """The ratios set as targets; printed (and returned), never asserted."""

    def ratio(key: str, slow: str, fast: str, what: str = "ms") -> float | None:
        a, b = results.get((key, slow), {}), results.get((key, fast), {})
        if what not in a or what not in b:
            return None
        return a[what] / b[what]

    rows = [
        ("W1 auto path vs kerasfactory (>= 20x faster)", ratio("W1", KERAS, "ours, backend=auto")),
        (
            "W1 auto path vs DenseGATConv (>= 2x faster)",
            ratio("W1", "PyG DenseGATConv + Linear", "ours, backend=auto"),
        ),
        (
            "W1 sparse path vs GATConv (>= 1x, aim 1.5x)",
            ratio("W1", "PyG GATConv (B·F² edges) + Linear", "ours, backend=sparse"),
        ),
        (
            "W1 sparse path peak memory: GATConv / ours (>= 1x)",
            ratio("W1", "PyG GATConv (B·F² edges) + Linear", "ours, backend=sparse", "peak_kb"),
        ),
        (
            "  same, memory the steps add (+MB)",
            ratio("W1", "PyG GATConv (B·F² edges) + Linear", "ours, backend=sparse", "grown_kb"),
        ),
        ("W2 auto path vs kerasfactory (>= 8x faster)", ratio("W2", KERAS, "ours, backend=auto")),
        (
            "W2 peak memory: kerasfactory / ours (>= 4x)",
            ratio("W2", KERAS, "ours, backend=auto", "peak_kb"),
        ),
        (
            "  same, memory the steps add (+MB)",
            ratio("W2", KERAS, "ours, backend=auto", "grown_kb"),
        ),
        ("W2 sparse path vs kerasfactory", ratio("W2", KERAS, "ours, backend=sparse")),
        ("W3 vs kerasfactory", ratio("W3", KERAS, "ours")),
        ("W4 vs kerasfactory", ratio("W4", KERAS, "ours, normalize=batch")),
    ]
    print("\ntargets (ratios > 1 favour ours)")
    for label, value in rows:
        print(f"  {label:<52} {f'{value:.1f}x' if value is not None else 'n/a'}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="CI-sized run")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5, help="timed steps (at least 5)")
    parser.add_argument("--only", default="", help="comma-separated workloads, e.g. W1,W3")
    parser.add_argument("--no-memory", action="store_true", help="skip the RSS subprocesses")
    parser.add_argument(
        "--scaling", action="store_true", help="also time both paths for F in 8, 32, 128, 512"
    )
    parser.add_argument(
        "--scaling-only", action="store_true", help="only the scaling table (no workloads)"
    )
    parser.add_argument("--child", nargs=2, metavar=("WORKLOAD", "PEER"), help=argparse.SUPPRESS)
    add_results_argument(parser)
    args = parser.parse_args()
    if args.child:
        child_memory(args.child[0], args.child[1], args.small, args.threads)
        return
    recorder = Recorder(
        "modules.py",
        {
            "small": args.small,
            "threads": args.threads,
            "repeats": max(args.repeats, 5),
            "only": args.only,
            "memory": not args.no_memory,
            "statistic": "median of interleaved steps",
            "keras_peer": KERAS,
            "scaling_rows": SCALING_ROWS,
            "scaling_features": list(SCALING_FEATURES),
        },
    )
    recorder.keep_on_terminate(args.results)
    if not args.scaling_only:
        run(args, recorder)
    if args.scaling or args.scaling_only:
        run_scaling(args, recorder)
    recorder.write(args.results)


if __name__ == "__main__":
    main()
