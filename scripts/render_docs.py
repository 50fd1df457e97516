r"""Renders the generated regions of the docs from the results files.

A page marks a region it does not own with::

    <!-- BEGIN generated:NAME -->
    ...
    <!-- END generated:NAME -->

Everything between the markers is written by the renderer registered under
``NAME`` (see :data:`RENDERERS` and :data:`FAMILIES`), which reads one results
file under ``docs/results/``: the JSON written by ``benchmarks/*.py --results``,
or the ``results.csv`` that ``pyg-tabular compare --out`` writes. Tables and
the figures in summary sentences alike come from those files, so no figure in
a region is typed by hand.

Run::

    python scripts/render_docs.py           # rewrite every region in place
    python scripts/render_docs.py --check   # change nothing; exit 1 on any
                                            # stale, unknown or unrenderable region

Adding a region: write a function ``(results_dir) -> str`` and register it with
``@region("NAME")``; a family of names ``PREFIX:<arg>`` registers with
``@family("PREFIX")`` and takes ``(results_dir, arg)``.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

REGION = re.compile(
    r"<!-- BEGIN generated:(?P<name>[^\s>]+) -->\n(?P<body>.*?)<!-- END generated:(?P=name) -->",
    re.DOTALL,
)
MARKER = re.compile(r"<!-- (?P<kind>BEGIN|END) generated:(?P<name>[^\s>]+) -->")


class MissingResults(Exception):
    """A region's results file does not exist."""


Renderer = Callable[[Path], str]
FamilyRenderer = Callable[[Path, str], str]

#: Region name -> function of the results folder.
RENDERERS: dict[str, Renderer] = {}
#: Region name prefix (before ``:``) -> function of the results folder and the suffix.
FAMILIES: dict[str, FamilyRenderer] = {}


def region(name: str) -> Callable[[Renderer], Renderer]:
    def register(function: Renderer) -> Renderer:
        RENDERERS[name] = function
        return function

    return register


def family(prefix: str) -> Callable[[FamilyRenderer], FamilyRenderer]:
    def register(function: FamilyRenderer) -> FamilyRenderer:
        FAMILIES[prefix] = function
        return function

    return register


def renderer_of(name: str) -> Renderer | None:
    if name in RENDERERS:
        return RENDERERS[name]
    prefix, _, arg = name.partition(":")
    if arg and prefix in FAMILIES:
        render = FAMILIES[prefix]
        return lambda results: render(results, arg)
    return None


# --------------------------------------------------------------------------- #
# Reading results and formatting figures
# --------------------------------------------------------------------------- #


def load_json(results: Path, relative: str) -> dict[str, Any]:
    path = results / relative
    if not path.is_file():
        raise MissingResults(f"results file {relative} is missing")
    return json.loads(path.read_text(encoding="utf-8"))


