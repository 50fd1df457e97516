"""Regions of ``benchmarks/converter.py``: rows ⇄ feature graphs."""

from __future__ import annotations

from .bench_common import (
    Bench,
    bench_region,
    judged,
    medians,
    ms_spread,
    ratio_spread,
)
from .text import NOT_RUN, markdown_table, span

# The configuration the converter's targets are stated at.
TARGET = {"B": 10_000, "F": 32}


@bench_region("bench-converter-to-graph", "converter")
def to_graph(bench: Bench) -> str:
    table = bench.table("to_graph")
    if table is None:
        return NOT_RUN
    rows = []
    for g in table.groups:
        head = [f"{g['sizes']['B']:,}", str(g["sizes"]["F"]), f"{g['edges']:,}"]
        if "ms" not in g:
            gb = g["edge_index_bytes"] / 1e9
            note = f"skipped: the edge index alone is {gb:.0f} GB; use the static form"
            rows.append([*head, note, *[""] * 6])
            continue
        ms, ratios = g["ms"], g["ratios"]
        cells = [
            *head,
            ms_spread(ms["ours"]),
            ms_spread(ms["write"]),
            ms_spread(ms.get("per-row")),
            ms_spread(ms["static"]),
            ratio_spread(ratios["ours/write"]),
            ratio_spread(ratios.get("per-row/ours")),
        ]
        if all(g["sizes"][k] == v for k, v in TARGET.items()):
            cells = [f"**{cell}**" for cell in cells]
        rows.append(cells)
    header = ["B", "F", "edges", "ours ms", "write ms", "per-row ms", "static ms"]
    header += ["ours / write", "per-row / ours"]
    return "\n\n".join([bench.provenance(), markdown_table(header, rows), table.load_text()])


@bench_region("bench-converter-summary", "converter", first=False)
def to_graph_summary(bench: Bench) -> str:
    table = bench.table("to_graph")
    if table is None:
        return NOT_RUN
    timed = table.timed()
    lines = []
    target = table.group(**TARGET)
    if target is not None and "ms" in target:
        ratios = target["ratios"]
        lines.append(
            f"- Targets at B = {TARGET['B']:,}, F = {TARGET['F']}: rows → `Batch` within "
            f"1.5× of the write floor, {judged(table, ratios['ours/write'], at_most=1.5)} "
            f"({ratio_spread(ratios['ours/write'])}); ≥ 8× faster than per-row, "
            f"{judged(table, ratios.get('per-row/ours'), at_least=8)} "
            f"({ratio_spread(ratios.get('per-row/ours'))})."
        )
    else:
        lines.append(
            f"- Target configuration B = {TARGET['B']:,}, F = {TARGET['F']} not in this run."
        )
    large = [g for g in timed if g["edges"] >= 5_000_000]
    if large:
        floors = [g["ratios"]["ours/write"] for g in large]
        lines.append(
            f"- Every configuration with ≥ 5 M edges runs at {span(medians(floors))} the "
            f"write floor (medians); within 1.5× of it: {judged(table, floors, at_most=1.5)}."
        )
    per_row = [g["ratios"]["per-row/ours"] for g in timed if "per-row/ours" in g["ratios"]]
    if per_row:
        lines.append(
            f"- Against one `Data` per row: {span(medians(per_row))} faster (medians) where the "
            f"per-row peer ran (up to B = {bench.config['max_per_row_rows']:,} rows)."
        )
    static = [g["ratios"]["static/ours"] for g in timed]
    if static:
        lines.append(
            f"- The static form is `O(B·F)`: it takes {span(medians(static))} the time of "
            "`rows_to_graph` (medians), whatever the number of edges."
        )
    return "\n".join(lines)


@bench_region("bench-converter-to-rows", "converter", first=False)
def to_rows(bench: Bench) -> str:
    table = bench.table("to_rows")
    if table is None:
        return NOT_RUN
    rows = [
        [
            f"{g['sizes']['B']:,}",
            str(g["sizes"]["F"]),
            ms_spread(g["ms"]["copy"]),
            ms_spread(g["ms"]["complete"]),
            ms_spread(g["ms"]["dropped"]),
            ratio_spread(g["ratios"]["complete/copy"]),
            ratio_spread(g["ratios"]["dropped/copy"]),
        ]
        for g in table.timed()
    ]
    header = ["B", "F", "copy ms", "complete ms", "dropped ms", "complete / copy"]
    header.append("dropped / copy")
    return markdown_table(header, rows) + "\n\n" + table.load_text()


@bench_region("bench-converter-to-rows-summary", "converter", first=False)
def to_rows_summary(bench: Bench) -> str:
    table = bench.table("to_rows")
    if table is None or not table.timed():
        return NOT_RUN
    complete = [g["ratios"]["complete/copy"] for g in table.timed()]
    dropped = [g["ratios"]["dropped/copy"] for g in table.timed()]
    # "Memory-copy speed" read with the same 1.5x tolerance as rows -> Batch.
    return (
        "- Target: graphs → rows at memory-copy speed (read here as within 1.5× of a "
        f"plain copy). Complete rows: {span(medians(complete))} a copy (medians), "
        f"{judged(table, complete, at_most=1.5)}. Rows with dropped cells: "
        f"{span(medians(dropped))} a copy, {judged(table, dropped, at_most=1.5)}: the "
        "scatter, the presence mask and the fill are three passes over an int64 index."
    )


@bench_region("bench-converter-loader", "converter", first=False)
def loader(bench: Bench) -> str:
    table = bench.table("loader")
    if table is None or not table.timed():
        return "`TabularLoader`: not measured in this run."
    g = table.timed()[0]
    sizes, epoch = g["sizes"], g["ms"]["loader"]
    rate = [sizes["rows"] / ms * 1e3 for ms in (epoch["median"], epoch["max"], epoch["min"])]
    return (
        f"`TabularLoader` (B = {sizes['B']}, F = {sizes['F']}, shuffled, {sizes['rows']:,} "
        f"rows): one epoch takes {ratio_spread(g['ratios']['loader/convert'])} the time of "
        "`rows_to_graph` on the same batches, in order, without the loader "
        f"({rate[0]:,.0f} rows/s, {rate[1]:,.0f}–{rate[2]:,.0f}). {table.load_text()}"
    )
