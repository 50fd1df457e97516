"""The paired timing and the results files that every script in benchmarks/ shares.

Nothing here times anything: ``torch.utils.benchmark.Timer`` is replaced by a
stand-in that records the order of the measurements and returns chosen medians.
"""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load():
    spec = importlib.util.spec_from_file_location(
        "bench_results", ROOT / "benchmarks" / "_results.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


bench = _load()


class FakeMeasurement:
    def __init__(self, median, warns):
        self.median = median
        self.has_warnings = warns


class FakeTimer:
    """Records each measurement; the n-th measurement of a callable returns
    ``MEDIANS[name][n]`` seconds."""

    order: list = []
    medians: dict = {}
    threads: list = []

    def __init__(self, stmt, globals, num_threads, sub_label):
        self.name = sub_label
        self.fn = globals["fn"]
        FakeTimer.threads.append(num_threads)

    def blocked_autorange(self, min_run_time):
        n = sum(1 for name in FakeTimer.order if name == self.name)
        FakeTimer.order.append(self.name)
        self.fn()
        median = FakeTimer.medians[self.name][n]
        return FakeMeasurement(median, warns=median > 1.0)


@pytest.fixture
def fake_timer(monkeypatch):
    FakeTimer.order, FakeTimer.threads = [], []
    FakeTimer.medians = {
        "a": [0.1, 0.2, 0.1, 0.1, 0.3, 0.1, 0.1],
        "b": [0.4, 0.4, 0.2, 0.5, 0.6, 2.0, 0.3],
    }
    monkeypatch.setattr(bench, "Timer", FakeTimer)
    return FakeTimer


def test_spread_gives_the_median_quartiles_range_and_values():
    s = bench.spread([3.0, 1.0, 2.0, 5.0, 4.0, 7.0, 6.0])
    assert (s["median"], s["q1"], s["q3"], s["min"], s["max"], s["n"]) == (4, 2.5, 5.5, 1, 7, 7)
    assert s["values"] == [3.0, 1.0, 2.0, 5.0, 4.0, 7.0, 6.0]  # in the order of the rounds
    assert bench.spread([2.0])["q1"] == bench.spread([2.0])["q3"] == 2.0
    with pytest.raises(ValueError, match="at least one value"):
        bench.spread([])


def test_rounds_alternate_direction_and_ratios_are_taken_per_round(fake_timer):
    calls = []
    timings = bench.interleaved(
        {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, pairs=7, threads=3
    )
    # A B, B A, A B, ...: a drift in the machine's speed favours neither side.
    assert "".join(fake_timer.order) == "ab" + "baab" * 3
    assert calls[:2] == ["a", "b"]  # one warm-up call each before the rounds
    assert fake_timer.threads == [3, 3]  # Timer's own thread control
    ratio = timings.ratio("b", "a")
    assert ratio["values"] == pytest.approx([4, 2, 2, 5, 2, 20, 3])
    assert (ratio["median"], ratio["min"], ratio["max"]) == pytest.approx((3, 2, 20))
    assert timings.ms("a")["median"] == pytest.approx(100)
    assert timings.warnings == {"a": 0, "b": 1}


def test_paired_ratio_names_its_direction(fake_timer):
    result = bench.paired_ratio(lambda: None, lambda: None)
    assert result["b_over_a"]["median"] == pytest.approx(3)
    assert result["a_ms"]["median"] == pytest.approx(100)
    assert (result["pairs"], result["threads"]) == (7, 2)


def test_fewer_than_seven_pairs_are_refused(fake_timer):
    with pytest.raises(ValueError, match=r"pairs must be at least 7 \(got 6\)"):
        bench.interleaved({"a": lambda: None}, pairs=6)
    with pytest.raises(ValueError, match=r"threads must be positive \(got 0\)"):
        bench.interleaved({"a": lambda: None}, threads=0)
    assert fake_timer.order == []


def test_the_command_line_refuses_too_few_pairs(capsys):
    import argparse

    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    with pytest.raises(SystemExit):
        bench.timing_of(parser, parser.parse_args(["--pairs", "3"]))
    assert "--pairs must be at least 7 (got 3)" in capsys.readouterr().err
    args = parser.parse_args(["--threads", "1"])
    args.small = True
    assert bench.timing_of(parser, args) == {
        "pairs": 7,
        "threads": 1,
        "min_run_time": bench.SMALL_MIN_RUN_TIME,
    }


@pytest.mark.parametrize(("load", "noisy"), [(0.2, False), (9.0, True)])
def test_a_table_measured_under_load_is_marked_noisy(
    fake_timer, monkeypatch, tmp_path, load, noisy
):
    monkeypatch.setattr(bench.os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(bench, "cores", lambda: 4)
    recorder = bench.Recorder("toy.py", {"small": True}, {"pairs": 7, "threads": 2})
    subjects = {"a": {"impl": "a"}, "b": {"impl": "b"}}
    with recorder.table("t", subjects, {"a": ("B",)}) as table:
        timings = bench.interleaved({"a": lambda: None, "b": lambda: None})
        table.add_timed({"B": 8}, timings, [("b", "a")], extra=1)
    recorder.write(str(tmp_path / "toy.json"))

    data = json.loads((tmp_path / "toy.json").read_text())
    assert data["schema"] == bench.SCHEMA
    assert data["timing"]["pairs"] == 7 and "blocked_autorange" in data["timing"]["method"]
    record = data["tables"]["t"]
    assert record["noisy"] is noisy
    assert record["cpu_count"] == 4 and record["threads"] == 2
    for when in ("load_before", "load_after"):
        assert record[when]["load_average"] == [load] * 3
        # This process's own CPU use is taken out of the load average.
        assert record[when]["others"] == pytest.approx(max(0.0, load - record[when]["own_cpu"]))
    # The run's summary gives other processes' load, not the raw average
    # that counts this benchmark's own threads.
    assert "load_average" not in data["environment"]
    summary = data["load"]
    assert summary["others_max"] == pytest.approx(
        max(record[when]["others"] for when in ("load_before", "load_after")), abs=0.01
    )
    assert summary["noisy_tables"] == (["t"] if noisy else [])
    assert summary["at_first_table"] == record["load_before"]
    assert record["subjects"]["a"] == {"what": {"impl": "a"}, "grows_with": ["B"]}
    group = record["groups"][0]
    assert group["sizes"] == {"B": 8} and group["extra"] == 1
    assert group["ratios"]["b/a"]["median"] == pytest.approx(3)


class FallingLoad:
    """A 1-minute load average that falls by ``step`` at every sleep, as one
    does after a finished process; time advances only by the sleeps."""

    def __init__(self, monkeypatch, start, step):
        self.load, self.step, self.clock, self.sleeps = start, step, 0.0, []
        monkeypatch.setattr(bench.os, "getloadavg", lambda: (self.load,) * 3)
        monkeypatch.setattr(bench.time, "sleep", self.sleep)
        monkeypatch.setattr(bench.time, "monotonic", lambda: self.clock)
        # This process uses no CPU while it waits: all the load is others'.
        monkeypatch.setattr(bench, "_cpu_seconds", lambda: 0.0)
        monkeypatch.setattr(bench, "cores", lambda: 2)

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.clock += seconds
        self.load = max(0.0, self.load - self.step)


def test_a_table_waits_for_a_finished_process_load_to_fall(fake_timer, monkeypatch):
    load = FallingLoad(monkeypatch, start=2.0, step=0.4)
    recorder = bench.Recorder("toy.py", {}, {"pairs": 7, "threads": 2}, settle=90)
    with recorder.table("t", {"a": {}}) as table:
        table.add_timed({"B": 1}, bench.interleaved({"a": lambda: None}))
    record = recorder.tables["t"]
    # 2.0 -> 1.6 -> 1.2 -> 0.8 -> 0.4: four polls of 5 s, until a quarter of
    # the 2 cores, well below the half that marks a table noisy.
    assert load.sleeps == [5.0, 5.0, 5.0, 5.0]
    assert record["settle_seconds"] == 20.0
    assert record["load_before"]["others"] == pytest.approx(0.4)
    assert record["noisy"] is False


def test_a_machine_that_stays_loaded_is_noisy_after_the_settle_limit(fake_timer, monkeypatch):
    load = FallingLoad(monkeypatch, start=3.0, step=0.0)
    recorder = bench.Recorder("toy.py", {}, {"pairs": 7, "threads": 2}, settle=12)
    with recorder.table("t", {"a": {}}) as table:
        table.add_timed({"B": 1}, bench.interleaved({"a": lambda: None}))
    assert load.sleeps == [5.0, 5.0, 2.0]
    assert recorder.tables["t"]["settle_seconds"] == 12.0
    assert recorder.tables["t"]["noisy"] is True


def test_no_settle_means_no_wait(fake_timer, monkeypatch):
    load = FallingLoad(monkeypatch, start=3.0, step=1.0)
    recorder = bench.Recorder("toy.py", {}, {"pairs": 7, "threads": 2})
    with recorder.table("t", {"a": {}}) as table:
        table.add_timed({"B": 1}, bench.interleaved({"a": lambda: None}))
    assert load.sleeps == []
    assert recorder.tables["t"]["settle_seconds"] == 0.0
    assert recorder.tables["t"]["noisy"] is True


@pytest.mark.parametrize(
    ("argv", "settle"), [([], 90.0), (["--small"], 0.0), (["--settle", "5"], 5.0)]
)
def test_settle_waits_at_full_size_and_not_at_ci_size_unless_asked(argv, settle, capsys):
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--small", action="store_true")
    bench.add_arguments(parser)
    args = parser.parse_args(argv)
    bench.timing_of(parser, args)
    assert args.settle == settle
    with pytest.raises(SystemExit):
        bench.timing_of(parser, parser.parse_args(["--settle", "-1"]))
    assert "--settle must be zero or positive (got -1.0)" in capsys.readouterr().err


def test_an_interrupted_run_writes_its_open_table_whole(fake_timer, tmp_path):
    recorder = bench.Recorder("toy.py", {}, {"pairs": 7, "threads": 2})
    with pytest.raises(KeyboardInterrupt):
        with recorder.table("t", {"a": {}}) as table:
            table.add_timed({"B": 1}, bench.interleaved({"a": lambda: None}))
            recorder.write(str(tmp_path / "toy.json"), interrupted=True)
            raise KeyboardInterrupt
    data = json.loads((tmp_path / "toy.json").read_text())
    assert data["interrupted"] is True
    assert {"load_after", "noisy", "seconds"} <= set(data["tables"]["t"])


def test_subjects_must_be_declared(fake_timer):
    recorder = bench.Recorder("toy.py", {}, {"pairs": 7, "threads": 2})
    with recorder.table("t", {"a": {}}) as table:
        timings = bench.interleaved({"a": lambda: None, "b": lambda: None})
        with pytest.raises(ValueError, match=r"subjects not declared for this table: \['b'\]"):
            table.add_timed({"B": 1}, timings)


# --------------------------------------------------------------------------- #
# Peak memory, in a fresh process per case
# --------------------------------------------------------------------------- #

linux_only = pytest.mark.skipif(
    not Path("/proc/self/clear_refs").exists(), reason="peak RSS reset needs Linux /proc"
)


@linux_only
def test_peak_memory_is_the_growth_over_the_steps_in_a_fresh_process(tmp_path):
    # A case whose step holds `--worker` MB at its peak; a higher peak before
    # the steps (imports, building the inputs) does not count.
    script = tmp_path / "case.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT / 'benchmarks')!r})\n"
        "import torch\n"
        "from _results import memory_worker\n"
        "mb, threads = int(sys.argv[2]), int(sys.argv[4])\n"
        "before = torch.ones(500 * 2**18)\n"
        "del before\n"
        "memory_worker(lambda: lambda: torch.ones(mb * 2**18).sum(), threads)\n",
        encoding="utf-8",
    )
    peak = bench.peak_memory_mb(str(script), ["200"], 1, "toy")
    assert 180 <= peak <= 260


def test_a_failed_memory_run_is_retried_once_then_nan(tmp_path, capsys):
    runs = tmp_path / "runs"
    script = tmp_path / "case.py"
    script.write_text(
        "import sys\n"
        f"open({str(runs)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"
        "sys.exit('out of memory')\n",
        encoding="utf-8",
    )
    peak = bench.peak_memory_mb(str(script), ["case", "--shape", "1", "2"], 3, "case at (1, 2)")
    assert peak != peak  # NaN
    assert runs.read_text().splitlines() == ["--worker case --shape 1 2 --threads 3"] * 2
    assert "memory run of case at (1, 2) failed: out of memory" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "memory"),
    [([], True), (["--small"], False), (["--small", "--memory"], True), (["--no-memory"], False)],
)
def test_memory_is_on_at_full_size_and_off_at_ci_size_unless_asked(argv, memory):
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--small", action="store_true")
    bench.add_memory_arguments(parser, shape_size=2)
    bench.add_arguments(parser)
    args = parser.parse_args(argv)
    bench.timing_of(parser, args)
    assert args.memory is memory
    worker = parser.parse_args(["--worker", "complete", "--shape", "8", "32", "--threads", "1"])
    assert (worker.worker, worker.shape, worker.threads) == ("complete", [8, 32], 1)
