import csv
import json
import sys

import pytest
import torch

from pyg_tabular import compare, training
from pyg_tabular.cli import main
from pyg_tabular.compare import (
    NUMERIC_EMBEDDINGS,
    EnsembleMean,
    Split,
    Task,
    build_model,
    make_optimizer,
    model_names,
    train_one,
)
from pyg_tabular.compare.metrics import metrics_of

TINY_CLI = ["--epochs", "1", "--seeds", "1", "--max-rows", "200", "--in-process"]


def _task(kind="binary", rows=(40, 12, 12), num_numeric=3, cardinalities=(3, 4), seed=0):
    # Numerics, then category codes (0 = unknown) as the task matrix holds them.
    generator = torch.Generator().manual_seed(seed)
    classes = {"regression": 1, "binary": 2, "multiclass": 3}[kind]

    def split(n):
        numeric = torch.randn(n, num_numeric, generator=generator)
        codes = [torch.randint(0, c, (n, 1), generator=generator) for c in cardinalities]
        x = torch.cat([numeric, *[c.float() for c in codes]], dim=1)
        if kind == "regression":
            y = numeric.sum(1) + torch.randn(n, generator=generator) * 0.1
        else:
            y = torch.randint(0, classes, (n,), generator=generator)
        return Split(x, y)

    train, val, test = (split(n) for n in rows)
    return Task(
        name="tiny",
        train=train,
        val=val,
        test=test,
        kind=kind,
        num_outputs=1 if kind != "multiclass" else classes,
        feature_names=[f"f{i}" for i in range(num_numeric + len(cardinalities))],
        num_numeric=num_numeric,
        cardinalities=list(cardinalities),
    )


def _rows(path):
    with open(path) as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("kind", ["regression", "binary", "multiclass"])
@pytest.mark.parametrize("name", ["ft-transformer", "tabm"])
def test_each_peer_trains_end_to_end(name, kind):
    task = _task(kind)
    result = train_one(name, task, seed=0, epochs=2, batch_size=16)
    expected = {"regression": {"rmse"}, "binary": {"accuracy", "auc"}}.get(kind, {"accuracy"})
    assert set(result.metrics) == expected
    assert all(value == value for value in result.metrics.values())  # no NaN
    assert result.model == name and result.params > 0
    assert result.epochs_run == len(result.history) == 2
    assert result.stopped_by == "epochs" and result.train_seconds > 0


def test_ft_transformer_is_the_authors_default_model_on_numerics_and_codes():
    from rtdl_revisiting_models import FTTransformer

    task = _task("multiclass")
    model = build_model("ft-transformer", task)
    assert type(model.model) is FTTransformer and model.model._is_default
    assert len(model.model.backbone.blocks) == 3
    assert model.model.cont_embeddings.weight.shape == (3, 192)
    assert [e.num_embeddings for e in model.model.cat_embeddings.embeddings] == [3, 4]
    # It keeps its own linear embeddings whatever the comparison's kind.
    assert "ft-transformer" not in compare.EMBEDDING_MODELS
    x = task.test.x[:5].clone()
    x[:, 3:] = 0.0  # the unknown code is an ordinary category
    assert model(x).shape == (5, 3)
    # The codes reach the model: another code, another output.
    model.eval()
    other = x.clone()
    other[:, 4] = 2.0
    assert not torch.allclose(model(other), model(x))


def test_tabm_is_the_packages_model_with_one_hot_categoricals():
    from tabm import TabM

    task = _task("binary")
    model = build_model("tabm", task)
    assert type(model.model) is TabM
    assert model.ensemble_size == model.model.k == 32
    assert model.model.num_module is None  # "linear": the numerics as they are
    assert model.model.cat_module.get_output_shape() == (3 + 4,)
    assert model(task.test.x[:5]).shape == (5, 32, 1)


def test_the_runner_trains_and_evaluates_tabm_as_an_ensemble(monkeypatch):
    task = _task("multiclass")
    seen = {"sizes": [], "test": []}
    loss = compare.runner.member_loss
    evaluate = compare.runner.evaluate

    def loss_spy(out, y, kind, ensemble_size=None):
        seen["sizes"].append((tuple(out.shape), ensemble_size))
        return loss(out, y, kind, ensemble_size)

    def evaluate_spy(model, split, kind, target_scale=1.0):
        if split is task.test:
            seen["test"].append(model)
        return evaluate(model, split, kind, target_scale)

    # The runner trains with the one home of the ensemble helpers.
    assert compare.member_loss is training.member_loss
    assert compare.EnsembleMean is training.EnsembleMean
    monkeypatch.setattr(compare.runner, "member_loss", loss_spy)
    monkeypatch.setattr(compare.runner, "evaluate", evaluate_spy)
    result = train_one("tabm", task, seed=0, epochs=1, batch_size=16)
    assert {size for _, size in seen["sizes"]} == {32}
    assert all(shape[1:] == (32, 3) for shape, _ in seen["sizes"])
    (predictor,) = seen["test"]
    assert isinstance(predictor, EnsembleMean)
    # The test metric is the one of the members' mean probability, by hand.
    with torch.no_grad():
        probability = torch.softmax(predictor.model(task.test.x), -1).mean(1)
    assert result.metrics == pytest.approx(metrics_of(probability, task.test, task.kind, 1.0))
    # A single model is trained as one.
    seen["sizes"].clear()
    train_one("mlp", task, seed=0, epochs=1, batch_size=16)
    assert {size for _, size in seen["sizes"]} == {None}


