import pytest
import torch

import pyg_tabular.typing as pt_typing
from pyg_tabular.utils import scatter


def reference(src, index, dim_size, reduce):
    # One target at a time: slow and obviously right.
    out = torch.zeros((dim_size,) + src.shape[1:], dtype=src.dtype)
    for target in range(dim_size):
        picked = src[index == target]
        if picked.numel() == 0:
            continue
        out[target] = {
            "sum": picked.sum(0),
            "mean": picked.mean(0),
            "max": picked.amax(0),
            "min": picked.amin(0),
        }[reduce]
    return out


@pytest.mark.scatter
@pytest.mark.parametrize("use_torch_scatter", [False, True])
@pytest.mark.parametrize("reduce", ["sum", "mean", "max", "min"])
def test_matches_reference_with_and_without_torch_scatter(monkeypatch, use_torch_scatter, reduce):
    if use_torch_scatter:
        pytest.importorskip("torch_scatter")
    monkeypatch.setattr(pt_typing, "WITH_TORCH_SCATTER", use_torch_scatter)
    src = torch.randn(20, 3, dtype=torch.float64)
    index = torch.randint(0, 6, (20,))
    index[index == 4] = 5  # leave target 4 empty
    out = scatter(src, index, dim=0, dim_size=7, reduce=reduce)
    torch.testing.assert_close(out, reference(src, index, 7, reduce))


def test_scatter_along_a_later_dimension():
    src = torch.randn(2, 5)
    index = torch.tensor([0, 1, 0, 1, 1])
    out = scatter(src, index, dim=-1, reduce="sum")
    torch.testing.assert_close(out, reference(src.t(), index, 2, "sum").t())


def test_rejects_unknown_reduction_and_bad_index():
    with pytest.raises(ValueError, match="reduce must be one of"):
        scatter(torch.ones(3), torch.zeros(3, dtype=torch.long), reduce="prod")
    with pytest.raises(ValueError, match="index must be one-dimensional"):
        scatter(torch.ones(3), torch.zeros(3, 1, dtype=torch.long))
