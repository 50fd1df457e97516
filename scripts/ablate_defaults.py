"""The ablation that decides the estimators' defaults: each regularisation
lever alone on top of today's default, then the best combination of them,
against HistGradientBoosting on the same splits.

Protocol. For each table and seed ``s``, the full table is split once, 80%
training and 20% test, stratified by class for classification, drawn with
seed ``s``: every configuration and HistGradientBoosting see the same rows.
The estimator (``FeatureGraphClassifier`` / ``FeatureGraphRegressor`` with
``random_state=s``) fits the 80% and holds its own ``validation_fraction`` of
it out for early stopping, the same rows for every configuration;
HistGradientBoosting fits the same 80% with early stopping on the same
fraction held out (its own draw), native categories, and at most
``HGB_MAX_ITER`` iterations with a patience of ``HGB_PATIENCE`` (those of
``pyg-tabular compare``). Both are scored on the 20%: accuracy (and log
loss) for classification, RMSE in the target's units (and R²) for
regression. Differences between two configurations are paired by seed, with
a Student-t 95% interval (``pyg_tabular.run_result.paired_difference``).

Phases. First ``default`` (the estimators' defaults before the ablation,
:data:`BASELINE`) and each lever of :data:`LEVERS` alone on top of it. Then
``combined``: every lever whose mean relative gain over the tables is
positive and that loses on no table (a paired interval below zero),
together. A lever that does not apply to a task
(label smoothing on a regression table) is not fitted there.

    python scripts/ablate_defaults.py --out docs/results/ablation --jobs 2
    python scripts/ablate_defaults.py --datasets wine,diabetes --seeds 2 \\
        --epochs 2 --time-budget 10 --out runs/ablation-smoke       # smoke run
    python scripts/ablate_defaults.py --datasets breast_cancer,wine,diabetes,digits \\
        --levers "" --combination docs/results/ablation/summary.json --out runs/others

The last form checks a combination chosen on the four tables on other ones:
``--combination`` fits the combination of an earlier run's ``summary.json``
beside ``default`` and HistGradientBoosting instead of choosing one.

Writes ``fits.csv`` (one row per fit, appended as each ends, so an
interrupted run keeps its fits and ``--resume`` skips them), ``settings.json``
and ``summary.json`` (per table and configuration: the mean metric, the
paired differences from ``default`` and from ``hgb``, the epochs and why
training stopped; per lever: its gain and whether it joined the
combination). ``--jobs 2 --threads 1`` runs two fits side by side, one
thread each.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

#: The levers, each with the value it is tried at; what a lever leaves out is
#: the estimators' default.
LEVERS: dict[str, dict[str, Any]] = {
    "ensemble": {"ensemble_size": 32},
    "cosine": {"lr_schedule": "cosine", "epochs": 50},
    "ema": {"ema_decay": 0.999},
    "smoothing": {"label_smoothing": 0.1},
    "robust": {"scaling": "robust"},
    "tree-bins": {"binning": "tree"},
    "dropout": {"dropout": 0.1},
}
#: The defaults this ablation started from, written out: every fit starts
#: from them, so that ``default`` keeps meaning the same estimator once the
#: combination the ablation picked has become the shipped default.
BASELINE: dict[str, Any] = {
    "ensemble_size": 1,
    "lr_schedule": None,
    "epochs": 100,
    "ema_decay": None,
    "label_smoothing": 0.0,
    "scaling": "standard",
    "binning": "quantile",
    "dropout": 0.0,
}
#: Options that only classification has; a regression table leaves them out.
CLASSIFICATION_ONLY = ("label_smoothing",)
DEFAULT, COMBINED, HGB = "default", "combined", "hgb"
#: The four tables of the issue that set the defaults.
DATASETS = ("california", "adult", "acs_employment", "diamonds")
#: The ablation's own settings of every fit.
SHARED: dict[str, Any] = {"progress": False}
#: The rule that picks the combination, as the docs quote it.
RULE = (
    "a lever joins the combination when its relative gain over the default, averaged over "
    "the tables, is positive and no table shows a loss whose paired 95% interval excludes zero"
)
#: The rule when ``--combination`` gives the combination.
GIVEN_RULE = "the combination was chosen on other tables (--combination) and is only checked here"
FIELDS = [
    "dataset",
    "config",
    "seed",
    "metric",
    "value",
    "metric2",
    "value2",
    "epochs",
    "best_epoch",
    "stop_reason",
    "seconds",
    "options",
]
#: The primary and the secondary test metric of each task kind, and whether
#: higher is better for the primary.
METRICS = {
    "regression": ("rmse", "r2", False),
    "binary": ("accuracy", "log_loss", True),
    "multiclass": ("accuracy", "log_loss", True),
}


# --------------------------------------------------------------------------- #
# Fitting (in this process or in a worker)
# --------------------------------------------------------------------------- #

_SPLITS: dict[tuple[str, int, int | None], dict[str, Any]] = {}


def split_of(dataset: str, seed: int, max_rows: int | None = None) -> dict[str, Any]:
    r"""The 80/20 split of :obj:`dataset` for :obj:`seed` (cached per process):
    training and test features (numerics, then category codes), targets, the
    categorical columns and the task kind."""
    key = (dataset, seed, max_rows)
    if key not in _SPLITS:
        from pyg_tabular.datasets import load_dataset

        table = load_dataset(dataset, split=(0.8, 0.0, 0.2), seed=seed, dtype=torch.float64)
        assert table.target is not None
        parts = {}
        for part in ("train", "test"):
            rows = table.index(part)
            if max_rows is not None:
                rows = rows[: max(2, int(max_rows * rows.numel() / len(table)))]
            parts[part] = (table.x[rows].numpy(), table.target[rows].numpy())
        _SPLITS[key] = {
            "train": parts["train"],
            "test": parts["test"],
            "categorical": list(range(table.num_numeric, table.num_features)),
            "kind": table.task,
        }
    return _SPLITS[key]


def options_for(options: dict[str, Any], kind: str) -> dict[str, Any] | None:
    r""":obj:`options` as they apply to a :obj:`kind` task; :obj:`None` when
    nothing of them applies (the fit would be the default's)."""
    if kind == "regression":
        kept = {k: v for k, v in options.items() if k not in CLASSIFICATION_ONLY}
        if options and not kept:
            return None
        return kept
    return dict(options)


def _score(kind: str, truth: np.ndarray, predicted: np.ndarray, proba: Any) -> dict[str, float]:
    from sklearn import metrics

    if kind == "regression":
        return {
            "rmse": float(np.sqrt(metrics.mean_squared_error(truth, predicted))),
            "r2": float(metrics.r2_score(truth, predicted)),
        }
    return {
        "accuracy": float(metrics.accuracy_score(truth, predicted)),
        "log_loss": float(metrics.log_loss(truth, proba, labels=list(range(proba.shape[1])))),
    }


def _row(
    dataset: str, config: str, seed: int, kind: str, scores: dict[str, float], **fields: Any
) -> dict[str, Any]:
    metric, metric2, _ = METRICS[kind]
    return {
        "dataset": dataset,
        "config": config,
        "seed": seed,
        "metric": metric,
        "value": f"{scores[metric]:.6f}",
        "metric2": metric2,
        "value2": f"{scores[metric2]:.6f}",
        **fields,
    }


def fit_estimator(
    dataset: str, config: str, options: dict[str, Any], seed: int, settings: dict[str, Any]
) -> dict[str, Any]:
    r"""Fits the estimator with :obj:`options` on the split of :obj:`seed`; the row of fits.csv."""
    from pyg_tabular.estimators import FeatureGraphClassifier, FeatureGraphRegressor

    split = split_of(dataset, seed, settings["max_rows"])
    kind = split["kind"]
    baseline = options_for(BASELINE, kind) or {}
    params = {**SHARED, **baseline, **options, "random_state": seed}
    params["categorical_features"] = split["categorical"] or None
    if settings["epochs"] is not None:
        params["epochs"] = min(int(params.get("epochs", settings["epochs"])), settings["epochs"])
    if settings["time_budget"] is not None:
        params["time_budget"] = settings["time_budget"]
    model: Any = (FeatureGraphRegressor if kind == "regression" else FeatureGraphClassifier)(
        **params
    )
    (x, y), (x_test, y_test) = split["train"], split["test"]
    start = time.perf_counter()
    model.fit(x, y)
    seconds = time.perf_counter() - start
    proba = None if kind == "regression" else model.predict_proba(x_test)
    scores = _score(kind, y_test, model.predict(x_test), proba)
    return _row(
        dataset,
        config,
        seed,
        kind,
        scores,
        epochs=model.n_epochs_,
        best_epoch=model.best_epoch_,
        stop_reason=model.stop_reason_,
        seconds=f"{seconds:.1f}",
        options=json.dumps(options, sort_keys=True),
    )


def fit_hgb(dataset: str, seed: int, settings: dict[str, Any]) -> dict[str, Any]:
    r"""HistGradientBoosting on the same split, early-stopped on its own held-out fraction."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    from pyg_tabular.compare.baselines import HGB_MAX_ITER, HGB_PATIENCE

    split = split_of(dataset, seed, settings["max_rows"])
    kind = split["kind"]
    (x, y), (x_test, y_test) = split["train"], split["test"]
    mask = [i in split["categorical"] for i in range(x.shape[1])]
    options = {
        "early_stopping": True,
        "validation_fraction": settings["validation_fraction"],
        "n_iter_no_change": HGB_PATIENCE,
        "max_iter": HGB_MAX_ITER,
        "categorical_features": mask if any(mask) else None,
        "random_state": seed,
    }
    model: Any = (
        HistGradientBoostingRegressor if kind == "regression" else HistGradientBoostingClassifier
    )(**options)
    start = time.perf_counter()
    model.fit(x, y)
    seconds = time.perf_counter() - start
    proba = None if kind == "regression" else model.predict_proba(x_test)
    scores = _score(kind, y_test, model.predict(x_test), proba)
    stopped = "early_stopping" if model.n_iter_ < HGB_MAX_ITER else "max_epochs"
    return _row(
        dataset,
        HGB,
        seed,
        kind,
        scores,
        epochs=model.n_iter_,
        best_epoch=model.n_iter_,
        stop_reason=stopped,
        seconds=f"{seconds:.1f}",
        options=json.dumps({"validation_fraction": settings["validation_fraction"]}),
    )


def _job(job: tuple[str, str, dict[str, Any], int, dict[str, Any]]) -> dict[str, Any]:
    dataset, config, options, seed, settings = job
    if config == HGB:
        return fit_hgb(dataset, seed, settings)
    return fit_estimator(dataset, config, options, seed, settings)


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)


def _report(job: tuple[Any, ...], error: Exception) -> None:
    dataset, config, _, seed, _ = job
    print(f"FAILED {config} on {dataset} (seed {seed}): {type(error).__name__}: {error}")


def run_jobs(
    jobs: list[tuple[str, str, dict[str, Any], int, dict[str, Any]]],
    finished: Callable[[dict[str, Any]], None],
    *,
    processes: int,
    threads: int,
    work: Callable[[tuple[Any, ...]], dict[str, Any]] = _job,
) -> int:
    r"""Runs :obj:`jobs` (``(dataset, config, options, seed, settings)``)
    through :obj:`work`, :obj:`processes` at a time (fresh processes with
    :obj:`threads` torch threads each; in this process when one), calling
    :obj:`finished` with each row as it ends. Returns the number that failed.
    :obj:`work` must be a module-level function, which a fresh process can
    import."""
    failed = 0
    if processes == 1:
        for job in jobs:
            try:
                finished(work(job))
            except Exception as error:  # one failed fit must not stop the rest
                failed += 1
                _report(job, error)
        return failed
    import multiprocessing
    import signal
    import threading
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        processes, mp_context=context, initializer=_init_worker, initargs=(threads,)
    )
    futures = {pool.submit(work, job): job for job in jobs}
    # A plain `kill` must end the workers as well: left alone, they would
    # finish their fits unseen and load the machine under the next run.
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm) if main_thread else None
    try:
        for future in as_completed(futures):
            job = futures[future]
            try:
                finished(future.result())
            except Exception as error:
                failed += 1
                _report(job, error)
    except BaseException:
        # An interrupt: drop the fits not started and end the running ones
        # (the rows already written stay, for --resume).
        pool.shutdown(wait=False, cancel_futures=True)
        for child in multiprocessing.active_children():
            child.terminate()
        raise
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
    pool.shutdown()
    return failed


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


# --------------------------------------------------------------------------- #
# Summary: paired differences and the combination
# --------------------------------------------------------------------------- #


def paired_rows(rows: list[dict[str, Any]], a: str, b: str, metric: str) -> dict[str, Any] | None:
    r"""The paired difference ``a - b`` over the seeds of :obj:`rows` (fits.csv
    rows) as a dict, or :obj:`None` when the two share no seed."""
    from pyg_tabular.run_result import RunResult, paired_difference

    runs = [
        RunResult(
            model=r["config"],
            seed=int(r["seed"]),
            metrics={metric: float(r["value"])},
            params=0,
            seconds_per_epoch=math.nan,
            rows_per_second=math.nan,
            epochs_run=int(r["epochs"]),
        )
        for r in rows
        if r["config"] in (a, b)
    ]
    try:
        difference = paired_difference(runs, a, b, metric)
    except ValueError:  # no shared seed
        return None
    return {
        "mean": difference.mean,
        "low": difference.low,
        "high": difference.high,
        "seeds": difference.seeds,
        "excludes_zero": difference.excludes_zero,
    }


def summarize(
    rows: list[dict[str, Any]],
    levers: Iterable[str],
    given: dict[str, Any] | None = None,
) -> dict[str, Any]:
    r"""Per table and configuration: the metric over seeds, paired differences
    from ``default`` and ``hgb``, epochs and stop reasons; per lever: its mean
    relative gain over the tables, the tables it loses on, and whether it
    joins the combination (:data:`RULE`). A :obj:`given` combination (the
    ``combined`` entry of an earlier summary) is kept instead of choosing one."""
    datasets: dict[str, Any] = {}
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        mine = [r for r in rows if r["dataset"] == dataset]
        metric = mine[0]["metric"]
        higher = next(h for m, _, h in METRICS.values() if m == metric)
        configs: dict[str, Any] = {}
        present = {r["config"] for r in mine}
        order = [DEFAULT, *LEVERS, COMBINED, HGB]
        for config in sorted(present, key=lambda c: order.index(c) if c in order else len(order)):
            fits = [r for r in mine if r["config"] == config]
            values = [float(r["value"]) for r in fits]
            stops: dict[str, int] = {}
            for r in fits:
                stops[r["stop_reason"]] = stops.get(r["stop_reason"], 0) + 1
            configs[config] = {
                "seeds": len(fits),
                "mean": statistics.fmean(values),
                "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                "mean2": statistics.fmean(float(r["value2"]) for r in fits),
                "epochs": [int(r["epochs"]) for r in fits],
                "best_epochs": [int(r["best_epoch"]) for r in fits],
                "stops": stops,
                "seconds": [float(r["seconds"]) for r in fits],
                "vs_default": (
                    None if config == DEFAULT else paired_rows(mine, config, DEFAULT, metric)
                ),
                "vs_hgb": None if config == HGB else paired_rows(mine, config, HGB, metric),
            }
        datasets[dataset] = {
            "metric": metric,
            "metric2": mine[0]["metric2"],
            "higher_is_better": higher,
            "configs": configs,
        }
    chosen: dict[str, Any] = {}
    for lever in levers:
        gains, losses = [], []
        for dataset, entry in datasets.items():
            config = entry["configs"].get(lever)
            default = entry["configs"].get(DEFAULT)
            if config is None or default is None or config["vs_default"] is None:
                continue
            sign = 1.0 if entry["higher_is_better"] else -1.0
            difference = config["vs_default"]
            gains.append(sign * difference["mean"] / abs(default["mean"]))
            if difference["excludes_zero"] and sign * difference["mean"] < 0:
                losses.append(dataset)
        gain = statistics.fmean(gains) if gains else None
        chosen[lever] = {
            "options": LEVERS[lever],
            "tables": len(gains),
            "gain": gain,
            "loses_on": losses,
            "chosen": gain is not None and gain > 0 and not losses,
        }
    combination: dict[str, Any] = {}
    for lever, entry in chosen.items():
        if entry["chosen"]:
            combination.update(LEVERS[lever])
    combined = {
        "levers": [lever for lever, entry in chosen.items() if entry["chosen"]],
        "options": combination,
    }
    if given is not None:
        combined = {"levers": list(given["levers"]), "options": dict(given["options"])}
    return {
        "datasets": datasets,
        "levers": chosen,
        "combined": combined,
        "rule": RULE if given is None else GIVEN_RULE,
    }


# --------------------------------------------------------------------------- #
# Command line
# --------------------------------------------------------------------------- #


def _read(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _pending(
    rows: list[dict[str, Any]],
    configs: dict[str, dict[str, Any]],
    datasets: list[str],
    seeds: int,
    settings: dict[str, Any],
) -> list[tuple[str, str, dict[str, Any], int, dict[str, Any]]]:
    r"""The fits of :obj:`configs` not in :obj:`rows`; a row of the same
    configuration with other options is an error (the results would mix)."""
    done = {(r["dataset"], r["config"], int(r["seed"])): r["options"] for r in rows}
    jobs = []
    for dataset in datasets:
        kind = split_of(dataset, 0, settings["max_rows"])["kind"]
        for seed in range(seeds):
            for config, options in configs.items():
                applied = options if config == HGB else options_for(options, kind)
                if applied is None:
                    continue
                key = (dataset, config, seed)
                if key in done:
                    expected = done[key] if config == HGB else json.dumps(applied, sort_keys=True)
                    if done[key] != expected:
                        raise SystemExit(
                            f"fits.csv holds {config!r} on {dataset} (seed {seed}) with the "
                            f"options {done[key]}, not {expected}: write to a new --out"
                        )
                    continue
                jobs.append((dataset, config, applied, seed, settings))
    return jobs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--levers", default=",".join(LEVERS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--epochs", type=int, default=None, help="cap every fit's epochs (smoke runs)"
    )
    parser.add_argument("--time-budget", type=float, default=900.0, help="seconds per fit")
    parser.add_argument("--max-rows", type=int, default=None, help="subsample (smoke runs)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per fit")
    parser.add_argument("--jobs", type=int, default=1, help="fits side by side")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--resume", action="store_true", help="skip fits already in fits.csv")
    parser.add_argument(
        "--combination",
        type=Path,
        default=None,
        metavar="SUMMARY",
        help="fit the combination of an earlier ablation's summary.json instead of choosing "
        "one from these tables (checks the defaults chosen on some tables on others)",
    )
    args = parser.parse_args(argv)
    levers = args.levers.split(",") if args.levers else []
    unknown = [lever for lever in levers if lever not in LEVERS]
    if unknown:
        parser.error(f"--levers: unknown {unknown}; choose from {list(LEVERS)}")
    if args.seeds < 2:
        parser.error(f"--seeds must be at least 2 for paired intervals (got {args.seeds})")
    if args.jobs < 1 or args.threads < 1:
        parser.error(f"--jobs and --threads must be positive (got {args.jobs}, {args.threads})")
    datasets = args.datasets.split(",")
    given = None
    if args.combination is not None:
        if not args.combination.is_file():
            parser.error(f"--combination: no summary.json at {str(args.combination)!r}")
        given = json.loads(args.combination.read_text())["combined"]
        if not given["options"]:
            parser.error(f"--combination: {str(args.combination)!r} chose no lever")
    torch.set_num_threads(args.threads)

    from pyg_tabular.estimators import FeatureGraphClassifier

    settings = {
        "epochs": args.epochs,
        "time_budget": args.time_budget,
        "max_rows": args.max_rows,
        "validation_fraction": FeatureGraphClassifier().validation_fraction,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "fits.csv"
    started = path.exists() and path.stat().st_size > 0
    if started and not args.resume:
        parser.error(f"--out {str(args.out)!r} holds a fits.csv; pass --resume to continue it")
    rows = _read(path)

    with path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, FIELDS)
        if not started:
            writer.writeheader()
            handle.flush()

        def finished(row: dict[str, Any]) -> None:
            writer.writerow(row)
            handle.flush()
            rows.append(row)
            print(", ".join(f"{k}={v}" for k, v in row.items() if k != "options"), flush=True)

        first = {DEFAULT: {}, HGB: {}, **{lever: LEVERS[lever] for lever in levers}}
        jobs = _pending(rows, first, datasets, args.seeds, settings)
        failed = run_jobs(jobs, finished, processes=args.jobs, threads=args.threads)
        summary = summarize([r for r in rows if r["dataset"] in datasets], levers, given)
        combined = summary["combined"]["options"]
        if failed:
            print(f"{failed} fit(s) failed; rerun with --resume before the combination is chosen")
        elif combined:
            jobs = _pending(rows, {COMBINED: combined}, datasets, args.seeds, settings)
            failed = run_jobs(jobs, finished, processes=args.jobs, threads=args.threads)
            summary = summarize([r for r in rows if r["dataset"] in datasets], levers, given)
        else:
            print("no lever helped: there is no combination to fit")

    import platform

    (args.out / "settings.json").write_text(
        json.dumps(
            {
                # Without --resume: the command that reruns the whole ablation.
                "command": "python scripts/ablate_defaults.py "
                + " ".join(a for a in (sys.argv[1:] if argv is None else argv) if a != "--resume"),
                "datasets": datasets,
                "levers": {lever: LEVERS[lever] for lever in levers},
                "baseline": BASELINE,
                "combination_from": None if given is None else given["levers"],
                "seeds": args.seeds,
                "split": "80/20 train/test split (stratified by class for classification)",
                **settings,
                "threads": args.threads,
                "jobs": args.jobs,
                "torch": torch.__version__,
                "cpu": platform.processor() or platform.machine(),
            },
            indent=2,
        )
        + "\n"
    )
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    _print_summary(summary)
    return 1 if failed else 0


def _print_summary(summary: dict[str, Any]) -> None:
    for dataset, entry in summary["datasets"].items():
        print(f"\n{dataset} ({entry['metric']}, mean over seeds; difference from default):")
        for config, stats in entry["configs"].items():
            versus = stats["vs_default"]
            text = "" if versus is None else f"  {versus['mean']:+.4f}"
            if versus is not None and not math.isnan(versus["low"]):
                text += f" [{versus['low']:+.4f}, {versus['high']:+.4f}]"
            print(f"  {config:<12} {stats['mean']:.4f}{text}")
    combined = summary["combined"]
    print(f"\ncombination: {', '.join(combined['levers']) or 'none'} ({summary['rule']})")


if __name__ == "__main__":
    import signal

    # A scheduler's SIGTERM ends the running fits too, as an interrupt does.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    sys.exit(main())
