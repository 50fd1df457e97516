"""The docs' generated regions agree with the results files they come from."""

import csv
import importlib.util
import json
import re
import shutil
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from pyg_tabular.compare.report import RunLog
from pyg_tabular.run_result import RunResult

ROOT = Path(__file__).resolve().parents[1]


def _load(relative, name):
    spec = importlib.util.spec_from_file_location(name, ROOT / relative)
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the class is built.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


render = _load("scripts/render_docs.py", "render_docs")
bench = _load("benchmarks/_results.py", "bench_results")
PAGE = "docs/benchmarks.md"
#: The pages that quote the benchmarks.
BENCH_PAGES = (PAGE, "docs/limits.md", "docs/guides/swap_gatconv.md")
#: What the four benchmarks wrote at CI size (`python benchmarks/NAME.py --small
#: --results tests/fixtures/benchmarks/NAME.json`), on a loaded machine: every
#: table is noisy, and some figures contradict each other.
FIXTURES = ROOT / "tests" / "fixtures" / "benchmarks"


def _messages(problems):
    return "\n".join(map(str, problems))


def _on_pages(problems):
    return [p for p in problems if p.kind == "generated"]


def _contradictions(problems):
    return [p for p in problems if p.kind == "consistency"]


def test_docs_agree_with_their_results():
    problems = render.check(ROOT)
    assert not problems, "run `python scripts/render_docs.py`:\n" + _messages(problems)


def test_every_region_of_the_benchmarks_page_has_a_renderer():
    text = (ROOT / PAGE).read_text(encoding="utf-8")
    names = [m["name"] for m in render.REGION.finditer(text)]
    assert names, "the benchmarks page has no generated regions"
    assert all(render.renderer_of(name) is not None for name in names)


@pytest.fixture
def site(tmp_path):
    """The pages that quote the benchmarks, rendered from the CI-size results."""
    for page in BENCH_PAGES:
        (tmp_path / page).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / page, tmp_path / page)
    shutil.copytree(FIXTURES, tmp_path / "docs" / "results" / "benchmarks")
    render.check(tmp_path, write=True)
    assert _on_pages(render.check(tmp_path)) == []
    return tmp_path


def _results_file(site, name):
    return site / "docs" / "results" / "benchmarks" / f"{name}.json"


def _edit(site, name, change):
    path = _results_file(site, name)
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")


def _region_body(text, name):
    match = next(m for m in render.REGION.finditer(text) if m["name"] == name)
    return match.start("body"), match.end("body")


def test_check_catches_a_tampered_figure_in_a_page(site):
    page = site / PAGE
    text = page.read_text(encoding="utf-8")
    start, end = _region_body(text, "bench-converter-to-graph")
    # The first decimal figure in the table (below the command line).
    table = text.index("\n|", start)
    figure = re.compile(r"\d+\.\d+").search(text, table, end)
    assert figure is not None
    tampered = str(round(float(figure[0]) + 1.0, 3))
    page.write_text(text[: figure.start()] + tampered + text[figure.end() :], encoding="utf-8")

    problems = _on_pages(render.check(site))
    assert [(p.region, p.message) for p in problems] == [
        ("bench-converter-to-graph", "differs from its results")
    ]
    assert render.main(["--check", "--root", str(site)]) == 1
    assert tampered in page.read_text(encoding="utf-8")  # --check changes nothing


def _scale_ratio(data, table, label, factor):
    ratio = data["tables"][table]["groups"][0]["ratios"][label]
    for key in ("median", "q1", "q3", "min", "max"):
        ratio[key] *= factor
    ratio["values"] = [v * factor for v in ratio["values"]]


def test_check_catches_a_tampered_results_file(site):
    _edit(site, "convs", lambda d: _scale_ratio(d, "w1", "DenseGATConv/DenseFeatureGATConv", 3))

    problems = render.check(site)
    regions = {p.region for p in _on_pages(problems)}
    assert "bench-convs-w1" in regions
    assert "bench-convs-summary" in regions  # the sentence about the target
    assert "bench-convs-w2" not in regions
    # The ratio no longer matches the times it was taken from.
    assert any(
        p.region == "recorded ratio" and "DenseGATConv/DenseFeatureGATConv" in p.message
        for p in _contradictions(problems)
    )


def test_rendering_rewrites_stale_regions(site):
    page = site / PAGE
    original = page.read_text(encoding="utf-8")
    start, end = _region_body(original, "bench-scaling-summary")
    page.write_text(original[:start] + "stale\n" + original[end:], encoding="utf-8")

    render.main(["--root", str(site)])
    assert page.read_text(encoding="utf-8") == original
    assert _on_pages(render.check(site)) == []


