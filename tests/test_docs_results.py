"""The docs' generated regions agree with the results files they come from."""

import csv
import importlib.util
import json
import re
import shutil
import sys
from pathlib import Path

import pytest

from pyg_tabular.compare.report import summarize
from pyg_tabular.run_result import RunResult

ROOT = Path(__file__).resolve().parents[1]


def _load_renderer():
    spec = importlib.util.spec_from_file_location(
        "render_docs", ROOT / "scripts" / "render_docs.py"
    )
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the class is built.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


render = _load_renderer()
PAGE = "docs/benchmarks.md"


def _messages(problems):
    return "\n".join(map(str, problems))


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
    """A copy of the benchmarks page and its results, consistent to begin with."""
    (tmp_path / "docs").mkdir()
    shutil.copy(ROOT / PAGE, tmp_path / PAGE)
    shutil.copytree(ROOT / "docs" / "results", tmp_path / "docs" / "results")
    assert render.check(tmp_path) == []
    return tmp_path


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

    problems = render.check(site)
    assert [(p.region, p.message) for p in problems] == [
        ("bench-converter-to-graph", "differs from its results")
    ]
    assert render.main(["--check", "--root", str(site)]) == 1
    assert tampered in page.read_text(encoding="utf-8")  # --check changes nothing


def test_check_catches_a_tampered_results_file(site):
    path = site / "docs" / "results" / "benchmarks" / "convs.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    row = next(r for r in data["tables"]["w1"] if r["peer"] == "DenseGATConv")
    row["speedup"] *= 3
    path.write_text(json.dumps(data), encoding="utf-8")

    regions = {p.region for p in render.check(site)}
    assert "bench-convs-w1" in regions
    assert "bench-convs-summary" in regions  # the sentence about the target
    assert "bench-convs-w2" not in regions


def test_rendering_rewrites_stale_regions(site):
    page = site / PAGE
    original = page.read_text(encoding="utf-8")
    start, end = _region_body(original, "bench-scaling-summary")
    page.write_text(original[:start] + "stale\n" + original[end:], encoding="utf-8")

    assert render.main(["--root", str(site)]) == 0
    assert page.read_text(encoding="utf-8") == original
    assert render.check(site) == []


def test_check_reports_an_unknown_region_name(site):
    page = site / PAGE
    name = "bench-no-such-table"
    region = f"<!-- BEGIN generated:{name} -->\n<!-- END generated:{name} -->"
    page.write_text(page.read_text(encoding="utf-8") + "\n" + region + "\n", encoding="utf-8")

    problems = render.check(site)
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
    problems = render.check(site)
    assert [(p.region, p.message) for p in problems] == [
        ("bench-scaling", "BEGIN marker without its END")
    ]


def test_check_reports_a_missing_results_file(site):
    (site / "docs" / "results" / "benchmarks" / "scaling.json").unlink()

    problems = render.check(site)
    assert {p.region for p in problems} == {"bench-scaling", "bench-scaling-summary"}
    assert all("benchmarks/scaling.json is missing" in p.message for p in problems)
    assert render.main(["--check", "--root", str(site)]) == 1


# --------------------------------------------------------------------------- #
# Experiments: regions over the folders `pyg-tabular compare --out` writes
# --------------------------------------------------------------------------- #


def _run(model, seed, rmse, seconds, rows_per_second, added):
    return RunResult(
        model=model,
        seed=seed,
        metrics={"rmse": rmse},
        params=100,
        seconds_per_epoch=seconds,
        rows_per_second=rows_per_second,
        epochs_run=3,
        peak_mb=400 + added,
        added_mb=added,
    )


