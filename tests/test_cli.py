import csv
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from pyg_tabular.cli import main

TINY = ["--epochs", "1", "--max-rows", "200", "--in-process"]


def _rows(path):
    with open(path) as handle:
        return list(csv.DictReader(handle))


def test_compare_runs_end_to_end_and_writes_results(tmp_path, capsys):
    models = "mlp,hgb,gatconv,feature-gat-1head"
    arguments = f"compare --models {models} --seeds 2 --epochs 2 --max-rows 200 --in-process"
    code = main([*arguments.split(), "--out", str(tmp_path)])
    assert code == 0
    printed = capsys.readouterr().out
    header = "| model | seeds | accuracy | auc | epochs | best epoch | stopped by | converged |"
    assert header in printed
    assert "| 95% interval | seeds | verdict |" in printed  # the paired differences
    rows = _rows(tmp_path / "results.csv")
    assert [row["model"] for row in rows] == ["mlp", "hgb", "gatconv", "feature-gat-1head"]
    for row in rows:
        assert row["seeds"] == "2"
        mean, spread = row["accuracy"].split(" ± ")
        assert 0.0 <= float(mean) <= 1.0 and float(spread) >= 0.0
        if row["model"] == "hgb":
            assert " leaves in " in row["params"]
        else:
            assert int(row["params"]) > 0
            # Two epochs at most: the neural runs end on the epoch cap, unconverged.
            assert row["stopped by"] == "epochs 2" and row["converged"] == "no"
    assert (tmp_path / "results.md").read_text().startswith("| model |")
    runs = _rows(tmp_path / "runs.csv")
    assert len(runs) == 8 and {run["seed"] for run in runs} == {"0", "1"}
    for name in ("learning_curves", "metric_bars", "anytime", "attention"):
        assert (tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--models", "mlp,nope"], "unknown names ['nope']"),
        (["--models", ","], "names no model"),
        (["--models", "mlp,mlp"], "names ['mlp'] more than once"),
        # An old name and its new one are the same model.
        (["--models", "gfa,feature-gat-1head"], "names ['feature-gat-1head'] more than once"),
        (["--batch-size", "0"], "--batch-size: must be a positive integer (got 0)"),
        (["--threads", "0"], "--threads: must be a positive integer (got 0)"),
        (["--seeds", "0"], "--seeds: must be a positive integer"),
        (["--epochs", "-1"], "--epochs: must be a positive integer"),
        (["--max-rows", "0"], "--max-rows: must be a positive integer"),
        (["--max-rows", "50"], "--max-rows: must be at least 100"),
        (["--time-budget", "0"], "--time-budget: must be a positive number"),
        (["--dataset", "no_such_table"], "unknown dataset 'no_such_table'; known: breast_cancer"),
        (["--resume", "--overwrite"], "not allowed with argument"),
        (["--target", "y"], "--target applies to --data only"),
        (["--drop", "id"], "--drop applies to --data only"),
        (["--data", "t.csv"], "--data needs --target"),
        (["--data", "t.csv", "--target", "y", "--dataset", "wine"], "either --dataset or --data"),
        (["--data", "missing.csv", "--target", "y"], "does not exist"),
        (["--data", "t.xlsx", "--target", "y"], ".csv or .parquet"),
        (["--data", "t.csv", "--target", "y"], "rows, fewer than 10; use more rows"),
    ],
)
def test_misuse_exits_2_with_a_clear_message_and_touches_nothing(
    tmp_path, capsys, monkeypatch, arguments, message
):
    monkeypatch.chdir(tmp_path)
    Path("t.csv").write_text("x,y\n" + "".join(f"{i},{i % 2}\n" for i in range(20)))
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.csv").write_text("model,accuracy\nmlp,0.9\n")
    # --overwrite too: even a run allowed to replace --out must not touch it on misuse.
    options = [] if "--overwrite" in arguments else ["--overwrite"]
    code = main(["compare", *arguments, "--out", str(out), *options, *TINY])
    assert code == 2
    assert message in capsys.readouterr().err
    # Nothing ran and nothing was written, truncated or deleted.
    assert sorted(p.name for p in out.iterdir()) == ["results.csv"]
    assert (out / "results.csv").read_text() == "model,accuracy\nmlp,0.9\n"


