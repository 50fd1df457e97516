"""The relation-graph regions of the docs render what their results files hold."""

import argparse
import importlib
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from pyg_tabular.compare.report import RunLog
from pyg_tabular.run_result import RunResult
from pyg_tabular.run_result import verdict as paired_verdict

ROOT = Path(__file__).resolve().parents[1]


def _load(relative, name):
    spec = importlib.util.spec_from_file_location(name, ROOT / relative)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


render = _load("scripts/render_docs.py", "render_docs")
relation = importlib.import_module("docs_render.relation_graph")
# The benchmark itself, with the `_results` it imports: the synthetic results
# files below are written by its own table code, only the timer is replaced.
sys.path.insert(0, str(ROOT / "benchmarks"))
bench = importlib.import_module("_results")
script = _load("benchmarks/relation_graph.py", "bench_relation_graph")

COMMAND = (
    "python benchmarks/relation_graph.py --results docs/results/benchmarks/relation_graph.json"
)
LEARNED = "learned-k16"


# --------------------------------------------------------------------------- #
# The wide-table benchmark
# --------------------------------------------------------------------------- #


def _rounds(seconds, spread=0.02):
    # Seven rounds around `seconds`, within ±spread.
    return [seconds * (1 + spread * (i - 3) / 3) for i in range(7)]


