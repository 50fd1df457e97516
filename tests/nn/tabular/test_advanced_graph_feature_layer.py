import io
import itertools

import pytest
import torch

from pyg_tabular.nn.pool import FeatureGroupPool
from pyg_tabular.nn.tabular import AdvancedGraphFeatureLayer

BACKENDS = ["dense", "sparse"]
EMBEDDINGS = ["shared", "per_feature"]
# Over 5 features (source row, target row); feature 4 has no incoming edge.
TEMPLATE = torch.tensor([[0, 1, 2, 3, 0, 2, 1], [0, 0, 1, 1, 2, 3, 3]])


def randomize(module, seed=0, scale=0.5):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * scale)
    return module


def make_mask(batch_size, num_features, seed=1):
    mask = torch.rand(batch_size, num_features, generator=torch.Generator().manual_seed(seed)) > 0.3
    mask[0] = False
    mask[1] = True
    if batch_size > 2 and num_features > 1:
        mask[2] = False
        mask[2, 1] = True
    return mask


def reference(module, x, mask=None, template=None):
    """The documented formulas with the (B, H, F, F, 3d) pair tensor and explicit loops.

    Absent features neither send nor receive, aggregate zeros and add a zero
    residual.
    """
    batch_size, num_features = x.shape
    e, heads = module.embed_dim, module.num_heads
    d = e // heads
    w_p = module.projection.weight.reshape(-1, e)
    b_p = module.projection.bias.reshape(-1, e)
    u = module.edge_attention
    present = torch.ones_like(x, dtype=torch.bool) if mask is None else mask
    x = torch.where(present, x, torch.zeros_like(x))
    h = x.unsqueeze(-1) * w_p + b_p  # [B, F, E]
    hh = h.view(batch_size, num_features, heads, d).permute(0, 2, 1, 3)  # [B, H, F, d]
    h_i = hh.unsqueeze(3).expand(-1, -1, -1, num_features, -1)
    h_j = hh.unsqueeze(2).expand(-1, -1, num_features, -1, -1)
    pairs = torch.cat([h_i, h_j, (h_i - h_j).abs()], dim=-1)  # [B, H, F, F, 3d]
    score = torch.nn.functional.leaky_relu(pairs @ u, 0.2)  # [B, H, F, F]
    adjacency = torch.ones(num_features, num_features, dtype=torch.bool)
    if template is not None:
        adjacency = torch.zeros_like(adjacency)
        for source, target in template.t().tolist():
            adjacency[target, source] = True
    z = torch.zeros(batch_size, num_features, e, dtype=x.dtype)
    alpha_all = torch.zeros(batch_size, heads, num_features, num_features, dtype=x.dtype)
    for b in range(batch_size):
        for i in range(num_features):
            if not present[b, i]:
                continue
            nbr = [j for j in range(num_features) if adjacency[i, j] and present[b, j]]
            if not nbr:
                continue
            for k in range(heads):
                alpha = torch.softmax(score[b, k, i, nbr], dim=0)
                alpha_all[b, k, i, nbr] = alpha
                z[b, i, k * d : (k + 1) * d] = (alpha.unsqueeze(-1) * hh[b, k, nbr]).sum(0)
    if module.hierarchical:
        s = torch.softmax(module.grouping_matrix, dim=-1)  # [F, G]
        groups = torch.stack(
            [sum(s[i, g] * z[:, i] for i in range(num_features)) for g in range(s.size(1))],
            dim=1,
        )  # [B, G, E]
        flat = groups.reshape(batch_size, -1)
        expanded = flat @ module.group_expander.weight.T + module.group_expander.bias
        z = z + expanded.reshape(batch_size, num_features, e)
    z = z + h * present.unsqueeze(-1)
    mean = z.mean(-1, keepdim=True)
    var = ((z - mean) ** 2).mean(-1, keepdim=True)
    z = (z - mean) / torch.sqrt(var + 1e-6) * module.layer_norm.weight + module.layer_norm.bias
    y = z.reshape(batch_size, -1) @ module.out_proj.weight.T + module.out_proj.bias
    return y, alpha_all


def build(backend="auto", embedding="shared", hierarchical=False, heads=2, dropout=0.0, f=5):
    return AdvancedGraphFeatureLayer(
        f,
        embed_dim=6,
        num_heads=heads,
        dropout=dropout,
        hierarchical=hierarchical,
        num_groups=3 if hierarchical else None,
        feature_embedding=embedding,
        backend=backend,
    )


OPTIONS = list(itertools.product(BACKENDS, EMBEDDINGS, [False, True], [1, 3], [0, 1], [0, 1]))


