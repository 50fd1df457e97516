import csv

import pytest

from pyg_tabular.cli import main


def test_compare_runs_end_to_end_and_writes_results(tmp_path, capsys):
    code = main(
        [
            "compare",
            "--models",
            "mlp,hgb,gatconv,gfa",
            "--seeds",
            "2",
            "--epochs",
            "2",
            "--max-rows",
            "200",
            "--out",
            str(tmp_path),
            "--in-process",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "| model | accuracy | auc | params | s/epoch | infer rows/s | peak MiB |" in printed
    with open(tmp_path / "results.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["model"] for row in rows] == ["mlp", "hgb", "gatconv", "gfa"]
    for row in rows:
        mean, spread = row["accuracy"].split(" ± ")
        assert 0.0 <= float(mean) <= 1.0 and float(spread) >= 0.0
        assert int(row["params"]) > 0
    assert (tmp_path / "results.md").read_text().startswith("| model |")
    with open(tmp_path / "runs.csv") as handle:
        runs = list(csv.DictReader(handle))
    assert len(runs) == 8 and {run["seed"] for run in runs} == {"0", "1"}
    for name in ("learning_curves", "metric_bars", "attention"):
        assert (tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG"


def test_compare_rejects_unknown_model(capsys):
    assert main(["compare", "--models", "mlp,nope"]) == 2
    error = capsys.readouterr().err
    assert "unknown names ['nope']" in error and "'hgb'" in error


def test_compare_requires_a_known_dataset():
    with pytest.raises(ValueError, match="name must be one of"):
        main(["compare", "--dataset", "no_such_table", "--epochs", "1", "--seeds", "1"])
