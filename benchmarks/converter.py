"""Rows ⇄ feature graphs: the converter against its floor and its peers, side by side.

Subjects, all timed in this one process, in interleaved pairs
(``benchmarks/_results.py``):

* ``ours``: :func:`rows_to_graph`, rows to one PyG ``Batch``;
* ``write``: the floor, allocating and filling tensors the size of the output
  (the ``[2, B·E]`` edge index and the ``[B·F, C]`` node values);
* ``per-row``: one ``Data`` per row, then ``Batch.from_data_list`` (what a
  PyG user writes without this library), up to 10,000 rows;
* ``static``: :func:`to_static_graph`, the ``[B, F, C]`` form with one shared
  template;
* graphs → rows: :func:`graph_to_rows` on complete rows (a view) and with 10%
  of cells dropped (a scatter), against a plain copy of the same values;
* the loader: one shuffled epoch of :class:`TabularLoader` against converting
  the same batches with :func:`rows_to_graph` alone.

The headline figures are ratios: ours / write and per-row / ours, median over
the pairs with their range. Run ``python benchmarks/converter.py`` (full grid)
or ``--small`` (CI size); ``--results PATH`` also writes every printed figure
to a JSON file. It never asserts a time.
"""

from __future__ import annotations

import argparse
from typing import Any

import torch
from _results import (
    Recorder,
    Timings,
    add_arguments,
    fmt_ms,
    fmt_ratio,
    interleaved,
    print_table,
    timing_of,
)
from torch_geometric.data import Batch, Data

from pyg_tabular.data import (
    fully_connected_edge_index,
    graph_to_rows,
    rows_to_graph,
    to_static_graph,
)

# Configurations whose complete edge index would exceed this many entries are
# skipped: at B=100k, F=128 it alone would take 26 GB.
MAX_EDGES = 350_000_000
# Building 100k Python Data objects takes minutes; the per-row peer stops here.
MAX_PER_ROW_ROWS = 10_000
LOADER_BATCH = 512
LOADER_FEATURES = 32

TO_GRAPH = {
    "ours": {"op": "rows -> Batch", "impl": "rows_to_graph"},
    "write": {"op": "rows -> Batch", "impl": "write floor (allocate and fill the output)"},
    "static": {"op": "rows -> static graph", "impl": "to_static_graph"},
    "per-row": {"op": "rows -> Batch", "impl": "one Data per row + Batch.from_data_list"},
}
TO_ROWS = {
    "complete": {"op": "Batch -> rows", "impl": "graph_to_rows, complete rows"},
    "dropped": {"op": "Batch -> rows", "impl": "graph_to_rows, 10% of cells dropped"},
    "copy": {"op": "Batch -> rows", "impl": "copy floor (clone the node values)"},
}
LOADER = {
    "loader": {"op": "one epoch", "impl": "TabularLoader, shuffled"},
    "convert": {"op": "one epoch", "impl": "rows_to_graph on the same batches"},
}


def per_row_batch(x: torch.Tensor, template: torch.Tensor) -> Batch:
    num_features = x.size(1)
    feature_id = torch.arange(num_features)
    graphs = [
        Data(x=row.view(-1, 1), edge_index=template, feature_id=feature_id, row_width=num_features)
        for row in x
    ]
    return Batch.from_data_list(graphs)


def write_floor(x: torch.Tensor, num_edges: int) -> None:
    edge_index = torch.empty((2, num_edges), dtype=torch.long)
    edge_index.fill_(1)
    torch.empty_like(x).copy_(x)


def bench_to_graph(rows: int, features: int, timing: dict[str, Any]) -> Timings:
    x = torch.randn(rows, features)
    template = fully_connected_edge_index(features)
    num_edges = rows * template.size(1)
    fns = {
        "ours": lambda: rows_to_graph(x),
        "write": lambda: write_floor(x, num_edges),
        "static": lambda: to_static_graph(x),
    }
    if rows <= MAX_PER_ROW_ROWS:
        fns["per-row"] = lambda: per_row_batch(x, template)
    return interleaved(fns, **timing)


def bench_to_rows(rows: int, features: int, timing: dict[str, Any]) -> Timings:
    x = torch.randn(rows, features)
    # Scattering back never reads the edges: an empty template keeps big sizes in memory.
    no_edges = torch.empty((2, 0), dtype=torch.long)
    complete = rows_to_graph(x, edge_index=no_edges)
    holes = x.clone()
    holes[torch.rand(rows, features) < 0.1] = float("nan")
    dropped = rows_to_graph(holes, missing="drop", edge_index=no_edges)
    values = complete.x.view(-1)
    dropped_values = dropped.x.view(-1)
    return interleaved(
        {
            "complete": lambda: graph_to_rows(values, complete),
            "dropped": lambda: graph_to_rows(dropped_values, dropped),
            "copy": lambda: values.clone(),
        },
        **timing,
    )


