"""The NaN/inf and bad-input policy, checked at every public entry point that takes data.

* inf (either sign) → ``ValueError`` naming the argument;
* NaN → ``ValueError`` naming the argument, unless the entry point documents
  a missing-value mode, which must then work;
* wrong rank (0-D, or extra leading dimensions) → ``ValueError`` naming the
  argument and its shape;
* wrong dtype (int, complex, str, a Python list) and an empty batch (B = 0) →
  a clear result or a ``ValueError``/``TypeError`` naming the argument; never
  an exception from deep inside a kernel.
* finite values too large for the dtype's arithmetic (up to its maximum) →
  the float64 result where float32 can hold it, else a ``ValueError`` naming
  the argument; never a silent NaN.

Known gaps are strict xfails: they turn the suite red once fixed, so that the
marker gets removed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor
from torch_geometric.data import Data

from pyg_tabular.data import graph_to_rows, rows_to_graph, to_static_graph
from pyg_tabular.datasets import TabularDataset, TabularLoader
from pyg_tabular.nn.conv import FeatureDiffGATConv, FeatureGATConv
from pyg_tabular.nn.dense import DenseFeatureDiffGATConv, DenseFeatureGATConv
from pyg_tabular.nn.pool import FeatureGroupPool
from pyg_tabular.nn.tabular import (
    AdvancedGraphFeatureLayer,
    GatedFeatureFusion,
    GraphFeatureAggregation,
    RowAttention,
)
from pyg_tabular.transforms import (
    DropMissingFeatures,
    FeatureKNNGraph,
    StandardizeFeatures,
    ToFeatureGraph,
)

NUM_ROWS, NUM_FEATURES = 3, 4


def randn(*shape: int) -> Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(sum(shape) + 1))


@dataclass
class Entry:
    r"""One entry point: ``call(value, num_rows)`` runs it with ``value`` as the
    argument :obj:`arg`, other inputs sized for ``num_rows`` rows; ``good(num_rows)``
    is a valid value; ``nan_mode(value_with_nan, present)`` checks a documented
    missing-value mode (``None``: NaN must be rejected)."""

    call: Callable[[Any, int], Any]
    good: Callable[[int], Tensor]
    arg: str
    names: tuple[str, ...] = ()
    nan_mode: Callable[[Tensor], None] | None = None
    gaps: dict[str, str] = field(default_factory=dict)
    # False where values are only moved, never computed on (int in, int out is exact).
    computes: bool = True
    # True where text columns are categorical columns, as the estimators read them.
    takes_text: bool = False

    def mentions(self, message: str) -> bool:
        return any(name in message for name in (self.arg, *self.names))


# Entry points #################################################################


def _graph(num_rows: int):
    return rows_to_graph(randn(num_rows, NUM_FEATURES))


def _fitted_standardize() -> StandardizeFeatures:
    return StandardizeFeatures().fit(randn(10, NUM_FEATURES))


def _fitted_knn() -> FeatureKNNGraph:
    return FeatureKNNGraph(k=2).fit(randn(10, NUM_FEATURES))


def _with_nodes(value: Any, num_rows: int):
    graph = _graph(num_rows)
    graph.x = value
    return graph


def _length(value: Any, num_rows: int) -> int:
    shape = getattr(value, "shape", None)
    return int(shape[0]) if shape else num_rows + 7


def _module(cls, *args, **kwargs):
    torch.manual_seed(0)
    return cls(*args, **kwargs)


def _conv_call(cls):
    def call(value, num_rows):
        return _module(cls, 1, 2, heads=2)(value, _graph(num_rows).edge_index)

    return call


def _present(value: Tensor) -> Tensor:
    """[B, F] presence of rows [B, F] or [B, F, C] (NaN in any channel = absent)."""
    nan = torch.isnan(value)
    return ~nan.any(-1) if nan.dim() == 3 else ~nan


# Missing-value modes ##########################################################


def _rows_to_graph_drop(value: Tensor) -> None:
    batch = rows_to_graph(value, missing="drop")
    assert batch.num_nodes == int(_present(value).sum())
    assert not bool(torch.isnan(batch.x).any())


def _to_feature_graph_drop(value: Tensor) -> None:
    graph = ToFeatureGraph(missing="drop")(Data(x=value))
    assert graph.num_nodes == int((~torch.isnan(value)).sum())
    assert not bool(torch.isnan(graph.x).any())


def _nan_is_ignored_by_fit(fit: Callable[[Tensor], Any]) -> Callable[[Tensor], None]:
    def check(value: Tensor) -> None:
        fit(value)  # NaN marks missing training cells: no error

    return check


def _standardize_keeps_nan(value: Tensor) -> None:
    out = _fitted_standardize()(value)
    assert torch.equal(torch.isnan(out), torch.isnan(value))


def _standardize_graph_keeps_nan(value: Tensor) -> None:
    graph = _with_nodes(value, value.size(0) // NUM_FEATURES)
    out = _fitted_standardize()(graph).x
    assert torch.equal(torch.isnan(out), torch.isnan(value))


def _drop_missing_drops(value: Tensor) -> None:
    graph = DropMissingFeatures()(_with_nodes(value, value.size(0) // NUM_FEATURES))
    assert graph.num_nodes == int((~torch.isnan(value).any(-1)).sum())
    assert not bool(torch.isnan(graph.x).any())


def _knn_keeps_nan_nodes(value: Tensor) -> None:
    # NaN marks an absent cell in a feature graph; the transform only rewires
    # edges, so the node values must come through untouched.
    graph = _fitted_knn()(_with_nodes(value.clone(), value.size(0) // NUM_FEATURES))
    assert torch.equal(torch.isnan(graph.x), torch.isnan(value))
    present = ~torch.isnan(value)
    assert torch.equal(graph.x[present], value[present])


def _dataset_keeps_nan(value: Tensor) -> None:
    target = torch.arange(value.size(0), dtype=torch.float64)
    split = {"train": list(range(value.size(0))), "val": [], "test": []}
    kept = TabularDataset(value, target, split=split)
    assert torch.equal(torch.isnan(kept.x), torch.isnan(value))
    imputed = TabularDataset(value, target, split=split, impute="mean")
    assert not bool(torch.isnan(imputed.x).any())


def _masked_module(make: Callable[[], torch.nn.Module]) -> Callable[[Tensor], None]:
    """``mask=``: absent cells may hold NaN, which reaches no output or gradient."""

    def check(value: Tensor) -> None:
        mask = _present(value)
        module = make()
        x = value.clone().requires_grad_()
        out = module(x, mask=mask)
        assert not bool(torch.isnan(out).any())
        torch.testing.assert_close(out, make()(value.nan_to_num(0.0), mask=mask))
        out.sum().backward()
        assert not bool(torch.isnan(x.grad).any())

    return check


def _pool_mask(value: Tensor) -> None:
    # "mask: True for present features; absent ones are ignored."
    mask = _present(value)
    pool = _module(FeatureGroupPool, NUM_FEATURES, 2)
    out = pool(value, mask=mask)
    assert not bool(torch.isnan(out).any())
    torch.testing.assert_close(out, pool(value.nan_to_num(0.0), mask=mask))


def _gfa():
    return _module(GraphFeatureAggregation, embed_dim=4)


def _agfl():
    return _module(AdvancedGraphFeatureLayer, NUM_FEATURES, embed_dim=4, num_heads=2)


NO_FINITE_CHECK = "gap: no finiteness check, {what} passes through silently"

ENTRIES: dict[str, Entry] = {
    "rows_to_graph.x": Entry(
        call=lambda v, n: rows_to_graph(v),
        good=lambda n: randn(n, NUM_FEATURES),
        arg="x",
        nan_mode=_rows_to_graph_drop,
    ),
    "rows_to_graph.y": Entry(
        call=lambda v, n: rows_to_graph(randn(n, NUM_FEATURES), v),
        good=lambda n: randn(n),
        arg="y",
    ),
    "to_static_graph.x": Entry(
        call=lambda v, n: to_static_graph(v),
        good=lambda n: randn(n, NUM_FEATURES),
        arg="x",
    ),
    "graph_to_rows.node_values": Entry(
        call=lambda v, n: graph_to_rows(v, _graph(n)),
        good=lambda n: randn(n * NUM_FEATURES),
        arg="node_values",
        computes=False,
    ),
    "ToFeatureGraph": Entry(
        call=lambda v, n: ToFeatureGraph()(Data(x=v)),
        good=lambda n: randn(NUM_FEATURES),
        arg="data.x",
        nan_mode=_to_feature_graph_drop,
    ),
    "StandardizeFeatures.fit": Entry(
        call=lambda v, n: StandardizeFeatures().fit(v),
        good=lambda n: randn(n, NUM_FEATURES),
        arg="x",
        nan_mode=_nan_is_ignored_by_fit(lambda v: StandardizeFeatures().fit(v)),
    ),
    "StandardizeFeatures(rows)": Entry(
        call=lambda v, n: _fitted_standardize()(v),
        good=lambda n: randn(n, NUM_FEATURES),
        arg="x",
        nan_mode=_standardize_keeps_nan,
    ),
    "StandardizeFeatures(graph)": Entry(
        call=lambda v, n: _fitted_standardize()(_with_nodes(v, n)),
        good=lambda n: randn(n * NUM_FEATURES, 1),
        arg="x",
        nan_mode=_standardize_graph_keeps_nan,
    ),
    "FeatureKNNGraph.fit": Entry(
        call=lambda v, n: FeatureKNNGraph(k=2).fit(v),
        good=lambda n: randn(n + 4, NUM_FEATURES),
        arg="x",
        nan_mode=_nan_is_ignored_by_fit(lambda v: FeatureKNNGraph(k=2).fit(v)),
    ),
    "FeatureKNNGraph(graph)": Entry(
        call=lambda v, n: _fitted_knn()(_with_nodes(v, n)),
        good=lambda n: randn(n * NUM_FEATURES, 1),
        arg="x",
        computes=False,
        nan_mode=_knn_keeps_nan_nodes,
    ),
    "DropMissingFeatures": Entry(
        call=lambda v, n: DropMissingFeatures()(_with_nodes(v, n)),
        good=lambda n: randn(n * NUM_FEATURES, 1),
        arg="x",
        computes=False,
        nan_mode=_drop_missing_drops,
    ),
    "TabularDataset.data": Entry(
        call=lambda v, n: TabularDataset(v, torch.arange(_length(v, n), dtype=torch.float64)),
        good=lambda n: randn(n + 7, NUM_FEATURES),
        arg="data",
        names=("column",),
        nan_mode=_dataset_keeps_nan,
        takes_text=True,
    ),
    "TabularDataset.target": Entry(
        call=lambda v, n: TabularDataset(randn(_length(v, n), NUM_FEATURES), v),
        good=lambda n: randn(n + 7),
        arg="target",
    ),
    "FeatureGATConv": Entry(
        call=_conv_call(FeatureGATConv),
        good=lambda n: randn(n * NUM_FEATURES, 1),
        arg="x",
    ),
    "FeatureDiffGATConv": Entry(
        call=_conv_call(FeatureDiffGATConv),
        good=lambda n: randn(n * NUM_FEATURES, 1),
        arg="x",
    ),
    "DenseFeatureGATConv": Entry(
        call=lambda v, n: _module(DenseFeatureGATConv, 1, 2, heads=2)(v),
        good=lambda n: randn(n, NUM_FEATURES, 1),
        arg="x",
    ),
    "DenseFeatureDiffGATConv": Entry(
        call=lambda v, n: _module(DenseFeatureDiffGATConv, 1, 2, heads=2)(v),
        good=lambda n: randn(n, NUM_FEATURES, 1),
        arg="x",
    ),
    "FeatureGroupPool(rows)": Entry(
        call=lambda v, n: _module(FeatureGroupPool, NUM_FEATURES, 2)(v),
        good=lambda n: randn(n, NUM_FEATURES, 2),
        arg="x",
        nan_mode=_pool_mask,
    ),
    "FeatureGroupPool(nodes)": Entry(
        call=lambda v, n: _module(FeatureGroupPool, NUM_FEATURES, 2)(
            v, feature_id=_graph(n).feature_id, batch=_graph(n).batch, num_rows=n
        ),
        good=lambda n: randn(n * NUM_FEATURES, 2),
        arg="x",
    ),
    "GraphFeatureAggregation": Entry(
        call=lambda v, n: _gfa()(v),
        good=lambda n: randn(n, NUM_FEATURES),
        arg="x",
        nan_mode=_masked_module(_gfa),
    ),
    "AdvancedGraphFeatureLayer": Entry(
        call=lambda v, n: _agfl()(v),
        good=lambda n: randn(n, NUM_FEATURES),
        arg="x",
        nan_mode=_masked_module(_agfl),
    ),
    "GatedFeatureFusion.a": Entry(
        call=lambda v, n: _module(GatedFeatureFusion, NUM_FEATURES)(v, randn(n, NUM_FEATURES)),
        good=lambda n: randn(n, NUM_FEATURES),
        arg="a",
    ),
    "GatedFeatureFusion.b": Entry(
        call=lambda v, n: _module(GatedFeatureFusion, NUM_FEATURES)(randn(n, NUM_FEATURES), v),
        good=lambda n: randn(n, NUM_FEATURES),
        arg="b",
    ),
    "RowAttention": Entry(
        call=lambda v, n: _module(RowAttention, NUM_FEATURES)(v),
        good=lambda n: randn(n, NUM_FEATURES),
        arg="x",
    ),
}


def params(case: str) -> list[Any]:
    """One pytest.param per entry point; a known gap of this case is a strict xfail."""
    out = []
    for name, entry in ENTRIES.items():
        reason = entry.gaps.get(case)
        # A gap shows as a missing ValueError or a failed check, never as another crash.
        raises = (pytest.fail.Exception, AssertionError)
        marks = [pytest.mark.xfail(strict=True, reason=reason, raises=raises)] if reason else []
        out.append(pytest.param(entry, id=name, marks=marks))
    return out


def expect_rejected(entry: Entry, value: Any, num_rows: int = NUM_ROWS) -> None:
    with pytest.raises(ValueError) as info:
        entry.call(value, num_rows)
    assert entry.mentions(str(info.value)), str(info.value)


def expect_clear(entry: Entry, value: Any, num_rows: int = NUM_ROWS) -> Any:
    """A result, or a ValueError/TypeError naming the argument; nothing else."""
    try:
        return entry.call(value, num_rows)
    except (ValueError, TypeError) as error:
        assert entry.mentions(str(error)), f"{type(error).__name__} not naming {entry.arg}: {error}"
        return error
    except Exception as error:  # noqa: BLE001 - a crash inside a kernel is the failure
        pytest.fail(f"{type(error).__name__} from inside the call: {error}")


def _poke(entry: Entry, fill: float) -> Tensor:
    value = entry.good(NUM_ROWS).clone()
    flat = value.view(-1)
    flat[1] = fill
    flat[-1] = fill
    return value


# Tests ########################################################################


def test_every_entry_accepts_its_good_value():
    # Guards the table itself: a broken call would make every rejection trivially pass.
    for name, entry in ENTRIES.items():
        assert entry.call(entry.good(NUM_ROWS), NUM_ROWS) is not None, name


@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["+inf", "-inf"])
@pytest.mark.parametrize("entry", params("inf"))
def test_inf_is_rejected_naming_the_argument(entry, sign):
    expect_rejected(entry, _poke(entry, sign * float("inf")))


@pytest.mark.parametrize("entry", params("nan"))
def test_nan_is_rejected_or_its_documented_mode_works(entry):
    value = _poke(entry, float("nan"))
    if entry.nan_mode is None:
        expect_rejected(entry, value)
    else:
        entry.nan_mode(value)


@pytest.mark.parametrize("rank", ["scalar", "three_more"])
@pytest.mark.parametrize("entry", params("rank"))
def test_wrong_rank_is_clear(entry, rank):
    # No entry point takes a 0-D tensor, nor its good value with three more
    # leading dimensions (two are a valid [1, F, C] row for ToFeatureGraph):
    # both must be refused up front, naming the argument.
    good = entry.good(NUM_ROWS)
    value = torch.tensor(1.0) if rank == "scalar" else good.view(1, 1, 1, *good.shape)
    with pytest.raises(ValueError) as info:
        entry.call(value, NUM_ROWS)
    message = str(info.value)
    assert entry.mentions(message), message
    assert any(word in message for word in ("shape", "dimension", "-D", "rank")), message


@pytest.mark.parametrize("entry", params("int"))
def test_integer_input_is_converted_or_rejected(entry):
    value = (entry.good(NUM_ROWS) * 10).long()
    result = expect_clear(entry, value)
    out = result[0] if isinstance(result, tuple) else result  # (x, template) etc.
    if isinstance(out, Data):
        out = out.x
    if isinstance(out, Tensor) and entry.computes:
        assert out.is_floating_point(), f"integer arithmetic on integer input ({out.dtype})"


@pytest.mark.parametrize("entry", params("complex"))
def test_complex_input_is_rejected(entry):
    expect_rejected(entry, entry.good(NUM_ROWS).to(torch.complex64))


@pytest.mark.parametrize("entry", params("str"))
def test_string_or_list_input_is_rejected(entry):
    good = entry.good(NUM_ROWS)
    result = expect_clear(entry, np.full(tuple(good.shape), "a"))
    if entry.takes_text:
        # Text columns are categories, one code per value, as for the estimators.
        assert result.num_numeric == 0 and len(result.cardinalities) == good.shape[1], result
    else:
        assert isinstance(result, (ValueError, TypeError))
    expect_clear(entry, good.tolist())


@pytest.mark.parametrize("entry", params("empty"))
def test_empty_batch_is_clear(entry):
    result = expect_clear(entry, entry.good(0), num_rows=0)
    outputs = result if isinstance(result, tuple) else (result,)
    for out in outputs:
        if isinstance(out, Tensor):
            assert not bool(torch.isnan(out).any())


# TabularLoader: data arrives through a TabularDataset, which rejects inf #####


def _dataset_with_nan():
    x = randn(8, NUM_FEATURES).double()
    x[2, 1] = float("nan")
    split = {"train": list(range(6)), "val": [6, 7], "test": []}
    return TabularDataset(x, torch.arange(8.0), split=split)


def test_loader_rejects_nan_unless_missing_drop():
    dataset = _dataset_with_nan()
    with pytest.raises(ValueError, match="missing"):
        TabularLoader(dataset, batch_size=4)
    with pytest.raises(ValueError, match="missing"):
        TabularLoader(dataset, batch_size=4, static=True)
    batches = list(TabularLoader(dataset, batch_size=4, missing="drop"))
    assert sum(batch.num_nodes for batch in batches) == 6 * NUM_FEATURES - 1
    assert not any(bool(torch.isnan(batch.x).any()) for batch in batches)
    # A split without the NaN row needs no missing mode.
    assert len(list(TabularLoader(dataset, split="val", batch_size=4))) == 1


def test_loader_bad_inputs_are_clear():
    dataset = _dataset_with_nan()
    with pytest.raises(ValueError, match="dataset"):
        TabularLoader(randn(4, NUM_FEATURES), batch_size=2)
    with pytest.raises(ValueError, match="batch_size"):
        TabularLoader(dataset, batch_size=0, missing="drop")
    with pytest.raises(ValueError, match="edge_index"):
        TabularLoader(dataset, missing="drop", edge_index=torch.tensor([[0.5], [1.0]]))
    # An empty split is an empty loader, in both forms.
    for static in (False, True):
        loader = TabularLoader(dataset, split="test", batch_size=2, static=static)
        assert len(loader) == 0 and list(loader) == []


# Huge finite values ###########################################################
# Finite input within the float range gives a finite output, or a ValueError
# naming the input; never a silent NaN.


def _huge_modules():
    return {
        "gfa": lambda: GraphFeatureAggregation(4),
        "gfa-sparse": lambda: GraphFeatureAggregation(4, backend="sparse"),
        "agfl": lambda: AdvancedGraphFeatureLayer(NUM_FEATURES, embed_dim=4, num_heads=2),
        "agfl-sparse": lambda: AdvancedGraphFeatureLayer(
            NUM_FEATURES, embed_dim=4, num_heads=2, backend="sparse"
        ),
        "agfl-per-feature": lambda: AdvancedGraphFeatureLayer(
            NUM_FEATURES, embed_dim=4, num_heads=2, feature_embedding="per_feature"
        ),
        "agfl-hierarchical": lambda: AdvancedGraphFeatureLayer(
            NUM_FEATURES, embed_dim=4, num_heads=2, hierarchical=True, num_groups=2
        ),
        "row-attention": lambda: RowAttention(NUM_FEATURES).eval(),
    }


def _huge_fusion(x):
    torch.manual_seed(0)
    fusion = GatedFeatureFusion(NUM_FEATURES)
    return fusion, (x, torch.flip(x, dims=[0]))


def _huge_pool(x):
    torch.manual_seed(0)
    return FeatureGroupPool(NUM_FEATURES, 2), (x.unsqueeze(-1).repeat(1, 1, 3),)


def _huge_cases():
    cases = {}
    for name, make in _huge_modules().items():

        def case(x, make=make):
            torch.manual_seed(0)
            return make(), (x,)

        cases[name] = case
    cases["fusion"] = _huge_fusion
    cases["pool"] = _huge_pool
    return cases


HUGE_CASES = _huge_cases()


def _huge_rows(scale, dtype=torch.float32):
    x = torch.randn(
        5, NUM_FEATURES, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    return (x * scale).to(dtype)


@pytest.mark.parametrize("scale", [1e20, 1e30])
@pytest.mark.parametrize("name", list(HUGE_CASES))
def test_huge_finite_input_gives_the_float64_result(name, scale):
    module, inputs = HUGE_CASES[name](_huge_rows(scale))
    out = module(*inputs)
    assert bool(torch.isfinite(out).all()), out
    # The same module in float64, where none of these sizes overflow.
    reference, inputs64 = HUGE_CASES[name](_huge_rows(scale, torch.float64))
    expected = reference.double()(*inputs64)
    torch.testing.assert_close(out.double(), expected, rtol=1e-4, atol=1e-6 * scale)


@pytest.mark.parametrize("name", list(HUGE_CASES))
def test_input_at_the_float_limit_is_finite_or_refused_naming_it(name):
    x = _huge_rows(1.0)
    x = x / x.abs().max() * torch.finfo(torch.float32).max
    module, inputs = HUGE_CASES[name](x)
    try:
        out = module(*inputs)
    except ValueError as error:
        assert "too large in magnitude" in str(error)
        assert ("a and b" if name == "fusion" else "x") in str(error)
        return
    assert bool(torch.isfinite(out).all()), out


@pytest.mark.parametrize("scale", [1e20, 1e30])
def test_row_attention_training_refuses_what_its_batch_statistics_cannot_hold(scale):
    torch.manual_seed(0)
    module = RowAttention(NUM_FEATURES)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    with pytest.raises(ValueError, match="values of x are too large in magnitude"):
        module(_huge_rows(scale))
    # Nothing was half-updated on the way to the error.
    for key, value in module.state_dict().items():
        torch.testing.assert_close(value, before[key], msg=key)
    # float64 holds those statistics.
    out = module.double()(_huge_rows(scale, torch.float64))
    assert bool(torch.isfinite(out).all())
