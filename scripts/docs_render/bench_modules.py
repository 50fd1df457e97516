"""Regions of ``benchmarks/modules.py``: the ``(batch, features)`` modules."""

from __future__ import annotations

from typing import Any

from .bench_common import (
    Bench,
    BenchTable,
    bench_region,
    judged,
    mb_pair,
    ms_spread,
    ratio_spread,
)
from .text import markdown_table, mib, ratio, verdict

KERAS = "kerasfactory (Keras 3, torch)"
AUTO = "ours, backend=auto"


def _workload(bench: Bench, key: str) -> tuple[BenchTable, dict[str, Any]] | None:
    table = bench.table(key)
    if table is None or not table.timed():
        return None
    return table, table.timed()[0]


def _over_plain(group: dict[str, Any], name: str) -> str:
    if name == group["reference"]:
        return "1 (the floor)"
    return ratio_spread(group["ratios"].get(f"{name}/{group['reference']}"))


def _modules_table(bench: Bench, key: str) -> str:
    found = _workload(bench, key)
    if found is None:
        return f"{key}: not measured in this run."
    table, group = found
    body = []
    for name in group["ms"]:
        label = f"`{name}`" if name.startswith("ours") else name
        memory = mb_pair(group.get("peak_mb", {}).get(name), group.get("added_mb", {}).get(name))
        line = [label, ms_spread(group["ms"][name]), _over_plain(group, name), memory]
        if name == AUTO:
            line = [f"**{cell}**" for cell in line]
        body.append(line)
    for name, reason in group.get("skipped", {}).items():
        body.append([name, reason, "–", "–"])
    sizes = ", ".join(f"{k} = {v}" for k, v in group["sizes"].items())
    header = ["implementation", "ms / step", "time × plain torch", "peak MB (+MB)"]
    return (
        f"{table.record['title']} ({sizes}):\n\n"
        + markdown_table(header, body)
        + "\n\n"
        + table.load_text()
    )


@bench_region("bench-modules-command", "modules")
def modules_command(bench: Bench) -> str:
    return bench.provenance()


@bench_region("bench-modules-w1", "modules", first=False)
def modules_w1(bench: Bench) -> str:
    return _modules_table(bench, "W1")


@bench_region("bench-modules-w2", "modules", first=False)
def modules_w2(bench: Bench) -> str:
    return _modules_table(bench, "W2")


@bench_region("bench-modules-w3-w4", "modules", first=False)
def modules_w3_w4(bench: Bench) -> str:
    body, loads = [], []
    for key in ("W3", "W4"):
        found = _workload(bench, key)
        if found is None:
            continue
        table, group = found
        for name in group["ms"]:
            keras = group["ratios"].get(f"{KERAS}/{name}")
            body.append(
                [
                    f"{table.record['title']} ({key})",
                    name,
                    ms_spread(group["ms"][name]),
                    _over_plain(group, name),
                    ratio_spread(keras) if name != KERAS else "1",
                ]
            )
        loads.append(f"{key}: {table.load_text()}")
    if not body:
        return "W3, W4: not measured in this run."
    header = ["module", "implementation", "ms / step", "time × plain torch", "kerasfactory / this"]
    return markdown_table(header, body) + "\n\n" + "\n\n".join(loads)


# (label, workload, slow peer, fast peer, threshold) of each speed target: the
# ratio is the slow peer's time over ours, per round.
SPEED_TARGETS = [
    ("W1 auto path ≥ 20× faster than kerasfactory", "W1", KERAS, AUTO, 20),
    ("W1 auto path ≥ 2× faster than `DenseGATConv`", "W1", "PyG DenseGATConv + Linear", AUTO, 2),
    (
        "W1 sparse path no slower than `GATConv` (aim 1.5×)",
        "W1",
        "PyG GATConv (B·F² edges) + Linear",
        "ours, backend=sparse",
        1,
    ),
    ("W2 auto path ≥ 8× faster than kerasfactory", "W2", KERAS, AUTO, 8),
]
# (label, workload, peer, ours, field, threshold): peer's memory over ours,
# one fresh process each.
MEMORY_TARGETS = [
    (
        "W1 sparse path peak memory no higher than `GATConv`'s",
        "W1",
        "PyG GATConv (B·F² edges) + Linear",
        "ours, backend=sparse",
        "peak_mb",
        1,
    ),
    ("W2 peak memory ≤ 1/4 of kerasfactory's (total peak RSS)", "W2", KERAS, AUTO, "peak_mb", 4),
    ("W2 memory the steps add ≤ 1/4 of kerasfactory's", "W2", KERAS, AUTO, "added_mb", 4),
]


@bench_region("bench-modules-targets", "modules", first=False)
def modules_targets(bench: Bench) -> str:
    body = []
    for label, key, slow, fast, threshold in SPEED_TARGETS:
        found = _workload(bench, key)
        value = found[1]["ratios"].get(f"{slow}/{fast}") if found else None
        if found is None or value is None:
            body.append([label, "not measured", "–"])
            continue
        body.append([label, ratio_spread(value), judged(found[0], value, at_least=threshold)])
    for label, key, peer, ours, field, threshold in MEMORY_TARGETS:
        found = _workload(bench, key)
        memory = found[1].get(field, {}) if found else {}
        if found is None or not memory.get(peer) or not memory.get(ours):
            body.append([label, "not measured", "–"])
            continue
        value = memory[peer] / memory[ours]
        # Memory comes from one fresh process per implementation: one figure, no
        # rounds; a noisy table still gives no verdict.
        body.append(
            [
                label,
                f"{ratio(value)} (one process each)",
                "not judged (noisy)" if found[0].noisy else verdict(value >= threshold),
            ]
        )
    text = markdown_table(["target (ratio: peer / ours)", "measured", "verdict"], body)
    w2 = _workload(bench, "W2")
    if w2 is not None:
        peaks, added = w2[1].get("peak_mb", {}), w2[1].get("added_mb", {})
        if peaks.get(AUTO) and peaks.get(KERAS) and added.get(AUTO) is not None:
            before = peaks[AUTO] - added[AUTO]
            if before > peaks[KERAS] / 4:
                text += (
                    f"\n\nBefore its first step, the W2 process of our layer already holds "
                    f"{mib(before)} MB (torch, PyG, the inputs and the layer), more than "
                    f"{mib(peaks[KERAS])} / 4 = {mib(peaks[KERAS] / 4)} MB: in a torch process "
                    "the total-RSS form of the W2 memory target cannot be met, so the memory "
                    "the steps add is the one compared."
                )
    return text