def test_check_reports_an_unknown_region_name(site):
    page = site / PAGE
    name = "bench-no-such-table"
    region = f"<!-- BEGIN generated:{name} -->\n<!-- END generated:{name} -->"
    page.write_text(page.read_text(encoding="utf-8") + "\n" + region + "\n", encoding="utf-8")

    problems = _on_pages(render.check(site))
    assert [(p.region, p.message) for p in problems] == [
        ("bench-no-such-table", "unknown region name")
    ]
    # Writing cannot render it either: the page keeps it and the run fails.
    assert render.main(["--root", str(site)]) == 1
    assert region in page.read_text(encoding="utf-8")


def test_check_reports_a_region_without_its_end(site):
    page = site / PAGE
    page.write_text(
        page.read_text(encoding="utf-8") + "\n<!-- BEGIN generated:bench-scaling -->\n",
        encoding="utf-8",
    )
    problems = _on_pages(render.check(site))
    assert [(p.region, p.message) for p in problems] == [
        ("bench-scaling", "BEGIN marker without its END")
    ]


def test_check_reports_a_missing_results_file(site):
    _results_file(site, "scaling").unlink()

    problems = _on_pages(render.check(site))
    assert {p.region for p in problems} == {
        "bench-scaling",
        "bench-scaling-summary",
        "bench-scaling-limits",
    }
    assert all("benchmarks/scaling.json is missing" in p.message for p in problems)
    assert render.main(["--check", "--root", str(site)]) == 1


# --------------------------------------------------------------------------- #
# Benchmarks: spread, noise, verdicts, and results in the older layout
# --------------------------------------------------------------------------- #


def test_every_figure_carries_its_range_and_the_load(site):
    text = (site / PAGE).read_text(encoding="utf-8")
    start, end = _region_body(text, "bench-convs-w1")
    body = text[start:end]
    assert "median over 7 interleaved rounds" in body
    # Every time and every ratio in the table: a median, then its range.
    rows = [line for line in body.splitlines() if line.startswith("| `")]
    assert rows
    for row in rows:
        cells = row.split(" | ")[1:4]
        assert all(re.fullmatch(r"\**[\d.,]+×? \([\d.,]+–[\d.,]+\)\**", c) for c in cells), row
    assert "**Noisy**" in body and "no verdict is drawn" in body


def test_a_noisy_table_gives_no_verdict_and_a_quiet_one_does(site):
    summary = render.renderer_of("bench-convs-summary")
    results = site / "docs" / "results"
    noisy = summary(results)
    assert noisy.count("not judged (noisy)") == 2
    assert "**met**" not in noisy and "**missed**" not in noisy

    def quiet(data):
        data["tables"]["w1"]["noisy"] = False
        ratios = data["tables"]["w1"]["groups"][0]["ratios"]
        # Every round of the fast path beats the target; the dense twin's
        # rounds straddle its target of 2x.
        ratios["GATConv/FeatureGATConv"].update(min=1.6, max=40.0)
        ratios["DenseGATConv/DenseFeatureGATConv"].update(min=1.5, max=2.5)

    _edit(site, "convs", quiet)
    judged = summary(results)
    assert "not judged" not in judged
    assert "(`add_self_loops=True`): **met**" in judged
    assert "`DenseGATConv`: **unsettled** (the range straddles the target)" in judged


def test_a_verdict_is_missed_only_when_every_round_misses(site):
    def missed(data):
        data["tables"]["w1"]["noisy"] = False
        ratio = data["tables"]["w1"]["groups"][0]["ratios"]["DenseGATConv/DenseFeatureGATConv"]
        ratio.update(min=0.5, max=1.9)

    _edit(site, "convs", missed)
    text = render.renderer_of("bench-convs-summary")(site / "docs" / "results")
    assert "`DenseGATConv`: **missed**" in text


def test_results_in_the_older_layout_are_withheld_with_the_command_that_replaces_them(site):
    # A results file as the benchmarks wrote them before paired timing.
    old = {
        "benchmark": "convs",
        "command": "python benchmarks/convs.py",
        "config": {},
        "environment": {"load_average": [5.8, 5.0, 4.0], "cpu_count": 2},
        "tables": {"w1": [{"ours": "FeatureGATConv", "peer": "GATConv", "speedup": 38.5}]},
    }
    _results_file(site, "convs").write_text(json.dumps(old), encoding="utf-8")
    results = site / "docs" / "results"

    first = render.renderer_of("bench-convs-w1")(results)
    assert first.startswith("**Withheld**")
    assert "load average of 5.8 on 2 cores" in first
    assert "python benchmarks/convs.py --results docs/results/benchmarks/convs.json" in first
    assert "38.5" not in first
    assert render.renderer_of("bench-convs-summary")(results) == (
        "Withheld with the figures above (`benchmarks/convs.json`)."
    )
    assert render.renderer_of("guide-swap-cost")(results).startswith("**Withheld**")
    # Not drawn from, so not checked against the other files either.
    assert not any("convs.json" in p.page for p in render.contradictions(results))


