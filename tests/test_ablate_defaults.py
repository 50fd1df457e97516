"""The ablation of the defaults: its paired differences, the rule that picks the
combination, its splits, and a smoke run that resumes."""

import csv
import importlib.util
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]


def _ablation():
    spec = importlib.util.spec_from_file_location(
        "ablate_defaults", ROOT / "scripts/ablate_defaults.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ablation = _ablation()


def _row(dataset, config, seed, value, metric="accuracy"):
    return {
        "dataset": dataset,
        "config": config,
        "seed": str(seed),
        "metric": metric,
        "value": str(value),
        "metric2": "log_loss" if metric == "accuracy" else "r2",
        "value2": "0.5",
        "epochs": "10",
        "best_epoch": "7",
        "stop_reason": "early_stopping",
        "seconds": "1.0",
        "options": "{}",
    }


def _rows():
    # Accuracy on "a", RMSE on "b"; three seeds.
    rows = []
    default = {"a": [0.80, 0.82, 0.81], "b": [0.50, 0.52, 0.51]}
    shifts = {
        # better on both, clearly on a
        "ensemble": {"a": [0.02, 0.021, 0.019], "b": [-0.01, 0.0, -0.02]},
        # worse on b beyond its interval, better on a by more on average
        "robust": {"a": [0.05, 0.06, 0.04], "b": [0.01, 0.011, 0.009]},
        # worse on average
        "dropout": {"a": [-0.01, 0.0, -0.02], "b": [0.0, 0.01, -0.005]},
    }
    for dataset, metric in (("a", "accuracy"), ("b", "rmse")):
        for seed in range(3):
            rows.append(_row(dataset, "default", seed, default[dataset][seed], metric))
            rows.append(_row(dataset, "hgb", seed, default[dataset][seed] + 0.01, metric))
            for lever, shift in shifts.items():
                value = default[dataset][seed] + shift[dataset][seed]
                rows.append(_row(dataset, lever, seed, value, metric))
    return rows


def test_paired_differences_are_the_seedwise_t_intervals():
    summary = ablation.summarize(_rows(), ["ensemble", "robust", "dropout"])
    ensemble = summary["datasets"]["a"]["configs"]["ensemble"]["vs_default"]
    differences = [0.02, 0.021, 0.019]
    mean = statistics.fmean(differences)
    half = stats.t.ppf(0.975, 2) * statistics.stdev(differences) / np.sqrt(3)
    assert ensemble["mean"] == pytest.approx(mean)
    assert (ensemble["low"], ensemble["high"]) == pytest.approx((mean - half, mean + half))
    assert ensemble["excludes_zero"] and ensemble["seeds"] == 3
    hgb = summary["datasets"]["b"]["configs"]["default"]["vs_hgb"]
    assert hgb["mean"] == pytest.approx(-0.01)
    # The canonical order: default, the levers, hgb.
    assert list(summary["datasets"]["a"]["configs"]) == [
        "default",
        "ensemble",
        "robust",
        "dropout",
        "hgb",
    ]


def test_the_combination_takes_levers_that_gain_on_average_and_lose_nowhere():
    summary = ablation.summarize(_rows(), ["ensemble", "robust", "dropout"])
    levers = summary["levers"]
    # ensemble: +2.5% on a, +2% on b (RMSE lower): chosen.
    assert levers["ensemble"]["chosen"] and levers["ensemble"]["loses_on"] == []
    gain_a = 0.02 / 0.81
    gain_b = 0.01 / 0.51
    assert levers["ensemble"]["gain"] == pytest.approx((gain_a + gain_b) / 2)
    # robust gains on average, but loses on b beyond its interval: left out.
    assert levers["robust"]["gain"] > 0 and levers["robust"]["loses_on"] == ["b"]
    assert not levers["robust"]["chosen"]
    assert not levers["dropout"]["chosen"] and levers["dropout"]["gain"] < 0
    assert summary["combined"] == {"levers": ["ensemble"], "options": {"ensemble_size": 32}}


def test_levers_that_do_not_apply_to_regression_are_not_fitted():
    assert ablation.options_for({"label_smoothing": 0.1}, "regression") is None
    assert ablation.options_for({"label_smoothing": 0.1, "dropout": 0.1}, "regression") == {
        "dropout": 0.1
    }
    assert ablation.options_for({"label_smoothing": 0.1}, "binary") == {"label_smoothing": 0.1}
    assert ablation.options_for({}, "regression") == {}
    assert set(ablation.LEVERS) >= {"ensemble", "cosine", "ema", "smoothing", "robust", "tree-bins"}


def test_each_seed_has_one_stratified_80_20_split():
    first = ablation.split_of("breast_cancer", 0)
    again = ablation.split_of("breast_cancer", 0)
    other = ablation.split_of("breast_cancer", 1)
    assert first is again  # the same rows for every configuration
    (_, y), (x_test, y_test) = first["train"], first["test"]
    assert len(y_test) / (len(y) + len(y_test)) == pytest.approx(0.2, abs=0.01)
    assert abs(y.mean() - y_test.mean()) < 0.01  # stratified
    assert not np.array_equal(other["test"][0], x_test)  # each seed its own split
    assert first["kind"] == "binary" and first["categorical"] == []


@pytest.mark.slow
def test_a_smoke_run_records_every_fit_and_resumes(tmp_path):
    arguments = ["--datasets", "breast_cancer,diabetes", "--levers", "smoothing,robust"]
    arguments += ["--seeds", "2", "--epochs", "1", "--time-budget", "5", "--out", str(tmp_path)]
    ablation.main(arguments)
    with open(tmp_path / "fits.csv", newline="") as handle:
        fits = list(csv.DictReader(handle))
    configs = {(r["dataset"], r["config"]) for r in fits}
    assert {("diabetes", c) for c in ("default", "hgb", "robust")} <= configs
    assert {("breast_cancer", c) for c in ("default", "hgb", "smoothing", "robust")} <= configs
    assert ("diabetes", "smoothing") not in configs  # no label smoothing for regression
    for row in fits:
        assert row["stop_reason"] and int(row["epochs"]) >= 1 and float(row["seconds"]) >= 0
        assert int(row["best_epoch"]) <= int(row["epochs"])
        assert row["metric"] == ("rmse" if row["dataset"] == "diabetes" else "accuracy")
    summary = json.loads((tmp_path / "summary.json").read_text())
    settings = json.loads((tmp_path / "settings.json").read_text())
    assert set(summary["datasets"]) == {"breast_cancer", "diabetes"}
    assert settings["seeds"] == 2 and "--resume" not in settings["command"]
    with pytest.raises(SystemExit):
        ablation.main(arguments)  # an existing fits.csv needs --resume
    assert ablation.main([*arguments, "--resume"]) == 0  # nothing left to fit
    with open(tmp_path / "fits.csv", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == len(fits)
    # A lever whose options changed would mix two settings under one name.
    changed = dict(ablation.LEVERS, robust={"scaling": "robust", "dropout": 0.2})
    ablation.LEVERS = changed
    try:
        with pytest.raises(SystemExit, match="write to a new --out"):
            ablation.main([*arguments, "--resume"])
    finally:
        ablation.LEVERS = dict(changed, robust={"scaling": "robust"})
    with pytest.raises(SystemExit):
        ablation.main([*arguments[:-2], "--seeds", "1", "--out", str(tmp_path / "one")])
    # A run stopped before its first fit left the header alone: resuming it
    # does not write the header twice.
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "fits.csv").write_text(",".join(ablation.FIELDS) + "\n")
    few = ["--datasets", "diabetes", "--levers", "", "--seeds", "2", "--epochs", "1"]
    assert ablation.main([*few, "--out", str(fresh), "--resume"]) == 0
    lines = (fresh / "fits.csv").read_text().splitlines()
    assert lines[0] == ",".join(ablation.FIELDS) and lines.count(lines[0]) == 1
    assert len(lines) == 1 + 4  # default and hgb, two seeds


def test_the_estimators_defaults_are_the_shipped_ablations_combination():
    from pyg_tabular.estimators import FeatureGraphClassifier, FeatureGraphRegressor

    shipped = ROOT / "docs" / "results" / "ablation" / "summary.json"
    if shipped.is_file():
        chosen = json.loads(shipped.read_text())["combined"]["options"]
    else:
        # Until the ablation has run, the defaults are the baseline it starts from.
        chosen = {}
    expected = {**ablation.BASELINE, **chosen}
    names = set(ablation.BASELINE).union(*ablation.LEVERS.values())
    for estimator in (FeatureGraphClassifier(), FeatureGraphRegressor()):
        params = estimator.get_params()
        # label_smoothing=None is the task's default: what the fit uses.
        params["label_smoothing"] = estimator._label_smoothing()
        for name in sorted(names):
            if name == "label_smoothing" and estimator._task_kind == "regressor":
                assert params[name] == 0.0  # classification only
            else:
                assert params[name] == expected[name], name


@pytest.mark.slow
def test_a_combination_chosen_elsewhere_is_fitted_as_given(tmp_path):
    earlier = tmp_path / "summary.json"
    options = {**ablation.LEVERS["smoothing"], **ablation.LEVERS["robust"]}
    combination = {"levers": ["smoothing", "robust"], "options": options}
    earlier.write_text(json.dumps({"combined": combination}))
    out = tmp_path / "others"
    arguments = ["--datasets", "breast_cancer,diabetes", "--levers", "", "--seeds", "2"]
    arguments += ["--epochs", "1", "--time-budget", "5", "--combination", str(earlier)]
    assert ablation.main([*arguments, "--out", str(out)]) == 0
    with open(out / "fits.csv", newline="") as handle:
        fits = {
            (r["dataset"], r["config"]): json.loads(r["options"]) for r in csv.DictReader(handle)
        }
    assert fits[("breast_cancer", "combined")] == combination["options"]
    # Label smoothing does not apply to regression: the rest of it is fitted.
    assert fits[("diabetes", "combined")] == ablation.LEVERS["robust"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["combined"] == combination and summary["rule"] == ablation.GIVEN_RULE
    assert json.loads((out / "settings.json").read_text())["combination_from"] == [
        "smoothing",
        "robust",
    ]
    empty = tmp_path / "none.json"
    empty.write_text(json.dumps({"combined": {"levers": [], "options": {}}}))
    with pytest.raises(SystemExit):
        ablation.main([*arguments[:-1], str(empty), "--out", str(tmp_path / "x")])


def test_every_fit_starts_from_the_baseline_not_from_the_shipped_defaults(monkeypatch):
    from pyg_tabular import estimators

    seen = {}

    class Spy(estimators.FeatureGraphRegressor):
        def fit(self, x, y):
            seen.update(self.get_params())
            raise RuntimeError("stop")

    monkeypatch.setattr(estimators, "FeatureGraphRegressor", Spy)
    with pytest.raises(RuntimeError, match="stop"):
        ablation.fit_estimator("diabetes", "ema", ablation.LEVERS["ema"], 0, _SETTINGS)
    baseline = ablation.options_for(ablation.BASELINE, "regression")
    assert {k: seen[k] for k in baseline if k != "ema_decay"} == {
        k: v for k, v in baseline.items() if k != "ema_decay"
    }
    assert seen["ema_decay"] == ablation.LEVERS["ema"]["ema_decay"]
    assert seen["label_smoothing"] is None  # not a regression option


_SETTINGS = {"epochs": None, "time_budget": None, "max_rows": None, "validation_fraction": 0.15}


#: A run of two jobs side by side whose fits never end; each worker writes
#: its pid so that the test can look for it after the run is killed.
_NEVER_ENDING_RUN = """
import os, sys, time
sys.path.insert(0, {scripts!r})
import ablate_defaults


def work(job):
    with open(os.path.join({folder!r}, f"{{os.getpid()}}.pid"), "w"):
        pass
    time.sleep(120)


if __name__ == "__main__":
    jobs = [("t", "c", {{}}, seed, {{}}) for seed in range(2)]
    ablate_defaults.run_jobs(jobs, print, processes=2, threads=1, work=work)
"""


@pytest.mark.slow
def test_a_killed_run_ends_its_workers(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(_NEVER_ENDING_RUN.format(scripts=str(ROOT / "scripts"), folder=str(tmp_path)))
    run = subprocess.Popen([sys.executable, str(script)])
    try:
        deadline = time.monotonic() + 120
        while len(list(tmp_path.glob("*.pid"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        workers = [int(p.stem) for p in tmp_path.glob("*.pid")]
        assert len(workers) == 2, "the workers never started"
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=30) == 128 + signal.SIGTERM
    finally:
        run.kill()
    deadline = time.monotonic() + 30
    alive = workers
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if _running(pid)]
        time.sleep(0.2)
    assert not alive, f"workers {alive} outlived the killed run"


def _running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A worker that ended but was not reaped yet is a zombie, not a running fit.
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
