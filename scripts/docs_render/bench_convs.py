"""Regions of ``benchmarks/convs.py``: the convs against PyG's, and the swap guide's table."""

from __future__ import annotations

from typing import Any

from .bench_common import (
    Bench,
    BenchTable,
    bench_region,
    judged,
    ms_spread,
    ratio_spread,
)
from .text import NOT_RUN, markdown_table, mib, ratio

FLOOR = "plain torch floor"

_LABELS = {
    ("FeatureGATConv", "GATConv"): "`FeatureGATConv` vs `GATConv`, complete graph of "
    "`rows_to_graph` (fast path)",
    ("FeatureGATConv shuffled", "GATConv shuffled"): "the same with edges shuffled "
    "(generic `propagate` path)",
    ("DenseFeatureGATConv", "DenseGATConv"): "`DenseFeatureGATConv` vs `DenseGATConv`",
    ("FeatureGATConv", FLOOR): "`FeatureGATConv` fast path vs the plain-torch floor",
    ("DenseFeatureDiffGATConv", "diff reference"): "`DenseFeatureDiffGATConv` vs plain torch "
    "materialising `[B, H, F, F, d]`",
    ("FeatureDiffGATConv", "diff reference"): "`FeatureDiffGATConv`, complete graph, vs the "
    "same plain torch",
    ("FeatureDiffGATConv shuffled", "diff reference"): "`FeatureDiffGATConv`, shuffled edges, "
    "vs the same plain torch",
}


def _shape_text(sizes: dict[str, int]) -> str:
    heads, out = sizes["heads"], sizes["out"]
    channels = f"{out} channels, 1 head" if heads == 1 else f"{heads} heads × {out} channels"
    return f"B = {sizes['B']}, F = {sizes['F']}, {sizes['in']} → {channels}"


def _section(bench: Bench, key: str) -> tuple[BenchTable, dict[str, Any]] | None:
    table = bench.table(key)
    if table is None or not table.timed():
        return None
    return table, table.timed()[0]


def _memory(group: dict[str, Any], ours: str, peer: str) -> str:
    peaks = group.get("peak_mb", {})
    a, b = peaks.get(ours), peaks.get(peer)
    if a is None or b is None:
        return "–"
    return f"{mib(a)} / {mib(b)} ({ratio(a / max(b, 1))})"


def _conv_table(bench: Bench, key: str, provenance: bool) -> str:
    section = _section(bench, key)
    if section is None:
        return NOT_RUN
    table, group = section
    rows = []
    for ours, peer in table.record["pairs"]:
        label = _LABELS.get((ours, peer), f"`{ours}` vs `{peer}`")
        rows.append(
            [
                label,
                ms_spread(group["ms"][ours]),
                ms_spread(group["ms"][peer]),
                f"**{ratio_spread(group['ratios'][f'{peer}/{ours}'])}**",
                _memory(group, ours, peer),
            ]
        )
    header = ["comparison", "ours ms", "peer ms", "speed-up", "peak MB, ours / peer"]
    parts = [bench.provenance()] if provenance else []
    parts += [
        f"{key.upper()} shapes ({_shape_text(group['sizes'])}); speed-up is peer time / ours, "
        "per round:",
        markdown_table(header, rows),
        table.load_text(),
    ]
    return "\n\n".join(parts)


@bench_region("bench-convs-w1", "convs")
def convs_w1(bench: Bench) -> str:
    return _conv_table(bench, "w1", provenance=True)


@bench_region("bench-convs-w2", "convs", first=False)
def convs_w2(bench: Bench) -> str:
    return _conv_table(bench, "w2", provenance=False)