def test_the_commands_on_the_page_are_the_ones_the_notices_give():
    text = render.renderer_of("bench-commands")(ROOT / "docs" / "results")
    for name in ("converter", "convs", "modules", "scaling"):
        assert f"benchmarks/{name}.py --results docs/results/benchmarks/{name}.json" in text
    assert "--small" not in text


# --------------------------------------------------------------------------- #
# Benchmarks: the figures checked against each other
# --------------------------------------------------------------------------- #


def _timings(seconds):
    return bench.Timings({k: list(v) for k, v in seconds.items()}, dict.fromkeys(seconds, 0))


def _write_results(results, name, tables):
    """A results file as `benchmarks/NAME.py --results` writes it: ``tables``
    maps a table name to ``(subjects, [(sizes, seconds per subject per round)])``."""
    recorder = bench.Recorder(f"{name}.py", {"small": False}, {"pairs": 7, "threads": 2})
    for table_name, (subjects, groups) in tables.items():
        grows = dict.fromkeys(subjects, ("B", "F"))
        with recorder.table(table_name, subjects, grows) as table:
            for sizes, seconds in groups:
                names = list(seconds)
                ratios = [(names[-1], names[0])] if len(names) > 1 else []
                table.add_timed(sizes, _timings(seconds), ratios)
    recorder.write(str(results / "benchmarks" / f"{name}.json"))


def _rounds(ms, spread=0.02):
    # Seven rounds around `ms` milliseconds, within ±spread.
    return [ms * 1e-3 * (1 + spread * (i - 3) / 3) for i in range(7)]


LAYER = {"layer": "toy", "step": "forward + backward of out.sum()"}
PEER = {"layer": "peer", "step": "forward + backward of out.sum()"}


@pytest.fixture
def agreeing(tmp_path):
    """Two results files whose figures agree: the same configuration (B=64,
    F=8) in three tables, times growing with B and F."""
    results = tmp_path / "docs" / "results"
    subjects = {"ours": LAYER, "peer": PEER}
    _write_results(
        results,
        "first",
        {
            "w1": (subjects, [({"B": 64, "F": 8}, {"ours": _rounds(2), "peer": _rounds(8)})]),
            "by_f": (
                subjects,
                [
                    ({"B": 64, "F": f}, {"ours": _rounds(2 * f / 8), "peer": _rounds(f)})
                    for f in (4, 8, 16)
                ],
            ),
        },
    )
    _write_results(
        results,
        "second",
        {
            "by_b": (
                {"ours": LAYER},
                [({"B": b, "F": 8}, {"ours": _rounds(b / 32)}) for b in (16, 64)],
            )
        },
    )
    return results


def test_agreeing_figures_pass_the_check(agreeing):
    assert render.contradictions(agreeing) == []
    assert render.main(["--check", "--root", str(agreeing.parents[1])]) == 0


def _set_rounds(results, name, table, sizes, subject, seconds):
    path = results / "benchmarks" / f"{name}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    group = next(g for g in data["tables"][table]["groups"] if g["sizes"] == sizes)
    group["ms"][subject] = bench.spread(1e3 * s for s in seconds)
    # Keep the recorded ratios true to the edited times: only the planted
    # contradiction should be found.
    for label in group["ratios"]:
        a, _, b = label.partition("/")
        values = [x / y for x, y in zip(group["ms"][a]["values"], group["ms"][b]["values"])]
        group["ratios"][label] = bench.spread(values)
    path.write_text(json.dumps(data), encoding="utf-8")


def test_a_planted_fall_with_f_fails_the_check(agreeing):
    # ours at F=16 planted faster than at F=8, beyond both ranges.
    _set_rounds(agreeing, "first", "by_f", {"B": 64, "F": 16}, "ours", _rounds(1))

    problems = render.contradictions(agreeing)
    growth = [p for p in problems if p.region == "growth"]
    assert growth and all("time falls as F grows" in p.message for p in growth)
    assert any("at F=8" in p.message and "at F=16" in p.message for p in growth)
    assert render.main(["--check", "--root", str(agreeing.parents[1])]) == 1