def _write_experiment(results, name, runs):
    # The same rows and columns as `pyg-tabular compare` writes to results.csv.
    rows = summarize(runs)
    folder = results / "experiments" / name
    folder.mkdir(parents=True)
    with open(folder / "results.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


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


def test_exp_table_renders_the_compare_csv(experiments):
    text = render.renderer_of("exp-table:toy")(experiments)
    lines = text.splitlines()
    header = "| model | seeds | rmse | epochs | best epoch | stopped by | converged | params |"
    assert header in text
    best = next(line for line in lines if line.startswith("| feature-gat-1head |"))
    assert "**0.4750 ± 0.0071**" in best
    assert not any("**" in line for line in lines if line.startswith("| gatconv |"))


def test_exp_summary_ranges_come_from_the_csv(experiments):
    text = render.renderer_of("exp-summary")(experiments)
    # gatconv s/epoch over ours: 1.0 / 0.25 and 1.0 / 0.5; rows/s: 10x and 4x.
    assert "train 2.00–4.00× faster per epoch" in text
    assert "predict 4.00–10.0× more rows per second" in text
    assert "add 8–20 MiB of memory where `gatconv` adds 80 MiB" in text
    assert "| toy | rmse | feature-gat-1head 0.4750 ± 0.0071 | 0.4850 ± 0.0071 |" in text


def test_exp_table_of_a_missing_dataset_is_reported(experiments, tmp_path):
    page = tmp_path / "docs" / "experiments.md"
    page.write_text(
        "<!-- BEGIN generated:exp-table:nowhere -->\n<!-- END generated:exp-table:nowhere -->\n",
        encoding="utf-8",
    )
    problems = render.check(tmp_path)
    assert [p.region for p in problems] == ["exp-table:nowhere"]
    assert "experiments/nowhere/results.csv is missing" in problems[0].message


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


def _estimator_defaults(results, california, adult):
    folder = results / "estimator_defaults"
    folder.mkdir(parents=True)
    (folder / "settings.json").write_text(
        json.dumps({"time_budget": 600.0, "threads": 1, "command": "sweep"}), encoding="utf-8"
    )
    lines = ["dataset,config,seed,metric,value,fit_seconds,epochs"]
    lines += [f"california,default,0,rmse,{california},500.0,40"]
    lines += [f"adult,default,0,accuracy,{adult},300.0,20"]
    (folder / "sweep.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_exp_targets_read_met_or_missed_from_the_results(tmp_path):
    results = tmp_path / "docs" / "results"
    runs = []
    for seed in (0, 1):
        # ours 0.45 ± 0.007; gatconv clearly worse; gatv2conv within one std;
        # transformerconv clearly better. FT-Transformer worse, TabM better.
        runs += [
            _run("feature-gat", seed, 0.45 + seed * 0.01, 0.2, 10_000, 8),
            _run("gatconv", seed, 0.50 + seed * 0.01, 1.0, 1_000, 80),
            _run("gatv2conv", seed, 0.452 + seed * 0.01, 1.0, 1_000, 80),
            _run("transformerconv", seed, 0.40 + seed * 0.01, 1.0, 1_000, 80),
            _run("ft-transformer", seed, 0.47 + seed * 0.01, 1.0, 1_000, 80),
            _run("tabm", seed, 0.30 + seed * 0.01, 1.0, 1_000, 80),
        ]
    _write_experiment(results, "california", runs)
    _estimator_defaults(results, "0.4650", "0.8600")
    text = render.renderer_of("exp-targets")(results)
    rows = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines()}
    assert "feature-gat 0.4550 ± 0.0071" in rows["best of ours on california: rmse ≤ 0.46"]
    assert rows["best of ours on california: rmse ≤ 0.46"].endswith("| **met** |")
    beats = rows[
        "california: our best layer beats gatconv, gatv2conv, transformerconv by more than one std"
    ]
    assert "beats gatconv 0.5050 ± 0.0071" in beats
    assert "beats gatv2conv 0.4570 ± 0.0071 (within one std)" in beats
    assert "loses to transformerconv" in beats and beats.endswith("| **missed** |")
    assert "adult: not run" in text and "0 of 4" in text
    estimator = rows["default estimator on california: rmse ≤ 0.47"]
    assert "0.4650 over 1 seed(s), longest fit 500 s" in estimator and "**met**" in estimator
    assert rows["default estimator on adult: accuracy ≥ 0.865"].endswith("| **missed** |")
