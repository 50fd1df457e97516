"""The ``pyg-tabular`` command line.

``pyg-tabular compare`` never loses finished work: the output folder is
checked before any training, every finished (model, seed) run is appended to
``runs.csv`` as it ends, the summaries are written atomically, Ctrl-C keeps
the finished runs and their summary, and ``--resume`` picks up where a run
stopped.

This module imports only the standard library and :mod:`pyg_tabular._choices`
at the top: ``--help`` and argument errors answer before torch, PyTorch
Geometric or scikit-learn is imported; those come once the arguments stand.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pyg_tabular._choices import (
    MAX_INFERRED_CLASSES,
    MIN_SPLIT_ROWS,
    NUMERIC_EMBEDDINGS,
    TABLE_SUFFIXES,
    TABLE_TASKS,
)

DEFAULT_DATASET = "breast_cancer"
DEFAULT_MODELS = (
    "mlp,hgb,gatconv,gatv2conv,transformerconv,"
    "feature-gat-1head,feature-diff-split,feature-diff-split-groups"
)
#: Smallest --max-rows: the 15% validation and test splits then keep at
#: least ``MIN_SPLIT_ROWS`` rows each.
MIN_MAX_ROWS = 100
#: Exit status after Ctrl-C, as a shell reports a SIGINT.
INTERRUPTED = 130
#: The numeric embedding every model that has one is given, unless
#: --numeric-embedding names another: the one that won the estimators' sweep.
DEFAULT_NUMERIC_EMBEDDING = "piecewise-linear"
# The settings a --resume must share with the runs already in runs.csv.
_CONFIG_KEYS = (
    "dataset",
    "data",
    "target",
    "task",
    "categorical",
    "epochs",
    "batch_size",
    "max_rows",
    "time_budget",
    "numeric_embedding",
    "patience",
    "drop",
)
# Values of settings that older config.json files lack: what those runs used.
_CONFIG_DEFAULTS = {"numeric_embedding": "linear", "patience": 10, "drop": None}


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer (got {text!r})") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer (got {value})")
    return value


def _max_rows(text: str) -> int:
    value = _positive_int(text)
    if value < MIN_MAX_ROWS:
        raise argparse.ArgumentTypeError(
            f"must be at least {MIN_MAX_ROWS} so that the validation and test splits keep "
            f">= {MIN_SPLIT_ROWS} rows each (got {value})"
        )
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds (got {text!r})") from None
    if not value > 0.0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds (got {text})")
    return value


def _model_list(text: str) -> list[str]:
    from pyg_tabular.compare import model_names, resolve_model

    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"names no model (got {text!r}); known: {model_names()}")
    unknown = [name for name in names if name not in model_names() and _renamed(name) is None]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown names {unknown}; known: {model_names()}")
    resolved = []
    for name in names:
        new = resolve_model(name, warn=False)
        if new != name:
            print(f"note: model {name!r} is now called {new!r}", file=sys.stderr)
        resolved.append(new)
    repeated = sorted({name for name in resolved if resolved.count(name) > 1})
    if repeated:
        raise argparse.ArgumentTypeError(f"names {repeated} more than once (got {text!r})")
    from pyg_tabular.compare.peers import PEER_PACKAGES, import_peer

    for name in resolved:
        if name in PEER_PACKAGES:
            try:
                import_peer(name)
            except ImportError as error:
                raise argparse.ArgumentTypeError(str(error)) from None
    return resolved


def _graph_list(text: str) -> list[str]:
    from pyg_tabular._choices import GRAPH_CHOICES

    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in GRAPH_CHOICES]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"expected graphs among {', '.join(GRAPH_CHOICES)} (got {text!r})"
        )
    return list(dict.fromkeys(names))


def _renamed(name: str) -> str | None:
    from pyg_tabular.compare import RENAMED_MODELS

    return RENAMED_MODELS.get(name)


def _dataset_name(text: str) -> str:
    from pyg_tabular.datasets.named_datasets import DATASET_NAMES

    if text not in DATASET_NAMES:
        raise argparse.ArgumentTypeError(
            f"unknown dataset {text!r}; known: {', '.join(DATASET_NAMES)} "
            "(or pass your own table with --data PATH --target COLUMN)"
        )
    return text


def _column_list(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


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
            "scikit-learn."
        ),
    )
    source = compare.add_argument_group("what to train on (a named dataset or your own table)")
    source.add_argument(
        "--dataset",
        type=_dataset_name,
        default=None,
        help=f"a named dataset (default: {DEFAULT_DATASET})",
    )
    source.add_argument(
        "--data", type=Path, default=None, help="your own table: a .csv or .parquet file"
    )
    source.add_argument("--target", default=None, help="the column of --data to predict")
    source.add_argument(
        "--task",
        choices=TABLE_TASKS,
        default=None,
        help="what --target is (default: inferred: a float column is a regression; text, "
        f"bools and up to {MAX_INFERRED_CLASSES} distinct integers are classes; more "
        "integers must be said)",
    )
    source.add_argument(
        "--categorical",
        type=_column_list,
        default=None,
        help="comma-separated categorical columns of --data (default: the text, category, "
        "bool and date columns, less IDs and dates, which are left out with a warning; "
        "list them here to keep them)",
    )
    source.add_argument(
        "--drop",
        type=_column_list,
        default=None,
        help="comma-separated columns of --data to leave out (IDs, leaks, ...)",
    )
    compare.add_argument(
        "--models",
        type=_model_list,
        default=None,
        help=f"comma-separated model names (default: {DEFAULT_MODELS})",
    )
    compare.add_argument(
        "--graphs",
        type=_graph_list,
        default=None,
        help="run each of --models on each of these feature graphs (complete, knn, learned): "
        "'--models feature-gat --graphs complete,knn,learned' trains feature-gat, "
        "feature-gat-knn and feature-gat-learned",
    )
    compare.add_argument("--seeds", type=_positive_int, default=3, help="number of seeds")
    compare.add_argument("--epochs", type=_positive_int, default=40, help="epoch budget per run")
    compare.add_argument("--batch-size", type=_positive_int, default=128)
    compare.add_argument(
        "--max-rows",
        type=_max_rows,
        default=None,
        help=f"subsample the table (at least {MIN_MAX_ROWS})",
    )
    compare.add_argument(
        "--time-budget",
        type=_positive_float,
        default=None,
        help="seconds of training per run (validation included), the same for every "
        "model: an equal wall-clock comparison; a run stops once it crosses them",
    )
    compare.add_argument(
        "--numeric-embedding",
        choices=NUMERIC_EMBEDDINGS,
        default=DEFAULT_NUMERIC_EMBEDDING,
        help="how every model that has a numeric embedding (the graph nets, mlp, tabm) "
        "embeds the numeric columns; piecewise-linear bins are fitted on the train rows "
        f"(default: {DEFAULT_NUMERIC_EMBEDDING}; ft-transformer keeps its own linear one)",
    )
    compare.add_argument(
        "--patience",
        type=_positive_int,
        default=10,
        help="epochs without a better validation metric before a neural run stops "
        "(default: 10; gradient boosting has its own, see the docs)",
    )
    compare.add_argument(
        "--threads", type=_positive_int, default=2, help="torch CPU threads per run"
    )
    compare.add_argument(
        "--jobs",
        type=_positive_int,
        default=1,
        help="runs trained at the same time, each in its own process with --threads "
        "threads (default: 1)",
    )
    compare.add_argument(
        "--out",
        type=Path,
        default=Path("compare-results"),
        help="write runs.csv (one row per finished run, as it ends), results.csv, "
        "results.md and PNG plots here (default: compare-results/)",
    )
    existing = compare.add_mutually_exclusive_group()
    existing.add_argument(
        "--resume",
        action="store_true",
        help="continue into a non-empty --out: skip the runs already in its runs.csv",
    )
    existing.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the results in a non-empty --out (its earlier outputs are deleted)",
    )
    compare.add_argument(
        "--in-process",
        action="store_true",
        help="train every model in this process (faster start; the memory column then "
        "shows this process's peak rather than each model's own)",
    )
    return parser


def _error(message: str) -> int:
    print(f"pyg-tabular compare: error: {message}", file=sys.stderr)
    return 2


def _check_source(args: argparse.Namespace) -> str | None:
    if args.data is None:
        for option in ("target", "task", "categorical", "drop"):
            if getattr(args, option) is not None:
                return f"--{option} applies to --data only"
        if args.dataset is None:
            args.dataset = DEFAULT_DATASET
        return None
    if args.dataset is not None:
        return "pass either --dataset or --data, not both"
    if args.target is None:
        return "--data needs --target COLUMN, the column to predict"
    if args.data.suffix.lower() not in TABLE_SUFFIXES:
        return f"--data must be a .csv or .parquet file (got {str(args.data)!r})"
    if not args.data.is_file():
        return f"--data file {str(args.data)!r} does not exist"
    return None


def _config(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "dataset": args.dataset,
        "data": None if args.data is None else str(args.data.resolve()),
        "target": args.target,
        "task": args.task,
        "categorical": args.categorical,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "max_rows": args.max_rows,
        "time_budget": args.time_budget,
        "numeric_embedding": args.numeric_embedding,
        "patience": args.patience,
        "drop": args.drop,
    }


def _prepare_out(args: argparse.Namespace) -> str | None:
    r"""Checks and readies --out before any training; returns an error or None."""
    from pyg_tabular.compare import OUTPUT_FILES

    out: Path = args.out
    if out.exists() and not out.is_dir():
        return f"--out {str(out)!r} exists and is not a folder"
    if out.is_dir() and any(out.iterdir()):
        if not (args.resume or args.overwrite):
            return (
                f"--out {str(out)!r} is not empty; pass --resume to continue the runs "
                "in it or --overwrite to replace them"
            )
        if args.resume and (out / "config.json").exists():
            try:
                earlier = json.loads((out / "config.json").read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                return f"cannot read {str(out / 'config.json')!r} to resume: {error}"
            current = _config(args)
            earlier = {**_CONFIG_DEFAULTS, **earlier}
            changed = [k for k in _CONFIG_KEYS if earlier.get(k) != current[k]]
            if changed:
                shown = ", ".join(f"{k}: {earlier.get(k)!r} -> {current[k]!r}" for k in changed)
                return f"--resume needs the settings of the runs in {str(out)!r} ({shown})"
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as error:
        return f"--out {str(out)!r} is not a writable folder: {error}"
    if args.overwrite:
        for name in (*OUTPUT_FILES, "config.json"):
            (out / name).unlink(missing_ok=True)
    from pyg_tabular.compare.report import write_text_atomic

    write_text_atomic(out / "config.json", json.dumps(_config(args), indent=2) + "\n")
    return None


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _table_source(args: argparse.Namespace, **columns: Any) -> Any:
    r"""--data as a task source a worker process can pickle."""
    from pyg_tabular import compare

    return functools.partial(
        compare.load_table_task, str(args.data), args.target, task=args.task, **columns
    )


def _load_first(source: Any, args: argparse.Namespace) -> Any:
    r"""The task of seed 0; pyg_tabular's warnings about it (columns left
    out) are printed as the command's own, once, rather than with a source
    line; other libraries' warnings go on as they would have."""
    from pyg_tabular import compare

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        task = compare.load_source(source, seed=0, max_rows=args.max_rows)
    package = str(Path(__file__).resolve().parent)
    for warning in caught:
        if str(Path(warning.filename).resolve()).startswith(package):
            print(f"pyg-tabular compare: warning: {warning.message}", file=sys.stderr)
        else:
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    return task


