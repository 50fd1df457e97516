"""The sweep that chose the estimators' architecture (block, numeric
embedding, dropout); the regularisation levers on top of it are chosen by
``scripts/ablate_defaults.py``.

Fits FeatureGraphClassifier / FeatureGraphRegressor with each candidate
configuration on each named dataset (the same seeded 70/15/15 split as
``pyg-tabular compare``; the estimator holds its own validation part out of
the training rows), scores the test split, and ranks the configurations by
their mean rank over the datasets. There is no per-dataset tuning: one
configuration must serve every table.

    python scripts/sweep_defaults.py --out docs/results/sweep --jobs 2

Writes ``sweep.csv`` (one row per fit, appended as each ends, so an
interrupted sweep keeps its fits and ``--resume`` skips them: the metric,
the epochs run, the best epoch and why the fit stopped) and ``summary.csv``
(one row per configuration, best first: mean rank over the datasets, then
the mean distance from each dataset's best in percent, which breaks ties;
the mean metric per dataset; and, for every configuration after the first,
its paired difference from the first per dataset with a Student-t 95%
interval over the seeds, from ``scripts/ablate_defaults.py``).
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

# The ablation's job runner and paired differences serve the sweep as well.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from ablate_defaults import paired_rows, run_jobs  # noqa: E402

#: The candidates; what a candidate leaves out is the estimators' default
#: (the "feature-gat" layer, 32 channels, 2 layers, 4 heads, AdamW at 1e-3,
#: batch 256, patience 10). ``"default"`` is the estimators exactly as shipped.
CONFIGS: dict[str, dict[str, Any]] = {
    "residual-linear": {"block": "residual", "numeric_embedding": "linear", "dropout": 0.0},
    "residual-piecewise": {
        "block": "residual",
        "numeric_embedding": "piecewise-linear",
        "dropout": 0.0,
    },
    "transformer-linear": {"block": "transformer", "numeric_embedding": "linear", "dropout": 0.1},
    "transformer-piecewise": {
        "block": "transformer",
        "numeric_embedding": "piecewise-linear",
        "dropout": 0.1,
    },
    "transformer-periodic": {
        "block": "transformer",
        "numeric_embedding": "periodic",
        "dropout": 0.1,
    },
    "transformer-piecewise-cls": {
        "block": "transformer",
        "numeric_embedding": "piecewise-linear",
        "readout": "cls",
        "dropout": 0.1,
    },
    "default": {},
}

#: The sweep's own settings; the rest is the candidate's.
SHARED: dict[str, Any] = {"progress": False}

FIELDS = [
    "dataset",
    "config",
    "seed",
    "metric",
    "value",
    "fit_seconds",
    "epochs",
    "best_epoch",
    "stop_reason",
]


def fit_and_score(job: tuple[str, str, dict[str, Any], int, dict[str, Any]]) -> dict:
    r"""One candidate fitted on one table and seed, and its test score; a job
    of :func:`ablate_defaults.run_jobs`."""
    from pyg_tabular.compare import load_task
    from pyg_tabular.estimators import FeatureGraphClassifier, FeatureGraphRegressor

    dataset, config, options, seed, settings = job
    task = load_task(dataset, seed=seed, max_rows=settings["max_rows"])
    x = torch.cat([task.train.x, task.val.x]).numpy()
    y = torch.cat([task.train.y, task.val.y]).numpy()
    categorical = list(range(task.num_numeric, x.shape[1]))
    params = {
        **SHARED,
        **options,
        "time_budget": settings["time_budget"],
        "random_state": seed,
        "categorical_features": categorical or None,
    }
    # Without --epochs, the estimators' own cap: it is also the horizon of
    # their cosine schedule, so the candidates train as they would ship.
    if settings["epochs"] is not None:
        params["epochs"] = settings["epochs"]
    if task.kind == "regression":
        model: Any = FeatureGraphRegressor(**params)
    else:
        model = FeatureGraphClassifier(**params)
    start = time.perf_counter()
    model.fit(x, y)
    seconds = time.perf_counter() - start
    predicted = model.predict(task.test.x.numpy())
    truth = task.test.y.numpy()
    if task.kind == "regression":
        metric = "rmse"
        value = float(np.sqrt(np.mean((predicted - truth) ** 2)) * task.target_scale)
    else:
        metric = "accuracy"
        value = float(np.mean(predicted == truth))
    return {
        "dataset": dataset,
        "config": config,
        "seed": seed,
        "metric": metric,
        "value": f"{value:.6f}",
        "fit_seconds": f"{seconds:.1f}",
        "epochs": model.n_epochs_,
        "best_epoch": model.best_epoch_,
        "stop_reason": model.stop_reason_,
    }


def summarize(rows: list[dict]) -> list[dict]:
    r"""Mean metric per (config, dataset) and each config's mean rank over the datasets."""
    datasets = sorted({r["dataset"] for r in rows})
    configs = sorted({r["config"] for r in rows})
    means: dict[tuple[str, str], float] = {}
    for config in configs:
        for dataset in datasets:
            values = [
                float(r["value"]) for r in rows if r["config"] == config and r["dataset"] == dataset
            ]
            if values:
                means[config, dataset] = statistics.fmean(values)
    ranks: dict[str, list[float]] = {c: [] for c in configs}
    # How far each config is from the dataset's best, as a fraction of the
    # best: it breaks ties of mean rank by the size of the losses.
    gaps: dict[str, list[float]] = {c: [] for c in configs}
    for dataset in datasets:
        lower_is_better = any(r["metric"] == "rmse" for r in rows if r["dataset"] == dataset)
        scored = [(means[c, dataset], c) for c in configs if (c, dataset) in means]
        scored.sort(reverse=not lower_is_better)
        best = scored[0][0]
        for rank, (value, config) in enumerate(scored, start=1):
            ranks[config].append(rank)
            gaps[config].append(abs(value - best) / abs(best) if best else 0.0)
    summary = []
    for config in configs:
        row: dict[str, Any] = {
            "config": config,
            "mean_rank": f"{statistics.fmean(ranks[config]):.2f}" if ranks[config] else "",
            "mean_gap_pct": f"{100 * statistics.fmean(gaps[config]):.2f}" if gaps[config] else "",
        }
        for dataset in datasets:
            value = means.get((config, dataset))
            row[dataset] = "" if value is None else f"{value:.4f}"
        summary.append(row)
    summary.sort(key=lambda r: (float(r["mean_rank"] or "inf"), float(r["mean_gap_pct"] or "inf")))
    # Whether the order can be told from noise: each later configuration
    # against the first, paired by seed (the seeds share their splits).
    first = summary[0]["config"]
    for dataset in datasets:
        mine = [r for r in rows if r["dataset"] == dataset]
        for row in summary:
            d = None
            if row["config"] != first:
                d = paired_rows(mine, row["config"], first, mine[0]["metric"])
            row[f"{dataset} vs first"] = (
                "" if d is None else f"{d['mean']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]"
            )
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="california,adult,acs_employment,diamonds")
    parser.add_argument("--configs", default=",".join(c for c in CONFIGS if c != "default"))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--epochs", type=int, default=None, help="epoch cap (default: the estimators')"
    )
    parser.add_argument("--time-budget", type=float, default=300.0, help="seconds per fit")
    parser.add_argument("--max-rows", type=int, default=None, help="subsample (smoke runs)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per fit")
    parser.add_argument("--jobs", type=int, default=1, help="fits side by side")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--resume", action="store_true", help="skip fits already in sweep.csv")
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.threads < 1:
        parser.error(f"--jobs and --threads must be positive (got {args.jobs}, {args.threads})")
    torch.set_num_threads(args.threads)
    configs = args.configs.split(",")
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        parser.error(f"--configs: unknown {unknown}; choose from {list(CONFIGS)}")
    per_fit = {"epochs": args.epochs, "time_budget": args.time_budget, "max_rows": args.max_rows}

    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "sweep.csv"
    rows: list[dict] = []
    if path.exists():
        if not args.resume:
            parser.error(f"--out {str(args.out)!r} holds a sweep.csv; pass --resume to continue it")
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    done = {(r["dataset"], r["config"], int(r["seed"])) for r in rows}
    jobs = [
        (dataset, config, CONFIGS[config], seed, per_fit)
        for dataset in args.datasets.split(",")
        for seed in range(args.seeds)
        for config in configs
        if (dataset, config, seed) not in done
    ]
    with path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, FIELDS)
        if not rows:
            writer.writeheader()
            handle.flush()

        def finished(row: dict[str, Any]) -> None:
            writer.writerow(row)
            handle.flush()
            rows.append(row)
            print(", ".join(f"{k}={v}" for k, v in row.items()), flush=True)

        failed = run_jobs(
            jobs, finished, processes=args.jobs, threads=args.threads, work=fit_and_score
        )
    if failed:
        print(f"{failed} fit(s) failed; rerun with --resume")
        return 1

    import platform

    settings = {
        # Without --resume: the command that reruns the whole sweep.
        "command": "python scripts/sweep_defaults.py "
        + " ".join(a for a in (sys.argv[1:] if argv is None else argv) if a != "--resume"),
        "datasets": args.datasets.split(","),
        "configs": {name: CONFIGS[name] for name in configs},
        "seeds": args.seeds,
        "epochs": args.epochs,
        "time_budget": args.time_budget,
        "max_rows": args.max_rows,
        "threads": args.threads,
        "jobs": args.jobs,
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
    }
    (args.out / "settings.json").write_text(json.dumps(settings, indent=2) + "\n")
    summary = summarize(rows)
    with (args.out / "summary.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, list(summary[0]))
        writer.writeheader()
        writer.writerows(summary)
    print("\nmean rank over datasets, then mean % from each dataset's best (lower is better):")
    for row in summary:
        print(f"  {row['config']:<28} {row['mean_rank']:>5} {row['mean_gap_pct']:>6}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
