"""Smoke tests of the relation-graph experiment and benchmark scripts, at toy sizes."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _script(name, path):
    spec = importlib.util.spec_from_file_location(name, ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_relation_recovery_runs_resumes_and_refuses_another_configuration(
    tmp_path, capsys, monkeypatch
):
    from pyg_tabular.nn.models import GRAPH_KINDS

    # The script registers its T2G graph kind; keep the registry as it was.
    monkeypatch.setattr("pyg_tabular.nn.models.graph_kind.GRAPH_KINDS", dict(GRAPH_KINDS))
    recovery = _script("relation_recovery", "scripts/relation_recovery.py")
    tiny = ["--out", str(tmp_path), "--seeds", "1", "--rows", "300", "--epochs", "1"]
    tiny += ["--repeats", "1", "--k", "2"]
    assert recovery.main(tiny) == 0
    results = json.loads((tmp_path / "recovery.json").read_text())
    assert sorted(results["runs"]) == sorted(recovery.METHODS)
    for runs in results["runs"].values():
        run = runs["0"]
        assert run["planted"] == 6 and 0 <= run["found"] <= 6
        assert run["recall"] == run["found"] / 6 and len(run["ranks"]) == 6
    assert [row["method"] for row in results["summary"]] == list(recovery.METHODS)
    assert (tmp_path / "learned_graph.png").read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    # A second run resumes: nothing is left to do.
    assert recovery.main([*tiny, "--resume"]) == 0
    assert "seed 0" not in capsys.readouterr().out
    assert recovery.main(tiny) == 2  # an existing file needs --resume
    assert recovery.main([*tiny, "--resume", "--noise", "0.5"]) == 2
    assert "configuration" in capsys.readouterr().err


def test_recall_counts_the_planted_pairs_among_the_top_pairs():
    import numpy as np

    recovery = _script("relation_recovery", "scripts/relation_recovery.py")
    scores = np.zeros((4, 4))
    scores[0, 1] = scores[1, 0] = 3.0
    scores[2, 3] = scores[3, 2] = 1.0
    scores[0, 2] = scores[2, 0] = 2.0
    result = recovery.recall(scores, [(0, 1), (2, 3)])
    assert result["found"] == 1 and result["recall"] == 0.5
    assert result["ranks"] == [1, 3] and result["top_pairs"] == [(0, 1), (0, 2)]


def test_relation_graph_benchmark_runs_at_its_small_size(tmp_path):
    out = tmp_path / "bench.json"
    command = [sys.executable, "benchmarks/relation_graph.py", "--small", "--threads", "1"]
    result = subprocess.run(
        [*command, "--results", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert data["schema"] == 2 and data["config"]["memory"] is False  # off at CI size
    table = data["tables"]["steps"]
    assert list(table["subjects"]) == ["complete", "learned-k8", "learned-k16"]
    assert all(s["grows_with"] == ["B", "F"] for s in table["subjects"].values())
    assert [g["sizes"]["F"] for g in table["groups"]] == [32, 64]
    for group in table["groups"]:
        assert set(group["ratios"]) == {"learned-k8/complete", "learned-k16/complete"}
        assert "peak_mb" not in group
        for spread in group["ms"].values():
            assert spread["n"] == 7 and 0 < spread["min"] <= spread["median"] <= spread["max"]