def test_a_planted_disagreement_between_tables_fails_the_check(agreeing):
    # The same configuration, twice as slow in the second file's table only.
    _set_rounds(agreeing, "second", "by_b", {"B": 64, "F": 8}, "ours", _rounds(4))

    problems = render.contradictions(agreeing)
    same = [p for p in problems if p.region == "same configuration"]
    assert same, _messages(problems)
    assert all("the ranges do not overlap, even widened by 1.25x" in p.message for p in same)
    assert any("table by_b" in p.message for p in same)


def test_a_planted_ratio_that_disagrees_between_tables_fails_the_check(agreeing):
    # peer slower at (64, 8) in one table only: its time and the ratio disagree.
    _set_rounds(agreeing, "first", "by_f", {"B": 64, "F": 8}, "peer", _rounds(16))

    messages = _messages(render.contradictions(agreeing))
    assert "peer / ours at B=64, F=8, 2 threads is" in messages


def test_ranges_that_overlap_are_not_a_contradiction(agreeing):
    # 10% slower, but the ranges (±20%) still overlap: within the spread.
    _set_rounds(agreeing, "second", "by_b", {"B": 64, "F": 8}, "ours", _rounds(2.2, 0.2))
    assert render.contradictions(agreeing) == []


def test_two_tables_may_drift_by_the_allowance_and_no_further(agreeing):
    # 15% slower with ranges of ±2%: apart, but within the drift between two tables.
    _set_rounds(agreeing, "second", "by_b", {"B": 64, "F": 8}, "ours", _rounds(2.3))
    assert render.contradictions(agreeing) == []
    # 40% slower is beyond it, in another file or in another table of the same file.
    _set_rounds(agreeing, "second", "by_b", {"B": 64, "F": 8}, "ours", _rounds(2.8))
    messages = _messages(render.contradictions(agreeing))
    assert "table by_b" in messages and "even widened by 1.25x" in messages
    _set_rounds(agreeing, "second", "by_b", {"B": 64, "F": 8}, "ours", _rounds(2.0))
    _set_rounds(agreeing, "first", "by_f", {"B": 64, "F": 8}, "ours", _rounds(2.8))
    problems = render.contradictions(agreeing)
    same = [p for p in problems if p.region == "same configuration"]
    assert any("table w1" in p.message and "table by_f" in p.message for p in same)


def test_the_benchmarks_share_configurations_for_the_check_to_compare():
    tables = defaultdict(set)
    for occ in render.occurrences(FIXTURES.parent):
        tables[occ.key()].add(f"{occ.file}:{occ.table}")
    shared = [where for where in tables.values() if len(where) > 1]
    # W1 of the convs benchmark is in both of its scaling tables; W1 of the
    # modules benchmark is in the B table of the scaling benchmark.
    convs = {f"benchmarks/convs.json:{t}" for t in ("w1", "scaling_f", "scaling_b")}
    assert any(convs <= where for where in shared)
    assert any(
        "benchmarks/modules.json:W1" in where and "benchmarks/scaling.json:gfa_b" in where
        for where in shared
    )


def test_a_planted_contradiction_in_real_results_is_found(site):
    results = site / "docs" / "results"
    before = {str(p) for p in render.contradictions(results)}

    def plant(data):
        # W1's GATConv planted 100 times faster than anything the scaling tables saw.
        group = data["tables"]["w1"]["groups"][0]
        seconds = (
            min(
                v
                for t in ("scaling_f", "scaling_b")
                for g in data["tables"][t]["groups"]
                for v in g["ms"].get("GATConv", {"values": []})["values"]
            )
            / 100
        )
        group["ms"]["GATConv"] = bench.spread([seconds] * 7)
        for label in group["ratios"]:
            a, _, b = label.partition("/")
            values = [x / y for x, y in zip(group["ms"][a]["values"], group["ms"][b]["values"])]
            group["ratios"][label] = bench.spread(values)

    _edit(site, "convs", plant)
    new = [p for p in render.contradictions(results) if str(p) not in before]
    assert any(p.region == "same configuration" and "GATConv" in p.message for p in new)
    assert render.main(["--check", "--root", str(site)]) == 1


# --------------------------------------------------------------------------- #
# Experiments: regions over the folders `pyg-tabular compare --out` writes
# --------------------------------------------------------------------------- #


def _run(model, seed, rmse, seconds, rows_per_second, added, stopped_by="patience"):
    return RunResult(
        model=model,
        seed=seed,
        metrics={"rmse": rmse},
        params=100,
        seconds_per_epoch=seconds,
        rows_per_second=rows_per_second,
        epochs_run=3,
        history=[rmse + 0.1, rmse, rmse + 0.05],
        peak_mb=400 + added,
        added_mb=added,
        stopped_by=stopped_by,
        train_seconds=3 * seconds,
        best_epoch=2,
        elapsed=[seconds, 2 * seconds, 3 * seconds],
    )