def _groups(name, task, **overrides):
    torch.manual_seed(0)
    model = build_model(name, task)
    optimizer = make_optimizer(model, **overrides)
    assert isinstance(optimizer, torch.optim.AdamW)
    grouped = [p for group in optimizer.param_groups for p in group["params"]]
    # Every parameter is optimised, once.
    assert len(grouped) == len({id(p) for p in grouped}) == len(list(model.parameters()))
    return model, optimizer.param_groups


def test_each_model_is_trained_with_its_optimizer_recipe():
    task = _task()
    model, groups = _groups("ft-transformer", task)
    assert [(g["lr"], g["weight_decay"]) for g in groups] == [(1e-4, 1e-5), (1e-4, 0.0)]
    exempt = {id(p) for p in groups[1]["params"]}
    transformer = model.model
    for parameter in [
        *transformer.cls_embedding.parameters(),
        *transformer.cont_embeddings.parameters(),
        *transformer.cat_embeddings.parameters(),
        transformer.backbone.blocks[0].attention.W_q.bias,
    ]:
        assert id(parameter) in exempt
    assert id(transformer.backbone.blocks[0].attention.W_q.weight) not in exempt
    _, groups = _groups("tabm", task)
    assert [(g["lr"], g["weight_decay"]) for g in groups] == [(2e-3, 3e-4)]
    for name in ("mlp", "feature-gat"):
        _, groups = _groups(name, task)
        assert [(g["lr"], g["weight_decay"]) for g in groups] == [(3e-3, 1e-5)]
    # The caller overrides the recipe; a group's own "no decay" stays.
    _, groups = _groups("ft-transformer", task, lr=0.01, weight_decay=0.1)
    assert [(g["lr"], g["weight_decay"]) for g in groups] == [(0.01, 0.1), (0.01, 0.0)]


def test_train_one_uses_the_models_recipe(monkeypatch):
    made = []
    make = compare.runner.make_optimizer

    def spy(model, **overrides):
        made.append(make(model, **overrides))
        return made[-1]

    monkeypatch.setattr(compare.runner, "make_optimizer", spy)
    task = _task()
    train_one("ft-transformer", task, seed=0, epochs=1, batch_size=16)
    train_one("mlp", task, seed=0, epochs=1, batch_size=16, lr=0.05)
    assert [g["weight_decay"] for g in made[0].param_groups] == [1e-5, 0.0]
    assert {g["lr"] for g in made[0].param_groups} == {1e-4}
    assert [(g["lr"], g["weight_decay"]) for g in made[1].param_groups] == [(0.05, 1e-5)]


@pytest.mark.parametrize(
    "name, package", [("ft-transformer", "rtdl_revisiting_models"), ("tabm", "tabm")]
)
def test_a_missing_peers_extra_is_named(monkeypatch, capsys, tmp_path, name, package):
    monkeypatch.setitem(sys.modules, package, None)  # import now raises ImportError
    assert name in model_names()
    message = 'pip install "pyg-tabular[peers]"'
    with pytest.raises(ImportError, match=message.replace("[", r"\[").replace("]", r"\]")):
        train_one(name, _task(), seed=0, epochs=1)
    # The command line refuses it before any training.
    assert main(["compare", "--models", f"mlp,{name}", "--out", str(tmp_path), *TINY_CLI]) == 2
    error = capsys.readouterr().err
    assert message in error and name in error
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", NUMERIC_EMBEDDINGS)
def test_every_embedding_model_is_built_with_the_comparisons_kind(kind):
    from rtdl_num_embeddings import PeriodicEmbeddings, PiecewiseLinearEmbeddings

    from pyg_tabular.nn.models import fit_bins

    task = _task("regression")
    module = {"linear": type(None), "periodic": PeriodicEmbeddings}
    module["piecewise-linear"] = PiecewiseLinearEmbeddings
    graph = build_model("feature-gat", task, numeric_embedding=kind).model
    assert graph.numeric_embedding == kind
    mlp = build_model("mlp", task, numeric_embedding=kind)
    assert type(mlp.numeric_embeddings) is module[kind]
    tabm = build_model("tabm", task, numeric_embedding=kind)
    assert type(tabm.model.num_module) is module[kind]
    if kind == "piecewise-linear":
        # Bins come from the train split only.
        train_bins = fit_bins(task.train.x[:, :3])
        every_row = torch.cat([task.train.x, task.val.x, task.test.x])[:, :3]
        assert any(
            a.shape != b.shape or not torch.equal(a, b)
            for a, b in zip(train_bins, fit_bins(every_row))
        )
        for fitted, expected in zip(graph.bins, train_bins):
            torch.testing.assert_close(fitted, expected)
        encoding = compare.numeric_embeddings(kind, task).impl
        torch.testing.assert_close(
            encoding.weight,
            PiecewiseLinearEmbeddings(train_bins, 16, activation=False, version="B").impl.weight,
        )
        assert mlp.numeric_embeddings.linear0 is not None  # version "B"
    # And each trains in the comparison.
    for name in ("feature-gat", "mlp", "tabm"):
        result = train_one(name, task, seed=0, epochs=1, batch_size=16, numeric_embedding=kind)
        assert result.epochs_run == 1 and result.metrics["rmse"] > 0