@pytest.mark.parametrize("backend,embedding,hierarchical,heads,masked,templated", OPTIONS)
def test_matches_reference_float64(backend, embedding, hierarchical, heads, masked, templated):
    module = randomize(build(backend, embedding, hierarchical, heads).double())
    x = torch.randn(4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    mask = make_mask(4, 5) if masked else None
    template = TEMPLATE if templated else None
    out, attention = module(x, mask, template, return_attention_weights=True)
    expected, expected_attention = reference(module, x, mask, template)
    torch.testing.assert_close(out, expected, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(attention, expected_attention, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize(
    "embedding,hierarchical,heads,masked,templated",
    list(itertools.product(EMBEDDINGS, [False, True], [1, 3], [0, 1], [0, 1])),
)
def test_dense_and_sparse_agree_float32(embedding, hierarchical, heads, masked, templated):
    dense = randomize(build("dense", embedding, hierarchical, heads))
    sparse = build("sparse", embedding, hierarchical, heads)
    sparse.load_state_dict(dense.state_dict())
    x = torch.randn(16, 5, generator=torch.Generator().manual_seed(2))
    mask = make_mask(16, 5) if masked else None
    template = TEMPLATE if templated else None
    x_d, x_s = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_d, att_d = dense(x_d, mask, template, return_attention_weights=True)
    out_s, att_s = sparse(x_s, mask, template, return_attention_weights=True)
    torch.testing.assert_close(out_s, out_d, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(att_s, att_d, atol=1e-5, rtol=1e-5)
    weights = torch.randn(16, 5)
    (out_d * weights).sum().backward()
    (out_s * weights).sum().backward()
    torch.testing.assert_close(x_s.grad, x_d.grad, atol=1e-4, rtol=1e-4)
    for (name, p_d), p_s in zip(dense.named_parameters(), sparse.parameters()):
        torch.testing.assert_close(p_s.grad, p_d.grad, atol=1e-4, rtol=1e-4, msg=name)


@pytest.mark.parametrize("backend", BACKENDS)
def test_shapes_and_attention_rows(backend):
    module = AdvancedGraphFeatureLayer(7, embed_dim=8, num_heads=4, backend=backend)
    out, attention = module(torch.randn(3, 7), return_attention_weights=True)
    assert out.shape == (3, 7) and attention.shape == (3, 4, 7, 7)
    assert ((attention >= 0) & (attention <= 1)).all()
    torch.testing.assert_close(attention.sum(-1), torch.ones(3, 4, 7))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("hierarchical", [False, True])
def test_batch_equals_row_by_row(backend, hierarchical):
    module = randomize(build(backend, "per_feature", hierarchical, heads=3))
    x = torch.randn(6, 5)
    mask = make_mask(6, 5)
    rows = torch.cat([module(x[b : b + 1], mask[b : b + 1]) for b in range(6)])
    torch.testing.assert_close(module(x, mask), rows, atol=1e-5, rtol=1e-5)


def test_attention_is_permutation_equivariant():
    # The output map W_o is position-specific, so y is not equivariant; the
    # attention step is (shared embedding, complete graph).
    module = randomize(build("dense", heads=3))
    x = torch.randn(4, 5)
    perm = torch.randperm(5)
    _, attention = module(x, return_attention_weights=True)
    _, permuted = module(x[:, perm], return_attention_weights=True)
    torch.testing.assert_close(permuted, attention[:, :, perm][:, :, :, perm])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("hierarchical", [False, True])
def test_masked_nan_never_leaks(backend, hierarchical):
    module = randomize(build(backend, "per_feature", hierarchical, heads=3))
    x = torch.randn(6, 5)
    mask = make_mask(6, 5)
    x_nan = x.masked_fill(~mask, float("nan")).requires_grad_()
    out, attention = module(x_nan, mask, return_attention_weights=True)
    assert torch.isfinite(out).all() and torch.isfinite(attention).all()
    torch.testing.assert_close(out, module(x.masked_fill(~mask, -7.0), mask))
    assert (attention.permute(0, 2, 1, 3)[~mask] == 0).all()
    assert (attention.permute(0, 3, 1, 2)[~mask] == 0).all()
    out.sum().backward()
    assert torch.isfinite(x_nan.grad).all() and (x_nan.grad[~mask] == 0).all()
    for name, p in module.named_parameters():
        assert torch.isfinite(p.grad).all(), name


def test_dropout_acts_only_in_training():
    module = randomize(build(dropout=0.5, heads=3))
    x = torch.randn(16, 5)
    first = module.eval()(x)
    torch.testing.assert_close(module(x), first, atol=0, rtol=0)
    assert not torch.allclose(module.train()(x), first)
    no_dropout = build(heads=3)
    no_dropout.load_state_dict(module.state_dict())
    torch.testing.assert_close(no_dropout.train()(x), first)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("embedding", EMBEDDINGS)
def test_gradient_reaches_every_parameter(backend, embedding):
    module = randomize(build(backend, embedding, hierarchical=True, heads=3))
    module(torch.randn(4, 5), make_mask(4, 5)).pow(2).sum().backward()
    for name, p in module.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("embedding", EMBEDDINGS)
def test_gradcheck_float64(backend, embedding):
    module = randomize(
        AdvancedGraphFeatureLayer(
            3,
            embed_dim=4,
            num_heads=2,
            hierarchical=True,
            num_groups=2,
            feature_embedding=embedding,
            backend=backend,
        )
    ).double()
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    names = [n for n, _ in module.named_parameters()]

    def fn(x, *values):
        return torch.func.functional_call(module, dict(zip(names, values)), (x,))

    assert torch.autograd.gradcheck(fn, (x, *module.parameters()))


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_row_and_empty_batch(backend):
    module = build(backend, hierarchical=True)
    assert module(torch.randn(1, 5)).shape == (1, 5)
    out, attention = module(torch.randn(0, 5), return_attention_weights=True)
    assert out.shape == (0, 5) and attention.shape == (0, 2, 5, 5)
    assert AdvancedGraphFeatureLayer(1, 4, 2, backend=backend)(torch.randn(3, 1)).shape == (3, 1)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"num_features": 0}, "num_features"),
        ({"embed_dim": 0}, "embed_dim"),
        ({"embed_dim": -4}, "embed_dim"),
        ({"num_heads": 0}, "num_heads"),
        ({"embed_dim": 6, "num_heads": 4}, "divisible"),
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": -0.5}, "dropout"),
        ({"hierarchical": True}, "num_groups"),
        ({"hierarchical": True, "num_groups": 0}, "num_groups"),
        ({"hierarchical": 1, "num_groups": 2}, "hierarchical"),
        ({"feature_embedding": "x"}, "feature_embedding"),
        ({"backend": "tpu"}, "backend"),
    ],
)
def test_constructor_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AdvancedGraphFeatureLayer(**kwargs)