def _write_experiment(results, name, runs, folder="experiments", budget=90.0):
    # What `pyg-tabular compare --out` leaves: runs.csv, config.json and the plot.
    out = results / folder / name
    out.mkdir(parents=True)
    log = RunLog(out / "runs.csv")
    for run in runs:
        log.append(run)
    config = {"epochs": 500, "time_budget": budget, "batch_size": 256, "patience": 10}
    (out / "config.json").write_text(json.dumps(config), encoding="utf-8")
    (out / "anytime.png").write_bytes(b"\x89PNG")


@pytest.fixture
def experiments(tmp_path):
    results = tmp_path / "docs" / "results"
    runs = []
    for seed in (0, 1):
        runs += [
            _run("mlp", seed, 0.50 + seed * 0.01, 0.01, 100_000, 1),
            _run("gatconv", seed, 0.48 + seed * 0.01, 1.0, 1_000, 80),
            _run("feature-gat-1head", seed, 0.47 + seed * 0.01, 0.25, 10_000, 8),
            _run("feature-diff-split", seed, 0.49 + seed * 0.01, 0.5, 4_000, 20),
        ]
    _write_experiment(results, "toy", runs)
    return results


def test_exp_table_is_the_summary_of_the_runs(experiments):
    text = render.renderer_of("exp-table:toy")(experiments)
    lines = text.splitlines()
    header = "| model | seeds | rmse | epochs | best epoch | stopped by | converged | params |"
    assert header in text
    best = next(line for line in lines if line.startswith("| feature-gat-1head |"))
    assert "**0.4750 ± 0.0071** | 3 | 2 | patience 2 | yes |" in best
    assert not any("**" in line for line in lines if line.startswith("| gatconv |"))
    # Rows in the scripts' order, whatever order the runs ended in.
    order = [
        line.split(" | ")[0][2:] for line in lines if line.startswith("| ") and "---" not in line
    ]
    assert order[1:] == ["feature-gat-1head", "feature-diff-split", "gatconv", "mlp"]


def test_exp_summary_ranges_come_from_the_runs(experiments):
    text = render.renderer_of("exp-summary")(experiments)
    # gatconv s/epoch over ours: 1.0 / 0.25 and 1.0 / 0.5; rows/s: 10x and 4x.
    assert "train 2.00–4.00× faster per epoch" in text
    assert "predict 4.00–10.0× more rows per second" in text
    assert "add 8–20 MiB of memory where `gatconv` adds 80 MiB" in text
    # Both seeds 0.01 better: a zero-width interval that excludes zero.
    row = "| toy | rmse | 0.4750 ± 0.0071 | 0.4850 ± 0.0071 | -0.0100 [-0.0100, -0.0100] |"
    assert row + " feature-gat-1head beats gatconv |" in text


def test_exp_paired_gives_the_interval_and_the_verdict_of_the_library(experiments):
    from pyg_tabular.run_result import verdict

    text = render.renderer_of("exp-paired:toy")(experiments)
    runs = RunLog(experiments / "experiments" / "toy" / "runs.csv").read()
    for other in ("gatconv", "mlp", "feature-diff-split"):
        sentence, _ = verdict(runs, "feature-gat-1head", other, "rmse", "min")
        assert f"| {other} | " in text and sentence in text
    assert "Our best layer here, `feature-gat-1head`" in text and "2 seeds" in text


def test_unconverged_runs_make_an_equal_budget_verdict(tmp_path):
    results = tmp_path / "docs" / "results"
    runs = []
    for seed, noise in enumerate((0.0, 0.02, -0.01)):
        runs += [
            _run("feature-gat", seed, 0.45 + noise, 0.2, 10_000, 8),
            _run("tabm", seed, 0.55 + noise, 9.0, 1_000, 80, stopped_by="time"),
        ]
    _write_experiment(results, "toy", runs)
    text = render.renderer_of("exp-paired:toy")(results)
    assert "at equal budget, feature-gat beats tabm (tabm unconverged)" in text
    table = render.renderer_of("exp-table:toy")(results)
    assert "| time 3 | no |" in next(line for line in table.splitlines() if "| tabm |" in line)