def test_a_registered_graph_net_keeps_its_own_embedding():
    task = _task()
    compare.register_model(
        "feature-gat-periodic",
        compare.graph_net("feature-gat", numeric_embedding="periodic"),
        numeric_embedding=True,
    )
    try:
        model = build_model("feature-gat-periodic", task, numeric_embedding="linear")
        assert model.model.numeric_embedding == "periodic"
        assert "feature-gat-periodic" in compare.EMBEDDING_MODELS
    finally:
        del compare.MODELS["feature-gat-periodic"]
        compare.EMBEDDING_MODELS.remove("feature-gat-periodic")
    with pytest.raises(ValueError, match="numeric_embedding must be one of .* 'cubic'"):
        build_model("mlp", task, numeric_embedding="cubic")


def test_the_peers_stop_at_the_time_budget_and_say_so():
    task = _task()
    for name in ("ft-transformer", "tabm"):
        result = train_one(name, task, seed=0, epochs=50, batch_size=16, time_budget=1e-6)
        assert result.epochs_run == 1 and result.stopped_by == "time"
        assert result.train_seconds > 0 and result.seconds_per_epoch > 0


def test_early_stopping_is_recorded_as_patience(monkeypatch):
    task = _task()
    evaluate = compare.runner.evaluate
    scripted = iter([0.9, 0.5, 0.5, 0.5])

    def spy(model, split, kind, target_scale=1.0):
        metrics = evaluate(model, split, kind, target_scale)
        return metrics if split is task.test else {**metrics, "accuracy": next(scripted)}

    monkeypatch.setattr(compare.runner, "evaluate", spy)
    result = train_one("mlp", task, seed=0, epochs=10, patience=2, batch_size=16)
    assert result.epochs_run == 3 and result.stopped_by == "patience"


def test_the_cli_runs_peers_with_an_embedding_and_records_it(tmp_path, capsys):
    out = tmp_path / "out"
    arguments = ["--models", "mlp,tabm", "--numeric-embedding", "piecewise-linear"]
    assert main(["compare", *arguments, "--out", str(out), *TINY_CLI]) == 0
    assert "piecewise-linear numeric embedding" in capsys.readouterr().out
    assert json.loads((out / "config.json").read_text())["numeric_embedding"] == "piecewise-linear"
    runs = _rows(out / "runs.csv")
    assert [r["model"] for r in runs] == ["mlp", "tabm"]
    assert all(r["stopped_by"] == "epochs" and float(r["train_seconds"]) > 0 for r in runs)
    # Resuming with another embedding would mix runs that are not comparable.
    again = ["compare", "--models", "mlp", "--out", str(out), "--resume", *TINY_CLI]
    assert main([*again, "--numeric-embedding", "linear"]) == 2
    assert "numeric_embedding: 'piecewise-linear' -> 'linear'" in capsys.readouterr().err
    assert main([*again, "--numeric-embedding", "piecewise-linear"]) == 0


def test_a_bad_numeric_embedding_exits_2_naming_option_and_value(tmp_path, capsys):
    code = main(["compare", "--numeric-embedding", "cubic", "--out", str(tmp_path), *TINY_CLI])
    assert code == 2
    error = capsys.readouterr().err
    assert "--numeric-embedding" in error and "'cubic'" in error
    assert list(tmp_path.iterdir()) == []


def test_an_older_output_folder_resumes_as_linear(tmp_path, capsys):
    common = ["compare", "--models", "mlp", "--out", str(tmp_path), *TINY_CLI]
    assert main([*common, "--numeric-embedding", "linear"]) == 0
    config = json.loads((tmp_path / "config.json").read_text())
    del config["numeric_embedding"]  # written before the option existed
    (tmp_path / "config.json").write_text(json.dumps(config))
    capsys.readouterr()
    assert main([*common, "--resume", "--numeric-embedding", "periodic"]) == 2
    assert "numeric_embedding: 'linear' -> 'periodic'" in capsys.readouterr().err
    # Today's default is another kind: the older folder resumes only as linear.
    assert main([*common, "--resume"]) == 2
    assert main([*common, "--resume", "--numeric-embedding", "linear"]) == 0
