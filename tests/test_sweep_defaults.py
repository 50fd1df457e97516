"""The defaults sweep: it reruns, it ranks as documented, and the estimators'
defaults are the configuration it ranks first."""

import csv
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _sweep():
    spec = importlib.util.spec_from_file_location(
        "sweep_defaults", ROOT / "scripts/sweep_defaults.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_estimators_defaults_are_the_shipped_sweeps_winner():
    from pyg_tabular.estimators import FeatureGraphClassifier, FeatureGraphRegressor

    sweep = _sweep()
    with open(ROOT / "docs/results/sweep/summary.csv", newline="") as handle:
        summary = list(csv.DictReader(handle))
    with open(ROOT / "docs/results/sweep/sweep.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    # The shipped summary is what the shipped fits give.
    assert [r["config"] for r in sweep.summarize(rows)] == [r["config"] for r in summary]
    winner = sweep.CONFIGS[summary[0]["config"]]
    assert winner
    for estimator in (FeatureGraphClassifier(), FeatureGraphRegressor()):
        params = estimator.get_params()
        assert {k: params[k] for k in winner} == winner


def test_summary_ranks_by_mean_rank_then_by_distance_from_the_best():
    sweep = _sweep()

    def row(dataset, config, value, metric, seed="0"):
        return {
            "dataset": dataset,
            "config": config,
            "seed": seed,
            "metric": metric,
            "value": value,
            "epochs": "5",
        }

    rows = [
        row("a", "x", "0.50", "rmse"),
        row("a", "y", "0.60", "rmse"),
        row("b", "x", "0.80", "accuracy"),
        row("b", "y", "0.81", "accuracy"),
    ]
    summary = sweep.summarize(rows)
    # Both have mean rank 1.5; x is 1.2% from b's best, y is 20% from a's.
    assert [r["mean_rank"] for r in summary] == ["1.50", "1.50"]
    assert [r["config"] for r in summary] == ["x", "y"]
    assert summary[0]["mean_gap_pct"] == f"{100 * (0.01 / 0.81) / 2:.2f}"
    # One seed: a difference but no interval.
    assert summary[1]["a vs first"] == "+0.1000 [+nan, +nan]"
    assert summary[0]["a vs first"] == ""


def test_summary_gives_each_later_config_its_paired_interval_against_the_first():
    from scipy import stats

    sweep = _sweep()

    def row(config, seed, value):
        return {"dataset": "a", "config": config, "seed": str(seed), "metric": "rmse"} | {
            "value": value,
            "epochs": "5",
        }

    x = [0.50, 0.52, 0.49]
    y = [0.53, 0.54, 0.53]
    rows = [row("x", s, str(v)) for s, v in enumerate(x)]
    rows += [row("y", s, str(v)) for s, v in enumerate(y)]
    first, second = sweep.summarize(rows)
    assert (first["config"], second["config"]) == ("x", "y")
    differences = [b - a for a, b in zip(x, y)]
    mean = sum(differences) / 3
    low, high = stats.t.interval(0.95, 2, loc=mean, scale=stats.sem(differences))
    assert second["a vs first"] == f"{mean:+.4f} [{low:+.4f}, {high:+.4f}]"


@pytest.mark.slow
def test_the_sweep_reruns_and_resumes(tmp_path):
    sweep = _sweep()
    arguments = ["--datasets", "wine", "--configs", "residual-linear,default", "--epochs", "2"]
    arguments += ["--seeds", "1", "--time-budget", "5", "--out", str(tmp_path)]
    assert sweep.main(arguments) == 0
    with open(tmp_path / "sweep.csv", newline="") as handle:
        fits = list(csv.DictReader(handle))
    assert [(r["dataset"], r["config"]) for r in fits] == [
        ("wine", "residual-linear"),
        ("wine", "default"),
    ]
    assert all(0.0 <= float(r["value"]) <= 1.0 and r["metric"] == "accuracy" for r in fits)
    # Every fit says how it ended.
    for fit in fits:
        assert 1 <= int(fit["best_epoch"]) <= int(fit["epochs"]) <= 2
        assert fit["stop_reason"] in ("early_stopping", "time_budget", "max_epochs")
    with pytest.raises(SystemExit):
        sweep.main(arguments)  # an existing sweep.csv needs --resume
    assert sweep.main([*arguments, "--resume"]) == 0  # nothing left to fit
    with open(tmp_path / "sweep.csv", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 2