def test_converged_regions_read_their_own_folder(experiments):
    with pytest.raises(render.MissingResults, match="converged/toy/runs.csv is missing"):
        render.renderer_of("exp-converged-table:toy")(experiments)
    runs = [_run("feature-gat", seed, 0.40 + seed * 0.01, 0.2, 10_000, 8) for seed in (0, 1)]
    runs += [_run("gatconv", seed, 0.41 + seed * 0.02, 1.0, 1_000, 80) for seed in (0, 1)]
    _write_experiment(experiments, "toy", runs, folder="converged", budget=1800.0)
    text = render.renderer_of("exp-converged-table:toy")(experiments)
    assert "| feature-gat | 2 | **0.4050 ± 0.0071** |" in text
    settings = render.renderer_of("exp-converged-settings:toy")(experiments)
    assert "each run until its patience stopped it, capped at 1800 s of training" in settings
    assert "patience 10 epochs" in settings
    assert "feature-gat ties with gatconv" in render.renderer_of("exp-converged-paired:toy")(
        experiments
    )


def test_the_anytime_plot_must_exist(experiments):
    text = render.renderer_of("exp-anytime:toy")(experiments)
    assert "(results/experiments/toy/anytime.png)" in text
    (experiments / "experiments" / "toy" / "anytime.png").unlink()
    with pytest.raises(render.MissingResults, match="experiments/toy/anytime.png is missing"):
        render.renderer_of("exp-anytime:toy")(experiments)


def test_the_aggregation_notes_are_the_librarys():
    from pyg_tabular.compare.report import AGGREGATION

    text = render.renderer_of("exp-aggregation")(Path("."))
    for column, how in AGGREGATION.items():
        assert f"- **{column}**: {how}." in text


def test_exp_table_of_a_missing_dataset_is_reported(experiments, tmp_path):
    page = tmp_path / "docs" / "experiments.md"
    page.write_text(
        "<!-- BEGIN generated:exp-table:nowhere -->\n<!-- END generated:exp-table:nowhere -->\n",
        encoding="utf-8",
    )
    problems = render.check(tmp_path)
    assert [p.region for p in problems] == ["exp-table:nowhere"]
    assert "experiments/nowhere/runs.csv is missing" in problems[0].message


def test_guides_without_experiments_say_so(tmp_path):
    results = tmp_path / "docs" / "results"
    names = ("guide-compare-numbers", "exp-summary", "exp-targets")
    for name in (*names, "readme-compare-default"):
        assert render.renderer_of(name)(results) == render.NO_EXPERIMENTS
    for name in ("guide-estimator-numbers", "exp-sweep", "exp-estimator-defaults"):
        with pytest.raises(render.MissingResults, match="is missing"):
            render.renderer_of(name)(results)


def test_guides_with_experiments_give_their_numbers(experiments):
    text = render.renderer_of("guide-compare-numbers")(experiments)
    assert "| toy | 4 | rmse | feature-gat-1head 0.4750 ± 0.0071 |" in text


def _fit_row(dataset, config, seed, value, seconds=100.0):
    metric = "rmse" if dataset == "california" else "accuracy"
    return {
        "dataset": dataset,
        "config": config,
        "seed": str(seed),
        "metric": metric,
        "value": f"{value:.6f}",
        "metric2": "r2" if metric == "rmse" else "log_loss",
        "value2": "0.3",
        "epochs": str(20 + seed),
        "best_epoch": str(10 + seed),
        "stop_reason": "early_stopping",
        "seconds": f"{seconds:.1f}",
        "options": "{}",
    }


