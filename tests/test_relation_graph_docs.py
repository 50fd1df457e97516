"""The relation-graph regions of the docs render what their results files hold."""

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
    # The regions of the relation-graph page, from the renderer's package.
    return importlib.import_module("docs_render.relation_graph")


def test_benchmark_region_without_its_file_gives_the_command(render, tmp_path):
    text = render.relation_benchmark(tmp_path)
    assert "Not measured yet" in text and "benchmarks/relation_graph.py --results" in text


def _runs(path, metric, values, stopped_by="patience"):
    # values: {model: [per-seed metric]}, written as `pyg-tabular compare` does.
    from pyg_tabular.compare import RunLog, RunResult

    path.parent.mkdir(parents=True, exist_ok=True)
    log = RunLog(path)
    for model, per_seed in values.items():
        for seed, value in enumerate(per_seed):
            log.append(
                RunResult(model, seed, {metric: value}, 10, 0.1, 1.0, 5, [value] * 5,
                          stopped_by=stopped_by, best_epoch=3)
            )  # fmt: skip


def test_graph_choice_region_pairs_the_seeds(render, tmp_path):
    from scipy import stats

    assert "Not run yet" in render.graph_choice(tmp_path)
    folder = tmp_path / render.GRAPH_CHOICE
    complete, knn, learned = [0.50, 0.52, 0.54], [0.51, 0.531, 0.552], [0.49, 0.54, 0.53]
    _runs(
        folder / "california" / "runs.csv",
        "rmse",
        {"feature-gat": complete, "feature-gat-knn": knn, "feature-gat-learned": learned},
    )
    _runs(
        folder / "digits" / "runs.csv",
        "accuracy",
        {"feature-gat": [0.90, 0.91, 0.90], "feature-gat-learned": [0.93, 0.95, 0.94]},
    )
    text = render.graph_choice(tmp_path)
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    california = lines[1]
    assert california.startswith("| california | rmse | `feature-gat` 0.5200 ± 0.0200 |")
    # The paired interval is scipy's paired t-test interval.
    worse = stats.ttest_rel(knn, complete).confidence_interval(0.95)
    assert f"[{worse.low:+.4f}, {worse.high:+.4f}]" in california
    assert "knn loses to complete" in california
    assert "learned ties with complete" in california
    assert "learned beats complete" in lines[2]
    assert lines[2].split(" | ")[3] == "–"  # no knn run on digits


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
