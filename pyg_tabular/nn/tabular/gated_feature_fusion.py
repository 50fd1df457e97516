r"""Gated fusion of two representations of the same features."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Linear
from torch_geometric.nn.inits import glorot, zeros

from pyg_tabular.nn.tabular._common import keras_config
from pyg_tabular.utils.validation import (
    check_finite,
    check_finite_output,
    check_positive_int,
    to_tensor,
)


# Keras applies some activations with defaults that differ from torch's
# (leaky_relu slope 0.2, squareplus b=4, shrink thresholds 0.5); the functions
# below pin the Keras values so a ported gate computes the same numbers.
def _linear(x: Tensor) -> Tensor:
    return x


def _leaky_relu(x: Tensor) -> Tensor:
    return F.leaky_relu(x, negative_slope=0.2)


def _sparse_sigmoid(x: Tensor) -> Tensor:
    return torch.clamp(0.5 * (x + 1.0), min=0.0, max=1.0)


def _sparse_plus(x: Tensor) -> Tensor:
    middle = 0.25 * (x + 1.0) ** 2
    return torch.where(x <= -1.0, torch.zeros_like(x), torch.where(x < 1.0, middle, x))


def _squareplus(x: Tensor) -> Tensor:
    return 0.5 * (x + torch.sqrt(x * x + 4.0))


def _soft_shrink(x: Tensor) -> Tensor:
    return F.softshrink(x, lambd=0.5)


def _hard_shrink(x: Tensor) -> Tensor:
    return F.hardshrink(x, lambd=0.5)


def _softmax(x: Tensor) -> Tensor:
    return torch.softmax(x, dim=-1)


def _log_softmax(x: Tensor) -> Tensor:
    return torch.log_softmax(x, dim=-1)


def _sparsemax(x: Tensor) -> Tensor:
    # Euclidean projection onto the simplex (Martins & Astudillo, 2016): keep
    # the k largest entries for which z_(k) > (sum_{i<=k} z_(i) - 1) / k.
    ranked, _ = torch.sort(x, dim=-1, descending=True)
    rank = torch.arange(1, x.size(-1) + 1, dtype=x.dtype, device=x.device)
    shifted_cumsum = ranked.cumsum(dim=-1) - 1.0
    support = (ranked * rank > shifted_cumsum).sum(dim=-1, keepdim=True)
    tau = shifted_cumsum.gather(-1, support - 1) / support.to(x.dtype)
    return torch.clamp(x - tau, min=0.0)


# The names Keras 3 resolves with ``keras.activations.get`` that keep the gate
# the same shape as its input; ``glu`` (halves the last dimension) and
# ``threshold`` (needs extra arguments) cannot work as a gate in Keras either.
_ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "sigmoid": torch.sigmoid,
    "hard_sigmoid": F.hardsigmoid,
    "sparse_sigmoid": _sparse_sigmoid,
    "log_sigmoid": F.logsigmoid,
    "tanh": torch.tanh,
    "hard_tanh": F.hardtanh,
    "tanh_shrink": F.tanhshrink,
    "relu": F.relu,
    "relu6": F.relu6,
    "leaky_relu": _leaky_relu,
    "elu": F.elu,
    "selu": F.selu,
    "celu": F.celu,
    "gelu": F.gelu,
    "silu": F.silu,
    "swish": F.silu,
    "hard_silu": F.hardswish,
    "hard_swish": F.hardswish,
    "mish": F.mish,
    "softplus": F.softplus,
    "softsign": F.softsign,
    "squareplus": _squareplus,
    "sparse_plus": _sparse_plus,
    "soft_shrink": _soft_shrink,
    "hard_shrink": _hard_shrink,
    "exponential": torch.exp,
    "linear": _linear,
    "softmax": _softmax,
    "log_softmax": _log_softmax,
    "sparsemax": _sparsemax,
}


def _check_operand(value: Any, name: str) -> Tensor:
    tensor = to_tensor(value, name)
    if tensor.dim() == 0:
        raise ValueError(f"{name} must have shape [..., num_features] (got a 0-D tensor)")
    check_finite(tensor, name)
    return tensor


class GatedFeatureFusion(torch.nn.Module):
    r"""Fuses two representations of the same features through a learned,
    input-dependent gate, mirroring ``GatedFeatureFusion`` of the Keras library
    ``kerasfactory``.

    A single linear layer reads both inputs side by side and produces one gate
    value per feature; the output interpolates between the two inputs:

    .. math::
        \mathbf{g} &= \phi\left(\mathbf{W} \, [\mathbf{a} \,\Vert\, \mathbf{b}]
        + \mathbf{c}\right), \qquad \mathbf{W} \in \mathbb{R}^{D \times 2D},
        \; \mathbf{c} \in \mathbb{R}^{D}

        \mathbf{y} &= \mathbf{g} \odot \mathbf{a} + (\mathbf{1} - \mathbf{g})
        \odot \mathbf{b}

    where :math:`\phi` is the gate activation (a sigmoid by default, so that
    :math:`\mathbf{y}` is a per-feature convex combination of :math:`\mathbf{a}`
    and :math:`\mathbf{b}`). The linear layer acts on the last dimension only,
    so any leading shape works: rows ``[B, D]``, feature tokens ``[B, F, D]``, …

    **Porting from Keras.** With the same weights both compute the same
    function; :func:`~pyg_tabular.interop.load_keras_weights` copies them
    over, following :data:`~pyg_tabular.interop.keras.KERAS_WEIGHT_TABLE`
    (``fusion_gate/kernel`` :math:`(2D, D)` is ``fusion_gate.weight`` =
    ``kernel.T``). Rows :math:`0, \dots, D-1` of the Keras kernel read
    :math:`\mathbf{a}` (the first input of the Keras list) and rows
    :math:`D, \dots, 2D-1` read :math:`\mathbf{b}`. Parameters are
    initialised as in Keras: Glorot-uniform weight, zero bias.

    **Deviations from kerasfactory.** The Keras layer infers :math:`D` from
    its first input and takes the two inputs as one list; here :math:`D` is
    given up front and ``a``, ``b`` are two arguments. Inputs of unequal
    shape are rejected up front (Keras compares the last axis only and fails
    inside the concatenation otherwise), 1-D inputs are accepted, and the
    activation is a Keras name or :obj:`None`, not a callable.

    Args:
        num_features (int): Size :math:`D` of the last dimension of both inputs.
        activation (str, optional): Gate activation, by its Keras name:
            ``"sigmoid"``, ``"hard_sigmoid"``, ``"sparse_sigmoid"``,
            ``"log_sigmoid"``, ``"tanh"``, ``"hard_tanh"``, ``"tanh_shrink"``,
            ``"relu"``, ``"relu6"``, ``"leaky_relu"`` (slope 0.2), ``"elu"``,
            ``"selu"``, ``"celu"``, ``"gelu"`` (exact), ``"silu"``/``"swish"``,
            ``"hard_silu"``/``"hard_swish"``, ``"mish"``, ``"softplus"``,
            ``"softsign"``, ``"squareplus"``, ``"sparse_plus"``,
            ``"soft_shrink"``, ``"hard_shrink"``, ``"exponential"``,
            ``"linear"`` (or :obj:`None`), and ``"softmax"``,
            ``"log_softmax"``, ``"sparsemax"`` (over the last dimension).
            ``"sparsemax"`` is the projection onto the simplex of Martins and
            Astudillo (2016); Keras 3.15.1 and earlier compute a different
            function under that name (keras-team/keras#23425).
            (default: :obj:`"sigmoid"`)

    Shapes:
        - **inputs:** :math:`\mathbf{a}` and :math:`\mathbf{b}` of the same
          shape :math:`(*, D)`
        - **output:** :math:`(*, D)`

    Example:
        >>> import torch
        >>> from pyg_tabular.nn.tabular.gated_feature_fusion import GatedFeatureFusion
        >>> fusion = GatedFeatureFusion(8)
        >>> fusion
        GatedFeatureFusion(8)
        >>> raw, embedded = torch.randn(32, 8), torch.randn(32, 8)
        >>> fusion(raw, embedded).shape
        torch.Size([32, 8])
        >>> fusion(torch.randn(32, 5, 8), torch.randn(32, 5, 8)).shape
        torch.Size([32, 5, 8])
    """

    def __init__(self, num_features: int, activation: str | None = "sigmoid") -> None:
        super().__init__()
        num_features = check_positive_int(num_features, "num_features")
        if activation is not None and activation not in _ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(_ACTIVATIONS)} or None (got {activation!r})"
            )
        self.num_features = num_features
        self.activation = activation
        self._gate_fn = _ACTIVATIONS["linear" if activation is None else activation]
        self.fusion_gate = Linear(2 * num_features, num_features)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets the gate to Keras' initialisation (Glorot-uniform, zero bias)."""
        glorot(self.fusion_gate.weight)
        zeros(self.fusion_gate.bias)

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        r"""Fuses :obj:`a` and :obj:`b` (both :math:`(*, D)`)."""
        a = _check_operand(a, "a")
        b = _check_operand(b, "b")
        if a.shape != b.shape:
            raise ValueError(
                f"a and b must have the same shape (got a: {tuple(a.shape)}, b: {tuple(b.shape)})"
            )
        if a.size(-1) != self.num_features:
            raise ValueError(
                f"the last dimension of a and b must be num_features={self.num_features} "
                f"(got shape {tuple(a.shape)})"
            )
        gate = self._gate_fn(self.fusion_gate(torch.cat([a, b], dim=-1)))
        # b + g·(a − b) is g·a + (1 − g)·b in one fused kernel.
        out = torch.lerp(b, a, gate)
        if not torch.compiler.is_compiling() and not bool(torch.isfinite(out).all()):
            check_finite_output(out, "a and b", torch.maximum(a.abs(), b.abs()))
        return out

    def get_config(self) -> dict[str, Any]:
        r"""Returns the constructor arguments, so that
        ``GatedFeatureFusion.from_config(layer.get_config())`` rebuilds the
        layer (with fresh parameters)."""
        return {"num_features": self.num_features, "activation": self.activation}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> GatedFeatureFusion:
        r"""Builds a layer from the output of :meth:`get_config`.

        The config of the Keras layer works too once ``num_features`` is added
        (Keras infers it from the first input); its bookkeeping entries
        (``name``, ``trainable``, ``dtype``) are ignored.
        """
        if "num_features" not in config:
            raise ValueError(
                f"config must contain num_features, the size of the inputs' last dimension "
                f"(got keys {sorted(config)})"
            )
        return cls(**keras_config(config))

    def __repr__(self) -> str:
        extra = "" if self.activation == "sigmoid" else f", activation={self.activation!r}"
        return f"{self.__class__.__name__}({self.num_features}{extra})"


__all__ = ["GatedFeatureFusion"]