def _ablation_results(results, values, levers=("ema",), chosen=True):
    """An ablation's three files: ``values`` maps (dataset, config) to its
    per-seed metric; ``combined`` is fitted when ``chosen``."""
    ablation = _load("scripts/ablate_defaults.py", "ablate_defaults")
    rows = [
        _fit_row(dataset, config, seed, value, seconds=100.0 + 50 * seed)
        for (dataset, config), per_seed in values.items()
        for seed, value in enumerate(per_seed)
        if chosen or config != "combined"
    ]
    summary = ablation.summarize(rows, list(levers))
    folder = results / "ablation"
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    settings = {
        "command": "python scripts/ablate_defaults.py --out docs/results/ablation",
        "levers": {lever: ablation.LEVERS[lever] for lever in levers},
        "baseline": {"ensemble_size": 1, "ema_decay": None},
        "combination_from": None,
        "seeds": len(next(iter(values.values()))),
        "split": "80/20 train/test split",
        "validation_fraction": 0.15,
        "time_budget": 300.0,
        "threads": 1,
    }
    (folder / "settings.json").write_text(json.dumps(settings), encoding="utf-8")
    with open(folder / "fits.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return summary, settings


#: An ablation whose combination (ema) the estimators ship: better than the
#: default on both tables, behind hgb on Adult beyond its interval, tied on
#: California.
SHIPPED = {
    ("california", "default"): [0.47, 0.48, 0.46],
    ("california", "ema"): [0.46, 0.47, 0.45],
    ("california", "combined"): [0.465, 0.462, 0.468],
    ("california", "hgb"): [0.46, 0.47, 0.467],
    ("adult", "default"): [0.855, 0.857, 0.856],
    ("adult", "ema"): [0.860, 0.861, 0.859],
    ("adult", "combined"): [0.860, 0.861, 0.862],
    ("adult", "hgb"): [0.870, 0.869, 0.871],
}


def test_the_defaults_figures_are_the_ablations_shipped_configuration(tmp_path):
    results = tmp_path / "docs" / "results"
    summary, settings = _ablation_results(results, SHIPPED)
    assert summary["combined"]["levers"] == ["ema"]
    guide = render.renderer_of("guide-estimator-numbers")(results)
    lines = {line.split(" | ")[0].lstrip("| "): line for line in guide.splitlines()}
    assert lines["adult"].startswith("| adult | accuracy | 0.8610 ± 0.0010 | 200 | 0.8700 ± 0.0010")
    assert "loses to (-0.0090 [" in lines["adult"]
    assert "ties with" in lines["california"]
    assert "3 seeds, an 80/20 split per seed, 1 CPU thread per fit" in guide
    table = render.renderer_of("exp-estimator-defaults")(results)
    assert "| adult | 2 | accuracy | 0.8620 | 200.0 | 22 | 12 | patience |" in table
    assert "| adult | 0 | accuracy | 0.855" not in table  # the old default's fit
    assert "`combined` configuration (the defaults before the ablation with ema)" in table
    # No lever chosen: the shipped defaults are the ablation's baseline.
    other = tmp_path / "other" / "docs" / "results"
    _ablation_results(other, {k: v for k, v in SHIPPED.items() if k[1] != "ema"}, (), False)
    table = render.renderer_of("exp-estimator-defaults")(other)
    assert "| adult | 0 | accuracy | 0.8550 |" in table and "no lever helped" in table


def test_exp_targets_read_paired_verdicts_from_the_runs(tmp_path):
    results = tmp_path / "docs" / "results"
    runs = []
    for seed, noise in enumerate((0.0, 0.01, -0.005)):
        # ours; gatconv clearly worse every seed; gatv2conv worse on average
        # but not every seed (a tie); transformerconv clearly better.
        # FT-Transformer worse, TabM clearly better.
        runs += [
            _run("feature-gat", seed, 0.45 + noise, 0.2, 10_000, 8),
            _run("gatconv", seed, 0.50 + noise, 1.0, 1_000, 80),
            _run("gatv2conv", seed, 0.452 + (-noise if seed else 0.004), 1.0, 1_000, 80),
            _run("transformerconv", seed, 0.40 + noise, 1.0, 1_000, 80),
            _run("ft-transformer", seed, 0.47 + noise, 1.0, 1_000, 80),
            _run("tabm", seed, 0.30 + noise, 1.0, 1_000, 80),
        ]
    _write_experiment(results, "california", runs)
    _ablation_results(results, SHIPPED)
    text = render.renderer_of("exp-targets")(results)
    rows = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines()}
    best = rows["best of ours on california (equal budget): rmse ≤ 0.46"]
    assert "feature-gat 0.4517 ± 0.0076" in best and best.endswith("| **met** |")
    beats = rows[
        "california (equal budget): our best layer beats gatconv, gatv2conv, transformerconv"
    ]
    assert "feature-gat beats gatconv, Δ -0.0500 [-0.0500, -0.0500]" in beats
    assert "feature-gat ties with gatv2conv" in beats
    assert "feature-gat loses to transformerconv" in beats and beats.endswith("| **missed** |")
    # No converged folder: no converged rows.
    assert not any("(converged)" in name for name in rows)
    assert "adult: not run" in text and "0 of 4" in text
    estimator = rows["default estimator on california: rmse ≤ 0.47"]
    assert "0.4650 over 3 seed(s), longest fit 200 s" in estimator and "**met**" in estimator
    assert rows["default estimator on adult: accuracy ≥ 0.865"].endswith("| **missed** |")


