import csv

import pytest

from pyg_tabular.compare import RunLog, RunResult, best_model, summarize, write_summaries
from pyg_tabular.compare.report import write_text_atomic


def _run(name, seed, value, metric="accuracy", attention=None):
    return RunResult(
        name, seed, {metric: value}, 10, 0.1, 1.0, 2, [0.5, value], 100.0, 5.0, attention
    )


def test_best_model_follows_the_metric_direction():
    results = [_run("a", 0, 0.5, "rmse"), _run("b", 0, 0.4, "rmse")]
    assert best_model(results, "regression", ["a", "b"]) == "b"
    results = [_run("a", 0, 0.5), _run("b", 0, 0.4)]
    assert best_model(results, "binary", ["a", "b", "absent"]) == "a"
    assert best_model(results, "binary", ["absent"]) is None


def test_summary_counts_the_seeds_behind_each_mean():
    rows = summarize([_run("a", 0, 0.5), _run("a", 1, 0.7), _run("b", 0, 0.4)])
    assert [(r["model"], r["seeds"], r["accuracy"]) for r in rows] == [
        ("a", 2, "0.6000 ± 0.1414"),
        ("b", 1, "0.4000 ± 0.0000"),
    ]


def test_run_log_round_trips_every_field(tmp_path):
    log = RunLog(tmp_path / "runs.csv")
    assert log.read() == []
    first = _run("a", 0, 0.25, attention=[[0.5, 0.5], [1.0, 0.0]])
    second = _run("b", 3, 0.75)
    log.append(first)
    log.append(second)
    assert log.read() == [first, second]
    with open(log.path) as handle:
        assert len(list(csv.DictReader(handle))) == 2


def test_run_log_keeps_how_each_run_stopped(tmp_path):
    import dataclasses

    log = RunLog(tmp_path / "runs.csv")
    timed = dataclasses.replace(_run("a", 0, 0.25), stopped_by="time", train_seconds=1.25)
    log.append(timed)
    log.append(_run("hgb", 0, 0.5))  # no stop reason nor training clock
    assert log.read() == [timed, _run("hgb", 0, 0.5)]


def test_a_runs_csv_from_before_the_stop_columns_reads_and_resumes(tmp_path):
    import dataclasses

    path = tmp_path / "runs.csv"
    header = "model,seed,accuracy,params,seconds_per_epoch,rows_per_second,epochs_run,"
    header += "peak_mb,added_mb,history,attention\n"
    path.write_text(header + 'a,0,0.25,10,0.1,1.0,2,100.0,5.0,"[0.5, 0.25]",\n')
    log = RunLog(path)
    (old,) = log.read()
    assert old == _run("a", 0, 0.25)
    assert old.stopped_by is None and old.train_seconds is None
    # A resumed run is appended in the file's own columns.
    log.append(dataclasses.replace(_run("a", 1, 0.75), stopped_by="epochs", train_seconds=2.0))
    assert path.read_text().splitlines()[0] + "\n" == header
    assert log.read() == [old, _run("a", 1, 0.75)]


def test_run_log_refuses_a_run_of_another_task(tmp_path):
    log = RunLog(tmp_path / "runs.csv")
    log.append(_run("a", 0, 0.25))
    with pytest.raises(ValueError, match="columns"):
        log.append(_run("a", 1, 0.25, metric="rmse"))
    (tmp_path / "other.csv").write_text("x,y\n1,2\n")
    with pytest.raises(ValueError, match="missing columns"):
        RunLog(tmp_path / "other.csv").read()


def test_a_failed_atomic_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "results.md"
    write_text_atomic(path, "old\n")

    class Boom(Exception):
        pass

    def failing(temporary):
        temporary.write_text("half")
        raise Boom

    from pyg_tabular.compare.report import write_atomic

    with pytest.raises(Boom):
        write_atomic(path, failing)
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["results.md"]


def test_summaries_replace_a_stale_attention_plot(tmp_path):
    pytest.importorskip("matplotlib")
    (tmp_path / "attention.png").write_bytes(b"stale")
    results = [_run("a", 0, 0.5), _run("a", 1, 0.7)]
    written = write_summaries(tmp_path, results, kind="binary", title="t", feature_names=["x", "y"])
    assert written == ["results.csv", "results.md", "learning_curves.png", "metric_bars.png"]
    assert not (tmp_path / "attention.png").exists()
    results.append(_run("b", 0, 0.9, attention=[[0.5, 0.5], [0.5, 0.5]]))
    written = write_summaries(
        tmp_path,
        results,
        kind="binary",
        title="t",
        feature_names=["x", "y"],
        attention_models=["b"],
    )
    assert written[-1] == "attention.png"
    assert (tmp_path / "attention.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(written)
