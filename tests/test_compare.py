import pytest
import torch

from pyg_tabular import compare


def test_binary_auc_matches_scikit_learn_with_ties():
    metrics = pytest.importorskip("sklearn.metrics")
    generator = torch.Generator().manual_seed(0)
    score = torch.randint(0, 5, (200,), generator=generator).double()  # many ties
    label = torch.randint(0, 2, (200,), generator=generator)
    expected = metrics.roc_auc_score(label.numpy(), score.numpy())
    assert compare._binary_auc(score, label) == pytest.approx(expected, abs=1e-12)


def test_regression_task_reports_rmse_in_target_units():
    task = compare.load_task("diabetes", seed=0)
    assert task.kind == "regression" and task.num_outputs == 1
    # Standardised on train: mean 0, std 1 there, and the scale is kept to undo it.
    assert abs(float(task.train.y.mean())) < 1e-5
    assert task.target_scale > 10.0

    class Constant(torch.nn.Module):
        def forward(self, x):
            return torch.zeros(x.size(0), 1)

    rmse = compare.evaluate(Constant(), task.test, task.kind, task.target_scale)["rmse"]
    expected = float((task.test.y**2).mean().sqrt()) * task.target_scale
    assert rmse == pytest.approx(expected)


def test_gatconv_feature_net_matches_per_row_evaluation():
    torch.manual_seed(0)
    model = compare.GATConvFeatureNet(num_features=5, num_outputs=3).eval()
    x = torch.randn(4, 5)
    batched = model(x)
    one_by_one = torch.cat([model(x[i : i + 1]) for i in range(4)])
    torch.testing.assert_close(batched, one_by_one, atol=1e-5, rtol=1e-5)


def test_feature_gat_net_is_the_gatconv_net_with_our_conv():
    # Same weights, score bias zero: the two comparison models are one function,
    # so the comparison measures the conv implementation and nothing else.
    torch.manual_seed(0)
    ours = compare.FeatureGATNet(num_features=6, num_outputs=2).eval()
    peer = compare.GATConvFeatureNet(num_features=6, num_outputs=2).eval()
    with torch.no_grad():
        ours.conv.att_bias.zero_()
    state = {k: v for k, v in ours.state_dict().items() if k != "conv.att_bias"}
    peer.load_state_dict(state)
    x = torch.randn(5, 6)
    torch.testing.assert_close(ours(x), peer(x), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(compare.MODELS))
def test_every_registered_model_maps_rows_to_outputs(name):
    model = compare.MODELS[name](7, 3)
    out = model(torch.randn(4, 7))
    assert out.shape == (4, 3)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