def test_exp_ablation_renders_the_ablations_summary(tmp_path):
    ablation = _load("scripts/ablate_defaults.py", "ablate_defaults")
    results = tmp_path / "docs" / "results"
    assert "Not run yet" in render.renderer_of("exp-ablation")(results)
    rows = []
    for seed, (default, ensemble, hgb) in enumerate(
        [(0.80, 0.82, 0.90), (0.81, 0.831, 0.91), (0.82, 0.839, 0.92)]
    ):
        for config, value in (("default", default), ("ensemble", ensemble), ("hgb", hgb)):
            rows.append(
                {
                    "dataset": "adult",
                    "config": config,
                    "seed": str(seed),
                    "metric": "accuracy",
                    "value": str(value),
                    "metric2": "log_loss",
                    "value2": "0.3",
                    "epochs": str(20 + seed),
                    "best_epoch": "12",
                    "stop_reason": "early_stopping",
                    "seconds": "100.0",
                }
            )
    summary = ablation.summarize(rows, ["ensemble"])
    folder = results / "ablation"
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    settings = {
        "command": "python scripts/ablate_defaults.py --out docs/results/ablation",
        "levers": {"ensemble": {"ensemble_size": 32}},
        "seeds": 3,
        "split": "80/20 train/test split",
        "validation_fraction": 0.15,
        "time_budget": 900.0,
        "threads": 1,
        "baseline": {"ensemble_size": 1, "dropout": 0.0},
    }
    (folder / "settings.json").write_text(json.dumps(settings), encoding="utf-8")
    text = render.renderer_of("exp-ablation")(results)
    first, versus, caption = text.split("\n\n")
    lines = {line.split(" | ")[0].lstrip("| "): line for line in first.splitlines()}
    difference = summary["datasets"]["adult"]["configs"]["ensemble"]["vs_default"]
    assert lines["default"] == (
        "| default | the defaults before the ablation: ensemble_size=1, dropout=0.0 "
        "| 0.8100 ± 0.0100 |"
    )
    assert lines["**ensemble**"] == (
        f"| **ensemble** | ensemble_size=32 | 0.8300 ({difference['mean']:+.4f} "
        f"[{difference['low']:+.4f}, {difference['high']:+.4f}]) |"
    )
    assert lines["hgb"] == "| hgb | HistGradientBoosting | 0.9100 ± 0.0100 |"
    assert "| default | loses to hgb (-0.1000 [-0.1000, -0.1000]) |" in versus
    assert "| combined |" not in versus  # the combination was not fitted here
    assert "it chose ensemble" in caption and "adult 20–22 (early_stopping 3)" in caption
    assert "combined:" not in caption
    assert "Time budget 900 s per fit" in caption and settings["command"] in caption


def test_exp_sweep_gives_the_paired_intervals_and_how_every_fit_ended(tmp_path):
    sweep = _load("scripts/sweep_defaults.py", "sweep_defaults")
    results = tmp_path / "docs" / "results"
    rows = []
    for seed, (first, second) in enumerate([(0.80, 0.78), (0.81, 0.80), (0.82, 0.80)]):
        for config, value, stop in (
            ("residual-piecewise", first, "early_stopping"),
            ("residual-linear", second, "time_budget"),
        ):
            rows.append(
                {
                    "dataset": "adult",
                    "config": config,
                    "seed": str(seed),
                    "metric": "accuracy",
                    "value": str(value),
                    "fit_seconds": "100.0",
                    "epochs": str(20 + seed),
                    "best_epoch": "12",
                    "stop_reason": stop,
                }
            )
    summary = sweep.summarize(rows)
    folder = results / "sweep"
    folder.mkdir(parents=True)
    with (folder / "sweep.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, sweep.FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    with (folder / "summary.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, list(summary[0]))
        writer.writeheader()
        writer.writerows(summary)
    settings = {
        "command": "python scripts/sweep_defaults.py --seeds 3 --out docs/results/sweep",
        "datasets": ["adult"],
        "configs": {c: sweep.CONFIGS[c] for c in ("residual-piecewise", "residual-linear")},
        "seeds": 3,
        "time_budget": 300.0,
        "threads": 1,
        "jobs": 2,
    }
    (folder / "settings.json").write_text(json.dumps(settings), encoding="utf-8")
    ranking, _, versus, caption = render.renderer_of("exp-sweep")(results).split("\n\n")
    assert ranking.splitlines()[2].startswith("| **residual-piecewise** |")
    # residual-linear is 0.02, 0.01 and 0.02 behind: a t-interval below zero.
    line = next(x for x in versus.splitlines() if x.startswith("| residual-linear"))
    assert line == "| residual-linear | -0.0167 [-0.0310, -0.0023] |"
    assert "adult 20–22, best 12 (patience 3, time 3)" in caption
    assert "3 seed(s), 300 s per fit, 1 thread(s) per fit, 2 fit(s) side by side" in caption
