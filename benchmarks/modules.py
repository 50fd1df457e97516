r"""The ``(batch, features)`` modules against their peers, side by side.

Every workload is timed in this one process against the peers that compute the
same function (or the same shapes):

* ``kerasfactory``: the Keras 3 layer the module mirrors, on Keras' torch
  backend (so forward and backward are torch ops too);
* PyG's ``DenseGATConv`` and ``GATConv`` where the math fits (W1);
* plain torch written straight from the formula (the floor to beat).

One step is forward + backward of ``out.sum()`` in training mode, with
``--threads`` torch threads (2 by default). All implementations of a workload
are timed in interleaved rounds (``benchmarks/_results.py``:
``torch.utils.benchmark.Timer``, at least seven rounds); every ratio is taken
within a round and reported as its median and range over the rounds. Peak
memory comes from a fresh subprocess per configuration: its peak RSS after
three steps (``VmHWM`` on Linux, ``ru_maxrss`` elsewhere), and the growth over
the peak reached once the imports, inputs and module are in place (``+MB``:
what the steps themselves allocate).

Without keras + kerasfactory the Keras peers print a note and are skipped. The
script never asserts a time; it prints the ratios the targets are stated in.
Time and memory as F and B grow are ``benchmarks/scaling.py``'s.

Run::

    KERAS_BACKEND=torch python benchmarks/modules.py            # full size
    KERAS_BACKEND=torch python benchmarks/modules.py --small    # CI size
    python benchmarks/modules.py --only W3,W4 --no-memory

``--results PATH`` also writes every printed figure to a JSON file.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Keras picks its backend at first import; every Keras peer here must run on
# torch for the comparison to mean anything.
os.environ["KERAS_BACKEND"] = "torch"

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from _results import (  # noqa: E402
    STEP,
    Recorder,
    Spread,
    add_arguments,
    fmt_ms,
    fmt_ratio,
    interleaved,
    print_table,
    timing_of,
)

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


def _module_step(module: torch.nn.Module, *inputs: torch.Tensor) -> Step:
    module.train()
    return _backward_step(lambda: module(*inputs), list(module.parameters()))


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


def _w1_ours(backend: str) -> Callable[[Sizes], Step]:
    def build(s: Sizes) -> Step:
        from pyg_tabular.nn.tabular import GraphFeatureAggregation

        module = GraphFeatureAggregation(embed_dim=s["E"], backend=backend)
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


def _w2_ours(backend: str) -> Callable[[Sizes], Step]:
    def build(s: Sizes) -> Step:
        from pyg_tabular.nn.tabular import AdvancedGraphFeatureLayer

        module = AdvancedGraphFeatureLayer(
            s["F"],
            embed_dim=s["E"],
            num_heads=s["H"],
            hierarchical=s.get("G", 0) > 0,
            num_groups=s.get("G") or None,
            backend=backend,
        )
        return _module_step(module, _w2_input(s))

    return build


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
    from pyg_tabular.nn.tabular import GatedFeatureFusion

    return _module_step(GatedFeatureFusion(s["F"]), *_pair(s))


def w3_kerasfactory(s: Sizes) -> Step:
    layers = _keras_layers()
    return _keras_step(layers.GatedFeatureFusion(), list(_pair(s)))


def _w4_ours(normalize: str) -> Callable[[Sizes], Step]:
    def build(s: Sizes) -> Step:
        from pyg_tabular.nn.tabular import RowAttention

        return _module_step(RowAttention(s["F"], normalize=normalize), _pair(s)[0])

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


KERAS = "kerasfactory (Keras 3, torch)"

WORKLOADS: list[Workload] = [
    Workload(
        "W1",
        "GraphFeatureAggregation",
        {"B": 1024, "F": 32, "E": 16},
        {"B": 128, "F": 16, "E": 16},
        [
            Peer("plain dense torch", w1_plain_dense, reference=True),
            Peer("ours, backend=auto", _w1_ours("auto")),
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
            Peer("ours, backend=auto", _w2_ours("auto")),
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
    ),
]


def _find(key: str, peer_name: str) -> tuple[Workload, Peer]:
    for workload in WORKLOADS:
        if workload.key == key:
            for peer in workload.peers:
                if peer.name == peer_name:
                    return workload, peer
    raise SystemExit(f"unknown configuration {key}/{peer_name}")


# --------------------------------------------------------------------------- #
# Measuring
# --------------------------------------------------------------------------- #


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


#: (label, workload, slow peer, fast peer, threshold) of each target in PERF.md.
TARGETS = [
    ("W1 auto path vs kerasfactory (>= 20x faster)", "W1", KERAS, "ours, backend=auto", 20),
    (
        "W1 auto path vs DenseGATConv (>= 2x faster)",
        "W1",
        "PyG DenseGATConv + Linear",
        "ours, backend=auto",
        2,
    ),
    (
        "W1 sparse path vs GATConv (>= 1x, aim 1.5x)",
        "W1",
        "PyG GATConv (B·F² edges) + Linear",
        "ours, backend=sparse",
        1,
    ),
    ("W2 auto path vs kerasfactory (>= 8x faster)", "W2", KERAS, "ours, backend=auto", 8),
    ("W3 vs kerasfactory", "W3", KERAS, "ours", None),
    ("W4 vs kerasfactory", "W4", KERAS, "ours, normalize=batch", None),
]


def subject(workload: Workload, peer: Peer) -> dict[str, Any]:
    """What a timed step is, wherever it is timed (``benchmarks/scaling.py`` too)."""
    return {"module": workload.title, "impl": peer.name, "step": STEP}


def run_workload(
    workload: Workload, args: argparse.Namespace, recorder: Recorder, notes: set[str]
) -> dict[str, Spread]:
    sizes = workload.small if args.small else workload.sizes
    shape = ", ".join(f"{k}={v}" for k, v in sizes.items())
    steps: dict[str, Step] = {}
    skipped: dict[str, str] = {}
    for peer in workload.peers:
        try:
            torch.manual_seed(0)
            steps[peer.name] = peer.build(sizes)
        except NotAvailable as error:
            message = str(error)
            if message.startswith("kerasfactory not installed"):
                notes.add(message)
                message = "skipped: kerasfactory not installed"
            skipped[peer.name] = message
    reference = next(p.name for p in workload.peers if p.reference)
    names = list(steps)
    ratios = [(name, reference) for name in names if name != reference]
    ratios += [(KERAS, name) for name in names if name != KERAS]
    ratios += [(slow, fast) for _, key, slow, fast, _ in TARGETS if key == workload.key]
    subjects = {p.name: subject(workload, p) for p in workload.peers}
    with recorder.table(workload.key, subjects, title=workload.title) as table:
        timings = interleaved(steps, **args.timing)
        steps.clear()
        memory: dict[str, dict[str, float | None]] = {"peak_mb": {}, "added_mb": {}}
        if args.memory:
            for name in names:
                measured = measure_memory(workload.key, name, args.small, args.threads)
                peak = measured.get("peak_kb")
                memory["peak_mb"][name] = peak / 1024 if peak is not None else None
                memory["added_mb"][name] = (
                    (peak - measured["built_kb"]) / 1024 if peak is not None else None
                )
        group = table.add_timed(
            sizes,
            timings,
            list(dict.fromkeys(ratios)),
            reference=reference,
            **(memory if args.memory else {}),
            **({"skipped": skipped} if skipped else {}),
        )
    body = []
    for peer in workload.peers:
        if peer.name in skipped:
            body.append([peer.name, skipped[peer.name], "", "", ""])
            continue
        over_plain = group["ratios"].get(f"{peer.name}/{reference}")
        keras = group["ratios"].get(f"{KERAS}/{peer.name}")
        peak = group.get("peak_mb", {}).get(peer.name)
        body.append(
            [
                peer.name,
                fmt_ms(group["ms"][peer.name]),
                fmt_ratio(over_plain) if over_plain else "1",
                fmt_ratio(keras),
                f"{peak:.0f}" if peak is not None else "-",
            ]
        )
    print_table(
        f"{workload.key}  {workload.title}  ({shape})",
        ["implementation", "ms/step", "this/plain", "keras/this", "peak MB"],
        body,
    )
    return group["ratios"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="CI-sized run")
    parser.add_argument("--only", default="", help="comma-separated workloads, e.g. W1,W3")
    parser.add_argument("--no-memory", action="store_true", help="skip the RSS subprocesses")
    parser.add_argument("--child", nargs=2, metavar=("WORKLOAD", "PEER"), help=argparse.SUPPRESS)
    add_arguments(parser)
    args = parser.parse_args()
    if args.child:
        child_memory(args.child[0], args.child[1], args.small, args.threads)
        return
    args.timing = timing_of(parser, args)
    args.memory = not args.no_memory
    selected = {k.strip() for k in args.only.split(",")} if args.only else None
    recorder = Recorder(
        "modules.py",
        {
            "small": args.small,
            "only": args.only,
            "memory": args.memory,
            "keras_peer": KERAS,
            "step": STEP,
        },
        args.timing,
        settle=args.settle,
    )
    recorder.keep_on_terminate(args.results)
    print(
        f"torch {torch.__version__}, {args.threads} threads, {args.pairs} interleaved pairs "
        "of fwd+bwd steps, training mode; ms as median (min-max)"
    )
    ratios: dict[str, dict[str, Spread]] = {}
    notes: set[str] = set()
    for workload in WORKLOADS:
        if selected is None or workload.key in selected:
            ratios[workload.key] = run_workload(workload, args, recorder, notes)
    print("\ntargets (peer time / ours, median and range over the pairs; > 1 favours ours)")
    for label, key, slow, fast, _ in TARGETS:
        value = ratios.get(key, {}).get(f"{slow}/{fast}")
        print(f"  {label:<52} {fmt_ratio(value) if value else 'n/a'}")
    for note in sorted(notes):
        print(f"\nnote: {note}")
    recorder.write(args.results)


if __name__ == "__main__":
    main()
