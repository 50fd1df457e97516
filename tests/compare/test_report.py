import csv

import pytest

from pyg_tabular.compare import (
    RunLog,
    RunResult,
    best_model,
    paired_table,
    summarize,
    write_summaries,
)
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
        ("b", 1, "0.4000"),  # one seed has no spread to show
    ]


def _ended(name, seed, value, stopped_by, epochs, best, metric="rmse"):
    import dataclasses

    history = [1.0] * epochs
    return dataclasses.replace(
        _run(name, seed, value, metric),
        history=history,
        epochs_run=epochs,
        stopped_by=stopped_by,
        best_epoch=best,
    )


def test_summary_says_how_every_run_ended():
    results = [
        _ended("a", 0, 0.5, "patience", 30, 20),
        _ended("a", 1, 0.6, "patience", 34, 24),
        _ended("a", 2, 0.7, "time", 12, 12),
        _ended("b", 0, 0.5, "time", 5, 5),
        _ended("b", 1, 0.5, "epochs", 9, 8),
        _ended("b", 2, 0.5, "patience", 40, 30),
    ]
    a, b = summarize(results, "regression")
    assert (a["epochs"], a["best epoch"], a["stopped by"], a["converged"]) == (
        "12–34",
        "12–24",
        "patience 2, time 1",
        "yes",
    )
    # Two of three seeds stopped on a budget (epochs or time): unconverged.
    assert (b["epochs"], b["stopped by"], b["converged"]) == (
        "5–40",
        "patience 1, epochs 1, time 1",
        "no",
    )


def test_summary_reads_the_best_epoch_of_older_records_from_their_history():
    import dataclasses

    old = dataclasses.replace(_run("a", 0, 0.5, "rmse"), history=[0.9, 0.4, 0.6, 0.4])
    (row,) = summarize([old], "regression")
    assert row["best epoch"] == "2" and row["converged"] == ""  # no stop reason recorded
    (row,) = summarize([dataclasses.replace(old, metrics={"accuracy": 0.5})], "binary")
    assert row["best epoch"] == "1"  # higher is better for accuracy


def test_paired_table_marks_a_win_only_when_the_interval_excludes_zero():
    from scipy import stats

    ours = [0.40, 0.42, 0.41]
    peer = [0.45, 0.46, 0.47]
    close = [0.41, 0.40, 0.43]
    results = [_ended("ours", s, v, "patience", 9, 5) for s, v in enumerate(ours)]
    results += [_ended("peer", s, v, "patience", 9, 5) for s, v in enumerate(peer)]
    results += [_ended("close", s, v, "time", 9, 9) for s, v in enumerate(close)]
    rows = {r["model"]: r for r in paired_table(results, "regression")}
    assert set(rows) == {"peer", "close"}  # against the best mean: ours
    # The same interval as scipy's paired t-test gives, independently computed.
    expected = stats.ttest_rel(peer, ours).confidence_interval(0.95)
    low, high = (float(v) for v in rows["peer"]["95% interval"].strip("[]").split(","))
    assert (low, high) == (
        pytest.approx(expected.low, abs=1e-4),
        pytest.approx(expected.high, abs=1e-4),
    )
    assert rows["peer"]["verdict"] == "peer loses to ours"
    # Within noise, and stopped by the clock: no verdict beyond a tie at equal budget.
    assert rows["close"]["verdict"] == ("at equal budget, close ties with ours (close unconverged)")


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
    sized = dataclasses.replace(
        _run("hgb", 1, 0.5),
        stopped_by="patience",
        best_epoch=2,
        elapsed=[0.5, 1.0],
        trees=2,
        leaves=7,
    )
    log.append(sized)
    assert log.read() == [timed, _run("hgb", 0, 0.5), sized]


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
    assert written == [
        "results.csv",
        "results.md",
        "learning_curves.png",
        "metric_bars.png",
        "anytime.png",
    ]
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


@pytest.mark.parametrize(
    ("mean", "excludes_zero", "mode", "words"),
    [
        (+0.01, True, "max", "beats"),
        (-0.01, True, "max", "loses to"),
        (-0.01, True, "min", "beats"),
        (+0.01, True, "min", "loses to"),
        (+0.01, False, "max", "ties with"),
        (-0.01, False, "min", "ties with"),
    ],
)
def test_outcome_words_a_paired_difference_by_its_direction_and_interval(
    mean, excludes_zero, mode, words
):
    from pyg_tabular.run_result import outcome

    assert outcome(mean, excludes_zero, mode) == words


def test_outcome_refuses_an_unknown_direction():
    from pyg_tabular.run_result import outcome

    with pytest.raises(ValueError, match="mode must be 'min' or 'max' \\(got 'up'\\)"):
        outcome(0.1, True, "up")