@bench_region("bench-convs-summary", "convs", first=False)
def convs_summary(bench: Bench) -> str:
    lines = []
    w1 = _section(bench, "w1")
    if w1 is not None:
        table, group = w1
        fast = group["ratios"].get("GATConv/FeatureGATConv")
        dense = group["ratios"].get("DenseGATConv/DenseFeatureGATConv")
        floor = group["ratios"].get(f"{FLOOR}/FeatureGATConv")
        lines.append(
            "- Target: the fast path ≥ 1.5× faster than `GATConv` with GATConv's own default "
            f"(`add_self_loops=True`): {judged(table, fast, at_least=1.5)} "
            f"({ratio_spread(fast)})."
        )
        lines.append(
            "- Target: the dense twin ≥ 2× faster than `DenseGATConv`: "
            f"{judged(table, dense, at_least=2)} ({ratio_spread(dense)})."
        )
        if floor is not None:
            line = (
                f"- Against the plain-torch floor the fast path runs at {ratio_spread(floor)} "
                "its speed (floor time / ours)"
            )
            if floor["min"] > 1:
                line += (
                    ": faster than the floor because, with one input channel, it aggregates "
                    "the raw input before the projection (exact, since `lin` has no bias) and "
                    "so moves fewer values per pair"
                )
            lines.append(line + ".")
    w2 = _section(bench, "w2")
    if w2 is not None:
        table, group = w2
        diff = group["ratios"].get("diff reference/DenseFeatureDiffGATConv")
        if diff is not None:
            memory = _memory(group, "DenseFeatureDiffGATConv", "diff reference")
            lines.append(
                f"- W2: `DenseFeatureDiffGATConv` runs {ratio_spread(diff)} faster than plain "
                "torch materialising `[B, H, F, F, d]`"
                + (f", in {memory} MB (ours / plain)" if memory != "–" else "")
                + "."
            )
    return "\n".join(lines) or NOT_RUN


def _scaling_table(table: BenchTable, dim: str) -> str:
    groups = table.groups
    cases = list(table.record["subjects"])
    header = ["layer", *[f"{dim} = {g['sizes'][dim]:,}" for g in groups]]
    body = []
    for case in cases:
        line = [f"`{case}`" if case != FLOOR else "plain-torch floor, ms"]
        for g in groups:
            if case in g.get("skipped", {}) or case not in g.get("ms", {}):
                line.append("skipped")
                continue
            peak = g.get("peak_mb", {}).get(case)
            memory = f", {mib(peak)} MB" if peak is not None else ""
            if case == FLOOR:
                line.append(ms_spread(g["ms"][case]) + memory)
            else:
                line.append(ratio_spread(g["ratios"][f"{case}/{FLOOR}"]) + memory)
        body.append(line)
    return markdown_table(header, body)


@bench_region("bench-convs-scaling", "convs", first=False)
def convs_scaling(bench: Bench) -> str:
    parts = []
    by_f, by_b = bench.table("scaling_f"), bench.table("scaling_b")
    if by_f is None and by_b is None:
        return NOT_RUN
    cells = "each layer's time over the floor's in the same round (median and range)"
    if any(g.get("peak_mb") for t in (by_f, by_b) if t is not None for g in t.groups):
        cells += ", and its peak MB"
    limit = bench.config["max_message_edges"] / 1e6
    cells += f"; cases holding per-edge messages stop at {limit:.0f} M edges."
    for table, dim, fixed in ((by_f, "F", "B"), (by_b, "B", "F")):
        if table is None or not table.groups:
            continue
        sizes = table.groups[0]["sizes"]
        parts.append(
            f"{dim} grows ({fixed} = {sizes[fixed]:,}, {sizes['in']} → {sizes['out']} channels, "
            f"{sizes['heads']} head): {cells}"
        )
        parts += [_scaling_table(table, dim), table.load_text()]
    return "\n\n".join(parts)


@bench_region("guide-swap-cost", "convs")
def guide_swap_cost(bench: Bench) -> str:
    body, notes = [], []
    for key in ("w1", "w2"):
        section = _section(bench, key)
        if section is None or "GATConv/FeatureGATConv" not in section[1]["ratios"]:
            continue
        table, group = section
        body.append(
            [
                f"{key.upper()}: {_shape_text(group['sizes'])}",
                ms_spread(group["ms"]["FeatureGATConv"]),
                ms_spread(group["ms"]["GATConv"]),
                f"**{ratio_spread(group['ratios']['GATConv/FeatureGATConv'])}**",
                _memory(group, "FeatureGATConv", "GATConv"),
            ]
        )
        if table.noisy:
            notes.append(key.upper())
    if not body:
        return "The convs benchmark recorded no `FeatureGATConv` vs `GATConv` comparison."
    header = [
        "workload",
        "`FeatureGATConv` ms",
        "`GATConv` ms",
        "speed-up",
        "peak MB, ours / theirs",
    ]
    text = (
        markdown_table(header, body)
        + "\n\nOne forward + backward step on the complete graph of `rows_to_graph`, both "
        f"with GATConv's defaults, timed side by side in {bench.data['timing']['pairs']} "
        f"interleaved rounds on {bench.data['timing']['threads']} threads; median and range "
        f"over the rounds (`{bench.data['command']}`; details on the {{doc}}`/benchmarks` page)."
    )
    if notes:
        text += (
            f" **Noisy** ({', '.join(notes)}): measured while other processes loaded the "
            "machine above half its cores; these figures may move on a quiet machine."
        )
    return text