def test_input_validation():
    module = AdvancedGraphFeatureLayer(3, 4, 2)
    with pytest.raises(ValueError, match=r"x must have shape .*1-D"):
        module(torch.randn(3))
    with pytest.raises(ValueError, match=r"num_features=3 .*\(2, 4\)"):
        module(torch.randn(2, 4))
    with pytest.raises(ValueError, match="x must be finite"):
        module(torch.tensor([[0.0, float("inf"), 1.0]]))
    with pytest.raises(ValueError, match="mask"):
        module(torch.randn(2, 3), mask=torch.ones(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="edge_index"):
        module(torch.randn(2, 3), edge_index=torch.tensor([[0, -1], [1, 1]]))


def test_lazy_num_features():
    torch.manual_seed(0)
    module = AdvancedGraphFeatureLayer(embed_dim=8, num_heads=2, hierarchical=True, num_groups=3)
    assert module.num_features is None and module.has_uninitialized_params()
    unbuilt_state = module.state_dict()  # saving an unbuilt module works
    assert set(unbuilt_state) == set(dict(module.named_parameters())) | {"layer_norm.weight"}
    out = module(torch.randn(4, 6))
    assert out.shape == (4, 6) and module.num_features == 6
    assert module.grouping_matrix.shape == (6, 3)
    assert module.group_expander.weight.shape == (48, 24)
    assert module.out_proj.weight.shape == (6, 48)
    assert repr(module).startswith("AdvancedGraphFeatureLayer(6, 8")
    with pytest.raises(ValueError, match="num_features=6"):
        module(torch.randn(4, 5))
    # An unbuilt module takes a built one's state dict.
    fresh = AdvancedGraphFeatureLayer(embed_dim=8, num_heads=2, hierarchical=True, num_groups=3)
    fresh.load_state_dict(randomize(module).state_dict())
    assert fresh.num_features == 6
    x = torch.randn(3, 6)
    torch.testing.assert_close(fresh(x), module(x))
    optimizer = torch.optim.SGD(fresh.parameters(), lr=0.1)
    fresh(x).sum().backward()
    optimizer.step()


def test_lazy_per_feature_embedding():
    module = AdvancedGraphFeatureLayer(embed_dim=4, num_heads=2, feature_embedding="per_feature")
    assert module(torch.randn(2, 7)).shape == (2, 7)
    assert module.projection.weight.shape == (7, 4)


def test_repr():
    assert repr(AdvancedGraphFeatureLayer(10)) == "AdvancedGraphFeatureLayer(10, 16, num_heads=4)"
    assert (
        repr(AdvancedGraphFeatureLayer(None, 8, 2, 0.1, True, 3, backend="sparse"))
        == "AdvancedGraphFeatureLayer(None, 8, num_heads=2, dropout=0.1, hierarchical=True, "
        "num_groups=3, backend='sparse')"
    )


def test_reset_parameters_is_seeded_and_keras_like():
    torch.manual_seed(5)
    a = build(hierarchical=True)
    torch.manual_seed(5)
    b = build(hierarchical=True)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    assert (a.layer_norm.weight == 1).all() and (a.out_proj.bias == 0).all()
    assert a.layer_norm.eps == 1e-6


def test_state_dict_and_config_round_trip():
    module = randomize(build(embedding="per_feature", hierarchical=True, heads=3))
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    restored = AdvancedGraphFeatureLayer.from_config(module.get_config())
    assert restored.get_config() == module.get_config()
    x = torch.randn(4, 5)
    assert not torch.equal(restored(x), module(x))
    restored.load_state_dict(state)
    assert torch.equal(restored(x), module(x))


def test_from_keras_config():
    config = {
        "name": "agfl",
        "trainable": True,
        "dtype": "float32",
        "embed_dim": 16,
        "num_heads": 4,
        "dropout_rate": 0.1,
        "hierarchical": True,
        "num_groups": 6,
    }
    module = AdvancedGraphFeatureLayer.from_config(config)
    assert module.num_features is None and module.dropout == 0.1 and module.num_groups == 6
    assert module(torch.randn(2, 9)).shape == (2, 9)


@pytest.mark.slow
@pytest.mark.parametrize("training", [False, True])
def test_dense_path_compiles_without_graph_breaks(training):
    torch._dynamo.reset()
    module = build(hierarchical=True, dropout=0.1).train(training)
    explanation = torch._dynamo.explain(module)(torch.randn(3, 5))
    assert explanation.graph_break_count == 0
    explanation = torch._dynamo.explain(module)(torch.randn(3, 5), make_mask(3, 5))
    assert explanation.graph_break_count == 0


@pytest.fixture(scope="module")
def breast_cancer():
    pytest.importorskip("sklearn")
    from pyg_tabular.datasets import load_dataset

    data = load_dataset("breast_cancer", seed=0)
    train = data.index("train")
    return data.x[train], data.y[train].float()


@pytest.mark.realdata
@pytest.mark.parametrize("hierarchical", [False, True])
def test_keras_doc_compositions_train_on_real_data(breast_cancer, hierarchical):
    """The kerasfactory docs' Dense -> AGFL -> Dense -> AGFL -> Dense model."""
    x, y = breast_cancer
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(x.size(1), 16),
        torch.nn.ReLU(),
        AdvancedGraphFeatureLayer(
            embed_dim=8, num_heads=2, dropout=0.1, hierarchical=hierarchical, num_groups=4
        ),
        torch.nn.Linear(16, 8),
        torch.nn.ReLU(),
        AdvancedGraphFeatureLayer(embed_dim=4, num_heads=2),
        torch.nn.Linear(8, 1),
    )
    model(x[:2])  # materialises the lazy sizes before the optimizer sees them
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    model.eval()
    with torch.no_grad():
        before = float(loss_fn(model(x).squeeze(-1), y))
    model.train()
    for _ in range(8):
        for batch in torch.randperm(x.size(0)).split(64):
            optimizer.zero_grad()
            loss_fn(model(x[batch]).squeeze(-1), y[batch]).backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        after = float(loss_fn(model(x).squeeze(-1), y))
    assert after < 0.5 * before


def test_hierarchical_step_is_a_feature_group_pool():
    module = randomize(build(hierarchical=True))
    assert isinstance(module.group_pool, FeatureGroupPool)
    assert module.grouping_matrix is module.group_pool.assignment_logits
    # The pool's own forward is what the layer's groups are made of.
    z = torch.randn(4, 5, 6)
    expected = torch.einsum("fg,bfe->bge", module.grouping_matrix.softmax(-1), z)
    torch.testing.assert_close(module.group_pool(z), expected)


@pytest.mark.parametrize("lazy", [False, True])
def test_state_dict_with_the_old_grouping_key_still_loads(lazy):
    source = randomize(build(hierarchical=True), seed=3)
    old = dict(source.state_dict())
    old["grouping_matrix"] = old.pop("group_pool.assignment_logits")
    if lazy:
        target = AdvancedGraphFeatureLayer(
            embed_dim=6, num_heads=2, hierarchical=True, num_groups=3
        )
    else:
        target = build(hierarchical=True)
    target.load_state_dict(old)
    torch.testing.assert_close(target.grouping_matrix, source.grouping_matrix)
    x = torch.randn(4, 5)
    torch.testing.assert_close(target(x), source(x))
