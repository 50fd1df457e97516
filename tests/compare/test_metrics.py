import pytest
import torch

from pyg_tabular.compare import Split, binary_auc, evaluate, load_task


def test_binary_auc_matches_scikit_learn_with_ties():
    metrics = pytest.importorskip("sklearn.metrics")
    generator = torch.Generator().manual_seed(0)
    score = torch.randint(0, 5, (200,), generator=generator).double()  # many ties
    label = torch.randint(0, 2, (200,), generator=generator)
    expected = metrics.roc_auc_score(label.numpy(), score.numpy())
    assert binary_auc(score, label) == pytest.approx(expected, abs=1e-12)


def test_binary_auc_is_nan_without_both_classes():
    assert torch.isnan(torch.tensor(binary_auc(torch.rand(5), torch.ones(5, dtype=torch.long))))


def test_regression_task_reports_rmse_in_target_units():
    task = load_task("diabetes", seed=0)
    assert task.kind == "regression" and task.num_outputs == 1
    # Standardised on train: mean 0, std 1 there, and the scale is kept to undo it.
    assert abs(float(task.train.y.mean())) < 1e-5
    assert task.target_scale > 10.0

    class Constant(torch.nn.Module):
        def forward(self, x):
            return torch.zeros(x.size(0), 1)

    rmse = evaluate(Constant(), task.test, task.kind, task.target_scale)["rmse"]
    expected = float((task.test.y**2).mean().sqrt()) * task.target_scale
    assert rmse == pytest.approx(expected)


def test_multiclass_accuracy_reads_the_argmax():
    split = Split(torch.zeros(4, 1), torch.tensor([0, 1, 2, 2]))

    class Scores(torch.nn.Module):
        def forward(self, x):
            return torch.tensor([[5.0, 0, 0], [0, 5.0, 0], [5.0, 0, 0], [0, 0, 5.0]])

    assert evaluate(Scores(), split, "multiclass") == {"accuracy": 0.75}
