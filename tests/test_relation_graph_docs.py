"""The relation-graph regions of the docs render what their results files hold."""

import csv
import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def render():
    spec = importlib.util.spec_from_file_location(
        "render_docs", ROOT / "scripts" / "render_docs.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


def _environment():
    return {"torch": "2.x", "threads": 2, "cpu_model": "cpu", "cpu_count": 2}


def _benchmark(path, time_ratio, memory_ratio):
    rows = [
        {"features": 1024, "rows": 64, "case": "complete", "k": None, "ms": 1000.0,
         "ms_p25": 990.0, "ms_p75": 1010.0, "time_ratio": 1.0, "peak_mb": 4000.0,
         "memory_ratio": 1.0},
        {"features": 1024, "rows": 64, "case": "learned-k16", "k": 16,
         "ms": 1000.0 * time_ratio, "ms_p25": 900.0 * time_ratio,
         "ms_p75": 1100.0 * time_ratio, "time_ratio": time_ratio,
         "peak_mb": 4000.0 * memory_ratio, "memory_ratio": memory_ratio},
    ]  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "command": "python benchmarks/relation_graph.py",
                "environment": _environment(),
                "wall_seconds": 10.0,
                "tables": {"steps": rows},
            }
        )
    )


def test_benchmark_region_states_the_target_from_its_file(render, tmp_path):
    assert "Not measured yet" in render.relation_benchmark(tmp_path)
    _benchmark(tmp_path / render.RELATION_BENCHMARK, 0.2, 0.1)
    text = render.relation_benchmark(tmp_path)
    assert "| 1024 | learned-k16 | 200.0 (180.0–220.0) | 0.20× | 400 | 0.10× |" in text
    assert "**met**" in text
    _benchmark(tmp_path / render.RELATION_BENCHMARK, 0.3, 0.1)
    assert "**missed**" in render.relation_benchmark(tmp_path)


def _runs(path, metric, values):
    # values: {model: [per-seed metric]}
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["model", "seed", metric])
        writer.writeheader()
        for model, per_seed in values.items():
            for seed, value in enumerate(per_seed):
                writer.writerow({"model": model, "seed": seed, metric: value})


def test_graph_choice_region_pairs_the_seeds(render, tmp_path):
    assert "Not run yet" in render.graph_choice(tmp_path)
    folder = tmp_path / render.GRAPH_CHOICE
    _runs(
        folder / "california" / "runs.csv",
        "rmse",
        {
            "feature-gat": [0.50, 0.52, 0.54],
            "feature-gat-knn": [0.51, 0.53, 0.55],  # +0.01 every seed: worse (rmse)
            "feature-gat-learned": [0.49, 0.54, 0.53],  # mixed
        },
    )
    _runs(
        folder / "digits" / "runs.csv",
        "accuracy",
        {"feature-gat": [0.90, 0.91], "feature-gat-learned": [0.93, 0.95]},
    )
    text = render.graph_choice(tmp_path)
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    assert lines[1].startswith("| california | rmse | 0.5200 | +0.0100 ± 0.0000 (worse, 3 seeds)")
    # learned − complete: -0.01, +0.02, -0.01 -> mean 0; interval holds 0.
    mean, half = render._paired([-0.01, 0.02, -0.01])
    assert mean == pytest.approx(0.0) and half == pytest.approx(4.303 * 0.01732 / 3**0.5, 1e-3)
    assert f"+0.0000 ± {half:.4f} (no difference, 3 seeds)" in lines[1]
    # Two seeds of digits: +0.03 and +0.04; with one degree of freedom the
    # interval (t = 12.706) still holds 0.
    mean, half = render._paired([0.03, 0.04])
    assert half == pytest.approx(12.706 * 0.005)
    assert lines[2] == (
        f"| digits | accuracy | 0.9050 | – | {mean:+.4f} ± {half:.4f} (no difference, 2 seeds) |"
    )


def test_recovery_region_reads_the_summary_and_judges_the_target(render, tmp_path):
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
    path = tmp_path / render.RELATION_RECOVERY
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(payload))
    text = render.relation_recovery(tmp_path)
    assert "| `learned` | 28 / 30 | 93% | 6, 6, 6, 5, 5 | 0.070 |" in text
    assert "| `knn` | 0 / 30 | 0% | 0, 0, 0, 0, 0 | – |" in text
    assert "**met**" in text
    payload["summary"][0] = summary("learned", 26, [1.0, 1.0, 1.0, 4 / 6, 4 / 6], 0.07)
    path.write_text(json.dumps(payload))
    assert "**missed**" in render.relation_recovery(tmp_path)
