import io
import itertools

import pytest
import torch

from pyg_tabular.nn.tabular import GraphFeatureAggregation

BACKENDS = ["dense", "sparse"]
EMBEDDINGS = ["shared", "per_feature"]
# A feature template over 5 features (source row, target row); feature 4 has
# no incoming edge, feature 0 sends to itself.
TEMPLATE = torch.tensor([[0, 1, 2, 3, 0, 2, 1], [0, 0, 1, 1, 2, 3, 3]])


def randomize(module, seed=0, scale=0.5):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * scale)
    return module


def make_mask(batch_size, num_features, seed=1):
    mask = torch.rand(batch_size, num_features, generator=torch.Generator().manual_seed(seed)) > 0.3
    mask[0] = False  # a row with nothing present
    mask[1] = True
    if batch_size > 2 and num_features > 1:
        mask[2] = False
        mask[2, 1] = True  # a row with one present feature
    return mask


def reference(module, x, mask=None, template=None):
    """The documented formula with the explicit (B, F, F, 2E) pair tensor.

    Absent features (mask False) neither send nor receive; a target without
    neighbours aggregates zeros; the output of an absent cell is b_o.
    """
    batch_size, num_features = x.shape
    e = module.embed_dim
    w_p = module.projection.weight.reshape(-1, e)  # [1 or F, E]
    b_p = module.projection.bias.reshape(-1, e)
    a_1, a_2 = module.attention[:e], module.attention[e:]
    c = module.attention_bias
    w_o, b_o = module.out_proj.weight.view(e), module.out_proj.bias
    present = torch.ones_like(x, dtype=torch.bool) if mask is None else mask
    x = torch.where(present, x, torch.zeros_like(x))
    h = x.unsqueeze(-1) * w_p + b_p  # [B, F, E]
    pairs = torch.cat(
        [
            h.unsqueeze(2).expand(-1, -1, num_features, -1),  # h_i at [b, i, j]
            h.unsqueeze(1).expand(-1, num_features, -1, -1),  # h_j at [b, i, j]
        ],
        dim=-1,
    )  # [B, F, F, 2E]
    score = torch.nn.functional.leaky_relu(
        pairs @ torch.cat([a_1, a_2]) + c, module.negative_slope
    )  # [B, F, F]
    adjacency = torch.ones(num_features, num_features, dtype=torch.bool)
    if template is not None:
        adjacency = torch.zeros_like(adjacency)
        for source, target in template.t().tolist():
            adjacency[target, source] = True
    y = torch.empty_like(x)
    alpha_all = torch.zeros(batch_size, 1, num_features, num_features, dtype=x.dtype)
    for b in range(batch_size):
        for i in range(num_features):
            if not present[b, i]:
                y[b, i] = b_o
                continue
            neighbours = [j for j in range(num_features) if adjacency[i, j] and present[b, j]]
            agg = torch.zeros(e, dtype=x.dtype)
            if neighbours:
                alpha = torch.softmax(score[b, i, neighbours], dim=0)
                alpha_all[b, 0, i, neighbours] = alpha
                agg = (alpha.unsqueeze(-1) * h[b, neighbours]).sum(0)
            y[b, i] = w_o @ agg + b_o + x[b, i]
    return y, alpha_all


OPTIONS = list(itertools.product(BACKENDS, EMBEDDINGS, [False, True], [False, True]))


