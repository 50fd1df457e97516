"""The ``pyg-tabular`` command line."""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

DEFAULT_DATASET = "breast_cancer"
DEFAULT_MODELS = "mlp,gatconv,feature-gat,gfa,advanced"


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
    compare.add_argument("--out", type=Path, default=None, help="write results.csv/.md here")
    return parser


def _compare(args: argparse.Namespace) -> int:
    from pyg_tabular import compare

    torch.set_num_threads(args.threads)
    names = [name.strip() for name in args.models.split(",") if name.strip()]
    unknown = [name for name in names if name not in compare.MODELS]
    if unknown:
        print(
            f"error: --models has unknown names {unknown}; known: {sorted(compare.MODELS)}",
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
                f"dataset {task.name}: {task.kind}, {task.train.x.size(1)} features, "
                f"{task.train.x.size(0)}/{task.val.x.size(0)}/{task.test.x.size(0)} "
                f"train/val/test rows; {args.seeds} seeds, <= {args.epochs} epochs"
            )
        for name in names:
            result = compare.train_one(
                name, task, seed=seed, epochs=args.epochs, batch_size=args.batch_size
            )
            results.append(result)
            shown = ", ".join(f"{k}={v:.4f}" for k, v in result.metrics.items())
            print(f"  seed {seed} {name:>12}: {shown} ({result.epochs_run} epochs)", flush=True)

    rows = compare.summarize(results)
    table = compare.format_table(rows)
    print()
    print(table)
    print(
        f"\npeak RSS of this process: {compare.peak_rss_mb():.0f} MiB; "
        f"total {time.perf_counter() - started:.1f} s"
    )
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        with open(args.out / "results.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        (args.out / "results.md").write_text(table + "\n", encoding="utf-8")
        print(f"wrote {args.out / 'results.csv'} and {args.out / 'results.md'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pyg-tabular`` console script."""
    args = _parser().parse_args(argv)
    if args.command == "compare":
        return _compare(args)
    raise AssertionError(f"unhandled command {args.command}")  # argparse guards this


if __name__ == "__main__":
    raise SystemExit(main())