def bench_loader(rows: int, timing: dict[str, Any]) -> Timings:
    from pyg_tabular.datasets import TabularDataset, TabularLoader

    x = torch.randn(rows, LOADER_FEATURES)
    y = torch.randn(rows)
    loader = TabularLoader(TabularDataset(x, y), batch_size=LOADER_BATCH, shuffle=True, seed=0)

    def epoch() -> None:
        for _ in loader:
            pass

    def convert() -> None:
        for start in range(0, rows, LOADER_BATCH):
            rows_to_graph(x[start : start + LOADER_BATCH], y[start : start + LOADER_BATCH])

    return interleaved({"loader": epoch, "convert": convert}, **timing)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="CI-sized run")
    add_arguments(parser)
    args = parser.parse_args()
    timing = timing_of(parser, args)
    torch.manual_seed(0)

    sizes = [1_000, 10_000, 100_000] if not args.small else [500, 2_000]
    widths = [8, 32, 128] if not args.small else [8, 32]
    loader_rows = 20_000 if not args.small else 2_000
    recorder = Recorder(
        "converter.py",
        {
            "small": args.small,
            "rows": sizes,
            "features": widths,
            "max_edges": MAX_EDGES,
            "max_per_row_rows": MAX_PER_ROW_ROWS,
            "loader": {"rows": loader_rows, "features": LOADER_FEATURES, "batch_size": 512},
        },
        timing,
        settle=args.settle,
    )
    recorder.keep_on_terminate(args.results)
    print(
        f"torch {torch.__version__}, {args.threads} threads; ms as median (min-max) of "
        f"{args.pairs} interleaved pairs; ratios per pair"
    )

    grows = dict.fromkeys(TO_GRAPH, ("B", "F"))
    body = []
    with recorder.table("to_graph", TO_GRAPH, grows) as table:
        for rows in sizes:
            for features in widths:
                edges = rows * features * features
                if edges > MAX_EDGES:
                    table.add(
                        {"B": rows, "F": features},
                        edges=edges,
                        skipped=dict.fromkeys(TO_GRAPH, "edge_index_bytes"),
                        edge_index_bytes=edges * 2 * 8,
                    )
                    body.append([f"{rows:,}", str(features), f"{edges:,}", "skipped"])
                    continue
                t = bench_to_graph(rows, features, timing)
                group = table.add_timed(
                    {"B": rows, "F": features},
                    t,
                    [("ours", "write"), ("per-row", "ours"), ("static", "ours")],
                    edges=edges,
                )
                ratios = group["ratios"]
                body.append(
                    [
                        f"{rows:,}",
                        str(features),
                        f"{edges:,}",
                        fmt_ms(t.ms("ours")),
                        fmt_ms(t.ms("write")),
                        fmt_ratio(ratios["ours/write"]),
                        fmt_ratio(ratios.get("per-row/ours")),
                    ]
                )
    print_table(
        "rows -> Batch",
        ["B", "F", "edges", "ours ms", "write ms", "ours/write", "per-row/ours"],
        body,
    )

    body = []
    with recorder.table("to_rows", TO_ROWS, dict.fromkeys(TO_ROWS, ("B", "F"))) as table:
        for rows in sizes:
            for features in widths:
                t = bench_to_rows(rows, features, timing)
                group = table.add_timed(
                    {"B": rows, "F": features}, t, [("complete", "copy"), ("dropped", "copy")]
                )
                body.append(
                    [
                        f"{rows:,}",
                        str(features),
                        fmt_ms(t.ms("copy")),
                        fmt_ratio(group["ratios"]["complete/copy"]),
                        fmt_ratio(group["ratios"]["dropped/copy"]),
                    ]
                )
    print_table(
        "graphs -> rows (ratio to a plain copy of the values)",
        ["B", "F", "copy ms", "complete/copy", "dropped/copy"],
        body,
    )

    with recorder.table("loader", LOADER) as table:
        t = bench_loader(loader_rows, timing)
        group = table.add_timed(
            {"B": LOADER_BATCH, "F": LOADER_FEATURES, "rows": loader_rows},
            t,
            [("loader", "convert")],
        )
    epoch = t.ms("loader")
    print(
        f"\nTabularLoader, B={LOADER_BATCH}, F={LOADER_FEATURES}, shuffled, {loader_rows:,} rows: "
        f"{loader_rows / epoch['median'] * 1e3:,.0f} rows/s; "
        f"{fmt_ratio(group['ratios']['loader/convert'])} the time of rows_to_graph alone"
    )
    recorder.write(args.results)


if __name__ == "__main__":
    main()
