import pytest
import torch

torch_frame = pytest.importorskip("torch_frame")

from pyg_tabular.data import rows_to_graph  # noqa: E402
from pyg_tabular.frame import FeatureGraphFrame, FeatureGraphTableConv  # noqa: E402
from pyg_tabular.nn.conv import FeatureGATConv  # noqa: E402


def _block_by_hand(conv, x):
    # The documented block, written out from its parts with the same weights.
    out = conv.conv(x)
    hidden = conv.norm_attention(x + out)
    return conv.norm_feedforward(hidden + conv.feedforward(hidden))


@pytest.mark.parametrize("layer", ["feature-gat", "feature-diff"])
def test_block_is_the_documented_composition(layer):
    torch.manual_seed(0)
    conv = FeatureGraphTableConv(8, heads=2, layer=layer).eval()
    x = torch.randn(5, 6, 8)
    torch.testing.assert_close(conv(x), _block_by_hand(conv, x))


def test_attention_equals_the_sparse_conv_on_the_batched_graph():
    # The dense conv inside the block and our sparse FeatureGATConv compute one
    # function: same weights, the rows as PyG feature graphs.
    torch.manual_seed(1)
    conv = FeatureGraphTableConv(8, heads=2).eval()
    sparse = FeatureGATConv(8, 8, heads=2, concat=False)
    sparse.load_state_dict(conv.conv.state_dict())
    x = torch.randn(4, 5, 8)
    batch = rows_to_graph(x)
    expected = sparse(batch.x, batch.edge_index).view(4, 5, 8)
    torch.testing.assert_close(conv.conv(x), expected, atol=1e-5, rtol=1e-5)


def test_batch_equals_one_row_at_a_time_and_graph_is_respected():
    torch.manual_seed(2)
    adj = torch.eye(5, dtype=torch.bool) | torch.rand(5, 5).lt(0.5)
    conv = FeatureGraphTableConv(8, heads=2, adj=adj).eval()
    x = torch.randn(6, 5, 8)
    rows = torch.cat([conv(x[i : i + 1]) for i in range(6)])
    torch.testing.assert_close(conv(x), rows, atol=1e-6, rtol=1e-5)
    _, attention = conv(x, return_attention_weights=True)
    assert attention.shape == (6, 2, 5, 5)
    assert bool((attention[:, :, ~adj] == 0).all())


def test_bad_input_names_the_argument_and_value():
    conv = FeatureGraphTableConv(8, num_cols=5)
    with pytest.raises(ValueError, match=r"x must have shape \[batch_size, num_cols, 8\]"):
        conv(torch.randn(4, 8))
    with pytest.raises(ValueError, match=r"num_cols=5 \(got shape \(2, 4, 8\)\)"):
        conv(torch.randn(2, 4, 8))
    with pytest.raises(
        ValueError, match="layer must be 'feature-gat' or 'feature-diff' \\(got 'x'\\)"
    ):
        FeatureGraphTableConv(8, layer="x")
    with pytest.raises(ValueError, match="heads must be a positive int \\(got 0\\)"):
        FeatureGraphTableConv(8, heads=0)


def _breast_cancer_frame():
    datasets = pytest.importorskip("sklearn.datasets")
    table = datasets.load_breast_cancer(as_frame=True).frame
    # One categorical column, so both of pytorch-frame's encoders are exercised.
    table["size_band"] = ["small", "medium", "large"] * (len(table) // 3) + ["small"] * (
        len(table) % 3
    )
    col_to_stype = {c: torch_frame.numerical for c in table.columns if c not in ("target",)}
    col_to_stype["size_band"] = torch_frame.categorical
    col_to_stype["target"] = torch_frame.categorical
    dataset = torch_frame.data.Dataset(table, col_to_stype=col_to_stype, target_col="target")
    dataset.materialize()
    return dataset.shuffle() if hasattr(dataset, "shuffle") else dataset


# pytorch-frame 0.3 wraps pandas 3's read-only arrays with torch.from_numpy.
@pytest.mark.filterwarnings("ignore:The given NumPy array is not writable")
def test_model_trains_on_a_tensor_frame_from_a_bundled_dataset():
    torch.manual_seed(0)
    dataset = _breast_cancer_frame()
    frame = dataset.tensor_frame
    train, test = frame[:450], frame[450:]
    model = FeatureGraphFrame(
        channels=16,
        out_channels=2,
        num_layers=2,
        col_stats=dataset.col_stats,
        col_names_dict=frame.col_names_dict,
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(8):
        epoch_loss = 0.0
        for start in range(0, 450, 64):
            batch = train[start : start + 64]
            loss = torch.nn.functional.cross_entropy(model(batch), batch.y.long())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            epoch_loss += float(loss.detach()) * batch.num_rows
        losses.append(epoch_loss / 450)
    model.eval()
    with torch.no_grad():
        accuracy = float((model(test).argmax(-1) == test.y.long()).float().mean())
    majority = float(max(test.y.float().mean(), 1 - test.y.float().mean()))
    assert losses[-1] < losses[0]
    assert accuracy > majority + 0.1, (accuracy, majority)


@pytest.mark.parametrize("old, new", [("gat", "feature-gat"), ("diff", "feature-diff")])
def test_old_layer_names_warn_and_build_the_same_block(old, new):
    torch.manual_seed(0)
    with pytest.warns(FutureWarning, match=f"now called '{new}'"):
        legacy = FeatureGraphTableConv(8, heads=2, layer=old)
    torch.manual_seed(0)
    renamed = FeatureGraphTableConv(8, heads=2, layer=new)
    assert legacy.layer == new and type(legacy.conv) is type(renamed.conv)
    x = torch.randn(3, 4, 8)
    torch.testing.assert_close(legacy.eval()(x), renamed.eval()(x))