def _compare(args: argparse.Namespace) -> int:
    problem = _check_source(args)
    if problem is None and args.in_process and args.jobs > 1:
        problem = "--jobs runs each model in its own process; it cannot go with --in-process"
    if problem is not None:
        return _error(problem)
    # The arguments stand: now the heavy imports.
    import torch

    from pyg_tabular import compare

    if args.models is None:
        args.models = _model_list(DEFAULT_MODELS)
    if args.graphs is not None:
        try:
            args.models = compare.expand_graphs(args.models, args.graphs)
        except ValueError as error:
            return _error(str(error))
    torch.set_num_threads(args.threads)
    source: compare.runner.TaskSource
    if args.data is not None:
        source = _table_source(args, categorical=args.categorical, drop=args.drop)
    else:
        source = args.dataset
    try:
        task = _load_first(source, args)
    except (ValueError, ImportError, OSError) as error:
        return _error(str(error))
    if args.data is not None:
        # Every later load (other seeds, worker processes) takes the columns
        # this one settled, and warns no more.
        categorical = task.feature_names[task.num_numeric :]
        source = _table_source(args, categorical=categorical, drop=task.dropped)
    # Checked once the data is known to load, and before any training: a
    # mistake in the arguments never costs the results already in --out.
    problem = _prepare_out(args)
    if problem is not None:
        return _error(problem)
    log = compare.RunLog(args.out / "runs.csv")
    try:
        earlier = log.read()
    except (ValueError, KeyError, OSError) as error:
        return _error(f"cannot resume from {str(log.path)!r}: {error}")
    wanted = {(name, seed) for name in args.models for seed in range(args.seeds)}
    results = [r for r in earlier if (r.model, r.seed) in wanted]
    done = {(r.model, r.seed) for r in results}
    budget = f"<= {_plural(args.epochs, 'epoch')}"
    if args.time_budget is not None:
        budget += f" or {args.time_budget:g} s of training"
    print(
        f"dataset {task.name}: {task.kind}, {_plural(task.train.x.size(1), 'feature')} "
        f"({len(task.cardinalities)} categorical), "
        f"{task.train.x.size(0)}/{task.val.x.size(0)}/{task.test.x.size(0)} "
        f"train/val/test rows; {_plural(args.seeds, 'seed')}, {budget} per run, "
        f"{args.numeric_embedding} numeric embedding"
        + (f"; {_plural(len(done), 'run')} already in {log.path}" if done else ""),
        flush=True,
    )

    started = time.perf_counter()
    pending = [
        (seed, name)
        for seed in range(args.seeds)
        for name in args.models
        if (name, seed) not in done
    ]
    options: dict[str, Any] = dict(
        epochs=args.epochs,
        batch_size=args.batch_size,
        patience=args.patience,
        time_budget=args.time_budget,
        numeric_embedding=args.numeric_embedding,
    )
    loaded = {0: task}  # the seed that drew `task`'s split
    display = compare.ProgressDisplay()

    def run(seed: int, name: str) -> Any:
        on_epoch = display.start(seed, name, args.epochs)
        try:
            if not args.in_process:
                return compare.train_isolated(
                    name,
                    source,
                    seed=seed,
                    max_rows=args.max_rows,
                    threads=args.threads,
                    on_epoch=on_epoch,
                    **options,
                )
            if seed not in loaded:
                loaded.clear()
                loaded[seed] = compare.load_source(source, seed=seed, max_rows=args.max_rows)
            return compare.train_one(name, loaded[seed], seed=seed, on_epoch=on_epoch, **options)
        finally:
            display.finish(seed, name)

    def finished(seed: int, name: str, outcome: Any) -> None:
        if isinstance(outcome, Exception):  # one failed run must not cost the others
            failures.append(f"{name} (seed {seed}): {type(outcome).__name__}: {outcome}")
            print(f"  seed {seed} {name:>14}: FAILED: {outcome}", file=sys.stderr)
            return
        log.append(outcome)
        results.append(outcome)
        shown = ", ".join(f"{k}={v:.4f}" for k, v in outcome.metrics.items())
        unit = "iteration" if name in compare.SKLEARN_MODELS else "epoch"
        stop = "" if outcome.stopped_by is None else f", stopped by {outcome.stopped_by}"
        display.write(
            f"  seed {seed} {name:>14}: {shown} ({_plural(outcome.epochs_run, unit)}{stop}, "
            f"{outcome.peak_mb:.0f} MiB peak)"
        )

    failures: list[str] = []
    interrupted = False
    try:
        compare.run_all(pending, run, finished, jobs=args.jobs)
    except KeyboardInterrupt:
        interrupted = True
        # runs.csv is the record: a run saved just before the interrupt, and not
        # yet announced or collected, belongs in the summary too.
        results = [r for r in log.read() if (r.model, r.seed) in wanted]
        print(
            f"\ninterrupted: {_plural(len(results), 'finished run')} saved in {log.path}; "
            "rerun with --resume to finish",
            file=sys.stderr,
            flush=True,
        )

    _report(args, task, results, started)
    if interrupted:
        return INTERRUPTED
    if failures:
        print("failed runs:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return 0


def _report(args: argparse.Namespace, task: Any, results: list[Any], started: float) -> None:
    from pyg_tabular import compare

    if not results:
        return
    order = {name: i for i, name in enumerate(args.models)}
    results = sorted(results, key=lambda r: (r.seed, order.get(r.model, len(order))))
    table = compare.format_table(compare.summarize(results, task.kind))
    print()
    print(table)
    paired = compare.paired_table(results, task.kind)
    if paired:
        print()
        print(compare.format_table(paired))
    print(f"\ntotal {time.perf_counter() - started:.1f} s")
    written = compare.write_summaries(
        args.out,
        results,
        kind=task.kind,
        title=task.name,
        feature_names=task.feature_names,
        attention_models=compare.ATTENTION_MODELS,
    )
    print(f"wrote runs.csv, {', '.join(written)} to {args.out}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pyg-tabular`` console script; returns the exit status."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit_:  # argparse's own errors (status 2) and --help (0)
        return exit_.code if isinstance(exit_.code, int) else 2
    if args.command == "compare":
        return _compare(args)
    raise AssertionError(f"unhandled command {args.command}")  # argparse guards this


if __name__ == "__main__":
    raise SystemExit(main())
