"""Rows ⇄ feature graphs: the converter against its peers, side by side.

Peers, all timed in this one process:

* ``write``: the floor, allocating and filling tensors the size of the output
  (the ``[2, B·E]`` edge index and the ``[B·F, C]`` node values);
* ``per-row``: one ``Data`` per row, then ``Batch.from_data_list`` (what a
  PyG user writes without this library);
* ``static``: :func:`to_static_graph`, the ``[B, F, C]`` form with one shared
  template;
* graphs → rows: :func:`graph_to_rows` on complete rows (a view) and with 10%
  of cells dropped (a scatter), against a plain copy of the same values;
* the loader's rows/s over one epoch.

Run ``python benchmarks/converter.py`` (full grid) or ``--small`` (CI size);
``--results PATH`` also writes every printed row to a JSON file. Prints the
best of interleaved runs in ms and the ratios; it never asserts a time.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
from _results import Recorder, add_results_argument
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


def best_ms(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Times the peers in alternation and keeps each one's fastest run, in ms.

    On a shared machine noise only ever adds time, so the minimum of
    interleaved runs is the steadiest estimate of what each peer costs.
    """
    for fn in fns.values():
        fn()  # warm-up
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: value * 1e3 for name, value in best.items()}


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


def bench_to_graph(rows: int, features: int, repeats: int) -> dict[str, float]:
    x = torch.randn(rows, features)
    template = fully_connected_edge_index(features)
    num_edges = rows * template.size(1)
    result = best_ms(
        {
            "ours": lambda: rows_to_graph(x),
            "write": lambda: write_floor(x, num_edges),
            "static": lambda: to_static_graph(x),
        },
        repeats,
    )
    if rows <= MAX_PER_ROW_ROWS:
        # Seconds per run at 10k rows: one timed run after the warm-up.
        result.update(best_ms({"per_row": lambda: per_row_batch(x, template)}, 1))
    return result


def bench_to_rows(rows: int, features: int, repeats: int) -> dict[str, float]:
    x = torch.randn(rows, features)
    # Scattering back never reads the edges: an empty template keeps big sizes in memory.
    no_edges = torch.empty((2, 0), dtype=torch.long)
    complete = rows_to_graph(x, edge_index=no_edges)
    holes = x.clone()
    holes[torch.rand(rows, features) < 0.1] = float("nan")
    dropped = rows_to_graph(holes, missing="drop", edge_index=no_edges)
    values = complete.x.view(-1)
    dropped_values = dropped.x.view(-1)
    return best_ms(
        {
            "complete": lambda: graph_to_rows(values, complete),
            "dropped": lambda: graph_to_rows(dropped_values, dropped),
            "copy": lambda: values.clone(),
        },
        repeats,
    )


def bench_loader(rows: int, features: int) -> float | None:
    try:
        from pyg_tabular.datasets import TabularDataset, TabularLoader
    except ImportError:
        return None
    x = torch.randn(rows, features)
    y = torch.randn(rows)
    dataset = TabularDataset(x, y)
    loader = TabularLoader(dataset, batch_size=512, shuffle=True, seed=0)
    start = time.perf_counter()
    seen = sum(int(batch.num_graphs) for batch in loader)
    return seen / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="CI-sized run")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--repeats", type=int, default=9, help="interleaved timed runs; the best is kept"
    )
    add_results_argument(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    sizes = [1_000, 10_000, 100_000] if not args.small else [1_000]
    widths = [8, 32, 128] if not args.small else [8, 32]
    repeats = args.repeats if not args.small else 3
    loader_rows = 20_000 if not args.small else 2_000
    recorder = Recorder(
        "converter.py",
        {
            "small": args.small,
            "threads": args.threads,
            "repeats": repeats,
            "rows": sizes,
            "features": widths,
            "max_edges": MAX_EDGES,
            "max_per_row_rows": MAX_PER_ROW_ROWS,
            "loader": {"rows": loader_rows, "features": 32, "batch_size": 512},
        },
    )
    recorder.keep_on_terminate(args.results)

    print("rows -> Batch (best of interleaved runs, ms; ratios: ours/write, per-row/ours)")
    print(
        f"{'B':>7} {'F':>4} {'edges':>11} {'ours':>9} {'write':>9} {'static':>8} "
        f"{'per-row':>9} {'ours/write':>10} {'per-row/ours':>12}"
    )
    for rows in sizes:
        for features in widths:
            edges = rows * features * features
            if edges > MAX_EDGES:
                print(
                    f"{rows:>7} {features:>4} {edges:>11,} skipped: edge index over "
                    f"{MAX_EDGES:,} entries (use the static form or a sparser template)"
                )
                recorder.add(
                    "to_graph",
                    {
                        "rows": rows,
                        "features": features,
                        "edges": edges,
                        "skipped": "edge_index_bytes",
                        "edge_index_bytes": edges * 2 * 8,
                    },
                )
                continue
            r = bench_to_graph(rows, features, repeats)
            per_row = r.get("per_row")
            per_row_text = f"{per_row:9.1f}" if per_row is not None else f"{'-':>9}"
            speedup = f"{per_row / r['ours']:11.1f}x" if per_row is not None else f"{'-':>12}"
            print(
                f"{rows:>7} {features:>4} {edges:>11,} {r['ours']:9.1f} {r['write']:9.1f} "
                f"{r['static']:8.3f} {per_row_text} {r['ours'] / r['write']:9.2f}x {speedup}"
            )
            recorder.add(
                "to_graph",
                {
                    "rows": rows,
                    "features": features,
                    "edges": edges,
                    "ours_ms": r["ours"],
                    "write_ms": r["write"],
                    "static_ms": r["static"],
                    "per_row_ms": per_row,
                    "ours_over_write": r["ours"] / r["write"],
                    "per_row_over_ours": per_row / r["ours"] if per_row is not None else None,
                },
            )

    print("\ngraphs -> rows (best of interleaved runs, ms; ratio to a plain copy of the values)")
    print(
        f"{'B':>7} {'F':>4} {'complete':>9} {'dropped':>9} {'copy':>8} "
        f"{'complete/copy':>13} {'dropped/copy':>12}"
    )
    for rows in sizes:
        for features in widths:
            r = bench_to_rows(rows, features, repeats)
            print(
                f"{rows:>7} {features:>4} {r['complete']:9.3f} {r['dropped']:9.3f} "
                f"{r['copy']:8.3f} {r['complete'] / r['copy']:12.2f}x "
                f"{r['dropped'] / r['copy']:11.2f}x"
            )
            recorder.add(
                "to_rows",
                {
                    "rows": rows,
                    "features": features,
                    "complete_ms": r["complete"],
                    "dropped_ms": r["dropped"],
                    "copy_ms": r["copy"],
                    "complete_over_copy": r["complete"] / r["copy"],
                    "dropped_over_copy": r["dropped"] / r["copy"],
                },
            )

    rate = bench_loader(loader_rows, 32)
    if rate is None:
        print("\nloader: pyg_tabular.datasets not available")
    else:
        print(
            f"\nTabularLoader, B=512, F=32, shuffled: {rate:,.0f} rows/s over {loader_rows:,} rows"
        )
        recorder.add("loader", {"rows": loader_rows, "features": 32, "rows_per_second": rate})
    recorder.write(args.results)


if __name__ == "__main__":
    main()