def _write(monkeypatch, results, seconds, peaks=None, load=0.0, features=(256, 1024)):
    """``benchmarks/relation_graph.py --results`` as the script writes it, with
    the timer and the memory subprocesses replaced: ``seconds[F][case]`` are
    the per-round step times, ``peaks[F][case]`` the peak MB."""
    monkeypatch.setattr(bench.os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(bench, "cores", lambda: 4)
    monkeypatch.setattr(sys, "argv", ["benchmarks/relation_graph.py"])
    timed = iter(features)

    def interleaved(steps, **timing):
        f = next(timed)
        assert set(steps) == set(seconds[f])
        return bench.Timings({k: list(v) for k, v in seconds[f].items()}, dict.fromkeys(steps, 0))

    def peak_memory_mb(path, worker, threads, label):
        name, _, _, f = worker
        return peaks[int(f)][name]

    monkeypatch.setattr(script, "interleaved", interleaved)
    monkeypatch.setattr(bench, "peak_memory_mb", peak_memory_mb)
    timing = {"pairs": 7, "threads": 2, "min_run_time": 0.2}
    args = argparse.Namespace(memory=peaks is not None, threads=2, timing=timing)
    size = {"features": features, "rows": 64}
    args.recorder = bench.Recorder(
        "relation_graph.py", {"small": False, "step": script.STEP}, timing
    )
    script.run(args, size)
    args.recorder.write(str(results / "benchmarks" / "relation_graph.json"))


def _cases(complete, k8, k16):
    return {"complete": _rounds(complete), "learned-k8": _rounds(k8), LEARNED: _rounds(k16)}


def _region(results):
    return render.renderer_of("relation-benchmark")(results)


def _target(text):
    return next(line for line in text.splitlines() if line.startswith("Target"))


@pytest.fixture
def results(tmp_path):
    return tmp_path / "docs" / "results"


def test_a_missing_file_gives_the_command_that_measures_it(results):
    assert _region(results) == f"Not measured yet: run `{COMMAND}` on a quiet machine."


def test_the_target_is_met_when_every_round_and_the_memory_meet_it(monkeypatch, results):
    seconds = {256: _cases(0.1, 0.02, 0.03), 1024: _cases(2.0, 0.2, 0.4)}
    peaks = {256: {"complete": 300.0, "learned-k8": 40.0, LEARNED: 50.0},
             1024: {"complete": 4000.0, "learned-k8": 200.0, LEARNED: 400.0}}  # fmt: skip
    _write(monkeypatch, results, seconds, peaks)
    text = _region(results)
    assert text.startswith("Command: `python benchmarks/relation_graph.py` (")
    rows = [line for line in text.splitlines() if line.startswith("| 1,024 |")]
    assert rows == [
        "| 1,024 | complete (`DenseFeatureGATConv`) | 2,000.0 (1,960.0–2,040.0) | 1 (reference) "
        "| 4,000 | 1 (reference) |",
        "| 1,024 | learned, k = 8 (`FeatureGATConv`) | 200.0 (196.0–204.0) | 0.10× (0.10–0.10) "
        "| 200 | 0.05× |",
        "| 1,024 | learned, k = 16 (`FeatureGATConv`) | 400.0 (392.0–408.0) | 0.20× (0.20–0.20) "
        "| 400 | 0.10× |",
    ]
    assert "| 256 | learned, k = 16 (`FeatureGATConv`) | 30.0 (29.4–30.6) | 0.30×" in text
    assert _target(text) == (
        "Target, at F = 1024 with k = 16 a step takes ≤ 1/4 of the complete graph's time and "
        "memory: time **met** (0.20× (0.20–0.20)), memory **met** (0.10×)."
    )
    assert "Quiet: " in text


def test_the_target_is_missed_when_every_round_misses_it(monkeypatch, results):
    seconds = {256: _cases(0.1, 0.02, 0.03), 1024: _cases(1.0, 0.2, 0.3)}
    peaks = {f: {"complete": 1000.0, "learned-k8": 100.0, LEARNED: 500.0} for f in seconds}
    _write(monkeypatch, results, seconds, peaks)
    assert "time **missed** (0.30× (0.30–0.30)), memory **missed** (0.50×)" in _target(
        _region(results)
    )


def test_a_range_that_straddles_the_target_is_unsettled(monkeypatch, results):
    complete = [1.0] * 7
    learned = [0.2, 0.2, 0.3, 0.2, 0.2, 0.2, 0.2]  # one round of seven above 1/4
    seconds = {
        256: _cases(0.1, 0.02, 0.03),
        1024: {"complete": complete, "learned-k8": [0.1] * 7, LEARNED: learned},
    }
    _write(monkeypatch, results, seconds)
    target = _target(_region(results))
    assert "time **unsettled** (the range straddles the target) (0.20× (0.20–0.30))" in target
    # No memory runs: the memory part is not measured, the table has no memory columns.
    assert target.endswith("memory not measured (not measured).")
    assert "peak memory was not measured in this run" in _region(results)
    assert "peak MiB" not in _region(results)


def test_a_noisy_table_gives_figures_but_no_verdict(monkeypatch, results):
    seconds = {256: _cases(0.1, 0.02, 0.03), 1024: _cases(2.0, 0.2, 0.4)}
    peaks = {f: {"complete": 1000.0, "learned-k8": 50.0, LEARNED: 100.0} for f in seconds}
    _write(monkeypatch, results, seconds, peaks, load=9.0)
    text = _region(results)
    assert "time not judged (noisy) (0.20× (0.20–0.20))" in _target(text)
    assert "memory not judged (noisy) (0.10×)" in _target(text)
    assert "**met**" not in text and "**missed**" not in text
    assert "**Noisy**" in text and "no verdict is drawn" in text


def test_a_run_without_the_target_size_says_so(monkeypatch, results):
    _write(monkeypatch, results, {256: _cases(0.1, 0.02, 0.03)}, features=(256,))
    assert _target(_region(results)).endswith(
        "not measured in this run (no F = 1024, k = 16 configuration)."
    )


def test_results_in_the_older_layout_are_withheld(results):
    # The layout the benchmark wrote before paired timing: one median per row.
    old = {
        "command": "python benchmarks/relation_graph.py",
        "environment": {"load_average": [3.1, 3.0, 2.9], "cpu_count": 2},
        "tables": {"steps": [{"features": 1024, "case": LEARNED, "ms": 200.0}]},
    }
    path = results / "benchmarks" / "relation_graph.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(old), encoding="utf-8")
    text = _region(results)
    assert text.startswith("**Withheld**")
    assert "load average of 3.1 on 2 cores" in text and COMMAND in text
    assert "200" not in text
    assert not any("relation_graph.json" in p.page for p in render.contradictions(results))


def test_the_check_compares_the_benchmark_as_f_grows(monkeypatch, results):
    seconds = {256: _cases(0.1, 0.02, 0.03), 1024: _cases(2.0, 0.2, 0.4)}
    _write(monkeypatch, results, seconds)
    assert render.contradictions(results) == []
    # The learned graph planted faster at F = 1024 than at F = 256, in every round.
    seconds[1024][LEARNED] = _rounds(0.01)
    _write(monkeypatch, results, seconds)
    growth = [p for p in render.contradictions(results) if p.region == "growth"]
    assert len(growth) == 1
    assert growth[0].page == "docs/results/benchmarks/relation_graph.json"
    assert "time falls as F grows: LearnedFeatureGraph, 16" in growth[0].message


# --------------------------------------------------------------------------- #
# Graph choice and planted-pair recovery
# --------------------------------------------------------------------------- #


def _run(model, seed, metrics):
    return RunResult(
        model=model, seed=seed, metrics=metrics, params=100, seconds_per_epoch=0.1,
        rows_per_second=1000.0, epochs_run=3, history=[0.5, 0.4, 0.45], peak_mb=100.0,
        added_mb=10.0, stopped_by="patience", train_seconds=0.3, best_epoch=2,
        elapsed=[0.1, 0.2, 0.3],
    )  # fmt: skip


def _runs(results, name, metric, values):
    # values: {model: [per-seed metric]}, as `pyg-tabular compare --out` logs them.
    folder = results / relation.GRAPH_CHOICE / name
    folder.mkdir(parents=True)
    log = RunLog(folder / "runs.csv")
    runs = []
    for model, per_seed in values.items():
        for seed, value in enumerate(per_seed):
            run = _run(model, seed, {metric: value})
            log.append(run)
            runs.append(run)
    return runs


def test_graph_choice_region_pairs_the_seeds(results):
    assert "Not run yet" in render.renderer_of("graph-choice")(results)
    california = _runs(
        results,
        "california",
        "rmse",
        {
            "feature-gat": [0.50, 0.52, 0.54],
            "feature-gat-knn": [0.51, 0.53, 0.55],  # +0.01 every seed: worse (rmse)
            "feature-gat-learned": [0.49, 0.54, 0.53],  # mixed
        },
    )
    digits = _runs(
        results,
        "digits",
        "accuracy",
        {"feature-gat": [0.90, 0.91], "feature-gat-learned": [0.93, 0.95]},
    )
    text = render.renderer_of("graph-choice")(results)
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    knn, knn_difference = paired_verdict(
        california, "feature-gat-knn", "feature-gat", "rmse", "min"
    )
    assert knn == "feature-gat-knn loses to feature-gat"
    assert knn_difference.mean == pytest.approx(0.01)
    learned, _ = paired_verdict(california, "feature-gat-learned", "feature-gat", "rmse", "min")
    assert learned == "feature-gat-learned ties with feature-gat"
    assert lines[1].startswith("| california | rmse | `feature-gat` 0.5200 ± 0.0200 | +0.0100 [")
    assert "]: feature-gat-knn loses to complete |" in lines[1]
    assert lines[1].endswith("]: feature-gat-learned ties with complete |")
    # Digits has no knn run; two seeds of the learned graph, both better.
    learned, difference = paired_verdict(
        digits, "feature-gat-learned", "feature-gat", "accuracy", "max"
    )
    assert difference.mean == pytest.approx(0.035)
    assert lines[2] == (
        "| digits | accuracy | `feature-gat` 0.9050 ± 0.0071 | – | "
        f"{difference.mean:+.4f} [{difference.low:+.4f}, {difference.high:+.4f}]: "
        f"{learned.removesuffix(' feature-gat')} complete |"
    )
    assert text.endswith(
        "Over these tables, `knn` beats the complete graph on 0, ties on 0 and loses on 1 of 1; "
        "`learned` beats the complete graph on 0, ties on 2 and loses on 0 of 2."
    )


def test_recovery_region_reads_the_summary_and_judges_the_target(results):
    def summary(method, found, per_seed, mse):
        return {
            "method": method, "seeds": 5, "found": found, "planted": 30,
            "recall": found / 30, "recall_per_seed": per_seed, "test_mse": mse,
        }  # fmt: skip

    payload = {
        "command": "python scripts/relation_recovery.py --out x",
        "config": {"rows": 4000, "features": 24, "noise": 0.1, "k": 2, "epochs": 100,
                   "patience": 25, "lr": 0.003},
        "summary": [
            summary("learned", 28, [1.0, 1.0, 1.0, 5 / 6, 5 / 6], 0.07),
            summary("knn", 0, [0.0] * 5, None),
            summary("complete-attention", 2, [1 / 6, 1 / 6, 0, 0, 0], 0.5),
        ],
    }  # fmt: skip
    path = results / relation.RELATION_RECOVERY
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(payload))
    recovery = render.renderer_of("relation-recovery")
    text = recovery(results)
    assert "| `learned` | 28 / 30 | 93% | 6, 6, 6, 5, 5 | 0.070 |" in text
    assert "| `knn` | 0 / 30 | 0% | 0, 0, 0, 0, 0 | – |" in text
    assert "**met**" in text
    payload["summary"][0] = summary("learned", 26, [1.0, 1.0, 1.0, 4 / 6, 4 / 6], 0.07)
    path.write_text(json.dumps(payload))
    assert "**missed**" in recovery(results)