def table(data: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return list(data["tables"].get(name, []))


def ms(value: float | None) -> str:
    if value is None:
        return "–"
    if value < 1:
        return f"{value:.3f}"
    if value < 10:
        return f"{value:.2f}"
    return f"{value:,.1f}"


def ratio(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.2f}×" if value < 10 else f"{value:.1f}×"


def mib(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def span(values: Iterable[float], fmt: Callable[[float], str] = ratio) -> str:
    """``"a–b×"`` over :obj:`values` (one figure when they round alike)."""
    values = list(values)
    low, high = fmt(min(values)), fmt(max(values))
    if low == high:
        return low
    unit = "×" if low.endswith("×") and high.endswith("×") else ""
    return f"{low.removesuffix(unit)}–{high}"


NOT_RUN = "Not measured in this run."


def verdict(met: bool) -> str:
    return "**met**" if met else "**missed**"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def provenance(data: dict[str, Any]) -> str:
    """The command and the machine a results file came from, as one line."""
    env = data["environment"]
    versions = [f"torch {env['torch']}"]
    if env.get("torch_geometric"):
        versions.append(f"torch_geometric {env['torch_geometric']}")
    for extra in ("torch_scatter", "keras", "kerasfactory"):
        if env.get(extra):
            versions.append(f"{extra} {env[extra]}")
    load = env.get("load_average")
    load_text = f", load average {load[0]:.1f} at the end" if load else ""
    cores = env.get("cpu_count")
    seconds = data["wall_seconds"]
    took = f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"
    threads = env["threads"]
    text = (
        f"Command: `{data['command']}` ({took} on {cores} cores of a shared "
        f"{env['cpu_model']}{load_text}; {', '.join(versions)}; "
        f"{threads} thread{'s' if threads != 1 else ''})."
    )
    if data.get("interrupted"):
        text += (
            f" **Partial run**: stopped after {took}; only the configurations it "
            "finished are shown."
        )
    return text


# --------------------------------------------------------------------------- #
# benchmarks/converter.py
# --------------------------------------------------------------------------- #

CONVERTER = "benchmarks/converter.json"
# The configuration the converter's targets are stated at.
CONVERTER_TARGET = (10_000, 32)


def _is_target(row: dict[str, Any]) -> bool:
    return (row["rows"], row["features"]) == CONVERTER_TARGET


@region("bench-converter-to-graph")
def bench_converter_to_graph(results: Path) -> str:
    data = load_json(results, CONVERTER)
    rows = []
    for row in table(data, "to_graph"):
        head = [f"{row['rows']:,}", str(row["features"]), f"{row['edges']:,}"]
        if row.get("skipped"):
            gb = row["edge_index_bytes"] / 1e9
            rows.append(
                head
                + [
                    f"skipped: the edge index alone is {gb:.0f} GB; use the static form "
                    "or a sparser template",
                    *[""] * 5,
                ]
            )
            continue
        cells = head + [
            ms(row["ours_ms"]),
            ms(row["write_ms"]),
            ms(row["static_ms"]),
            ms(row["per_row_ms"]),
            ratio(row["ours_over_write"]),
            ratio(row["per_row_over_ours"]),
        ]
        if _is_target(row):
            cells = [f"**{cell}**" for cell in cells]
        rows.append(cells)
    header = ["B", "F", "edges", "ours ms", "write ms", "static ms", "per-row ms"]
    header += ["ours / write", "per-row / ours"]
    return provenance(data) + "\n\n" + markdown_table(header, rows)


@region("bench-converter-summary")
def bench_converter_summary(results: Path) -> str:
    data = load_json(results, CONVERTER)
    measured = [r for r in table(data, "to_graph") if not r.get("skipped")]
    target = next((r for r in measured if _is_target(r)), None)
    lines = []
    if target is not None and target["per_row_over_ours"] is not None:
        met = target["ours_over_write"] <= 1.5 and target["per_row_over_ours"] >= 8
        lines.append(
            "- Target: rows → `Batch` within 1.5× of the write floor, and ≥ 8× faster "
            f"than per-row at B = {CONVERTER_TARGET[0]:,}, F = {CONVERTER_TARGET[1]}: "
            f"{verdict(met)} ({ratio(target['ours_over_write'])} and "
            f"{ratio(target['per_row_over_ours'])})."
        )
    else:
        lines.append(
            f"- Target configuration B = {CONVERTER_TARGET[0]:,}, F = {CONVERTER_TARGET[1]} "
            "not in this run."
        )
    large = [r for r in measured if r["edges"] >= 5_000_000]
    if large:
        line = (
            f"- Every configuration with ≥ 5 M edges runs at "
            f"{span(r['ours_over_write'] for r in large)} the write floor"
        )
        if len(large) < len(measured):
            line += f"; over the whole grid, {span(r['ours_over_write'] for r in measured)}"
        lines.append(line + ".")
    per_row = [r["per_row_over_ours"] for r in measured if r["per_row_over_ours"] is not None]
    if per_row:
        lines.append(
            f"- Against one `Data` per row: {span(per_row)} faster where the per-row peer "
            f"ran (up to B = {data['config']['max_per_row_rows']:,} rows)."
        )
    static = [r["static_ms"] for r in measured]
    if static:
        lines.append(
            f"- The static form is `O(B·F)`: {span(static, ms)} ms over the grid, whatever "
            "the number of edges."
        )
    return "\n".join(lines)


@region("bench-converter-to-rows")
def bench_converter_to_rows(results: Path) -> str:
    data = load_json(results, CONVERTER)
    rows = [
        [
            f"{r['rows']:,}",
            str(r["features"]),
            ms(r["complete_ms"]),
            ms(r["dropped_ms"]),
            ms(r["copy_ms"]),
            ratio(r["complete_over_copy"]),
            ratio(r["dropped_over_copy"]),
        ]
        for r in table(data, "to_rows")
    ]
    header = ["B", "F", "complete ms", "dropped ms", "copy ms", "complete / copy"]
    header.append("dropped / copy")
    return markdown_table(header, rows)


@region("bench-converter-to-rows-summary")
def bench_converter_to_rows_summary(results: Path) -> str:
    data = load_json(results, CONVERTER)
    rows = table(data, "to_rows")
    if not rows:
        return NOT_RUN
    complete = [r["complete_over_copy"] for r in rows]
    dropped = [r["dropped_over_copy"] for r in rows]
    # "Memory-copy speed" read with the same 1.5x tolerance as rows -> Batch.
    return (
        "- Target: graphs → rows at memory-copy speed (read here as within 1.5× of a "
        f"plain copy). Complete rows: {span(complete)} a copy, "
        f"{verdict(max(complete) <= 1.5)}. Rows with dropped cells: {span(dropped)} a copy, "
        f"{verdict(max(dropped) <= 1.5)}: the scatter, the presence mask and the fill are "
        "three passes over an int64 index."
    )


@region("bench-converter-loader")
def bench_converter_loader(results: Path) -> str:
    data = load_json(results, CONVERTER)
    rows = table(data, "loader")
    if not rows:
        return "`TabularLoader`: not measured in this run."
    row = rows[0]
    batch = data["config"]["loader"]["batch_size"]
    return (
        f"`TabularLoader` (B = {batch}, F = {row['features']}, shuffled, one "
        f"`rows_to_graph` per batch, {row['rows']:,} rows): "
        f"{row['rows_per_second']:,.0f} rows/s."
    )


# --------------------------------------------------------------------------- #
# benchmarks/convs.py
# --------------------------------------------------------------------------- #

CONVS = "benchmarks/convs.json"

_CONV_LABELS = {
    ("FeatureGATConv", "GATConv"): "`FeatureGATConv` vs `GATConv`, complete graph of "
    "`rows_to_graph` (fast path)",
    ("FeatureGATConv shuffled", "GATConv shuffled"): "the same with edges shuffled "
    "(generic `propagate` path)",
    ("DenseFeatureGATConv", "DenseGATConv"): "`DenseFeatureGATConv` vs `DenseGATConv`",
    ("FeatureGATConv", "plain torch floor"): "`FeatureGATConv` fast path vs the plain-torch floor",
    ("DenseFeatureDiffGATConv", "diff reference"): "`DenseFeatureDiffGATConv` vs plain torch "
    "materialising `[B, H, F, F, d]`",
    ("FeatureDiffGATConv", "diff reference"): "`FeatureDiffGATConv`, complete graph, vs the "
    "same plain torch",
    ("FeatureDiffGATConv shuffled", "diff reference"): "`FeatureDiffGATConv`, shuffled edges, "
    "vs the same plain torch",
}


def _shape_text(shape: Sequence[int]) -> str:
    rows, features, cin, cout, heads = shape
    out = f"{cout} channels, 1 head" if heads == 1 else f"{heads} heads × {cout} channels"
    return f"B = {rows}, F = {features}, {cin} → {out}"


def _pair(data: dict[str, Any], section: str, ours: str, peer: str) -> dict[str, Any] | None:
    return next(
        (r for r in table(data, section) if r["ours"] == ours and r["peer"] == peer),
        None,
    )


def _conv_table(results: Path, section: str) -> str:
    data = load_json(results, CONVS)
    rows = []
    for r in table(data, section):
        label = _CONV_LABELS.get((r["ours"], r["peer"]), f"`{r['ours']}` vs `{r['peer']}`")
        memory = "–"
        if r.get("ours_mb") is not None and r.get("peer_mb") is not None:
            memory = f"{mib(r['ours_mb'])} / {mib(r['peer_mb'])} ({r['memory_ratio']:.2f})"
        rows.append([label, ms(r["ours_ms"]), ms(r["peer_ms"]), f"**{ratio(r['speedup'])}**"])
        rows[-1].append(memory)
    header = ["comparison", "ours ms", "peer ms", "speed-up", "peak MB, ours / peer"]
    shape = _shape_text(data["config"][section])
    return (
        provenance(data)
        + f"\n\n{section.upper()} shapes ({shape}); speed-up is peer ms / ours ms:\n\n"
        + markdown_table(header, rows)
    )


@region("bench-convs-w1")
def bench_convs_w1(results: Path) -> str:
    return _conv_table(results, "w1")


@region("bench-convs-w2")
def bench_convs_w2(results: Path) -> str:
    return _conv_table(results, "w2")


@region("bench-convs-summary")
def bench_convs_summary(results: Path) -> str:
    data = load_json(results, CONVS)
    lines = []
    fast = _pair(data, "w1", "FeatureGATConv", "GATConv")
    if fast is not None:
        memory = f", {fast['memory_ratio']:.2f}× the memory" if fast.get("memory_ratio") else ""
        lines.append(
            "- Target: the fast path ≥ 1.5× faster than `GATConv` with GATConv's own default "
            f"(`add_self_loops=True`): {verdict(fast['speedup'] >= 1.5)} "
            f"({ratio(fast['speedup'])}{memory})."
        )
    dense = _pair(data, "w1", "DenseFeatureGATConv", "DenseGATConv")
    if dense is not None:
        lines.append(
            "- Target: the dense twin ≥ 2× faster than `DenseGATConv`: "
            f"{verdict(dense['speedup'] >= 2)} ({ratio(dense['speedup'])})."
        )
    floor = _pair(data, "w1", "FeatureGATConv", "plain torch floor")
    if floor is not None:
        line = (
            f"- Against the plain-torch floor the fast path runs at {ratio(floor['speedup'])} "
            "its speed (floor ms / ours ms)"
        )
        if floor["speedup"] > 1:
            line += (
                ": faster than the floor because, with one input channel, it aggregates the "
                "raw input before the projection (exact, since `lin` has no bias) and so "
                "moves fewer values per pair"
            )
        lines.append(line + ".")
    diff = _pair(data, "w2", "DenseFeatureDiffGATConv", "diff reference")
    if diff is not None:
        memory = ""
        if diff.get("ours_mb") is not None:
            memory = f", in {mib(diff['ours_mb'])} MB against {mib(diff['peer_mb'])} MB"
        lines.append(
            f"- W2: `DenseFeatureDiffGATConv` is {ratio(diff['speedup'])} faster than plain "
            f"torch materialising `[B, H, F, F, d]`{memory}."
        )
    return "\n".join(lines)


@region("bench-convs-scaling")
def bench_convs_scaling(results: Path) -> str:
    data = load_json(results, CONVS)
    rows = table(data, "scaling")
    features = list(dict.fromkeys(r["features"] for r in rows))
    layers = list(dict.fromkeys(r["layer"] for r in rows))
    cells = {(r["layer"], r["features"]): r for r in rows}
    body = []
    for layer in layers:
        line = [f"`{layer.split()[0]}`" + (", shuffled edges" if "shuffled" in layer else "")]
        for f in features:
            r = cells.get((layer, f))
            if r is None or r.get("skipped"):
                line.append("skipped")
            else:
                line.append(f"{ms(r['ms'])} / {mib(r['mb'])}")
        body.append(line)
    config = data["config"]
    return (
        f"B = {config['scale_rows']}, 1 → 16 channels, 1 head; ms / peak MB. Cases holding "
        f"per-edge messages are skipped beyond {config['max_message_edges'] / 1e6:.0f} M "
        "edges.\n\n" + markdown_table(["layer", *[f"F = {f}" for f in features]], body)
    )


# --------------------------------------------------------------------------- #
# benchmarks/modules.py
# --------------------------------------------------------------------------- #

MODULES = "benchmarks/modules.json"


def _workload(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    return [r for r in table(data, "workloads") if r["workload"] == key and "ms" in r]


def _impl(rows: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    return next((r for r in rows if r["implementation"] == name), None)


def _modules_table(results: Path, key: str) -> str:
    data = load_json(results, MODULES)
    rows = _workload(data, key)
    if not rows:
        return f"{key}: not measured in this run."
    body = []
    for r in rows:
        name = f"`{r['implementation']}`" if r["implementation"].startswith("ours") else None
        label = name or r["implementation"]
        memory = "–"
        if r.get("peak_mb") is not None:
            memory = f"{mib(r['peak_mb'])} (+{mib(r['added_mb'])})"
        line = [label, ms(r["ms"]), ratio(r["this_over_plain"]), memory]
        if r["implementation"] == "ours, backend=auto":
            line = [f"**{cell}**" for cell in line]
        body.append(line)
    sizes = ", ".join(f"{k} = {v}" for k, v in rows[0]["sizes"].items())
    header = ["implementation", "ms / step", "× plain torch", "peak MB (+MB)"]
    return f"{rows[0]['title']} ({sizes}):\n\n" + markdown_table(header, body)


@region("bench-modules-command")
def bench_modules_command(results: Path) -> str:
    return provenance(load_json(results, MODULES))


@region("bench-modules-w1")
def bench_modules_w1(results: Path) -> str:
    return _modules_table(results, "W1")


@region("bench-modules-w2")
def bench_modules_w2(results: Path) -> str:
    return _modules_table(results, "W2")


@region("bench-modules-w3-w4")
def bench_modules_w3_w4(results: Path) -> str:
    data = load_json(results, MODULES)
    body = []
    for key in ("W3", "W4"):
        for r in _workload(data, key):
            keras = r["keras_over_this"]
            body.append(
                [
                    f"{r['title']} ({key})",
                    r["implementation"],
                    ms(r["ms"]),
                    ratio(r["this_over_plain"]),
                    ratio(keras) if keras is not None else "–",
                ]
            )
    header = ["module", "implementation", "ms / step", "× plain torch", "kerasfactory / this"]
    return markdown_table(header, body)


KERAS = "kerasfactory (Keras 3, torch)"

# (label, workload, slow peer, fast peer, field, threshold) of each stated target.
MODULE_TARGETS = [
    ("W1 auto path ≥ 20× faster than kerasfactory", "W1", KERAS, "ours, backend=auto", "ms", 20),
    (
        "W1 auto path ≥ 2× faster than `DenseGATConv`",
        "W1",
        "PyG DenseGATConv + Linear",
        "ours, backend=auto",
        "ms",
        2,
    ),
    (
        "W1 sparse path no slower than `GATConv` (aim 1.5×)",
        "W1",
        "PyG GATConv (B·F² edges) + Linear",
        "ours, backend=sparse",
        "ms",
        1,
    ),
    (
        "W1 sparse path peak memory no higher than `GATConv`'s",
        "W1",
        "PyG GATConv (B·F² edges) + Linear",
        "ours, backend=sparse",
        "peak_mb",
        1,
    ),
    ("W2 auto path ≥ 8× faster than kerasfactory", "W2", KERAS, "ours, backend=auto", "ms", 8),
    (
        "W2 peak memory ≤ 1/4 of kerasfactory's (total peak RSS)",
        "W2",
        KERAS,
        "ours, backend=auto",
        "peak_mb",
        4,
    ),
    (
        "W2 memory the steps add ≤ 1/4 of kerasfactory's",
        "W2",
        KERAS,
        "ours, backend=auto",
        "added_mb",
        4,
    ),
]


@region("bench-modules-targets")
def bench_modules_targets(results: Path) -> str:
    data = load_json(results, MODULES)
    body = []
    for label, key, slow, fast, field, threshold in MODULE_TARGETS:
        rows = _workload(data, key)
        a, b = _impl(rows, slow), _impl(rows, fast)
        if a is None or b is None or a.get(field) is None or not b.get(field):
            body.append([label, "not measured", "–"])
            continue
        value = a[field] / b[field]
        body.append([label, ratio(value), verdict(value >= threshold)])
    text = markdown_table(["target (ratio: peer / ours)", "measured", "verdict"], body)
    w2 = _workload(data, "W2")
    auto = _impl(w2, "ours, backend=auto")
    keras = _impl(w2, KERAS)
    if auto and keras and auto.get("peak_mb") and keras.get("peak_mb"):
        before = auto["peak_mb"] - auto["added_mb"]
    else:
        before = None
    if before is not None and keras is not None and before > keras["peak_mb"] / 4:
        text += (
            f"\n\nBefore its first step, the W2 process of our layer already holds "
            f"{mib(before)} MB (torch, PyG, the inputs and the layer), more than "
            f"{mib(keras['peak_mb'])} / 4 = {mib(keras['peak_mb'] / 4)} MB: in a torch "
            "process the total-RSS form of the W2 memory target cannot be met, so the "
            "memory the steps add is the one compared."
        )
    return text


@region("bench-modules-scaling")
def bench_modules_scaling(results: Path) -> str:
    data = load_json(results, MODULES)
    rows = table(data, "scaling")
    if not rows:
        return "Scaling: not measured in this run."
    body = []
    for module in dict.fromkeys(r["module"] for r in rows):
        for f in dict.fromkeys(r["features"] for r in rows if r["module"] == module):
            line = [module.upper(), str(f)]
            for path in ("dense", "sparse"):
                r = next(
                    (
                        x
                        for x in rows
                        if x["module"] == module and x["features"] == f and x["path"] == path
                    ),
                    None,
                )
                if r is None:
                    line.append("–")
                    continue
                if r.get("skipped"):
                    line.append("skipped (over the memory budget)")
                    continue
                memory = (
                    f" / {mib(r['peak_mb'])} (+{mib(r['added_mb'])})"
                    if r.get("peak_mb") is not None
                    else ""
                )
                line.append(f"{ms(r['ms'])}{memory}")
            body.append(line)
    config = data["config"]
    return (
        f"B = {config['scaling_rows']}; GFA E = 16; AGFL E = 32, H = 4, G = 8. "
        "ms / peak MB (+MB):\n\n" + markdown_table(["module", "F", "dense", "sparse"], body)
    )


# --------------------------------------------------------------------------- #
# benchmarks/scaling.py
# --------------------------------------------------------------------------- #

SCALING = "benchmarks/scaling.json"


@region("bench-scaling")
def bench_scaling(results: Path) -> str:
    data = load_json(results, SCALING)
    body = []
    for r in table(data, "paths"):
        head = [r["module"], str(r["features"]), r["path"], r["plan"]]
        if r.get("skipped"):
            body.append(head + [f"skipped: ~{r['estimated_gib']:.0f} GiB estimated", "", ""])
            continue
        memory = "–"
        if "peak_mib" in r:
            memory = f"{mib(r['peak_mib'])} (+{mib(r['added_mib'])})"
        body.append(head + [ms(r["ms"]), ratio(r["over_whole"]), memory])
    header = ["module", "F", "path", "plan", "ms", "× whole", "peak MiB (+MiB)"]
    return provenance(data) + "\n\n" + markdown_table(header, body)


def _path(rows: list[dict[str, Any]], module: str, f: int, path: str) -> dict[str, Any] | None:
    return next(
        (
            r
            for r in rows
            if r["module"] == module
            and r["features"] == f
            and r["path"] == path
            and not r.get("skipped")
        ),
        None,
    )


@region("bench-scaling-summary")
def bench_scaling_summary(results: Path) -> str:
    data = load_json(results, SCALING)
    rows = table(data, "paths")
    if not rows:
        return NOT_RUN
    widest = max(r["features"] for r in rows)
    lines = []
    peaks = [(module, _path(rows, module, widest, "auto")) for module in data["config"]["modules"]]
    measured = [(m, r) for m, r in peaks if r is not None and "peak_mib" in r]
    if measured:
        top = max(r["peak_mib"] for _, r in measured)
        lines.append(
            f"- Target: F = {widest} trains (forward + backward, B = {data['config']['rows']}) "
            f"in < 4 GB: {verdict(top < 4096)} (`auto`: "
            + ", ".join(f"{m.upper()} {mib(r['peak_mib'])} MiB" for m, r in measured)
            + " peak)."
        )
    for module in data["config"]["modules"]:
        auto = _path(rows, module, widest, "auto")
        whole = _path(rows, module, widest, "dense-whole")
        if auto and whole and auto["plan"] != whole["plan"] and "peak_mib" in auto:
            cost = " (each chunk's attention is rebuilt in backward)"
            lines.append(
                f"- At F = {widest}, {module.upper()}'s `auto` plan is `{auto['plan']}`: "
                f"{mib(auto['peak_mib'])} MiB peak against {mib(whole['peak_mib'])} for the "
                f"whole dense path, at {ratio(auto['over_whole'])} its time"
                + (cost if auto["over_whole"] > 1 else "")
                + "."
            )
    sparse = [r["over_whole"] for r in rows if r["path"] == "sparse" and not r.get("skipped")]
    if sparse:
        lines.append(
            f"- The sparse path on the complete graph takes {span(sparse)} the dense path's "
            "time: on a complete graph, use the dense path (which `auto` does)."
        )
    k16 = [(m, _path(rows, m, widest, "sparse-k16")) for m in data["config"]["modules"]]
    k16_done = [(m, r) for m, r in k16 if r is not None]
    if k16_done:
        lines.append(
            f"- A sparsified graph ({data['config']['neighbours']} neighbours per feature) "
            f"grows as F·k instead of F²: at F = {widest} it takes "
            + " and ".join(
                f"{ratio(r['over_whole'])} the whole dense path's time ({m.upper()}"
                + (f", {mib(r['peak_mib'])} MiB peak)" if "peak_mib" in r else ")")
                for m, r in k16_done
            )
            + "."
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- #
# Experiments: the output folders of ``pyg-tabular compare``
# --------------------------------------------------------------------------- #

EXPERIMENTS = "experiments"
#: The models built on this library's layers; the rest are the peers.
OUR_MODELS = (
    "feature-gat",
    "feature-gat-1head",
    "feature-diff",
    "feature-diff-split",
    "feature-diff-split-groups",
    "graph-feature-aggregation",
    "advanced-graph-feature-layer",
)
PEER = "gatconv"
#: The dataset `pyg-tabular compare` runs without ``--dataset``.
DEFAULT_DATASET = "breast_cancer"
NO_EXPERIMENTS = "No experiment results are recorded yet."


@dataclass
class Dataset:
    name: str
    rows: list[dict[str, str]]

    @property
    def metrics(self) -> list[str]:
        skip = {"model", "seeds", "params", "s/epoch", "infer rows/s", "peak MiB", "added MiB"}
        return [c for c in self.rows[0] if c not in skip]

    @property
    def monitor(self) -> tuple[str, bool]:
        """The metric early stopping follows, and whether higher is better."""
        return ("rmse", False) if "rmse" in self.metrics else ("accuracy", True)

    def model(self, name: str) -> dict[str, str] | None:
        return next((r for r in self.rows if r["model"] == name), None)

    def score(self, row: dict[str, str]) -> tuple[float, float]:
        return mean_std(row[self.monitor[0]])

    def best(self, among: Iterable[str]) -> dict[str, str] | None:
        names = set(among)
        rows = [r for r in self.rows if r["model"] in names]
        if not rows:
            return None
        higher = self.monitor[1]
        return max(rows, key=lambda r: self.score(r)[0] if higher else -self.score(r)[0])


def mean_std(text: str) -> tuple[float, float]:
    mean, _, std = text.partition("±")
    return float(mean), float(std or 0)


def number(text: str) -> float:
    return float(text.replace(",", ""))


def load_dataset(results: Path, name: str) -> Dataset:
    path = results / EXPERIMENTS / name / "results.csv"
    if not path.is_file():
        raise MissingResults(f"results file {EXPERIMENTS}/{name}/results.csv is missing")
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise MissingResults(f"results file {EXPERIMENTS}/{name}/results.csv is empty")
    return Dataset(name, rows)


def datasets(results: Path) -> list[Dataset]:
    folder = results / EXPERIMENTS
    if not folder.is_dir():
        return []
    names = sorted(p.parent.name for p in folder.glob("*/results.csv"))
    return [load_dataset(results, name) for name in names]


@family("exp-table")
def exp_table(results: Path, name: str) -> str:
    dataset = load_dataset(results, name)
    columns = list(dataset.rows[0])
    best = dataset.best(r["model"] for r in dataset.rows)
    monitor = dataset.monitor[0]
    body = []
    for row in dataset.rows:
        cells = [row[c] for c in columns]
        if best is not None and dataset.score(row)[0] == dataset.score(best)[0]:
            cells[columns.index(monitor)] = f"**{row[monitor]}**"
        body.append(cells)
    direction = "lower" if not dataset.monitor[1] else "higher"
    return (
        f"{monitor} on the test split, mean ± std over seeds ({direction} is better; the "
        "best in bold):\n\n" + markdown_table(columns, body)
    )


@region("exp-summary")
def exp_summary(results: Path) -> str:
    found = [d for d in datasets(results) if d.model(PEER) is not None]
    if not found:
        return NO_EXPERIMENTS
    train, infer, ours_added, peer_added, body = [], [], [], [], []
    for d in found:
        peer = d.model(PEER)
        assert peer is not None
        for row in d.rows:
            if row["model"] not in OUR_MODELS:
                continue
            train.append(number(peer["s/epoch"]) / number(row["s/epoch"]))
            infer.append(number(row["infer rows/s"]) / number(peer["infer rows/s"]))
            ours_added.append(number(row["added MiB"]))
        peer_added.append(number(peer["added MiB"]))
        best = d.best(OUR_MODELS)
        if best is None:
            continue
        (mean, std), (peer_mean, peer_std) = d.score(best), d.score(peer)
        higher = d.monitor[1]
        beats = mean > peer_mean if higher else mean < peer_mean
        close = abs(mean - peer_mean) <= max(std, peer_std)
        answer = ("yes" if beats else "**no**") + (" (within one std)" if close else "")
        body.append(
            [
                d.name,
                d.monitor[0],
                f"{best['model']} {best[d.monitor[0]]}",
                peer[d.monitor[0]],
                answer,
            ]
        )
    lines = []
    if train:
        lines.append(
            f"Over {len(found)} dataset(s), our layers train {span(train)} faster per epoch "
            f"than `{PEER}` in the same design, predict {span(infer)} more rows per second, "
            f"and add {span(ours_added, mib)} MiB of memory where `{PEER}` adds "
            f"{span(peer_added, mib)} MiB."
        )
    header = ["dataset", "metric", "our best layer", PEER, f"beats {PEER}?"]
    return "\n\n".join([*lines, markdown_table(header, body)])


#: The four full tables of the accuracy targets, in the page's order.
FULL_TABLES = ("california", "adult", "acs_employment", "diamonds")
#: PyG's convs in the same network: our best layer must beat each of them.
PYG_CONVS = ("gatconv", "gatv2conv", "transformerconv")
#: The strongest deep peers, compared at equal wall-clock budget.
DEEP_PEERS = ("ft-transformer", "tabm")
SWEEP = "sweep"
ESTIMATOR_DEFAULTS = "estimator_defaults"


def _config(results: Path, name: str) -> dict[str, Any]:
    path = results / EXPERIMENTS / name / "config.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _budget_text(config: dict[str, Any]) -> str:
    budget = config.get("time_budget")
    return f"{budget:g} s of training per model and seed" if budget else "no time budget"


def _better(d: Dataset, a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] > b[0] if d.monitor[1] else a[0] < b[0]


def _margin(d: Dataset, ours: dict[str, str], peer: dict[str, str]) -> tuple[bool, bool]:
    """Whether ours is better than peer, and whether by more than one seed std
    (the larger of the two)."""
    a, b = d.score(ours), d.score(peer)
    return _better(d, a, b), abs(a[0] - b[0]) > max(a[1], b[1])


@region("exp-targets")
def exp_targets(results: Path) -> str:
    found = {d.name: d for d in datasets(results) if d.name in FULL_TABLES}
    if not found:
        return NO_EXPERIMENTS
    body = []
    thresholds = {"california": ("rmse", 0.46), "adult": ("accuracy", 0.865)}
    for name, (metric, limit) in thresholds.items():
        d = found.get(name)
        best = d.best(OUR_MODELS) if d else None
        if d is None or best is None:
            body.append([f"best of ours on {name}: {metric} {limit}", "not run", "not measured"])
            continue
        mean = d.score(best)[0]
        met = mean <= limit if metric == "rmse" else mean >= limit
        sign = "≤" if metric == "rmse" else "≥"
        body.append(
            [
                f"best of ours on {name}: {metric} {sign} {limit}",
                f"{best['model']} {best[metric]} ({_budget_text(_config(results, name))})",
                verdict(met),
            ]
        )
    for name in FULL_TABLES:
        d = found.get(name)
        best = d.best(OUR_MODELS) if d else None
        if d is None or best is None:
            body.append([f"{name}: our best layer beats {', '.join(PYG_CONVS)}", "not run", "–"])
            continue
        cells, met = [], True
        for conv in PYG_CONVS:
            peer = d.model(conv)
            if peer is None:
                cells.append(f"{conv} not run")
                met = False
                continue
            better, clear = _margin(d, best, peer)
            met &= better and clear
            how = "beats" if better else "loses to"
            cells.append(
                f"{how} {conv} {peer[d.monitor[0]]}" + ("" if clear else " (within one std)")
            )
        body.append(
            [
                f"{name}: our best layer beats {', '.join(PYG_CONVS)} by more than one std",
                f"{best['model']} {best[d.monitor[0]]}: " + "; ".join(cells),
                verdict(met),
            ]
        )
    wins, cells = 0, []
    for name in FULL_TABLES:
        d = found.get(name)
        best = d.best(OUR_MODELS) if d else None
        peers = [d.model(p) for p in DEEP_PEERS] if d else []
        if d is None or best is None or any(p is None for p in peers):
            cells.append(f"{name}: not run")
            continue
        # Matching: better, or within one std of the peer.
        matched = all(_margin(d, best, p)[0] or not _margin(d, best, p)[1] for p in peers)
        wins += matched
        cells.append(f"{name}: {'matches or beats both' if matched else 'does not'}")
    body.append(
        [
            "ours matches or beats FT-Transformer and TabM at equal wall-clock on ≥ 2 of 4 tables",
            f"{wins} of 4 ({'; '.join(cells)})",
            verdict(wins >= 2),
        ]
    )
    try:
        body.extend(_estimator_target_rows(results))
    except MissingResults as error:
        body.append(["default estimators: California ≤ 0.47, Adult ≥ 0.865", str(error), "–"])
    return markdown_table(["target", "measured (mean ± std over seeds)", "verdict"], body)


def _read_csv(results: Path, relative: str) -> list[dict[str, str]]:
    path = results / relative
    if not path.is_file():
        raise MissingResults(f"results file {relative} is missing")
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _estimator_target_rows(results: Path) -> list[list[str]]:
    fits = _read_csv(results, f"{ESTIMATOR_DEFAULTS}/sweep.csv")
    settings = load_json(results, f"{ESTIMATOR_DEFAULTS}/settings.json")
    rows = []
    for name, metric, limit in (("california", "rmse", 0.47), ("adult", "accuracy", 0.865)):
        values = [float(r["value"]) for r in fits if r["dataset"] == name]
        if not values:
            rows.append([f"default estimator on {name}", "not run", "not measured"])
            continue
        mean = sum(values) / len(values)
        seconds = max(float(r["fit_seconds"]) for r in fits if r["dataset"] == name)
        met = mean <= limit if metric == "rmse" else mean >= limit
        sign = "≤" if metric == "rmse" else "≥"
        rows.append(
            [
                f"default estimator on {name}: {metric} {sign} {limit}",
                f"{mean:.4f} over {len(values)} seed(s), longest fit {seconds:.0f} s "
                f"(time budget {settings['time_budget']:g} s)",
                verdict(met),
            ]
        )
    return rows


@region("exp-sweep")
def exp_sweep(results: Path) -> str:
    summary = _read_csv(results, f"{SWEEP}/summary.csv")
    settings = load_json(results, f"{SWEEP}/settings.json")
    names = [c for c in summary[0] if c not in ("config", "mean_rank", "mean_gap_pct")]
    body = []
    for i, row in enumerate(summary):
        options = settings["configs"].get(row["config"], {})
        described = ", ".join(f"{k}={v!r}" for k, v in options.items()) or "the defaults"
        name = f"**{row['config']}**" if i == 0 else row["config"]
        body.append(
            [name, described, row["mean_rank"], row["mean_gap_pct"], *(row[n] for n in names)]
        )
    header = ["config", "options", "mean rank", "mean % from best", *names]
    fits = _read_csv(results, f"{SWEEP}/sweep.csv")
    epochs = []
    for name in names:
        counts = [int(r["epochs"]) for r in fits if r["dataset"] == name]
        low, high = min(counts), max(counts)
        epochs.append(f"{name} {low}" if low == high else f"{name} {low}–{high}")
    return (
        markdown_table(header, body)
        + f"\n\n{settings['seeds']} seed(s), {settings['time_budget']:g} s per fit, "
        f"{settings['threads']} thread(s); epochs a fit ran: {', '.join(epochs)}. Command: "
        f"`{settings['command']}`. The first row is the estimators' default (a test checks "
        "that they agree)."
    )


@region("exp-estimator-defaults")
def exp_estimator_defaults(results: Path) -> str:
    fits = _read_csv(results, f"{ESTIMATOR_DEFAULTS}/sweep.csv")
    settings = load_json(results, f"{ESTIMATOR_DEFAULTS}/settings.json")
    body = [
        [r["dataset"], r["seed"], r["metric"], r["value"][:6], r["fit_seconds"], r["epochs"]]
        for r in fits
    ]
    return (
        markdown_table(["dataset", "seed", "metric", "test value", "fit s", "epochs"], body)
        + f"\n\nCommand: `{settings['command']}` (time budget {settings['time_budget']:g} s "
        f"per fit, {settings['threads']} thread(s))."
    )


@region("exp-published")
def exp_published(results: Path) -> str:
    published = load_json(results, "published.json")
    found = {d.name: d for d in datasets(results)}
    body = []
    for entry in published["numbers"]:
        d = found.get(entry["dataset"])
        best = d.best(OUR_MODELS) if d else None
        ours = f"{best['model']} {best[entry['metric']]}" if d and best else "not run"
        peer = d.model("ft-transformer") if d else None
        theirs = peer[entry["metric"]] if peer else "not run"
        body.append([entry["dataset"], entry["metric"], f"{entry['value']:g}", theirs, ours])
    header = [
        "dataset",
        "metric",
        "published FT-Transformer",
        "FT-Transformer here",
        "our best here",
    ]
    return markdown_table(header, body) + f"\n\nPublished: {published['source']}."


@family("exp-settings")
def exp_settings(results: Path, name: str) -> str:
    config = _config(results, name)
    if not config:
        raise MissingResults(f"results file {EXPERIMENTS}/{name}/config.json is missing")
    parts = [
        f"{config.get('epochs')} epochs at most",
        _budget_text(config),
        f"batch size {config.get('batch_size')}",
        f"{config.get('numeric_embedding', 'linear')} numeric embedding",
    ]
    if config.get("max_rows"):
        parts.append(f"subsampled to {config['max_rows']} rows")
    else:
        parts.append("the full table")
    return "Settings: " + ", ".join(parts) + "."


# --------------------------------------------------------------------------- #
# Relation graphs: planted-pair recovery, wide-table cost, graph choice
# --------------------------------------------------------------------------- #

RELATION_RECOVERY = "relation_graph/recovery.json"
RELATION_BENCHMARK = "benchmarks/relation_graph.json"
GRAPH_CHOICE = "graph_choice"
#: The tables of the graph-choice comparison: the four full tables and the
#: widest named one (digits, 64 pixels).
GRAPH_CHOICE_DATASETS = ("california", "adult", "acs_employment", "diamonds", "digits")
# Two-sided 95% Student t quantiles by degrees of freedom, for paired intervals.
T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


@region("relation-recovery")
def relation_recovery(results: Path) -> str:
    """The planted-pair recovery table of ``scripts/relation_recovery.py``."""
    data = load_json(results, RELATION_RECOVERY)
    summary = {row["method"]: row for row in data["summary"]}
    config = data["config"]
    rows = []
    for row in data["summary"]:
        pairs = row["planted"] // row["seeds"]
        per_seed = ", ".join(str(round(r * pairs)) for r in row["recall_per_seed"])
        mse = "–" if row["test_mse"] is None else f"{row['test_mse']:.3f}"
        rows.append(
            [
                f"`{row['method']}`",
                f"{row['found']} / {row['planted']}",
                f"{row['recall']:.0%}",
                per_seed,
                mse,
            ]
        )
    table = markdown_table(
        ["method", "planted pairs in the top m", "recall", "found per seed", "test MSE"], rows
    )
    learned = summary.get("learned")
    lines = [table, ""]
    if learned is not None:
        others = [summary[m]["recall"] for m in ("knn", "complete-attention") if m in summary]
        met = learned["recall"] >= 0.9 and all(learned["recall"] > other for other in others)
        lines.append(
            f"Target, learned graph ≥ 90% of the planted pairs over {learned['seeds']} seeds "
            f"and above correlation kNN and complete-graph attention: {learned['recall']:.0%}, "
            f"{verdict(met)}."
        )
    first = data["summary"][0]
    pairs = first["planted"] // first["seeds"]
    lines.append("")
    lines.append(
        f"{config['rows']} rows (70/15/15), {config['features']} features, {pairs} planted "
        f"pairs per seed (m = {pairs}), noise-to-signal {config['noise']}; learned graph "
        f"k = {config['k']}; "
        f"≤ {config['epochs']} epochs, patience {config['patience']}, AdamW at {config['lr']}. "
        f"Command: `{data['command']}`."
    )
    return "\n".join(lines)


@region("relation-benchmark")
def relation_benchmark(results: Path) -> str:
    """Learned sparse graph against the complete graph: time and memory per step."""
    try:
        data = load_json(results, RELATION_BENCHMARK)
    except MissingResults:
        return (
            "Not measured yet: run `python benchmarks/relation_graph.py --results "
            f"docs/results/{RELATION_BENCHMARK}` on a quiet machine."
        )
    rows, target = [], None
    for row in table(data, "steps"):
        rows.append(
            [
                str(row["features"]),
                row["case"],
                f"{ms(row['ms'])} ({ms(row['ms_p25'])}–{ms(row['ms_p75'])})",
                ratio(row["time_ratio"]),
                mib(row["peak_mb"]),
                ratio(row["memory_ratio"]),
            ]
        )
        if row["features"] == 1024 and row["case"] == "learned-k16":
            target = row
    body = markdown_table(
        ["F", "case", "ms per step (p25–p75)", "× complete", "peak MB", "× complete"], rows
    )
    lines = [body, ""]
    if target is not None and target["memory_ratio"] is not None:
        met = target["time_ratio"] <= 0.25 and target["memory_ratio"] <= 0.25
        lines.append(
            f"Target, F = 1024 and k = 16 at most 1/4 of the complete graph's time and "
            f"memory: {ratio(target['time_ratio'])} and {ratio(target['memory_ratio'])}, "
            f"{verdict(met)}."
        )
        lines.append("")
    lines.append(provenance(data))
    return "\n".join(lines)


def _paired(differences: list[float]) -> tuple[float, float]:
    """Mean and half-width of the 95% Student interval of paired differences."""
    mean = sum(differences) / len(differences)
    if len(differences) < 2:
        return mean, float("nan")
    variance = sum((d - mean) ** 2 for d in differences) / (len(differences) - 1)
    quantile = T_975.get(len(differences) - 1, 1.96)
    return mean, quantile * (variance / len(differences)) ** 0.5


@region("graph-choice")
def graph_choice(results: Path) -> str:
    """Complete vs kNN vs learned graph, same layer and budget, paired over seeds."""
    rows = []
    for name in GRAPH_CHOICE_DATASETS:
        try:
            runs = _read_csv(results, f"{GRAPH_CHOICE}/{name}/runs.csv")
        except MissingResults:
            continue
        metric, better = ("rmse", -1.0) if "rmse" in runs[0] else ("accuracy", 1.0)
        by_graph: dict[str, dict[str, float]] = {}
        for run in runs:
            graph = next((g for g in ("knn", "learned") if run["model"].endswith("-" + g)), "")
            by_graph.setdefault(graph or "complete", {})[run["seed"]] = float(run[metric])
        complete = by_graph.get("complete", {})
        cells = [name, metric]
        values = list(complete.values())
        cells.append(f"{sum(values) / len(values):.4f}" if values else "–")
        for graph in ("knn", "learned"):
            seeds = sorted(set(complete) & set(by_graph.get(graph, {})))
            if not seeds:
                cells.append("–")
                continue
            mean, half = _paired([by_graph[graph][s] - complete[s] for s in seeds])
            if half != half:
                word = "one seed"
            elif abs(mean) <= half:
                word = "no difference"
            else:
                word = "better" if mean * better > 0 else "worse"
            cells.append(f"{mean:+.4f} ± {half:.4f} ({word}, {len(seeds)} seeds)")
        rows.append(cells)
    if not rows:
        return (
            "Not run yet: `bash scripts/graph_choice.sh` writes "
            f"`docs/results/{GRAPH_CHOICE}/<dataset>/`."
        )
    header = ["table", "metric", "complete", "knn − complete", "learned − complete"]
    return (
        markdown_table(header, rows)
        + "\n\nDifferences are paired by seed (same split and initialisation seed): "
        'mean ± the half-width of its 95% Student interval; "no difference" when the '
        "interval holds 0."
    )


# --------------------------------------------------------------------------- #
# Guides
# --------------------------------------------------------------------------- #


@region("guide-swap-cost")
def guide_swap_cost(results: Path) -> str:
    data = load_json(results, CONVS)
    body = []
    for section in ("w1", "w2"):
        r = _pair(data, section, "FeatureGATConv", "GATConv")
        if r is None:
            continue
        memory = "–"
        if r.get("memory_ratio") is not None:
            memory = f"{mib(r['ours_mb'])} / {mib(r['peer_mb'])} ({r['memory_ratio']:.2f}×)"
        body.append(
            [
                f"{section.upper()}: {_shape_text(data['config'][section])}",
                ms(r["ours_ms"]),
                ms(r["peer_ms"]),
                f"**{ratio(r['speedup'])}**",
                memory,
            ]
        )
    if not body:
        return "The convs benchmark recorded no `FeatureGATConv` vs `GATConv` comparison."
    header = [
        "workload",
        "`FeatureGATConv` ms",
        "`GATConv` ms",
        "speed-up",
        "peak MB, ours / theirs",
    ]
    return (
        markdown_table(header, body)
        + "\n\nOne forward + backward step on the complete graph of `rows_to_graph`, both "
        f"with GATConv's defaults, timed side by side (`{data['command']}`; "
        "details on the {doc}`/benchmarks` page)."
    )


@region("readme-compare-default")
def readme_compare_default(results: Path) -> str:
    try:
        dataset = load_dataset(results, DEFAULT_DATASET)
    except MissingResults:
        return NO_EXPERIMENTS
    seconds = None
    log = results / EXPERIMENTS / DEFAULT_DATASET / "runs.csv"
    if log.is_file():
        with open(log, newline="", encoding="utf-8") as handle:
            seconds = sum(
                float(r["seconds_per_epoch"]) * int(r["epochs_run"]) for r in csv.DictReader(handle)
            )
    columns = list(dataset.rows[0])
    text = markdown_table(columns, ([r[c] for c in columns] for r in dataset.rows))
    if seconds is not None:
        text += f"\n\nTraining all runs took about {seconds / 60:.0f} min (epochs × s/epoch)."
    return text


@region("guide-estimator-numbers")
def guide_estimator_numbers(results: Path) -> str:
    fits = _read_csv(results, f"{ESTIMATOR_DEFAULTS}/sweep.csv")
    settings = load_json(results, f"{ESTIMATOR_DEFAULTS}/settings.json")
    found = {d.name: d for d in datasets(results)}
    body = []
    for name in dict.fromkeys(r["dataset"] for r in fits):
        mine = [r for r in fits if r["dataset"] == name]
        metric = mine[0]["metric"]
        mean = sum(float(r["value"]) for r in mine) / len(mine)
        seconds = max(float(r["fit_seconds"]) for r in mine)
        d = found.get(name)
        hgb = d.model("hgb") if d else None
        body.append([name, metric, f"{mean:.4f}", f"{seconds:.0f}", hgb[metric] if hgb else "–"])
    return (
        "The estimators with their defaults on full tables (time budget "
        f"{settings['time_budget']:g} s per fit, {settings['threads']} CPU thread), beside "
        "gradient-boosted trees on the same split (see {doc}`/experiments`):\n\n"
        + markdown_table(["dataset", "metric", "default estimator", "fit s", "hgb"], body)
    )


@region("guide-compare-numbers")
def guide_compare_numbers(results: Path) -> str:
    found = datasets(results)
    if not found:
        return NO_EXPERIMENTS
    rows = []
    for d in found:
        best = d.best(r["model"] for r in d.rows)
        assert best is not None
        rows.append(
            [d.name, str(len(d.rows)), d.monitor[0], f"{best['model']} {best[d.monitor[0]]}"]
        )
    return markdown_table(["dataset", "models", "metric", "best model"], rows)


# --------------------------------------------------------------------------- #
# Pages
# --------------------------------------------------------------------------- #


@dataclass
class Problem:
    page: str
    region: str
    message: str

    def __str__(self) -> str:
        return f"{self.page}: generated:{self.region}: {self.message}"


def pages(root: Path) -> list[Path]:
    found = sorted((root / "docs").glob("*.md")) + sorted((root / "docs" / "guides").glob("*.md"))
    readme = root / "README.md"
    return found + ([readme] if readme.is_file() else [])


def block(name: str, content: str) -> str:
    return f"<!-- BEGIN generated:{name} -->\n\n{content.strip()}\n\n<!-- END generated:{name} -->"


def render_text(text: str, results: Path, page: str) -> tuple[str, list[Problem]]:
    """:obj:`text` with every region rendered, and what could not be rendered
    or differed from what was there (as :class:`Problem`\\ s)."""
    problems: list[Problem] = []
    spans = {m.start() for m in REGION.finditer(text)}
    for marker in MARKER.finditer(text):
        if marker["kind"] == "BEGIN" and marker.start() not in spans:
            problems.append(Problem(page, marker["name"], "BEGIN marker without its END"))

    def replace(match: re.Match[str]) -> str:
        name = match["name"]
        render = renderer_of(name)
        if render is None:
            problems.append(Problem(page, name, "unknown region name"))
            return match[0]
        try:
            new = block(name, render(results))
        except MissingResults as error:
            problems.append(Problem(page, name, str(error)))
            return match[0]
        if new != match[0]:
            problems.append(Problem(page, name, "differs from its results"))
        return new

    return REGION.sub(replace, text), problems


def check(root: Path = ROOT, write: bool = False) -> list[Problem]:
    """Renders every page under :obj:`root`; with :obj:`write`, saves the
    pages that changed. Returns the problems found."""
    results = root / "docs" / "results"
    problems = []
    for path in pages(root):
        text = path.read_text(encoding="utf-8")
        new, found = render_text(text, results, str(path.relative_to(root)))
        problems += found
        if write and new != text:
            path.write_text(new, encoding="utf-8")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if any region is stale"
    )
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    problems = check(args.root, write=not args.check)
    failures = [p for p in problems if args.check or p.message != "differs from its results"]
    for problem in problems:
        if problem in failures:
            print(problem, file=sys.stderr)
        else:
            print(f"{problem.page}: generated:{problem.region}: rewritten")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