@pytest.mark.parametrize("backend,embedding,masked,templated", OPTIONS)
def test_matches_reference_float64(backend, embedding, masked, templated):
    torch.manual_seed(0)
    module = GraphFeatureAggregation(
        6, negative_slope=0.3, feature_embedding=embedding, num_features=5, backend=backend
    )
    module = randomize(module.double())
    x = torch.randn(4, 5, dtype=torch.float64)
    mask = make_mask(4, 5) if masked else None
    template = TEMPLATE if templated else None
    out, attention = module(x, mask=mask, edge_index=template, return_attention_weights=True)
    expected, expected_attention = reference(module, x, mask, template)
    torch.testing.assert_close(out, expected, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(attention, expected_attention, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize(
    "embedding,masked,templated", list(itertools.product(EMBEDDINGS, [0, 1], [0, 1]))
)
def test_dense_and_sparse_agree_float32(embedding, masked, templated):
    torch.manual_seed(0)
    dense = GraphFeatureAggregation(8, feature_embedding=embedding, num_features=5, backend="dense")
    sparse = GraphFeatureAggregation(
        8, feature_embedding=embedding, num_features=5, backend="sparse"
    )
    sparse.load_state_dict(randomize(dense).state_dict())
    x = torch.randn(16, 5)
    mask = make_mask(16, 5) if masked else None
    template = TEMPLATE if templated else None
    x_dense, x_sparse = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_d, att_d = dense(x_dense, mask, template, return_attention_weights=True)
    out_s, att_s = sparse(x_sparse, mask, template, return_attention_weights=True)
    torch.testing.assert_close(out_s, out_d, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(att_s, att_d, atol=1e-5, rtol=1e-5)
    weights = torch.randn(16, 5)
    (out_d * weights).sum().backward()
    (out_s * weights).sum().backward()
    torch.testing.assert_close(x_sparse.grad, x_dense.grad, atol=1e-5, rtol=1e-4)
    for (name, p_d), p_s in zip(dense.named_parameters(), sparse.parameters()):
        torch.testing.assert_close(p_s.grad, p_d.grad, atol=1e-4, rtol=1e-4, msg=name)


def test_auto_backend_takes_both_paths():
    torch.manual_seed(0)
    auto = randomize(GraphFeatureAggregation(4))
    dense = GraphFeatureAggregation(4, backend="dense")
    dense.load_state_dict(auto.state_dict())
    x = torch.randn(6, 5)
    torch.testing.assert_close(auto(x), dense(x), atol=0, rtol=0)
    torch.testing.assert_close(auto(x, edge_index=TEMPLATE), dense(x, edge_index=TEMPLATE))


def test_template_edges_are_respected_and_repeats_collapse():
    torch.manual_seed(0)
    module = randomize(GraphFeatureAggregation(4, backend="sparse"))
    x = torch.randn(3, 5)
    _, attention = module(x, edge_index=TEMPLATE, return_attention_weights=True)
    allowed = torch.zeros(5, 5, dtype=torch.bool)
    allowed[TEMPLATE[1], TEMPLATE[0]] = True
    assert (attention[:, :, ~allowed] == 0).all()
    assert (attention[:, 0, 4] == 0).all()  # no incoming edge: no attention
    repeated = torch.cat([TEMPLATE, TEMPLATE[:, :3]], dim=1)
    torch.testing.assert_close(module(x, edge_index=repeated), module(x, edge_index=TEMPLATE))


def test_target_without_neighbours_keeps_only_bias_and_residual():
    module = randomize(GraphFeatureAggregation(4))
    x = torch.randn(3, 5)
    out = module(x, edge_index=TEMPLATE)
    torch.testing.assert_close(out[:, 4], x[:, 4] + module.out_proj.bias)


@pytest.mark.parametrize("backend", BACKENDS)
def test_shapes_and_attention_rows(backend):
    module = GraphFeatureAggregation(8, backend=backend)
    out, attention = module(torch.randn(7, 3), return_attention_weights=True)
    assert out.shape == (7, 3) and attention.shape == (7, 1, 3, 3)
    assert ((attention >= 0) & (attention <= 1)).all()
    torch.testing.assert_close(attention.sum(-1), torch.ones(7, 1, 3))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("embedding", EMBEDDINGS)
def test_batch_equals_row_by_row(backend, embedding):
    torch.manual_seed(0)
    module = randomize(
        GraphFeatureAggregation(5, feature_embedding=embedding, num_features=4, backend=backend)
    )
    x = torch.randn(6, 4)
    mask = make_mask(6, 4)
    batched = module(x, mask)
    rows = torch.cat([module(x[b : b + 1], mask[b : b + 1]) for b in range(6)])
    torch.testing.assert_close(batched, rows, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_permuting_features_permutes_outputs(backend):
    torch.manual_seed(0)
    module = randomize(GraphFeatureAggregation(6, backend=backend))
    x = torch.randn(5, 7)
    perm = torch.randperm(7)
    torch.testing.assert_close(module(x[:, perm]), module(x)[:, perm], atol=1e-6, rtol=1e-6)


def test_per_feature_embedding_tells_features_apart():
    torch.manual_seed(0)
    module = randomize(GraphFeatureAggregation(6, feature_embedding="per_feature", num_features=7))
    assert module.projection.weight.shape == (7, 6) and module.projection.bias.shape == (7, 6)
    x = torch.randn(5, 7)
    perm = torch.tensor([1, 0, 2, 3, 4, 5, 6])
    assert not torch.allclose(module(x[:, perm]), module(x)[:, perm], atol=1e-3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_masked_nan_never_leaks(backend):
    torch.manual_seed(0)
    module = randomize(
        GraphFeatureAggregation(4, feature_embedding="per_feature", num_features=5, backend=backend)
    )
    x = torch.randn(6, 5)
    mask = make_mask(6, 5)
    x_nan = x.masked_fill(~mask, float("nan")).requires_grad_()
    out, attention = module(x_nan, mask, return_attention_weights=True)
    assert torch.isfinite(out).all() and torch.isfinite(attention).all()
    # Absent cells: the input-free value b_o; no attention in or out.
    torch.testing.assert_close(out[~mask], module.out_proj.bias.expand(int((~mask).sum())))
    assert (attention.squeeze(1)[~mask] == 0).all()
    assert (attention.squeeze(1).transpose(1, 2)[~mask] == 0).all()
    # Present cells do not depend on what absent cells hold.
    other = module(x.masked_fill(~mask, 123.0), mask)
    torch.testing.assert_close(out[mask], other[mask])
    out.sum().backward()
    assert torch.isfinite(x_nan.grad).all() and (x_nan.grad[~mask] == 0).all()
    for name, p in module.named_parameters():
        assert torch.isfinite(p.grad).all(), name


def test_dropout_acts_only_in_training():
    torch.manual_seed(0)
    module = randomize(GraphFeatureAggregation(8, dropout=0.5))
    x = torch.randn(32, 6)
    module.eval()
    first = module(x)
    torch.testing.assert_close(module(x), first, atol=0, rtol=0)
    module.train()
    assert not torch.allclose(module(x), first)
    no_dropout = GraphFeatureAggregation(8)
    no_dropout.load_state_dict(module.state_dict())
    torch.testing.assert_close(no_dropout.train()(x), first)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("embedding", EMBEDDINGS)
def test_gradient_reaches_every_parameter(backend, embedding):
    torch.manual_seed(0)
    module = randomize(
        GraphFeatureAggregation(4, feature_embedding=embedding, num_features=3, backend=backend)
    )
    module(torch.randn(5, 3), mask=make_mask(5, 3)).pow(2).sum().backward()
    for name, p in module.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("embedding", EMBEDDINGS)
def test_gradcheck_float64(backend, embedding):
    torch.manual_seed(0)
    module = randomize(
        GraphFeatureAggregation(3, feature_embedding=embedding, num_features=4, backend=backend)
    ).double()
    x = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    params = tuple(module.parameters())

    def fn(x, *values):
        state = dict(zip([n for n, _ in module.named_parameters()], values))
        return torch.func.functional_call(module, state, (x,))

    assert torch.autograd.gradcheck(fn, (x, *params))


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_row_and_empty_batch(backend):
    module = GraphFeatureAggregation(4, backend=backend)
    assert module(torch.randn(1, 3)).shape == (1, 3)
    out, attention = module(torch.randn(0, 3), return_attention_weights=True)
    assert out.shape == (0, 3) and attention.shape == (0, 1, 3, 3)
    assert module(torch.randn(4, 1)).shape == (4, 1)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"embed_dim": 0}, "embed_dim"),
        ({"embed_dim": -2}, "embed_dim"),
        ({"embed_dim": 2.0}, "embed_dim"),
        ({"embed_dim": True}, "embed_dim"),
        ({"dropout": -0.1}, "dropout"),
        ({"dropout": 1.0}, "dropout"),
        ({"negative_slope": 0.0}, "negative_slope"),
        ({"negative_slope": -0.2}, "negative_slope"),
        ({"negative_slope": float("nan")}, "negative_slope"),
        ({"feature_embedding": "each"}, "feature_embedding"),
        ({"backend": "gpu"}, "backend"),
        ({"num_features": 0}, "num_features"),
    ],
)
def test_constructor_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GraphFeatureAggregation(**kwargs)


def test_input_validation():
    module = GraphFeatureAggregation(4, num_features=3)
    with pytest.raises(ValueError, match=r"x must have shape .*1-D"):
        module(torch.randn(3))
    with pytest.raises(ValueError, match=r"x must have shape .*3-D"):
        module(torch.randn(2, 3, 1))
    with pytest.raises(ValueError, match=r"num_features=3 .*\(2, 4\)"):
        module(torch.randn(2, 4))
    bad = torch.randn(2, 3)
    bad[1, 2] = float("nan")
    with pytest.raises(ValueError, match="x must be finite.*mask"):
        module(bad)
    with pytest.raises(ValueError, match="x must be finite"):
        module(bad, mask=torch.ones(2, 3, dtype=torch.bool))
    bad[1, 2] = float("inf")
    with pytest.raises(ValueError, match="x must be finite"):
        module(bad, mask=torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"mask must be a bool tensor of shape \(2, 3\)"):
        module(torch.randn(2, 3), mask=torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"mask must be .*\(got \(3, 2\)"):
        module(torch.randn(2, 3), mask=torch.ones(3, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="edge_index"):
        module(torch.randn(2, 3), edge_index=torch.tensor([[0, 3], [1, 1]]))
    with pytest.raises(ValueError, match="edge_index"):
        module(torch.randn(2, 3), edge_index=torch.tensor([0, 1]))


def test_repr():
    assert repr(GraphFeatureAggregation()) == "GraphFeatureAggregation(8)"
    assert (
        repr(GraphFeatureAggregation(16, 0.1, backend="sparse"))
        == "GraphFeatureAggregation(16, dropout=0.1, backend='sparse')"
    )


def test_reset_parameters_is_seeded_and_keras_like():
    torch.manual_seed(3)
    a = GraphFeatureAggregation(8, feature_embedding="per_feature", num_features=4)
    torch.manual_seed(3)
    b = GraphFeatureAggregation(8, feature_embedding="per_feature", num_features=4)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    assert (a.attention_bias == 0).all() and (a.out_proj.bias == 0).all()
    assert a.attention.abs().max() <= (6 / 17) ** 0.5


def test_state_dict_and_config_round_trip():
    torch.manual_seed(0)
    module = randomize(
        GraphFeatureAggregation(6, 0.1, 0.3, feature_embedding="per_feature", num_features=4)
    )
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    restored = GraphFeatureAggregation.from_config(module.get_config())
    assert restored.get_config() == module.get_config()
    x = torch.randn(5, 4)
    assert not torch.equal(restored.eval()(x), module.eval()(x))
    restored.load_state_dict(state)
    assert torch.equal(restored(x), module(x))


def test_lazy_per_feature_embedding():
    module = GraphFeatureAggregation(4, feature_embedding="per_feature")
    assert module.num_features is None
    assert module(torch.randn(3, 6)).shape == (3, 6)
    assert module.num_features == 6 and module.projection.weight.shape == (6, 4)
    assert module.get_config()["num_features"] == 6
    with pytest.raises(ValueError, match="num_features=6"):
        module(torch.randn(3, 5))
    fresh = GraphFeatureAggregation(4, feature_embedding="per_feature")
    fresh.load_state_dict(module.state_dict())
    x = torch.randn(2, 6)
    torch.testing.assert_close(fresh(x), module(x))


def test_from_keras_config():
    config = {
        "name": "gfa",
        "trainable": True,
        "dtype": "float32",
        "embed_dim": 12,
        "dropout_rate": 0.1,
        "leaky_relu_alpha": 0.3,
    }
    module = GraphFeatureAggregation.from_config(config)
    assert (module.embed_dim, module.dropout, module.negative_slope) == (12, 0.1, 0.3)
    with pytest.raises(ValueError, match="dropout_rate"):
        GraphFeatureAggregation.from_config({"dropout_rate": 0.1, "dropout": 0.2})


@pytest.mark.slow
@pytest.mark.parametrize("training", [False, True])
def test_dense_path_compiles_without_graph_breaks(training):
    torch._dynamo.reset()
    module = GraphFeatureAggregation(4, dropout=0.1).train(training)
    explanation = torch._dynamo.explain(module)(torch.randn(3, 5))
    assert explanation.graph_break_count == 0
    mask = make_mask(3, 5)
    explanation = torch._dynamo.explain(module)(torch.randn(3, 5), mask)
    assert explanation.graph_break_count == 0


@pytest.fixture(scope="module")
def breast_cancer():
    pytest.importorskip("sklearn")
    from pyg_tabular.datasets import load_dataset

    data = load_dataset("breast_cancer", seed=0)
    train = data.index("train")
    return data.x[train], data.y[train].float()


def _train(model, x, y, epochs=8, lr=0.01):
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    model.eval()
    with torch.no_grad():
        before = float(loss_fn(model(x).squeeze(-1), y))
    model.train()
    for _ in range(epochs):
        for batch in torch.randperm(x.size(0)).split(64):
            optimizer.zero_grad()
            loss_fn(model(x[batch]).squeeze(-1), y[batch]).backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        after = float(loss_fn(model(x).squeeze(-1), y))
    return before, after


@pytest.mark.realdata
@pytest.mark.parametrize("stacked", [False, True])
def test_keras_doc_compositions_train_on_real_data(breast_cancer, stacked):
    """The kerasfactory docs' Dense -> GFA -> Dense model, and two GFAs stacked."""
    x, y = breast_cancer
    torch.manual_seed(0)
    layers = [torch.nn.Linear(x.size(1), 16), torch.nn.ReLU(), GraphFeatureAggregation(8, 0.1)]
    if stacked:
        layers += [torch.nn.Linear(16, 8), torch.nn.ReLU(), GraphFeatureAggregation(4, 0.1)]
        layers += [torch.nn.Linear(8, 1)]
    else:
        layers += [torch.nn.Linear(16, 1)]
    before, after = _train(torch.nn.Sequential(*layers), x, y)
    assert after < 0.5 * before
