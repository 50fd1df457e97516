import numpy as np
import pytest
import torch

from pyg_tabular.utils import check_finite, check_rank, to_tensor


def test_to_tensor_accepts_arrays_frames_and_tensors():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": [1.0, None], "b": [True, False]})
    out = to_tensor(frame, "x")
    assert out.dtype == torch.float64
    assert torch.isnan(out[1, 0]) and out[0, 1] == 1.0
    assert to_tensor(np.arange(3), "x").dtype == torch.get_default_dtype()
    assert to_tensor(np.arange(3), "x", allow_integer=True).dtype == torch.int64
    assert to_tensor(torch.ones(2, dtype=torch.float16), "x").dtype == torch.float16


@pytest.mark.parametrize(
    "value, match",
    [
        ([1, 2], "x must be a torch.Tensor"),
        (np.array(["a"]), "numeric dtype"),
        (torch.ones(2, dtype=torch.complex64), "real-valued"),
    ],
)
def test_to_tensor_errors_name_the_argument(value, match):
    with pytest.raises(ValueError, match=match):
        to_tensor(value, "x")


def test_check_finite_reports_position_and_value():
    value = torch.zeros(2, 3)
    value[1, 2] = float("-inf")
    with pytest.raises(ValueError, match=r"rows must be finite; found -inf at index \(1, 2\)"):
        check_finite(value, "rows")
    nan = torch.tensor([0.0, float("nan")])
    check_finite(nan, "rows", allow_nan=True)
    with pytest.raises(ValueError, match="nan at index"):
        check_finite(nan, "rows")


def test_check_rank():
    check_rank(torch.zeros(2, 3), "x", (2, 3), "[B, F]")
    with pytest.raises(ValueError, match=r"x must have shape \[B, F\] \(got 1-D shape \(4,\)\)"):
        check_rank(torch.zeros(4), "x", (2,), "[B, F]")


def test_check_positive_number_accepts_finite_positive_reals_only():
    from pyg_tabular.utils.validation import check_positive_number

    assert check_positive_number(2, "x") == 2.0
    assert check_positive_number(np.float32(0.5), "x") == 0.5
    for bad in (0, -1.0, float("inf"), float("nan"), True, "3", None):
        with pytest.raises(ValueError, match=r"x must be a positive number \(got"):
            check_positive_number(bad, "x")


def test_check_non_negative_number_accepts_zero_and_finite_positive_reals_only():
    from pyg_tabular.utils.validation import check_non_negative_number

    assert check_non_negative_number(0, "x") == 0.0
    assert check_non_negative_number(np.float64(1.5), "x") == 1.5
    for bad in (-1e-9, float("inf"), float("nan"), True, "1", None):
        with pytest.raises(ValueError, match=r"x must be a finite number >= 0"):
            check_non_negative_number(bad, "x")
