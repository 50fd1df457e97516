"""The ``pyg-tabular`` command line."""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from pyg_tabular import compare as compare_module

DEFAULT_DATASET = "breast_cancer"
DEFAULT_MODELS = "mlp,hgb,gatconv,gatv2,transformer,gfa,advanced,advanced-hier"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyg-tabular",
        description="Graph attention over the features of a table, for PyTorch Geometric.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    compare = commands.add_parser(
        "compare",
        help="train feature-graph models against PyG's GATConv and an MLP on a real table",
        description=(
            "Train every model on the same seeded splits with the same budget and early "
            "stopping, then print the test metric (mean ± std over seeds), parameter "
            "count and speed. With no arguments it runs on a dataset bundled with "
            "scikit-learn and finishes in a few minutes on 2 cores."
        ),
    )
    compare.add_argument("--dataset", default=DEFAULT_DATASET, help="dataset name")
    compare.add_argument("--models", default=DEFAULT_MODELS, help="comma-separated model names")
    compare.add_argument("--seeds", type=int, default=3, help="number of seeds (default 3)")
    compare.add_argument("--epochs", type=int, default=40, help="epoch budget per run")
    compare.add_argument("--batch-size", type=int, default=128)
    compare.add_argument("--max-rows", type=int, default=None, help="subsample the table")
    compare.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    compare.add_argument(
        "--out",
        type=Path,
        default=Path("compare-results"),
        help="write runs.csv, results.csv, results.md and PNG plots here "
        "(default: compare-results/)",
    )
    compare.add_argument(
        "--in-process",
        action="store_true",
        help="train every model in this process (faster start; the memory column then "
        "shows this process's peak rather than each model's own)",
    )
    return parser


def _compare(args: argparse.Namespace) -> int:
    from pyg_tabular import compare

    torch.set_num_threads(args.threads)
    names = [name.strip() for name in args.models.split(",") if name.strip()]
    unknown = [name for name in names if name not in compare.model_names()]
    if unknown:
        print(
            f"error: --models has unknown names {unknown}; known: {compare.model_names()}",
            file=sys.stderr,
        )
        return 2
    if args.seeds < 1 or args.epochs < 1:
        print(
            f"error: --seeds and --epochs must be >= 1 (got {args.seeds}, {args.epochs})",
            file=sys.stderr,
        )
        return 2

    started = time.perf_counter()
    results = []
    for seed in range(args.seeds):
        task = compare.load_task(args.dataset, seed=seed, max_rows=args.max_rows)
        if seed == 0:
            print(
                f"dataset {task.name}: {task.kind}, {task.train.x.size(1)} features "
                f"({len(task.cardinalities)} categorical), "
                f"{task.train.x.size(0)}/{task.val.x.size(0)}/{task.test.x.size(0)} "
                f"train/val/test rows; {args.seeds} seeds, <= {args.epochs} epochs",
                flush=True,
            )
        for name in names:
            options = dict(epochs=args.epochs, batch_size=args.batch_size)
            if args.in_process:
                result = compare.train_one(name, task, seed=seed, **options)
            else:
                result = compare.train_isolated(
                    name,
                    args.dataset,
                    seed=seed,
                    max_rows=args.max_rows,
                    threads=args.threads,
                    **options,
                )
            results.append(result)
            shown = ", ".join(f"{k}={v:.4f}" for k, v in result.metrics.items())
            print(
                f"  seed {seed} {name:>14}: {shown} ({result.epochs_run} "
                f"{'iterations' if name == 'hgb' else 'epochs'}, {result.peak_mb:.0f} MiB peak)",
                flush=True,
            )

    rows = compare.summarize(results)
    table = compare.format_table(rows)
    print()
    print(table)
    print(f"\ntotal {time.perf_counter() - started:.1f} s")
    if args.out is not None:
        _write_outputs(args.out, task, results, rows, table)
    return 0


def _write_outputs(
    out: Path,
    task: compare_module.Task,
    results: list[compare_module.RunResult],
    rows: list[dict[str, object]],
    table: str,
) -> None:
    compare = compare_module

    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with open(out / "runs.csv", "w", newline="") as handle:
        metrics = list(results[0].metrics)
        fields = ["model", "seed", *metrics, "params", "seconds_per_epoch", "rows_per_second"]
        fields += ["epochs_run", "peak_mb", "added_mb"]
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for result in results:
            record = {f: getattr(result, f) for f in fields if f not in metrics}
            writer.writerow({**record, **result.metrics})
    (out / "results.md").write_text(table + "\n", encoding="utf-8")
    written = ["runs.csv", "results.csv", "results.md"]
    try:
        from pyg_tabular import plotting
    except ImportError:  # pragma: no cover - plotting is the optional [plot] extra
        print("matplotlib is not installed: no plots (pip install 'pyg-tabular[plot]')")
    else:
        monitor = "rmse" if task.kind == "regression" else "accuracy"
        plotting.plot_learning_curves(results, monitor, out / "learning_curves.png")
        plotting.plot_metric_bars(results, monitor, out / "metric_bars.png")
        written += ["learning_curves.png", "metric_bars.png"]
        best = compare.best_model(results, task.kind, compare.ATTENTION_MODELS)
        if best is not None:
            attention = next(r.attention for r in results if r.model == best)
            title = f"{task.name}: feature attention of {best} (last layer, test rows)"
            plotting.plot_attention(attention, task.feature_names, title, out / "attention.png")
            written.append("attention.png")
    print(f"wrote {', '.join(written)} to {out}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pyg-tabular`` console script."""
    args = _parser().parse_args(argv)
    if args.command == "compare":
        return _compare(args)
    raise AssertionError(f"unhandled command {args.command}")  # argparse guards this


if __name__ == "__main__":
    raise SystemExit(main())