def test_a_non_empty_out_is_refused_without_resume_or_overwrite(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["compare", "--models", "mlp", "--seeds", "1", "--out", str(tmp_path), *TINY]) == 2
    assert "--resume" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    not_a_folder = tmp_path / "notes.txt"
    assert main(["compare", "--models", "mlp", "--out", str(not_a_folder), *TINY]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_resume_skips_finished_runs_and_overwrite_removes_stale_files(tmp_path, capsys):
    common = ["compare", "--models", "mlp", "--out", str(tmp_path), *TINY]
    assert main([*common, "--seeds", "1"]) == 0
    first = _rows(tmp_path / "runs.csv")
    capsys.readouterr()
    assert main([*common, "--seeds", "2", "--resume"]) == 0
    printed = capsys.readouterr().out
    assert "seed 0" not in printed and "seed 1" in printed
    runs = _rows(tmp_path / "runs.csv")
    assert runs[:1] == first and [r["seed"] for r in runs] == ["0", "1"]
    assert _rows(tmp_path / "results.csv")[0]["seeds"] == "2"
    # Resuming with other settings would mix runs that are not comparable.
    assert main([*common, "--seeds", "2", "--resume", "--batch-size", "64"]) == 2
    assert "batch_size: 128 -> 64" in capsys.readouterr().err

    (tmp_path / "attention.png").write_bytes(b"stale")
    assert main([*common, "--seeds", "1", "--overwrite"]) == 0
    assert len(_rows(tmp_path / "runs.csv")) == 1
    assert not (tmp_path / "attention.png").exists()  # mlp has no attention to plot
    assert json.loads((tmp_path / "config.json").read_text())["dataset"] == "breast_cancer"


def test_compare_on_a_users_csv(tmp_path, capsys):
    import numpy as np

    rng = np.random.default_rng(0)
    rows = 240
    a, b = rng.normal(size=(2, rows))
    colour = rng.choice(["red", "green", "blue"], size=rows)
    label = np.where(a + (colour == "red") > 0.3, "high", "low")
    lines = ["a,b,colour,label"] + [
        f"{x:.4f},{y:.4f},{c},{t}" for x, y, c, t in zip(a, b, colour, label)
    ]
    table = tmp_path / "shop.csv"
    table.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    arguments = "--target label --models mlp,hgb,feature-gat --seeds 2 --epochs 2 --in-process"
    code = main(["compare", "--data", str(table), "--out", str(out), *arguments.split()])
    assert code == 0
    printed = capsys.readouterr().out
    # The string column is found categorical, the task inferred from the target.
    assert "dataset shop: binary, 3 features (1 categorical), 168/36/36" in printed
    assert [r["model"] for r in _rows(out / "results.csv")] == ["mlp", "hgb", "feature-gat"]
    runs = _rows(out / "runs.csv")
    assert len(runs) == 6 and all(0.0 <= float(r["accuracy"]) <= 1.0 for r in runs)
    attention = json.loads(next(r["attention"] for r in runs if r["model"] == "feature-gat"))
    assert np.array(attention).shape == (3, 3)
    assert (out / "attention.png").read_bytes()[:4] == b"\x89PNG"
    again = ["compare", "--data", str(table), "--out", str(out), "--overwrite", *TINY]
    # A column that is not there is named, and the earlier results stay.
    assert main([*again, "--target", "price"]) == 2
    assert "'price' is not a column" in capsys.readouterr().err
    assert len(_rows(out / "runs.csv")) == 6
    # --task overrides the inference.
    assert main([*again, "--target", "colour", "--task", "multiclass", "--models", "mlp"]) == 0
    assert "dataset shop: multiclass, 3 features (1 categorical)" in capsys.readouterr().out


def _interrupt_after_runs(tmp_path, extra, finished):
    out = tmp_path / "out"
    command = [sys.executable, "-m", "pyg_tabular.cli", "compare", "--models", "mlp"]
    command += ["--seeds", "300", "--epochs", "1", "--max-rows", "200", "--out", str(out)]
    # A session of its own: the SIGINT reaches the parent only, which must end its
    # worker itself; and the group shows whether any process outlived it.
    process = subprocess.Popen(
        command + extra,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and process.poll() is None:
            runs = out / "runs.csv"
            if runs.exists() and len(runs.read_text().splitlines()) > finished:
                break
            time.sleep(0.1)
        assert process.poll() is None, process.communicate()
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _group_alive(process.pid):
        time.sleep(0.2)
    alive = _group_alive(process.pid)
    if alive:
        os.killpg(process.pid, signal.SIGKILL)
    assert not alive, "a worker outlived the interrupted comparison"
    return process.returncode, stdout, stderr, out


def _group_alive(group):
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def _check_interrupted(code, stdout, stderr, out, finished):
    assert code == 130, stderr
    assert "interrupted" in stderr
    announced = [line.split()[1] for line in stdout.splitlines() if "  seed " in line]
    runs = _rows(out / "runs.csv")
    # Every run that finished is in runs.csv, and each row is a finished run.
    # A run is saved before it is announced, so the interrupt may fall between
    # the two: runs.csv then holds one run more than the output announced.
    assert len(runs) >= finished
    seeds = [r["seed"] for r in runs]
    assert seeds == [str(i) for i in range(len(runs))]
    assert seeds[: len(announced)] == announced
    assert len(seeds) - len(announced) in (0, 1)
    (summary,) = _rows(out / "results.csv")
    assert summary["model"] == "mlp" and summary["seeds"] == str(len(runs))


def test_ctrl_c_keeps_every_finished_run_and_their_summary(tmp_path):
    code, stdout, stderr, out = _interrupt_after_runs(tmp_path, ["--in-process"], 3)
    _check_interrupted(code, stdout, stderr, out, 3)


@pytest.mark.slow
def test_ctrl_c_during_an_isolated_run_ends_its_worker(tmp_path):
    code, stdout, stderr, out = _interrupt_after_runs(tmp_path, [], 1)
    _check_interrupted(code, stdout, stderr, out, 1)


def _light_modules_after(arguments):
    # A fresh interpreter, as the console script starts: which heavy packages
    # did parsing these arguments import?
    code = (
        "import sys\n"
        "from pyg_tabular.cli import main\n"
        f"status = main({arguments!r})\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & set(sys.argv[1:]))\n"
        "print(status, *heavy, file=sys.stderr)\n"
    )
    heavy = ["torch", "torch_geometric", "sklearn", "pandas", "numpy", "matplotlib", "scipy"]
    done = subprocess.run(
        [sys.executable, "-c", code, *heavy],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        timeout=120,
    )
    return done.stderr.strip().splitlines()[-1].split()


@pytest.mark.parametrize(
    "arguments, status",
    [
        ([], 2),
        (["--help"], 0),
        (["compare", "--help"], 0),
        (["compare", "--seeds", "0"], 2),
        (["compare", "--max-rows", "50"], 2),
        (["compare", "--task", "ranking"], 2),
        (["compare", "--numeric-embedding", "nope"], 2),
        (["compare", "--resume", "--overwrite"], 2),
        (["compare", "--target", "y"], 2),
        (["compare", "--data", "t.xlsx", "--target", "y"], 2),
        (["compare", "--data", "missing.csv", "--target", "y"], 2),
        (["compare", "--jobs", "2", "--in-process"], 2),
    ],
)
def test_help_and_argument_errors_import_nothing_heavy(arguments, status):
    # --help and the errors that the arguments alone show answer before torch,
    # PyG, scikit-learn or pandas is imported (each costs seconds to import).
    assert _light_modules_after(arguments) == [str(status)]


def test_the_light_import_test_sees_a_heavy_import():
    # The check above can fail: a run that trains imports torch.
    assert "torch" in _light_modules_after(["compare", "--models", "nope"])


def _integer_target_csv(path, rows=200, distinct=60):
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.normal(size=rows)
    days = rng.permutation(np.arange(rows) % distinct)
    lines = ["a,ticket,day,stay"] + [
        f"{x:.4f},T{i:05d},2024-01-{1 + i % 28:02d},{d}" for i, (x, d) in enumerate(zip(a, days))
    ]
    path.write_text("\n".join(lines) + "\n")


def test_an_integer_target_with_many_values_is_refused_with_the_task_to_pass(tmp_path, capsys):
    table = tmp_path / "stays.csv"
    _integer_target_csv(table)
    out = tmp_path / "out"
    code = main(["compare", "--data", str(table), "--target", "stay", "--out", str(out), *TINY])
    assert code == 2
    error = capsys.readouterr().err
    assert "holds 60 distinct integers in 200 rows" in error
    assert "--task regression" in error and not out.exists()


def test_ids_and_dates_are_left_out_with_one_warning_and_the_header_counts_right(tmp_path, capsys):
    table = tmp_path / "stays.csv"
    _integer_target_csv(table)
    out = tmp_path / "out"
    arguments = ["--data", str(table), "--target", "stay", "--task", "regression"]
    arguments += ["--models", "mlp", "--seeds", "2", "--time-budget", "30"]
    with warnings.catch_warnings(record=True) as escaped:
        warnings.simplefilter("always")
        code = main(["compare", *arguments, "--out", str(out), *TINY])
    assert code == 0
    captured = capsys.readouterr()
    # Told once, as the command's own warning, although two seeds loaded the table.
    assert captured.err.count("cannot carry signal") == 1
    assert not [w for w in escaped if "cannot carry signal" in str(w.message)]
    assert "pyg-tabular compare: warning: columns 'ticket' (an ID" in captured.err
    assert "'day' (dates)" in captured.err and "--categorical" in captured.err
    header = captured.out.splitlines()[0]
    assert header.startswith("dataset stays: regression, 1 feature (0 categorical),")
    assert "2 seeds, <= 1 epoch or 30 s of training per run" in header
    assert "(1 epoch, " in captured.out and "1 epochs" not in captured.out
    # Listed as categorical, a column is kept; the others are the user's to drop.
    again = ["compare", *arguments, "--categorical", "day", "--out", str(out), "--overwrite"]
    assert main([*again, *TINY]) == 2
    assert "'ticket' is not numeric" in capsys.readouterr().err
    assert main([*again, "--drop", "ticket", *TINY]) == 0
    captured = capsys.readouterr()
    assert "2 features (1 categorical)" in captured.out
    assert "cannot carry signal" not in captured.err


# Every setting a --resume must share with the runs in --out, and a change of
# it. A setting that config.json records but this table lacks fails
# test_every_recorded_setting_is_checked_on_resume.
RESUME_CHANGES = {
    "dataset": ["--dataset", "wine"],
    "epochs": ["--epochs", "2"],
    "batch_size": ["--batch-size", "64"],
    "max_rows": ["--max-rows", "150"],
    "time_budget": ["--time-budget", "30"],
    "numeric_embedding": ["--numeric-embedding", "linear"],
    "patience": ["--patience", "3"],
    "data": ["--data", "copy.csv"],
    "target": ["--target", "flag"],
    "task": ["--task", "binary"],
    "categorical": ["--categorical", "colour"],
    "drop": ["--drop", "b"],
}
_ON_DATA = {"data", "target", "task", "categorical", "drop"}


def _resume_table(folder):
    import numpy as np

    rng = np.random.default_rng(0)
    rows = 240
    a, b = rng.normal(size=(2, rows))
    colour = rng.choice(["red", "green", "blue"], size=rows)
    lines = ["a,b,colour,label,flag"] + [
        f"{x:.4f},{y:.4f},{c},{int(x + (c == 'red') > 0.3)},{int(y > 0)}"
        for x, y, c in zip(a, b, colour)
    ]
    text = "\n".join(lines) + "\n"
    (folder / "table.csv").write_text(text)
    (folder / "copy.csv").write_text(text)


@pytest.fixture(scope="module")
def finished_runs(tmp_path_factory):
    r"""Two --out folders, each holding a finished run: one on a named
    dataset, one on a user's table."""
    folder = tmp_path_factory.mktemp("resume")
    _resume_table(folder)
    common = ["compare", "--models", "mlp", "--seeds", "1", "--epochs", "1", "--in-process"]
    named = [*common, "--dataset", "breast_cancer", "--max-rows", "200"]
    table = [*common, "--data", str(folder / "table.csv"), "--target", "label"]
    for name, arguments in (("named", named), ("table", table)):
        assert main([*arguments, "--out", str(folder / name)]) == 0
    return folder, {"named": named, "table": table}


def test_every_recorded_setting_is_checked_on_resume(finished_runs):
    folder, _ = finished_runs
    for name in ("named", "table"):
        recorded = json.loads((folder / name / "config.json").read_text())
        assert set(recorded) == set(RESUME_CHANGES)


@pytest.mark.parametrize("setting", sorted(RESUME_CHANGES))
def test_resume_refuses_any_other_setting(finished_runs, tmp_path, capsys, monkeypatch, setting):
    import shutil

    folder, base = finished_runs
    name = "table" if setting in _ON_DATA else "named"
    out = tmp_path / "out"
    shutil.copytree(folder / name, out)
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    monkeypatch.chdir(folder)  # where copy.csv is
    capsys.readouterr()
    # argparse keeps an option's last value: the change overrides the base.
    changed = [*base[name], *RESUME_CHANGES[setting], "--seeds", "2"]
    code = main([*changed, "--resume", "--out", str(out)])
    assert code == 2
    error = capsys.readouterr().err
    assert "--resume needs the settings of the runs in" in error and f"{setting}: " in error
    # Nothing trained, nothing written.
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before


def test_compare_shows_each_runs_progress_while_it_trains(tmp_path, capsys, monkeypatch):
    from pyg_tabular import compare

    # Plain lines (no terminal here), one per epoch.
    display = compare.ProgressDisplay
    monkeypatch.setattr(compare, "ProgressDisplay", lambda: display(interval=0.0))
    arguments = ["--models", "mlp,hgb", "--seeds", "1", "--epochs", "2", "--max-rows", "200"]
    assert main(["compare", *arguments, "--in-process", "--out", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    progress = [line for line in lines if ": epoch " in line]
    assert [line.split(": epoch ")[1].split(",")[0] for line in progress] == ["1/2", "2/2"]
    assert all(line.startswith("  seed 0            mlp: epoch ") for line in progress)
    assert all(" s, best accuracy 0." in line for line in progress)
    # The progress comes before the run's result.
    result = next(
        i for i, line in enumerate(lines) if line.startswith("  seed 0            mlp: acc")
    )
    assert lines.index(progress[-1]) < result


def test_only_pyg_tabulars_warnings_about_the_table_become_the_commands(
    tmp_path, capsys, monkeypatch
):
    from pyg_tabular import compare

    load = compare.load_source

    def noisy(source, **kwargs):
        warnings.warn_explicit("a library's own", FutureWarning, "elsewhere.py", 1)
        return load(source, **kwargs)

    monkeypatch.setattr(compare, "load_source", noisy)
    with pytest.warns(FutureWarning, match="a library's own"):
        assert (
            main(["compare", "--models", "mlp", "--seeds", "1", *TINY, "--out", str(tmp_path)]) == 0
        )
    assert "a library's own" not in capsys.readouterr().err


def test_graphs_run_each_model_on_each_feature_graph(tmp_path, capsys):
    arguments = ["compare", "--models", "feature-gat-1head", "--graphs", "complete,knn,learned"]
    code = main([*arguments, "--seeds", "1", "--out", str(tmp_path), *TINY])
    assert code == 0
    rows = _rows(tmp_path / "results.csv")
    assert [row["model"] for row in rows] == [
        "feature-gat-1head",
        "feature-gat-1head-knn",
        "feature-gat-1head-learned",
    ]


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--graphs", "star"], "expected graphs among complete, knn, learned (got 'star')"),
        (["--models", "mlp", "--graphs", "complete,knn"], "model 'mlp' has no 'knn' variant"),
    ],
)
def test_graphs_misuse_exits_2_and_touches_nothing(tmp_path, capsys, arguments, message):
    out = tmp_path / "out"
    code = main(["compare", *arguments, "--out", str(out), *TINY])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()
